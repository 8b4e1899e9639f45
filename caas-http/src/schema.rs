//! OpenAPI schemas of the core types the API returns, written out here because those types
//! live in `caas-core` without `utoipa` derives. They are documentation only: handlers
//! serialize the core types themselves, and a test compares real responses with these
//! schemas so the two cannot drift apart silently.

#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// The limits of a plan, in internal units: millicores, bytes, counts.
#[derive(Serialize, ToSchema)]
pub(crate) struct PlanLimits {
    /// Total CPU in millicores (1000 = one CPU).
    cpu_millis: u64,
    /// Total memory in bytes.
    memory_bytes: u64,
    /// Total volume storage in bytes.
    storage_bytes: u64,
    /// Most containers at once.
    max_containers: u64,
    /// Most projects.
    max_projects: u64,
    /// Most custom domains (hostname and path pairs); 50 when a plan is created without it.
    #[serde(default)]
    max_domains: u64,
    /// Most processes one container may run; 1024 when a plan is created without it.
    #[serde(default)]
    max_pids: u64,
    /// Total stored bytes of the organization's backups; 50 GiB when a plan is created
    /// without it.
    #[serde(default)]
    backup_storage_bytes: u64,
}

/// A named set of limits with a monthly price.
#[derive(Serialize, ToSchema)]
pub(crate) struct Plan {
    /// Id.
    id: Uuid,
    /// Unique name (DNS-label rules); used in URLs.
    name: String,
    /// Name shown to customers.
    display_name: String,
    /// Limits.
    limits: PlanLimits,
    /// Monthly price in minor units (cents).
    monthly_price_cents: u64,
    /// ISO 4217 currency code.
    currency: String,
    /// When the plan was created.
    created_at: DateTime<Utc>,
}

/// Whether an organization may use the platform.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OrgStatus {
    /// Normal operation.
    Active,
    /// Suspended by a platform administrator.
    Suspended,
}

/// A member's role in an organization, from least to most powerful: viewers read; members
/// also deploy and operate services and volumes; admins also manage projects, members,
/// invitations, restores and alerts; owners also change and delete the organization and
/// manage owners.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Role {
    /// Read-only access.
    Viewer,
    /// Deploys and operates services.
    Member,
    /// Manages projects, members and settings.
    Admin,
    /// Everything, including deleting the organization; at least one per organization.
    Owner,
}

/// A person who can act on the platform.
#[derive(Serialize, ToSchema)]
pub(crate) struct User {
    /// Id.
    id: Uuid,
    /// Unique e-mail address (lowercase).
    email: String,
    /// Name shown in lists (may be empty).
    display_name: String,
    /// Platform administrators may act on every organization.
    platform_admin: bool,
    /// Disabled by a platform administrator: none of the user's tokens is accepted until they
    /// are enabled again (their memberships stay).
    disabled: bool,
    /// When the user was created.
    created_at: DateTime<Utc>,
}

/// How far an API token reaches: its user's rights, narrowed to reads, to some
/// organizations, or both.
#[derive(Serialize, ToSchema)]
pub(crate) struct TokenScope {
    /// Only reads: every change is refused with 403.
    read_only: bool,
    /// When set, only these organizations (by id): every other one answers 404, as for a
    /// stranger. Every organization of the user when `null`.
    orgs: Option<Vec<TokenOrg>>,
}

/// One organization an API token is restricted to.
#[derive(Serialize, ToSchema)]
pub(crate) struct TokenOrg {
    /// The organization's id.
    org: Uuid,
    /// When set, only these of its projects (ids); every project the user reaches when
    /// `null`.
    projects: Option<Vec<Uuid>>,
}

/// An API token, without its secret (shown once, when it is created) or the secret's hash.
#[derive(Serialize, ToSchema)]
pub(crate) struct ApiToken {
    /// Id (to revoke it).
    id: Uuid,
    /// Whose token (user id).
    user: Uuid,
    /// A label for people (`ci`, `laptop`).
    name: String,
    /// When it stops being accepted; never when `null`.
    expires_at: Option<DateTime<Utc>>,
    /// How far it reaches.
    scope: TokenScope,
    /// When it was created.
    created_at: DateTime<Utc>,
}

/// A tenant: owns projects, services, volumes and a subscription.
#[derive(Serialize, ToSchema)]
pub(crate) struct Organization {
    /// Id.
    id: Uuid,
    /// Unique slug used in URLs.
    slug: String,
    /// Name shown in lists.
    display_name: String,
    /// Status.
    status: OrgStatus,
    /// When the organization was created.
    created_at: DateTime<Utc>,
}

/// Whether a subscription lets the organization deploy.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SubscriptionStatus {
    /// Deploys allowed within the plan's limits.
    Active,
    /// Temporarily blocked; nothing new may be deployed.
    Suspended,
    /// Ended; nothing new may be deployed.
    Cancelled,
}

