//! caas-rs embedded in a hosting panel that keeps its own users, organizations, members, plans
//! and subscriptions (`examples/panel/schema.sql`).
//!
//! ```text
//! cargo run -p caas-examples --example panel -- \
//!     --database-url postgres://postgres@localhost/panel --image busybox:latest
//! ```
//!
//! In the database it is given, the example creates (once) the panel's tables in the schema
//! `panel` with a demo organization on a plan of three containers, and caas-rs's own tables in
//! the schema `caas_rs`. Then a member of the panel's organization deploys a container on the
//! local Docker engine through caas-rs, and the example prints what the plan allows and what is
//! used. Run it again to deploy one more; the fourth run is refused by the panel's plan. Change
//! `panel.container_plans.max_containers` in the database and the next run follows it.
//! `--clean-up` deletes the demo's services.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use caas_core::Platform;
use caas_core::model::ServiceSpec;
use caas_core::platform::{DeleteOptions, DeployApp, NewProject};
use caas_core::ports::store::Directory;
use caas_core::validate::ImageRef;
use caas_core::{ProjectRef, ServiceRef};
use caas_docker::{DockerConnection, DockerRuntime};
use caas_examples::panel::PanelTenancy;
use caas_examples::panel::panel_side::{self, PanelPlan};
use caas_postgres::PgStore;
use clap::Parser;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

#[derive(Debug, Parser)]
struct Args {
    /// The panel's PostgreSQL database (caas-rs's tables go to the schema `caas_rs` in it).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The Docker engine's socket.
    #[arg(long, default_value = "/var/run/docker.sock")]
    docker_socket: String,
    /// The image the demo deploys (present on the engine).
    #[arg(long, default_value = "busybox:latest")]
    image: String,
    /// Delete the demo's services instead of deploying one more.
    #[arg(long)]
    clean_up: bool,
}

const DEMO_ORG: &str = "demo-shop";
const DEMO_OWNER: &str = "owner@demo-shop.example";
const DEMO_MEMBER: &str = "dev@demo-shop.example";

async fn pool_in(options: &PgConnectOptions, schema: &str) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options.clone())
        .await
        .context("connect to PostgreSQL")?;
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options.clone().options([("search_path", schema)]))
        .await?)
}

/// The panel's side: its tables and a demo organization, created once.
async fn panel(pool: &PgPool) -> anyhow::Result<()> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('organizations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if exists {
        return Ok(());
    }
    panel_side::create_schema(pool).await?;
    let owner = panel_side::add_user(pool, DEMO_OWNER, "Owner", "user").await?;
    let member = panel_side::add_user(pool, DEMO_MEMBER, "Dev", "user").await?;
    let org = panel_side::add_org(pool, "Demo Shop", DEMO_ORG, owner).await?;
    panel_side::add_member(pool, org, member, "member").await?;
    let plan = panel_side::add_plan(
        pool,
        &PanelPlan {
            name: "Starter".to_string(),
            max_cpu_cores: 1.0,
            max_memory_gb: 0.5,
            max_storage_gb: 5,
            max_containers: 3,
            max_projects: 1,
        },
    )
    .await?;
    panel_side::subscribe(pool, org, plan, "active").await?;
    println!("created the panel's tables and the organization {DEMO_ORG} (plan: Starter)");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let options = PgConnectOptions::from_str(&args.database_url).context("--database-url")?;
    let panel_pool = pool_in(&options, "panel").await?;
    panel(&panel_pool).await?;

    let store = PgStore::from_pool(pool_in(&options, "caas_rs").await?);
    store.migrate().await?;
    let runtime = DockerRuntime::builder()
        .connection(DockerConnection::Unix {
            path: args.docker_socket.into(),
        })
        .build()
        .await?;
    let tenancy = Arc::new(PanelTenancy::new(panel_pool));
    // The panel signed its users in; caas-rs takes its word for who they are.
    let owner_id = tenancy
        .user_by_email_opt(DEMO_OWNER)
        .await?
        .context("the demo owner")?
        .id;
    let member_id = tenancy
        .user_by_email_opt(DEMO_MEMBER)
        .await?
        .context("the demo member")?
        .id;
    let platform = Platform::builder()
        .store(Arc::new(store))
        .directory(tenancy.clone())
        .plans(tenancy)
        .runtime(Arc::new(runtime))
        .stop_timeout(Duration::from_secs(2))
        .build()?;

    let owner = platform.principal_for(owner_id).await?;
    let member = platform.principal_for(member_id).await?;
    // Projects are the organization owner's to create; members deploy in them.
    if platform.projects().list(&owner, DEMO_ORG).await?.is_empty() {
        platform
            .projects()
            .create(&owner, DEMO_ORG, NewProject::new("web"))
            .await?;
    }

    let services = platform
        .services()
        .list(&member, &ProjectRef::new(DEMO_ORG, "web"))
        .await?;
    if args.clean_up {
        for s in services {
            platform
                .services()
                .delete(
                    &member,
                    &ServiceRef::new(DEMO_ORG, "web", s.name.as_str()),
                    DeleteOptions::default(),
                )
                .await?;
            println!("deleted {}", s.name);
        }
        return Ok(());
    }
    let mut spec = ServiceSpec::new(ImageRef::parse(&args.image)?);
    spec.command = Some(vec!["sleep".into(), "86400".into()]);
    spec.resources.cpu_millis = 100;
    spec.resources.memory_bytes = 32 * caas_core::units::MIB;
    let name = format!("app{}", services.len() + 1);
    match platform
        .services()
        .deploy_app(
            &member,
            &ProjectRef::new(DEMO_ORG, "web"),
            DeployApp::new(&name, spec),
        )
        .await
    {
        Ok(svc) => println!("deployed {} ({:?})", svc.name, svc.status),
        Err(e) => println!("refused: {e}"),
    }
    let usage = platform.orgs().usage(&member, DEMO_ORG).await?;
    if let Some(limits) = usage.limits {
        println!(
            "plan {}: {} of {} containers, {} of {} millicores",
            usage.plan.clone().unwrap_or_default(),
            usage.total().containers,
            limits.max_containers,
            usage.total().cpu_millis,
            limits.cpu_millis
        );
    }
    Ok(())
}
