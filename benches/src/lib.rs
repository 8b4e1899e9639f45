//! What the caas-rs benchmarks share: the result lines the harness reads, medians and
//! percentiles, the test environment's services, and a throw-away PostgreSQL schema.
//!
//! Every end-to-end bench prints, per goal, one line for people and one for
//! `scripts/bench.sh` (its fields separated by tabs, shown here as →):
//!
//! ```text
//! P1 deploy p50: ours 412 ms, raw bollard create+start 380 ms, ratio 1.08 (goal <= 1.10): met
//! bench-result→P1→deploy p50→<= 1.10→412 ms→380 ms→1.08→met
//! ```
//!
//! A goal whose service is missing is printed as `not measured` (never as met): outside CI
//! the bench then exits 0; in CI (`CI` set) it panics, as the integration tests do.

use std::str::FromStr;
use std::time::Duration;

use caas_docker::{DockerConnection, DockerRuntime};
use caas_postgres::PgStore;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The prefix of the machine-readable result lines.
pub const RESULT_PREFIX: &str = "bench-result";

/// What a figure must reach.
#[derive(Debug, Clone, PartialEq)]
pub enum Goal {
    /// ours / baseline (or baseline / ours for rates, as the figure says) at most this.
    RatioAtMost(f64),
    /// The ratio at least this.
    RatioAtLeast(f64),
    /// A property the bench checks itself (`p50 < 100 ms`, `0 failed requests`).
    Property {
        /// The goal as written in the issue.
        text: String,
        /// Whether this run met it.
        met: bool,
    },
}

impl Goal {
    /// The goal as shown in the table.
    pub fn text(&self) -> String {
        match self {
            Goal::RatioAtMost(g) => format!("<= {g:.2}"),
            Goal::RatioAtLeast(g) => format!(">= {g:.2}"),
            Goal::Property { text, .. } => text.clone(),
        }
    }

    /// Whether `ratio` meets the goal.
    pub fn met(&self, ratio: f64) -> bool {
        match self {
            Goal::RatioAtMost(g) => ratio.is_finite() && ratio <= *g,
            Goal::RatioAtLeast(g) => ratio.is_finite() && ratio >= *g,
            Goal::Property { met, .. } => *met,
        }
    }
}

/// One measured figure: ours next to its baseline.
#[derive(Debug, Clone)]
pub struct Figure {
    /// The goal's id in the benchmarks issue (`P1`).
    pub id: String,
    /// What is measured (`deploy p50`).
    pub what: String,
    /// Our figure with its unit.
    pub ours: String,
    /// What the baseline is (`raw bollard create+start`).
    pub baseline_name: String,
    /// The baseline's figure with its unit.
    pub baseline: String,
    /// The ratio the goal is about.
    pub ratio: f64,
    /// The goal.
    pub goal: Goal,
}

impl Figure {
    /// Prints the human line and the harness line.
    pub fn print(&self) {
        let verdict = if self.goal.met(self.ratio) {
            "met"
        } else {
            "missed"
        };
        println!(
            "{} {}: ours {}, {} {}, ratio {:.2} (goal {}): {verdict}",
            self.id,
            self.what,
            self.ours,
            self.baseline_name,
            self.baseline,
            self.ratio,
            self.goal.text()
        );
        println!(
            "{RESULT_PREFIX}\t{}\t{}\t{}\t{}\t{}\t{:.2}\t{verdict}",
            self.id,
            self.what,
            self.goal.text(),
            self.ours,
            self.baseline,
            self.ratio
        );
    }
}

/// Prints a goal that could not be measured, and why.
pub fn not_measured(id: &str, what: &str, goal: &str, reason: &str) {
    println!("{id} {what}: not measured: {reason}");
    println!("{RESULT_PREFIX}\t{id}\t{what}\t{goal}\t-\t-\t-\tnot measured: {reason}");
}

/// The test-environment variable `name` (from the environment or the file
/// `scripts/test-env.sh` writes). When it is missing: panics in CI; elsewhere prints every
/// goal of `goals` (`(id, what, goal)`) as not measured and returns `None`.
pub fn require(name: &str, what: &str, goals: &[(&str, &str, &str)]) -> Option<String> {
    if let Some(v) = caas_testkit::env::var(name) {
        return Some(v);
    }
    let reason = format!("{what} not configured ({name} unset; run scripts/test-env.sh)");
    assert!(!caas_testkit::env::in_ci(), "{reason}");
    for (id, w, goal) in goals {
        not_measured(id, w, goal, &reason);
    }
    None
}

/// Like [`require`] for a service that is configured but does not answer.
pub fn unavailable(what: &str, err: impl std::fmt::Display, goals: &[(&str, &str, &str)]) {
    let reason = format!("{what} not reachable: {err}");
    assert!(!caas_testkit::env::in_ci(), "{reason}");
    for (id, w, goal) in goals {
        not_measured(id, w, goal, &reason);
    }
}

