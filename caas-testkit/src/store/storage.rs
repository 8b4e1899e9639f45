//! Behaviours of volumes, backups and alerts.

use std::cmp::Reverse;
use std::sync::Arc;

use caas_core::model::{
    Alert, AlertState, Backup, BackupFormat, BackupSchedule, BackupStatus, BackupTrigger, Project,
    Volume, VolumeState, VolumeUsage,
};
use caas_core::units::GIB;
use caas_core::validate::Name;
use caas_core::{AlertId, BackupId, OrgId, ProjectId, ReservationId, ServiceId, Store, VolumeId};
use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, TryStreamExt};

use super::{
    assert_already_exists, assert_conflict, assert_not_found, now, seed_org, seed_project,
    seed_service,
};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A 10 GiB volume named `name` in `project`, never measured, without a schedule (not stored).
pub fn volume_of(project: &Project, name: &str) -> Volume {
    let id = VolumeId::new();
    Volume {
        id,
        org: project.org,
        project: project.id,
        name: Name::parse(name).expect("fixture volume name is valid"),
        size_bytes: 10 * GIB,
        runtime_name: format!("caas-vol-{}", id.short()),
        reservation: None,
        state: VolumeState::Ok,
        usage: None,
        backup_schedule: None,
        created_at: now(),
    }
}

/// Creates a volume named `name` in `project` (names only need to be unique in the project).
pub async fn seed_volume(store: &dyn Store, project: &Project, name: &str) -> Volume {
    let volume = volume_of(project, name);
    store.create_volume(&volume).await.expect("create_volume");
    volume
}

/// A nightly schedule keeping the newest `keep_last` backups, set at `since`.
pub fn schedule_of(keep_last: Option<u32>, since: DateTime<Utc>) -> BackupSchedule {
    BackupSchedule {
        cron: "30 2 * * *".to_string(),
        keep_last,
        max_age_days: Some(30),
        consistent: true,
        pause: true,
        logical: false,
        since,
    }
}

/// A running manual backup of `volume` started at `at` (not stored).
pub fn backup_of(volume: &Volume, at: DateTime<Utc>) -> Backup {
    Backup {
        id: BackupId::new(),
        org: volume.org,
        volume: volume.id,
        project: volume.project,
        volume_name: volume.name.clone(),
        status: BackupStatus::Running,
        trigger: BackupTrigger::Manual,
        consistent: false,
        paused: false,
        format: BackupFormat::Archive,
        archive_bytes: None,
        size_bytes: None,
        sha256: None,
        location: None,
        error: None,
        created_at: at,
        finished_at: None,
    }
}

/// Records a running backup of `volume` started at `at`.
pub async fn seed_backup(store: &dyn Store, volume: &Volume, at: DateTime<Utc>) -> Backup {
    let backup = backup_of(volume, at);
    store.create_backup(&backup).await.expect("create_backup");
    backup
}

/// A firing alert of `rule` about `subject` in `org` since `since` (not stored).
pub fn alert_of(org: OrgId, rule: &str, subject: &str, since: DateTime<Utc>) -> Alert {
    Alert {
        id: AlertId::new(),
        org,
        service: None,
        subject: subject.to_string(),
        rule: rule.to_string(),
        state: AlertState::Firing,
        message: format!("{rule} on {subject}"),
        since,
        resolved_at: None,
    }
}

/// `alert` resolved at `at`.
fn resolved(alert: &Alert, at: DateTime<Utc>) -> Alert {
    Alert {
        state: AlertState::Resolved,
        resolved_at: Some(at),
        ..alert.clone()
    }
}

/// Newest first, ties broken by the larger id: the order of every backup and alert list.
fn newest_first<T: Clone, K: Ord>(rows: &[T], key: impl Fn(&T) -> K) -> Vec<T> {
    let mut rows = rows.to_vec();
    rows.sort_by_key(|r| Reverse(key(r)));
    rows
}

// ---------------------------------------------------------------------------------------------
// Volumes
// ---------------------------------------------------------------------------------------------

