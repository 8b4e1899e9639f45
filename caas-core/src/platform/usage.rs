//! An organization's usage against its plan, per dimension, with warnings.

use serde::{Deserialize, Serialize};

use super::Platform;
use crate::auth::{Action, Principal};
use crate::error::Result;
use crate::model::{SubscriptionStatus, Usage};

/// Usage at or above this share of a limit raises a warning.
pub const WARNING_PERCENT: f64 = 80.0;

/// One dimension of a usage summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DimensionUsage {
    /// `cpu_millis`, `memory_bytes`, `storage_bytes`, `containers` or `projects`.
    pub dimension: String,
    /// Committed plus pending.
    pub used: u64,
    /// The plan's limit.
    pub limit: u64,
    /// `used / limit` in percent (100 when the limit is 0 and something is used).
    pub percent: f64,
    /// At or above [`WARNING_PERCENT`].
    pub warning: bool,
}

/// What an organization uses against its plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageSummary {
    /// Organization slug.
    pub org: String,
    /// Plan name, when subscribed.
    pub plan: Option<String>,
    /// Subscription status, when subscribed.
    pub subscription: Option<SubscriptionStatus>,
    /// Per dimension (empty without a plan).
    pub dimensions: Vec<DimensionUsage>,
    /// Human-readable warnings, e.g. "memory_bytes at 85% of the plan's limit".
    pub warnings: Vec<String>,
    /// The raw numbers.
    pub usage: Usage,
}

/// Builds the per-dimension summary of raw usage.
pub fn summarise(org: &str, status: Option<SubscriptionStatus>, usage: Usage) -> UsageSummary {
    let total = usage.total();
    let mut dimensions = Vec::new();
    if let Some(limits) = usage.limits {
        for ((name, used), (_, limit)) in total
            .dimensions()
            .into_iter()
            .zip(limits.as_amounts().dimensions())
        {
            let percent = if limit == 0 {
                if used == 0 { 0.0 } else { 100.0 }
            } else {
                used as f64 * 100.0 / limit as f64
            };
            dimensions.push(DimensionUsage {
                dimension: name.to_string(),
                used,
                limit,
                percent,
                warning: percent >= WARNING_PERCENT,
            });
        }
    }
    let warnings = dimensions
        .iter()
        .filter(|d| d.warning)
        .map(|d| {
            format!(
                "{} at {:.0}% of the plan's limit ({} of {})",
                d.dimension, d.percent, d.used, d.limit
            )
        })
        .collect();
    UsageSummary {
        org: org.to_string(),
        plan: usage.plan.clone(),
        subscription: status,
        dimensions,
        warnings,
        usage,
    }
}

impl Platform {
    /// The organization's usage per dimension with percentages and warnings at 80 %.
    /// Errors: `NotFound`, `PermissionDenied`.
    pub(crate) async fn usage_summary(
        &self,
        who: &Principal,
        org_slug: &str,
    ) -> Result<UsageSummary> {
        let org = self.authorize_org(who, org_slug, Action::UsageView).await?;
        let usage = self.inner.quota.usage(org.id).await?;
        let status = self
            .inner
            .store
            .plans
            .subscription_opt(org.id)
            .await?
            .map(|s| s.status);
        Ok(summarise(org.slug.as_str(), status, usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::OrgId;
    use crate::model::PlanLimits;
    use crate::units::ResourceAmounts;

    #[test]
    fn warnings_start_at_eighty_percent() {
        let usage = Usage {
            org: OrgId::new(),
            plan: Some("starter".into()),
            limits: Some(PlanLimits {
                cpu_millis: 1000,
                memory_bytes: 1000,
                storage_bytes: 1000,
                max_containers: 10,
                max_projects: 0,
                max_domains: 20,
                max_pids: 1024,
                backup_storage_bytes: 10 * 1024 * 1024 * 1024,
            }),
            committed: ResourceAmounts {
                cpu_millis: 790,
                memory_bytes: 800,
                storage_bytes: 0,
                containers: 9,
                projects: 0,
            },
            pending: ResourceAmounts {
                containers: 1,
                ..ResourceAmounts::ZERO
            },
        };
        let s = summarise("acme", Some(SubscriptionStatus::Active), usage);
        let warned: Vec<&str> = s
            .dimensions
            .iter()
            .filter(|d| d.warning)
            .map(|d| d.dimension.as_str())
            .collect();
        assert_eq!(warned, ["memory_bytes", "containers"]);
        assert_eq!(s.dimensions[3].percent, 100.0);
        assert_eq!(s.dimensions[4].percent, 0.0, "zero limit, nothing used");
        assert_eq!(s.warnings.len(), 2);
    }
}
