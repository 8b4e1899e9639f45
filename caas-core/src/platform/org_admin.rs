//! Platform administration of organizations: an overview list with filters and paging,
//! suspension and reactivation, bulk operations, and the audit log.
//!
//! - **Suspending** an organization marks it suspended, stops every running service of it
//!   (remembering which) and from then on refuses deploys, updates, starts, volume and backup
//!   changes and new projects with `Conflict`; reading and deleting stay possible.
//!   **Reactivating** starts again exactly the services the suspension stopped.
//! - **Bulk operations** run one item at a time and report each: a failing item does not stop
//!   the others, and repeating a call is harmless (suspending a suspended organization
//!   changes nothing and says so).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::deploy::DeleteOptions;
use super::members::NewMember;
use super::usage::{UsageSummary, summarise};
use super::{Platform, json};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::{OrgId, ServiceId};
use crate::model::{
    AuditEntry, OrgStatus, Organization, Role, ServiceEventKind, ServiceStatus, SubscriptionStatus,
};
use crate::ports::quota::QuotaGrant;
use crate::ports::store::{AuditFilter, OrgFilter};

/// Most organizations in one page or one bulk call.
pub const MAX_PAGE: u32 = 500;

/// Filters and page of the administrators' organization list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AdminOrgFilter {
    /// Case-insensitive part of the slug or display name.
    #[serde(default)]
    pub search: Option<String>,
    /// Only this status.
    #[serde(default)]
    pub status: Option<OrgStatus>,
    /// Only subscribers of this plan (name).
    #[serde(default)]
    pub plan: Option<String>,
    /// Only this subscription status.
    #[serde(default)]
    pub subscription: Option<SubscriptionStatus>,
    /// Page size (1-500, default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Rows to skip.
    #[serde(default)]
    pub offset: Option<u32>,
}

impl AdminOrgFilter {
    /// Only names containing `text`.
    pub fn search(mut self, text: impl Into<String>) -> Self {
        self.search = Some(text.into());
        self
    }
    /// Only subscribers of `plan`.
    pub fn plan(mut self, plan: impl Into<String>) -> Self {
        self.plan = Some(plan.into());
        self
    }
    /// Only this status.
    pub fn status(mut self, status: OrgStatus) -> Self {
        self.status = Some(status);
        self
    }
    /// A page: `limit` rows after `offset`.
    pub fn page(mut self, limit: u32, offset: u32) -> Self {
        self.limit = Some(limit);
        self.offset = Some(offset);
        self
    }
}

/// One organization as administrators see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgOverview {
    /// The organization.
    pub org: Organization,
    /// Its members.
    pub members: u64,
    /// Its running or stopped service containers (one per service).
    pub containers: u64,
    /// Its plan's name.
    pub plan: Option<String>,
    /// Its subscription's status.
    pub subscription: Option<SubscriptionStatus>,
    /// The current billing period.
    pub period_start: Option<DateTime<Utc>>,
    /// End of the current billing period.
    pub period_end: Option<DateTime<Utc>>,
    /// The plan's monthly price, in cents.
    pub monthly_price_cents: Option<u64>,
    /// Its currency.
    pub currency: Option<String>,
    /// Usage against the plan's limits.
    pub usage: UsageSummary,
}

/// A page of organizations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgPage {
    /// The organizations.
    pub items: Vec<OrgOverview>,
    /// Page size asked for.
    pub limit: u32,
    /// Rows skipped.
    pub offset: u32,
    /// Every organization matching the filters, on all pages.
    pub total: u64,
    /// Whether more follow.
    pub more: bool,
}

/// What a bulk call does to each organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BulkAction {
    /// Suspend.
    Suspend,
    /// Reactivate.
    Reactivate,
    /// Subscribe to another plan (status kept, or active for a new subscription).
    ChangePlan {
        /// The plan's name.
        plan: String,
    },
    /// Delete with everything it owns.
    Delete {
        /// Also remove volumes.
        #[serde(default)]
        volumes: bool,
    },
    /// Add an existing user as a member.
    AddMember {
        /// E-mail address or id.
        user: String,
        /// Role.
        role: Role,
    },
    /// Remove a member.
    RemoveMember {
        /// E-mail address or id.
        user: String,
    },
}