/// Volumes read back exactly (usage and schedule included) by id and by name in their
/// project, and list per organization, per project and across organizations in creation
/// order.
pub async fn volumes_roundtrip_by_id_and_name_and_list_per_org_project_and_all(
    store: Arc<dyn Store>,
) {
    let org = seed_org(&*store, "vol").await;
    let web = seed_project(&*store, &org, "web").await;
    let db = seed_project(&*store, &org, "db").await;
    let other = seed_org(&*store, "vol-other").await;
    let other_project = seed_project(&*store, &other, "web").await;

    let mut data = volume_of(&web, "data");
    data.reservation = Some(ReservationId::new());
    data.state = VolumeState::Warning;
    data.usage = Some(VolumeUsage {
        bytes: 9 * GIB,
        at: now(),
    });
    data.backup_schedule = Some(schedule_of(Some(7), now()));
    store.create_volume(&data).await.expect("create_volume");
    let logs = seed_volume(&*store, &web, "logs").await;
    let db_data = seed_volume(&*store, &db, "data").await;
    let foreign = seed_volume(&*store, &other_project, "data").await;

    assert_eq!(store.volume(data.id).await.expect("volume"), data);
    assert_eq!(store.volume(logs.id).await.expect("volume"), logs);
    assert_eq!(
        store
            .volume_by_name_opt(web.id, "data")
            .await
            .expect("volume_by_name_opt"),
        Some(data.clone())
    );
    assert_eq!(
        store
            .volume_by_name_opt(db.id, "data")
            .await
            .expect("volume_by_name_opt"),
        Some(db_data.clone())
    );
    assert_eq!(
        store
            .volume_by_name_opt(web.id, "nope")
            .await
            .expect("volume_by_name_opt"),
        None
    );
    assert_eq!(
        store
            .list_volumes(org.id, None)
            .await
            .expect("list_volumes"),
        vec![data.clone(), logs.clone(), db_data.clone()]
    );
    assert_eq!(
        store
            .list_volumes(org.id, Some(web.id))
            .await
            .expect("list_volumes(web)"),
        vec![data.clone(), logs.clone()]
    );
    assert_eq!(
        store
            .list_volumes(org.id, Some(db.id))
            .await
            .expect("list_volumes(db)"),
        vec![db_data.clone()]
    );
    assert!(
        store
            .list_volumes(other.id, Some(web.id))
            .await
            .expect("list_volumes(another org's project)")
            .is_empty(),
        "the organization filters too"
    );
    let ours = [data.id, logs.id, db_data.id, foreign.id];
    let all: Vec<Volume> = store
        .list_all_volumes()
        .await
        .expect("list_all_volumes")
        .into_iter()
        .filter(|v| ours.contains(&v.id))
        .collect();
    assert_eq!(all, vec![data, logs, db_data, foreign]);
}

/// A volume name is taken once per project (by another id or the same one); another project
/// may use it, and deleting the volume frees it.
pub async fn volume_names_are_unique_per_project_not_globally(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "vol-names").await;
    let web = seed_project(&*store, &org, "web").await;
    let api = seed_project(&*store, &org, "api").await;
    let data = seed_volume(&*store, &web, "data").await;

    assert_already_exists(
        store.create_volume(&volume_of(&web, "data")).await,
        "same name in the same project",
    );
    let mut same_id = volume_of(&web, "other");
    same_id.id = data.id;
    assert_already_exists(store.create_volume(&same_id).await, "same id");
    assert_eq!(
        store
            .list_volumes(org.id, Some(web.id))
            .await
            .expect("list"),
        vec![data.clone()]
    );

    seed_volume(&*store, &api, "data").await;
    store.delete_volume(data.id).await.expect("delete_volume");
    seed_volume(&*store, &web, "data").await;
}

/// A volume needs an existing project of its own organization.
pub async fn create_volume_requires_a_project_of_the_same_org(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "vol-owner").await;
    let project = seed_project(&*store, &org, "web").await;
    let other = seed_org(&*store, "vol-stranger").await;
    let foreign = seed_project(&*store, &other, "web").await;

    let mut missing = volume_of(&project, "data");
    missing.project = ProjectId::new();
    assert_not_found(store.create_volume(&missing).await, "missing project");

    let mut cross = volume_of(&foreign, "data");
    cross.org = org.id;
    assert_not_found(
        store.create_volume(&cross).await,
        "project of another organization",
    );

    let mut orphan = volume_of(&project, "data");
    orphan.org = OrgId::new();
    assert_not_found(store.create_volume(&orphan).await, "missing organization");

    for v in [&missing, &cross, &orphan] {
        assert_not_found(store.volume(v.id).await, "volume(refused)");
    }
    assert!(
        store
            .list_volumes(org.id, None)
            .await
            .expect("list")
            .is_empty()
    );
}

