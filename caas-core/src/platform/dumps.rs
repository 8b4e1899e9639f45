//! Logical dumps of databases through the engine's own tool, run inside the database's
//! container ([`ContainerRuntime::exec`](crate::ContainerRuntime::exec)).
//!
//! | engine | dump | restore |
//! |---|---|---|
//! | postgres | `pg_dump --clean --if-exists --no-owner --no-privileges --lock-wait-timeout=120000` of `$POSTGRES_DB` | `psql` with `ON_ERROR_STOP`, the whole dump in one transaction |
//! | mysql | `mysqldump --single-transaction --routines --triggers --events` of `$MYSQL_DATABASE` as root | `mysql` into `$MYSQL_DATABASE` |
//! | mariadb | `mariadb-dump` with the same options, of `$MARIADB_DATABASE` | `mariadb` into `$MARIADB_DATABASE` |
//!
//! The commands read the credentials from the container's own environment (the variables the
//! platform set when it provisioned the database), so no password is part of a command line
//! the platform builds, logs or sends. A dump is one database (the service's), without
//! owners or grants, so it restores into another service of the same engine too.
//!
//! Restoring replaces every object the dump holds (it drops them first) and leaves objects
//! created after the dump alone. PostgreSQL applies the whole dump or nothing: the input is
//! one transaction that is committed only by its last line, so an error or a cut input
//! changes nothing. MySQL and MariaDB commit DDL implicitly, so a dump failing half-way
//! leaves the tables it reached restored; the dump is checked whole (digest, and the tool's
//! "completed" marker at its end) before any of it is sent.

use bytes::Bytes;
use futures::StreamExt;

use super::Platform;
use crate::error::{Error, Result};
use crate::model::{BackupFormat, Service, ServiceKind, ServiceStatus, Volume};
use crate::ports::runtime::ByteStream;

/// How much of a dump's end is kept to look for the tool's completion marker.
const TAIL: usize = 8 * 1024;

/// The database service a logical dump of a volume goes through.
#[derive(Debug)]
pub(super) struct DumpSource {
    /// The service.
    pub service: Service,
    /// Its current container.
    pub container: String,
    /// The dump format of its engine.
    pub format: BackupFormat,
}

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

/// The command that writes a dump of the service's database to standard output.
pub(super) fn dump_command(format: BackupFormat) -> Vec<String> {
    match format {
        BackupFormat::PgDump => sh("PGPASSWORD=\"$POSTGRES_PASSWORD\" exec pg_dump \
             --username=\"${POSTGRES_USER:-postgres}\" \
             --dbname=\"${POSTGRES_DB:-${POSTGRES_USER:-postgres}}\" \
             --clean --if-exists --no-owner --no-privileges --lock-wait-timeout=120000"),
        BackupFormat::MysqlDump => sh(
            "MYSQL_PWD=\"$MYSQL_ROOT_PASSWORD\" exec mysqldump --user=root \
             --single-transaction --routines --triggers --events --hex-blob \
             \"$MYSQL_DATABASE\"",
        ),
        BackupFormat::MariadbDump => sh(
            "MYSQL_PWD=\"$MARIADB_ROOT_PASSWORD\" exec mariadb-dump --user=root \
             --single-transaction --routines --triggers --events --hex-blob \
             \"$MARIADB_DATABASE\"",
        ),
        BackupFormat::Archive => Vec::new(),
    }
}

/// The command that applies a dump read from standard input to the service's database.
pub(super) fn restore_command(format: BackupFormat) -> Vec<String> {
    match format {
        BackupFormat::PgDump => sh(
            "PGPASSWORD=\"$POSTGRES_PASSWORD\" exec psql --no-psqlrc --quiet \
             --set=ON_ERROR_STOP=1 --username=\"${POSTGRES_USER:-postgres}\" \
             --dbname=\"${POSTGRES_DB:-${POSTGRES_USER:-postgres}}\"",
        ),
        BackupFormat::MysqlDump => {
            sh("MYSQL_PWD=\"$MYSQL_ROOT_PASSWORD\" exec mysql --user=root \"$MYSQL_DATABASE\"")
        }
        BackupFormat::MariadbDump => sh(
            "MYSQL_PWD=\"$MARIADB_ROOT_PASSWORD\" exec mariadb --user=root \
             \"$MARIADB_DATABASE\"",
        ),
        BackupFormat::Archive => Vec::new(),
    }
}

