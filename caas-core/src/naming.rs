//! The runtime names of managed objects: what the platform calls a project's network, a
//! service's container and a project's volume in the engine. Their labels are in
//! [`crate::labels`]; both are read by deploys, the reconciler and the tenancy code, so they
//! live below all of them.

use crate::ids::DeploymentId;
use crate::model::{Project, Service};

/// The runtime name of a project's network: stable across renames, unique per project.
pub(crate) fn network_name(project: &Project) -> String {
    format!("caas-p-{}", project.id.as_uuid().simple())
}

/// The runtime name of a service's container for one deployment: unique per deployment, so a
/// retried create finds its own container instead of making a second one.
pub(crate) fn container_name(service: &Service, deployment: DeploymentId) -> String {
    format!("caas-{}-{}", service.name, deployment.as_uuid().simple())
}

/// The runtime name of a project's volume.
pub(crate) fn volume_runtime_name(project: &Project, volume: &str) -> String {
    format!("caas-p-{}-{volume}", project.id.as_uuid().simple())
}
