//! Recreating a service's container from its current spec (stop, then start a new one on the
//! same volumes and network).

use tracing::instrument;

use super::Platform;
use super::rollout::Strategy;
use crate::auth::{Action, Principal};
use crate::error::Result;
use crate::model::Service;

impl Platform {
    /// Replaces a service's container with a new one built from its current spec, keeping its
    /// volumes and network: the old container is stopped first (single writer), the new one
    /// created and started; if that fails the new one is removed and the old one started
    /// again, and the failed deployment is recorded with the reason.
    ///
    /// Errors: `NotFound`, `PermissionDenied`, `Conflict` (never deployed), `Unavailable`.
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %name))]
    pub(crate) async fn recreate_service(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        name: &str,
    ) -> Result<Service> {
        let (org, project, svc) = self
            .authorize_service(who, org_slug, project, name, Action::ServiceDeploy)
            .await?;
        let spec = svc.spec.clone();
        let svc = self
            .roll_out(&project, &svc, spec, Strategy::StopThenStart)
            .await?;
        self.audit(
            Some(who),
            Some(org.id),
            "service.recreate",
            format!("service:{}", svc.id),
            None,
            None,
        )
        .await;
        Ok(svc.redacted())
    }
}
