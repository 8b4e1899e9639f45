//! The caas-rs reference server: the platform over HTTP with defaults that work on a fresh
//! machine — an embedded SQLite store in a data directory it creates, the local Docker engine
//! (the server starts and reports the runtime as unavailable when no engine answers), and
//! graceful shutdown on SIGTERM or Ctrl-C.
//!
//! `DATABASE_URL=postgres://…` switches the store to PostgreSQL.
//!
//! Volumes are backed up into `<data dir>/backups` by default (`--backup-dir` for another
//! directory), or into an object store with `--backup-url s3://bucket/prefix` (credentials and
//! settings from the usual `AWS_*` environment variables). The workers run in the server: the
//! reconciler, the domain verifier, the volume monitor (usage states and alerts), the backup
//! scheduler, the metrics collector (`--metrics-interval`, rollups and retention included), the
//! event watcher (exits, OOM kills, engine restarts, health changes) and the alert evaluator
//! (`--alert-interval`); they stop with it.
//!
//! Alert notifications go to each organization's webhook as signed JSON. Webhooks on loopback
//! and private addresses are refused unless `--webhook-allow-private` is given (for a panel on
//! the same private network).
//!
//! Requests authenticate with API tokens (`Authorization: Bearer caas_…`). On its first start
//! the server creates the platform administrator and its first token, and prints the token
//! once on stdout — or, when `CAAS_BOOTSTRAP_TOKEN_FILE` is set, writes it to that file (mode
//! 0600) instead. The store keeps only its hash; later starts print nothing about it. That
//! token never expires (and says so where it is printed); every other token lives
//! `--token-default-ttl` (`CAAS_TOKEN_DEFAULT_TTL`, 90 days) unless created with
//! `expires_in_days`, and at most `--token-max-ttl` (`CAAS_TOKEN_MAX_TTL`, 365 days); `never`
//! lifts either.
//!
//! Invitations are delivered by logging their acceptance link — `POST
//! <public URL>/v1/invitations/<token>/accept`, to be called with the invitee's own token —
//! at INFO under the target `caas::invitations` (the server has no e-mail relay; the operator
//! hands the link over). That line is the only place the token is written: the request trace
//! (tower-http, at DEBUG) records the accept and decline paths with the token redacted. The
//! public URL is `--public-url` (`CAAS_PUBLIC_URL`), by default `http://<listen address>`;
//! set it when clients reach the server through another name or a proxy.
//!
//! Secrets are encrypted at rest (`caas_core::secrets`: secret environment values, generated
//! database passwords, webhook secrets, secret template outputs) under the platform key in
//! `--secret-key-file` (`CAAS_SECRET_KEY_FILE`), by default `secret.key` in the data
//! directory, created with mode 0600 on first start: back it up with the database, which is
//! unreadable without it. A key file group or others may read is refused, and a key that
//! does not open the store's secrets stops start-up, naming the file. `caas-server
//! rotate-secret-key --new-key-file <path>` (server stopped) re-encrypts everything under a
//! new key in one transaction, then installs it as the default key file (a file named with
//! `--secret-key-file` is left alone: name the new one from then on).

mod secret_key;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use caas_core::{Platform, Store};
use caas_docker::{DetectionInputs, DockerConnection, DockerConnector, DockerRuntime};
use clap::Parser;

