//! Platform-level quota behaviours, run over any store (with the in-memory runtime): every
//! dimension is refused with the plan and the numbers, and concurrent deploys never exceed a
//! limit.
//!
//! ```text
//! mod platform_quota {
//!     use super::*;
//!     caas_testkit::platform_quota_suite!(fresh_store());
//! }
//! ```

use std::sync::Arc;

use caas_core::ProjectRef;
use caas_core::memory::InMemoryRuntime;
use caas_core::model::{
    NewOrganization, NewPlan, PlanLimits, ServiceSpec, SubscriptionStatus, VolumeMount,
};
use caas_core::platform::{DeployApp, NewProject};
use caas_core::units::{GIB, MIB};
use caas_core::validate::{ImageRef, Name};
use caas_core::{Platform, Principal, Store};

use crate::store::unique;

/// Expands into one `#[tokio::test]` per platform quota behaviour; `$make` yields
/// `Option<Arc<dyn Store>>`.
#[macro_export]
macro_rules! platform_quota_suite {
    ($make:expr) => {
        $crate::platform_quota_suite!(@tests $make;
            every_quota_dimension_is_refused_naming_plan_and_numbers,
            concurrent_deploys_never_exceed_the_container_limit,
        );
    };
    (@tests $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(store) = $make.await else { return; };
                $crate::platform::$name(store).await;
            }
        )+
    };
}

const IMAGE: &str = "caas/busybox:latest";

/// What a platform-level test usually starts from: an administrator, and an organization
/// subscribed to a fresh plan, with one project.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// A platform administrator.
    pub admin: Principal,
    /// The organization's slug.
    pub org: String,
    /// The project's name.
    pub project: String,
}

/// Creates an administrator, a plan with `limits`, an organization subscribed to it (unique
/// names, so tests can share a store or an engine) and a project called `project`.
pub async fn seed_tenant(platform: &Platform, limits: PlanLimits, project: &str) -> Tenant {
    let (admin, org) = subscribed_org(platform, limits).await;
    platform
        .projects()
        .create(&admin, &org, NewProject::new(project))
        .await
        .expect("project");
    Tenant {
        admin,
        org,
        project: project.to_string(),
    }
}

/// An administrator and an organization subscribed to a fresh plan with `limits`.
async fn subscribed_org(platform: &Platform, limits: PlanLimits) -> (Principal, String) {
    let admin = platform
        .users()
        .ensure_platform_admin(&format!("{}@example.com", unique("admin")))
        .await
        .expect("admin");
    let admin = platform.principal_for(admin.id).await.expect("principal");
    let plan = unique("plan");
    platform
        .plans()
        .create(&admin, NewPlan::new(plan.clone(), limits))
        .await
        .expect("plan");
    let org = unique("org");
    platform
        .orgs()
        .create(&admin, NewOrganization::new(org.clone()), None)
        .await
        .expect("org");
    platform
        .orgs()
        .set_subscription(&admin, &org, &plan, SubscriptionStatus::Active)
        .await
        .expect("subscription");
    (admin, org)
}

/// A platform over `store` with an in-memory engine, an admin, and an organization subscribed
/// to a plan with `limits`; returns the platform, the admin and the organization slug.
pub async fn platform_with_plan(
    store: Arc<dyn Store>,
    limits: PlanLimits,
) -> (Platform, Principal, String) {
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let platform = Platform::builder()
        .store(store)
        .runtime(Arc::new(runtime))
        .build()
        .expect("platform");
    let (admin, org) = subscribed_org(&platform, limits).await;
    (platform, admin, org)
}

/// Generous limits for tests that are not about quota: 4 CPUs, 4 GiB, 10 GiB, 10 containers,
/// 3 projects.
pub fn test_limits() -> PlanLimits {
    PlanLimits {
        cpu_millis: 4000,
        memory_bytes: 4 * GIB,
        storage_bytes: 10 * GIB,
        max_containers: 10,
        max_projects: 3,
        max_domains: 20,
        max_pids: 1024,
        backup_storage_bytes: 10 * 1024 * 1024 * 1024,
    }
}

fn roomy() -> PlanLimits {
    PlanLimits {
        cpu_millis: 10_000,
        memory_bytes: 10 * GIB,
        storage_bytes: 100 * GIB,
        max_containers: 100,
        max_projects: 10,
        max_domains: 20,
        max_pids: 1024,
        backup_storage_bytes: 10 * 1024 * 1024 * 1024,
    }
}

fn app(name: &str, cpu: u64, memory: u64, storage: u64) -> DeployApp {
    let mut spec = ServiceSpec::new(ImageRef::parse(IMAGE).expect("image"));
    spec.resources.cpu_millis = cpu;
    spec.resources.memory_bytes = memory;
    if storage > 0 {
        // A volume of its own: services mounting the same name share one volume.
        spec.volumes.push(VolumeMount {
            volume: Name::parse(format!("{name}-data")).expect("name"),
            target: "/data".into(),
            read_only: false,
            size_bytes: storage,
        });
    }
    DeployApp::new(name, spec)
}

