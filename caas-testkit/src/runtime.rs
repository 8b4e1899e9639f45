//! The runtime conformance suite: what every [`ContainerRuntime`] backend must do.
//!
//! The same behaviours run against the in-memory engine of `caas-core` and against the real
//! Docker engine, so they only rely on what a busybox-like image offers (`sh`, `sleep`, `echo`)
//! and they never assume a registry is reachable.
//!
//! # Isolation and cleanup
//!
//! Every object a behaviour creates carries `caas.managed=true` and
//! `caas.test-run=<run_id>` ([`RuntimeFixture::labels`]) and is named
//! `caas-test-<run_id>-<suffix>` ([`RuntimeFixture::name`]). Each behaviour runs its body
//! through [`RuntimeFixture::scoped`], which afterwards removes every container, network and
//! volume of the run (forced) — also when the body panicked or timed out — and then reports
//! the original failure. Because cleanup is by run id, each fixture needs its own run id:
//! [`RuntimeFixture::new`] draws a fresh one, so behaviours may run in parallel against the
//! same engine.
//!
//! # Logs
//!
//! The logs behaviour starts a container whose command prints `line1` … `line5`. A simulated
//! engine cannot run commands, so a fixture may carry a [`LogEmitter`] that makes the
//! container print given lines (the in-memory test forwards them to
//! `InMemoryRuntime::push_log`); backends that run the command leave it `None`.
//!
//! # Running the suite
//!
//! ```text
//! caas_testkit::runtime_suite!(async {
//!     let rt = caas_core::memory::InMemoryRuntime::new();
//!     rt.add_image("caas-test/busybox:latest");
//!     Some(caas_testkit::runtime::RuntimeFixture::new(std::sync::Arc::new(rt), "caas-test/busybox:latest"))
//! });
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use caas_core::labels;
use caas_core::model::ResourceLimits;
use caas_core::ports::runtime::{
    ALLOWED_CAPABILITIES, ContainerInfo, ContainerSpec, ContainerStatus, CreateOutcome,
    LabelSelector, LogLine, LogOptions, LogStream, Mount, NetworkAttachment, NetworkSpec,
    RemoveOutcome, RuntimeEventKind, StartOutcome, StopOutcome, UpdateOutcome, VolumeSpec,
};
use caas_core::units::MIB;
use caas_core::{ContainerRuntime, DeploymentId, Error, Result, ServiceId};
use chrono::Utc;
use futures::{FutureExt, StreamExt, TryStreamExt};

/// Longest a single behaviour may take (body only; cleanup comes on top).
pub const BEHAVIOUR_TIMEOUT: Duration = Duration::from_secs(120);

/// How long polling helpers wait for an engine to catch up (logs written, events delivered).
const SETTLE: Duration = Duration::from_secs(15);

/// Grace period for stops: busybox `sleep` as PID 1 ignores SIGTERM, so keep the kill quick.
const STOP: Duration = Duration::from_secs(1);

/// An image no registry has; pulling it must fail.
pub const MISSING_IMAGE: &str = "caas-test/does-not-exist:never";

/// Makes a container print lines on stdout: `(container id, lines)`. Only simulated engines,
/// which cannot run the container's command, need one.
pub type LogEmitter = Arc<dyn Fn(&str, &[&str]) + Send + Sync>;

/// What the runtime suite runs against.
pub struct RuntimeFixture {
    /// The backend under test.
    pub runtime: Arc<dyn ContainerRuntime>,
    /// A busybox-like image (`sh`, `sleep`, `echo`, `httpd`) present locally.
    pub image: String,
    /// Labels and names everything this fixture creates; unique per fixture.
    pub run_id: String,
    /// Makes a container print lines, for engines that do not run commands (see the module docs).
    pub emit_logs: Option<LogEmitter>,
}

impl fmt::Debug for RuntimeFixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeFixture")
            .field("runtime", &self.runtime)
            .field("image", &self.image)
            .field("run_id", &self.run_id)
            .field("emit_logs", &self.emit_logs.as_ref().map(|_| "<fn>"))
            .finish()
    }
}

impl RuntimeFixture {
    /// A fixture with a fresh run id and no log emitter.
    pub fn new(runtime: Arc<dyn ContainerRuntime>, image: impl Into<String>) -> Self {
        Self {
            runtime,
            image: image.into(),
            run_id: crate::env::run_id(),
            emit_logs: None,
        }
    }

    /// Sets the [`LogEmitter`] for engines that cannot run the container's command.
    pub fn with_log_emitter(
        mut self,
        emit: impl Fn(&str, &[&str]) + Send + Sync + 'static,
    ) -> Self {
        self.emit_logs = Some(Arc::new(emit));
        self
    }