/// Command-line flags; each has an environment equivalent.
#[derive(Debug, Parser)]
#[command(name = "caas-server", version, about = "The caas-rs reference server")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "CAAS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory for the SQLite database, the secret key file and other state (created when
    /// missing).
    #[arg(
        long,
        env = "CAAS_DATA_DIR",
        default_value = ".caas-data",
        global = true
    )]
    data_dir: PathBuf,
    /// PostgreSQL URL; when set, the store is PostgreSQL instead of SQLite.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    database_url: Option<String>,
    /// File holding the key secrets are encrypted under at rest: 32 random bytes as 64 hex
    /// digits (or base64), mode 0600 (a file group or others can read is refused). Default:
    /// `secret.key` in the data directory, created on first start. Back it up: the store's
    /// secrets cannot be read without it.
    #[arg(long, env = "CAAS_SECRET_KEY_FILE", global = true)]
    secret_key_file: Option<PathBuf>,
    /// What to do instead of serving.
    #[command(subcommand)]
    command: Option<Command>,
    /// Docker engine (`unix:///var/run/docker.sock`, `tcp://host:2375`); the local socket when unset.
    #[arg(long, env = "DOCKER_HOST")]
    docker_host: Option<String>,
    /// Use TLS for a TCP engine (certificates from --docker-cert-path).
    #[arg(long, env = "DOCKER_TLS_VERIFY", default_value_t = false)]
    docker_tls_verify: bool,
    /// Directory holding ca.pem, cert.pem and key.pem for TLS.
    #[arg(long, env = "DOCKER_CERT_PATH")]
    docker_cert_path: Option<String>,
    /// The URL clients reach this server at (`https://panel.example.com`, a path prefix
    /// allowed): invitation links are built on it. Default: `http://<listen address>`.
    #[arg(long, env = "CAAS_PUBLIC_URL", value_parser = public_url)]
    public_url: Option<url::Url>,
    /// E-mail of the platform administrator created on first start.
    #[arg(
        long,
        env = "CAAS_ADMIN_EMAIL",
        default_value = "admin@localhost.localdomain"
    )]
    admin_email: String,
    /// Where to write the administrator's first API token (mode 0600) instead of printing it.
    #[arg(long, env = "CAAS_BOOTSTRAP_TOKEN_FILE")]
    bootstrap_token_file: Option<PathBuf>,
    /// How long an API token created without `expires_in_days` lives, at most
    /// --token-max-ttl (`never`: until revoked, or --token-max-ttl when that is set).
    #[arg(long, env = "CAAS_TOKEN_DEFAULT_TTL", default_value = "90days", value_parser = token_ttl)]
    token_default_ttl: TokenTtl,
    /// The longest an API token may be created to live (`never`: no limit). The bootstrap
    /// token is exempt.
    #[arg(long, env = "CAAS_TOKEN_MAX_TTL", default_value = "365days", value_parser = token_ttl)]
    token_max_ttl: TokenTtl,
    /// Traefik's file-provider directory: with --traefik-api, routes verified domains through
    /// Traefik (off by default).
    #[arg(long, env = "CAAS_TRAEFIK_DYNAMIC_DIR", requires = "traefik_api")]
    traefik_dynamic_dir: Option<PathBuf>,
    /// Traefik's API (`http://127.0.0.1:8081`), used to check routes are applied.
    #[arg(long, env = "CAAS_TRAEFIK_API", requires = "traefik_dynamic_dir")]
    traefik_api: Option<String>,
    /// Traefik's certificate resolver: verified domains are served over HTTPS with it.
    #[arg(long, env = "CAAS_TRAEFIK_CERT_RESOLVER")]
    traefik_cert_resolver: Option<String>,
    /// Traefik's DNS-01 certificate resolver for wildcard domains (ACME issues wildcard
    /// certificates only through DNS-01). Required with --wildcard-domains and
    /// --traefik-cert-resolver.
    #[arg(long, env = "CAAS_TRAEFIK_WILDCARD_CERT_RESOLVER")]
    traefik_wildcard_cert_resolver: Option<String>,
    /// Accept wildcard domains (`*.example.com`, one label below the name).
    #[arg(long, env = "CAAS_WILDCARD_DOMAINS")]
    wildcard_domains: bool,
    /// Public addresses customers point their domains' A/AAAA records at (comma-separated).
    #[arg(long, env = "CAAS_PUBLIC_ADDRESSES", value_delimiter = ',')]
    public_addresses: Vec<std::net::IpAddr>,
    /// The name customers may point their domains' CNAME records at.
    #[arg(long, env = "CAAS_CNAME_TARGET")]
    cname_target: Option<String>,
    /// The platform's own hostnames, besides the public URL's host and the CNAME target
    /// (comma-separated): neither they nor any name below them can be claimed by a customer.
    #[arg(long, env = "CAAS_RESERVED_HOSTNAMES", value_delimiter = ',')]
    reserved_hostnames: Vec<String>,
    /// Where Traefik reaches this server to answer HTTP challenges of domain claims
    /// (`GET /.well-known/caas-challenge/<token>`), as `http://host:port`. Default with
    /// --traefik-dynamic-dir: `http://127.0.0.1:<listen port>` (Traefik on this host).
    #[arg(long, env = "CAAS_HTTP_CHALLENGE_UPSTREAM")]
    http_challenge_upstream: Option<url::Url>,
    /// How long a customer has to prove a new domain claim before it is released.
    #[arg(long, env = "CAAS_DOMAIN_CLAIM_TTL", default_value = "7days")]
    domain_claim_ttl: humantime::Duration,
    /// Name servers domain verification asks (comma-separated `ip:port`). Default: those of
    /// the system's resolver configuration (`/etc/resolv.conf`).
    #[arg(long, env = "CAAS_DNS_SERVERS", value_delimiter = ',')]
    dns_servers: Vec<SocketAddr>,
    /// Longest an API request may take before it is answered 503 (its work goes on).
    #[arg(long, env = "CAAS_REQUEST_TIMEOUT", default_value = "30s")]
    request_timeout: humantime::Duration,
    /// API requests handled at once, all callers together; beyond, 503 at once.
    #[arg(long, env = "CAAS_MAX_IN_FLIGHT", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    max_in_flight: u32,
    /// API requests a second one user may make, sustained; beyond, 429 with Retry-After.
    #[arg(long, env = "CAAS_RATE_LIMIT", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit: u32,
    /// API requests one user may make in a burst above --rate-limit.
    #[arg(long, env = "CAAS_RATE_BURST", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    rate_burst: u32,
    /// Followed logs and live stats streams one user may have open at once.
    #[arg(long, env = "CAAS_STREAMS_PER_USER", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    streams_per_user: u64,
    /// Followed logs and live stats streams one organization may have open at once.
    #[arg(long, env = "CAAS_STREAMS_PER_ORG", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    streams_per_org: u64,
    /// Whether tenant containers are kept from opening connections to this host's ports
    /// (the API, dockerd, PostgreSQL, Traefik's API) through their network's gateway, with
    /// iptables rules: `auto` when this process can install them, `required` or `off`.
    #[arg(long, env = "CAAS_HOST_GUARD", value_enum, default_value = "auto")]
    host_guard: HostGuardFlag,
    /// How often pending and failed domains are verified again.
    #[arg(long, env = "CAAS_DOMAIN_RECHECK_INTERVAL", default_value = "5m")]
    domain_recheck_interval: humantime::Duration,
    /// How often the reconciler compares the store with the engine (it also runs at start-up).
    #[arg(long, env = "CAAS_RECONCILE_INTERVAL", default_value = "60s")]
    reconcile_interval: humantime::Duration,
    /// Directory the backups of volumes are written to (created when missing). Default:
    /// `backups` in the data directory.
    #[arg(long, env = "CAAS_BACKUP_DIR", conflicts_with = "backup_url")]
    backup_dir: Option<PathBuf>,
    /// Object store the backups are written to instead of a directory: `s3://bucket/prefix`
    /// (any S3-compatible service; credentials, region and endpoint from AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT, ... as the AWS tools read them) or
    /// `file:///absolute/dir`. The URL's path is the key prefix (default `caas-backups`).
    #[arg(long, env = "CAAS_BACKUP_URL")]
    backup_url: Option<String>,
    /// Directory restores stage a backup in (decompressed, validated, then written to the
    /// engine): it needs room for the largest backup restored at once. Created when missing.
    /// Default: `staging` in the data directory (not the system's temporary directory, which
    /// is often a small in-memory file system).
    #[arg(long, env = "CAAS_STAGING_DIR")]
    staging_dir: Option<PathBuf>,
    /// How often the usage of every volume is measured (warning at 80 %, full at 100 %).
    #[arg(long, env = "CAAS_VOLUME_CHECK_INTERVAL", default_value = "60s")]
    volume_check_interval: humantime::Duration,
    /// Shortest interval a backup schedule may run at (at least a minute).
    #[arg(long, env = "CAAS_BACKUP_MIN_INTERVAL", default_value = "15m")]
    backup_min_interval: humantime::Duration,
    /// Largest `keep_last` a backup schedule may keep.
    #[arg(long, env = "CAAS_BACKUP_MAX_KEEP_LAST", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    backup_max_keep_last: u32,
    /// Largest `max_age_days` a backup schedule may keep backups for.
    #[arg(long, env = "CAAS_BACKUP_MAX_RETENTION_DAYS", default_value_t = 3650, value_parser = clap::value_parser!(u32).range(1..))]
    backup_max_retention_days: u32,
    /// How often the backup scheduler takes the scheduled backups that are due.
    #[arg(long, env = "CAAS_BACKUP_CHECK_INTERVAL", default_value = "30s")]
    backup_check_interval: humantime::Duration,
    /// Image of the short-lived containers that copy archives out of and into volumes for
    /// backups and restores (created, never started; pulled when missing).
    #[arg(
        long,
        env = "CAAS_ARCHIVE_HELPER_IMAGE",
        default_value = "busybox:stable"
    )]
    archive_helper_image: String,
    /// How often the metrics collector reads every running service (at least 1 s); usage
    /// reports count each sample as this much time.
    #[arg(long, env = "CAAS_METRICS_INTERVAL", default_value = "10s", value_parser = at_least_a_second)]
    metrics_interval: humantime::Duration,
    /// How often the alert rules of every organization are evaluated (at least 1 s).
    #[arg(long, env = "CAAS_ALERT_INTERVAL", default_value = "60s", value_parser = at_least_a_second)]
    alert_interval: humantime::Duration,
    /// Let alert webhooks reach loopback and private addresses (refused by default, so a
    /// tenant cannot make the server call into its own network).
    #[arg(long, env = "CAAS_WEBHOOK_ALLOW_PRIVATE")]
    webhook_allow_private: bool,
    /// How long a container gets to stop before it is killed.
    #[arg(long, env = "CAAS_STOP_TIMEOUT", default_value = "10s")]
    stop_timeout: humantime::Duration,
    /// Name of this platform instance: it labels what it creates and only reconciles its own,
    /// so several servers can share one engine.
    #[arg(long, env = "CAAS_INSTANCE", default_value = "default")]
    instance: String,
    /// Print the configuration and exit.
    #[arg(long)]
    print_config: bool,
}

