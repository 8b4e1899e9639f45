//! The panel-schema example against the real PostgreSQL and the real Docker engine: a hosting
//! panel's own tables (`examples/panel/schema.sql`) are the directory and the plan source,
//! caas-rs's `PgStore` (in a schema of its own in the same database) keeps everything else.
//! A member of the panel's organization deploys; the panel's `container_plans` row bounds the
//! organization (50 concurrent deploys against `max_containers = 10` leave exactly 10, twenty
//! times; changing the row changes the limit at the next deploy; a suspended subscription
//! suspends the organization); and no caas-rs table holds a user, organization, member, plan
//! or subscription.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use caas_core::model::{OrgStatus, ServiceSpec, ServiceStatus};
use caas_core::platform::{DeleteOptions, DeployApp, NewProject};
use caas_core::ports::runtime::LabelSelector;
use caas_core::validate::ImageRef;
use caas_core::{ContainerRuntime, Error, Platform, Principal, UserId, labels};
use caas_core::{ProjectRef, ServiceRef};
use caas_docker::{DockerConnection, DockerRuntime};
use caas_examples::panel::PanelTenancy;
use caas_examples::panel::panel_side::{self, PanelPlan};
use caas_postgres::PgStore;
use caas_testkit::env;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// One test's world: the panel's schema and ours, a platform over both and the engine.
struct World {
    platform: Platform,
    runtime: Arc<DockerRuntime>,
    /// The panel's connection (its tables).
    panel: PgPool,
    /// caas-rs's connection (its tables).
    ours: PgPool,
    instance: String,
    image: String,
    org: String,
    plan: Uuid,
    subscription_org: Uuid,
    /// The panel's organization owner and a plain member, as caas-rs sees them.
    owner: Principal,
    member: Principal,
    member_email: String,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh schema named like the PostgreSQL suites' (`caas_t_<secs>_<id>`), so their sweep
/// removes it once stale, and a pool whose `search_path` is that schema alone.
async fn schema(admin: &PgConnectOptions, suffix: &str) -> PgPool {
    let name = format!("caas_t_{}_{}_{suffix}", unix_now(), env::run_id());
    let mut conn = PgConnection::connect_with(admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
    sqlx::query(&format!("CREATE SCHEMA {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(
            admin
                .clone()
                .options([("search_path", name.as_str())])
                .application_name(&name),
        )
        .await
        .unwrap()
}

async fn docker() -> Option<(DockerRuntime, String)> {
    let host = env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine")?;
    let image = env::require("CAAS_TEST_BUSYBOX_IMAGE", "the local busybox image")?;
    let path = host.strip_prefix("unix://").unwrap_or(&host).to_string();
    let rt = match DockerRuntime::builder()
        .connection(DockerConnection::Unix { path: path.into() })
        .helper_image(image.clone())
        .build()
        .await
    {
        Ok(rt) => rt,
        Err(e) => return env::unavailable("the Docker engine", e),
    };
    if let Err(e) = rt.ping().await {
        return env::unavailable("the Docker engine", e);
    }
    Some((rt, image))
}

async fn world(max_containers: i32) -> Option<World> {
    let url = env::require("CAAS_TEST_DATABASE_URL", "PostgreSQL")?;
    let (runtime, image) = docker().await?;
    let admin = PgConnectOptions::from_str(&url).expect("a PostgreSQL URL");

    // The panel: its tables, a plan, an organization with an owner and a member.
    let panel = schema(&admin, "panel").await;
    panel_side::create_schema(&panel).await.unwrap();
    let run = env::run_id();
    let owner = panel_side::add_user(
        &panel,
        &format!("owner-{run}@shop.example"),
        "Owner",
        "user",
    )
    .await
    .unwrap();
    let member_email = format!("dev-{run}@shop.example");
    let member = panel_side::add_user(&panel, &member_email, "Dev", "user")
        .await
        .unwrap();
    let slug = format!("shop-{run}");
    let org = panel_side::add_org(&panel, "Shop", &slug, owner)
        .await
        .unwrap();
    panel_side::add_member(&panel, org, member, "member")
        .await
        .unwrap();
    let plan = panel_side::add_plan(
        &panel,
        &PanelPlan {
            name: format!("Starter {run}"),
            max_cpu_cores: 2.5,
            max_memory_gb: 1.5,
            max_storage_gb: 10,
            max_containers,
            max_projects: 3,
        },
    )
    .await
    .unwrap();
    panel_side::subscribe(&panel, org, plan, "active")
        .await
        .unwrap();

    // caas-rs: its own tables in its own schema, the panel's tenancy read from the panel's.
    let ours = schema(&admin, "caas").await;
    let store = PgStore::from_pool(ours.clone());
    store.migrate().await.unwrap();
    let tenancy = Arc::new(PanelTenancy::new(panel.clone()));
    let runtime = Arc::new(runtime);
    let instance = format!("panel{run}");
    let platform = Platform::builder()
        .store(Arc::new(store))
        .directory(tenancy.clone())
        .plans(tenancy)
        .runtime(runtime.clone())
        .instance(instance.clone())
        .stop_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let owner = platform.principal_for(UserId(owner)).await.unwrap();
    let member = platform.principal_for(UserId(member)).await.unwrap();
    platform
        .projects()
        .create(&owner, &slug, NewProject::new("web"))
        .await
        .unwrap();
    Some(World {
        platform,
        runtime,
        panel,
        ours,
        instance,
        image,
        org: slug,
        plan,
        subscription_org: org,
        owner,
        member,
        member_email,
    })
}

impl World {
    fn app(&self, name: &str) -> DeployApp {
        let mut spec = ServiceSpec::new(ImageRef::parse(&self.image).unwrap());
        spec.command = Some(vec!["sleep".into(), "3600".into()]);
        spec.resources.cpu_millis = 100;
        spec.resources.memory_bytes = 32 * caas_core::units::MIB;
        DeployApp::new(name, spec)
    }

    async fn deploy(&self, name: &str) -> caas_core::Result<caas_core::model::Service> {
        self.platform
            .services()
            .deploy_app(
                &self.member,
                &ProjectRef::new(&self.org, "web"),
                self.app(name),
            )
            .await
    }

    async fn set_plan(&self, column: &str, value: i32) {
        sqlx::query(&format!(
            "UPDATE container_plans SET {column} = $2 WHERE id = $1"
        ))
        .bind(self.plan)
        .bind(value)
        .execute(&self.panel)
        .await
        .unwrap();
    }

    async fn containers(&self) -> usize {
        let mine = LabelSelector::managed().with(labels::INSTANCE, &self.instance);
        self.runtime.list_containers(&mine).await.unwrap().len()
    }

    /// Deletes every service, and checks nothing labelled is left on the engine.
    async fn clean_up(&self) {
        let services = self
            .platform
            .services()
            .list(&self.owner, &ProjectRef::new(&self.org, "web"))
            .await
            .unwrap();
        let deletes = services.iter().map(|s| async move {
            let service = ServiceRef::new(&self.org, "web", s.name.as_str());
            self.platform
                .services()
                .delete(&self.owner, &service, DeleteOptions::default())
                .await
        });
        for result in futures::future::join_all(deletes).await {
            result.unwrap();
        }
        assert_eq!(self.containers().await, 0, "nothing left on the engine");
    }

    /// Rows of caas-rs's own tenancy tables: a copy of the panel's would show here.
    async fn copied_tenancy_rows(&self) -> i64 {
        let mut total = 0;
        for table in [
            "users",
            "organizations",
            "members",
            "plans",
            "subscriptions",
            "invitations",
        ] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&self.ours)
                .await
                .unwrap();
            total += n;
        }
        total
    }
}

fn assert_containers_exceeded(result: caas_core::Result<caas_core::model::Service>, limit: u64) {
    match result {
        Err(Error::QuotaExceeded(q)) => {
            let d = q
                .dimensions
                .iter()
                .find(|d| d.dimension == "containers")
                .unwrap_or_else(|| panic!("containers exceeded: {q:?}"));
            assert_eq!(d.limit, limit, "{q:?}");
        }
        other => panic!("expected the containers limit {limit}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panel_member_deploys_under_the_panels_plan_and_nothing_is_copied() {
    let Some(w) = world(10).await else {
        return;
    };
    let svc = w.deploy("api").await.unwrap();
    assert_eq!(svc.status, ServiceStatus::Running);
    assert_eq!(w.containers().await, 1);

    // The panel's plan, converted: 2.5 cores, 1.5 GB, 10 GB of storage.
    let usage = w.platform.orgs().usage(&w.member, &w.org).await.unwrap();
    let limits = usage.limits.expect("the panel's plan");
    assert_eq!(limits.cpu_millis, 2_500);
    assert_eq!(limits.memory_bytes, 1_536 * caas_core::units::MIB);
    assert_eq!(limits.storage_bytes, 10 * caas_core::units::GIB);
    assert_eq!(limits.max_containers, 10);
    assert_eq!(usage.committed.containers, 1);

    // The panel lowers its plan to the one container in use: the next deploy is refused.
    w.set_plan("max_containers", 1).await;
    assert_containers_exceeded(w.deploy("worker").await, 1);
    // …and raises it again: the next deploy goes through.
    w.set_plan("max_containers", 2).await;
    w.deploy("worker").await.unwrap();
    assert_eq!(w.containers().await, 2);

    // The panel suspends the subscription: the organization is suspended, nothing deploys.
    sqlx::query(
        "UPDATE container_subscriptions SET status = 'suspended' WHERE organization_id = $1",
    )
    .bind(w.subscription_org)
    .execute(&w.panel)
    .await
    .unwrap();
    w.set_plan("max_containers", 10).await;
    let org = w.platform.orgs().get(&w.member, &w.org).await.unwrap();
    assert_eq!(org.status, OrgStatus::Suspended);
    let refused = w.deploy("cron").await.unwrap_err();
    assert!(refused.to_string().contains("suspended"), "{refused}");

    // Roles come from the panel's rows: its `member` cannot create projects (403)…
    let e = w
        .platform
        .projects()
        .create(&w.member, &w.org, NewProject::new("side"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");
    // …and the owner of another panel organization does not see this one (404).
    let stranger = panel_side::add_user(
        &w.panel,
        &format!("other-{}@elsewhere.example", env::run_id()),
        "Other",
        "user",
    )
    .await
    .unwrap();
    panel_side::add_org(
        &w.panel,
        "Elsewhere",
        &format!("else-{}", env::run_id()),
        stranger,
    )
    .await
    .unwrap();
    let stranger = w.platform.principal_for(UserId(stranger)).await.unwrap();
    let api = caas_core::ServiceRef::new(&w.org, "web", "api");
    for e in [
        w.platform
            .orgs()
            .get(&stranger, &w.org)
            .await
            .map(|_| ())
            .unwrap_err(),
        w.platform
            .services()
            .get(&stranger, &api)
            .await
            .map(|_| ())
            .unwrap_err(),
    ] {
        assert!(e.is_not_found(), "{e:?}");
    }
    // A hostile slug reaches the panel's tables only as a bound parameter.
    let e = w
        .platform
        .orgs()
        .get(&w.owner, "x'; DROP TABLE organizations; --")
        .await
        .unwrap_err();
    assert!(e.is_not_found() || e.field().is_some(), "{e:?}");
    let orgs: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations")
        .fetch_one(&w.panel)
        .await
        .unwrap();
    assert_eq!(orgs, 2, "the panel's organizations are intact");

    // Changes to the panel's tenancy are the panel's.
    let e = w
        .platform
        .members()
        .remove(&w.owner, &w.org, &w.member_email)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("managed by the host application"),
        "{e}"
    );

    assert_eq!(
        w.copied_tenancy_rows().await,
        0,
        "no copy of the panel's tenancy"
    );
    w.clean_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn fifty_concurrent_deploys_against_ten_containers_leave_exactly_ten_twenty_times() {
    let Some(w) = world(10).await else {
        return;
    };
    let w = Arc::new(w);
    for round in 0..20 {
        let mut race = tokio::task::JoinSet::new();
        for i in 0..50 {
            let w = w.clone();
            race.spawn(async move { w.deploy(&format!("r{round}-{i}")).await });
        }
        let (mut ok, mut refused) = (0, 0);
        while let Some(result) = race.join_next().await {
            match result.unwrap() {
                Ok(_) => ok += 1,
                Err(e @ Error::QuotaExceeded(_)) => {
                    refused += 1;
                    assert!(e.to_string().contains("containers"), "{e}");
                }
                Err(e) => panic!("round {round}: {e:?}"),
            }
        }
        assert_eq!((ok, refused), (10, 40), "round {round}");
        assert_eq!(
            w.containers().await,
            10,
            "round {round}: ten containers on the engine"
        );
        let usage = w.platform.orgs().usage(&w.member, &w.org).await.unwrap();
        assert_eq!(usage.total().containers, 10, "round {round}: {usage:?}");
        w.clean_up().await;
    }
    assert_eq!(w.copied_tenancy_rows().await, 0);
}
