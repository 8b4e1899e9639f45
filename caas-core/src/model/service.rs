//! Projects, services (apps and databases), their specs and deployments.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{DeploymentId, OrgId, ProjectId, ReservationId, ServiceId};
use crate::units::{GIB, MIB, ResourceAmounts};
use crate::validate::{self, EnvKey, ImageRef, Name};

/// A group of services sharing one private network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Project {
    /// Id.
    pub id: ProjectId,
    /// Owning organization.
    pub org: OrgId,
    /// Name, unique in the organization.
    pub name: Name,
    /// The quota reservation holding this project's count.
    pub reservation: Option<ReservationId>,
    /// When the project was created.
    pub created_at: DateTime<Utc>,
}

/// The database engines the platform can provision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DatabaseEngine {
    /// PostgreSQL.
    Postgres,
    /// MySQL.
    Mysql,
    /// MariaDB.
    Mariadb,
    /// MongoDB.
    Mongo,
    /// Redis.
    Redis,
}

impl DatabaseEngine {
    /// The engine's name as used in APIs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Mysql => "mysql",
            Self::Mariadb => "mariadb",
            Self::Mongo => "mongo",
            Self::Redis => "redis",
        }
    }
}

/// What a service is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServiceKind {
    /// A stateless or stateful application.
    App,
    /// A managed database (single writer: updated by stop-then-start).
    Database {
        /// The engine.
        engine: DatabaseEngine,
    },
}

/// Lifecycle status of a service, as the platform last observed or set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ServiceStatus {
    /// A deployment is in progress.
    Deploying,
    /// The current deployment's container is running.
    Running,
    /// Stopped on request.
    Stopped,
    /// The last deployment failed or the container was lost.
    Failed,
}

/// A deployed app or database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Service {
    /// Id.
    pub id: ServiceId,
    /// Owning organization.
    pub org: OrgId,
    /// Project.
    pub project: ProjectId,
    /// Name, unique in the project; the service's host name on the project network.
    pub name: Name,
    /// App or database.
    pub kind: ServiceKind,
    /// Desired configuration (secrets included; use [`ServiceSpec::redacted`] before returning it).
    pub spec: ServiceSpec,
    /// Status.
    pub status: ServiceStatus,
    /// The deployment that should be running.
    pub current_deployment: Option<DeploymentId>,
    /// The quota reservation holding this service's resources.
    pub reservation: Option<ReservationId>,
    /// When the service was created.
    pub created_at: DateTime<Utc>,
    /// When the service last changed.
    pub updated_at: DateTime<Utc>,
}

impl Service {
    /// A copy safe to return to callers: secret env values replaced by a placeholder.
    pub fn redacted(&self) -> Self {
        Self {
            spec: self.spec.redacted(),
            ..self.clone()
        }
    }
}

/// An environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvVar {
    /// Key.
    pub key: EnvKey,
    /// Value.
    pub value: String,
    /// Secret values are never logged and never returned after creation.
    #[serde(default)]
    pub secret: bool,
}

impl EnvVar {
    /// A plain variable.
    pub fn plain(key: &str, value: impl Into<String>) -> Result<Self> {
        Ok(Self {
            key: EnvKey::parse_field(&format!("env.{key}"), key)?,
            value: value.into(),
            secret: false,
        })
    }
    /// A secret variable.
    pub fn secret(key: &str, value: impl Into<String>) -> Result<Self> {
        Ok(Self {
            secret: true,
            ..Self::plain(key, value)?
        })
    }
}

/// The placeholder shown instead of secret values.
pub const REDACTED: &str = "********";

/// A container port exposed on the project network (never published on the host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PortSpec {
    /// The port the process listens on.
    pub container_port: u16,
    /// Transport protocol.
    #[serde(default)]
    pub protocol: Protocol,
}

/// Transport protocol of a port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

/// Resource limits of one container. Always set: the defaults are 0.5 CPU, 256 MiB, 256 pids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ResourceLimits {
    /// CPU limit in millicores.
    pub cpu_millis: u64,
    /// Memory limit in bytes (swap is not granted beyond it).
    pub memory_bytes: u64,
    /// Most processes/threads.
    pub pids: u64,
}

impl Default for ResourceLimits {
    fn default() -> Self {
        Self {
            cpu_millis: 500,
            memory_bytes: 256 * MIB,
            pids: 256,
        }
    }
}