/// An organization's subscription to a plan (one per organization).
#[derive(Serialize, ToSchema)]
pub(crate) struct Subscription {
    /// Id.
    id: Uuid,
    /// The organization's id.
    org: Uuid,
    /// The plan's id.
    plan: Uuid,
    /// Status.
    status: SubscriptionStatus,
    /// Start of the current billing period.
    period_start: DateTime<Utc>,
    /// End of the current billing period.
    period_end: DateTime<Utc>,
    /// When the subscription was created.
    created_at: DateTime<Utc>,
}

/// Resource amounts counted against a plan.
#[derive(Serialize, ToSchema)]
pub(crate) struct ResourceAmounts {
    /// CPU in millicores.
    cpu_millis: u64,
    /// Memory in bytes.
    memory_bytes: u64,
    /// Volume storage in bytes.
    storage_bytes: u64,
    /// Number of containers.
    containers: u64,
    /// Number of projects.
    projects: u64,
}

/// An organization's raw use of its plan.
#[derive(Serialize, ToSchema)]
pub(crate) struct Usage {
    /// The organization's id.
    org: Uuid,
    /// Plan name, when subscribed.
    plan: Option<String>,
    /// The plan's limits, when subscribed.
    limits: Option<PlanLimits>,
    /// Held by committed reservations.
    committed: ResourceAmounts,
    /// Held by pending (unexpired) reservations.
    pending: ResourceAmounts,
}

/// One dimension of a usage summary.
#[derive(Serialize, ToSchema)]
pub(crate) struct DimensionUsage {
    /// `cpu_millis`, `memory_bytes`, `storage_bytes`, `containers` or `projects`.
    dimension: String,
    /// Committed plus pending.
    used: u64,
    /// The plan's limit.
    limit: u64,
    /// `used / limit` in percent.
    percent: f64,
    /// At or above 80 %.
    warning: bool,
}

/// What an organization uses against its plan, per dimension, with warnings at 80 %.
#[derive(Serialize, ToSchema)]
pub(crate) struct UsageSummary {
    /// Organization slug.
    org: String,
    /// Plan name, when subscribed.
    plan: Option<String>,
    /// Subscription status, when subscribed.
    subscription: Option<SubscriptionStatus>,
    /// Per dimension (empty without a plan).
    dimensions: Vec<DimensionUsage>,
    /// Human-readable warnings.
    warnings: Vec<String>,
    /// The raw numbers.
    usage: Usage,
}

/// A group of services sharing one private network.
#[derive(Serialize, ToSchema)]
pub(crate) struct Project {
    /// Id.
    id: Uuid,
    /// The organization's id.
    org: Uuid,
    /// Name, unique in the organization; used in URLs.
    name: String,
    /// The quota reservation holding this project's count.
    reservation: Option<Uuid>,
    /// When the project was created.
    created_at: DateTime<Utc>,
}

/// The database engines the platform can provision.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DatabaseEngine {
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

/// What a service is.
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ServiceKind {
    /// An application.
    App,
    /// A managed database.
    Database {
        /// The engine.
        engine: DatabaseEngine,
    },
}

/// Lifecycle status of a service.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ServiceStatus {
    /// A deployment is in progress.
    Deploying,
    /// Running.
    Running,
    /// Stopped on request.
    Stopped,
    /// The last deployment failed or the container was lost.
    Failed,
}

/// An environment variable.
#[derive(Serialize, ToSchema)]
pub(crate) struct EnvVar {
    /// Key (`[A-Za-z_][A-Za-z0-9_]*`).
    key: String,
    /// Value; `********` in responses when secret.
    value: String,
    /// Secret values are never logged and never returned after creation.
    #[schema(default = false)]
    #[serde(default)]
    secret: bool,
}

/// Transport protocol of a port.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// A container port exposed on the project network (never published on the host).
#[derive(Serialize, ToSchema)]
pub(crate) struct PortSpec {
    /// The port the process listens on (1-65535).
    container_port: u16,
    /// Transport protocol (default `tcp`).
    #[serde(default)]
    protocol: Protocol,
}

/// Resource limits of one container (defaults: 500 millicores, 256 MiB, 256 pids).
#[derive(Serialize, ToSchema)]
pub(crate) struct ResourceLimits {
    /// CPU limit in millicores (10-256000).
    #[serde(default)]
    cpu_millis: u64,
    /// Memory limit in bytes (6 MiB - 1 TiB).
    #[serde(default)]
    memory_bytes: u64,
    /// Most processes/threads (16-1000000).
    #[serde(default)]
    pids: u64,
}

/// A named volume mounted into the container.
#[derive(Serialize, ToSchema)]
pub(crate) struct VolumeMount {
    /// The volume's name within the project.
    volume: String,
    /// Where it is mounted (absolute path).
    target: String,
    /// Mount read-only.
    #[serde(default)]
    read_only: bool,
    /// Size counted against the storage quota (default 1 GiB).
    #[serde(default)]
    size_bytes: u64,
}