/// Each of CPU, memory, storage, containers and projects is refused when exceeded, naming the
/// plan, the dimension and used / requested / limit, and nothing is created.
pub async fn every_quota_dimension_is_refused_naming_plan_and_numbers(store: Arc<dyn Store>) {
    let cases: [(&str, PlanLimits, u64, u64, u64, u64); 5] = [
        (
            "cpu_millis",
            PlanLimits {
                cpu_millis: 700,
                ..roomy()
            },
            500,
            500,
            700,
            0,
        ),
        (
            "memory_bytes",
            PlanLimits {
                memory_bytes: 300 * MIB,
                ..roomy()
            },
            256 * MIB,
            256 * MIB,
            300 * MIB,
            0,
        ),
        (
            "storage_bytes",
            PlanLimits {
                storage_bytes: 3 * GIB,
                ..roomy()
            },
            2 * GIB,
            2 * GIB,
            3 * GIB,
            2 * GIB,
        ),
        (
            "containers",
            PlanLimits {
                max_containers: 1,
                ..roomy()
            },
            1,
            1,
            1,
            0,
        ),
        (
            "projects",
            PlanLimits {
                max_projects: 1,
                ..roomy()
            },
            1,
            1,
            1,
            0,
        ),
    ];
    for (dimension, limits, used, requested, limit, storage) in cases {
        let (platform, admin, slug) = platform_with_plan(store.clone(), limits).await;
        platform
            .projects()
            .create(&admin, &slug, NewProject::new("p1"))
            .await
            .expect("first project");
        let err = if dimension == "projects" {
            platform
                .projects()
                .create(&admin, &slug, NewProject::new("p2"))
                .await
                .expect_err("second project over the limit")
        } else {
            platform
                .services()
                .deploy_app(
                    &admin,
                    &ProjectRef::new(&slug, "p1"),
                    app("one", 500, 256 * MIB, storage),
                )
                .await
                .expect("first deploy fits");
            platform
                .services()
                .deploy_app(
                    &admin,
                    &ProjectRef::new(&slug, "p1"),
                    app("two", 500, 256 * MIB, storage),
                )
                .await
                .expect_err("second deploy over the limit")
        };
        let q = err
            .quota()
            .unwrap_or_else(|| panic!("{dimension}: expected QuotaExceeded, got {err}"));
        assert_eq!(q.org, slug, "{dimension}");
        assert!(q.plan.starts_with("plan-"), "{dimension}: {}", q.plan);
        assert_eq!(q.dimensions.len(), 1, "{dimension}: {q:?}");
        let d = &q.dimensions[0];
        assert_eq!(d.dimension, dimension);
        assert_eq!(
            (d.used, d.requested, d.limit),
            (used, requested, limit),
            "{dimension}"
        );
        let msg = err.to_string();
        assert!(msg.contains(dimension) && msg.contains(&q.plan), "{msg}");
        if dimension != "projects" {
            let services = platform
                .services()
                .list(&admin, &ProjectRef::new(&slug, "p1"))
                .await
                .expect("list");
            assert_eq!(
                services.len(),
                1,
                "{dimension}: nothing created by the refusal"
            );
        }
    }
}

/// Twenty concurrent deploys against a plan allowing five containers: exactly five succeed,
/// the others are refused for containers, and usage ends at the limit.
pub async fn concurrent_deploys_never_exceed_the_container_limit(store: Arc<dyn Store>) {
    let (platform, admin, slug) = platform_with_plan(
        store,
        PlanLimits {
            max_containers: 5,
            ..roomy()
        },
    )
    .await;
    platform
        .projects()
        .create(&admin, &slug, NewProject::new("p"))
        .await
        .expect("project");
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (platform, admin, slug, barrier) = (
                platform.clone(),
                admin.clone(),
                slug.clone(),
                barrier.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                platform
                    .services()
                    .deploy_app(
                        &admin,
                        &ProjectRef::new(&slug, "p"),
                        app(&format!("s{i}"), 100, 64 * MIB, 0),
                    )
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => ok += 1,
            Err(e) => {
                let q = e.quota().unwrap_or_else(|| panic!("unexpected error {e}"));
                assert_eq!(q.dimensions[0].dimension, "containers");
            }
        }
    }
    assert_eq!(ok, 5);
    let usage = platform.orgs().usage(&admin, &slug).await.expect("usage");
    assert_eq!(usage.committed.containers, 5);
    assert!(usage.pending.is_zero(), "{usage:?}");
    assert_eq!(
        platform
            .services()
            .list(&admin, &ProjectRef::new(&slug, "p"))
            .await
            .expect("list")
            .len(),
        5
    );
}
