//! Secrets at rest, for stores that seal them (`caas_core::secrets`): one suite, run by each
//! SQL store through a [`SecretsHarness`] that opens stores on one database with or without a
//! key, rotates, and reads the raw rows (which only that store knows how to read).
//!
//! ```text
//! mod secrets {
//!     use super::*;
//!     caas_testkit::secrets_suite!(Harness::fresh());   // Option<impl SecretsHarness>
//! }
//! ```
//!
//! Every behaviour plants secrets of each kind through a real [`Platform`] (in-memory engine):
//! an app's secret variable, a database's generated password, an alert webhook's secret and a
//! template instance's secret output ([`plant_secrets`]).

use std::sync::Arc;

use async_trait::async_trait;
use caas_core::ProjectRef;
use caas_core::secrets::SecretKey;

use caas_core::memory::InMemoryRuntime;
use caas_core::model::{DatabaseEngine, EnvVar, InstanceOutput, ServiceSpec, TemplateInstance};
use caas_core::platform::{AlertSettings, DeployApp, DeployDatabase};
use caas_core::secrets::SEALED_PREFIX;
use caas_core::validate::{ImageRef, Name};
use caas_core::{OrgId, Platform, ServiceId, Store, TemplateInstanceId};

use crate::platform::{seed_tenant, test_limits};
use crate::store::{now, unique};

const IMAGE: &str = "caas/busybox:latest";
/// The image of a platform's default PostgreSQL.
const POSTGRES_IMAGE: &str = "postgres:16";

/// What [`plant_secrets`] stored, and the plaintext of every secret in it.
#[derive(Debug, Clone)]
pub struct Planted {
    /// The organization everything belongs to.
    pub org: OrgId,
    /// The app with a secret variable (`API_TOKEN`).
    pub app: ServiceId,
    /// The database (its generated password in secret variables).
    pub database: ServiceId,
    /// The template instance with a secret output (`admin_password`).
    pub instance: TemplateInstanceId,
    /// Every secret value, in plaintext: none may appear in a raw row.
    pub secrets: Vec<String>,
    /// The app's secret variable.
    pub app_secret: String,
    /// The organization's webhook secret.
    pub webhook_secret: String,
}

/// A platform over `store` (in-memory engine) deploys an app with a secret variable and a
/// PostgreSQL database (whose generated password goes into secret variables), and sets an
/// alert webhook with a secret; a template instance with a secret output is recorded
/// straight through the store (the platform itself stores secret outputs redacted, an
/// embedder's code may not). Panics on any failure.
pub async fn plant_secrets(store: Arc<dyn Store>) -> Planted {
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    runtime.add_image(POSTGRES_IMAGE);
    let platform = Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(runtime))
        .build()
        .expect("platform");
    let tenant = seed_tenant(&platform, test_limits(), "shop").await;
    let (admin, org_slug) = (&tenant.admin, tenant.org.as_str());

    let app_secret = format!("app-secret-{}", unique("v"));
    let mut spec = ServiceSpec::new(ImageRef::parse(IMAGE).expect("image"));
    spec.env
        .push(EnvVar::plain("MODE", "plain-value-in-clear").expect("env"));
    spec.env
        .push(EnvVar::secret("API_TOKEN", app_secret.clone()).expect("env"));
    let app = platform
        .services()
        .deploy_app(
            admin,
            &ProjectRef::new(org_slug, "shop"),
            DeployApp::new("web", spec),
        )
        .await
        .expect("deploy the app");

    let db = platform
        .services()
        .deploy_database(
            admin,
            &ProjectRef::new(org_slug, "shop"),
            DeployDatabase::new("orders", DatabaseEngine::Postgres),
        )
        .await
        .expect("deploy the database");

    let webhook_secret = format!("whsec-{}", unique("webhook"));
    platform
        .monitoring()
        .set_alerts(
            admin,
            org_slug,
            AlertSettings::new(vec![])
                .webhook("https://hooks.example.com/caas", webhook_secret.clone()),
        )
        .await
        .expect("set the webhook");

    let output_secret = format!("output-secret-{}", unique("v"));
    let instance = TemplateInstance {
        id: TemplateInstanceId::new(),
        org: app.org,
        project: app.project,
        name: Name::parse(unique("blog")).expect("name"),
        template: Name::parse("wordpress").expect("name"),
        services: vec![app.id],
        outputs: vec![
            InstanceOutput {
                name: "url".into(),
                value: "https://blog.example.com".into(),
                secret: false,
            },
            InstanceOutput {
                name: "admin_password".into(),
                value: output_secret.clone(),
                secret: true,
            },
        ],
        created_at: now(),
    };
    store
        .create_template_instance(&instance)
        .await
        .expect("record a template instance");

    let password = db.credentials.password.clone();
    assert!(password.len() >= 16, "a generated password");
    Planted {
        org: app.org,
        app: app.id,
        database: db.service.id,
        instance: instance.id,
        secrets: vec![
            app_secret.clone(),
            password,
            webhook_secret.clone(),
            output_secret,
        ],
        app_secret,
        webhook_secret,
    }
}

