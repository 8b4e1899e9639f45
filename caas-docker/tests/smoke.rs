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