/// `update_volume` replaces size, runtime name, reservation, state, usage and schedule, and
/// keeps id, organization, project, name and creation time.
pub async fn update_volume_replaces_mutable_fields_only(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "vol-upd").await;
    let project = seed_project(&*store, &org, "web").await;
    let other = seed_org(&*store, "vol-upd-other").await;
    let other_project = seed_project(&*store, &other, "api").await;
    let original = seed_volume(&*store, &project, "data").await;

    let changed = Volume {
        id: original.id,
        org: other.id,
        project: other_project.id,
        name: Name::parse("renamed").expect("valid name"),
        size_bytes: 1 << 62,
        runtime_name: format!("{}-restored", original.runtime_name),
        reservation: Some(ReservationId::new()),
        state: VolumeState::Full,
        usage: Some(VolumeUsage {
            bytes: 1 << 62,
            at: now() + Duration::seconds(5),
        }),
        backup_schedule: Some(schedule_of(None, now() + Duration::minutes(1))),
        created_at: original.created_at + Duration::hours(1),
    };
    store.update_volume(&changed).await.expect("update_volume");
    let expected = Volume {
        id: original.id,
        org: original.org,
        project: original.project,
        name: original.name.clone(),
        created_at: original.created_at,
        ..changed.clone()
    };
    assert_eq!(store.volume(original.id).await.expect("volume"), expected);
    assert_eq!(
        store
            .volume_by_name_opt(project.id, "data")
            .await
            .expect("by name"),
        Some(expected.clone())
    );
    assert!(
        store
            .list_volumes(other.id, None)
            .await
            .expect("list")
            .is_empty(),
        "the volume did not move"
    );

    // Every optional field back to none, and a schedule without retention rules.
    let mut cleared = expected.clone();
    cleared.reservation = None;
    cleared.state = VolumeState::Ok;
    cleared.usage = None;
    cleared.backup_schedule = Some(BackupSchedule {
        cron: "0 * * * *".into(),
        keep_last: None,
        max_age_days: None,
        consistent: false,
        pause: false,
        logical: true,
        since: now(),
    });
    store.update_volume(&cleared).await.expect("update_volume");
    assert_eq!(store.volume(original.id).await.expect("volume"), cleared);
    cleared.backup_schedule = None;
    store.update_volume(&cleared).await.expect("update_volume");
    assert_eq!(store.volume(original.id).await.expect("volume"), cleared);
}

/// A deleted volume is gone everywhere; deleting or updating it again is `NotFound`.
pub async fn deleted_volume_is_not_found(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "vol-del").await;
    let project = seed_project(&*store, &org, "web").await;
    let volume = seed_volume(&*store, &project, "data").await;
    let kept = seed_volume(&*store, &project, "logs").await;

    store.delete_volume(volume.id).await.expect("delete_volume");
    assert_not_found(store.volume(volume.id).await, "volume(deleted)");
    assert_not_found(store.delete_volume(volume.id).await, "delete_volume(again)");
    assert_not_found(store.update_volume(&volume).await, "update_volume(deleted)");
    assert_not_found(store.volume(volume.id).await, "volume(after update)");
    assert_eq!(
        store
            .volume_by_name_opt(project.id, "data")
            .await
            .expect("by name"),
        None
    );
    assert_eq!(
        store.list_volumes(org.id, None).await.expect("list"),
        vec![kept]
    );
}

/// Deleting a project without services deletes its volume records and keeps their backups;
/// a project with services keeps its volumes too.
pub async fn deleting_a_project_removes_its_volumes_but_keeps_backups(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "vol-proj").await;
    let doomed = seed_project(&*store, &org, "doomed").await;
    let busy = seed_project(&*store, &org, "busy").await;
    seed_service(&*store, &busy, "api").await;
    let data = seed_volume(&*store, &doomed, "data").await;
    let logs = seed_volume(&*store, &doomed, "logs").await;
    let busy_data = seed_volume(&*store, &busy, "data").await;
    let backup = seed_backup(&*store, &data, now()).await;

    assert_conflict(
        store.delete_project(busy.id).await,
        "delete_project(with services)",
    );
    assert_eq!(store.volume(busy_data.id).await.expect("volume"), busy_data);

    store
        .delete_project(doomed.id)
        .await
        .expect("delete_project");
    assert_not_found(store.volume(data.id).await, "volume(of a deleted project)");
    assert_not_found(store.volume(logs.id).await, "volume(of a deleted project)");
    assert_eq!(
        store
            .volume_by_name_opt(doomed.id, "data")
            .await
            .expect("by name"),
        None
    );
    assert_eq!(
        store.list_volumes(org.id, None).await.expect("list"),
        vec![busy_data]
    );
    assert_eq!(store.backup(backup.id).await.expect("backup"), backup);
    assert_eq!(
        store.list_backups(data.id).await.expect("list_backups"),
        vec![backup.clone()]
    );
    assert_eq!(
        store
            .list_org_backups(org.id)
            .await
            .expect("list_org_backups"),
        vec![backup]
    );
}