/// A bulk call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BulkRequest {
    /// What to do.
    pub action: BulkAction,
    /// To which organizations (slugs; at most 500).
    pub orgs: Vec<String>,
}

impl BulkRequest {
    /// `action` on `orgs`.
    pub fn new(action: BulkAction, orgs: Vec<String>) -> Self {
        Self { action, orgs }
    }
}

/// The outcome for one organization of a bulk call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkItem {
    /// The organization's slug.
    pub org: String,
    /// Whether the action succeeded (or had nothing to do).
    pub ok: bool,
    /// Whether anything changed.
    pub changed: bool,
    /// The error's code (`NOT_FOUND`, `CONFLICT`, ...), when it failed.
    pub code: Option<String>,
    /// What went wrong, when it failed.
    pub error: Option<String>,
}

fn suspended_key(org: OrgId) -> String {
    format!("suspended.{org}")
}

impl Platform {
    /// Organizations with their members, containers, subscription, billing data and usage,
    /// filtered and paged, with the count of all that match (platform administrators only).
    /// Errors: `PermissionDenied`,
    /// `InvalidInput` (`limit`).
    pub(crate) async fn admin_orgs(
        &self,
        who: &Principal,
        filter: &AdminOrgFilter,
    ) -> Result<OrgPage> {
        who.require_admin(Action::OrgListAll)?;
        let limit = filter.limit.unwrap_or(50);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::invalid("limit", "must be 1-500"));
        }
        let offset = filter.offset.unwrap_or(0);
        let store = &self.inner.store;
        let plan_id = match &filter.plan {
            Some(name) => Some(
                store
                    .plans
                    .plan_by_name_opt(name)
                    .await?
                    .ok_or_else(|| Error::invalid("plan", format!("no plan '{name}'")))?
                    .id,
            ),
            None => None,
        };
        // Store-side filters first; plan and subscription filters need the subscription, so
        // the total is counted here, over every page of the store.
        let mut base = OrgFilter {
            search: filter.search.clone(),
            status: filter.status,
            limit: MAX_PAGE,
            offset: 0,
        };
        let needs_subscription = plan_id.is_some() || filter.subscription.is_some();
        let (skip, take) = (u64::from(offset), u64::from(limit));
        let mut total: u64 = 0;
        let mut window = Vec::new();
        loop {
            let orgs = store.directory.list_orgs(&base).await?;
            let n = orgs.len();
            for org in orgs {
                let in_window = total >= skip && (window.len() as u64) < take;
                let sub = if needs_subscription || in_window {
                    store.plans.subscription_opt(org.id).await?
                } else {
                    None
                };
                if plan_id.is_some_and(|p| sub.as_ref().is_none_or(|s| s.plan != p)) {
                    continue;
                }
                if filter
                    .subscription
                    .is_some_and(|st| sub.as_ref().is_none_or(|s| s.status != st))
                {
                    continue;
                }
                if in_window {
                    window.push((org, sub));
                }
                total += 1;
            }
            if n < base.limit as usize {
                break;
            }
            base.offset = base.offset.saturating_add(base.limit);
        }
        let more = skip.saturating_add(window.len() as u64) < total;
        let mut items = Vec::new();
        for (org, sub) in window {
            let grant = QuotaGrant::with_subscription(&org, sub.clone(), &*store.plans).await?;
            let usage = store.quota.quota_usage(&grant, self.now()).await?;
            let plan = grant.plan;
            items.push(OrgOverview {
                members: store.directory.members(org.id).await?.len() as u64,
                containers: store.services.list_services(org.id, None).await?.len() as u64,
                plan: plan.as_ref().map(|p| p.name.to_string()),
                subscription: sub.as_ref().map(|s| s.status),
                period_start: sub.as_ref().map(|s| s.period_start),
                period_end: sub.as_ref().map(|s| s.period_end),
                monthly_price_cents: plan.as_ref().map(|p| p.monthly_price_cents),
                currency: plan.as_ref().map(|p| p.currency.clone()),
                usage: summarise(org.slug.as_str(), sub.as_ref().map(|s| s.status), usage),
                org,
            });
        }
        Ok(OrgPage {
            items,
            limit,
            offset,
            total,
            more,
        })
    }

    /// Suspends an organization (see the module docs); `false` when it already was.
    /// Errors: `NotFound`, `PermissionDenied` (platform administrators only), `Unavailable`.
    #[instrument(skip_all, fields(caas.org = %slug))]
    pub(crate) async fn suspend_org(&self, who: &Principal, slug: &str) -> Result<bool> {
        who.require_admin(Action::OrgAdminister)?;
        let mut org = self
            .inner
            .store
            .directory
            .org_by_slug_opt(slug)
            .await?
            .ok_or_else(|| Error::not_found("organization", slug))?;
        if org.status == OrgStatus::Suspended {
            return Ok(false);
        }
        let before = org.clone();
        // Suspended first, so nothing new starts while its services are stopped.
        org.status = OrgStatus::Suspended;
        self.inner.store.directory_admin()?.update_org(&org).await?;
        let mut stopped: Vec<ServiceId> = Vec::new();
        for svc in self
            .inner
            .store
            .services
            .list_services(org.id, None)
            .await?
        {
            if svc.status != ServiceStatus::Running {
                continue;
            }
            self.stop_quietly(&svc).await?;
            self.record_event(
                &svc,
                ServiceEventKind::Stopped,
                "stopped: the organization was suspended",
            )
            .await;
            stopped.push(svc.id);
            // Remembered as it goes: a failure half-way still reactivates what was stopped.
            self.inner
                .store
                .settings
                .put_setting(&suspended_key(org.id), &serde_json::json!(stopped))
                .await?;
        }
        self.audit(
            Some(who),
            Some(org.id),
            "org.suspend",
            format!("org:{}", org.slug),
            json(&before),
            json(&org),
        )
        .await;
        Ok(true)
    }

    /// Reactivates a suspended organization and starts the services its suspension stopped; `false`
    /// when it was active. Errors: as [`Admin::suspend_org`](crate::platform::Admin::suspend_org).
    #[instrument(skip_all, fields(caas.org = %slug))]
    pub(crate) async fn reactivate_org(&self, who: &Principal, slug: &str) -> Result<bool> {
        who.require_admin(Action::OrgAdminister)?;
        let mut org = self
            .inner
            .store
            .directory
            .org_by_slug_opt(slug)
            .await?
            .ok_or_else(|| Error::not_found("organization", slug))?;
        if org.status == OrgStatus::Active {
            return Ok(false);
        }
        let before = org.clone();
        let key = suspended_key(org.id);
        let stopped: Vec<ServiceId> = match self.inner.store.settings.setting_opt(&key).await? {
            Some(v) => serde_json::from_value(v).unwrap_or_default(),
            None => Vec::new(),
        };
        org.status = OrgStatus::Active;
        self.inner.store.directory_admin()?.update_org(&org).await?;
        for id in stopped {
            let Ok(svc) = self.inner.store.services.service(id).await else {
                continue;
            };
            if svc.status != ServiceStatus::Stopped {
                continue;
            }
            let container = self.current_container(&svc).await?;
            self.runtime().start_container(&container).await?;
            let mut s = svc.clone();
            s.status = ServiceStatus::Running;
            s.updated_at = self.now();
            self.inner.store.services.update_service(&s).await?;
            self.record_event(
                &s,
                ServiceEventKind::Started,
                "started: the organization was reactivated",
            )
            .await;
        }
        self.inner
            .store
            .settings
            .put_setting(&key, &serde_json::Value::Null)
            .await?;
        self.audit(
            Some(who),
            Some(org.id),
            "org.reactivate",
            format!("org:{}", org.slug),
            json(&before),
            json(&org),
        )
        .await;
        Ok(true)
    }

    /// Runs `request.action` on each organization, one at a time, reporting each (platform
    /// administrators only). Errors (of the call): `PermissionDenied`, `InvalidInput`
    /// (`orgs`: empty, too many, or twice the same).
    #[instrument(skip_all)]
    pub(crate) async fn bulk_orgs(
        &self,
        who: &Principal,
        request: BulkRequest,
    ) -> Result<Vec<BulkItem>> {
        who.require_admin(Action::OrgAdminister)?;
        if request.orgs.is_empty() || request.orgs.len() > MAX_PAGE as usize {
            return Err(Error::invalid("orgs", "between 1 and 500 organizations"));
        }
        let mut seen = std::collections::HashSet::new();
        for o in &request.orgs {
            if !seen.insert(o) {
                return Err(Error::invalid("orgs", format!("'{o}' is listed twice")));
            }
        }
        let mut out = Vec::new();
        for slug in &request.orgs {
            let result = self.bulk_one(who, slug, &request.action).await;
            out.push(match result {
                Ok(changed) => BulkItem {
                    org: slug.clone(),
                    ok: true,
                    changed,
                    code: None,
                    error: None,
                },
                Err(e) => BulkItem {
                    org: slug.clone(),
                    ok: false,
                    changed: false,
                    code: Some(e.code().to_string()),
                    error: Some(e.to_string()),
                },
            });
        }
        self.audit(
            Some(who),
            None,
            "org.bulk",
            "orgs".into(),
            json(&request),
            json(&out),
        )
        .await;
        Ok(out)
    }

    async fn bulk_one(&self, who: &Principal, slug: &str, action: &BulkAction) -> Result<bool> {
        match action {
            BulkAction::Suspend => self.suspend_org(who, slug).await,
            BulkAction::Reactivate => self.reactivate_org(who, slug).await,
            BulkAction::ChangePlan { plan } => {
                let org = self
                    .authorize_org(who, slug, Action::SubscriptionManage)
                    .await?;
                let current = self.inner.store.plans.subscription_opt(org.id).await?;
                let target = self
                    .inner
                    .store
                    .plans
                    .plan_by_name_opt(plan)
                    .await?
                    .ok_or_else(|| Error::not_found("plan", plan))?;
                if current.as_ref().is_some_and(|s| s.plan == target.id) {
                    return Ok(false);
                }
                let status = current.map_or(SubscriptionStatus::Active, |s| s.status);
                self.set_subscription(who, slug, plan, status).await?;
                Ok(true)
            }
            BulkAction::Delete { volumes } => {
                match self.inner.store.directory.org_by_slug_opt(slug).await? {
                    // Already gone: nothing to do, and not an error on a repeated call.
                    None => Ok(false),
                    Some(_) => {
                        let options = if *volumes {
                            DeleteOptions::with_volumes()
                        } else {
                            DeleteOptions::keep_volumes()
                        };
                        self.delete_org(who, slug, options).await?;
                        Ok(true)
                    }
                }
            }
            BulkAction::AddMember { user, role } => {
                match self
                    .add_member(who, slug, NewMember::new(user.clone(), *role))
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(e) if e.is_already_exists() => Ok(false),
                    Err(e) => Err(e),
                }
            }
            BulkAction::RemoveMember { user } => match self.remove_member(who, slug, user).await {
                Ok(()) => Ok(true),
                Err(e)
                    if e.is_not_found()
                        && self
                            .inner
                            .store
                            .directory
                            .org_by_slug_opt(slug)
                            .await?
                            .is_some() =>
                {
                    Ok(false)
                }
                Err(e) => Err(e),
            },
        }
    }

    /// The audit log, newest first (platform administrators; organization owners for their
    /// organization's entries when `filter.org` is theirs). Errors: `PermissionDenied`.
    pub(crate) async fn audit_log(
        &self,
        who: &Principal,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>> {
        super::policy::check_limit(filter.limit, super::policy::MAX_AUDIT_ENTRIES)?;
        if let Some(action) = &filter.action_prefix {
            super::policy::check_audit_action(action)?;
        }
        // The whole organization's log: owners holding every project only.
        let own_org = filter
            .org
            .is_some_and(|o| who.role_in(o) == Some(Role::Owner) && who.scope_in(o).is_none());
        if !who.platform_admin && !own_org {
            who.require_admin(Action::OrgListAll)?;
        }
        self.inner.store.history.list_audit(filter).await
    }
}

/// Whether `action` is refused while an organization is suspended.
pub(super) fn blocked_while_suspended(action: Action) -> bool {
    matches!(
        action,
        Action::ServiceDeploy
            | Action::ServiceOperate
            | Action::VolumeManage
            | Action::VolumeRestore
            | Action::ProjectCreate
    )
}