/// Logs the libraries' `tracing` events to stderr when `RUST_LOG` is set (e.g.
/// `RUST_LOG=caas_core=debug`), for finding out where a bench's time goes or why it hangs.
pub fn log_from_env() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
}

/// The median of `v` (the upper one of an even count).
pub fn median(v: &[Duration]) -> Duration {
    percentile(v, 50.0)
}

/// The `p`-th percentile of `v` (nearest rank). Panics on an empty slice.
pub fn percentile(v: &[Duration], p: f64) -> Duration {
    assert!(!v.is_empty(), "no samples");
    let mut s = v.to_vec();
    s.sort();
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// The median of plain numbers (the upper one of an even count). Panics on an empty slice.
pub fn median_f64(v: &[f64]) -> f64 {
    assert!(!v.is_empty(), "no samples");
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

/// Milliseconds with one decimal (`412.3 ms`).
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// A whole number from the environment variable `name` (a bench's size knob), else `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A multi-threaded tokio runtime with two workers (the machine has two CPUs).
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The Docker connection of a `CAAS_TEST_DOCKER_HOST` value (`unix:///var/run/docker.sock`).
pub fn docker_connection(host: &str) -> DockerConnection {
    let path = host.strip_prefix("unix://").unwrap_or(host).to_string();
    DockerConnection::Unix { path: path.into() }
}

/// The Docker engine and busybox image of the test environment, connected; `None` (after
/// printing `goals` as not measured; a panic in CI) when either is missing or the engine does
/// not answer.
pub async fn docker(goals: &[(&str, &str, &str)]) -> Option<(DockerRuntime, String)> {
    let host = require("CAAS_TEST_DOCKER_HOST", "the Docker engine", goals)?;
    let image = require("CAAS_TEST_BUSYBOX_IMAGE", "the busybox image", goals)?;
    match DockerRuntime::builder()
        .connection(docker_connection(&host))
        .helper_image(image.clone())
        .build()
        .await
    {
        Ok(rt) => Some((rt, image)),
        Err(e) => {
            unavailable("the Docker engine", e, goals);
            None
        }
    }
}

/// A migrated [`PgStore`] in a schema of its own (`caas_t_<secs>_bench_<id>`, named like
/// the PostgreSQL tests' schemas so their sweep drops it if a bench dies half-way).
#[derive(Debug)]
pub struct PgSchema {
    admin: PgConnectOptions,
    /// The schema's name.
    pub schema: String,
    /// A pool whose `search_path` is the schema.
    pub pool: PgPool,
    /// The store on that pool.
    pub store: PgStore,
}

impl PgSchema {
    /// Creates and migrates the schema. Errors: why the database is not usable.
    pub async fn create(url: &str) -> Result<Self, String> {
        let admin = PgConnectOptions::from_str(url).map_err(|e| format!("bad URL: {e}"))?;
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let schema = format!("caas_t_{secs}_bench_{}", caas_testkit::env::run_id());
        let admin_pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(admin.clone())
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin_pool)
            .await
            .map_err(|e| format!("CREATE SCHEMA: {e}"))?;
        admin_pool.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(
                admin
                    .clone()
                    .options([("search_path", schema.as_str())])
                    .application_name(&schema),
            )
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let store = PgStore::from_pool(pool.clone());
        store.migrate().await.map_err(|e| format!("migrate: {e}"))?;
        Ok(Self {
            admin,
            schema,
            pool,
            store,
        })
    }

    /// Closes the pool and drops the schema.
    pub async fn drop_schema(self) {
        self.pool.close().await;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(self.admin.clone())
            .await
            .expect("connect");
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&admin)
            .await
            .expect("DROP SCHEMA");
        admin.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(5));
        assert_eq!(percentile(&v, 90.0), Duration::from_millis(9));
        assert_eq!(percentile(&v, 100.0), Duration::from_millis(10));
        assert_eq!(percentile(&v, 0.0), Duration::from_millis(1));
        assert_eq!(
            median(&[Duration::from_millis(3)]),
            Duration::from_millis(3)
        );
    }

    #[test]
    fn goals_are_met_only_by_finite_ratios_on_the_right_side() {
        assert!(Goal::RatioAtMost(1.1).met(1.05));
        assert!(!Goal::RatioAtMost(1.1).met(1.2));
        assert!(!Goal::RatioAtMost(1.1).met(f64::NAN));
        assert!(Goal::RatioAtLeast(0.8).met(0.9));
        assert!(!Goal::RatioAtLeast(0.8).met(f64::INFINITY));
        let p = Goal::Property {
            text: "p50 < 100 ms".into(),
            met: false,
        };
        assert!(!p.met(0.1));
        assert_eq!(p.text(), "p50 < 100 ms");
    }
}
