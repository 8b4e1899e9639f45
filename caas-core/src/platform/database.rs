//! Managed databases: PostgreSQL, MySQL, MariaDB, MongoDB and Redis as services with their
//! data on a persistent volume and generated credentials.
//!
//! | engine | default image | data directory | port | credentials through |
//! |---|---|---|---|---|
//! | postgres | `postgres:16` | `/var/lib/postgresql/data` | 5432 | `POSTGRES_USER`, `POSTGRES_PASSWORD`, `POSTGRES_DB` |
//! | mysql | `mysql:8.4` | `/var/lib/mysql` | 3306 | `MYSQL_ROOT_PASSWORD`, `MYSQL_USER`, `MYSQL_PASSWORD`, `MYSQL_DATABASE` |
//! | mariadb | `mariadb:11.4` | `/var/lib/mysql` | 3306 | `MARIADB_ROOT_PASSWORD`, `MARIADB_USER`, `MARIADB_PASSWORD`, `MARIADB_DATABASE` |
//! | mongo | `mongo:7.0` | `/data/db` | 27017 | `MONGO_INITDB_ROOT_USERNAME`, `MONGO_INITDB_ROOT_PASSWORD`, `MONGO_INITDB_DATABASE` |
//! | redis | `redis:7.2` | `/data` | 6379 | `REDIS_PASSWORD` passed to `redis-server --requirepass` |
//!
//! Apps of the same project reach a database by its service name on the project network; the
//! connection string is returned once, at creation, and the password is stored as a secret
//! env value (never returned again, never logged).

use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::Platform;
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::model::{
    DatabaseEngine, EnvVar, HealthCheck, HealthProbe, PortSpec, Protocol, ResourceLimits,
    RestartPolicy, Service, ServiceKind, ServiceSpec, VolumeMount,
};
use crate::units::GIB;
use crate::validate::{ImageRef, Name};

/// The image used for each engine. Defaults are the official images at a current major
/// version; embedders pin their own (or point at a private registry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DatabaseImages {
    /// PostgreSQL.
    pub postgres: String,
    /// MySQL.
    pub mysql: String,
    /// MariaDB.
    pub mariadb: String,
    /// MongoDB.
    pub mongo: String,
    /// Redis.
    pub redis: String,
}

impl Default for DatabaseImages {
    fn default() -> Self {
        Self {
            postgres: "postgres:16".into(),
            mysql: "mysql:8.4".into(),
            mariadb: "mariadb:11.4".into(),
            mongo: "mongo:7.0".into(),
            redis: "redis:7.2".into(),
        }
    }
}

impl DatabaseImages {
    /// The image of an engine.
    pub fn image(&self, engine: DatabaseEngine) -> &str {
        match engine {
            DatabaseEngine::Postgres => &self.postgres,
            DatabaseEngine::Mysql => &self.mysql,
            DatabaseEngine::Mariadb => &self.mariadb,
            DatabaseEngine::Mongo => &self.mongo,
            DatabaseEngine::Redis => &self.redis,
        }
    }

    /// Sets the image of an engine.
    pub fn with(mut self, engine: DatabaseEngine, image: impl Into<String>) -> Self {
        let slot = match engine {
            DatabaseEngine::Postgres => &mut self.postgres,
            DatabaseEngine::Mysql => &mut self.mysql,
            DatabaseEngine::Mariadb => &mut self.mariadb,
            DatabaseEngine::Mongo => &mut self.mongo,
            DatabaseEngine::Redis => &mut self.redis,
        };
        *slot = image.into();
        self
    }
}

/// Input for deploying a database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeployDatabase {
    /// Service name, unique in the project; the host name apps use.
    pub name: String,
    /// Engine.
    pub engine: DatabaseEngine,
    /// Image override (default: the platform's image for the engine).
    #[serde(default)]
    pub image: Option<String>,
    /// Limits (default: 0.5 CPU, 512 MiB, 256 pids).
    #[serde(default)]
    pub resources: Option<ResourceLimits>,
    /// Size of the data volume counted against the storage quota (default 1 GiB).
    #[serde(default)]
    pub volume_size_bytes: Option<u64>,
}

impl DeployDatabase {
    /// A database called `name` running `engine` with defaults.
    pub fn new(name: impl Into<String>, engine: DatabaseEngine) -> Self {
        Self {
            name: name.into(),
            engine,
            image: None,
            resources: None,
            volume_size_bytes: None,
        }
    }
}

/// Credentials of a new database: returned once, at creation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DatabaseCredentials {
    /// Host name on the project network (the service name).
    pub host: String,
    /// Port.
    pub port: u16,
    /// User (empty for Redis).
    pub username: String,
    /// Password.
    pub password: String,
    /// Database name (`0` for Redis).
    pub database: String,
    /// A URL apps of the same project can use.
    pub connection_string: String,
}