/// Maintenance commands (the server itself runs without one).
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Re-encrypt every secret in the store under a new key, then exit.
    ///
    /// Stop every server using the store first. Every secret is re-encrypted in one
    /// transaction (a failure or a crash leaves all of them under the old key), then the
    /// default key file is replaced by the new key; with --secret-key-file, start the server
    /// with the new file from then on.
    RotateSecretKey {
        /// File holding the new key; when missing, a fresh random key is written there (mode
        /// 0600).
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

/// An http(s) URL without query or fragment, for links to this server.
fn public_url(value: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(value).map_err(|e| format!("{e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or a fragment".into());
    }
    Ok(url)
}

/// Where invitation links point: `--public-url`, else the listen address over plain HTTP.
fn link_base(args: &Args) -> String {
    match &args.public_url {
        Some(url) => url.as_str().trim_end_matches('/').to_string(),
        None => format!("http://{}", args.listen),
    }
}

/// `--host-guard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum HostGuardFlag {
    /// Guard the host when the rules can be installed.
    Auto,
    /// Guard the host or refuse to create networks.
    Required,
    /// Leave the host reachable.
    Off,
}

impl From<HostGuardFlag> for caas_docker::HostGuard {
    fn from(f: HostGuardFlag) -> Self {
        match f {
            HostGuardFlag::Auto => Self::Auto,
            HostGuardFlag::Required => Self::Required,
            HostGuardFlag::Off => Self::Off,
        }
    }
}