    /// `caas.managed=true` and `caas.test-run=<run_id>`: what every object of the run carries.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::TEST_RUN.to_string(), self.run_id.clone()),
        ])
    }

    /// Selects every object of this run.
    pub fn selector(&self) -> LabelSelector {
        LabelSelector::default().with(labels::TEST_RUN, &self.run_id)
    }

    /// A name unique to this run: `caas-test-<run_id>-<suffix>`.
    pub fn name(&self, suffix: &str) -> String {
        format!("caas-test-{}-{suffix}", self.run_id)
    }

    /// A container spec that keeps running on busybox (`sleep 3600`), with the run's labels, a
    /// fresh `caas.deployment`, small limits and a short stop timeout.
    pub fn container_spec(&self, suffix: &str) -> ContainerSpec {
        let mut spec = ContainerSpec::new(self.name(suffix), self.image.clone());
        spec.command = Some(vec!["sleep".into(), "3600".into()]);
        spec.labels = self.labels();
        spec.labels.insert(labels::KIND.into(), "service".into());
        spec.labels
            .insert(labels::DEPLOYMENT.into(), DeploymentId::new().to_string());
        spec.limits = small_limits();
        spec.stop_timeout = STOP;
        spec
    }

    /// Removes every container (forced), network and volume carrying this run's label.
    /// Tries everything and returns the first error.
    pub async fn cleanup(&self) -> Result<()> {
        let rt = &self.runtime;
        let sel = self.selector();
        let mut first: Option<Error> = None;
        match rt.list_containers(&sel).await {
            Ok(cs) => {
                for c in cs {
                    if let Err(e) = rt.remove_container(&c.id, true).await {
                        first.get_or_insert(e);
                    }
                }
            }
            Err(e) => {
                first.get_or_insert(e);
            }
        }
        match rt.list_networks(&sel).await {
            Ok(ns) => {
                for n in ns {
                    if let Err(e) = rt.remove_network(&n.name).await {
                        first.get_or_insert(e);
                    }
                }
            }
            Err(e) => {
                first.get_or_insert(e);
            }
        }
        match rt.list_volumes(&sel).await {
            Ok(vs) => {
                for v in vs {
                    if let Err(e) = rt.remove_volume(&v.name).await {
                        first.get_or_insert(e);
                    }
                }
            }
            Err(e) => {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Runs a behaviour's body with a [`BEHAVIOUR_TIMEOUT`], then [`RuntimeFixture::cleanup`]
    /// whatever happened, then re-raises the body's panic (or panics on timeout, or on a failed
    /// cleanup after a passing body: leaked containers are a failure too).
    pub async fn scoped(&self, body: impl Future<Output = ()>) {
        let outcome =
            tokio::time::timeout(BEHAVIOUR_TIMEOUT, AssertUnwindSafe(body).catch_unwind()).await;
        let cleaned = self.cleanup().await;
        match outcome {
            Ok(Ok(())) => {
                if let Err(e) = cleaned {
                    panic!("cleanup of test run {} failed: {e}", self.run_id);
                }
            }
            Ok(Err(panic)) => {
                if let Err(e) = cleaned {
                    eprintln!("cleanup of test run {} failed as well: {e}", self.run_id);
                }
                std::panic::resume_unwind(panic)
            }
            Err(_) => panic!(
                "behaviour did not finish within {BEHAVIOUR_TIMEOUT:?} (cleanup: {cleaned:?})"
            ),
        }
    }
}

fn small_limits() -> ResourceLimits {
    ResourceLimits {
        cpu_millis: 250,
        memory_bytes: 64 * MIB,
        pids: 64,
    }
}

/// Creates a container that must not exist yet; returns its id.
async fn create(fx: &RuntimeFixture, spec: &ContainerSpec) -> String {
    match fx.runtime.create_container(spec).await {
        Ok(CreateOutcome::Created(id)) => {
            assert!(!id.is_empty(), "create returned an empty id");
            id
        }
        other => panic!(
            "create_container({}) should create it: {other:?}",
            spec.name
        ),
    }
}

/// Creates and starts a container; returns its id.
async fn create_started(fx: &RuntimeFixture, spec: &ContainerSpec) -> String {
    let id = create(fx, spec).await;
    let started = fx
        .runtime
        .start_container(&id)
        .await
        .expect("start_container");
    assert_eq!(
        started,
        StartOutcome::Started,
        "first start of {}",
        spec.name
    );
    id
}

/// Inspects a container that must exist.
async fn inspect(fx: &RuntimeFixture, id: &str) -> ContainerInfo {
    fx.runtime
        .inspect_container_opt(id)
        .await
        .expect("inspect_container_opt")
        .unwrap_or_else(|| panic!("container {id} should exist"))
}

/// Reads logs to the end; an error may come from the call or from the stream.
async fn read_logs(fx: &RuntimeFixture, id: &str, options: &LogOptions) -> Result<Vec<LogLine>> {
    fx.runtime.logs(id, options).await?.try_collect().await
}

/// Reads an archive to the end; an error may come from the call or from the stream.
async fn read_archive(fx: &RuntimeFixture, volume: &str, path: &str) -> Result<Vec<u8>> {
    let mut stream = fx.runtime.read_archive(volume, path).await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

fn expect_err<T: fmt::Debug>(what: &str, r: Result<T>, ok: impl Fn(&Error) -> bool) -> Error {
    match r {
        Err(e) if ok(&e) => e,
        other => panic!("{what}: unexpected result {other:?}"),
    }
}

fn assert_labels_kept(have: &BTreeMap<String, String>, want: &BTreeMap<String, String>) {
    for (k, v) in want {
        assert_eq!(have.get(k), Some(v), "label {k} not preserved: {have:?}");
    }
}

/// `CAP_CHOWN` and `chown` both mean `CHOWN`: engines differ in how they report capabilities.
fn capability(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    upper.strip_prefix("CAP_").unwrap_or(&upper).to_string()
}

/// The engine answers and says what it is.
pub async fn ping_reports_an_engine(fx: &RuntimeFixture) {
    fx.scoped(async {
        let info = fx.runtime.ping().await.expect("ping");
        assert!(!info.backend.is_empty(), "{info:?}");
        assert!(!info.version.is_empty(), "{info:?}");
    })
    .await
}

/// A container goes created → running → exited → gone, with its name, labels, env and limits
/// reported as requested.
pub async fn create_start_inspect_stop_remove_roundtrip(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let mut spec = fx.container_spec("roundtrip");
        spec.env
            .push(("CAAS_GREETING".into(), "hello world".into()));
        spec.limits = ResourceLimits {
            cpu_millis: 300,
            memory_bytes: 48 * MIB,
            pids: 80,
        };
        let before = Utc::now() - chrono::Duration::seconds(5);
        let id = create(fx, &spec).await;

        let info = inspect(fx, &id).await;
        assert_eq!(info.id, id);
        assert_eq!(info.name, spec.name);
        assert_eq!(info.status, ContainerStatus::Created);
        assert_eq!(info.started_at, None);
        assert_labels_kept(&info.labels, &spec.labels);
        assert_eq!(
            info.limits, spec.limits,
            "limits in force must be those requested"
        );
        assert!(
            info.env.iter().any(|e| e == "CAAS_GREETING=hello world"),
            "env not preserved: {:?}",
            info.env
        );
        let by_name = rt
            .inspect_container_opt(&spec.name)
            .await
            .expect("inspect by name");
        assert_eq!(by_name.map(|i| i.id), Some(id.clone()), "inspect by name");

        assert_eq!(
            rt.start_container(&id).await.expect("start"),
            StartOutcome::Started
        );
        let info = inspect(fx, &id).await;
        assert_eq!(info.status, ContainerStatus::Running);
        let started = info.started_at.expect("started_at set once running");
        assert!(
            started >= before && started <= Utc::now() + chrono::Duration::seconds(5),
            "started_at {started} is not now"
        );
        assert_eq!(info.limits, spec.limits);

        assert_eq!(
            rt.stop_container(&id, STOP).await.expect("stop"),
            StopOutcome::Stopped
        );
        let info = inspect(fx, &id).await;
        assert_eq!(info.status, ContainerStatus::Exited);
        assert!(info.finished_at.is_some(), "finished_at set once exited");
        let listed = rt.list_containers(&fx.selector()).await.expect("list");
        let summary = listed
            .iter()
            .find(|c| c.id == id)
            .expect("a stopped container is still listed");
        assert_eq!(summary.name, spec.name);
        assert_eq!(summary.status, ContainerStatus::Exited);
        assert_labels_kept(&summary.labels, &spec.labels);

        assert_eq!(
            rt.remove_container(&id, false).await.expect("remove"),
            RemoveOutcome::Removed
        );
        assert!(
            rt.inspect_container_opt(&id)
                .await
                .expect("inspect")
                .is_none()
        );
        let listed = rt.list_containers(&fx.selector()).await.expect("list");
        assert!(
            listed.iter().all(|c| c.id != id),
            "removed container still listed"
        );
    })
    .await
}

/// Creating the same spec (same name, same `caas.deployment`) twice reports `AlreadyExists`
/// with the first container's id.
pub async fn create_is_idempotent_for_the_same_deployment(fx: &RuntimeFixture) {
    fx.scoped(async {
        let spec = fx.container_spec("idem");
        let id = create(fx, &spec).await;
        let again = fx
            .runtime
            .create_container(&spec)
            .await
            .expect("second create");
        assert_eq!(again, CreateOutcome::AlreadyExists(id));
        let listed = fx
            .runtime
            .list_containers(&fx.selector())
            .await
            .expect("list");
        assert_eq!(listed.len(), 1, "exactly one container: {listed:?}");
    })
    .await
}

/// The same name with another `caas.deployment` is a `Conflict`; the first container stays.
pub async fn create_with_same_name_other_deployment_conflicts(fx: &RuntimeFixture) {
    fx.scoped(async {
        let spec = fx.container_spec("clash");
        let id = create(fx, &spec).await;
        let mut other = spec.clone();
        other
            .labels
            .insert(labels::DEPLOYMENT.into(), DeploymentId::new().to_string());
        let r = fx.runtime.create_container(&other).await;
        expect_err("same name, other deployment", r, Error::is_conflict);
        let info = inspect(fx, &spec.name).await;
        assert_eq!(info.id, id);
        assert_eq!(
            info.labels.get(labels::DEPLOYMENT),
            spec.labels.get(labels::DEPLOYMENT)
        );
    })
    .await
}

/// A missing image or network is `NotFound`, and nothing is left behind.
pub async fn create_with_missing_image_or_network_reports_not_found(fx: &RuntimeFixture) {
    fx.scoped(async {
        let mut spec = fx.container_spec("noimage");
        spec.image = MISSING_IMAGE.into();
        let r = fx.runtime.create_container(&spec).await;
        expect_err("missing image", r, Error::is_not_found);

        let mut spec = fx.container_spec("nonet");
        spec.networks = vec![NetworkAttachment {
            network: fx.name("no-such-network"),
            aliases: vec![],
        }];
        let r = fx.runtime.create_container(&spec).await;
        expect_err("missing network", r, Error::is_not_found);

        let left = fx
            .runtime
            .list_containers(&fx.selector())
            .await
            .expect("list");
        assert!(left.is_empty(), "failed creates left containers: {left:?}");
    })
    .await
}

/// Starting a running container reports `AlreadyRunning`.
pub async fn start_twice_reports_already_running(fx: &RuntimeFixture) {
    fx.scoped(async {
        let id = create_started(fx, &fx.container_spec("start2")).await;
        let first = inspect(fx, &id).await.started_at;
        let again = fx.runtime.start_container(&id).await.expect("second start");
        assert_eq!(again, StartOutcome::AlreadyRunning);
        let info = inspect(fx, &id).await;
        assert_eq!(info.status, ContainerStatus::Running);
        assert_eq!(info.started_at, first, "a second start must not restart it");
    })
    .await
}

/// Stopping a stopped (or never started) container reports `AlreadyStopped`.
pub async fn stop_twice_reports_already_stopped(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let fresh = create(fx, &fx.container_spec("never-started")).await;
        assert_eq!(
            rt.stop_container(&fresh, STOP).await.expect("stop created"),
            StopOutcome::AlreadyStopped
        );

        let id = create_started(fx, &fx.container_spec("stop2")).await;
        assert_eq!(
            rt.stop_container(&id, STOP).await.expect("stop"),
            StopOutcome::Stopped
        );
        assert_eq!(
            rt.stop_container(&id, STOP).await.expect("second stop"),
            StopOutcome::AlreadyStopped
        );
        assert_eq!(inspect(fx, &id).await.status, ContainerStatus::Exited);
    })
    .await
}

