//! Administration of plans and organizations beyond their creation: read a plan, change or
//! delete it; change or delete an organization.
//!
//! Deleting an organization goes through the platform, never the store alone: every project is
//! deleted as [`Projects::delete`](crate::platform::Projects::delete) does it (containers, routes,
//! network, quota, and volumes when asked), then whatever the runtime still holds labelled with the
//! organization is swept, and only then is the store row removed — so no container outlives its
//! tenant.

use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::deploy::DeleteOptions;
use super::{Platform, json};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::labels;
use crate::model::{OrgStatus, Organization, Plan, PlanLimits};
use crate::validate::{self, Slug};

/// Changes to a plan; `None` leaves a field as it is.
///
/// New limits apply to new reservations: what an organization already holds is kept even when
/// it is now over the limit, and only its next deploy is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PlanUpdate {
    /// Name shown to customers; the plan's name when empty.
    #[serde(default)]
    pub display_name: Option<String>,
    /// New limits (all five dimensions).
    #[serde(default)]
    pub limits: Option<PlanLimits>,
    /// Monthly price in cents.
    #[serde(default)]
    pub monthly_price_cents: Option<u64>,
    /// ISO 4217 currency code.
    #[serde(default)]
    pub currency: Option<String>,
}

/// Changes to an organization; `None` leaves a field as it is. Owners may change the display
/// name; only platform administrators may change the slug or the status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OrgUpdate {
    /// Name shown in lists; the slug when empty.
    #[serde(default)]
    pub display_name: Option<String>,
    /// New slug (platform administrators only). Resources are named after ids, never the
    /// slug, so renaming touches nothing in the runtime.
    #[serde(default)]
    pub slug: Option<String>,
    /// New status (platform administrators only).
    #[serde(default)]
    pub status: Option<OrgStatus>,
}

impl Platform {
    /// A plan by name (any principal may read plans: they are the price list).
    /// Errors: `NotFound`.
    pub(crate) async fn plan(&self, _who: &Principal, name: &str) -> Result<Plan> {
        self.inner
            .store
            .plans
            .plan_by_name_opt(name)
            .await?
            .ok_or_else(|| Error::not_found("plan", name))
    }