/// The API's limits from the flags.
fn http_limits(args: &Args) -> caas_http::HttpLimits {
    caas_http::HttpLimits::new()
        .request_timeout(args.request_timeout.into())
        .max_in_flight(usize::try_from(args.max_in_flight).unwrap_or(usize::MAX))
        .per_user(args.rate_limit, args.rate_burst)
}

/// The platform's own names customers may not claim: `--reserved-hostnames` and the public
/// URL's host when it is a DNS name. Errors: `InvalidInput` naming the flag.
fn reserved_names(args: &Args) -> caas_core::Result<Vec<caas_core::validate::Hostname>> {
    let mut names = Vec::new();
    for n in &args.reserved_hostnames {
        names.push(caas_core::validate::Hostname::parse_field(
            "reserved_hostnames",
            n.trim(),
        )?);
    }
    if let Some(url::Host::Domain(host)) = args.public_url.as_ref().and_then(|u| u.host())
        && let Ok(name) = caas_core::validate::Hostname::parse(host)
    {
        names.push(name);
    }
    Ok(names)
}

/// A duration flag of at least a second: a worker ticking faster would only load the engine
/// and the store (and a zero interval cannot tick at all).
fn at_least_a_second(value: &str) -> Result<humantime::Duration, String> {
    let d: humantime::Duration = value.parse().map_err(|e| format!("{e}"))?;
    if std::time::Duration::from(d) < std::time::Duration::from_secs(1) {
        return Err("must be at least 1s".into());
    }
    Ok(d)
}

/// A token lifetime flag: a duration, or `never`.
#[derive(Debug, Clone, Copy)]
struct TokenTtl(Option<std::time::Duration>);

fn token_ttl(value: &str) -> Result<TokenTtl, String> {
    if value.eq_ignore_ascii_case("never") {
        return Ok(TokenTtl(None));
    }
    let d: humantime::Duration = value.parse().map_err(|e| format!("{e} (or `never`)"))?;
    if std::time::Duration::from(d) < std::time::Duration::from_secs(60) {
        return Err("must be at least 1m (or `never`)".into());
    }
    Ok(TokenTtl(Some(d.into())))
}

/// The token lifetime policy of the flags: the default never passes the maximum (lowering
/// only --token-max-ttl lowers both).
fn token_lifetime(args: &Args) -> caas_core::platform::TokenLifetime {
    let max = args.token_max_ttl.0;
    let default = match (args.token_default_ttl.0, max) {
        (Some(d), Some(m)) => Some(d.min(m)),
        (d, _) => d,
    };
    caas_core::platform::TokenLifetime::new(default, max)
}

/// Hands the administrator's first token over: to `file` (created with mode 0600) when given,
/// else to stdout. Never through tracing, so it cannot end up in a log collector. When the file
/// cannot be written the token is printed rather than lost: it is shown only this once.
fn hand_over_bootstrap_token(secret: &str, file: Option<&std::path::Path>) {
    use std::io::Write;
    if let Some(path) = file {
        match write_private(path, secret) {
            Ok(()) => {
                println!(
                    "Admin API token written to {} (shown once, store it now)",
                    path.display()
                );
                println!("{BOOTSTRAP_TOKEN_NOTE}");
                return;
            }
            Err(e) => eprintln!(
                "could not write the admin API token to {}: {e}",
                path.display()
            ),
        }
    }
    println!("Admin API token (shown once, store it now): {secret}");
    println!("{BOOTSTRAP_TOKEN_NOTE}");
    let _ = std::io::stdout().flush();
}

/// Printed with the bootstrap token: the lifetime flags do not apply to it.
const BOOTSTRAP_TOKEN_NOTE: &str = "This token never expires (--token-max-ttl does not apply to it): \
     create tokens of your own (POST /v1/tokens) and revoke it (DELETE /v1/tokens/<id>).";

fn write_private(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    // A file that already existed keeps its mode through `open`: tighten it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    writeln!(f, "{secret}")?;
    f.sync_all()
}

/// The key file of the flags: `--secret-key-file`, else `secret.key` in the data directory.
fn key_file(args: &Args) -> secret_key::KeyFile {
    secret_key::KeyFile::new(args.secret_key_file.as_deref(), &args.data_dir)
}

/// The store, migrated, its secrets sealed under the key file's key (created on first start).
async fn open_store(args: &Args) -> anyhow::Result<(Arc<dyn Store>, String)> {
    let (store, desc) = open_sql_store(args).await?;
    Ok((secret_key::open_sealed(store, &key_file(args)).await?, desc))
}