/// A restart leaves the same container running, started again.
pub async fn restart_runs_the_container_again(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let id = create_started(fx, &fx.container_spec("restart")).await;
        let first = inspect(fx, &id).await.started_at.expect("started_at");
        rt.stop_container(&id, STOP).await.expect("stop");
        rt.restart_container(&id, STOP)
            .await
            .expect("restart a stopped one");
        let info = inspect(fx, &id).await;
        assert_eq!(info.status, ContainerStatus::Running);
        assert!(info.started_at.expect("started_at") >= first);
        rt.restart_container(&id, STOP)
            .await
            .expect("restart a running one");
        let info = inspect(fx, &id).await;
        assert_eq!(info.id, id);
        assert_eq!(info.status, ContainerStatus::Running);
    })
    .await
}

/// Removing a container that does not exist reports `NotFound`, forced or not.
pub async fn remove_missing_reports_not_found(fx: &RuntimeFixture) {
    fx.scoped(async {
        let missing = fx.name("missing");
        for force in [false, true] {
            let r = fx.runtime.remove_container(&missing, force).await;
            assert_eq!(
                r.expect("remove missing"),
                RemoveOutcome::NotFound,
                "force={force}"
            );
        }
    })
    .await
}

/// Start, stop, restart, update, logs and stats of a missing container are `NotFound`.
pub async fn operations_on_a_missing_container_report_not_found(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let missing = fx.name("missing");
        let nf = Error::is_not_found;
        expect_err("start", rt.start_container(&missing).await, nf);
        expect_err("stop", rt.stop_container(&missing, STOP).await, nf);
        expect_err("restart", rt.restart_container(&missing, STOP).await, nf);
        expect_err(
            "update",
            rt.update_limits(&missing, &small_limits()).await,
            nf,
        );
        expect_err(
            "logs",
            read_logs(fx, &missing, &LogOptions::tail(5)).await,
            nf,
        );
        expect_err("stats", rt.stats_once(&missing).await, nf);
    })
    .await
}