impl ResourceLimits {
    /// Checks the limits are within what one container may get.
    pub fn validate(&self) -> Result<()> {
        if !(10..=256_000).contains(&self.cpu_millis) {
            return Err(Error::invalid(
                "resources.cpu_millis",
                "must be between 10 (0.01 CPU) and 256000 (256 CPUs)",
            ));
        }
        if self.memory_bytes < 6 * MIB || self.memory_bytes > 1024 * GIB {
            return Err(Error::invalid(
                "resources.memory_bytes",
                "must be between 6 MiB (Docker's minimum) and 1 TiB",
            ));
        }
        if !(16..=1_000_000).contains(&self.pids) {
            return Err(Error::invalid(
                "resources.pids",
                "must be between 16 and 1000000",
            ));
        }
        Ok(())
    }
}

/// A named volume mounted into the container.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VolumeMount {
    /// The volume's name within the project.
    pub volume: Name,
    /// Where it is mounted.
    pub target: String,
    /// Mount read-only.
    #[serde(default)]
    pub read_only: bool,
    /// The size of the volume when this mount creates it (it does not exist yet in the
    /// project); an existing volume keeps its own size.
    #[serde(default = "default_volume_size")]
    pub size_bytes: u64,
}

fn default_volume_size() -> u64 {
    GIB
}

/// How the engine probes a container's health.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HealthProbe {
    /// Run a command in the container; exit 0 means healthy.
    Command {
        /// argv.
        command: Vec<String>,
    },
    /// HTTP GET on a port and path; a 2xx/3xx means healthy.
    Http {
        /// Port.
        port: u16,
        /// Path, starting with `/`.
        path: String,
    },
    /// TCP connect to a port.
    Tcp {
        /// Port.
        port: u16,
    },
}

/// A health check.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthCheck {
    /// What to probe.
    pub probe: HealthProbe,
    /// Between probes.
    #[serde(default = "default_interval", with = "duration_ms")]
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub interval: Duration,
    /// One probe's timeout.
    #[serde(default = "default_timeout", with = "duration_ms")]
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub timeout: Duration,
    /// Failed probes before unhealthy.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Grace period after start.
    #[serde(default, with = "duration_ms")]
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub start_period: Duration,
}

fn default_interval() -> Duration {
    Duration::from_secs(10)
}
fn default_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_retries() -> u32 {
    3
}

/// Durations as whole milliseconds in JSON.
pub mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as milliseconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
    /// Deserializes from milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// What the engine does when the container exits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RestartPolicy {
    /// Never restart.
    No,
    /// Restart on non-zero exit, at most `max_retries` times (0 = unlimited).
    OnFailure {
        /// Most restarts.
        max_retries: u32,
    },
    /// Always restart unless stopped on request.
    #[default]
    UnlessStopped,
    /// Always restart.
    Always,
}

/// The desired configuration of a service's container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceSpec {
    /// Image reference.
    pub image: ImageRef,
    /// Overrides the image's command (argv).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Overrides the image's entrypoint (argv).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Environment.
    #[serde(default)]
    pub env: Vec<EnvVar>,
    /// Exposed ports (on the project network only).
    #[serde(default)]
    pub ports: Vec<PortSpec>,
    /// Limits.
    #[serde(default)]
    pub resources: ResourceLimits,
    /// Volume mounts.
    #[serde(default)]
    pub volumes: Vec<VolumeMount>,
    /// Health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Restart policy.
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// User labels (never in the `caas.*`, `traefik.*` or `com.docker.*` namespaces).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Number of instances; only 1 on a single Docker host.
    #[serde(default = "one")]
    pub replicas: u32,
    /// The user the container's process runs as (`uid[:gid]` or a name the image knows);
    /// the image's own user when absent. See [`validate::container_user`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

fn one() -> u32 {
    1
}

impl ServiceSpec {
    /// A spec running `image` with defaults for everything else.
    pub fn new(image: ImageRef) -> Self {
        Self {
            image,
            command: None,
            entrypoint: None,
            env: Vec::new(),
            ports: Vec::new(),
            resources: ResourceLimits::default(),
            volumes: Vec::new(),
            health_check: None,
            restart_policy: RestartPolicy::default(),
            labels: BTreeMap::new(),
            replicas: 1,
            user: None,
        }
    }

