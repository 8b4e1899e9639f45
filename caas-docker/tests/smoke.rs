//! Smoke test: the real engine answers, and a labelled busybox container goes through its
//! whole life through `DockerRuntime`.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use caas_core::ContainerRuntime;
use caas_core::labels;
use caas_core::ports::runtime::{ContainerSpec, ContainerStatus, LabelSelector, RemoveOutcome};

#[tokio::test]
async fn engine_answers_and_a_labelled_container_lives_and_dies() {
    let Some((rt, image)) = common::docker().await else {
        return;
    };
    let info = rt.ping().await.unwrap();
    assert_eq!(info.backend, "docker");
    assert!(!info.version.is_empty());

    let run = caas_testkit::env::run_id();
    let mut spec = ContainerSpec::new(format!("caas-smoke-{run}"), image);
    spec.command = Some(vec!["sleep".into(), "300".into()]);
    spec.labels.insert(labels::MANAGED.into(), "true".into());
    spec.labels.insert(labels::TEST_RUN.into(), run.clone());
    let id = rt.create_container(&spec).await.unwrap().id().to_string();
    rt.start_container(&id).await.unwrap();
    let c = rt.inspect_container_opt(&id).await.unwrap().unwrap();
    assert_eq!(c.status, ContainerStatus::Running);
    assert_eq!(c.labels[labels::TEST_RUN], run);
    assert!(c.started_at.is_some());
    let listed = rt
        .list_containers(&LabelSelector::managed().with(labels::TEST_RUN, &run))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(
        rt.remove_container(&id, true).await.unwrap(),
        RemoveOutcome::Removed
    );
    assert!(rt.inspect_container_opt(&id).await.unwrap().is_none());
    let _ = Duration::from_secs(0);
}

/// The engine lets concurrent creations of one network name all through (its duplicate check
/// is not atomic); every creator, through one runtime or through several, ends up with the
/// same single network.
#[tokio::test]
async fn concurrent_creations_of_one_network_leave_one_network() {
    use caas_core::ports::runtime::{CreateOutcome, NetworkSpec};
    use std::collections::BTreeSet;

    let Some((shared, _)) = common::docker().await else {
        return;
    };
    let run = caas_testkit::env::run_id();
    let name = format!("caas-smoke-net-{run}");
    let labels = [
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::TEST_RUN.to_string(), run.clone()),
    ]
    .into_iter()
    .collect();
    let spec = NetworkSpec::new(name.clone(), labels);
    let mut runtimes = vec![shared.clone(), shared.clone(), shared.clone()];
    // Separate runtimes stand for separate processes: no lock in common.
    for _ in 0..5 {
        runtimes.push(common::docker().await.unwrap().0);
    }
    let tasks: Vec<_> = runtimes
        .into_iter()
        .map(|rt| {
            let spec = spec.clone();
            tokio::spawn(async move { rt.create_network(&spec).await.unwrap() })
        })
        .collect();
    let mut ids = BTreeSet::new();
    let mut created = 0;
    for t in tasks {
        let outcome = t.await.unwrap();
        created += usize::from(matches!(outcome, CreateOutcome::Created(_)));
        ids.insert(outcome.id().to_string());
    }
    let listed = shared
        .list_networks(&LabelSelector::managed().with(labels::TEST_RUN, &run))
        .await
        .unwrap();
    let listed: BTreeSet<_> = listed.into_iter().map(|n| n.id).collect();
    assert_eq!(listed.len(), 1, "networks left: {listed:?}");
    assert_eq!(ids, listed, "every creator has the one network");
    assert!(created >= 1, "someone created it");
    assert_eq!(
        shared.remove_network(&name).await.unwrap(),
        RemoveOutcome::Removed
    );
}

/// Networks of one name that another client left behind (created around this runtime, so
/// nothing settled them): a lookup answers with the oldest instead of the engine's "ambiguous",
/// a creation takes it, and removing the name removes them all.
#[tokio::test]
async fn duplicate_networks_of_a_name_are_looked_up_as_the_oldest_and_removed_together() {
    use bollard::network::CreateNetworkOptions;
    use caas_core::ports::runtime::{CreateOutcome, NetworkSpec};

    let Some((rt, _)) = common::docker().await else {
        return;
    };
    let host = caas_testkit::env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine").unwrap();
    let raw = bollard::Docker::connect_with_unix(
        host.strip_prefix("unix://").unwrap_or(&host),
        30,
        bollard::API_DEFAULT_VERSION,
    )
    .unwrap();
    let run = caas_testkit::env::run_id();
    let name = format!("caas-smoke-dup-{run}");
    let labels: std::collections::BTreeMap<String, String> = [
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::TEST_RUN.to_string(), run.clone()),
    ]
    .into_iter()
    .collect();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let created = raw
            .create_network(CreateNetworkOptions {
                name: name.clone(),
                check_duplicate: false,
                driver: "bridge".into(),
                labels: labels.clone().into_iter().collect(),
                ..Default::default()
            })
            .await
            .unwrap();
        ids.push(created.id);
    }
    let found = rt.inspect_network_opt(&name).await.unwrap().unwrap();
    assert_eq!(found.id, ids[0], "the oldest");
    let outcome = rt
        .create_network(&NetworkSpec::new(name.clone(), labels))
        .await
        .unwrap();
    assert_eq!(outcome, CreateOutcome::AlreadyExists(ids[0].clone()));
    assert_eq!(
        rt.remove_network(&name).await.unwrap(),
        RemoveOutcome::Removed
    );
    assert!(rt.inspect_network_opt(&name).await.unwrap().is_none());
    let left = rt
        .list_networks(&LabelSelector::managed().with(labels::TEST_RUN, &run))
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}