/// Removing a running container without force is a `Conflict` and leaves it running; with
/// force it goes.
pub async fn remove_running_without_force_conflicts(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let id = create_started(fx, &fx.container_spec("busy")).await;
        expect_err(
            "remove running",
            rt.remove_container(&id, false).await,
            Error::is_conflict,
        );
        assert_eq!(inspect(fx, &id).await.status, ContainerStatus::Running);
        assert_eq!(
            rt.remove_container(&id, true).await.expect("forced remove"),
            RemoveOutcome::Removed
        );
        assert!(
            rt.inspect_container_opt(&id)
                .await
                .expect("inspect")
                .is_none()
        );
    })
    .await
}

/// Inspecting a missing container, network or volume is `None`, not an error.
pub async fn inspect_missing_is_none(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let missing = fx.name("missing");
        assert!(
            rt.inspect_container_opt(&missing)
                .await
                .expect("container")
                .is_none()
        );
        assert!(
            rt.inspect_network_opt(&missing)
                .await
                .expect("network")
                .is_none()
        );
        assert!(
            rt.inspect_volume_opt(&missing)
                .await
                .expect("volume")
                .is_none()
        );
    })
    .await
}

/// Listing returns running and stopped containers, exactly those the selector matches.
pub async fn list_filters_by_labels(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let (svc_a, svc_b) = (ServiceId::new().to_string(), ServiceId::new().to_string());
        let mut a = fx.container_spec("list-a");
        a.labels.insert(labels::SERVICE.into(), svc_a.clone());
        let mut b = fx.container_spec("list-b");
        b.labels.insert(labels::SERVICE.into(), svc_b.clone());
        let id_a = create_started(fx, &a).await;
        let id_b = create(fx, &b).await;

        let ids = |v: Vec<caas_core::ports::runtime::ContainerSummary>| -> BTreeSet<String> {
            v.into_iter().map(|c| c.id).collect()
        };
        let all = rt.list_containers(&fx.selector()).await.expect("list run");
        assert_eq!(ids(all), BTreeSet::from([id_a.clone(), id_b.clone()]));
        let only_a = rt
            .list_containers(&fx.selector().with(labels::SERVICE, &svc_a))
            .await
            .expect("list a");
        assert_eq!(only_a.len(), 1, "{only_a:?}");
        assert_eq!(only_a[0].id, id_a);
        assert_eq!(only_a[0].status, ContainerStatus::Running);
        let only_b = rt
            .list_containers(&fx.selector().with(labels::SERVICE, &svc_b))
            .await
            .expect("list b");
        assert_eq!(ids(only_b), BTreeSet::from([id_b.clone()]));
        let with_service = rt
            .list_containers(&fx.selector().has(labels::SERVICE))
            .await
            .expect("list has");
        assert_eq!(ids(with_service), BTreeSet::from([id_a, id_b]));
        let none = rt
            .list_containers(&fx.selector().with(labels::SERVICE, "no-such-service"))
            .await
            .expect("list none");
        assert!(none.is_empty(), "{none:?}");
        let none = rt
            .list_containers(&fx.selector().has("caas.no-such-label"))
            .await
            .expect("list has none");
        assert!(none.is_empty(), "{none:?}");
    })
    .await
}