    /// Checks every field; errors name the field as `spec.<field>`.
    pub fn validate(&self) -> Result<()> {
        self.validate_inner().map_err(|e| e.in_field("spec"))
    }

    fn validate_inner(&self) -> Result<()> {
        for (name, argv) in [("command", &self.command), ("entrypoint", &self.entrypoint)] {
            if let Some(argv) = argv {
                if argv.len() > 256 {
                    return Err(Error::invalid(name, "at most 256 arguments"));
                }
                for (i, a) in argv.iter().enumerate() {
                    if a.contains('\0') || a.len() > 32 * 1024 {
                        return Err(Error::invalid(
                            format!("{name}[{i}]"),
                            "contains a NUL byte or is longer than 32 KiB",
                        ));
                    }
                }
            }
        }
        if self.env.len() > validate::MAX_ENV_VARS {
            return Err(Error::invalid(
                "env",
                format!("at most {} variables", validate::MAX_ENV_VARS),
            ));
        }
        let mut total = 0usize;
        let mut seen = std::collections::HashSet::new();
        for var in &self.env {
            let field = format!("env.{}", var.key);
            validate::env_value(&field, &var.value)?;
            if !seen.insert(var.key.as_str()) {
                return Err(Error::invalid(field, "is set twice"));
            }
            total += var.key.as_str().len() + var.value.len();
        }
        if total > validate::MAX_ENV_TOTAL_BYTES {
            return Err(Error::invalid(
                "env",
                format!(
                    "all variables together are {total} bytes; at most {}",
                    validate::MAX_ENV_TOTAL_BYTES
                ),
            ));
        }
        let mut ports = std::collections::HashSet::new();
        for (i, p) in self.ports.iter().enumerate() {
            if p.container_port == 0 {
                return Err(Error::invalid(
                    format!("ports[{i}].container_port"),
                    "must be 1-65535",
                ));
            }
            if !ports.insert((p.container_port, p.protocol)) {
                return Err(Error::invalid(format!("ports[{i}]"), "is listed twice"));
            }
        }
        self.resources.validate()?;
        let mut targets = std::collections::HashSet::new();
        for (i, m) in self.volumes.iter().enumerate() {
            validate::mount_target(&format!("volumes[{i}].target"), &m.target)?;
            if !targets.insert(m.target.trim_end_matches('/')) {
                return Err(Error::invalid(
                    format!("volumes[{i}].target"),
                    "two volumes are mounted at the same path",
                ));
            }
            if m.size_bytes < MIB {
                return Err(Error::invalid(
                    format!("volumes[{i}].size_bytes"),
                    "must be at least 1 MiB",
                ));
            }
        }
        if let Some(h) = &self.health_check {
            match &h.probe {
                HealthProbe::Command { command } if command.is_empty() => {
                    return Err(Error::invalid(
                        "health_check.probe.command",
                        "must not be empty",
                    ));
                }
                HealthProbe::Http { path, .. } if !path.starts_with('/') => {
                    return Err(Error::invalid(
                        "health_check.probe.path",
                        "must start with '/'",
                    ));
                }
                HealthProbe::Http { path, .. }
                    if path.chars().any(|c| c.is_control() || c == ' ') =>
                {
                    return Err(Error::invalid(
                        "health_check.probe.path",
                        "must not contain spaces or control characters",
                    ));
                }
                HealthProbe::Http { port: 0, .. } | HealthProbe::Tcp { port: 0 } => {
                    return Err(Error::invalid("health_check.probe.port", "must be 1-65535"));
                }
                _ => {}
            }
            if h.interval < Duration::from_secs(1) || h.timeout < Duration::from_millis(100) {
                return Err(Error::invalid(
                    "health_check",
                    "interval must be at least 1 s and timeout at least 100 ms",
                ));
            }
        }
        if self.labels.len() > validate::MAX_LABELS {
            return Err(Error::invalid(
                "labels",
                format!("at most {} labels", validate::MAX_LABELS),
            ));
        }
        for (k, v) in &self.labels {
            validate::user_label_key(&format!("labels.{k}"), k)?;
            validate::label_value(&format!("labels.{k}"), v)?;
        }
        if self.replicas == 0 {
            return Err(Error::invalid("replicas", "must be at least 1"));
        }
        if let Some(user) = &self.user {
            validate::container_user("user", user)?;
        }
        Ok(())
    }

