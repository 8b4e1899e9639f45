//! Volumes: quota, mounts, usage states, alerts, delete.

use super::*;
use caas_core::memory::{Fault, RuntimeOp};
use caas_core::model::{AlertState, ServiceEventKind, VolumeState};
use caas_core::platform::{DeleteOptions, NewVolume, RULE_VOLUME_FULL, RULE_VOLUME_WARNING};
use caas_core::ports::runtime::LabelSelector;
use caas_core::ports::store::prelude::*;
use caas_core::{ProjectRef, ServiceRef};

#[tokio::test]
async fn a_volume_holds_its_size_against_the_storage_quota_until_deleted() {
    let w = world_with(3 * GIB).await;
    let v = w
        .platform
        .volumes()
        .create(&w.member, "acme", NewVolume::new("shop", "data", 2 * GIB))
        .await
        .unwrap();
    assert_eq!(v.volume.size_bytes, 2 * GIB);
    assert_eq!(v.project_name.as_str(), "shop");
    assert!(v.mounted_by.is_empty());
    assert_eq!(w.storage_used().await, 2 * GIB);
    assert!(
        w.runtime
            .inspect_volume_opt(&v.volume.runtime_name)
            .await
            .unwrap()
            .is_some()
    );

    let err = w
        .platform
        .volumes()
        .create(&w.member, "acme", NewVolume::new("shop", "more", 2 * GIB))
        .await
        .unwrap_err();
    let q = err.quota().expect("quota exceeded");
    assert_eq!(q.dimensions[0].dimension, "storage_bytes");
    let err = w
        .platform
        .volumes()
        .create(&w.member, "acme", NewVolume::new("shop", "data", MB))
        .await
        .unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    for (new, field) in [
        (NewVolume::new("shop", "Bad Name", GIB), "name"),
        (NewVolume::new("shop", "tiny", 1024), "size_bytes"),
    ] {
        let err = w
            .platform
            .volumes()
            .create(&w.member, "acme", new)
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some(field), "{err}");
    }
    let err = w
        .platform
        .volumes()
        .create(&w.viewer, "acme", NewVolume::new("shop", "v", MB))
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    let stranger = Principal::user(caas_core::UserId::new());
    let err = w
        .platform
        .volumes()
        .list(&stranger, "acme", None)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");

    // The same name in another project: then names are ambiguous, ids are not.
    let other = w
        .platform
        .volumes()
        .create(&w.member, "acme", NewVolume::new("blog", "data", MB))
        .await
        .unwrap();
    let err = w
        .platform
        .volumes()
        .get(&w.viewer, "acme", "data")
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let by_id = w
        .platform
        .volumes()
        .get(&w.viewer, "acme", &other.volume.id.to_string())
        .await
        .unwrap();
    assert_eq!(by_id.project_name.as_str(), "blog");
    assert_eq!(
        w.platform
            .volumes()
            .list(&w.viewer, "acme", Some("shop"))
            .await
            .unwrap()
            .len(),
        1
    );

    w.platform
        .volumes()
        .delete(&w.member, "acme", &v.volume.id.to_string(), false)
        .await
        .unwrap();
    assert_eq!(w.storage_used().await, MB);
    assert!(
        w.runtime
            .inspect_volume_opt(&v.volume.runtime_name)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_failed_volume_creation_leaves_nothing() {
    let w = world().await;
    w.runtime
        .fail_next(RuntimeOp::CreateVolume, Fault::Unavailable);
    let err = w
        .platform
        .volumes()
        .create(&w.member, "acme", NewVolume::new("shop", "data", GIB))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(
        w.platform
            .volumes()
            .list(&w.admin, "acme", None)
            .await
            .unwrap()
            .is_empty()
    );
    let usage = w.platform.orgs().usage(&w.admin, "acme").await.unwrap();
    assert_eq!(usage.committed.storage_bytes, 0);
    assert!(usage.pending.is_zero(), "{usage:?}");
}

#[tokio::test]
async fn a_deploy_creates_missing_volumes_which_outlive_the_service_unless_asked() {
    let w = world().await;
    let svc = w.deploy("web", app_with("data", "/data", 2 * GIB)).await;
    let views = w
        .platform
        .volumes()
        .list(&w.admin, "acme", None)
        .await
        .unwrap();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].mounted_by.len(), 1);
    assert_eq!(views[0].mounted_by[0].service.as_str(), "web");
    assert_eq!(views[0].mounted_by[0].target, "/data");
    assert_eq!(w.storage_used().await, 2 * GIB);
    // A second service mounting the same name shares the volume: no more storage.
    w.deploy("worker", app_with("data", "/work", 5 * GIB)).await;
    assert_eq!(w.storage_used().await, 2 * GIB);

    w.platform
        .services()
        .delete(
            &w.admin,
            &ServiceRef::new("acme", "shop", "worker"),
            DeleteOptions::keep_volumes(),
        )
        .await
        .unwrap();
    w.platform
        .services()
        .delete(
            &w.admin,
            &ServiceRef::new("acme", "shop", "web"),
            DeleteOptions::keep_volumes(),
        )
        .await
        .unwrap();
    assert_eq!(
        w.storage_used().await,
        2 * GIB,
        "a kept volume still counts"
    );
    let again = w.deploy("web", app_with("data", "/data", GIB)).await;
    assert_ne!(again.id, svc.id);
    assert_eq!(
        w.platform
            .volumes()
            .list(&w.admin, "acme", None)
            .await
            .unwrap()
            .len(),
        1
    );
    w.platform
        .services()
        .delete(
            &w.admin,
            &ServiceRef::new("acme", "shop", "web"),
            DeleteOptions::with_volumes(),
        )
        .await
        .unwrap();
    assert_eq!(w.storage_used().await, 0);
    assert!(
        w.platform
            .volumes()
            .list(&w.admin, "acme", None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_deploy_that_fails_removes_the_volumes_it_created_only() {
    let w = world().await;
    w.platform
        .volumes()
        .create(&w.member, "acme", NewVolume::new("shop", "kept", GIB))
        .await
        .unwrap();
    let mut spec = app_with("kept", "/kept", GIB);
    spec.volumes.push(VolumeMount {
        volume: Name::parse("fresh").unwrap(),
        target: "/fresh".into(),
        read_only: false,
        size_bytes: GIB,
    });
    w.runtime
        .fail_next(RuntimeOp::StartContainer, Fault::Unavailable);
    let err = w
        .platform
        .services()
        .deploy_app(
            &w.admin,
            &ProjectRef::new("acme", "shop"),
            DeployApp::new("web", spec),
        )
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    let names: Vec<String> = w
        .platform
        .volumes()
        .list(&w.admin, "acme", None)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.volume.name.to_string())
        .collect();
    assert_eq!(names, ["kept"]);
    assert_eq!(w.storage_used().await, GIB);
    let usage = w.platform.orgs().usage(&w.admin, "acme").await.unwrap();
    assert!(usage.pending.is_zero(), "{usage:?}");
}

#[tokio::test]
async fn a_mounted_volume_is_deleted_only_with_force_which_detaches_it_first() {
    let w = world().await;
    let svc = w.deploy("web", app_with("data", "/data", GIB)).await;
    let err = w
        .platform
        .volumes()
        .delete(&w.member, "acme", "data", false)
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("web"), "{err}");
    let runtime_name = w.runtime_name("data").await;
    w.platform
        .volumes()
        .delete(&w.member, "acme", "data", true)
        .await
        .unwrap();
    let after = w
        .platform
        .services()
        .get(&w.admin, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap();
    assert!(after.spec.volumes.is_empty(), "{:?}", after.spec.volumes);
    assert_ne!(
        after.current_deployment, svc.current_deployment,
        "recreated"
    );
    assert_eq!(after.status, caas_core::model::ServiceStatus::Running);
    assert!(
        w.runtime
            .inspect_volume_opt(&runtime_name)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(w.storage_used().await, 0);
}

#[tokio::test]
async fn usage_moves_a_volume_to_warning_then_full_with_alerts_events_and_read_only_mounts() {
    let w = world().await;
    let svc = w.deploy("web", app_with("data", "/data", MB)).await;
    let name = w.runtime_name("data").await;
    let org = w.store.org_by_slug_opt("acme").await.unwrap().unwrap();

    assert!(
        w.platform
            .volumes()
            .check()
            .await
            .unwrap()
            .changed
            .is_empty()
    );
    w.put_files(&name, &[("a.bin", &vec![1u8; 850 * 1024])])
        .await;
    let report = w.platform.volumes().check().await.unwrap();
    assert_eq!(report.changed, vec![(name.clone(), VolumeState::Warning)]);
    let view = w
        .platform
        .volumes()
        .get(&w.viewer, "acme", "data")
        .await
        .unwrap();
    assert_eq!(view.volume.state, VolumeState::Warning);
    assert_eq!(view.percent_used, Some(83));
    let alerts = w.store.list_alerts(org.id, true, 10).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].rule, RULE_VOLUME_WARNING);
    assert_eq!(alerts[0].subject, format!("volume:{}", view.volume.id));
    // Deduplicated: a second pass raises nothing new.
    w.platform.volumes().check().await.unwrap();
    assert_eq!(
        w.store.list_alerts(org.id, false, 10).await.unwrap().len(),
        1
    );

    w.put_files(&name, &[("b.bin", &vec![2u8; 200 * 1024])])
        .await;
    w.platform.volumes().check().await.unwrap();
    let firing: Vec<String> = w
        .store
        .list_alerts(org.id, true, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.rule)
        .collect();
    assert!(firing.contains(&RULE_VOLUME_FULL.to_string()), "{firing:?}");
    let kinds: Vec<ServiceEventKind> = w
        .store
        .list_events(svc.id, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.contains(&ServiceEventKind::VolumeAlmostFull {
            volume: "data".into(),
            percent: 83
        }),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&ServiceEventKind::VolumeFull {
            volume: "data".into()
        }),
        "{kinds:?}"
    );

    // A new deploy that would write to it is refused; read-only is fine.
    let err = w
        .platform
        .services()
        .deploy_app(
            &w.admin,
            &ProjectRef::new("acme", "shop"),
            DeployApp::new("writer", app_with("data", "/d", MB)),
        )
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("full"), "{err}");
    let mut reader = app_with("data", "/d", MB);
    reader.volumes[0].read_only = true;
    w.deploy("reader", reader).await;

    // The next recreate of the service mounts it read-only.
    w.platform
        .services()
        .recreate(&w.admin, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap();
    let containers = w
        .runtime
        .list_containers(&LabelSelector::managed().with(caas_core::labels::SERVICE, svc.id))
        .await
        .unwrap();
    let info = w
        .runtime
        .inspect_container_opt(&containers[0].id)
        .await
        .unwrap()
        .unwrap();
    assert!(info.mounts.iter().all(|m| m.read_only), "{:?}", info.mounts);

    // Freeing space resolves both alerts.
    let tar = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, "a.bin", &b"x"[..]).unwrap();
        b.append_data(&mut h, "b.bin", &b"x"[..]).unwrap();
        Bytes::from(b.into_inner().unwrap())
    };
    w.runtime
        .write_archive(
            &name,
            "/",
            futures::stream::once(async move { Ok(tar) }).boxed(),
        )
        .await
        .unwrap();
    w.platform.volumes().check().await.unwrap();
    assert!(
        w.store
            .list_alerts(org.id, true, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let all = w.store.list_alerts(org.id, false, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(
        all.iter()
            .all(|a| a.state == AlertState::Resolved && a.resolved_at.is_some())
    );
    assert_eq!(
        w.platform
            .volumes()
            .get(&w.viewer, "acme", "data")
            .await
            .unwrap()
            .volume
            .state,
        VolumeState::Ok
    );
}

#[tokio::test]
async fn an_interrupted_volume_creation_is_rolled_back_by_the_reconciler() {
    let w = world().await;
    w.runtime
        .set_latency(RuntimeOp::CreateVolume, Duration::from_secs(3600));
    let p = w.platform.clone();
    let who = w.member.clone();
    let task = tokio::spawn(async move {
        p.volumes()
            .create(&who, "acme", NewVolume::new("shop", "data", GIB))
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    task.abort();
    let _ = task.await;
    w.runtime.clear_faults();
    assert_eq!(
        w.store.list_all_volumes().await.unwrap().len(),
        1,
        "the record was written"
    );
    let early = w.platform.reconcile().await.unwrap();
    assert!(early.rolled_back_volumes.is_empty(), "{early:?}");
    w.clock.advance(chrono::Duration::minutes(11));
    let report = w.platform.reconcile().await.unwrap();
    assert_eq!(report.rolled_back_volumes.len(), 1, "{report:?}");
    assert!(w.store.list_all_volumes().await.unwrap().is_empty());
    assert!(w.platform.reconcile().await.unwrap().is_clean());
}

#[tokio::test]
async fn volumes_are_attached_to_and_detached_from_running_services_by_an_update() {
    use caas_core::platform::{ApplyMode, ServiceUpdate, VolumeAttach};
    let w = world().await;
    let spec = ServiceSpec::new(ImageRef::parse(IMAGE).unwrap());
    let svc = w.deploy("web", spec).await;
    w.platform
        .volumes()
        .create(&w.member, "acme", NewVolume::new("shop", "media", GIB))
        .await
        .unwrap();
    let mut update = ServiceUpdate::default();
    update
        .volumes_attach
        .push(VolumeAttach::new("media", "/srv/media"));
    let preview = w
        .platform
        .services()
        .update(
            &w.member,
            &ServiceRef::new("acme", "shop", "web"),
            update.clone(),
            true,
        )
        .await
        .unwrap()
        .preview;
    assert_eq!(
        preview.mode,
        ApplyMode::Recreate,
        "a writable volume makes a single writer"
    );
    assert_eq!(preview.changes[0].field, "volumes");
    assert_eq!(
        preview.quota_delta.storage_bytes, 0,
        "the volume holds its own storage"
    );
    let done = w
        .platform
        .services()
        .update(
            &w.member,
            &ServiceRef::new("acme", "shop", "web"),
            update,
            false,
        )
        .await
        .unwrap();
    assert!(done.applied);
    assert_eq!(done.service.spec.volumes[0].target, "/srv/media");
    assert_ne!(done.service.current_deployment, svc.current_deployment);
    let view = w
        .platform
        .volumes()
        .get(&w.viewer, "acme", "media")
        .await
        .unwrap();
    assert_eq!(view.mounted_by.len(), 1);
    let containers = w
        .runtime
        .list_containers(&LabelSelector::managed().with(caas_core::labels::SERVICE, svc.id))
        .await
        .unwrap();
    let info = w
        .runtime
        .inspect_container_opt(&containers[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.mounts[0].volume, view.volume.runtime_name);
    assert_eq!(info.mounts[0].target, "/srv/media");

    // Attaching what does not exist or is mounted already, detaching what is not mounted.
    let mut bad = ServiceUpdate::default();
    bad.volumes_attach.push(VolumeAttach::new("nope", "/nope"));
    bad.volumes_attach
        .push(VolumeAttach::new("media", "/again"));
    bad.volumes_detach.push("other".into());
    let preview = w
        .platform
        .services()
        .update(
            &w.member,
            &ServiceRef::new("acme", "shop", "web"),
            bad.clone(),
            true,
        )
        .await
        .unwrap()
        .preview;
    let fields: Vec<&str> = preview.errors.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"volumes_detach[0]"), "{fields:?}");
    assert!(fields.contains(&"volumes_attach[1].volume"), "{fields:?}");
    assert!(fields.contains(&"volumes_attach[0].volume"), "{fields:?}");
    let err = w
        .platform
        .services()
        .update(
            &w.member,
            &ServiceRef::new("acme", "shop", "web"),
            bad,
            false,
        )
        .await
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");

    let mut detach = ServiceUpdate::default();
    detach.volumes_detach.push("media".into());
    let done = w
        .platform
        .services()
        .update(
            &w.member,
            &ServiceRef::new("acme", "shop", "web"),
            detach,
            false,
        )
        .await
        .unwrap();
    assert!(done.service.spec.volumes.is_empty());
    assert!(
        w.platform
            .volumes()
            .get(&w.viewer, "acme", "media")
            .await
            .unwrap()
            .mounted_by
            .is_empty()
    );
    // Detached, the volume can be deleted without force.
    w.platform
        .volumes()
        .delete(&w.member, "acme", "media", false)
        .await
        .unwrap();
}