/// Every container gets the hardened default, and no capability outside the allowlist.
pub async fn hardened_defaults_are_applied(fx: &RuntimeFixture) {
    fx.scoped(async {
        let allowed: BTreeSet<String> =
            ALLOWED_CAPABILITIES.iter().map(|c| capability(c)).collect();
        let check = |info: &ContainerInfo| {
            let s = &info.security;
            assert!(!s.privileged, "privileged: {s:?}");
            assert!(
                s.cap_drop.iter().any(|c| capability(c) == "ALL"),
                "CapDrop ALL: {s:?}"
            );
            for c in &s.cap_add {
                assert!(
                    allowed.contains(&capability(c)),
                    "capability {c} not allowed: {s:?}"
                );
            }
            assert!(s.no_new_privileges, "no-new-privileges: {s:?}");
            assert_ne!(s.network_mode, "host", "{s:?}");
            assert_ne!(s.pid_mode, "host", "{s:?}");
            assert_ne!(s.ipc_mode, "host", "{s:?}");
            assert!(s.bind_mounts.is_empty(), "bind mounts: {s:?}");
        };

        let id = create_started(fx, &fx.container_spec("hardened")).await;
        check(&inspect(fx, &id).await);

        let mut greedy = fx.container_spec("greedy");
        greedy.security.cap_add = vec!["SYS_ADMIN".into(), "NET_BIND_SERVICE".into()];
        match fx.runtime.create_container(&greedy).await {
            // Refusing is fine; granting is not.
            Err(e) if e.is_invalid_input() => {}
            Ok(CreateOutcome::Created(id)) => {
                let info = inspect(fx, &id).await;
                check(&info);
                assert!(
                    info.security
                        .cap_add
                        .iter()
                        .all(|c| capability(c) != "SYS_ADMIN"),
                    "SYS_ADMIN was granted: {:?}",
                    info.security
                );
            }
            other => panic!("create with SYS_ADMIN: {other:?}"),
        }
    })
    .await
}

/// Limits change on the running container without restarting it; invalid limits are refused.
pub async fn update_limits_applies_live(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let id = create_started(fx, &fx.container_spec("update")).await;
        let before = inspect(fx, &id).await;
        let new = ResourceLimits {
            cpu_millis: 500,
            memory_bytes: 96 * MIB,
            pids: 128,
        };
        assert_eq!(
            rt.update_limits(&id, &new).await.expect("update"),
            UpdateOutcome::Live
        );
        let after = inspect(fx, &id).await;
        assert_eq!(after.limits, new);
        assert_eq!(after.id, before.id);
        assert_eq!(after.status, ContainerStatus::Running);
        assert_eq!(
            after.started_at, before.started_at,
            "a live update must not restart"
        );

        let invalid = ResourceLimits {
            memory_bytes: MIB,
            ..new
        };
        let r = rt.update_limits(&id, &invalid).await;
        expect_err("1 MiB of memory", r, Error::is_invalid_input);
        assert_eq!(
            inspect(fx, &id).await.limits,
            new,
            "a refused update changes nothing"
        );
    })
    .await
}

/// Networks: create, create again (`AlreadyExists`, same id), other labels (`Conflict`),
/// inspect, list, remove, remove again (`NotFound`).
pub async fn networks_create_is_idempotent_and_remove_reports_missing(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let name = fx.name("net");
        let spec = NetworkSpec::new(&name, fx.labels());
        let id = match rt.create_network(&spec).await.expect("create network") {
            CreateOutcome::Created(id) => id,
            other => panic!("first create: {other:?}"),
        };
        assert_eq!(
            rt.create_network(&spec).await.expect("create again"),
            CreateOutcome::AlreadyExists(id.clone())
        );
        let mut other = spec.clone();
        other
            .labels
            .insert(labels::KIND.into(), "something-else".into());
        expect_err(
            "other labels",
            rt.create_network(&other).await,
            Error::is_conflict,
        );

        let info = rt
            .inspect_network_opt(&name)
            .await
            .expect("inspect")
            .expect("network exists");
        assert_eq!(info.id, id);
        assert_eq!(info.name, name);
        assert_labels_kept(&info.labels, &spec.labels);
        let listed = rt.list_networks(&fx.selector()).await.expect("list");
        assert_eq!(
            listed.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
            [name.as_str()]
        );
        let none = rt
            .list_networks(&fx.selector().has("caas.no-such-label"))
            .await
            .expect("list none");
        assert!(none.is_empty(), "{none:?}");

        assert_eq!(
            rt.remove_network(&name).await.expect("remove"),
            RemoveOutcome::Removed
        );
        assert!(
            rt.inspect_network_opt(&name)
                .await
                .expect("inspect")
                .is_none()
        );
        assert_eq!(
            rt.remove_network(&name).await.expect("remove again"),
            RemoveOutcome::NotFound
        );
    })
    .await
}

