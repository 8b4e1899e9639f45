//! [`Templates`]: templates and their instances.

use super::ProjectRef;
use crate::auth::Principal;
use crate::error::Result;
use crate::model::{Template, TemplateInstance};
use crate::platform::{
    DeleteOptions, DeployTemplate, Platform, TemplateDeployment, TemplateEntry, TemplateUpdate,
};

/// The template catalogue (built-in and administrators' templates) and the template instances of
/// projects.
///
/// Borrowed from the platform with [`Platform::templates`]; cheap to copy.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use caas_core::memory::{InMemoryRuntime, InMemoryStore};
/// # use caas_core::model::{NewOrganization, NewPlan, PlanLimits, SubscriptionStatus};
/// # use caas_core::platform::NewProject;
/// # use caas_core::units::GIB;
/// # use caas_core::Platform;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caas_core::Result<()> {
/// # let runtime = InMemoryRuntime::new();
/// # runtime.add_image("caas/busybox:latest");
/// # let platform = Platform::builder()
/// #     .store(Arc::new(InMemoryStore::new()))
/// #     .runtime(Arc::new(runtime))
/// #     .build()?;
/// # let admin = platform.users().ensure_platform_admin("ops@example.com").await?;
/// # let admin = platform.principal_for(admin.id).await?;
/// # let limits = PlanLimits {
/// #     cpu_millis: 2_000,
/// #     memory_bytes: 2 * GIB,
/// #     storage_bytes: 10 * GIB,
/// #     max_containers: 5,
/// #     max_projects: 2,
/// #     max_domains: 10,
/// #     max_pids: 512,
/// #     backup_storage_bytes: 20 * GIB,
/// # };
/// # platform.plans().create(&admin, NewPlan::new("starter", limits)).await?;
/// # platform.orgs().create(&admin, NewOrganization::new("acme"), None).await?;
/// # platform
/// #     .orgs()
/// #     .set_subscription(&admin, "acme", "starter", SubscriptionStatus::Active)
/// #     .await?;
/// # platform.projects().create(&admin, "acme", NewProject::new("shop")).await?;
/// use caas_core::ProjectRef;
///
/// let catalogue = platform.templates().list(&admin, Some("database")).await?;
/// assert!(!catalogue.is_empty());
/// let entry = platform.templates().get(&admin, &catalogue[0].id).await?;
/// assert_eq!(entry.id, catalogue[0].id);
/// let shop = ProjectRef::new("acme", "shop");
/// assert!(platform.templates().instances(&admin, &shop).await?.is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Templates<'a> {
    platform: &'a Platform,
}

impl Platform {
    /// The templates and their instances: see [`Templates`].
    pub fn templates(&self) -> Templates<'_> {
        Templates { platform: self }
    }
}

impl Templates<'_> {
    /// The catalogue (of one category when given): enabled templates, or every one for
    /// platform administrators. Any authenticated principal may browse it.
    pub async fn list(self, who: &Principal, category: Option<&str>) -> Result<Vec<TemplateEntry>> {
        self.platform.list_templates(who, category).await
    }

    /// One catalogue entry. Errors: `NotFound` (also for a disabled one, to non-admins).
    pub async fn get(self, who: &Principal, id: &str) -> Result<TemplateEntry> {
        self.platform.template(who, id).await
    }

    /// Deploys a template into a project as one instance, or with `dry_run` only returns the
    /// plan (see `platform/templates/`). Errors: `InvalidInput` naming the parameter or field,
    /// `AlreadyExists` (the instance, or a service or volume name it needs), `QuotaExceeded`
    /// (the whole plan, before anything is created), `NotFound` (template, project),
    /// `PermissionDenied`, `Conflict`/`Unavailable` (a service did not come up; everything
    /// created was removed).
    pub async fn deploy(
        self,
        who: &Principal,
        project: &ProjectRef,
        template_id: &str,
        input: DeployTemplate,
        dry_run: bool,
    ) -> Result<TemplateDeployment> {
        self.platform
            .deploy_template(
                who,
                &project.org,
                &project.project,
                template_id,
                input,
                dry_run,
            )
            .await
    }

    /// The template instances of a project. Errors: `NotFound`.
    pub async fn instances(
        self,
        who: &Principal,
        project: &ProjectRef,
    ) -> Result<Vec<TemplateInstance>> {
        self.platform
            .list_template_instances(who, &project.org, &project.project)
            .await
    }

    /// Deletes a template instance with all its services (their volumes too when
    /// `options.volumes`). Errors: `NotFound`, `PermissionDenied`, `Unavailable` (what was
    /// removed stays removed; repeating the call finishes the job).
    pub async fn delete_instance(
        self,
        who: &Principal,
        project: &ProjectRef,
        name: &str,
        options: DeleteOptions,
    ) -> Result<()> {
        self.platform
            .delete_template_instance(who, &project.org, &project.project, name, options)
            .await
    }

    /// Adds a template to the catalogue (validated first). Errors: `InvalidInput` naming the
    /// field, `AlreadyExists` (the id is taken, by a built-in too: update that one instead),
    /// `PermissionDenied` (platform administrators only).
    pub async fn create(
        self,
        who: &Principal,
        template: Template,
        enabled: bool,
        position: Option<i32>,
    ) -> Result<TemplateEntry> {
        self.platform
            .create_template(who, template, enabled, position)
            .await
    }

    /// Changes a catalogue entry: a new definition, enabled or not, its position. A built-in
    /// is overridden by a stored copy. Errors: `InvalidInput` (naming the field; `template.id`
    /// when the definition's id differs), `NotFound`, `PermissionDenied`.
    pub async fn update(
        self,
        who: &Principal,
        id: &str,
        update: TemplateUpdate,
    ) -> Result<TemplateEntry> {
        self.platform.update_template(who, id, update).await
    }

    /// Deletes an administrator's template; for an overridden built-in, the built-in comes
    /// back. Errors: `Conflict` (a built-in without override: disable it instead), `NotFound`,
    /// `PermissionDenied`.
    pub async fn delete(self, who: &Principal, id: &str) -> Result<()> {
        self.platform.delete_template(who, id).await
    }
}
