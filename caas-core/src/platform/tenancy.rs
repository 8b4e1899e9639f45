//! Users, plans, organizations, subscriptions, usage and projects.

use chrono::{DateTime, Months, Utc};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::deploy::DeleteOptions;
use super::{Platform, json};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::{ProjectId, SubscriptionId, UserId};
use crate::labels;
use crate::model::{
    Member, NewOrganization, NewPlan, NewUser, Organization, Plan, Project, Role, Subscription,
    SubscriptionStatus, Usage, User,
};
use crate::naming::network_name;
use crate::ports::store::OrgFilter;
use crate::units::ResourceAmounts;
use crate::validate::Name;

/// Input for creating a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NewProject {
    /// Name, unique in the organization (DNS-label rules).
    pub name: String,
}

impl NewProject {
    /// A project with this name.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

impl Platform {
    /// Creates the first platform administrator, or returns the existing user with that
    /// e-mail after making sure they are an administrator. A trusted bootstrap call for servers
    /// at start-up: it takes no principal. Errors: `InvalidInput`.
    pub(crate) async fn ensure_platform_admin(&self, email: &str) -> Result<User> {
        let mut new = NewUser::new(email);
        new.platform_admin = true;
        let user = new.build(self.now())?;
        match self
            .inner
            .store
            .directory
            .user_by_email_opt(&user.email)
            .await?
        {
            Some(existing) if existing.platform_admin => Ok(existing),
            Some(existing) => Err(Error::conflict(format!(
                "user '{}' exists but is not a platform administrator",
                existing.email
            ))),
            None => {
                self.inner
                    .store
                    .directory_admin()?
                    .create_user(&user)
                    .await?;
                self.audit(
                    None,
                    None,
                    "user.bootstrap_admin",
                    format!("user:{}", user.id),
                    None,
                    json(&user),
                )
                .await;
                Ok(user)
            }
        }
    }

    /// Creates a user (platform admin only). Errors: `PermissionDenied`, `InvalidInput`,
    /// `AlreadyExists` (e-mail).
    #[instrument(skip_all)]
    pub(crate) async fn create_user(&self, who: &Principal, new: NewUser) -> Result<User> {
        who.require_admin(Action::UserManage)?;
        let user = new.build(self.now())?;
        self.inner
            .store
            .directory_admin()?
            .create_user(&user)
            .await?;
        self.audit(
            Some(who),
            None,
            "user.create",
            format!("user:{}", user.id),
            None,
            json(&user),
        )
        .await;
        Ok(user)
    }

    /// Creates a plan (platform admin only). Errors: `PermissionDenied`, `InvalidInput`,
    /// `AlreadyExists`.
    #[instrument(skip_all, fields(caas.plan = %new.name))]
    pub(crate) async fn create_plan(&self, who: &Principal, new: NewPlan) -> Result<Plan> {
        who.require_admin(Action::PlanManage)?;
        let plan = new.build(self.now())?;
        self.inner.store.plan_admin()?.create_plan(&plan).await?;
        self.audit(
            Some(who),
            None,
            "plan.create",
            format!("plan:{}", plan.name),
            None,
            json(&plan),
        )
        .await;
        Ok(plan)
    }

    /// All plans (any authenticated principal may read them: they are the price list).
    pub(crate) async fn list_plans(&self, _who: &Principal) -> Result<Vec<Plan>> {
        self.inner.store.plans.list_plans().await
    }

