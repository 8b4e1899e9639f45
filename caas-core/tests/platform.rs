//! The vertical slice on the in-memory backends: org, plan, subscription, project, deploy,
//! delete — and what happens when quota or the runtime says no.

#![allow(clippy::unwrap_used)]

use caas_core::ports::store::prelude::*;
use caas_core::{ProjectRef, ServiceRef};
use std::sync::Arc;

use caas_core::labels;
use caas_core::memory::{Fault, InMemoryProxy, InMemoryRuntime, InMemoryStore, RuntimeOp};
use caas_core::model::{
    EnvVar, NewOrganization, NewPlan, NewUser, PlanLimits, Role, ServiceSpec, ServiceStatus,
    SubscriptionStatus,
};
use caas_core::platform::{DeleteOptions, DeployApp, NewProject};
use caas_core::ports::runtime::{ContainerStatus, LabelSelector};
use caas_core::units::{GIB, MIB};
use caas_core::validate::ImageRef;
use caas_core::{ContainerRuntime, Platform, Principal};

struct World {
    platform: Platform,
    store: Arc<InMemoryStore>,
    runtime: InMemoryRuntime,
    admin: Principal,
    owner: Principal,
}

const IMAGE: &str = "caas/busybox:latest";

async fn world(limits: PlanLimits) -> World {
    let store = Arc::new(InMemoryStore::new());
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let platform = Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(runtime.clone()))
        .proxy(Arc::new(InMemoryProxy::new()))
        .build()
        .unwrap();
    let admin_user = platform
        .users()
        .ensure_platform_admin("root@example.com")
        .await
        .unwrap();
    let admin = platform.principal_for(admin_user.id).await.unwrap();
    let owner_user = platform
        .users()
        .create(&admin, NewUser::new("owner@acme.example"))
        .await
        .unwrap();
    platform
        .plans()
        .create(&admin, NewPlan::new("starter", limits))
        .await
        .unwrap();
    platform
        .orgs()
        .create(&admin, NewOrganization::new("acme"), Some(owner_user.id))
        .await
        .unwrap();
    platform
        .orgs()
        .set_subscription(&admin, "acme", "starter", SubscriptionStatus::Active)
        .await
        .unwrap();
    let owner = platform.principal_for(owner_user.id).await.unwrap();
    World {
        platform,
        store,
        runtime,
        admin,
        owner,
    }
}