    /// Changes a plan's display name, limits, price or currency (platform admin only).
    /// Errors: `PermissionDenied`, `NotFound`, `InvalidInput` naming the field.
    #[instrument(skip_all, fields(caas.plan = %name))]
    pub(crate) async fn update_plan(
        &self,
        who: &Principal,
        name: &str,
        update: PlanUpdate,
    ) -> Result<Plan> {
        who.require_admin(Action::PlanManage)?;
        self.inner.store.plan_admin()?;
        let before = self.plan(who, name).await?;
        let mut plan = before.clone();
        if let Some(display_name) = update.display_name {
            validate::text("display_name", &display_name, 200)?;
            plan.display_name = if display_name.trim().is_empty() {
                plan.name.to_string()
            } else {
                display_name
            };
        }
        if let Some(currency) = update.currency {
            if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
                return Err(Error::invalid(
                    "currency",
                    "must be a three-letter ISO 4217 code such as USD or EUR",
                ));
            }
            plan.currency = currency;
        }
        if let Some(limits) = update.limits {
            plan.limits = limits;
        }
        if let Some(price) = update.monthly_price_cents {
            plan.monthly_price_cents = price;
        }
        if plan == before {
            return Ok(plan);
        }
        self.inner.store.plan_admin()?.update_plan(&plan).await?;
        self.audit(
            Some(who),
            None,
            "plan.update",
            format!("plan:{}", plan.name),
            json(&before),
            json(&plan),
        )
        .await;
        Ok(plan)
    }

    /// Deletes a plan (platform admin only). Errors: `PermissionDenied`, `NotFound`,
    /// `Conflict` while a subscription uses it.
    #[instrument(skip_all, fields(caas.plan = %name))]
    pub(crate) async fn delete_plan(&self, who: &Principal, name: &str) -> Result<()> {
        who.require_admin(Action::PlanManage)?;
        let plan = self.plan(who, name).await?;
        self.inner.store.plan_admin()?.delete_plan(plan.id).await?;
        self.audit(
            Some(who),
            None,
            "plan.delete",
            format!("plan:{}", plan.name),
            json(&plan),
            None,
        )
        .await;
        Ok(())
    }

    /// Changes an organization: its display name (owners and platform admins), its slug or
    /// status (platform admins only). Errors: `NotFound` (also for non-members),
    /// `PermissionDenied`, `InvalidInput` naming the field, `AlreadyExists` (slug).
    #[instrument(skip_all, fields(caas.org = %slug))]
    pub(crate) async fn update_org(
        &self,
        who: &Principal,
        slug: &str,
        update: OrgUpdate,
    ) -> Result<Organization> {
        let before = self.authorize_org(who, slug, Action::OrgUpdate).await?;
        self.inner.store.directory_admin()?;
        if (update.slug.is_some() || update.status.is_some()) && !who.platform_admin {
            return Err(Error::denied(
                Action::OrgUpdate,
                "only platform administrators may change an organization's slug or status",
            ));
        }
        let mut org = before.clone();
        if let Some(new_slug) = update.slug {
            org.slug = Slug::parse_field("slug", new_slug)?;
        }
        if let Some(display_name) = update.display_name {
            validate::text("display_name", &display_name, 200)?;
            org.display_name = if display_name.trim().is_empty() {
                org.slug.to_string()
            } else {
                display_name
            };
        }
        if let Some(status) = update.status {
            org.status = status;
        }
        if org == before {
            return Ok(org);
        }
        self.inner.store.directory_admin()?.update_org(&org).await?;
        self.audit(
            Some(who),
            Some(org.id),
            "org.update",
            format!("org:{}", org.slug),
            json(&before),
            json(&org),
        )
        .await;
        Ok(org)
    }

    /// Deletes an organization with everything it owns: each project as
    /// [`Projects::delete`](crate::platform::Projects::delete) deletes it (services, containers,
    /// routes, network, quota; volumes when `options.volumes` is set), then any container or
    /// network still labelled with the organization, then its store records (members, subscription,
    /// reservations). Owners and platform admins only.
    ///
    /// Errors: `NotFound` (also for non-members), `PermissionDenied`, `Unavailable` (what was
    /// removed before the failure stays removed; repeating the call finishes the job).
    #[instrument(skip_all, fields(caas.org = %slug))]
    pub(crate) async fn delete_org(
        &self,
        who: &Principal,
        slug: &str,
        options: DeleteOptions,
    ) -> Result<()> {
        let org = self.authorize_org(who, slug, Action::OrgDelete).await?;
        // Refused before anything is torn down when the host application owns organizations.
        self.inner.store.directory_admin()?;
        for project in self.inner.store.services.list_projects(org.id).await? {
            self.delete_project(who, slug, project.name.as_str(), options)
                .await?;
        }
        // Leftovers of interrupted operations the store no longer knows about.
        let runtime = self.runtime();
        let selector = self.selector().with(labels::ORG, org.id);
        for c in runtime.list_containers(&selector).await? {
            let _ = runtime.stop_container(&c.id, self.inner.stop_timeout).await;
            runtime.remove_container(&c.id, true).await?;
        }
        for n in runtime.list_networks(&selector).await? {
            runtime.remove_network(&n.name).await?;
        }
        if options.volumes {
            for v in runtime.list_volumes(&selector).await? {
                runtime.remove_volume(&v.name).await?;
            }
        }
        self.inner
            .store
            .directory_admin()?
            .delete_org(org.id)
            .await?;
        self.audit(
            Some(who),
            Some(org.id),
            "org.delete",
            format!("org:{}", org.slug),
            json(&org),
            json(&options),
        )
        .await;
        Ok(())
    }
}