    /// Creates an organization. A platform admin may name any existing user as `owner`; anyone
    /// else becomes the owner of the organization they create. Errors: `InvalidInput`,
    /// `AlreadyExists` (slug), `NotFound` (owner), `PermissionDenied`.
    #[instrument(skip_all, fields(caas.org = %new.slug))]
    pub(crate) async fn create_org(
        &self,
        who: &Principal,
        new: NewOrganization,
        owner: Option<UserId>,
    ) -> Result<Organization> {
        who.require_unrestricted("org.create")?;
        let owner = match owner {
            Some(o) if o != who.user => {
                who.require_admin(Action::OrgListAll)?;
                o
            }
            _ => who.user,
        };
        let org = new.build(self.now())?;
        // Check the owner exists before creating anything.
        self.inner.store.directory.user(owner).await?;
        self.inner.store.directory_admin()?.create_org(&org).await?;
        let member = Member {
            org: org.id,
            user: owner,
            role: Role::Owner,
            projects: None,
            created_at: self.now(),
        };
        if let Err(e) = self
            .inner
            .store
            .directory_admin()?
            .put_member(&member)
            .await
        {
            // Leave nothing behind: an organization without an owner is unmanageable.
            let _ = self.inner.store.directory_admin()?.delete_org(org.id).await;
            return Err(e);
        }
        self.audit(
            Some(who),
            Some(org.id),
            "org.create",
            format!("org:{}", org.slug),
            None,
            json(&org),
        )
        .await;
        Ok(org)
    }

    /// An organization by slug. Errors: `NotFound` (also for non-members).
    pub(crate) async fn org(&self, who: &Principal, slug: &str) -> Result<Organization> {
        self.authorize_org(who, slug, Action::OrgView).await
    }

    /// Organizations the principal can see: all for platform admins, their own otherwise.
    pub(crate) async fn list_orgs(
        &self,
        who: &Principal,
        filter: &OrgFilter,
    ) -> Result<Vec<Organization>> {
        let all = self.inner.store.directory.list_orgs(filter).await?;
        if who.platform_admin {
            return Ok(all);
        }
        Ok(all
            .into_iter()
            .filter(|o| who.can(Action::OrgView, Some(o.id), None))
            .collect())
    }

