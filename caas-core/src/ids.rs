//! Id newtypes. Every stored object has a UUIDv7 id (time-ordered, so lists sort by creation).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Error;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
            /// The first eight hex digits, for names and logs.
            pub fn short(&self) -> String {
                let s = self.0.simple().to_string();
                // The trailing hex digits of a v7 id are random; the leading ones are a timestamp
                // shared by ids created in the same millisecond.
                s[s.len() - 8..].to_string()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| Error::invalid($kind, format!("'{}' is not a UUID", s.chars().take(64).collect::<String>())))
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

id_type!(/// Identifies an organization.
    OrgId, "org_id");
id_type!(/// Identifies a user.
    UserId, "user_id");
id_type!(/// Identifies a plan.
    PlanId, "plan_id");
id_type!(/// Identifies a subscription.
    SubscriptionId, "subscription_id");
id_type!(/// Identifies a project.
    ProjectId, "project_id");
id_type!(/// Identifies a service (an app or a database).
    ServiceId, "service_id");
id_type!(/// Identifies one deployment of a service; the idempotency key of its container.
    DeploymentId, "deployment_id");
id_type!(/// Identifies a volume.
    VolumeId, "volume_id");
id_type!(/// Identifies a backup.
    BackupId, "backup_id");
id_type!(/// Identifies a domain attached to a service.
    DomainId, "domain_id");
id_type!(/// Identifies a quota reservation.
    ReservationId, "reservation_id");
id_type!(/// Identifies a service event.
    EventId, "event_id");
id_type!(/// Identifies an alert rule or alert.
    AlertId, "alert_id");
id_type!(/// Identifies an audit entry.
    AuditId, "audit_id");
id_type!(/// Identifies an invitation.
    InvitationId, "invitation_id");
id_type!(/// Identifies an API token.
    ApiTokenId, "token_id");
id_type!(/// Identifies the services deployed together from a template.
    TemplateInstanceId, "template_instance_id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_roundtrip_through_strings_and_reject_garbage() {
        let id = OrgId::new();
        assert_eq!(id.to_string().parse::<OrgId>().unwrap(), id);
        let err = "nope".parse::<ServiceId>().unwrap_err();
        assert_eq!(err.field(), Some("service_id"));
        assert_eq!(id.short().len(), 8);
    }
}