/// A container joins its network (with an alias) and gets an address there once running; the
/// network cannot be removed under it.
pub async fn container_joins_network_with_alias_and_gets_an_address(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let net = fx.name("appnet");
        rt.create_network(&NetworkSpec::new(&net, fx.labels()))
            .await
            .expect("create network");
        let mut spec = fx.container_spec("member");
        spec.networks = vec![NetworkAttachment {
            network: net.clone(),
            aliases: vec!["db".into()],
        }];
        let id = create_started(fx, &spec).await;
        let info = inspect(fx, &id).await;
        let ip = info
            .ip_addresses
            .get(&net)
            .unwrap_or_else(|| panic!("no address on {net}: {:?}", info.ip_addresses));
        assert!(
            ip.parse::<std::net::IpAddr>().is_ok(),
            "address on {net} is not an IP: {ip:?}"
        );
        assert_ne!(info.security.network_mode, "host");
        expect_err(
            "remove network in use",
            rt.remove_network(&net).await,
            Error::is_conflict,
        );
        assert!(
            rt.inspect_network_opt(&net)
                .await
                .expect("inspect")
                .is_some()
        );
    })
    .await
}

/// Volumes: create, create again (`AlreadyExists`), inspect, list, usage, remove, remove again.
pub async fn volumes_create_inspect_list_remove(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let name = fx.name("vol");
        let mut spec = VolumeSpec::new(&name, fx.labels());
        spec.labels.insert(labels::KIND.into(), "volume".into());
        assert_eq!(
            rt.create_volume(&spec).await.expect("create volume"),
            CreateOutcome::Created(name.clone())
        );
        let again = rt.create_volume(&spec).await.expect("create again");
        assert!(
            matches!(again, CreateOutcome::AlreadyExists(_)),
            "{again:?}"
        );
        let info = rt
            .inspect_volume_opt(&name)
            .await
            .expect("inspect")
            .expect("volume exists");
        assert_eq!(info.name, name);
        assert_eq!(info.driver, "local");
        assert_labels_kept(&info.labels, &spec.labels);
        let listed = rt.list_volumes(&fx.selector()).await.expect("list");
        assert_eq!(
            listed.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
            [name.as_str()]
        );
        let none = rt
            .list_volumes(&fx.selector().has("caas.no-such-label"))
            .await
            .expect("list none");
        assert!(none.is_empty(), "{none:?}");
        if let Some(used) = rt.volume_usage(&name).await.expect("usage") {
            assert!(used < MIB, "an empty volume uses {used} bytes");
        }

        assert_eq!(
            rt.remove_volume(&name).await.expect("remove"),
            RemoveOutcome::Removed
        );
        assert!(
            rt.inspect_volume_opt(&name)
                .await
                .expect("inspect")
                .is_none()
        );
        assert_eq!(
            rt.remove_volume(&name).await.expect("remove again"),
            RemoveOutcome::NotFound
        );
        expect_err(
            "usage of a missing volume",
            rt.volume_usage(&name).await,
            Error::is_not_found,
        );
    })
    .await
}

/// A volume mounted by a container (even a stopped one) cannot be removed until the container
/// is gone.
pub async fn volume_in_use_cannot_be_removed(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let vol = fx.name("data");
        rt.create_volume(&VolumeSpec::new(&vol, fx.labels()))
            .await
            .expect("create volume");
        let mut spec = fx.container_spec("user");
        let mount = Mount {
            volume: vol.clone(),
            target: "/data".into(),
            read_only: false,
        };
        spec.mounts = vec![mount.clone()];
        let id = create_started(fx, &spec).await;
        let info = inspect(fx, &id).await;
        assert!(
            info.mounts.contains(&mount),
            "mount not reported: {:?}",
            info.mounts
        );

        expect_err(
            "remove in use",
            rt.remove_volume(&vol).await,
            Error::is_conflict,
        );
        rt.stop_container(&id, STOP).await.expect("stop");
        expect_err(
            "remove in use by a stopped one",
            rt.remove_volume(&vol).await,
            Error::is_conflict,
        );
        assert!(
            rt.inspect_volume_opt(&vol)
                .await
                .expect("inspect")
                .is_some()
        );

        rt.remove_container(&id, false)
            .await
            .expect("remove container");
        assert_eq!(
            rt.remove_volume(&vol).await.expect("remove"),
            RemoveOutcome::Removed
        );
    })
    .await
}

/// A tar of `(name, contents)` entries, names written verbatim (`./` kept: `tar -C dir -c .`
/// writes such names, and the `tar` crate's own path setter would drop it); `None` contents make
/// a directory.
fn tar_of(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        let raw = name.as_bytes();
        assert!(raw.len() < 100, "test entry name too long: {name}");
        h.as_old_mut().name[..raw.len()].copy_from_slice(raw);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let data = data.unwrap_or_default();
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
        }
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).expect("tar entry");
    }
    b.into_inner().expect("tar")
}

/// Entries of a tar: normalized name (no `./`, no trailing `/`) → contents (`None` for dirs).
fn untar(bytes: &[u8]) -> BTreeMap<String, Option<Vec<u8>>> {
    use std::io::Read;
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().expect("read tar") {
        let mut entry = entry.expect("tar entry");
        let raw = entry
            .path()
            .expect("entry path")
            .to_string_lossy()
            .to_string();
        let name = raw.trim_start_matches("./").trim_matches('/').to_string();
        if name.is_empty() || name == "." {
            continue;
        }
        let contents = match entry.header().entry_type() {
            tar::EntryType::Directory => None,
            _ => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).expect("entry contents");
                Some(data)
            }
        };
        out.insert(name, contents);
    }
    out
}

fn one_chunk(bytes: Vec<u8>) -> caas_core::ports::runtime::ByteStream {
    futures::stream::iter([Ok(Bytes::from(bytes))]).boxed()
}