    /// Subscribes an organization to a plan, or changes its plan or status (platform admin
    /// only). The period runs a month from now. Errors: `PermissionDenied`, `NotFound`.
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.plan = %plan_name))]
    pub(crate) async fn set_subscription(
        &self,
        who: &Principal,
        org_slug: &str,
        plan_name: &str,
        status: SubscriptionStatus,
    ) -> Result<Subscription> {
        who.require_admin(Action::SubscriptionManage)?;
        let org = self
            .inner
            .store
            .directory
            .org_by_slug_opt(org_slug)
            .await?
            .ok_or_else(|| Error::not_found("organization", org_slug))?;
        let plan = self
            .inner
            .store
            .plans
            .plan_by_name_opt(plan_name)
            .await?
            .ok_or_else(|| Error::not_found("plan", plan_name))?;
        let before = self.inner.store.plans.subscription_opt(org.id).await?;
        let now = self.now();
        let sub = Subscription {
            id: before.as_ref().map_or_else(SubscriptionId::new, |b| b.id),
            org: org.id,
            plan: plan.id,
            status,
            period_start: now,
            period_end: add_month(now),
            created_at: before.as_ref().map_or(now, |b| b.created_at),
        };
        self.inner
            .store
            .plan_admin()?
            .put_subscription(&sub)
            .await?;
        self.audit(
            Some(who),
            Some(org.id),
            "subscription.put",
            format!("org:{}", org.slug),
            before.as_ref().and_then(json),
            json(&sub),
        )
        .await;
        Ok(sub)
    }

    /// The organization's subscription. Errors: `NotFound`.
    pub(crate) async fn subscription(
        &self,
        who: &Principal,
        org_slug: &str,
    ) -> Result<Subscription> {
        let org = self.authorize_org(who, org_slug, Action::OrgView).await?;
        self.inner
            .store
            .plans
            .subscription_opt(org.id)
            .await?
            .ok_or_else(|| Error::not_found("subscription", org_slug))
    }

    /// What the organization uses against its plan. Errors: `NotFound`.
    pub(crate) async fn usage(&self, who: &Principal, org_slug: &str) -> Result<Usage> {
        let org = self.authorize_org(who, org_slug, Action::UsageView).await?;
        self.inner.quota.usage(org.id).await
    }

    /// Creates a project, counting it against the plan's project limit.
    /// Errors: `QuotaExceeded`, `Conflict` (subscription inactive), `AlreadyExists`,
    /// `InvalidInput`, `PermissionDenied`, `NotFound`.
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %new.name))]
    pub(crate) async fn create_project(
        &self,
        who: &Principal,
        org_slug: &str,
        new: NewProject,
    ) -> Result<Project> {
        let org = self
            .authorize_org(who, org_slug, Action::ProjectCreate)
            .await?;
        let name = Name::parse_field("name", new.name)?;
        if self
            .inner
            .store
            .services
            .project_by_name_opt(org.id, name.as_str())
            .await?
            .is_some()
        {
            return Err(Error::already_exists("project", name));
        }
        let reservation = self
            .inner
            .quota
            .reserve(org.id, ResourceAmounts::one_project())
            .await?;
        let project = Project {
            id: ProjectId::new(),
            org: org.id,
            name,
            reservation: Some(reservation.id),
            created_at: self.now(),
        };
        let created = async {
            self.inner.store.services.create_project(&project).await?;
            self.inner
                .quota
                .commit(reservation.id, &format!("project:{}", project.id))
                .await
        }
        .await;
        if let Err(e) = created {
            let _ = self.inner.store.services.delete_project(project.id).await;
            let _ = self.inner.quota.release(reservation.id).await;
            return Err(e);
        }
        self.audit(
            Some(who),
            Some(org.id),
            "project.create",
            format!("project:{}", project.id),
            None,
            json(&project),
        )
        .await;
        Ok(project)
    }

    /// Projects of an organization that the principal may see.
    pub(crate) async fn list_projects(
        &self,
        who: &Principal,
        org_slug: &str,
    ) -> Result<Vec<Project>> {
        let org = self
            .authorize_org(who, org_slug, Action::ProjectView)
            .await?;
        Ok(self
            .inner
            .store
            .services
            .list_projects(org.id)
            .await?
            .into_iter()
            .filter(|p| who.can(Action::ProjectView, Some(org.id), Some(p.id)))
            .collect())
    }

    /// A project by name. Errors: `NotFound`.
    pub(crate) async fn project(
        &self,
        who: &Principal,
        org_slug: &str,
        name: &str,
    ) -> Result<Project> {
        Ok(self
            .authorize_project(who, org_slug, name, Action::ProjectView)
            .await?
            .1)
    }

    /// Deletes a project with all its services, its network, and — when `options.volumes` is
    /// set — its volumes; releases its quota. Errors: `NotFound`, `PermissionDenied`,
    /// `Unavailable` (what was removed before the failure stays removed; repeating the call
    /// finishes the job).
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %name))]
    pub(crate) async fn delete_project(
        &self,
        who: &Principal,
        org_slug: &str,
        name: &str,
        options: DeleteOptions,
    ) -> Result<()> {
        let (org, project) = self
            .authorize_project(who, org_slug, name, Action::ProjectDelete)
            .await?;
        for svc in self
            .inner
            .store
            .services
            .list_services(org.id, Some(project.id))
            .await?
        {
            self.remove_service(&project, &svc, options).await?;
        }
        // Volume records go with the project (and give back their storage); their data only
        // when asked.
        self.forget_project_volumes(&project, options.volumes)
            .await?;
        let runtime = self.runtime();
        if options.volumes {
            let selector = self
                .selector()
                .with(labels::PROJECT, project.id)
                .with(labels::KIND, "volume");
            for v in runtime.list_volumes(&selector).await? {
                runtime.remove_volume(&v.name).await?;
            }
        }
        runtime.remove_network(&network_name(&project)).await?;
        self.inner.store.services.delete_project(project.id).await?;
        if let Some(r) = project.reservation {
            self.inner.quota.release(r).await?;
        }
        self.audit(
            Some(who),
            Some(org.id),
            "project.delete",
            format!("project:{}", project.id),
            json(&project),
            json(&options),
        )
        .await;
        Ok(())
    }
}

fn add_month(t: DateTime<Utc>) -> DateTime<Utc> {
    t.checked_add_months(Months::new(1))
        .unwrap_or(t + chrono::Duration::days(30))
}