/// How the engine probes a container's health.
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum HealthProbe {
    /// Run a command in the container; exit 0 means healthy.
    Command {
        /// argv.
        command: Vec<String>,
    },
    /// HTTP GET on a port and path; 2xx/3xx means healthy.
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

/// A health check; durations in milliseconds.
#[derive(Serialize, ToSchema)]
pub(crate) struct HealthCheck {
    /// What to probe.
    probe: HealthProbe,
    /// Between probes, ms (default 10000).
    #[serde(default)]
    interval: u64,
    /// One probe's timeout, ms (default 5000).
    #[serde(default)]
    timeout: u64,
    /// Failed probes before unhealthy (default 3).
    #[serde(default)]
    retries: u32,
    /// Grace period after start, ms (default 0).
    #[serde(default)]
    start_period: u64,
}

/// What the engine does when the container exits (default `unless_stopped`).
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum RestartPolicy {
    /// Never restart.
    No,
    /// Restart on non-zero exit, at most `max_retries` times (0 = unlimited).
    OnFailure {
        /// Most restarts.
        max_retries: u32,
    },
    /// Always restart unless stopped on request.
    UnlessStopped,
    /// Always restart.
    Always,
}

/// The desired configuration of a service's container. Only `image` is required.
#[derive(Serialize, ToSchema)]
pub(crate) struct ServiceSpec {
    /// Image reference (`caas/busybox:latest`).
    image: String,
    /// Overrides the image's command (argv).
    #[serde(default)]
    command: Option<Vec<String>>,
    /// Overrides the image's entrypoint (argv).
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    /// Environment.
    #[serde(default)]
    env: Vec<EnvVar>,
    /// Exposed ports (on the project network only).
    #[serde(default)]
    ports: Vec<PortSpec>,
    /// Limits.
    #[serde(default)]
    resources: ResourceLimits,
    /// Volume mounts.
    #[serde(default)]
    volumes: Vec<VolumeMount>,
    /// Health check.
    #[serde(default)]
    health_check: Option<HealthCheck>,
    /// Restart policy.
    #[serde(default)]
    restart_policy: RestartPolicy,
    /// User labels (never in the `caas.*`, `traefik.*` or `com.docker.*` namespaces).
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// Number of instances; only 1 on a single Docker host.
    #[serde(default)]
    replicas: u32,
    /// The user the container's process runs as (`uid[:gid]` or a name the image knows);
    /// the image's own user when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
}

/// A deployed app or database (secret environment values redacted).
#[derive(Serialize, ToSchema)]
pub(crate) struct Service {
    /// Id.
    id: Uuid,
    /// The organization's id.
    org: Uuid,
    /// The project's id.
    project: Uuid,
    /// Name, unique in the project; its host name on the project network; used in URLs.
    name: String,
    /// App or database.
    kind: ServiceKind,
    /// Desired configuration.
    spec: ServiceSpec,
    /// Status.
    status: ServiceStatus,
    /// The deployment that should be running.
    current_deployment: Option<Uuid>,
    /// The quota reservation holding this service's resources.
    reservation: Option<Uuid>,
    /// When the service was created.
    created_at: DateTime<Utc>,
    /// When the service last changed.
    updated_at: DateTime<Utc>,
}

/// What a start, stop or restart did.
#[derive(Serialize, ToSchema)]
pub(crate) struct LifecycleOutcome {
    /// The service after the operation.
    service: Service,
    /// False when the service already was in the requested state.
    changed: bool,
}

/// Credentials of a new database: returned once, at creation, never again.
#[derive(Serialize, ToSchema)]
pub(crate) struct DatabaseCredentials {
    /// Host name on the project network (the service name).
    host: String,
    /// Port.
    port: u16,
    /// User (empty for Redis).
    username: String,
    /// Password.
    password: String,
    /// Database name (`0` for Redis).
    database: String,
    /// A URL apps of the same project can use.
    connection_string: String,
}

/// A deployed database and its credentials (shown once).
#[derive(Serialize, ToSchema)]
pub(crate) struct DeployedDatabase {
    /// The service.
    service: Service,
    /// The credentials.
    credentials: DatabaseCredentials,
}

/// The answer to creating a service: the service for an app, the service and its
/// credentials for a database.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum CreatedService {
    /// An app.
    App(Service),
    /// A database.
    Database(DeployedDatabase),
}

/// Which log stream a line came from.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One log line.
#[derive(Serialize, ToSchema)]
pub(crate) struct LogLine {
    /// Stream.
    stream: LogStream,
    /// When, if the runtime reports it.
    at: Option<DateTime<Utc>>,
    /// The text, without the trailing newline.
    text: String,
}
