//! Application templates on the platform: the catalogue, deploying an instance (or its dry
//! run), deleting an instance as a whole, and the administrators' catalogue operations.
//!
//! A deploy instantiates the template ([`instantiate`]: a pure function), checks that the
//! names it needs are free, and reserves the **whole plan's quota at once** — one check of
//! everything against the organization's plan — before anything is created. The services are
//! then deployed in dependency order, each through the platform's usual deploy (managed
//! databases with their generated credentials), and a service with a health check must be
//! healthy before the services depending on it start. While they are deployed the up-front
//! reservation shrinks by what each service takes over, so the plan is never counted twice.
//! On any failure every service created so far is removed with its volumes, the reservation is
//! released, and the error says what failed: nothing is left behind.

mod catalogue;
mod plan;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::deploy::DeleteOptions;
use super::{Platform, json};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::TemplateInstanceId;
use crate::model::{
    InstanceOutput, Project, REDACTED, Service, StoredTemplate, Template, TemplateInstance,
};
use crate::validate::Name;

pub use catalogue::{TemplateEntry, builtin_templates, merge, parse_template, validate_template};
pub use plan::{
    MAX_TEMPLATE_SERVICES, PlannedParameter, PlannedService, TemplatePlan, database_engines,
    instantiate,
};

/// Input for deploying a template.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DeployTemplate {
    /// The instance's name, unique in the project: its services are `<name>-<service>`.
    pub name: String,
    /// Parameter values by name (the template's defaults and generated secrets fill in the
    /// rest).
    #[serde(default)]
    pub parameters: BTreeMap<String, serde_json::Value>,
}

impl DeployTemplate {
    /// An instance called `name` with the template's defaults.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            parameters: BTreeMap::new(),
        }
    }
    /// Sets a parameter.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.parameters.insert(name.into(), value.into());
        self
    }
}

/// What a template deploy did (or, for a dry run, would do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplateDeployment {
    /// The plan (secrets redacted).
    pub plan: TemplatePlan,
    /// Whether anything was deployed (false for a dry run).
    pub applied: bool,
    /// The instance, once deployed.
    pub instance: Option<TemplateInstance>,
    /// The services, once deployed (secrets redacted).
    pub services: Vec<Service>,
    /// The outputs, secrets included: shown once, here.
    pub outputs: Vec<InstanceOutput>,
}

/// Changes to a catalogue entry; absent fields keep their value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TemplateUpdate {
    /// A new definition (its id must stay the same).
    #[serde(default)]
    pub template: Option<Template>,
    /// Deployable by customers.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Position in the catalogue.
    #[serde(default)]
    pub position: Option<i32>,
}

impl TemplateUpdate {
    /// A new definition.
    pub fn template(mut self, t: Template) -> Self {
        self.template = Some(t);
        self
    }
    /// Enabled or not.
    pub fn enabled(mut self, on: bool) -> Self {
        self.enabled = Some(on);
        self
    }
    /// Another position.
    pub fn position(mut self, p: i32) -> Self {
        self.position = Some(p);
        self
    }
}

impl Platform {
    /// The whole catalogue: built-ins with administrators' overrides and additions.
    async fn catalogue(&self) -> Result<Vec<TemplateEntry>> {
        Ok(merge(
            builtin_templates()?,
            self.inner.store.templates.list_templates().await?,
        ))
    }

    /// The catalogue (of one category when given): enabled templates, or every one for
    /// platform administrators. Any authenticated principal may browse it.
    pub(crate) async fn list_templates(
        &self,
        who: &Principal,
        category: Option<&str>,
    ) -> Result<Vec<TemplateEntry>> {
        Ok(self
            .catalogue()
            .await?
            .into_iter()
            .filter(|e| e.enabled || who.platform_admin)
            .filter(|e| category.is_none_or(|c| e.category == c))
            .collect())
    }