fn roomy() -> PlanLimits {
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

fn app(name: &str) -> DeployApp {
    let mut spec = ServiceSpec::new(ImageRef::parse(IMAGE).unwrap());
    spec.command = Some(vec![
        "httpd".into(),
        "-f".into(),
        "-p".into(),
        "8080".into(),
    ]);
    spec.env.push(EnvVar::plain("GREETING", "hello").unwrap());
    spec.env.push(EnvVar::secret("API_KEY", "s3cr3t").unwrap());
    spec.labels.insert("com.example.team".into(), "web".into());
    DeployApp::new(name, spec)
}

async fn managed_containers(rt: &InMemoryRuntime) -> usize {
    rt.list_containers(&LabelSelector::managed())
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn deploy_creates_a_labelled_hardened_running_container_and_delete_removes_it() {
    let w = world(roomy()).await;
    w.platform
        .projects()
        .create(&w.owner, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    let svc = w
        .platform
        .services()
        .deploy_app(&w.owner, &ProjectRef::new("acme", "shop"), app("web"))
        .await
        .unwrap();
    assert_eq!(svc.status, ServiceStatus::Running);
    assert_eq!(
        svc.spec.env[1].value, "********",
        "secret returned redacted"
    );

    let containers = w
        .runtime
        .list_containers(&LabelSelector::managed().with(labels::SERVICE, svc.id))
        .await
        .unwrap();
    assert_eq!(containers.len(), 1);
    let info = w
        .runtime
        .inspect_container_opt(&containers[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.status, ContainerStatus::Running);
    assert_eq!(info.labels[labels::ORG], svc.org.to_string());
    assert_eq!(info.labels[labels::PROJECT], svc.project.to_string());
    assert_eq!(
        info.labels[labels::DEPLOYMENT],
        svc.current_deployment.unwrap().to_string()
    );
    assert_eq!(info.labels["com.example.team"], "web");
    assert!(
        info.env.contains(&"API_KEY=s3cr3t".to_string()),
        "the container gets the real secret"
    );
    assert!(!info.security.privileged);
    assert_eq!(info.security.cap_drop, vec!["ALL".to_string()]);
    assert!(info.security.no_new_privileges);
    assert_eq!(info.limits.memory_bytes, 256 * MIB);
    assert!(!info.ip_addresses.is_empty(), "joined the project network");

    let usage = w.platform.orgs().usage(&w.owner, "acme").await.unwrap();
    assert_eq!(usage.committed.containers, 1);
    assert_eq!(usage.committed.cpu_millis, 500);
    assert_eq!(usage.committed.projects, 1);
    assert!(usage.pending.is_zero());

    w.platform
        .services()
        .delete(
            &w.owner,
            &ServiceRef::new("acme", "shop", "web"),
            DeleteOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(managed_containers(&w.runtime).await, 0);
    let usage = w.platform.orgs().usage(&w.owner, "acme").await.unwrap();
    assert_eq!(usage.committed.containers, 0);
    assert_eq!(usage.committed.cpu_millis, 0);
    assert!(
        w.platform
            .services()
            .get(&w.owner, &ServiceRef::new("acme", "shop", "web"))
            .await
            .unwrap_err()
            .is_not_found()
    );

    w.platform
        .projects()
        .delete(
            &w.owner,
            &ProjectRef::new("acme", "shop"),
            DeleteOptions::default(),
        )
        .await
        .unwrap();
    assert!(
        w.runtime
            .list_networks(&LabelSelector::managed())
            .await
            .unwrap()
            .is_empty()
    );
    let audit = w
        .store
        .list_audit(&caas_core::ports::store::AuditFilter::default())
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    for a in [
        "service.deploy",
        "service.delete",
        "project.create",
        "project.delete",
    ] {
        assert!(actions.contains(&a), "audit has {a}: {actions:?}");
    }
    assert!(
        !serde_json::to_string(&audit).unwrap().contains("s3cr3t"),
        "secrets never reach the audit log"
    );
}

#[tokio::test]
async fn deploy_over_the_memory_limit_is_refused_naming_plan_and_numbers_and_creates_nothing() {
    let mut limits = roomy();
    limits.memory_bytes = 300 * MIB;
    let w = world(limits).await;
    w.platform
        .projects()
        .create(&w.owner, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    w.platform
        .services()
        .deploy_app(&w.owner, &ProjectRef::new("acme", "shop"), app("one"))
        .await
        .unwrap();
    let err = w
        .platform
        .services()
        .deploy_app(&w.owner, &ProjectRef::new("acme", "shop"), app("two"))
        .await
        .unwrap_err();
    let q = err.quota().expect("quota exceeded");
    assert_eq!(q.plan, "starter");
    assert_eq!(q.org, "acme");
    assert_eq!(q.dimensions.len(), 1);
    assert_eq!(q.dimensions[0].dimension, "memory_bytes");
    assert_eq!(q.dimensions[0].used, 256 * MIB);
    assert_eq!(q.dimensions[0].requested, 256 * MIB);
    assert_eq!(q.dimensions[0].limit, 300 * MIB);
    assert_eq!(managed_containers(&w.runtime).await, 1);
    assert_eq!(
        w.platform
            .services()
            .list(&w.owner, &ProjectRef::new("acme", "shop"))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn project_limit_is_enforced() {
    let mut limits = roomy();
    limits.max_projects = 1;
    let w = world(limits).await;
    w.platform
        .projects()
        .create(&w.owner, "acme", NewProject::new("a"))
        .await
        .unwrap();
    let err = w
        .platform
        .projects()
        .create(&w.owner, "acme", NewProject::new("b"))
        .await
        .unwrap_err();
    assert_eq!(err.quota().unwrap().dimensions[0].dimension, "projects");
}

#[tokio::test]
async fn suspended_subscription_blocks_deploys_with_a_clear_reason() {
    let w = world(roomy()).await;
    w.platform
        .projects()
        .create(&w.owner, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    w.platform
        .orgs()
        .set_subscription(&w.admin, "acme", "starter", SubscriptionStatus::Suspended)
        .await
        .unwrap();
    let err = w
        .platform
        .services()
        .deploy_app(&w.owner, &ProjectRef::new("acme", "shop"), app("web"))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("suspended"), "{err}");
}

/// Every runtime step of a deploy fails once in turn; each time nothing is left behind: no
/// container, no service record, no quota held.
#[tokio::test]
async fn a_failure_at_any_runtime_step_leaves_nothing_behind() {
    for (op, fault) in [
        (RuntimeOp::CreateNetwork, Fault::Unavailable),
        (RuntimeOp::ImagePresent, Fault::Unavailable),
        (RuntimeOp::CreateContainer, Fault::Unavailable),
        (RuntimeOp::CreateContainer, Fault::AfterEffect),
        (RuntimeOp::StartContainer, Fault::Unavailable),
        (RuntimeOp::StartContainer, Fault::AfterEffect),
    ] {
        let w = world(roomy()).await;
        w.platform
            .projects()
            .create(&w.owner, "acme", NewProject::new("shop"))
            .await
            .unwrap();
        w.runtime.fail_next(op, fault.clone());
        let err = w
            .platform
            .services()
            .deploy_app(&w.owner, &ProjectRef::new("acme", "shop"), app("web"))
            .await
            .unwrap_err();
        assert!(err.is_unavailable(), "{op:?}/{fault:?}: {err}");
        assert_eq!(managed_containers(&w.runtime).await, 0, "{op:?}/{fault:?}");
        assert!(
            w.platform
                .services()
                .list(&w.owner, &ProjectRef::new("acme", "shop"))
                .await
                .unwrap()
                .is_empty(),
            "{op:?}/{fault:?}"
        );
        let usage = w.platform.orgs().usage(&w.owner, "acme").await.unwrap();
        assert_eq!(usage.committed.containers, 0, "{op:?}/{fault:?}");
        assert!(usage.pending.is_zero(), "{op:?}/{fault:?}: {usage:?}");

        // And the same deploy succeeds once the engine behaves again.
        w.platform
            .services()
            .deploy_app(&w.owner, &ProjectRef::new("acme", "shop"), app("web"))
            .await
            .unwrap();
        assert_eq!(managed_containers(&w.runtime).await, 1);
    }
}

#[tokio::test]
async fn a_missing_image_is_refused_naming_the_image() {
    let w = world(roomy()).await;
    w.runtime.restrict_registry(&[]);
    w.platform
        .projects()
        .create(&w.owner, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    let mut a = app("web");
    a.spec.image = ImageRef::parse("example/missing:1").unwrap();
    let err = w
        .platform
        .services()
        .deploy_app(&w.owner, &ProjectRef::new("acme", "shop"), a)
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert!(err.to_string().contains("example/missing:1"), "{err}");
    assert_eq!(managed_containers(&w.runtime).await, 0);
}

#[tokio::test]
async fn permissions_are_checked_in_the_platform() {
    let w = world(roomy()).await;
    w.platform
        .projects()
        .create(&w.owner, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    let org = w.platform.orgs().get(&w.owner, "acme").await.unwrap();

    let stranger_user = w
        .platform
        .users()
        .create(&w.admin, NewUser::new("eve@evil.example"))
        .await
        .unwrap();
    let stranger = w.platform.principal_for(stranger_user.id).await.unwrap();
    let err = w
        .platform
        .services()
        .deploy_app(&stranger, &ProjectRef::new("acme", "shop"), app("web"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "strangers learn nothing: {err}");

    let viewer = Principal::user(stranger_user.id).with_role(org.id, Role::Viewer);
    let err = w
        .platform
        .services()
        .deploy_app(&viewer, &ProjectRef::new("acme", "shop"), app("web"))
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");

    let err = w
        .platform
        .plans()
        .create(&w.owner, NewPlan::new("free", roomy()))
        .await
        .unwrap_err();
    assert!(err.is_permission_denied());
    assert_eq!(managed_containers(&w.runtime).await, 0);
}

#[tokio::test]
async fn invalid_input_names_the_field() {
    let w = world(roomy()).await;
    w.platform
        .projects()
        .create(&w.owner, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    let err = w
        .platform
        .services()
        .deploy_app(&w.owner, &ProjectRef::new("acme", "shop"), app("Bad_Name"))
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("name"));

    let mut a = app("web");
    a.spec
        .labels
        .insert("caas.org".into(), "someone-else".into());
    let err = w
        .platform
        .services()
        .deploy_app(&w.owner, &ProjectRef::new("acme", "shop"), a)
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("spec.labels.caas.org"));
    assert_eq!(managed_containers(&w.runtime).await, 0);
}

#[tokio::test]
async fn duplicate_service_names_are_refused_without_touching_quota() {
    let w = world(roomy()).await;
    w.platform
        .projects()
        .create(&w.owner, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    w.platform
        .services()
        .deploy_app(&w.owner, &ProjectRef::new("acme", "shop"), app("web"))
        .await
        .unwrap();
    let err = w
        .platform
        .services()
        .deploy_app(&w.owner, &ProjectRef::new("acme", "shop"), app("web"))
        .await
        .unwrap_err();
    assert!(err.is_already_exists());
    let usage = w.platform.orgs().usage(&w.owner, "acme").await.unwrap();
    assert_eq!(usage.committed.containers, 1);
    assert!(usage.pending.is_zero());
}

#[tokio::test]
async fn lifecycle_operations_are_idempotent_and_recorded() {
    use caas_core::model::ServiceEventKind;
    use caas_core::ports::runtime::{LogOptions, LogStream};
    use futures::StreamExt;

    let w = world(roomy()).await;
    w.platform
        .projects()
        .create(&w.owner, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    let svc = w
        .platform
        .services()
        .deploy_app(&w.owner, &ProjectRef::new("acme", "shop"), app("web"))
        .await
        .unwrap();
    let started = w
        .platform
        .services()
        .start(&w.owner, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap();
    assert!(!started.changed, "already running");
    let stopped = w
        .platform
        .services()
        .stop(&w.owner, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap();
    assert!(stopped.changed);
    assert_eq!(stopped.service.status, ServiceStatus::Stopped);
    assert!(
        !w.platform
            .services()
            .stop(&w.owner, &ServiceRef::new("acme", "shop", "web"))
            .await
            .unwrap()
            .changed
    );
    let again = w
        .platform
        .services()
        .start(&w.owner, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap();
    assert!(again.changed);
    assert_eq!(again.service.status, ServiceStatus::Running);
    w.platform
        .services()
        .restart(&w.owner, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap();

    let events = w.store.list_events(svc.id, 10).await.unwrap();
    let kinds: Vec<&ServiceEventKind> = events.iter().map(|e| &e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            &ServiceEventKind::Restarted,
            &ServiceEventKind::Started,
            &ServiceEventKind::Stopped,
            &ServiceEventKind::Deployed
        ]
    );

    let container = w
        .runtime
        .list_containers(&LabelSelector::managed().with(labels::SERVICE, svc.id))
        .await
        .unwrap()[0]
        .id
        .clone();
    w.runtime
        .push_log(&container, LogStream::Stdout, "GET / 200")
        .unwrap();
    let lines: Vec<_> = w
        .platform
        .services()
        .logs(
            &w.owner,
            &ServiceRef::new("acme", "shop", "web"),
            &LogOptions::tail(10),
        )
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].as_ref().unwrap().text, "GET / 200");
}

#[tokio::test]
async fn databases_get_a_data_volume_secret_credentials_and_count_storage() {
    use caas_core::model::{DatabaseEngine, ServiceKind};
    use caas_core::platform::DeployDatabase;

    let w = world(roomy()).await;
    w.platform
        .projects()
        .create(&w.owner, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    let db = w
        .platform
        .services()
        .deploy_database(
            &w.owner,
            &ProjectRef::new("acme", "shop"),
            DeployDatabase::new("orders", DatabaseEngine::Postgres),
        )
        .await
        .unwrap();
    assert_eq!(
        db.service.kind,
        ServiceKind::Database {
            engine: DatabaseEngine::Postgres
        }
    );
    let creds = &db.credentials;
    assert_eq!(creds.host, "orders");
    assert_eq!(creds.port, 5432);
    assert_eq!(creds.password.len(), 32);
    assert!(creds.connection_string.starts_with("postgres://app:"));
    // The password is never returned again.
    let again = w
        .platform
        .services()
        .get(&w.owner, &ServiceRef::new("acme", "shop", "orders"))
        .await
        .unwrap();
    assert!(
        !serde_json::to_string(&again)
            .unwrap()
            .contains(&creds.password)
    );

    // The data lives on a labelled volume, mounted at the engine's data directory.
    let volumes = w
        .runtime
        .list_volumes(&LabelSelector::managed().with(labels::KIND, "volume"))
        .await
        .unwrap();
    assert_eq!(volumes.len(), 1);
    assert_eq!(volumes[0].labels[labels::VOLUME], "orders-data");
    let c = &w
        .runtime
        .list_containers(&LabelSelector::managed().with(labels::SERVICE, db.service.id))
        .await
        .unwrap()[0];
    let info = w
        .runtime
        .inspect_container_opt(&c.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.mounts[0].volume, volumes[0].name);
    assert_eq!(info.mounts[0].target, "/var/lib/postgresql/data");
    assert!(
        info.env
            .contains(&format!("POSTGRES_PASSWORD={}", creds.password))
    );

    let usage = w.platform.orgs().usage(&w.owner, "acme").await.unwrap();
    assert_eq!(usage.committed.storage_bytes, GIB);
    assert_eq!(usage.committed.memory_bytes, 512 * MIB);

    // Deleting keeps the data unless asked.
    w.platform
        .services()
        .delete(
            &w.owner,
            &ServiceRef::new("acme", "shop", "orders"),
            DeleteOptions::keep_volumes(),
        )
        .await
        .unwrap();
    assert!(
        w.runtime
            .inspect_volume_opt(&volumes[0].name)
            .await
            .unwrap()
            .is_some()
    );
    w.platform
        .projects()
        .delete(
            &w.owner,
            &ProjectRef::new("acme", "shop"),
            DeleteOptions::with_volumes(),
        )
        .await
        .unwrap();
    assert!(
        w.runtime
            .inspect_volume_opt(&volumes[0].name)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn deleting_a_project_removes_its_services_and_releases_everything() {
    let w = world(roomy()).await;
    w.platform
        .projects()
        .create(&w.owner, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    for name in ["a", "b"] {
        w.platform
            .services()
            .deploy_app(&w.owner, &ProjectRef::new("acme", "shop"), app(name))
            .await
            .unwrap();
    }
    w.platform
        .projects()
        .delete(
            &w.owner,
            &ProjectRef::new("acme", "shop"),
            DeleteOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(managed_containers(&w.runtime).await, 0);
    let usage = w.platform.orgs().usage(&w.owner, "acme").await.unwrap();
    assert!(usage.total().is_zero(), "{usage:?}");
    let summary = w
        .platform
        .orgs()
        .usage_summary(&w.owner, "acme")
        .await
        .unwrap();
    assert!(summary.warnings.is_empty());
    assert_eq!(summary.plan.as_deref(), Some("starter"));
}

#[tokio::test]
async fn recreate_keeps_volumes_replaces_the_container_and_rolls_back_on_failure() {
    use caas_core::model::{DatabaseEngine, DeploymentStatus};
    use caas_core::platform::DeployDatabase;

    let w = world(roomy()).await;
    w.platform
        .projects()
        .create(&w.owner, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    w.runtime.add_image("postgres:16");
    let db = w
        .platform
        .services()
        .deploy_database(
            &w.owner,
            &ProjectRef::new("acme", "shop"),
            DeployDatabase::new("db", DatabaseEngine::Postgres),
        )
        .await
        .unwrap();
    let volume = w
        .runtime
        .list_volumes(&LabelSelector::managed().with(labels::KIND, "volume"))
        .await
        .unwrap()[0]
        .name
        .clone();
    w.runtime.put_file(&volume, "PG_VERSION", b"16").unwrap();
    let before = w
        .runtime
        .list_containers(&LabelSelector::managed().with(labels::SERVICE, db.service.id))
        .await
        .unwrap();

    let svc = w
        .platform
        .services()
        .recreate(&w.owner, &ServiceRef::new("acme", "shop", "db"))
        .await
        .unwrap();
    assert_ne!(svc.current_deployment, db.service.current_deployment);
    let after = w
        .runtime
        .list_containers(&LabelSelector::managed().with(labels::SERVICE, db.service.id))
        .await
        .unwrap();
    assert_eq!(after.len(), 1, "the old container is gone");
    assert_ne!(after[0].id, before[0].id);
    assert_eq!(
        w.runtime.file(&volume, "PG_VERSION").unwrap().as_ref(),
        b"16"
    );
    let history = w.store.list_deployments(db.service.id).await.unwrap();
    assert_eq!(history[0].status, DeploymentStatus::Active);
    assert_eq!(history[1].status, DeploymentStatus::Superseded);

    // A new container that cannot start: the old one serves again, the failure is recorded.
    w.runtime.fail_next(
        RuntimeOp::StartContainer,
        Fault::Backend("exec format error".into()),
    );
    let err = w
        .platform
        .services()
        .recreate(&w.owner, &ServiceRef::new("acme", "shop", "db"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("exec format error"));
    let now = w
        .runtime
        .list_containers(&LabelSelector::managed().with(labels::SERVICE, db.service.id))
        .await
        .unwrap();
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].id, after[0].id);
    assert_eq!(now[0].status, ContainerStatus::Running);
    let history = w.store.list_deployments(db.service.id).await.unwrap();
    assert_eq!(history[0].status, DeploymentStatus::Failed);
    assert!(
        history[0]
            .error
            .as_deref()
            .unwrap()
            .contains("exec format error")
    );
    let svc = w.store.service(db.service.id).await.unwrap();
    assert_eq!(svc.current_deployment, Some(history[1].id));
}

#[tokio::test]
async fn api_tokens_authenticate_until_revoked_or_expired() {
    let w = world(roomy()).await;
    let admin_user = w.store.user(w.admin.user).await.unwrap();
    let first = w
        .platform
        .tokens()
        .ensure_bootstrap(&admin_user)
        .await
        .unwrap();
    let secret = first.expect("created on first start");
    assert!(secret.starts_with("caas_") && secret.len() == 45);
    assert!(
        w.platform
            .tokens()
            .ensure_bootstrap(&admin_user)
            .await
            .unwrap()
            .is_none(),
        "shown once"
    );
    let p = w
        .platform
        .tokens()
        .authenticate(&secret)
        .await
        .unwrap()
        .unwrap();
    assert!(p.platform_admin);

    let (token, owner_secret) = w
        .platform
        .tokens()
        .create(
            &w.owner,
            None,
            caas_core::platform::NewApiToken::new("ci").valid_for(chrono::Duration::hours(1)),
        )
        .await
        .unwrap();
    let p = w
        .platform
        .tokens()
        .authenticate(&owner_secret)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.user, w.owner.user);
    assert_eq!(
        p.role_in(w.platform.orgs().get(&w.owner, "acme").await.unwrap().id),
        Some(Role::Owner)
    );
    // The store holds only the hash.
    let listed = w.platform.tokens().list(&w.owner).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_ne!(listed[0].token_sha256, owner_secret);
    assert!(
        !serde_json::to_string(&listed)
            .unwrap()
            .contains("token_sha256")
    );

    for bad in ["", "caas_nope", "Bearer x", &format!("{owner_secret}x")] {
        assert!(
            w.platform
                .tokens()
                .authenticate(bad)
                .await
                .unwrap()
                .is_none(),
            "{bad}"
        );
    }
    // Another user cannot revoke it; its owner can.
    assert!(
        w.platform
            .tokens()
            .revoke(&Principal::user(caas_core::UserId::new()), token.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
    w.platform
        .tokens()
        .revoke(&w.owner, token.id)
        .await
        .unwrap();
    assert!(
        w.platform
            .tokens()
            .authenticate(&owner_secret)
            .await
            .unwrap()
            .is_none()
    );
    // Only admins mint tokens for others.
    assert!(
        w.platform
            .tokens()
            .create(
                &w.owner,
                Some(w.admin.user),
                caas_core::platform::NewApiToken::new("x")
            )
            .await
            .unwrap_err()
            .is_permission_denied()
    );
}

#[tokio::test]
async fn replicas_beyond_the_runtime_capability_are_refused_naming_the_field_and_the_fix() {
    let w = world(roomy()).await;
    w.platform
        .projects()
        .create(&w.owner, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    let mut three = app("web");
    three.spec.replicas = 3;
    let e = w
        .platform
        .services()
        .deploy_app(&w.owner, &ProjectRef::new("acme", "shop"), three.clone())
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("spec.replicas"), "{e}");
    let text = e.to_string();
    assert!(text.contains("at most 1"), "{text}");
    assert!(text.contains("set replicas to 1"), "{text}");
    assert!(text.contains("SwarmRuntime"), "{text}");
    assert_eq!(managed_containers(&w.runtime).await, 0);
    let usage = w.platform.orgs().usage(&w.owner, "acme").await.unwrap();
    assert!(usage.pending.is_zero() && usage.committed.containers == 0);

    // A runtime that runs replicas gets them, and each replica holds its quota.
    w.runtime.set_max_replicas(3);
    let svc = w
        .platform
        .services()
        .deploy_app(&w.owner, &ProjectRef::new("acme", "shop"), three)
        .await
        .unwrap();
    assert_eq!(svc.spec.replicas, 3);
    let usage = w.platform.orgs().usage(&w.owner, "acme").await.unwrap();
    assert_eq!(usage.committed.containers, 3);
    assert_eq!(usage.committed.cpu_millis, 1500);
}
