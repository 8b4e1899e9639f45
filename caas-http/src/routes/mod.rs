//! The REST API, one module per area. Every handler extracts its input, authenticates the
//! caller ([`Caller`](crate::extract::Caller) comes first, so a request without credentials
//! gets 401 before anything else is looked at), calls one `Platform` method and maps the
//! result. Permissions are the platform's: handlers add none.

pub(crate) mod admin;
pub(crate) mod alerts;
pub(crate) mod backups;
pub(crate) mod domains;
pub(crate) mod members;
pub(crate) mod monitoring;
pub(crate) mod org_admin;
pub(crate) mod orgs;
pub(crate) mod projects;
pub(crate) mod reports;
pub(crate) mod service_health;
pub(crate) mod services;
pub(crate) mod templates;
pub(crate) mod tokens;
pub(crate) mod updates;
pub(crate) mod users;
pub(crate) mod volumes;

use caas_core::{ProjectRef, ServiceRef};
use serde::Deserialize;
use utoipa::IntoParams;

/// `{plan}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct PlanPath {
    /// The plan's name.
    pub(crate) plan: String,
}

/// `{org}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct OrgPath {
    /// The organization's slug.
    pub(crate) org: String,
}

/// `{org}/projects/{project}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ProjectPath {
    /// The organization's slug.
    pub(crate) org: String,
    /// The project's name.
    pub(crate) project: String,
}

impl ProjectPath {
    /// The project this path names.
    pub(crate) fn to_ref(&self) -> ProjectRef {
        ProjectRef::new(&self.org, &self.project)
    }
}

/// `{org}/projects/{project}/services/{service}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ServicePath {
    /// The organization's slug.
    pub(crate) org: String,
    /// The project's name.
    pub(crate) project: String,
    /// The service's name.
    pub(crate) service: String,
}

impl ServicePath {
    /// The service this path names.
    pub(crate) fn to_ref(&self) -> ServiceRef {
        ServiceRef::new(&self.org, &self.project, &self.service)
    }
}

/// `{org}/volumes/{volume}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct VolumePath {
    /// The organization's slug.
    pub(crate) org: String,
    /// The volume's id, or its name when no other project of the organization has a volume
    /// of that name.
    pub(crate) volume: String,
}

/// `{org}/backups/{backup}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct BackupPath {
    /// The organization's slug.
    pub(crate) org: String,
    /// The backup's id.
    pub(crate) backup: String,
}

/// What a delete also removes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteQuery {
    /// Also remove the volumes (their data is lost). Default `false`: volumes are kept.
    #[serde(default)]
    pub(crate) volumes: Option<bool>,
}

impl DeleteQuery {
    pub(crate) fn options(&self) -> caas_core::platform::DeleteOptions {
        if self.volumes.unwrap_or(false) {
            caas_core::platform::DeleteOptions::with_volumes()
        } else {
            caas_core::platform::DeleteOptions::keep_volumes()
        }
    }
}