/// No raw text holds a planted secret, and sealed values are there: at least one per kind
/// of secret (the app's variable, the database's passwords, the webhook and the output).
/// Non-secret values stay readable.
pub fn assert_no_secret_in_clear(raw: &[String], planted: &Planted) {
    for text in raw {
        for secret in &planted.secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a raw row holds a secret in clear: {text}"
            );
        }
    }
    let all = raw.join("\n");
    let sealed = all.matches(SEALED_PREFIX).count();
    // The app's variable in its service and deployment, the database's two passwords (root
    // and user are one for PostgreSQL: one) in its service and deployment, the webhook and
    // the output.
    assert!(sealed >= 6, "expected sealed values, found {sealed}: {all}");
    assert!(
        all.contains("plain-value-in-clear") && all.contains("https://blog.example.com"),
        "non-secret values stay in clear: {all}"
    );
}

/// Everything planted reads back through `store` in plaintext (the platform never sees
/// ciphertext).
pub async fn assert_secrets_read_back(store: &dyn Store, planted: &Planted) {
    let app = store.service(planted.app).await.expect("the app");
    let token = app
        .spec
        .env
        .iter()
        .find(|v| v.key.as_str() == "API_TOKEN")
        .expect("API_TOKEN");
    assert_eq!(token.value, planted.app_secret);
    let deployment = store
        .deployment(app.current_deployment.expect("deployed"))
        .await
        .expect("its deployment");
    assert_eq!(deployment.spec, app.spec);
    let listed = store.list_services(planted.org, None).await.expect("list");
    let db = listed
        .iter()
        .find(|s| s.id == planted.database)
        .expect("the database");
    assert!(
        db.spec
            .env
            .iter()
            .any(|v| v.secret && planted.secrets.contains(&v.value)),
        "the database password reads back: {:?}",
        db.spec.redacted()
    );
    let webhook = store
        .setting_opt(&format!("alerts.{}", planted.org))
        .await
        .expect("setting")
        .expect("the alert settings");
    assert_eq!(
        webhook.pointer("/webhook/secret"),
        Some(&serde_json::json!(planted.webhook_secret))
    );
    let instance = store
        .template_instance(planted.instance)
        .await
        .expect("the instance");
    assert!(planted.secrets.contains(&instance.outputs[1].value));
    for text in [
        serde_json::to_string(&app).unwrap_or_default(),
        serde_json::to_string(&listed).unwrap_or_default(),
        serde_json::to_string(&instance).unwrap_or_default(),
        webhook.to_string(),
    ] {
        assert!(
            !text.contains(SEALED_PREFIX),
            "ciphertext handed out: {text}"
        );
    }
}