/// Deleting an organization deletes its volumes, backups (of live and deleted volumes) and
/// alerts, and nothing of another organization.
pub async fn deleting_an_org_removes_its_volumes_backups_and_alerts(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "vol-doomed").await;
    let project = seed_project(&*store, &org, "web").await;
    let volume = seed_volume(&*store, &project, "data").await;
    let gone = seed_volume(&*store, &project, "old").await;
    let backup = seed_backup(&*store, &volume, now()).await;
    let orphan = seed_backup(&*store, &gone, now()).await;
    store.delete_volume(gone.id).await.expect("delete_volume");
    let subject = format!("volume:{}", volume.id);
    let alert = alert_of(org.id, "volume_usage_warning", &subject, now());
    store.put_alert(&alert).await.expect("put_alert");

    let neighbour = seed_org(&*store, "vol-neighbour").await;
    let n_project = seed_project(&*store, &neighbour, "web").await;
    let n_volume = seed_volume(&*store, &n_project, "data").await;
    let n_backup = seed_backup(&*store, &n_volume, now()).await;
    let n_alert = alert_of(neighbour.id, "volume_usage_warning", &subject, now());
    store.put_alert(&n_alert).await.expect("put_alert");

    store.delete_org(org.id).await.expect("delete_org");

    assert_not_found(store.volume(volume.id).await, "volume(of a deleted org)");
    assert_not_found(store.backup(backup.id).await, "backup(of a deleted org)");
    assert_not_found(store.backup(orphan.id).await, "backup(of a deleted volume)");
    assert_not_found(store.alert(alert.id).await, "alert(of a deleted org)");
    assert!(
        store
            .list_volumes(org.id, None)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        store
            .list_org_backups(org.id)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        store
            .list_backups(volume.id)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        store
            .list_alerts(org.id, false, 100)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        store
            .firing_alert_opt(org.id, "volume_usage_warning", &subject)
            .await
            .expect("firing_alert_opt"),
        None
    );

    assert_eq!(store.volume(n_volume.id).await.expect("volume"), n_volume);
    assert_eq!(store.backup(n_backup.id).await.expect("backup"), n_backup);
    assert_eq!(store.alert(n_alert.id).await.expect("alert"), n_alert);
}

// ---------------------------------------------------------------------------------------------
// Backups
// ---------------------------------------------------------------------------------------------

/// Backups read back exactly and list per volume and per organization newest first (by
/// start time, then by id), whatever order they were recorded in.
pub async fn backups_roundtrip_and_list_per_volume_and_org_newest_first(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "bak").await;
    let project = seed_project(&*store, &org, "web").await;
    let data = seed_volume(&*store, &project, "data").await;
    let logs = seed_volume(&*store, &project, "logs").await;
    let other = seed_org(&*store, "bak-other").await;
    let other_volume =
        seed_volume(&*store, &seed_project(&*store, &other, "web").await, "data").await;
    let t0 = now();
    let at = |s: i64| t0 + Duration::seconds(s);

    let mut done = backup_of(&data, at(2));
    done.status = BackupStatus::Succeeded;
    done.trigger = BackupTrigger::Scheduled;
    done.consistent = true;
    done.paused = true;
    done.archive_bytes = Some(3 * GIB);
    done.size_bytes = Some(GIB);
    done.sha256 = Some("ab".repeat(32));
    done.location = Some(format!("org/{}/{}.tar.zst", org.id, done.id));
    done.finished_at = Some(at(3));
    store.create_backup(&done).await.expect("create_backup");
    let oldest = seed_backup(&*store, &data, at(0)).await;
    let of_logs = seed_backup(&*store, &logs, at(1)).await;
    let mut same_time = backup_of(&data, at(2));
    same_time.format = BackupFormat::PgDump;
    store
        .create_backup(&same_time)
        .await
        .expect("create_backup");
    let mut newest = backup_of(&logs, at(5));
    newest.format = BackupFormat::MysqlDump;
    store.create_backup(&newest).await.expect("create_backup");
    seed_backup(&*store, &other_volume, at(4)).await;

    assert_eq!(store.backup(done.id).await.expect("backup"), done);
    assert_eq!(store.backup(oldest.id).await.expect("backup"), oldest);
    assert_eq!(store.backup(same_time.id).await.expect("backup"), same_time);
    assert_eq!(store.backup(newest.id).await.expect("backup"), newest);
    let key = |b: &Backup| (b.created_at, b.id);
    let of_data = [done.clone(), oldest.clone(), same_time.clone()];
    assert_eq!(
        store.list_backups(data.id).await.expect("list_backups"),
        newest_first(&of_data, key)
    );
    assert_eq!(
        store.list_backups(logs.id).await.expect("list_backups"),
        vec![newest.clone(), of_logs.clone()]
    );
    let all = [done, oldest, of_logs, same_time, newest];
    assert_eq!(
        store
            .list_org_backups(org.id)
            .await
            .expect("list_org_backups"),
        newest_first(&all, key)
    );
}