    /// A copy with secret env values replaced by [`REDACTED`].
    pub fn redacted(&self) -> Self {
        let mut s = self.clone();
        for v in &mut s.env {
            if v.secret {
                v.value = REDACTED.to_string();
            }
        }
        s
    }

    /// What the service's containers hold against a plan: CPU, memory and containers, per
    /// replica. Storage is not here: each volume holds its own size (see
    /// [`crate::model::Volume`]), so it keeps counting when no service mounts it.
    pub fn quota_amounts(&self) -> ResourceAmounts {
        let replicas = u64::from(self.replicas);
        ResourceAmounts {
            cpu_millis: self.resources.cpu_millis.saturating_mul(replicas),
            memory_bytes: self.resources.memory_bytes.saturating_mul(replicas),
            storage_bytes: 0,
            containers: replicas,
            projects: 0,
        }
    }
}

/// Status of one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    /// Being rolled out.
    Pending,
    /// Its container is the service's current one.
    Active,
    /// Replaced by a newer deployment.
    Superseded,
    /// Failed; nothing of it is left running.
    Failed,
    /// Its container was removed with the service.
    Removed,
}

/// One rollout of a service's spec: the unit of idempotency (label `caas.deployment`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deployment {
    /// Id.
    pub id: DeploymentId,
    /// Service.
    pub service: ServiceId,
    /// Organization.
    pub org: OrgId,
    /// Project.
    pub project: ProjectId,
    /// The spec that was deployed (secrets included).
    pub spec: ServiceSpec,
    /// Status.
    pub status: DeploymentStatus,
    /// The container's id in the runtime, once created.
    pub container_id: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When it reached a final status.
    pub finished_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ServiceSpec {
        ServiceSpec::new(ImageRef::parse("caas/busybox:latest").unwrap())
    }

    #[test]
    fn spec_errors_name_the_field() {
        let mut s = spec();
        s.env.push(EnvVar::plain("A", "x\ny").unwrap());
        assert_eq!(s.validate().unwrap_err().field(), Some("spec.env.A"));

        let mut s = spec();
        s.labels.insert("traefik.enable".into(), "true".into());
        assert_eq!(
            s.validate().unwrap_err().field(),
            Some("spec.labels.traefik.enable")
        );

        let mut s = spec();
        s.resources.memory_bytes = 1;
        assert_eq!(
            s.validate().unwrap_err().field(),
            Some("spec.resources.memory_bytes")
        );

        let mut s = spec();
        s.volumes.push(VolumeMount {
            volume: Name::parse("data").unwrap(),
            target: "/proc".into(),
            read_only: false,
            size_bytes: GIB,
        });
        assert_eq!(
            s.validate().unwrap_err().field(),
            Some("spec.volumes[0].target")
        );

        let mut s = spec();
        s.user = Some("root; rm -rf /".into());
        assert_eq!(s.validate().unwrap_err().field(), Some("spec.user"));
        s.user = Some("1000:1000".into());
        s.validate().unwrap();
    }

    #[test]
    fn secrets_are_redacted_and_spec_deserializes_with_defaults() {
        let s: ServiceSpec = serde_json::from_str(
            r#"{"image":"caas/busybox","env":[{"key":"PASSWORD","value":"hunter2","secret":true}]}"#,
        )
        .unwrap();
        assert_eq!(s.resources, ResourceLimits::default());
        assert_eq!(s.replicas, 1);
        assert_eq!(s.user, None);
        assert!(
            !serde_json::to_string(&s).unwrap().contains("user"),
            "specs without a user serialize as before"
        );
        assert_eq!(s.redacted().env[0].value, REDACTED);
        assert!(serde_json::from_str::<ServiceSpec>(r#"{"image":"Bad Image"}"#).is_err());
    }

    #[test]
    fn quota_amounts_count_replicas_not_volumes() {
        let mut s = spec();
        s.replicas = 2;
        s.volumes.push(VolumeMount {
            volume: Name::parse("data").unwrap(),
            target: "/data".into(),
            read_only: false,
            size_bytes: GIB,
        });
        let a = s.quota_amounts();
        assert_eq!(a.cpu_millis, 1000);
        assert_eq!(a.containers, 2);
        assert_eq!(a.storage_bytes, 0, "volumes hold their own storage");
    }
}