impl std::fmt::Debug for DatabaseCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseCredentials")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"********")
            .field("database", &self.database)
            .finish()
    }
}

/// A deployed database and its credentials (shown once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeployedDatabase {
    /// The service (secrets redacted).
    pub service: Service,
    /// The credentials.
    pub credentials: DatabaseCredentials,
}

/// A random password of `len` alphanumeric characters (no characters that need quoting in
/// URLs or shells).
pub fn generate_password(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// The name of the volume holding a database's data.
pub fn data_volume_name(service: &str) -> String {
    // A service name is at most 63 characters; the suffix keeps the volume name a DNS label.
    let base: String = service.chars().take(63 - 5).collect();
    format!("{}-data", base.trim_end_matches('-'))
}

/// The spec and credentials of a database service: a pure function, so what the platform
/// would run can be checked without running it.
pub fn database_spec(
    name: &Name,
    engine: DatabaseEngine,
    image: &str,
    resources: ResourceLimits,
    volume_size_bytes: u64,
    password: &str,
) -> Result<(ServiceSpec, DatabaseCredentials)> {
    let image = ImageRef::parse_field("image", image)?;
    let host = name.to_string();
    // Database and user names: the service name with '-' (not allowed unquoted) as '_'.
    let db = name.as_str().replace('-', "_");
    let user = "app".to_string();
    let mut spec = ServiceSpec::new(image);
    spec.resources = resources;
    spec.restart_policy = RestartPolicy::UnlessStopped;
    let (port, target) = match engine {
        DatabaseEngine::Postgres => (5432, "/var/lib/postgresql/data"),
        DatabaseEngine::Mysql | DatabaseEngine::Mariadb => (3306, "/var/lib/mysql"),
        DatabaseEngine::Mongo => (27017, "/data/db"),
        DatabaseEngine::Redis => (6379, "/data"),
    };
    spec.ports.push(PortSpec {
        container_port: port,
        protocol: Protocol::Tcp,
    });
    spec.volumes.push(VolumeMount {
        volume: Name::parse(data_volume_name(name.as_str()))?,
        target: target.to_string(),
        read_only: false,
        size_bytes: volume_size_bytes,
    });
    let cmd = |c: &[&str]| HealthProbe::Command {
        command: c.iter().map(|s| s.to_string()).collect(),
    };
    let (probe, creds) = match engine {
        DatabaseEngine::Postgres => {
            spec.env.push(EnvVar::plain("POSTGRES_USER", &user)?);
            spec.env
                .push(EnvVar::secret("POSTGRES_PASSWORD", password)?);
            spec.env.push(EnvVar::plain("POSTGRES_DB", &db)?);
            (
                cmd(&["pg_isready", "-U", &user, "-d", &db, "-h", "127.0.0.1"]),
                (
                    user.clone(),
                    db.clone(),
                    format!("postgres://{user}:{password}@{host}:{port}/{db}"),
                ),
            )
        }
        DatabaseEngine::Mysql | DatabaseEngine::Mariadb => {
            let prefix = if engine == DatabaseEngine::Mysql {
                "MYSQL"
            } else {
                "MARIADB"
            };
            spec.env.push(EnvVar::secret(
                &format!("{prefix}_ROOT_PASSWORD"),
                generate_password(32),
            )?);
            spec.env
                .push(EnvVar::plain(&format!("{prefix}_USER"), &user)?);
            spec.env
                .push(EnvVar::secret(&format!("{prefix}_PASSWORD"), password)?);
            spec.env
                .push(EnvVar::plain(&format!("{prefix}_DATABASE"), &db)?);
            let probe = if engine == DatabaseEngine::Mysql {
                cmd(&["mysqladmin", "ping", "-h", "127.0.0.1", "--silent"])
            } else {
                cmd(&["healthcheck.sh", "--connect", "--innodb_initialized"])
            };
            (
                probe,
                (
                    user.clone(),
                    db.clone(),
                    format!("mysql://{user}:{password}@{host}:{port}/{db}"),
                ),
            )
        }
        DatabaseEngine::Mongo => {
            spec.env
                .push(EnvVar::plain("MONGO_INITDB_ROOT_USERNAME", &user)?);
            spec.env
                .push(EnvVar::secret("MONGO_INITDB_ROOT_PASSWORD", password)?);
            spec.env.push(EnvVar::plain("MONGO_INITDB_DATABASE", &db)?);
            (
                cmd(&["mongosh", "--quiet", "--eval", "db.adminCommand('ping')"]),
                (
                    user.clone(),
                    db.clone(),
                    format!("mongodb://{user}:{password}@{host}:{port}/{db}?authSource=admin"),
                ),
            )
        }
        DatabaseEngine::Redis => {
            spec.env.push(EnvVar::secret("REDIS_PASSWORD", password)?);
            // Through the environment, so the password is not in the container's command.
            spec.command = Some(vec![
                "sh".into(),
                "-c".into(),
                "exec redis-server --requirepass \"$REDIS_PASSWORD\" --appendonly yes --dir /data"
                    .into(),
            ]);
            (
                HealthProbe::Command {
                    command: vec![
                        "sh".into(),
                        "-c".into(),
                        "redis-cli --no-auth-warning -a \"$REDIS_PASSWORD\" ping | grep -q PONG"
                            .into(),
                    ],
                },
                (
                    String::new(),
                    "0".to_string(),
                    format!("redis://:{password}@{host}:{port}/0"),
                ),
            )
        }
    };
    spec.health_check = Some(HealthCheck {
        probe,
        interval: std::time::Duration::from_secs(5),
        timeout: std::time::Duration::from_secs(5),
        retries: 5,
        start_period: std::time::Duration::from_secs(10),
    });
    let (username, database, connection_string) = creds;
    Ok((
        spec,
        DatabaseCredentials {
            host,
            port,
            username,
            password: password.to_string(),
            database,
            connection_string,
        },
    ))
}

impl Platform {
    /// Deploys a database: a service with its data on a persistent volume, credentials
    /// generated and passed through the engine's documented environment variables. The
    /// credentials are in the result and never returned again.
    ///
    /// Errors: as [`Services::deploy_app`](crate::platform::Services::deploy_app).
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %db.name, caas.engine = db.engine.as_str()))]
    pub(crate) async fn deploy_database(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        db: DeployDatabase,
    ) -> Result<DeployedDatabase> {
        let name = Name::parse_field("name", db.name)?;
        let image = db
            .image
            .unwrap_or_else(|| self.inner.database_images.image(db.engine).to_string());
        let resources = db.resources.unwrap_or(ResourceLimits {
            memory_bytes: 512 * crate::units::MIB,
            ..ResourceLimits::default()
        });
        let size = db.volume_size_bytes.unwrap_or(GIB);
        if size < crate::units::MIB {
            return Err(Error::invalid(
                "volume_size_bytes",
                "must be at least 1 MiB",
            ));
        }
        let (spec, credentials) = database_spec(
            &name,
            db.engine,
            &image,
            resources,
            size,
            &generate_password(32),
        )?;
        let service = self
            .deploy_new_service(
                who,
                org_slug,
                project,
                name.to_string(),
                ServiceKind::Database { engine: db.engine },
                spec,
            )
            .await?;
        Ok(DeployedDatabase {
            service,
            credentials,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_gets_a_volume_a_port_a_health_check_and_secret_credentials() {
        let name = Name::parse("orders-db").unwrap();
        for engine in [
            DatabaseEngine::Postgres,
            DatabaseEngine::Mysql,
            DatabaseEngine::Mariadb,
            DatabaseEngine::Mongo,
            DatabaseEngine::Redis,
        ] {
            let image = DatabaseImages::default().image(engine).to_string();
            let (spec, creds) = database_spec(
                &name,
                engine,
                &image,
                ResourceLimits::default(),
                GIB,
                "pw123",
            )
            .unwrap();
            spec.validate().unwrap();
            assert_eq!(spec.volumes.len(), 1, "{engine:?}");
            assert_eq!(spec.volumes[0].volume.as_str(), "orders-db-data");
            assert_eq!(spec.ports[0].container_port, creds.port);
            assert!(spec.health_check.is_some());
            assert!(creds.connection_string.contains("pw123"));
            assert!(creds.connection_string.contains("@orders-db:"));
            assert!(
                !format!("{creds:?}").contains("pw123"),
                "Debug hides the password"
            );
            // Every env value holding the password is secret.
            for v in &spec.env {
                if v.value == "pw123" {
                    assert!(v.secret, "{engine:?} {}", v.key);
                }
            }
            assert!(!spec.redacted().env.iter().any(|v| v.value == "pw123"));
        }
    }

    #[test]
    fn postgres_uses_the_official_variables() {
        let name = Name::parse("db").unwrap();
        let (spec, creds) = database_spec(
            &name,
            DatabaseEngine::Postgres,
            "postgres:16",
            ResourceLimits::default(),
            GIB,
            "secret",
        )
        .unwrap();
        let keys: Vec<&str> = spec.env.iter().map(|v| v.key.as_str()).collect();
        assert_eq!(keys, ["POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"]);
        assert_eq!(creds.connection_string, "postgres://app:secret@db:5432/db");
        assert_eq!(spec.volumes[0].target, "/var/lib/postgresql/data");
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let a = generate_password(32);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, generate_password(32));
    }
}