/// `update_backup` replaces status, sizes, digest, location, error and finish time, and keeps
/// what was backed up, by what, when.
pub async fn update_backup_replaces_mutable_fields_only(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "bak-upd").await;
    let project = seed_project(&*store, &org, "web").await;
    let volume = seed_volume(&*store, &project, "data").await;
    let original = seed_backup(&*store, &volume, now()).await;
    let other = seed_org(&*store, "bak-upd-other").await;

    let changed = Backup {
        id: original.id,
        org: other.id,
        volume: VolumeId::new(),
        project: ProjectId::new(),
        volume_name: Name::parse("renamed").expect("valid name"),
        status: BackupStatus::Succeeded,
        trigger: BackupTrigger::Scheduled,
        consistent: true,
        paused: true,
        format: BackupFormat::PgDump,
        archive_bytes: Some(1 << 62),
        size_bytes: Some(i64::MAX as u64),
        sha256: Some("0f".repeat(32)),
        location: Some("backups/data.tar.zst".into()),
        error: None,
        created_at: original.created_at - Duration::hours(1),
        finished_at: Some(original.created_at + Duration::seconds(42)),
    };
    store.update_backup(&changed).await.expect("update_backup");
    let expected = Backup {
        org: original.org,
        volume: original.volume,
        project: original.project,
        volume_name: original.volume_name.clone(),
        trigger: original.trigger,
        consistent: original.consistent,
        paused: original.paused,
        format: original.format,
        created_at: original.created_at,
        ..changed
    };
    assert_eq!(store.backup(original.id).await.expect("backup"), expected);
    assert_eq!(
        store.list_backups(volume.id).await.expect("list_backups"),
        vec![expected.clone()]
    );

    let failed = Backup {
        status: BackupStatus::Failed,
        archive_bytes: None,
        size_bytes: None,
        sha256: None,
        location: None,
        error: Some("the runtime lost the volume".into()),
        ..expected
    };
    store.update_backup(&failed).await.expect("update_backup");
    assert_eq!(store.backup(original.id).await.expect("backup"), failed);
}

/// A deleted backup is gone; deleting or updating it again is `NotFound`; recording the same
/// id twice is `AlreadyExists`.
pub async fn delete_backup_then_not_found(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "bak-del").await;
    let project = seed_project(&*store, &org, "web").await;
    let volume = seed_volume(&*store, &project, "data").await;
    let backup = seed_backup(&*store, &volume, now()).await;
    let kept = seed_backup(&*store, &volume, now() + Duration::seconds(1)).await;
    assert_already_exists(store.create_backup(&backup).await, "same backup id");

    store.delete_backup(backup.id).await.expect("delete_backup");
    assert_not_found(store.backup(backup.id).await, "backup(deleted)");
    assert_not_found(store.delete_backup(backup.id).await, "delete_backup(again)");
    assert_not_found(store.update_backup(&backup).await, "update_backup(deleted)");
    assert_not_found(store.backup(backup.id).await, "backup(after update)");
    assert_eq!(
        store.list_backups(volume.id).await.expect("list_backups"),
        vec![kept.clone()]
    );
    assert_eq!(
        store
            .list_org_backups(org.id)
            .await
            .expect("list_org_backups"),
        vec![kept]
    );
}