/// One database, opened by the store under test in the ways the suite needs.
#[async_trait]
pub trait SecretsHarness: Send + Sync {
    /// A migrated store on the database, without a key (plaintext, as before keys existed).
    async fn open_plain(&self) -> Arc<dyn Store>;
    /// A migrated store on the database, opened with `key` (its key check and start-up step
    /// run). Errors: what the store's `with_secret_key` returns.
    async fn open_keyed(&self, key: SecretKey) -> caas_core::Result<Arc<dyn Store>>;
    /// Opens a store with `old` and rotates it to `new`; returns what the rotation returns.
    async fn rotate(&self, old: SecretKey, new: SecretKey) -> caas_core::Result<u64>;
    /// Every row of every table that holds secrets (`services`, `deployments`, `settings`,
    /// `template_instances`, the audit log, the key check), as raw text read with SQL.
    async fn raw_rows(&self) -> Vec<String>;
}

/// Expands into one `#[tokio::test]` per secrets-at-rest behaviour; `$make` yields
/// `Option<impl SecretsHarness>` (`None`: the backend is not configured outside CI).
#[macro_export]
macro_rules! secrets_suite {
    ($make:expr) => {
        $crate::secrets_suite!(@tests $make;
            secrets_are_sealed_in_every_row_and_read_back_in_clear,
            a_wrong_key_fails_naming_both_keys_and_changes_nothing,
            plaintext_secrets_are_sealed_when_a_key_is_first_used,
            rotation_reseals_every_secret_under_the_new_key,
            a_failed_rotation_leaves_every_secret_under_the_old_key,
        );
    };
    (@tests $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(harness) = $make.await else { return; };
                $crate::secrets::$name(&harness).await;
            }
        )+
    };
}

fn count_sealed(raw: &[String]) -> usize {
    raw.iter().map(|t| t.matches(SEALED_PREFIX).count()).sum()
}

/// A store with a key seals every secret it writes; reading gives them back in clear.
pub async fn secrets_are_sealed_in_every_row_and_read_back_in_clear(h: &impl SecretsHarness) {
    let store = h
        .open_keyed(SecretKey::generate())
        .await
        .expect("open with a key");
    let planted = plant_secrets(store.clone()).await;
    assert_no_secret_in_clear(&h.raw_rows().await, &planted);
    assert_secrets_read_back(&*store, &planted).await;
}

/// Opening with another key fails with `InvalidInput` on `secret_key` naming both key ids;
/// nothing is changed, and the right key still opens everything.
pub async fn a_wrong_key_fails_naming_both_keys_and_changes_nothing(h: &impl SecretsHarness) {
    let key = SecretKey::generate();
    let store = h.open_keyed(key.clone()).await.expect("open with a key");
    let planted = plant_secrets(store).await;
    let before = h.raw_rows().await;
    let wrong = SecretKey::generate();
    let e = h
        .open_keyed(wrong.clone())
        .await
        .expect_err("a wrong key is refused");
    assert!(e.is_invalid_input(), "{e}");
    assert_eq!(e.field(), Some("secret_key"), "{e}");
    let message = e.to_string();
    assert!(
        message.contains(key.id()) && message.contains(wrong.id()),
        "names both keys: {message}"
    );
    assert_eq!(h.raw_rows().await, before, "a wrong key changes nothing");
    let store = h.open_keyed(key).await.expect("the right key still opens");
    assert_secrets_read_back(&*store, &planted).await;
}

/// Rows a store without a key wrote are sealed when a key is first used, once (running it
/// again changes nothing); a store without the key then refuses to hand out ciphertext.
pub async fn plaintext_secrets_are_sealed_when_a_key_is_first_used(h: &impl SecretsHarness) {
    let planted = plant_secrets(h.open_plain().await).await;
    let raw = h.raw_rows().await;
    let all = raw.join("\n");
    for secret in &planted.secrets {
        assert!(
            all.contains(secret.as_str()),
            "stored in clear without a key"
        );
    }
    assert_eq!(count_sealed(&raw), 0);

    let key = SecretKey::generate();
    let store = h.open_keyed(key.clone()).await.expect("open with a key");
    let sealed = h.raw_rows().await;
    assert_no_secret_in_clear(&sealed, &planted);
    assert_secrets_read_back(&*store, &planted).await;
    let _again = h.open_keyed(key).await.expect("open again");
    assert_eq!(
        h.raw_rows().await,
        sealed,
        "the start-up step is idempotent"
    );

    let plain = h.open_plain().await;
    let e = plain
        .service(planted.app)
        .await
        .expect_err("no ciphertext without the key");
    assert!(e.to_string().contains("without its secret key"), "{e}");
}

