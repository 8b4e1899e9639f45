//! Limits a tenant cannot exceed with backups and processes: schedules at most every 15
//! minutes and always with a bounded retention, backups within the plan's
//! `backup_storage_bytes` (refused before they start, also when several race), and processes
//! per container within the plan's `max_pids`.

use super::*;
use caas_core::model::BackupStatus;
use caas_core::platform::{BackupRequest, ScheduleRequest, ServiceUpdate};
use caas_core::ports::store::prelude::*;
use caas_core::{ProjectRef, ServiceRef};

fn roomy() -> PlanLimits {
    PlanLimits {
        cpu_millis: 8000,
        memory_bytes: 8 * GIB,
        storage_bytes: 10 * GIB,
        max_containers: 20,
        max_projects: 3,
        ..PlanLimits::default()
    }
}

fn quota_dimension(e: &caas_core::Error) -> (String, u64, u64, u64) {
    let q = e
        .quota()
        .unwrap_or_else(|| panic!("not a quota refusal: {e}"));
    let d = &q.dimensions[0];
    (d.dimension.clone(), d.used, d.requested, d.limit)
}

#[tokio::test]
async fn a_schedule_needs_a_bounded_retention_and_runs_at_most_every_fifteen_minutes() {
    let w = world().await;
    w.deploy("web", app_with("data", "/data", GIB)).await;
    let set = |s: ScheduleRequest| {
        let (p, who) = (w.platform.clone(), w.member.clone());
        async move {
            p.backups()
                .set_schedule(&who, "acme", "data", Some(s))
                .await
        }
    };
    for (schedule, field) in [
        (ScheduleRequest::new("0 3 * * *"), "keep_last"),
        (ScheduleRequest::new("* * * * *").keep_last(3), "cron"),
        (ScheduleRequest::new("*/14 * * * *").keep_last(3), "cron"),
        (ScheduleRequest::new("0,5 3 * * *").max_age_days(3), "cron"),
        (
            ScheduleRequest::new("0 3 * * *").keep_last(1001),
            "keep_last",
        ),
        (
            ScheduleRequest::new("0 3 * * *").max_age_days(3651),
            "max_age_days",
        ),
    ] {
        let err = set(schedule.clone()).await.unwrap_err();
        assert_eq!(err.field(), Some(field), "{schedule:?}: {err}");
    }
    let v = w
        .store
        .list_volumes(
            w.store.org_by_slug_opt("acme").await.unwrap().unwrap().id,
            None,
        )
        .await
        .unwrap();
    assert!(
        v.iter().all(|v| v.backup_schedule.is_none()),
        "nothing was set"
    );
    set(ScheduleRequest::new("*/15 * * * *").keep_last(4))
        .await
        .unwrap();
    set(ScheduleRequest::new("0 3 * * *").max_age_days(30))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_schedule_floor_and_retention_maxima_are_the_platforms_to_set() {
    let store = Arc::new(InMemoryStore::new());
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let objects = Arc::new(object_store::memory::InMemory::new());
    let platform = Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(runtime))
        .backups(
            BackupConfig::new(objects)
                .min_schedule_interval(Duration::from_secs(3600))
                .max_retention(5, 7),
        )
        .build()
        .unwrap();
    let admin = platform
        .users()
        .ensure_platform_admin("root@example.com")
        .await
        .unwrap();
    let admin = platform.principal_for(admin.id).await.unwrap();
    let t = caas_testkit::platform::seed_tenant(
        &platform,
        caas_testkit::platform::test_limits(),
        "shop",
    )
    .await;
    let _ = admin;
    platform
        .volumes()
        .create(
            &t.admin,
            &t.org,
            caas_core::platform::NewVolume::new("shop", "data", GIB),
        )
        .await
        .unwrap();
    for (schedule, field) in [
        (ScheduleRequest::new("*/30 * * * *").keep_last(3), "cron"),
        (ScheduleRequest::new("0 * * * *").keep_last(6), "keep_last"),
        (
            ScheduleRequest::new("0 * * * *").max_age_days(8),
            "max_age_days",
        ),
    ] {
        let err = platform
            .backups()
            .set_schedule(&t.admin, &t.org, "data", Some(schedule.clone()))
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some(field), "{schedule:?}: {err}");
    }
    platform
        .backups()
        .set_schedule(
            &t.admin,
            &t.org,
            "data",
            Some(
                ScheduleRequest::new("0 * * * *")
                    .keep_last(5)
                    .max_age_days(7),
            ),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_backup_that_could_pass_the_plans_backup_storage_is_refused_before_it_starts() {
    let limits = PlanLimits {
        backup_storage_bytes: 3 * GIB / 2,
        ..roomy()
    };
    let w = world_with_limits(limits).await;
    w.deploy("web", app_with("data", "/data", GIB)).await;
    w.deploy("api", app_with("more", "/more", GIB)).await;
    // One backup of a 1 GiB volume fits: what it stores is small.
    let first = w
        .platform
        .backups()
        .create(&w.member, "acme", "data", BackupRequest::default())
        .await
        .unwrap();
    assert_eq!(first.status, BackupStatus::Succeeded);
    let stored = first.size_bytes.unwrap();
    // Two backups at once, each copy taking a while: each could store up to its volume's
    // size, so only one starts.
    w.runtime.set_latency(
        caas_core::memory::RuntimeOp::ReadArchive,
        Duration::from_millis(500),
    );
    let (a, b) = tokio::join!(
        w.platform
            .backups()
            .start(&w.member, "acme", "data", BackupRequest::default()),
        w.platform
            .backups()
            .start(&w.member, "acme", "more", BackupRequest::default()),
    );
    let outcomes = [a, b];
    let started: Vec<_> = outcomes.iter().filter(|r| r.is_ok()).collect();
    assert_eq!(started.len(), 1, "{outcomes:?}");
    let refused = outcomes
        .into_iter()
        .find(Result::is_err)
        .unwrap()
        .unwrap_err();
    let (dimension, used, requested, limit) = quota_dimension(&refused);
    assert_eq!(dimension, "backup_storage_bytes");
    assert_eq!((requested, limit), (GIB, 3 * GIB / 2));
    assert!(
        used >= GIB + stored,
        "the running one counts with its volume's size: {used}"
    );
    assert!(
        w.platform
            .backups()
            .wait_for_copies(Duration::from_secs(10))
            .await
    );
    // No record was made for the refused one.
    let org = w.store.org_by_slug_opt("acme").await.unwrap().unwrap();
    assert_eq!(w.store.list_org_backups(org.id).await.unwrap().len(), 2);
    // Finished, the two small backups leave room for another.
    w.platform
        .backups()
        .create(&w.member, "acme", "more", BackupRequest::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn processes_per_container_are_capped_by_the_plan() {
    let limits = PlanLimits {
        max_pids: 512,
        ..roomy()
    };
    let w = world_with_limits(limits).await;
    let mut spec = ServiceSpec::new(ImageRef::parse(IMAGE).unwrap());
    spec.resources.pids = 1_000_000;
    let err = w
        .platform
        .services()
        .deploy_app(
            &w.admin,
            &ProjectRef::new("acme", "shop"),
            DeployApp::new("fork", spec.clone()),
        )
        .await
        .unwrap_err();
    assert_eq!(
        quota_dimension(&err),
        ("pids".to_string(), 0, 1_000_000, 512)
    );
    let org = w.store.org_by_slug_opt("acme").await.unwrap().unwrap();
    assert!(
        w.store
            .list_services(org.id, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        w.runtime
            .list_containers(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );
    spec.resources.pids = 512;
    w.deploy("fork", spec).await;
    // An update past the ceiling is refused too; the running container keeps its limit.
    let mut update = ServiceUpdate::default();
    update.resources = Some(caas_core::model::ResourceLimits {
        pids: 513,
        ..Default::default()
    });
    let err = w
        .platform
        .services()
        .update(
            &w.admin,
            &ServiceRef::new("acme", "shop", "fork"),
            update,
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(quota_dimension(&err).0, "pids");
    let svc = w
        .platform
        .services()
        .get(&w.admin, &ServiceRef::new("acme", "shop", "fork"))
        .await
        .unwrap();
    assert_eq!(svc.spec.resources.pids, 512);
}