/// Backups outlive their volume's record: still listed by the volume's id and the
/// organization, and a backup of a deleted volume can still be recorded.
pub async fn backups_outlive_their_volume(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "bak-outlive").await;
    let project = seed_project(&*store, &org, "web").await;
    let volume = seed_volume(&*store, &project, "data").await;
    let t0 = now();
    let backup = seed_backup(&*store, &volume, t0).await;

    store.delete_volume(volume.id).await.expect("delete_volume");
    assert_eq!(store.backup(backup.id).await.expect("backup"), backup);
    let late = seed_backup(&*store, &volume, t0 + Duration::seconds(1)).await;
    assert_eq!(
        store.list_backups(volume.id).await.expect("list_backups"),
        vec![late.clone(), backup.clone()]
    );
    assert_eq!(
        store
            .list_org_backups(org.id)
            .await
            .expect("list_org_backups"),
        vec![late, backup]
    );
}

// ---------------------------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------------------------

/// `put_alert` inserts, then replaces every field of the alert with the same id.
pub async fn put_alert_inserts_and_replaces_by_id(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "alert-put").await;
    let project = seed_project(&*store, &org, "web").await;
    let service = seed_service(&*store, &project, "api").await;
    let mut alert = alert_of(
        org.id,
        "service_restarting",
        &format!("service:{}", service.id),
        now(),
    );
    alert.service = Some(service.id);
    store.put_alert(&alert).await.expect("put_alert");
    assert_eq!(store.alert(alert.id).await.expect("alert"), alert);

    let mut replaced = resolved(&alert, now() + Duration::minutes(3));
    replaced.message = "restarted 5 times in 10 minutes".into();
    replaced.service = None;
    store
        .put_alert(&replaced)
        .await
        .expect("put_alert(replace)");
    assert_eq!(store.alert(alert.id).await.expect("alert"), replaced);
    assert_eq!(
        store.list_alerts(org.id, false, 100).await.expect("list"),
        vec![replaced]
    );
}

/// `firing_alert_opt` finds the firing alert of exactly that organization, rule and subject:
/// not a resolved one, not another rule's, subject's or organization's.
pub async fn firing_alert_opt_matches_org_rule_subject_and_firing_state(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "alert-firing").await;
    let other = seed_org(&*store, "alert-firing-other").await;
    let (rule, subject) = ("volume_usage_warning", "volume:one");
    let t0 = now();

    let old = resolved(
        &alert_of(org.id, rule, subject, t0),
        t0 + Duration::seconds(1),
    );
    let firing = alert_of(org.id, rule, subject, t0 + Duration::seconds(2));
    for a in [
        &old,
        &firing,
        &alert_of(org.id, rule, "volume:two", t0),
        &alert_of(org.id, "volume_full", subject, t0),
        &alert_of(other.id, rule, subject, t0),
    ] {
        store.put_alert(a).await.expect("put_alert");
    }

    let find = |org: OrgId, rule: &'static str, subject: &'static str| {
        let store = store.clone();
        async move {
            store
                .firing_alert_opt(org, rule, subject)
                .await
                .expect("firing_alert_opt")
        }
    };
    assert_eq!(find(org.id, rule, subject).await, Some(firing.clone()));
    assert_eq!(find(org.id, rule, "volume:three").await, None);
    assert_eq!(find(org.id, "service_down", subject).await, None);
    assert_eq!(find(OrgId::new(), rule, subject).await, None);

    store
        .put_alert(&resolved(&firing, t0 + Duration::seconds(9)))
        .await
        .expect("put_alert(resolve)");
    assert_eq!(find(org.id, rule, subject).await, None);
}

