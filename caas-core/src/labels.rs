//! The labels every managed container, network and volume carries.
//!
//! Users never set these: [`crate::validate::user_label_key`] refuses the `caas.` namespace,
//! and the platform merges user labels first and its own last.

use std::collections::BTreeMap;

use crate::ids::{DeploymentId, OrgId, ProjectId, ServiceId};

/// `caas.managed=true` marks every object the platform created.
pub const MANAGED: &str = "caas.managed";
/// The organization id.
pub const ORG: &str = "caas.org";
/// The project id.
pub const PROJECT: &str = "caas.project";
/// The service id.
pub const SERVICE: &str = "caas.service";
/// The deployment id: the idempotency key of a container.
pub const DEPLOYMENT: &str = "caas.deployment";
/// The volume name within its project, on volumes.
pub const VOLUME: &str = "caas.volume";
/// The volume's id, on volumes (a restored volume's data lives in a new runtime volume
/// carrying the same id).
pub const VOLUME_ID: &str = "caas.volume-id";
/// What kind of object (`service`, `network`, `volume`, `proxy`).
pub const KIND: &str = "caas.kind";
/// The platform instance that manages the object, so several platforms can share an engine
/// without touching each other's objects.
pub const INSTANCE: &str = "caas.instance";
/// A test run id, so conformance suites can clean up exactly what they made.
pub const TEST_RUN: &str = "caas.test-run";

/// The labels of a managed project network.
pub fn network_labels(org: OrgId, project: ProjectId) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED.to_string(), "true".to_string()),
        (KIND.to_string(), "network".to_string()),
        (ORG.to_string(), org.to_string()),
        (PROJECT.to_string(), project.to_string()),
    ])
}

/// The labels of a managed service container.
pub fn container_labels(
    org: OrgId,
    project: ProjectId,
    service: ServiceId,
    deployment: DeploymentId,
) -> BTreeMap<String, String> {
    let mut l = network_labels(org, project);
    l.insert(KIND.to_string(), "service".to_string());
    l.insert(SERVICE.to_string(), service.to_string());
    l.insert(DEPLOYMENT.to_string(), deployment.to_string());
    l
}

/// The labels of a project's volume named `volume`.
pub(crate) fn volume_labels(
    org: OrgId,
    project: ProjectId,
    volume: &str,
) -> BTreeMap<String, String> {
    let mut l = network_labels(org, project);
    l.insert(KIND.to_string(), "volume".to_string());
    l.insert(VOLUME.to_string(), volume.to_string());
    l
}