/// What the tool writes at the end of a complete dump.
pub(super) fn completion_marker(format: BackupFormat) -> &'static str {
    match format {
        BackupFormat::PgDump => "-- PostgreSQL database dump complete",
        BackupFormat::MysqlDump | BackupFormat::MariadbDump => "-- Dump completed",
        BackupFormat::Archive => "",
    }
}

/// Whether `tail` (a dump's last bytes) holds the format's completion marker.
pub(super) fn is_complete(format: BackupFormat, tail: &[u8]) -> bool {
    let marker = completion_marker(format).as_bytes();
    !marker.is_empty() && tail.windows(marker.len()).any(|w| w == marker)
}

/// The input of the restore command: the dump, for PostgreSQL inside one transaction that
/// only its last line commits (a cut input ends the session, which rolls it back).
pub(super) fn restore_input(format: BackupFormat, dump: ByteStream) -> ByteStream {
    match format {
        BackupFormat::PgDump => {
            futures::stream::once(async { Ok(Bytes::from_static(b"BEGIN;\n")) })
                .chain(dump)
                .chain(futures::stream::once(async {
                    Ok(Bytes::from_static(b"\nCOMMIT;\n"))
                }))
                .boxed()
        }
        _ => dump,
    }
}

/// `dump` passed through, ending with an error when its last bytes lack the completion
/// marker (the tool stopped early without saying so).
pub(super) fn checked_complete(format: BackupFormat, dump: ByteStream) -> ByteStream {
    struct State {
        dump: ByteStream,
        tail: Vec<u8>,
        done: bool,
    }
    let state = State {
        dump,
        tail: Vec::new(),
        done: false,
    };
    futures::stream::unfold(state, move |mut st| async move {
        if st.done {
            return None;
        }
        match st.dump.next().await {
            Some(Ok(chunk)) => {
                st.tail.extend_from_slice(&chunk);
                if st.tail.len() > 2 * TAIL {
                    st.tail.drain(..st.tail.len() - TAIL);
                }
                Some((Ok(chunk), st))
            }
            Some(Err(e)) => {
                st.done = true;
                Some((Err(e), st))
            }
            None if is_complete(format, &st.tail) => None,
            None => {
                st.done = true;
                let e = Error::backend(
                    "platform",
                    format!(
                        "the dump ended without its completion marker ('{}'): it is incomplete",
                        completion_marker(format)
                    ),
                );
                Some((Err(e), st))
            }
        }
    })
    .boxed()
}

impl Platform {
    /// The running database service whose data volume is `v`, for a logical dump or its
    /// restore. Errors: `InvalidInput` naming `field` (no postgres, mysql or mariadb service
    /// mounts the volume, or several do), `Conflict` (the service is not running).
    pub(super) async fn dump_source(&self, v: &Volume, field: &str) -> Result<DumpSource> {
        let (service, format) = self.database_of(v, field).await?;
        if service.status != ServiceStatus::Running {
            return Err(Error::conflict(format!(
                "database service '{}' is {:?}: a logical dump or its restore needs the database \
                 running; start it, or use an archive backup",
                service.name, service.status
            )));
        }
        let container = self.current_container(&service).await?;
        Ok(DumpSource {
            service,
            container,
            format,
        })
    }