/// A second firing alert of a rule and subject is refused (`AlreadyExists`), whatever its id;
/// replacing the firing one by id is not, nor another subject's, and once it is resolved a new
/// one fires. Resolved ones of the same rule and subject pile up as history.
pub async fn only_one_alert_of_a_rule_and_subject_fires_at_a_time(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "alert-one-firing").await;
    let other = seed_org(&*store, "alert-one-firing-other").await;
    let (rule, subject) = ("volume_usage_warning", "volume:one");
    let t0 = now();
    let first = alert_of(org.id, rule, subject, t0);
    store.put_alert(&first).await.expect("put_alert");
    let second = alert_of(org.id, rule, subject, t0 + Duration::seconds(1));
    let refused = store.put_alert(&second).await;
    assert!(
        matches!(&refused, Err(e) if e.is_already_exists()),
        "a second firing alert: {refused:?}"
    );
    let mut reworded = first.clone();
    reworded.message = "94 % used".into();
    store
        .put_alert(&reworded)
        .await
        .expect("put_alert(replace the firing one)");
    for a in [
        alert_of(org.id, rule, "volume:two", t0),
        alert_of(org.id, "volume_full", subject, t0),
        alert_of(other.id, rule, subject, t0),
    ] {
        store.put_alert(&a).await.expect("put_alert(another key)");
    }
    store
        .put_alert(&resolved(&first, t0 + Duration::seconds(2)))
        .await
        .expect("put_alert(resolve)");
    store
        .put_alert(&second)
        .await
        .expect("put_alert(fires again after resolving)");
    store
        .put_alert(&resolved(&second, t0 + Duration::seconds(3)))
        .await
        .expect("put_alert(resolve again)");
    let third = alert_of(org.id, rule, subject, t0 + Duration::seconds(4));
    store.put_alert(&third).await.expect("put_alert(third)");
    assert_eq!(
        store
            .firing_alert_opt(org.id, rule, subject)
            .await
            .expect("firing"),
        Some(third)
    );
    let history = store.list_alerts(org.id, false, 100).await.expect("list");
    let of_key = history
        .iter()
        .filter(|a| a.rule == rule && a.subject == subject)
        .count();
    assert_eq!(of_key, 3, "{history:?}");
}

/// Eight raisers that each look for the firing alert and then put a new one, all at once:
/// exactly one put succeeds, the others are `AlreadyExists`, and one alert fires.
pub async fn concurrent_raisers_of_one_alert_leave_one_firing(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "alert-race").await;
    let (rule, subject) = ("service_down", "service:race");
    let start = Arc::new(tokio::sync::Barrier::new(8));
    let raisers: Vec<_> = (0..8)
        .map(|_| {
            let (store, start) = (store.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                if store
                    .firing_alert_opt(org.id, rule, subject)
                    .await
                    .expect("firing_alert_opt")
                    .is_some()
                {
                    return None;
                }
                Some(
                    store
                        .put_alert(&alert_of(org.id, rule, subject, now()))
                        .await,
                )
            })
        })
        .collect();
    let mut raised = 0;
    for r in raisers {
        match r.await.expect("raiser") {
            None => {}
            Some(Ok(())) => raised += 1,
            Some(Err(e)) => assert!(e.is_already_exists(), "{e:?}"),
        }
    }
    assert_eq!(raised, 1, "exactly one raiser raised it");
    let firing = store.list_alerts(org.id, true, 100).await.expect("list");
    assert_eq!(firing.len(), 1, "{firing:?}");
}

/// For the SQL stores' upgrade test: `store` is on the schema from before at most one alert
/// of a rule and subject could fire, so it takes duplicates; `upgrade` applies the remaining
/// migrations. Afterwards the oldest of the duplicates still fires, the newer one is resolved
/// as of its start, other subjects are untouched, and a new duplicate is refused.
pub async fn upgrading_resolves_duplicate_firing_alerts(
    store: &dyn Store,
    upgrade: impl std::future::Future<Output = ()>,
) {
    let org = seed_org(store, "upgrade").await;
    let (rule, subject) = ("volume_usage_warning", "volume:one");
    let t0 = now();
    let oldest = alert_of(org.id, rule, subject, t0);
    let newer = alert_of(org.id, rule, subject, t0 + Duration::seconds(5));
    let other = alert_of(org.id, rule, "volume:two", t0 + Duration::seconds(9));
    for a in [&newer, &oldest, &other] {
        store
            .put_alert(a)
            .await
            .expect("put_alert(before the upgrade)");
    }
    upgrade.await;
    let firing: Vec<_> = store
        .list_alerts(org.id, true, 10)
        .await
        .expect("list")
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(firing, vec![other.id, oldest.id]);
    let was_duplicate = store.alert(newer.id).await.expect("alert");
    assert_eq!(was_duplicate.state, AlertState::Resolved);
    assert_eq!(was_duplicate.resolved_at, Some(newer.since));
    let again = store.put_alert(&alert_of(org.id, rule, subject, t0)).await;
    assert!(
        matches!(&again, Err(e) if e.is_already_exists()),
        "{again:?}"
    );
}

