//! Backups: round trips, hostile and damaged archives, consistent copies, schedules,
//! retention, permissions.

use super::*;
use caas_core::model::{BackupStatus, BackupTrigger, ServiceEventKind, ServiceStatus};
use caas_core::platform::{BackupRequest, NewVolume, RestoreRequest, ScheduleRequest};
use caas_core::ports::store::prelude::*;
use caas_core::{ProjectRef, ServiceRef};
use object_store::ObjectStore;
use sha2::Digest;

const FILES: &[(&str, &[u8])] = &[
    ("conf/app.toml", b"port = 8080\n"),
    ("data/a.bin", &[7u8; 5000]),
    ("empty", b""),
];

async fn backed_up(w: &World) -> (caas_core::model::Service, caas_core::model::Backup, String) {
    let svc = w.deploy("web", app_with("data", "/data", GIB)).await;
    let name = w.runtime_name("data").await;
    w.put_files(&name, FILES).await;
    let b = w
        .platform
        .backups()
        .create(&w.member, "acme", "data", BackupRequest::default())
        .await
        .unwrap();
    (svc, b, name)
}

#[tokio::test]
async fn backup_then_wipe_then_restore_gives_the_same_files_on_a_new_runtime_volume() {
    let w = world().await;
    let (svc, b, name) = backed_up(&w).await;
    assert_eq!(b.status, BackupStatus::Succeeded, "{:?}", b.error);
    assert_eq!(b.trigger, BackupTrigger::Manual);
    let stored = w
        .objects
        .get(&object_store::path::Path::from(b.location.clone().unwrap()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(b.size_bytes, Some(stored.len() as u64));
    assert_eq!(
        b.sha256.as_deref(),
        Some(hex::encode(sha2::Sha256::digest(&stored)).as_str())
    );
    assert!(b.archive_bytes.unwrap() > 5000);
    assert_eq!(&stored[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd frame magic");
    let before = w.files(&name).await;

    // Wipe: overwrite every file with garbage and add one.
    w.put_files(
        &name,
        &[
            ("conf/app.toml", b"garbage"),
            ("data/a.bin", b""),
            ("new", b"x"),
        ],
    )
    .await;
    let out = w.restore(&b, RestoreRequest::same_volume()).await.unwrap();
    assert_eq!(out.archive.files, 3);
    assert_eq!(
        out.services.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
        ["web"]
    );
    assert_ne!(
        out.volume.runtime_name, name,
        "restored into a new runtime volume"
    );
    assert_eq!(w.files(&out.volume.runtime_name).await, before);
    assert!(
        w.runtime.inspect_volume_opt(&name).await.unwrap().is_none(),
        "old one removed"
    );
    let after = w
        .platform
        .services()
        .get(&w.admin, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap();
    assert_eq!(after.status, ServiceStatus::Running);
    assert_ne!(after.current_deployment, svc.current_deployment);
    let kinds = w.event_kinds(svc.id, 50).await;
    assert!(
        kinds.contains(&ServiceEventKind::VolumeRestored {
            volume: "data".into(),
            backup: b.id.to_string()
        }),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_restore_the_target_or_the_staging_disk_cannot_hold_is_refused_before_any_download() {
    const TIB: u64 = 1024 * GIB;
    let w = world_with(200 * TIB).await;
    let (_, b, name) = backed_up(&w).await;
    let before = w.files(&name).await;
    // The record says how much the archive holds: 5 GiB does not go into a 1 GiB volume.
    let mut big = b.clone();
    big.archive_bytes = Some(5 * GIB);
    w.store.update_backup(&big).await.unwrap();
    let err = w
        .restore(&b, RestoreRequest::same_volume())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, caas_core::Error::InvalidInput { field, reason }
            if field == "archive" && reason.contains("larger volume")),
        "{err:?}"
    );
    // 50 TiB would fit a 60 TiB volume, but not the staging directory's disk.
    big.archive_bytes = Some(50 * TIB);
    w.store.update_backup(&big).await.unwrap();
    let err = w
        .restore(
            &b,
            RestoreRequest::into_new(NewVolume::new("blog", "huge", 60 * TIB)),
        )
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("free") && message.contains("staging_dir"),
        "{message}"
    );
    // Nothing changed: the new volume is gone again, the old data is in place.
    assert!(
        w.platform
            .volumes()
            .get(&w.viewer, "acme", "huge")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(w.files(&name).await, before);
    assert_eq!(w.storage_used().await, GIB);
    // With the true size the same restore goes through.
    w.store.update_backup(&b).await.unwrap();
    w.restore(&b, RestoreRequest::same_volume()).await.unwrap();
}

#[tokio::test]
async fn restores_into_a_new_volume_and_of_a_deleted_volume_need_a_target() {
    let w = world().await;
    let (_, b, name) = backed_up(&w).await;
    let before = w.files(&name).await;
    let out = w
        .restore(
            &b,
            RestoreRequest::into_new(NewVolume::new("blog", "copy", GIB)),
        )
        .await
        .unwrap();
    assert_eq!(out.volume.name.as_str(), "copy");
    assert_eq!(w.files(&out.volume.runtime_name).await, before);
    assert_eq!(w.storage_used().await, 2 * GIB);

    w.platform
        .volumes()
        .delete(&w.admin, "acme", &out.volume.id.to_string(), false)
        .await
        .unwrap();
    w.platform
        .volumes()
        .delete(&w.admin, "acme", "data", true)
        .await
        .unwrap();
    // The backup outlives its volume.
    let all = w
        .platform
        .backups()
        .list_org(&w.viewer, "acme")
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    let err = w
        .restore(&b, RestoreRequest::same_volume())
        .await
        .unwrap_err();
    assert!(
        err.is_conflict() && err.to_string().contains("deleted"),
        "{err}"
    );
    w.restore(
        &b,
        RestoreRequest::into_new(NewVolume::new("shop", "data", GIB)),
    )
    .await
    .unwrap();
}

/// Hostile archives put into the backup store under a backup's key, with a matching digest
/// (as a compromised or hand-edited store would hold them).
fn hostile_archives() -> Vec<(&'static str, Vec<u8>)> {
    fn raw(kind: tar::EntryType, name: &str, link: Option<&str>, data: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            old.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
        b.into_inner().unwrap()
    }
    use tar::EntryType::*;
    vec![
        ("dot-dot", raw(Regular, "../../etc/cron.d/evil", None, b"x")),
        ("absolute", raw(Regular, "/etc/passwd", None, b"x")),
        ("symlink out", raw(Symlink, "out", Some("/"), b"")),
        (
            "relative symlink out",
            raw(Symlink, "out", Some("../../.."), b""),
        ),
        (
            "hardlink out",
            raw(Link, "h", Some("../../etc/shadow"), b""),
        ),
        ("device", raw(Char, "null", None, b"")),
        ("fifo", raw(Fifo, "pipe", None, b"")),
        (
            "over-size",
            raw(Regular, "big", None, &vec![0u8; 2 * 1024 * 1024]),
        ),
        ("not a tar", vec![b'A'; 4096]),
    ]
}

#[tokio::test]
async fn hostile_archives_are_refused_and_nothing_is_written() {
    let w = world().await;
    // A 1 MiB volume: more than 110 % of it is over-size.
    let svc = w.deploy("web", app_with("data", "/data", MB)).await;
    let name = w.runtime_name("data").await;
    w.put_files(&name, FILES).await;
    let before = w.files(&name).await;
    let b = w
        .platform
        .backups()
        .create(&w.member, "acme", "data", BackupRequest::default())
        .await
        .unwrap();
    let key = object_store::path::Path::from(b.location.clone().unwrap());
    let volumes_before = w
        .runtime
        .list_volumes(&Default::default())
        .await
        .unwrap()
        .len();
    for (what, tar) in hostile_archives() {
        let compressed = zstd::encode_all(tar.as_slice(), 3).unwrap();
        w.objects
            .put(&key, compressed.clone().into())
            .await
            .unwrap();
        let mut forged = w.store.backup(b.id).await.unwrap();
        forged.sha256 = Some(hex::encode(sha2::Sha256::digest(&compressed)));
        w.store.update_backup(&forged).await.unwrap();
        let err = w
            .restore(&b, RestoreRequest::same_volume())
            .await
            .unwrap_err();
        assert!(err.is_invalid_input(), "{what}: {err}");
        assert_eq!(err.field(), Some("archive"), "{what}: {err}");
        assert_eq!(w.files(&name).await, before, "{what}: the volume changed");
        assert_eq!(
            w.runtime
                .list_volumes(&Default::default())
                .await
                .unwrap()
                .len(),
            volumes_before,
            "{what}: a runtime volume was left behind"
        );
        assert_eq!(w.runtime_name("data").await, name, "{what}");
    }
    let after = w
        .platform
        .services()
        .get(&w.admin, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap();
    assert_eq!(
        after.current_deployment, svc.current_deployment,
        "never recreated"
    );
}

#[tokio::test]
async fn a_damaged_archive_is_refused_by_its_digest() {
    let w = world().await;
    let (_, b, name) = backed_up(&w).await;
    let before = w.files(&name).await;
    let key = object_store::path::Path::from(b.location.clone().unwrap());
    let mut stored = w
        .objects
        .get(&key)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let last = stored.len() - 1;
    stored[last] ^= 0xff;
    w.objects.put(&key, stored.into()).await.unwrap();
    let err = w
        .restore(&b, RestoreRequest::same_volume())
        .await
        .unwrap_err();
    assert!(
        (err.is_conflict() && err.to_string().contains("SHA-256"))
            || (err.is_invalid_input() && err.field() == Some("archive")),
        "{err}"
    );
    assert_eq!(w.files(&name).await, before);
}

#[tokio::test]
async fn a_consistent_backup_stops_and_starts_the_services_that_mount_the_volume() {
    let w = world().await;
    let svc = w.deploy("web", app_with("data", "/data", GIB)).await;
    let b = w
        .platform
        .backups()
        .create(&w.member, "acme", "data", BackupRequest::consistent(true))
        .await
        .unwrap();
    assert_eq!(b.status, BackupStatus::Succeeded);
    assert!(b.consistent);
    let events: Vec<(ServiceEventKind, String)> = w
        .store
        .list_events(svc.id, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.message))
        .collect();
    assert_eq!(events[0].0, ServiceEventKind::Started, "{events:?}");
    assert_eq!(events[1].0, ServiceEventKind::Stopped, "{events:?}");
    let after = w
        .platform
        .services()
        .get(&w.admin, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap();
    assert_eq!(after.status, ServiceStatus::Running);
}

#[tokio::test]
async fn a_failed_copy_is_recorded_with_its_reason_and_leaves_no_object() {
    let w = world().await;
    w.deploy("web", app_with("data", "/data", GIB)).await;
    w.runtime.fail_next(
        caas_core::memory::RuntimeOp::ReadArchive,
        caas_core::memory::Fault::Unavailable,
    );
    let b = w
        .platform
        .backups()
        .create(&w.member, "acme", "data", BackupRequest::default())
        .await
        .unwrap();
    assert_eq!(b.status, BackupStatus::Failed);
    assert!(
        b.error.as_deref().unwrap().contains("unavailable"),
        "{:?}",
        b.error
    );
    assert!(b.location.is_none());
    let listed: Vec<_> = w.objects.list(None).collect().await;
    assert!(listed.is_empty(), "{listed:?}");
    let err = w
        .restore(&b, RestoreRequest::same_volume())
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
}

#[tokio::test]
async fn schedules_take_one_backup_per_due_slot_and_retention_keeps_the_newest() {
    let w = world().await;
    w.deploy("web", app_with("data", "/data", GIB)).await;
    for bad in ["* * *", "0 25 * * *"] {
        let err = w
            .platform
            .backups()
            .set_schedule(&w.member, "acme", "data", Some(ScheduleRequest::new(bad)))
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("cron"), "{err}");
    }
    let err = w
        .platform
        .backups()
        .set_schedule(
            &w.member,
            "acme",
            "data",
            Some(ScheduleRequest::new("0 * * * *").keep_last(0)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("keep_last"));
    // A manual backup is never touched by retention.
    let manual = w
        .platform
        .backups()
        .create(&w.member, "acme", "data", BackupRequest::default())
        .await
        .unwrap();
    w.platform
        .backups()
        .set_schedule(
            &w.member,
            "acme",
            "data",
            Some(ScheduleRequest::new("0 * * * *").keep_last(2)),
        )
        .await
        .unwrap();
    assert!(
        w.platform
            .backups()
            .run_due()
            .await
            .unwrap()
            .taken
            .is_empty(),
        "not due yet"
    );
    let mut taken = Vec::new();
    for hour in 0..4 {
        w.clock.advance(chrono::Duration::hours(1));
        let r = w.platform.backups().run_due().await.unwrap();
        assert!(r.errors.is_empty(), "{r:?}");
        assert_eq!(r.taken.len(), 1, "hour {hour}: one backup per due slot");
        taken.push(r.taken[0].id);
        // Same slot again: nothing.
        assert!(
            w.platform
                .backups()
                .run_due()
                .await
                .unwrap()
                .taken
                .is_empty()
        );
        if hour >= 2 {
            assert_eq!(r.removed, vec![taken[hour - 2]], "hour {hour}");
        }
    }
    let left: Vec<_> = w
        .platform
        .backups()
        .list(&w.viewer, "acme", "data")
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(left, vec![taken[3], taken[2], manual.id]);
    // Their objects went with them.
    let objects: Vec<_> = w.objects.list(None).try_collect().await.unwrap();
    assert_eq!(objects.len(), 3);

    // After a long pause, one catch-up run, not one per missed hour.
    w.clock.advance(chrono::Duration::hours(10));
    assert_eq!(w.platform.backups().run_due().await.unwrap().taken.len(), 1);
    assert!(
        w.platform
            .backups()
            .run_due()
            .await
            .unwrap()
            .taken
            .is_empty()
    );

    w.platform
        .backups()
        .set_schedule(&w.member, "acme", "data", None)
        .await
        .unwrap();
    w.clock.advance(chrono::Duration::hours(2));
    assert!(
        w.platform
            .backups()
            .run_due()
            .await
            .unwrap()
            .taken
            .is_empty()
    );
}

#[tokio::test]
async fn only_admins_restore_and_strangers_see_nothing() {
    let w = world().await;
    let (_, b, _) = backed_up(&w).await;
    let id = b.id.to_string();
    let err = w
        .platform
        .backups()
        .create(&w.viewer, "acme", "data", BackupRequest::default())
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    let err = w
        .platform
        .backups()
        .restore(&w.member, "acme", &id, RestoreRequest::same_volume())
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    let stranger = Principal::user(caas_core::UserId::new());
    for err in [
        w.platform
            .backups()
            .restore(&stranger, "acme", &id, RestoreRequest::same_volume())
            .await
            .unwrap_err(),
        w.platform
            .backups()
            .delete(&stranger, "acme", &id)
            .await
            .unwrap_err(),
        w.platform
            .backups()
            .delete(&w.admin, "acme", &caas_core::BackupId::new().to_string())
            .await
            .unwrap_err(),
    ] {
        assert!(err.is_not_found(), "{err}");
    }
    assert_eq!(
        w.platform
            .backups()
            .list(&w.viewer, "acme", "data")
            .await
            .unwrap()
            .len(),
        1
    );
    w.platform
        .backups()
        .delete(&w.member, "acme", &id)
        .await
        .unwrap();
    assert!(
        w.platform
            .backups()
            .list(&w.viewer, "acme", "data")
            .await
            .unwrap()
            .is_empty()
    );
    let objects: Vec<_> = w.objects.list(None).collect().await;
    assert!(objects.is_empty());
}

#[tokio::test]
async fn an_interrupted_consistent_backup_is_failed_and_its_service_started_by_the_reconciler() {
    use caas_core::ports::runtime::ContainerStatus;
    let w = world().await;
    let svc = w.deploy("web", app_with("data", "/data", GIB)).await;
    // The process crashes in the middle of the copy: its backup never finishes.
    let _crashed = w
        .backup_in_copy(BackupRequest::consistent(true), Duration::from_secs(3600))
        .await;
    let running = w
        .platform
        .backups()
        .list(&w.viewer, "acme", "data")
        .await
        .unwrap();
    assert_eq!(running[0].status, BackupStatus::Running);
    let container = w.container_of(svc.id).await;
    assert_eq!(
        container.status,
        ContainerStatus::Exited,
        "stopped for the copy"
    );
    // A running backup cannot be deleted.
    let err = w
        .platform
        .backups()
        .delete(&w.member, "acme", &running[0].id.to_string())
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");

    // The process in which it runs leaves it alone; the restarted one repairs it.
    w.clock.advance(chrono::Duration::minutes(11));
    assert!(
        w.platform
            .reconcile()
            .await
            .unwrap()
            .failed_backups
            .is_empty()
    );
    let restarted = w.restarted();
    let report = restarted.reconcile().await.unwrap();
    assert_eq!(report.failed_backups, vec![running[0].id], "{report:?}");
    let b = w.store.backup(running[0].id).await.unwrap();
    assert_eq!(b.status, BackupStatus::Failed);
    assert!(b.error.unwrap().contains("interrupted"));
    let info = w
        .runtime
        .inspect_container_opt(&container.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.status, ContainerStatus::Running, "started again");
    assert!(restarted.reconcile().await.unwrap().is_clean());
}

#[tokio::test]
async fn without_a_destination_backups_are_unsupported_but_strangers_still_get_not_found() {
    let store = Arc::new(InMemoryStore::new());
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let platform = Platform::builder()
        .store(store)
        .runtime(Arc::new(runtime))
        .build()
        .unwrap();
    let t = caas_testkit::platform::seed_tenant(
        &platform,
        PlanLimits {
            cpu_millis: 1000,
            memory_bytes: GIB,
            storage_bytes: GIB,
            max_containers: 2,
            max_projects: 1,
            max_domains: 20,
            max_pids: 1024,
            backup_storage_bytes: 10 * 1024 * 1024 * 1024,
        },
        "p",
    )
    .await;
    platform
        .volumes()
        .create(&t.admin, &t.org, NewVolume::new("p", "data", MB))
        .await
        .unwrap();
    let err = platform
        .backups()
        .create(&t.admin, &t.org, "data", BackupRequest::default())
        .await
        .unwrap_err();
    assert!(err.is_unsupported(), "{err}");
    let stranger = Principal::user(caas_core::UserId::new());
    let err = platform
        .backups()
        .create(&stranger, &t.org, "data", BackupRequest::default())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    // Removing a schedule needs no destination.
    platform
        .backups()
        .set_schedule(&t.admin, &t.org, "data", None)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_interrupted_paused_backup_is_failed_and_its_service_thawed_by_the_reconciler() {
    use caas_core::ports::runtime::ContainerStatus;
    let w = world().await;
    let svc = w.deploy("web", app_with("data", "/data", GIB)).await;
    let _crashed = w
        .backup_in_copy(BackupRequest::paused(), Duration::from_secs(3600))
        .await;
    let container = w.container_of(svc.id).await;
    assert_eq!(
        container.status,
        ContainerStatus::Paused,
        "frozen for the copy"
    );
    let running = w
        .platform
        .backups()
        .list(&w.viewer, "acme", "data")
        .await
        .unwrap();
    assert!(running[0].consistent && running[0].paused);
    let events = w.event_kinds(svc.id, 10).await;
    assert_eq!(events[0], ServiceEventKind::Paused, "{events:?}");

    w.clock.advance(chrono::Duration::minutes(11));
    let restarted = w.restarted();
    let report = restarted.reconcile().await.unwrap();
    assert_eq!(report.failed_backups, vec![running[0].id], "{report:?}");
    let info = w
        .runtime
        .inspect_container_opt(&container.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.status, ContainerStatus::Running, "thawed");
    assert!(restarted.reconcile().await.unwrap().is_clean());
}

#[tokio::test]
async fn a_caller_that_goes_away_does_not_stop_a_paused_copy_half_way() {
    use caas_core::ports::runtime::ContainerStatus;
    let w = world().await;
    let svc = w.deploy("web", app_with("data", "/data", GIB)).await;
    let caller = w
        .backup_in_copy(BackupRequest::paused(), Duration::from_millis(400))
        .await;
    // The HTTP connection closes: the handler's future is dropped.
    caller.abort();
    let _ = caller.await;
    let frozen = w.container_of(svc.id).await;
    assert_eq!(
        frozen.status,
        ContainerStatus::Paused,
        "the copy is under way"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let b = loop {
        let b = w
            .platform
            .backups()
            .list(&w.viewer, "acme", "data")
            .await
            .unwrap()
            .remove(0);
        if b.status != BackupStatus::Running || std::time::Instant::now() > deadline {
            break b;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(b.status, BackupStatus::Succeeded, "{:?}", b.error);
    let thawed = w.container_of(svc.id).await;
    assert_eq!(thawed.status, ContainerStatus::Running);
    let audit = w
        .platform
        .admin()
        .audit_log(&w.admin, &caas_core::ports::store::AuditFilter::default())
        .await
        .unwrap();
    assert!(
        audit.iter().any(|e| e.action == "backup.create"),
        "the backup is in the audit log"
    );
}

#[tokio::test]
async fn a_backup_started_in_the_background_answers_running_and_is_waited_for_at_shutdown() {
    let w = world().await;
    let svc = w.deploy("web", app_with("data", "/data", GIB)).await;
    w.runtime.set_latency(
        caas_core::memory::RuntimeOp::ReadArchive,
        Duration::from_millis(1500),
    );
    let running = w
        .platform
        .backups()
        .start(&w.member, "acme", "data", BackupRequest::consistent(true))
        .await
        .unwrap();
    assert_eq!(running.status, BackupStatus::Running);
    assert!(running.consistent);
    let id = running.id.to_string();
    // The answer came before the copy was over: the record still says so. It is there for
    // everyone who may see the volume, and the volume is busy.
    let seen = w
        .platform
        .backups()
        .get(&w.viewer, "acme", &id)
        .await
        .unwrap();
    assert_eq!(
        seen.status,
        BackupStatus::Running,
        "answered before the copy"
    );
    let again = w
        .platform
        .backups()
        .start(&w.member, "acme", "data", BackupRequest::default())
        .await;
    assert!(matches!(&again, Err(e) if e.is_conflict()), "{again:?}");
    assert!(
        !w.platform
            .backups()
            .wait_for_copies(Duration::from_millis(50))
            .await,
        "the copy is still going"
    );
    assert!(
        w.platform
            .backups()
            .wait_for_copies(Duration::from_secs(10))
            .await
    );
    let done = w
        .platform
        .backups()
        .get(&w.viewer, "acme", &id)
        .await
        .unwrap();
    assert_eq!(done.status, BackupStatus::Succeeded, "{:?}", done.error);
    assert!(done.sha256.is_some() && done.finished_at.is_some());
    let after = w.store.service(svc.id).await.unwrap();
    assert_eq!(
        after.status,
        ServiceStatus::Running,
        "started again after the copy"
    );
    let audit = w
        .platform
        .admin()
        .audit_log(&w.admin, &caas_core::ports::store::AuditFilter::default())
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "backup.create" && e.target == format!("backup:{id}"))
    );
    // Later copies are tracked too: the wait above did not stop the tracking.
    w.runtime.clear_faults();
    w.runtime.set_latency(
        caas_core::memory::RuntimeOp::ReadArchive,
        Duration::from_millis(300),
    );
    let next = w
        .platform
        .backups()
        .start(&w.member, "acme", "data", BackupRequest::default())
        .await
        .unwrap();
    assert!(
        !w.platform
            .backups()
            .wait_for_copies(Duration::from_millis(20))
            .await
    );
    assert!(
        w.platform
            .backups()
            .wait_for_copies(Duration::from_secs(10))
            .await
    );
    let next = w
        .platform
        .backups()
        .get(&w.viewer, "acme", &next.id.to_string())
        .await
        .unwrap();
    assert_eq!(next.status, BackupStatus::Succeeded);
    w.runtime.clear_faults();

    // Refusals that come before the record are errors, as for a backup waited for.
    let not_a_database = w
        .platform
        .backups()
        .start(&w.member, "acme", "data", BackupRequest::logical())
        .await;
    assert!(
        matches!(&not_a_database, Err(caas_core::Error::InvalidInput { field, .. }) if field == "logical"),
        "{not_a_database:?}"
    );
    let viewer = w
        .platform
        .backups()
        .start(&w.viewer, "acme", "data", BackupRequest::default())
        .await;
    assert!(
        matches!(&viewer, Err(e) if e.is_permission_denied()),
        "{viewer:?}"
    );
    let listed = w
        .platform
        .backups()
        .list(&w.viewer, "acme", "data")
        .await
        .unwrap();
    assert_eq!(listed.len(), 2, "no record for the refused ones");
    // No such backup.
    let missing = w
        .platform
        .backups()
        .get(&w.viewer, "acme", &uuid::Uuid::new_v4().to_string())
        .await;
    assert!(
        matches!(missing, Err(ref e) if e.is_not_found()),
        "{missing:?}"
    );
}

#[tokio::test]
async fn a_background_backup_answers_at_once_even_while_every_copy_permit_is_taken() {
    let w = world().await;
    for name in ["a", "b", "c"] {
        w.platform
            .volumes()
            .create(&w.member, "acme", NewVolume::new("shop", name, GIB))
            .await
            .unwrap();
    }
    w.runtime.set_latency(
        caas_core::memory::RuntimeOp::ReadArchive,
        Duration::from_millis(1500),
    );
    // The platform runs two copies at once (the default); both are taken.
    for name in ["a", "b"] {
        w.platform
            .backups()
            .start(&w.member, "acme", name, BackupRequest::default())
            .await
            .unwrap();
    }
    let third = w
        .platform
        .backups()
        .start(&w.member, "acme", "c", BackupRequest::default())
        .await
        .unwrap();
    assert_eq!(third.status, BackupStatus::Running);
    // Had the third waited for a permit, one of the first two would be over by now.
    let all = w
        .platform
        .backups()
        .list_org(&w.viewer, "acme")
        .await
        .unwrap();
    assert!(
        all.iter().all(|b| b.status == BackupStatus::Running),
        "answered without waiting for a permit: {all:?}"
    );
    assert!(
        w.platform
            .backups()
            .wait_for_copies(Duration::from_secs(10))
            .await
    );
    w.runtime.clear_faults();
    let all = w
        .platform
        .backups()
        .list_org(&w.viewer, "acme")
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert!(
        all.iter().all(|b| b.status == BackupStatus::Succeeded),
        "{all:?}"
    );
}

#[tokio::test]
async fn a_paused_copy_on_a_runtime_that_cannot_pause_fails_and_leaves_the_service_running() {
    use caas_core::memory::{Fault, RuntimeOp};
    let w = world().await;
    let svc = w.deploy("web", app_with("data", "/data", GIB)).await;
    w.runtime.fail_next(
        RuntimeOp::PauseContainer,
        Fault::Backend("pausing is not possible here".into()),
    );
    let b = w
        .platform
        .backups()
        .create(&w.member, "acme", "data", BackupRequest::paused())
        .await
        .unwrap();
    assert_eq!(b.status, BackupStatus::Failed);
    assert!(b.error.unwrap().contains("could not pause"));
    let after = w.store.service(svc.id).await.unwrap();
    assert_eq!(after.status, ServiceStatus::Running);
}

/// The commands the simulated engine ran, with their input.
type ExecLog = Arc<std::sync::Mutex<Vec<(Vec<String>, Bytes)>>>;

/// A postgres database in project `shop` whose dumps and restores go through `on_exec`:
/// dumps are `dump`, restores record their input. Returns the service and the recorder.
async fn postgres_with_dumps(
    w: &World,
    dump: &'static str,
) -> (caas_core::platform::DeployedDatabase, ExecLog) {
    let db = w
        .platform
        .services()
        .deploy_database(
            &w.admin,
            &ProjectRef::new("acme", "shop"),
            caas_core::platform::DeployDatabase::new(
                "db",
                caas_core::model::DatabaseEngine::Postgres,
            ),
        )
        .await
        .unwrap();
    let calls: ExecLog = Arc::default();
    let seen = calls.clone();
    w.runtime.on_exec(move |call| {
        seen.lock()
            .unwrap()
            .push((call.command.clone(), call.stdin.clone()));
        if call.command[2].contains("pg_dump") {
            Ok(Bytes::from_static(dump.as_bytes()))
        } else {
            Ok(Bytes::new())
        }
    });
    (db, calls)
}

const PG_DUMP: &str =
    "SET x = 1;\nCREATE TABLE public.t (id int);\n--\n-- PostgreSQL database dump complete\n--\n\n";

#[tokio::test]
async fn a_logical_dump_goes_through_the_running_database_and_back() {
    let w = world().await;
    let (deployed, calls) = postgres_with_dumps(&w, PG_DUMP).await;
    let db = deployed.service.clone();
    let volume = db.spec.volumes[0].volume.to_string();
    let b = w
        .platform
        .backups()
        .create(&w.member, "acme", &volume, BackupRequest::logical())
        .await
        .unwrap();
    assert_eq!(b.status, BackupStatus::Succeeded, "{:?}", b.error);
    assert_eq!(b.format, caas_core::model::BackupFormat::PgDump);
    assert_eq!(b.archive_bytes, Some(PG_DUMP.len() as u64));
    assert!(b.location.as_deref().unwrap().ends_with(".sql.zst"));
    {
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 1);
        assert!(calls[0].0[2].contains("pg_dump"), "{:?}", calls[0].0);
        assert!(calls[0].1.is_empty(), "a dump gets no input");
    }
    // The service was neither stopped nor paused.
    let events = w.event_kinds(db.id, 10).await;
    assert!(
        !events.contains(&ServiceEventKind::Stopped) && !events.contains(&ServiceEventKind::Paused)
    );

    let out = w.restore(&b, RestoreRequest::same_volume()).await.unwrap();
    assert_eq!(out.services[0].as_str(), "db");
    assert_eq!(out.archive.bytes, PG_DUMP.len() as u64);
    {
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 2);
        assert!(calls[1].0[2].contains("psql"), "{:?}", calls[1].0);
        assert!(calls[1].0[2].contains("ON_ERROR_STOP=1"));
        assert_eq!(
            calls[1].1,
            Bytes::from(format!("BEGIN;\n{PG_DUMP}\nCOMMIT;\n")),
            "the dump, in one transaction"
        );
    }
    let events = w.event_kinds(db.id, 10).await;
    assert!(
        matches!(&events[0], ServiceEventKind::VolumeRestored { backup, .. } if *backup == b.id.to_string()),
        "{events:?}"
    );
    // The command lines carry no credentials: the container's environment has them.
    let password = &deployed.credentials.password;
    assert!(password.len() >= 16);
    for (cmd, _) in calls.lock().unwrap().iter() {
        assert!(
            cmd.iter().all(|a| !a.contains(password.as_str())),
            "{cmd:?}"
        );
        assert!(cmd[2].contains("\"$POSTGRES_PASSWORD\""), "{cmd:?}");
    }
}

#[tokio::test]
async fn a_cut_dump_is_a_failed_backup_and_leaves_no_object() {
    let w = world().await;
    let (db, _) = postgres_with_dumps(&w, "SET x = 1;\nCREATE TABLE public.t (id").await;
    let db = db.service;
    let volume = db.spec.volumes[0].volume.to_string();
    let b = w
        .platform
        .backups()
        .create(&w.member, "acme", &volume, BackupRequest::logical())
        .await
        .unwrap();
    assert_eq!(b.status, BackupStatus::Failed);
    assert!(b.error.unwrap().contains("incomplete"));
    let objects: Vec<_> = w.objects.list(None).collect().await;
    assert!(objects.is_empty());
}

#[tokio::test]
async fn logical_dumps_need_a_database_volume_and_restore_only_through_a_running_one_of_their_engine()
 {
    let w = world().await;
    let (db, _) = postgres_with_dumps(&w, PG_DUMP).await;
    let db = db.service;
    w.deploy("web", app_with("data", "/data", GIB)).await;
    let pg_volume = db.spec.volumes[0].volume.to_string();
    // Not the data volume of a database.
    let e = w
        .platform
        .backups()
        .create(&w.member, "acme", "data", BackupRequest::logical())
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("logical"), "{e}");
    let e = w
        .platform
        .backups()
        .set_schedule(
            &w.member,
            "acme",
            "data",
            Some(
                ScheduleRequest::new("0 3 * * *")
                    .keep_last(3)
                    .taken_as(BackupRequest::logical()),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("logical"), "{e}");
    let b = w
        .platform
        .backups()
        .create(&w.member, "acme", &pg_volume, BackupRequest::logical())
        .await
        .unwrap();
    // Into another engine's database, into a plain volume, into a new volume: refused.
    let maria = w
        .platform
        .services()
        .deploy_database(
            &w.admin,
            &ProjectRef::new("acme", "shop"),
            caas_core::platform::DeployDatabase::new(
                "maria",
                caas_core::model::DatabaseEngine::Mariadb,
            ),
        )
        .await
        .unwrap();
    let maria_volume = maria.service.spec.volumes[0].volume.to_string();
    for (target, field) in [(maria_volume.as_str(), "volume"), ("data", "volume")] {
        let e = w
            .restore(&b, RestoreRequest::into_volume(target))
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some(field), "{target}: {e}");
    }
    let e = w
        .restore(
            &b,
            RestoreRequest::into_new(NewVolume::new("shop", "copy", GIB)),
        )
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("new_volume"), "{e}");
    assert!(
        w.platform
            .volumes()
            .get(&w.admin, "acme", "copy")
            .await
            .is_err(),
        "nothing was created"
    );
    // A stopped database: a manual dump is refused, a scheduled one is a failed record
    // (taken once, not again at every pass).
    w.platform
        .services()
        .stop(&w.admin, &ServiceRef::new("acme", "shop", "db"))
        .await
        .unwrap();
    let e = w
        .platform
        .backups()
        .create(&w.member, "acme", &pg_volume, BackupRequest::logical())
        .await
        .unwrap_err();
    assert!(e.is_conflict(), "{e}");
    w.platform
        .backups()
        .set_schedule(
            &w.member,
            "acme",
            &pg_volume,
            Some(
                ScheduleRequest::new("0 * * * *")
                    .keep_last(3)
                    .taken_as(BackupRequest::logical()),
            ),
        )
        .await
        .unwrap();
    w.clock.advance(chrono::Duration::hours(1));
    let report = w.platform.backups().run_due().await.unwrap();
    assert_eq!(report.taken.len(), 1, "{report:?}");
    assert_eq!(report.taken[0].status, BackupStatus::Failed);
    assert_eq!(
        report.taken[0].format,
        caas_core::model::BackupFormat::PgDump,
        "what was asked for"
    );
    assert!(
        report.taken[0]
            .error
            .as_deref()
            .unwrap()
            .contains("Stopped"),
        "{report:?}"
    );
    assert!(
        w.platform
            .backups()
            .run_due()
            .await
            .unwrap()
            .taken
            .is_empty()
    );
}