/// The SQL store of the flags, migrated.
async fn open_sql_store(args: &Args) -> anyhow::Result<(secret_key::SqlStore, String)> {
    if let Some(url) = &args.database_url {
        let store = caas_postgres::PgStore::connect(url)
            .await
            .context("connecting to PostgreSQL (DATABASE_URL)")?;
        store.migrate().await.context("migrating PostgreSQL")?;
        return Ok((secret_key::SqlStore::Postgres(store), redact_url(url)));
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    let path = args.data_dir.join("caas.db");
    let store = caas_sqlite::SqliteStore::open(&path.to_string_lossy())
        .await
        .context("opening the SQLite store")?;
    store.migrate().await.context("migrating SQLite")?;
    Ok((
        secret_key::SqlStore::Sqlite(store),
        format!("sqlite:{}", path.display()),
    ))
}

/// Where backups go, as configured (for logs and `--print-config`; nothing is created).
fn backup_target(args: &Args) -> String {
    match &args.backup_url {
        Some(url) => redact_url(url),
        None => format!("dir:{}", backup_dir(args).display()),
    }
}

fn backup_dir(args: &Args) -> PathBuf {
    args.backup_dir
        .clone()
        .unwrap_or_else(|| args.data_dir.join("backups"))
}

/// Where restores stage backups, created when missing. Staging files a restore left a day
/// ago or longer (the process was killed half-way) are removed.
fn staging_dir(args: &Args) -> anyhow::Result<PathBuf> {
    let dir = args
        .staging_dir
        .clone()
        .unwrap_or_else(|| args.data_dir.join("staging"));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the staging directory {}", dir.display()))?;
    let day = std::time::Duration::from_secs(24 * 3600);
    for entry in std::fs::read_dir(&dir)?.flatten() {
        let stale = entry
            .file_name()
            .to_string_lossy()
            .starts_with("caas-restore-")
            && entry
                .metadata()
                .ok()
                .filter(std::fs::Metadata::is_file)
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= day);
        if stale {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(file = %entry.path().display(), "removed a stale restore staging file")
                }
                Err(e) => {
                    tracing::warn!(file = %entry.path().display(), error = %e, "could not remove a stale restore staging file")
                }
            }
        }
    }
    Ok(dir)
}

/// The backup destination: the object store of `--backup-url`, else the backup directory
/// (created when missing). Keys live under the URL's path, or under `caas-backups` in the
/// directory (so the directory can hold other things too).
fn backup_config(args: &Args) -> anyhow::Result<caas_core::platform::BackupConfig> {
    use caas_core::platform::BackupConfig;
    use object_store::ObjectStoreScheme;

    let Some(raw) = &args.backup_url else {
        let dir = backup_dir(args);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the backup directory {}", dir.display()))?;
        // Deleting a backup also removes the directories it leaves empty.
        let store = object_store::local::LocalFileSystem::new_with_prefix(&dir)
            .with_context(|| format!("opening the backup directory {}", dir.display()))?
            .with_automatic_cleanup(true);
        return Ok(BackupConfig::new(Arc::new(store)));
    };
    let url = url::Url::parse(raw).context("parsing --backup-url / CAAS_BACKUP_URL")?;
    let context = || format!("opening the backup store {}", redact_url(raw));
    let (scheme, prefix) = ObjectStoreScheme::parse(&url).with_context(context)?;
    let store: Arc<dyn object_store::ObjectStore> =
        if scheme == ObjectStoreScheme::AmazonS3 && matches!(url.scheme(), "s3" | "s3a") {
            Arc::new(
                object_store::aws::AmazonS3Builder::from_env()
                    .with_url(raw.as_str())
                    .build()
                    .with_context(context)?,
            )
        } else {
            // Other S3 URL forms (https://bucket.s3.region.amazonaws.com, R2) read the same
            // AWS_* settings; `file://` needs none.
            let aws = std::env::vars()
                .filter(|(k, _)| k.starts_with("AWS_"))
                .map(|(k, v)| (k.to_ascii_lowercase(), v));
            let (store, _) = object_store::parse_url_opts(&url, aws).with_context(context)?;
            Arc::from(store)
        };
    let config = BackupConfig::new(store);
    Ok(if prefix.as_ref().is_empty() {
        config
    } else {
        config.prefix(prefix.as_ref())
    })
}