/// Rotation seals every secret again under the new key, in place of the old values: the
/// old key no longer opens the store, the new one opens everything.
pub async fn rotation_reseals_every_secret_under_the_new_key(h: &impl SecretsHarness) {
    let old = SecretKey::generate();
    let store = h.open_keyed(old.clone()).await.expect("open with a key");
    let planted = plant_secrets(store).await;
    let before = h.raw_rows().await;
    let new = SecretKey::generate();
    let resealed = h.rotate(old.clone(), new.clone()).await.expect("rotate");
    // The app's variable, the database's passwords, each in its service and deployment, the
    // webhook and the output.
    assert!(resealed >= 6, "{resealed}");
    let after = h.raw_rows().await;
    assert_no_secret_in_clear(&after, &planted);
    assert_eq!(count_sealed(&after), count_sealed(&before));
    let old_values: Vec<&str> = before
        .iter()
        .flat_map(|t| t.split('"'))
        .filter(|s| s.starts_with(SEALED_PREFIX))
        .collect();
    let joined = after.join("\n");
    assert!(
        old_values.iter().all(|v| !joined.contains(v)),
        "every sealed value was replaced"
    );
    let e = h.open_keyed(old).await.expect_err("the old key is refused");
    assert_eq!(e.field(), Some("secret_key"), "{e}");
    let store = h.open_keyed(new.clone()).await.expect("the new key opens");
    assert_secrets_read_back(&*store, &planted).await;
    let e = h
        .rotate(new.clone(), new)
        .await
        .expect_err("rotating to the key in use");
    assert_eq!(e.field(), Some("new_key"), "{e}");
}

/// A value no key opens stops a rotation part-way: the transaction rolls back, the rows
/// are byte for byte what they were, the old key opens everything and the new one is
/// refused. Once the value is gone, the rotation goes through.
pub async fn a_failed_rotation_leaves_every_secret_under_the_old_key(h: &impl SecretsHarness) {
    let old = SecretKey::generate();
    let store = h.open_keyed(old.clone()).await.expect("open with a key");
    let planted = plant_secrets(store).await;
    // Settings are resealed last, after every service, deployment and instance: a webhook
    // secret sealed under a key nobody has stops the rotation at the very end.
    let stray = SecretKey::generate();
    let key = format!("alerts.{}", OrgId::new());
    let unreadable = stray
        .seal("lost", &format!("setting/{key}/webhook/secret"))
        .expect("seal");
    let plain = h.open_plain().await;
    plain
        .put_setting(
            &key,
            &serde_json::json!({"rules": [], "webhook": {"url": "https://h.example", "secret": unreadable}}),
        )
        .await
        .expect("write a value no key opens");
    let before = h.raw_rows().await;

    let new = SecretKey::generate();
    let e = h
        .rotate(old.clone(), new.clone())
        .await
        .expect_err("the stray value stops the rotation");
    assert!(e.is_backend(), "{e}");
    assert_eq!(h.raw_rows().await, before, "rolled back");
    let e = h
        .open_keyed(new.clone())
        .await
        .expect_err("the new key is refused");
    assert_eq!(e.field(), Some("secret_key"), "{e}");
    let store = h
        .open_keyed(old.clone())
        .await
        .expect("the old key still opens");
    assert_secrets_read_back(&*store, &planted).await;

    plain
        .put_setting(&key, &serde_json::Value::Null)
        .await
        .expect("drop the stray value");
    h.rotate(old, new.clone()).await.expect("rotate");
    let store = h.open_keyed(new).await.expect("the new key opens");
    assert_secrets_read_back(&*store, &planted).await;
}