    /// The postgres, mysql or mariadb service whose data volume `v` is, running or not, and
    /// its dump format. Errors: `InvalidInput` naming `field`.
    pub(super) async fn database_of(
        &self,
        v: &Volume,
        field: &str,
    ) -> Result<(Service, BackupFormat)> {
        let users = self.services_mounting(v).await?;
        let mut databases: Vec<(Service, BackupFormat)> = users
            .iter()
            .filter_map(|s| match s.kind {
                ServiceKind::Database { engine } => {
                    BackupFormat::logical_for(engine).map(|f| (s.clone(), f))
                }
                ServiceKind::App => None,
            })
            .collect();
        if databases.len() > 1 {
            let names: Vec<&str> = databases.iter().map(|(s, _)| s.name.as_str()).collect();
            return Err(Error::invalid(
                field,
                format!(
                    "volume '{}' is mounted by several database services ({}): a logical \
                     dump needs exactly one; take an archive backup instead",
                    v.name,
                    names.join(", ")
                ),
            ));
        }
        let Some(found) = databases.pop() else {
            let mounted: Vec<&str> = users.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::invalid(
                field,
                format!(
                    "volume '{}' is not the data volume of a postgres, mysql or mariadb service \
                     (mounted by: {}); logical dumps go through the database's own tool: take \
                     an archive backup instead",
                    v.name,
                    if mounted.is_empty() {
                        "nothing".to_string()
                    } else {
                        mounted.join(", ")
                    }
                ),
            ));
        };
        Ok(found)
    }

    /// The dump of `src`'s database as it is written, failing at its end when incomplete.
    pub(super) async fn dump_stream(&self, src: &DumpSource) -> Result<ByteStream> {
        let out = self
            .runtime()
            .exec(&src.container, &dump_command(src.format), None)
            .await?;
        Ok(checked_complete(src.format, out))
    }

    /// Applies a dump to `src`'s database; what the client prints is read and dropped.
    pub(super) async fn apply_dump(&self, src: &DumpSource, dump: ByteStream) -> Result<()> {
        let mut out = self
            .runtime()
            .exec(
                &src.container,
                &restore_command(src.format),
                Some(restore_input(src.format, dump)),
            )
            .await?;
        while let Some(chunk) = out.next().await {
            chunk.map_err(|e| {
                // A `Backend` error is the client failing or its input cut before the end;
                // anything else (the engine unreachable) leaves the outcome unknown.
                let outcome = match (e.is_backend(), src.format) {
                    (true, BackupFormat::PgDump) => {
                        "PostgreSQL rolled the restore back: nothing changed"
                    }
                    (true, _) => {
                        "tables the dump reached before the error are restored, later ones are not"
                    }
                    (false, _) => "whether it was applied is unknown: check the database",
                };
                Error::backend(
                    "platform",
                    format!(
                        "restoring the dump into database service '{}' failed ({outcome}): {e}",
                        src.service.name
                    ),
                )
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    fn chunks(parts: &[&'static str]) -> ByteStream {
        let items: Vec<Result<Bytes>> = parts
            .iter()
            .map(|p| Ok(Bytes::from_static(p.as_bytes())))
            .collect();
        futures::stream::iter(items).boxed()
    }

    #[tokio::test]
    async fn a_dump_without_its_completion_marker_ends_with_an_error() {
        let whole = chunks(&[
            "CREATE TABLE t ();\n",
            "-- PostgreSQL database dump complete\n--\n",
        ]);
        let out: Vec<Bytes> = checked_complete(BackupFormat::PgDump, whole)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(out.len(), 2);

        let cut = chunks(&["CREATE TABLE t ();\n", "INSERT INTO t VAL"]);
        let items: Vec<Result<Bytes>> = checked_complete(BackupFormat::PgDump, cut).collect().await;
        assert_eq!(items.len(), 3);
        let e = items[2].as_ref().unwrap_err();
        assert!(e.to_string().contains("incomplete"), "{e}");

        // The marker split across chunks, followed by more lines, still counts.
        let split = chunks(&["x\n-- Dump comp", "leted on 2026-12-01\n", "\n"]);
        let out: Vec<Bytes> = checked_complete(BackupFormat::MariadbDump, split)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(out.len(), 3);
        // Another engine's marker does not.
        let other = chunks(&["-- Dump completed on 2026-12-01\n"]);
        let items: Vec<Result<Bytes>> = checked_complete(BackupFormat::PgDump, other)
            .collect()
            .await;
        assert!(items.last().unwrap().is_err());
    }

    #[tokio::test]
    async fn a_postgres_restore_is_one_transaction_committed_by_its_last_line() {
        let input: Vec<Bytes> = restore_input(BackupFormat::PgDump, chunks(&["SELECT 1;\n"]))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(input.concat(), b"BEGIN;\nSELECT 1;\n\nCOMMIT;\n");
        let input: Vec<Bytes> = restore_input(BackupFormat::MysqlDump, chunks(&["SELECT 1;\n"]))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(input.concat(), b"SELECT 1;\n");
    }

    #[test]
    fn commands_carry_no_credentials_and_read_them_from_the_container() {
        for f in [
            BackupFormat::PgDump,
            BackupFormat::MysqlDump,
            BackupFormat::MariadbDump,
        ] {
            for cmd in [dump_command(f), restore_command(f)] {
                assert_eq!(cmd[..2], ["sh", "-c"]);
                assert!(cmd[2].contains("PASSWORD\""), "{cmd:?}");
                assert!(cmd[2].contains("exec "), "{cmd:?}");
            }
        }
        assert!(dump_command(BackupFormat::Archive).is_empty());
    }
}