/// A tar written into a volume reads back with the same names and byte-identical contents;
/// paths inside the volume work for both directions.
pub async fn archive_roundtrip_preserves_files(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let vol = fx.name("archive");
        rt.create_volume(&VolumeSpec::new(&vol, fx.labels()))
            .await
            .expect("create volume");
        let config = b"[server]\nport = 8080\nname = \"caas \xc3\xa9t\xc3\xa9\"\n".to_vec();
        let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let tar = tar_of(&[
            ("conf/", None),
            ("conf/app.toml", Some(&config)),
            ("data.bin", Some(&binary)),
        ]);
        rt.write_archive(&vol, "/", one_chunk(tar))
            .await
            .expect("write archive");

        let expected = BTreeMap::from([
            ("conf".to_string(), None),
            ("conf/app.toml".to_string(), Some(config.clone())),
            ("data.bin".to_string(), Some(binary.clone())),
        ]);
        let all = untar(&read_archive(fx, &vol, "/").await.expect("read /"));
        assert_eq!(
            all.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>()
        );
        assert!(all == expected, "contents differ after a round trip");

        let extra = tar_of(&[("extra.txt", Some(b"more\n".as_slice()))]);
        rt.write_archive(&vol, "/conf", one_chunk(extra))
            .await
            .expect("write into a directory");
        let conf = untar(&read_archive(fx, &vol, "conf").await.expect("read conf"));
        let want = BTreeMap::from([
            ("conf".to_string(), None),
            ("conf/app.toml".to_string(), Some(config)),
            ("conf/extra.txt".to_string(), Some(b"more\n".to_vec())),
        ]);
        assert!(
            conf == want,
            "reading a directory: {:?}",
            conf.keys().collect::<Vec<_>>()
        );
    })
    .await
}

/// Entries named `./x` (as `tar -C dir -c .` writes them) land at `x`: the volume holds the
/// same paths whichever way the tar spelled them.
pub async fn archive_entries_with_dot_prefixes_land_at_their_paths(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let vol = fx.name("dotted");
        rt.create_volume(&VolumeSpec::new(&vol, fx.labels()))
            .await
            .expect("create volume");
        let tar = tar_of(&[
            ("./", None),
            ("./site/", None),
            ("./site/index.html", Some(b"<h1>hi</h1>\n".as_slice())),
            ("./README", Some(b"readme\n".as_slice())),
        ]);
        rt.write_archive(&vol, "/", one_chunk(tar))
            .await
            .expect("write archive");

        let site = untar(&read_archive(fx, &vol, "site").await.expect("read site"));
        let want = BTreeMap::from([
            ("site".to_string(), None),
            (
                "site/index.html".to_string(),
                Some(b"<h1>hi</h1>\n".to_vec()),
            ),
        ]);
        assert_eq!(site, want);
        let all = untar(&read_archive(fx, &vol, "/").await.expect("read /"));
        let names: Vec<&str> = all.keys().map(String::as_str).collect();
        assert_eq!(names, ["README", "site", "site/index.html"]);
    })
    .await
}

/// Archives of a missing volume or path are `NotFound`; bytes that are not a tar are
/// `InvalidInput`.
pub async fn archive_errors_name_what_is_wrong(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let missing = fx.name("no-such-volume");
        expect_err(
            "read missing volume",
            read_archive(fx, &missing, "/").await,
            Error::is_not_found,
        );
        let tar = tar_of(&[("a.txt", Some(b"a".as_slice()))]);
        let r = rt.write_archive(&missing, "/", one_chunk(tar)).await;
        expect_err("write missing volume", r, Error::is_not_found);

        let vol = fx.name("archive-errors");
        rt.create_volume(&VolumeSpec::new(&vol, fx.labels()))
            .await
            .expect("create volume");
        let r = read_archive(fx, &vol, "no/such/path").await;
        expect_err("read missing path", r, Error::is_not_found);
        let r = rt
            .write_archive(&vol, "/", one_chunk(vec![b'A'; 1024]))
            .await;
        expect_err("write garbage", r, Error::is_invalid_input);
    })
    .await
}