/// Alerts list newest first (by start, then id), only firing ones when asked, at most `limit`.
pub async fn list_alerts_is_newest_first_filtered_and_limited(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "alert-list").await;
    let other = seed_org(&*store, "alert-list-other").await;
    let t0 = now();
    let at = |s: i64| t0 + Duration::seconds(s);
    let alerts = [
        alert_of(org.id, "a", "service:1", at(3)),
        resolved(&alert_of(org.id, "b", "service:1", at(0)), at(1)),
        alert_of(org.id, "c", "service:2", at(1)),
        resolved(&alert_of(org.id, "d", "service:3", at(4)), at(5)),
        alert_of(org.id, "e", "service:4", at(3)),
    ];
    for a in &alerts {
        store.put_alert(a).await.expect("put_alert");
    }
    store
        .put_alert(&alert_of(other.id, "a", "service:1", at(9)))
        .await
        .expect("put_alert(other org)");

    let all = newest_first(&alerts, |a| (a.since, a.id));
    let firing: Vec<Alert> = all
        .iter()
        .filter(|a| a.state == AlertState::Firing)
        .cloned()
        .collect();
    let list = |firing_only: bool, limit: u32| {
        let store = store.clone();
        async move {
            store
                .list_alerts(org.id, firing_only, limit)
                .await
                .expect("list_alerts")
        }
    };
    assert_eq!(list(false, 100).await, all);
    assert_eq!(list(true, 100).await, firing);
    assert_eq!(list(false, 2).await, all[..2].to_vec());
    assert_eq!(list(true, 1).await, firing[..1].to_vec());
    assert!(list(false, 0).await.is_empty());
}

/// `list_alerts` returns at most 1000 alerts, the newest, whatever limit is asked for.
pub async fn list_alerts_caps_the_limit_at_1000(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "alert-cap").await;
    let t0 = now();
    let alerts: Vec<Alert> = (0..1001)
        .map(|i| {
            alert_of(
                org.id,
                "r",
                &format!("service:{i}"),
                t0 + Duration::milliseconds(i),
            )
        })
        .collect();
    futures::stream::iter(alerts.iter().map(|a| store.put_alert(a)))
        .buffer_unordered(6)
        .try_collect::<Vec<()>>()
        .await
        .expect("put_alert");

    let newest: Vec<Alert> = newest_first(&alerts, |a| (a.since, a.id))
        .into_iter()
        .take(1000)
        .collect();
    assert_eq!(
        store
            .list_alerts(org.id, false, u32::MAX)
            .await
            .expect("list_alerts"),
        newest
    );
    assert_eq!(
        store
            .list_alerts(org.id, true, 1000)
            .await
            .expect("list_alerts")
            .len(),
        1000
    );
}

/// Look-ups, updates and deletes of volumes, backups and alerts that never existed are
/// `NotFound` and create nothing; `_opt` look-ups and lists return nothing.
pub async fn missing_volumes_backups_and_alerts_are_not_found(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "storage-ghosts").await;
    let project = seed_project(&*store, &org, "web").await;

    assert_not_found(store.volume(VolumeId::new()).await, "volume");
    assert_not_found(store.backup(BackupId::new()).await, "backup");
    assert_not_found(store.alert(AlertId::new()).await, "alert");
    assert_not_found(store.delete_volume(VolumeId::new()).await, "delete_volume");
    assert_not_found(store.delete_backup(BackupId::new()).await, "delete_backup");

    let volume = volume_of(&project, "data");
    assert_not_found(store.update_volume(&volume).await, "update_volume");
    assert_not_found(store.volume(volume.id).await, "volume(after update)");
    let backup = backup_of(&volume, now());
    assert_not_found(store.update_backup(&backup).await, "update_backup");
    assert_not_found(store.backup(backup.id).await, "backup(after update)");

    assert_eq!(
        store
            .volume_by_name_opt(ProjectId::new(), "data")
            .await
            .expect("volume_by_name_opt"),
        None
    );
    assert_eq!(
        store
            .firing_alert_opt(
                org.id,
                "service_down",
                &format!("service:{}", ServiceId::new())
            )
            .await
            .expect("firing_alert_opt"),
        None
    );
    assert!(
        store
            .list_volumes(org.id, None)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        store
            .list_backups(VolumeId::new())
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        store
            .list_org_backups(org.id)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        store
            .list_alerts(OrgId::new(), false, 10)
            .await
            .expect("list")
            .is_empty()
    );
}
