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

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use caas_core::labels;
use caas_core::model::ResourceLimits;
use caas_core::ports::runtime::{
    ContainerInfo, ContainerSpec, CreateOutcome, LabelSelector, LogLine, LogOptions, StartOutcome,
};
use caas_core::units::MIB;
use caas_core::{ContainerRuntime, DeploymentId, Error, Result};
use futures::{FutureExt, StreamExt, TryStreamExt};

mod containers;
mod observability;
mod storage;

pub use containers::*;
pub use observability::*;
pub use storage::*;

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
            pause_and_unpause_or_unsupported,
            exec_streams_input_and_output_or_unsupported,
            remove_missing_reports_not_found,
            operations_on_a_missing_container_report_not_found,
            remove_running_without_force_conflicts,
            inspect_missing_is_none,
            list_filters_by_labels,
            hardened_defaults_are_applied,
            update_limits_applies_live,
            replicas_beyond_the_capability_are_refused,
            upstream_hosts_name_a_running_container,
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