/// `tail` returns the last lines, in order, without newlines, from stdout.
pub async fn logs_tail_returns_last_lines(fx: &RuntimeFixture) {
    fx.scoped(async {
        let mut spec = fx.container_spec("logs");
        spec.command = Some(vec![
            "sh".into(),
            "-c".into(),
            "for i in 1 2 3 4 5; do echo line$i; done; sleep 3600".into(),
        ]);
        let id = create_started(fx, &spec).await;
        let expected = ["line1", "line2", "line3", "line4", "line5"];
        if let Some(emit) = &fx.emit_logs {
            emit(&id, &expected);
        }
        let texts = |v: &[LogLine]| v.iter().map(|l| l.text.clone()).collect::<Vec<_>>();

        // The command runs asynchronously: wait until all five lines are there.
        let deadline = tokio::time::Instant::now() + SETTLE;
        let all = loop {
            let all = read_logs(fx, &id, &LogOptions::default())
                .await
                .expect("logs");
            if all.len() >= expected.len() || tokio::time::Instant::now() > deadline {
                break all;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(texts(&all), expected);
        assert!(all.iter().all(|l| l.stream == LogStream::Stdout), "{all:?}");

        let tail = read_logs(fx, &id, &LogOptions::tail(2))
            .await
            .expect("tail 2");
        assert_eq!(texts(&tail), ["line4", "line5"]);
        let tail = read_logs(fx, &id, &LogOptions::tail(10))
            .await
            .expect("tail 10");
        assert_eq!(texts(&tail), expected);
        let tail = read_logs(fx, &id, &LogOptions::tail(0))
            .await
            .expect("tail 0");
        assert!(tail.is_empty(), "tail 0: {tail:?}");
    })
    .await
}

/// One stats reading of a running container reports its memory limit; a container that is not
/// running has no stats (`Conflict`).
pub async fn stats_once_reports_memory_limit(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let spec = fx.container_spec("stats");
        let id = create(fx, &spec).await;
        expect_err(
            "stats of a created container",
            rt.stats_once(&id).await,
            Error::is_conflict,
        );
        rt.start_container(&id).await.expect("start");
        let stats = rt.stats_once(&id).await.expect("stats");
        assert_eq!(
            stats.memory_limit_bytes, spec.limits.memory_bytes,
            "{stats:?}"
        );
        assert!(stats.online_cpus >= 1, "{stats:?}");
        assert!(stats.pids >= 1, "{stats:?}");
        let age = Utc::now() - stats.at;
        assert!(
            age.num_seconds().abs() < 60,
            "reading time {} is not now",
            stats.at
        );
    })
    .await
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The events stream reports a container's start and exit, only for containers matching the
/// selector, with their labels.
pub async fn events_stream_reports_start_and_die(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let mut events = rt.events(&fx.selector()).await.expect("events");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // Poll from now on: engines whose stream connects lazily subscribe on the first poll.
        let _collector = AbortOnDrop(tokio::spawn(async move {
            while let Some(ev) = events.next().await {
                if tx.send(ev).is_err() {
                    break;
                }
            }
        }));
        tokio::time::sleep(Duration::from_millis(300)).await;

        let spec = fx.container_spec("events");
        let id = create(fx, &spec).await;
        let (mut started, mut died) = (false, false);
        // A subscription that becomes live late misses the first cycle; the next one must show.
        for _attempt in 0..3 {
            rt.start_container(&id).await.expect("start");
            rt.stop_container(&id, STOP).await.expect("stop");
            let deadline = tokio::time::Instant::now() + SETTLE;
            while !(started && died) {
                let ev = match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(ev)) => ev.expect("event"),
                    Ok(None) => panic!("the events stream ended"),
                    Err(_) => break,
                };
                assert!(
                    fx.selector().matches(&ev.labels),
                    "event for a container outside the selector: {ev:?}"
                );
                if ev.container_id == id {
                    assert_labels_kept(&ev.labels, &spec.labels);
                    match ev.kind {
                        RuntimeEventKind::Start => started = true,
                        RuntimeEventKind::Die { .. } => died = started,
                        _ => {}
                    }
                }
            }
            if started && died {
                break;
            }
        }
        assert!(started, "no start event for {id}");
        assert!(died, "no die event after the start of {id}");
    })
    .await
}

/// The test image is present, a missing one is not, and pulling a missing one fails with
/// `NotFound` or `Unavailable` naming the image.
pub async fn image_present_and_pull_missing_names_the_image(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        assert!(
            rt.image_present(&fx.image).await.expect("image_present"),
            "{} present",
            fx.image
        );
        assert!(
            !rt.image_present(MISSING_IMAGE)
                .await
                .expect("image_present missing")
        );
        let e = expect_err("pull missing", rt.pull_image(MISSING_IMAGE).await, |e| {
            e.is_not_found() || e.is_unavailable()
        });
        assert!(
            e.to_string().contains("caas-test/does-not-exist"),
            "the error should name the image: {e}"
        );
        assert!(
            !rt.image_present(MISSING_IMAGE)
                .await
                .expect("image_present after pull")
        );
    })
    .await
}

/// Expands into one `#[tokio::test]` per behaviour of the runtime suite.
///
/// `$make` is an expression evaluating to a future of `Option<RuntimeFixture>`, evaluated once
/// per test; it must build a fresh fixture each time ([`RuntimeFixture::new`] draws a fresh run
/// id), since every test cleans up everything labelled with its run id. `None` means the
/// backend's service is not available and the test returns early: the setup code decides, with
/// [`crate::env`], whether that is a skip (developer machine) or a panic (CI).
///
/// The calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a dev-dependency.
///
/// ```text
/// caas_testkit::runtime_suite!(docker_fixture());
/// ```
#[macro_export]
macro_rules! runtime_suite {
    ($make:expr) => {
        $crate::runtime_suite!(@tests $make;
            ping_reports_an_engine,
            create_start_inspect_stop_remove_roundtrip,
            create_is_idempotent_for_the_same_deployment,
            create_with_same_name_other_deployment_conflicts,
            create_with_missing_image_or_network_reports_not_found,
            start_twice_reports_already_running,
            stop_twice_reports_already_stopped,
            restart_runs_the_container_again,
            remove_missing_reports_not_found,
            operations_on_a_missing_container_report_not_found,
            remove_running_without_force_conflicts,
            inspect_missing_is_none,
            list_filters_by_labels,
            hardened_defaults_are_applied,
            update_limits_applies_live,
            networks_create_is_idempotent_and_remove_reports_missing,
            container_joins_network_with_alias_and_gets_an_address,
            volumes_create_inspect_list_remove,
            volume_in_use_cannot_be_removed,
            archive_roundtrip_preserves_files,
            archive_entries_with_dot_prefixes_land_at_their_paths,
            archive_errors_name_what_is_wrong,
            logs_tail_returns_last_lines,
            stats_once_reports_memory_limit,
            events_stream_reports_start_and_die,
            image_present_and_pull_missing_names_the_image,
        );
    };
    (@tests $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture: ::std::option::Option<$crate::runtime::RuntimeFixture> = $make.await;
                let ::std::option::Option::Some(fixture) = fixture else {
                    return;
                };
                $crate::runtime::$name(&fixture).await;
            }
        )+
    };
}