    /// One catalogue entry. Errors: `NotFound` (also for a disabled one, to non-admins).
    pub(crate) async fn template(&self, who: &Principal, id: &str) -> Result<TemplateEntry> {
        self.list_templates(who, None)
            .await?
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| Error::not_found("template", id))
    }

    /// Deploys a template into a project as one instance, or with `dry_run` only returns the
    /// plan (see the module docs). Errors: `InvalidInput` naming the parameter or field,
    /// `AlreadyExists` (the instance, or a service or volume name it needs), `QuotaExceeded`
    /// (the whole plan, before anything is created), `NotFound` (template, project),
    /// `PermissionDenied`, `Conflict`/`Unavailable` (a service did not come up; everything
    /// created was removed).
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.template = %template_id))]
    pub(crate) async fn deploy_template(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        template_id: &str,
        input: DeployTemplate,
        dry_run: bool,
    ) -> Result<TemplateDeployment> {
        let (org, project) = self
            .authorize_project(who, org_slug, project, Action::ServiceDeploy)
            .await?;
        let entry = self.template(who, template_id).await?;
        if !entry.enabled {
            return Err(Error::conflict(format!(
                "template '{template_id}' is disabled"
            )));
        }
        let plan = instantiate(
            &entry.template,
            &input.name,
            &input.parameters,
            &self.inner.database_images,
        )?;
        self.check_names_free(&project, &plan).await?;
        if dry_run {
            // Nothing is reserved, but a plan that cannot fit says so now.
            self.check_quota_fits(org.id, org.slug.as_str(), &plan.quota)
                .await?;
            return Ok(TemplateDeployment {
                plan: plan.redacted(),
                applied: false,
                instance: None,
                services: Vec::new(),
                outputs: Vec::new(),
            });
        }
        // The whole plan at once; each service takes its share over as it is deployed.
        let guard = self.inner.quota.reserve(org.id, plan.quota).await?;
        let mut held = plan.quota;
        let mut created: Vec<Service> = Vec::new();
        let outcome = async {
            for s in &plan.services {
                let mut share = s.spec.quota_amounts();
                for m in &s.spec.volumes {
                    if self
                        .inner
                        .store
                        .volumes
                        .volume_by_name_opt(project.id, m.volume.as_str())
                        .await?
                        .is_none()
                    {
                        share.storage_bytes = share.storage_bytes.saturating_add(m.size_bytes);
                    }
                }
                held = held.minus(&share);
                self.inner.quota.resize(guard.id, held).await?;
                let svc = self
                    .deploy_new_service(
                        who,
                        org_slug,
                        project.name.as_str(),
                        s.name.to_string(),
                        s.kind,
                        s.spec.clone(),
                    )
                    .await?;
                created.push(svc.clone());
                if s.spec.health_check.is_some() {
                    let stored = self.inner.store.services.service(svc.id).await?;
                    let container = self.current_container(&stored).await?;
                    self.wait_ready(&container, &stored).await.map_err(|e| {
                        Error::conflict(format!("service '{}' did not become healthy: {e}", s.name))
                    })?;
                }
            }
            Ok::<_, Error>(())
        }
        .await;
        let _ = self.inner.quota.release(guard.id).await;
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "template deploy failed; removing what it created");
            self.remove_created(&project, &created).await;
            return Err(e);
        }
        let instance = TemplateInstance {
            id: TemplateInstanceId::new(),
            org: org.id,
            project: project.id,
            name: plan.instance.clone(),
            template: Name::parse_field("template", entry.id.clone())?,
            services: created.iter().map(|s| s.id).collect(),
            outputs: plan
                .outputs
                .iter()
                .map(|o| InstanceOutput {
                    value: if o.secret {
                        REDACTED.into()
                    } else {
                        o.value.clone()
                    },
                    ..o.clone()
                })
                .collect(),
            created_at: self.now(),
        };
        if let Err(e) = self
            .inner
            .store
            .templates
            .create_template_instance(&instance)
            .await
        {
            self.remove_created(&project, &created).await;
            return Err(e);
        }
        self.audit(
            Some(who),
            Some(org.id),
            "template.deploy",
            format!("template_instance:{}", instance.id),
            None,
            json(&instance),
        )
        .await;
        Ok(TemplateDeployment {
            outputs: plan.outputs.clone(),
            plan: plan.redacted(),
            applied: true,
            services: created.iter().map(Service::redacted).collect(),
            instance: Some(instance),
        })
    }

    /// Whether `amounts` would fit the organization's plan next to what it already holds,
    /// without reserving anything (dry runs). Errors: `QuotaExceeded` naming every dimension,
    /// `Conflict` (no active subscription).
    async fn check_quota_fits(
        &self,
        org: crate::ids::OrgId,
        org_slug: &str,
        amounts: &crate::units::ResourceAmounts,
    ) -> Result<()> {
        let store = &self.inner.store;
        let sub = store.plans.subscription_opt(org).await?;
        crate::ports::quota::check_subscription(org_slug, sub.as_ref())?;
        let Some(sub) = sub else { return Ok(()) };
        let plan = store.plans.plan(sub.plan).await?;
        let used = self.inner.quota.usage(org).await?.total();
        crate::ports::quota::check_limits(org_slug, &plan, &used, amounts)
    }

    /// Refuses a plan whose instance, service or volume names are taken in the project.
    async fn check_names_free(&self, project: &Project, plan: &TemplatePlan) -> Result<()> {
        let store = &self.inner.store;
        if store
            .templates
            .template_instance_by_name_opt(project.id, plan.instance.as_str())
            .await?
            .is_some()
        {
            return Err(Error::already_exists("template instance", &plan.instance));
        }
        for s in &plan.services {
            if store
                .services
                .service_by_name_opt(project.id, s.name.as_str())
                .await?
                .is_some()
            {
                return Err(Error::already_exists("service", &s.name));
            }
            for m in &s.spec.volumes {
                if store
                    .volumes
                    .volume_by_name_opt(project.id, m.volume.as_str())
                    .await?
                    .is_some()
                {
                    return Err(Error::already_exists("volume", &m.volume));
                }
            }
        }
        Ok(())
    }

    /// Removes services a failed template deploy created (newest first), with their volumes.
    async fn remove_created(&self, project: &Project, created: &[Service]) {
        for svc in created.iter().rev() {
            let stored = match self.inner.store.services.service(svc.id).await {
                Ok(s) => s,
                Err(_) => continue,
            };
            if let Err(e) = self
                .remove_service(project, &stored, DeleteOptions::with_volumes())
                .await
            {
                tracing::error!(error = %e, service = %svc.name, "could not remove a service of a failed template deploy; the reconciler will");
            }
        }
    }

    /// The template instances of a project. Errors: `NotFound`.
    pub(crate) async fn list_template_instances(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
    ) -> Result<Vec<TemplateInstance>> {
        let (org, project) = self
            .authorize_project(who, org_slug, project, Action::ServiceView)
            .await?;
        self.inner
            .store
            .templates
            .list_template_instances(org.id, Some(project.id))
            .await
    }

    /// Deletes a template instance with all its services (their volumes too when
    /// `options.volumes`). Errors: `NotFound`, `PermissionDenied`, `Unavailable` (what was
    /// removed stays removed; repeating the call finishes the job).
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.instance = %name))]
    pub(crate) async fn delete_template_instance(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        name: &str,
        options: DeleteOptions,
    ) -> Result<()> {
        let (org, project) = self
            .authorize_project(who, org_slug, project, Action::ServiceDelete)
            .await?;
        let instance = self
            .inner
            .store
            .templates
            .template_instance_by_name_opt(project.id, name)
            .await?
            .ok_or_else(|| Error::not_found("template instance", name))?;
        for id in instance.services.iter().rev() {
            match self.inner.store.services.service(*id).await {
                Ok(svc) => self.remove_service(&project, &svc, options).await?,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        self.inner
            .store
            .templates
            .delete_template_instance(instance.id)
            .await?;
        self.audit(
            Some(who),
            Some(org.id),
            "template_instance.delete",
            format!("template_instance:{}", instance.id),
            json(&instance),
            json(&options),
        )
        .await;
        Ok(())
    }

    /// Adds a template to the catalogue (validated first). Errors: `InvalidInput` naming the
    /// field, `AlreadyExists` (the id is taken, by a built-in too: update that one instead),
    /// `PermissionDenied` (platform administrators only).
    pub(crate) async fn create_template(
        &self,
        who: &Principal,
        template: Template,
        enabled: bool,
        position: Option<i32>,
    ) -> Result<TemplateEntry> {
        who.require_admin(Action::TemplateManage)?;
        validate_template(&template).map_err(|e| e.in_field("template"))?;
        if self.catalogue().await?.iter().any(|e| e.id == template.id) {
            return Err(Error::already_exists("template", &template.id));
        }
        let now = self.now();
        let position = position.unwrap_or(1000);
        let stored = StoredTemplate {
            id: Name::parse_field("id", template.id.clone())?,
            template,
            enabled,
            position,
            created_at: now,
            updated_at: now,
        };
        self.inner.store.templates.put_template(&stored).await?;
        self.audit(
            Some(who),
            None,
            "template.create",
            format!("template:{}", stored.id),
            None,
            json(&stored),
        )
        .await;
        self.template(who, stored.id.as_str()).await
    }

    /// Changes a catalogue entry: a new definition, enabled or not, its position. A built-in
    /// is overridden by a stored copy. Errors: `InvalidInput` (naming the field; `template.id`
    /// when the definition's id differs), `NotFound`, `PermissionDenied`.
    pub(crate) async fn update_template(
        &self,
        who: &Principal,
        id: &str,
        update: TemplateUpdate,
    ) -> Result<TemplateEntry> {
        who.require_admin(Action::TemplateManage)?;
        let current = self
            .catalogue()
            .await?
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| Error::not_found("template", id))?;
        let template = match update.template {
            Some(t) => {
                if t.id != id {
                    return Err(Error::invalid(
                        "template.id",
                        "must stay the same; create a new template instead",
                    ));
                }
                validate_template(&t).map_err(|e| e.in_field("template"))?;
                t
            }
            None => current.template.clone(),
        };
        let now = self.now();
        let created_at = self
            .inner
            .store
            .templates
            .template_opt(id)
            .await?
            .map_or(now, |s| s.created_at);
        let stored = StoredTemplate {
            id: Name::parse_field("id", id)?,
            template,
            enabled: update.enabled.unwrap_or(current.enabled),
            position: update.position.unwrap_or(current.position),
            created_at,
            updated_at: now,
        };
        self.inner.store.templates.put_template(&stored).await?;
        self.audit(
            Some(who),
            None,
            "template.update",
            format!("template:{id}"),
            json(&current),
            json(&stored),
        )
        .await;
        self.template(who, id).await
    }

    /// Deletes an administrator's template; for an overridden built-in, the built-in comes
    /// back. Errors: `Conflict` (a built-in without override: disable it instead), `NotFound`,
    /// `PermissionDenied`.
    pub(crate) async fn delete_template(&self, who: &Principal, id: &str) -> Result<()> {
        who.require_admin(Action::TemplateManage)?;
        match self.inner.store.templates.template_opt(id).await? {
            Some(s) => {
                self.inner.store.templates.delete_template(id).await?;
                self.audit(
                    Some(who),
                    None,
                    "template.delete",
                    format!("template:{id}"),
                    json(&s),
                    None,
                )
                .await;
                Ok(())
            }
            None if builtin_templates()?.iter().any(|t| t.id == id) => Err(Error::conflict(
                format!("'{id}' is a built-in template: disable it instead"),
            )),
            None => Err(Error::not_found("template", id)),
        }
    }
}