fn redact_url(url: &str) -> String {
    // postgres://user:secret@host/db → postgres://user:***@host/db
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=info".into()),
        )
        .init();
    let args = Args::parse();
    if let Some(Command::RotateSecretKey { new_key_file }) = &args.command {
        let open = async || Ok(open_sql_store(&args).await?.0);
        return secret_key::rotate(&key_file(&args), new_key_file, open).await;
    }

    let connection = DockerConnection::from_env_value(
        args.docker_host.as_deref(),
        args.docker_tls_verify,
        args.docker_cert_path.as_deref(),
    )?;
    let store_desc = args
        .database_url
        .as_deref()
        .map(redact_url)
        .unwrap_or_else(|| format!("sqlite:{}", args.data_dir.join("caas.db").display()));
    let config = serde_json::json!({
        "listen": args.listen.to_string(),
        "store": store_desc,
        "secret_key_file": key_file(&args).path.display().to_string(),
        "docker": connection.describe(),
        "admin_email": args.admin_email,
        "public_url": link_base(&args),
        "instance": args.instance,
        "backups": backup_target(&args),
        "metrics_interval": args.metrics_interval.to_string(),
        "alert_interval": args.alert_interval.to_string(),
        "webhook_allow_private": args.webhook_allow_private,
    });
    if args.print_config {
        println!("{}", serde_json::to_string_pretty(&config)?);
        return Ok(());
    }
    tracing::info!(%config, "starting caas-server");

    let (store, store_desc) = open_store(&args).await?;
    // Which engine: an explicit DOCKER_HOST / --docker-host wins; otherwise a configuration an
    // administrator stored through the API; otherwise auto-detection (the first candidate
    // that answers), falling back to the default socket.
    let inputs = DetectionInputs::from_env(|k| std::env::var(k).ok());
    let connector = Arc::new(DockerConnector::new(
        inputs.clone(),
        args.archive_helper_image.clone(),
    ));
    let explicit = args.docker_host.is_some();
    let connection = if explicit {
        connection
    } else {
        let detection = caas_docker::detect(&inputs).await;
        for c in &detection.candidates {
            tracing::debug!(source = %c.source, target = %c.report.target, reachable = c.report.reachable, "Docker candidate");
        }
        detection.chosen.unwrap_or(connection)
    };
    let runtime = DockerRuntime::builder()
        .connection(connection.clone())
        .helper_image(args.archive_helper_image.clone())
        .host_guard(args.host_guard.into())
        .build_lazy()?;
    // Networks made by an earlier version, or after a firewall reload, get their rules now.
    match runtime.guard_host().await {
        Ok(n) => tracing::debug!(networks = n, "host guard in place"),
        Err(e) => tracing::warn!(error = %e, "could not guard the host from tenant networks"),
    }
    let mut domains =
        caas_core::platform::DomainConfig::new().claim_ttl(args.domain_claim_ttl.into());
    for ip in &args.public_addresses {
        domains = domains.public_address(*ip);
    }
    for name in reserved_names(&args)? {
        domains = domains.reserve(name);
    }
    if let Some(target) = &args.cname_target {
        domains = domains.cname_target(caas_core::validate::Hostname::parse_field(
            "cname_target",
            target.as_str(),
        )?);
    }
    let mut builder = Platform::builder()
        .stream_limits(
            caas_core::platform::StreamLimits::new()
                .per_user(usize::try_from(args.streams_per_user).unwrap_or(usize::MAX))
                .per_org(usize::try_from(args.streams_per_org).unwrap_or(usize::MAX)),
        )
        .store(store)
        .runtime(Arc::new(runtime))
        .runtime_connector(connector, DockerConnector::config(&connection))
        .instance(args.instance.clone())
        .token_lifetime(token_lifetime(&args))
        .stop_timeout(args.stop_timeout.into())
        .backups(
            backup_config(&args)?
                .staging_dir(staging_dir(&args)?)
                .min_schedule_interval(args.backup_min_interval.into())
                .max_retention(args.backup_max_keep_last, args.backup_max_retention_days),
        )
        .metrics_interval(args.metrics_interval.into())
        .notifier(Arc::new(
            caas_notify::WebhookNotifier::new()?
                .allow_private_addresses(args.webhook_allow_private)?,
        ))
        // Invitation links go to the log (INFO, target `caas::invitations`): see the crate docs.
        .mailer(Arc::new(caas_core::ports::mailer::LogMailer::new(
            link_base(&args),
        )));
    if args.wildcard_domains
        && args.traefik_cert_resolver.is_some()
        && args.traefik_wildcard_cert_resolver.is_none()
    {
        return Err(caas_core::Error::invalid(
            "traefik_wildcard_cert_resolver",
            "--wildcard-domains with --traefik-cert-resolver needs --traefik-wildcard-cert-resolver: \
             ACME issues wildcard certificates only through a DNS-01 resolver",
        )
        .into());
    }
    domains = domains.wildcards(args.wildcard_domains);
    if let (Some(dir), Some(api)) = (&args.traefik_dynamic_dir, &args.traefik_api) {
        let entrypoints = caas_traefik::Entrypoints {
            cert_resolver: args.traefik_cert_resolver.clone(),
            wildcard_cert_resolver: args.traefik_wildcard_cert_resolver.clone(),
            ..caas_traefik::Entrypoints::default()
        };
        let proxy = caas_traefik::TraefikProxy::new(dir, api.clone(), entrypoints)?;
        domains = domains.tls(args.traefik_cert_resolver.is_some());
        let challenge = match &args.http_challenge_upstream {
            Some(url) => url.as_str().trim_end_matches('/').to_string(),
            None => format!("http://127.0.0.1:{}", args.listen.port()),
        };
        domains = domains.http_challenge(challenge);
        builder = builder.proxy(Arc::new(proxy));
        tracing::info!(dir = %dir.display(), api = %api, "routing through Traefik's file provider");
    }
    let dns = if args.dns_servers.is_empty() {
        caas_traefik::HickoryDns::from_system_conf()
    } else {
        caas_traefik::HickoryDns::new(args.dns_servers.clone())
    };
    match dns {
        Ok(dns) => builder = builder.dns_resolver(Arc::new(dns)),
        // The server still runs; verifying domains answers why it cannot.
        Err(e) => {
            tracing::warn!(error = %e, "no name servers for domain verification; set --dns-servers")
        }
    }
    let platform = builder.domains(domains).build()?;
    if !explicit {
        if let Some(stored) = platform.admin().load_runtime_config().await? {
            tracing::info!(settings = %stored.settings, "runtime configuration");
        }
    }
    match platform.runtime().ping().await {
        Ok(info) => tracing::info!(version = %info.version, os = %info.os, "Docker engine answers"),
        Err(e) => tracing::warn!(error = %e, "Docker engine unavailable; serving anyway"),
    }
    let admin = platform
        .users()
        .ensure_platform_admin(&args.admin_email)
        .await?;
    if let Some(secret) = platform.tokens().ensure_bootstrap(&admin).await? {
        hand_over_bootstrap_token(&secret, args.bootstrap_token_file.as_deref());
    }
    tracing::info!(admin = %admin.email, store = %store_desc, backups = %backup_target(&args), instance = %args.instance, "platform ready");

    // Background workers share one shutdown signal with the HTTP server.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let reconciler = tokio::spawn(
        platform
            .clone()
            .run_reconciler(args.reconcile_interval.into(), stopped(stop_rx.clone())),
    );

    let verifier = tokio::spawn(platform.clone().run_domain_verifier(
        args.domain_recheck_interval.into(),
        stopped(stop_rx.clone()),
    ));
    let volume_monitor = tokio::spawn(
        platform
            .clone()
            .run_volume_monitor(args.volume_check_interval.into(), stopped(stop_rx.clone())),
    );
    let backup_scheduler = tokio::spawn(
        platform
            .clone()
            .run_backup_scheduler(args.backup_check_interval.into(), stopped(stop_rx.clone())),
    );
    let mut collector = caas_core::platform::CollectorConfig::default();
    collector.interval = args.metrics_interval.into();
    let metrics_collector = tokio::spawn(
        platform
            .clone()
            .run_collector(collector, stopped(stop_rx.clone())),
    );
    let event_watcher = tokio::spawn(platform.clone().run_event_watcher(
        caas_core::platform::WatcherConfig::default(),
        stopped(stop_rx.clone()),
    ));
    let alert_evaluator = tokio::spawn(
        platform
            .clone()
            .run_alert_evaluator(args.alert_interval.into(), stopped(stop_rx.clone())),
    );

    let app = caas_http::router_with(
        platform.clone(),
        Arc::new(caas_http::BearerTokenAuthenticator),
        http_limits(&args),
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    let _ = stop_tx.send(true);
    // Backups and restores asked for over HTTP run on their own (a background backup answered
    // at once): let them finish, so that their records do not stay `running`.
    if !platform
        .backups()
        .wait_for_copies(std::time::Duration::from_secs(60))
        .await
    {
        tracing::warn!(
            "backups or restores were still running after 60 s; the reconciler marks an interrupted backup failed"
        );
    }
    let ten = std::time::Duration::from_secs(10);
    let _ = tokio::time::timeout(ten, verifier).await;
    let _ = tokio::time::timeout(ten, volume_monitor).await;
    // The collector drops the cycle in progress and the watcher records the exits it holds;
    // the evaluator finishes its pass (its notifications time out within 15 s).
    let _ = tokio::time::timeout(ten, metrics_collector).await;
    let _ = tokio::time::timeout(ten, event_watcher).await;
    if tokio::time::timeout(std::time::Duration::from_secs(20), alert_evaluator)
        .await
        .is_err()
    {
        tracing::warn!("the alert evaluator did not stop within 20 s");
    }
    if tokio::time::timeout(ten, reconciler).await.is_err() {
        tracing::warn!("the reconciler did not stop within 10 s");
    }
    // A pass of the scheduler finishes the backup it is taking: give it time, so the record
    // does not stay `running`.
    if tokio::time::timeout(std::time::Duration::from_secs(60), backup_scheduler)
        .await
        .is_err()
    {
        tracing::warn!(
            "the backup scheduler did not stop within 60 s; a scheduled backup was interrupted and its record stays `running`"
        );
    }
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(flags: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("caas-server").chain(flags.iter().copied()))
    }

    #[test]
    fn backups_go_next_to_the_data_by_default_and_only_one_destination_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let a = args(&["--data-dir", data.to_str().unwrap()]).unwrap();
        assert_eq!(
            backup_target(&a),
            format!("dir:{}", data.join("backups").display())
        );
        let config = backup_config(&a).unwrap();
        assert!(data.join("backups").is_dir(), "created");
        assert_eq!(config.prefix, "caas-backups");
        assert_eq!(staging_dir(&a).unwrap(), data.join("staging"));
        assert!(data.join("staging").is_dir(), "created");
        let elsewhere = dir.path().join("big-disk");
        let b = args(&["--staging-dir", elsewhere.to_str().unwrap()]).unwrap();
        assert_eq!(staging_dir(&b).unwrap(), elsewhere);
        // A restore's leftover from two days ago goes, a fresh one and other files stay.
        let (old, fresh, other) = (
            elsewhere.join("caas-restore-old"),
            elsewhere.join("caas-restore-new"),
            elsewhere.join("notes.txt"),
        );
        for f in [&old, &fresh, &other] {
            std::fs::write(f, b"x").unwrap();
        }
        let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(48 * 3600);
        for f in [&old, &other] {
            std::fs::File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_modified(two_days_ago)
                .unwrap();
        }
        staging_dir(&b).unwrap();
        assert!(!old.exists() && fresh.exists() && other.exists());

        let e = args(&["--backup-dir", "/b", "--backup-url", "s3://bucket/p"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn a_backup_url_names_the_store_and_its_key_prefix() {
        let a = args(&["--backup-url", "s3://caas-bucket/prod/backups"]).unwrap();
        assert_eq!(backup_target(&a), "s3://caas-bucket/prod/backups");
        let config = backup_config(&a).unwrap();
        assert_eq!(config.prefix, "prod/backups");
        assert!(
            format!("{}", config.store).contains("caas-bucket"),
            "{}",
            config.store
        );

        let config = backup_config(&args(&["--backup-url", "s3://caas-bucket"]).unwrap()).unwrap();
        assert_eq!(config.prefix, "caas-backups");

        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let config = backup_config(&args(&["--backup-url", &url]).unwrap()).unwrap();
        assert_eq!(
            config.prefix,
            dir.path().to_str().unwrap().trim_start_matches('/')
        );

        assert!(backup_config(&args(&["--backup-url", "not a url"]).unwrap()).is_err());
        assert!(backup_config(&args(&["--backup-url", "ftp://host/x"]).unwrap()).is_err());
    }

    #[test]
    fn the_public_urls_host_and_the_listed_names_are_reserved() {
        let a = args(&[
            "--public-url",
            "https://Panel.Example.com/caas",
            "--reserved-hostnames",
            "apps.example.net, status.example.org",
        ])
        .unwrap();
        let names: Vec<String> = reserved_names(&a)
            .unwrap()
            .into_iter()
            .map(|h| h.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "apps.example.net",
                "status.example.org",
                "panel.example.com"
            ]
        );
        // An address is no name to reserve.
        let a = args(&["--public-url", "http://127.0.0.1:8080"]).unwrap();
        assert!(reserved_names(&a).unwrap().is_empty());
        let a = args(&["--reserved-hostnames", "bad`name.example"]).unwrap();
        let e = reserved_names(&a).unwrap_err();
        assert_eq!(e.field(), Some("reserved_hostnames"), "{e}");
        let a = args(&[]).unwrap();
        assert_eq!(
            std::time::Duration::from(a.domain_claim_ttl),
            std::time::Duration::from_secs(7 * 24 * 3600)
        );
    }

    #[test]
    fn request_and_stream_limits_come_from_the_flags() {
        let a = args(&[]).unwrap();
        let l = http_limits(&a);
        assert_eq!(l.request_timeout, std::time::Duration::from_secs(30));
        assert_eq!((l.max_in_flight, l.per_second, l.burst), (256, 20, 100));
        assert_eq!((a.streams_per_user, a.streams_per_org), (8, 32));
        let a = args(&[
            "--request-timeout",
            "2m",
            "--max-in-flight",
            "64",
            "--rate-limit",
            "5",
            "--rate-burst",
            "10",
        ])
        .unwrap();
        let l = http_limits(&a);
        assert_eq!(l.request_timeout, std::time::Duration::from_secs(120));
        assert_eq!((l.max_in_flight, l.per_second, l.burst), (64, 5, 10));
        for bad in [
            ["--rate-limit", "0"],
            ["--max-in-flight", "0"],
            ["--streams-per-user", "0"],
        ] {
            assert!(args(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn workers_tick_every_second_at_most_often() {
        let a = args(&[]).unwrap();
        assert_eq!(
            std::time::Duration::from(a.metrics_interval),
            std::time::Duration::from_secs(10)
        );
        assert_eq!(
            std::time::Duration::from(a.alert_interval),
            std::time::Duration::from_secs(60)
        );
        assert!(
            !a.webhook_allow_private,
            "private webhooks are refused by default"
        );
        let a = args(&["--metrics-interval", "2s", "--alert-interval", "1m 30s"]).unwrap();
        assert_eq!(
            std::time::Duration::from(a.alert_interval),
            std::time::Duration::from_secs(90)
        );
        for bad in ["0s", "500ms", "soon"] {
            let e = args(&["--metrics-interval", bad]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
            assert!(args(&["--alert-interval", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn invitation_links_point_at_the_public_url_or_the_listen_address() {
        let a = args(&["--listen", "127.0.0.1:9090"]).unwrap();
        assert_eq!(link_base(&a), "http://127.0.0.1:9090");
        let a = args(&["--public-url", "https://panel.example.com/caas/"]).unwrap();
        assert_eq!(link_base(&a), "https://panel.example.com/caas");
        let a = args(&["--public-url", "https://panel.example.com"]).unwrap();
        assert_eq!(link_base(&a), "https://panel.example.com");
        for bad in [
            "panel.example.com",
            "ftp://panel.example.com",
            "https://panel.example.com/?a=b",
            "https://panel.example.com/#top",
            "unix:/run/caas.sock",
        ] {
            let e = args(&["--public-url", bad]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
        }
    }

    #[test]
    fn database_passwords_are_not_printed() {
        assert_eq!(
            redact_url("postgres://caas:secret@127.0.0.1:5432/caas"),
            "postgres://caas:***@127.0.0.1:5432/caas"
        );
        assert_eq!(
            redact_url("postgres://127.0.0.1/caas"),
            "postgres://127.0.0.1/caas"
        );
    }

    #[test]
    fn token_lifetimes_come_from_the_flags_and_the_default_never_passes_the_maximum() {
        use caas_core::platform::TokenLifetime;
        let day = std::time::Duration::from_secs(86_400);
        let lifetime = |flags: &[&str]| token_lifetime(&args(flags).unwrap());
        assert_eq!(
            lifetime(&[]),
            TokenLifetime::new(Some(day * 90), Some(day * 365))
        );
        assert_eq!(
            lifetime(&["--token-max-ttl", "30days"]),
            TokenLifetime::new(Some(day * 30), Some(day * 30)),
            "lowering the maximum lowers the default"
        );
        assert_eq!(
            lifetime(&["--token-default-ttl", "never", "--token-max-ttl", "never"]),
            TokenLifetime::new(None, None)
        );
        assert_eq!(
            lifetime(&["--token-default-ttl", "12h"]),
            TokenLifetime::new(Some(day / 2), Some(day * 365))
        );
        for bad in [
            ["--token-max-ttl", "0s"],
            ["--token-default-ttl", "30s"],
            ["--token-default-ttl", "soon"],
        ] {
            assert!(args(&bad).is_err(), "{bad:?}");
        }
    }
}
