//! Custom domains and the hostname claims they are under (`migrations/0011_tenant_isolation.sql`).
//!
//! One organization owns a hostname with every path on it: `host_claims` holds one row per
//! hostname. A claim is live while its organization has a domain row on the hostname; rows
//! left behind by cascades (a service or an organization deleted) are dead and are replaced
//! by the next claim. The semantics are `InMemoryStore`'s; how concurrent calls are decided
//! is described on [`create`].

use caas_core::model::{Domain, HostClaim, Readiness, VerificationStatus};
use caas_core::ports::quota::{QuotaGrant, foreign_host_error};
use caas_core::validate::HostPattern;
use caas_core::{DomainId, Error, OrgId, Result, ServiceId};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, Transaction};

use crate::codec::{OrgLock, finish, get, lock_org};
use crate::error::{SERVICE, Violation, corrupt, db_error, from_i64, on_violation};

const DOMAIN_COLUMNS: &str =
    "id, org_id, service_id, hostname, path_prefix, strip_prefix, target_port, created_at";

const CLAIM_COLUMNS: &str =
    "hostname, org_id, site, token, verification, readiness, expires_at, created_at";

/// Whether the `host_claims` row at hand is live: its organization has a domain on the name.
const LIVE: &str = "EXISTS (SELECT 1 FROM domains \
                    WHERE domains.hostname = host_claims.hostname \
                      AND domains.org_id = host_claims.org_id)";

/// Whether the `host_claims` row at hand is proven (the serde tag of
/// `VerificationStatus::Verified`; see the test below).
const VERIFIED: &str = "host_claims.verification ->> 'state' = 'verified'";

/// The reasoning below relies on each statement seeing everything committed before it
/// starts, whatever the server's default isolation.
const BEGIN: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";

/// How often [`take_claim`] tries again when the claim it ran into was released before it
/// could lock it; each round needs a release by someone else, so this is never reached in
/// practice.
const CLAIM_ROUNDS: usize = 8;

fn hostname(row: &PgRow, table: &str) -> Result<HostPattern> {
    let h: String = get(row, "hostname")?;
    HostPattern::parse_field("hostname", h.as_str(), true)
        .map_err(|_| corrupt(&format!("{table}.hostname"), &h))
}

fn domain(row: &PgRow) -> Result<Domain> {
    let port: i32 = get(row, "target_port")?;
    Ok(Domain {
        id: DomainId(get(row, "id")?),
        org: OrgId(get(row, "org_id")?),
        service: ServiceId(get(row, "service_id")?),
        hostname: hostname(row, "domains")?,
        path_prefix: get(row, "path_prefix")?,
        strip_prefix: get(row, "strip_prefix")?,
        target_port: u16::try_from(port).map_err(|_| corrupt("domains.target_port", port))?,
        created_at: get(row, "created_at")?,
    })
}

fn claim(row: &PgRow) -> Result<HostClaim> {
    let Json(verification) = get::<Json<VerificationStatus>>(row, "verification")?;
    let readiness = get::<Option<Json<Readiness>>>(row, "readiness")?;
    Ok(HostClaim {
        hostname: hostname(row, "host_claims")?,
        org: OrgId(get(row, "org_id")?),
        site: get(row, "site")?,
        token: get(row, "token")?,
        verification,
        readiness: readiness.map(|Json(r)| r),
        expires_at: get(row, "expires_at")?,
        created_at: get(row, "created_at")?,
    })
}

async fn has_domains(conn: &mut PgConnection, org: OrgId, host: &str) -> Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM domains WHERE hostname = $1 AND org_id = $2)")
        .bind(host)
        .bind(org.0)
        .fetch_one(conn)
        .await
        .map_err(db_error)
}

/// Copies the claim on `host` into the history when it is verified (before it is dropped or
/// replaced).
async fn remember_if_verified(conn: &mut PgConnection, host: &str) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO released_host_claims (site, org_id, hostname, released_at) \
         SELECT site, org_id, hostname, now() FROM host_claims \
         WHERE hostname = $1 AND {VERIFIED}"
    ))
    .bind(host)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Adds a domain under its organization's claim, in one READ COMMITTED transaction:
///
/// - The organization's domain lock is taken (a transaction-level advisory lock on its id;
///   the organization may be a host application's, with no row of ours): an organization's
///   domains are added one at a time, so the count checked against the grant's plan sees
///   every earlier one.
/// - The hostname is taken with `INSERT … ON CONFLICT (hostname) DO NOTHING` on the claims'
///   primary key: of several organizations inserting at once, one inserts and the others
///   wait for its transaction. They then lock the existing row (`FOR UPDATE`) and, in a
///   fresh statement, see whether its organization has a domain on the name: live and
///   someone else's is `Conflict`, live and ours is the claim we are under, dead is replaced
///   in place (so whoever waits on the row next sees the replacement). No unique violation
///   or serialization failure is left to surface as an error.
/// - The claim is taken before the path and plan checks (the order of the port's errors is
///   ownership first); when they refuse, the rollback gives the name back.
pub(crate) async fn create(
    pool: &PgPool,
    d: &Domain,
    new: &HostClaim,
    grant: &QuotaGrant,
) -> Result<HostClaim> {
    let mut tx = pool.begin_with(BEGIN).await.map_err(db_error)?;
    let result = create_in(&mut tx, d, new, grant).await;
    finish(tx, result).await
}

async fn create_in(
    tx: &mut Transaction<'_, Postgres>,
    d: &Domain,
    new: &HostClaim,
    grant: &QuotaGrant,
) -> Result<HostClaim> {
    grant.check_org(d.org)?;
    lock_org(tx, OrgLock::Domains, d.org).await?;
    let owner: Option<uuid::Uuid> = sqlx::query_scalar("SELECT org_id FROM services WHERE id = $1")
        .bind(d.service.0)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)?;
    if owner != Some(d.org.0) {
        return Err(Error::not_found("service", d.service));
    }
    if new.org != d.org || new.hostname != d.hostname {
        return Err(Error::invalid(
            "claim",
            "the claim must be the domain's organization's, on the domain's hostname",
        ));
    }
    let id_taken: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM domains WHERE id = $1)")
        .bind(d.id.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_error)?;
    if id_taken {
        return Err(Error::already_exists("domain", d.id));
    }
    let claim = take_claim(tx, new).await?;
    let taken = format!("{}{}", d.hostname, d.path_prefix);
    let path_taken: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM domains \
         WHERE org_id = $1 AND hostname = $2 AND path_prefix = $3)",
    )
    .bind(d.org.0)
    .bind(d.hostname.as_str())
    .bind(&d.path_prefix)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_error)?;
    if path_taken {
        return Err(Error::already_exists("domain", &taken));
    }
    let used: i64 = sqlx::query_scalar("SELECT count(*) FROM domains WHERE org_id = $1")
        .bind(d.org.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_error)?;
    grant.check_domain(from_i64("count", used)?)?;
    sqlx::query(&format!(
        "INSERT INTO domains ({DOMAIN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(d.id.0)
    .bind(d.org.0)
    .bind(d.service.0)
    .bind(d.hostname.as_str())
    .bind(&d.path_prefix)
    .bind(d.strip_prefix)
    .bind(i32::from(d.target_port))
    .bind(d.created_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        on_violation(e, |v| match v {
            Violation::Unique("domains_org_host_path_key") => {
                Some(Error::already_exists("domain", &taken))
            }
            Violation::Unique(_) => Some(Error::already_exists("domain", d.id)),
            Violation::ForeignKey("domains_org_fkey") => {
                Some(Error::not_found("organization", d.org))
            }
            Violation::ForeignKey(_) => Some(Error::not_found("service", d.service)),
        })
    })?;
    Ok(claim)
}

/// Takes `new`'s hostname for its organization, or finds the live claim it already holds
/// there (see [`create`]). Errors: `Conflict` (another organization holds the name).
async fn take_claim(tx: &mut Transaction<'_, Postgres>, new: &HostClaim) -> Result<HostClaim> {
    let host = new.hostname.as_str();
    for _ in 0..CLAIM_ROUNDS {
        let inserted = sqlx::query(&format!(
            "INSERT INTO host_claims ({CLAIM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (hostname) DO NOTHING"
        ))
        .bind(host)
        .bind(new.org.0)
        .bind(&new.site)
        .bind(&new.token)
        .bind(Json(&new.verification))
        .bind(new.readiness.as_ref().map(Json))
        .bind(new.expires_at)
        .bind(new.created_at)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        if inserted == 1 {
            return Ok(new.clone());
        }
        // A committed claim is there (ON CONFLICT waited for its inserter, if still running).
        let existing = sqlx::query(&format!(
            "SELECT {CLAIM_COLUMNS} FROM host_claims WHERE hostname = $1 FOR UPDATE"
        ))
        .bind(host)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)?
        .map(|row| claim(&row))
        .transpose()?;
        let Some(existing) = existing else {
            // Released between the two statements: try to insert again.
            continue;
        };
        // A statement after the lock: it sees the domains of whoever held the lock before.
        if has_domains(tx, existing.org, host).await? {
            if existing.org != new.org {
                return Err(foreign_host_error(host));
            }
            return Ok(existing);
        }
        // Dead: it gives way to the new claim, remembered first when it was proven.
        remember_if_verified(tx, host).await?;
        sqlx::query(
            "UPDATE host_claims SET org_id = $2, site = $3, token = $4, verification = $5, \
             readiness = $6, expires_at = $7, created_at = $8 WHERE hostname = $1",
        )
        .bind(host)
        .bind(new.org.0)
        .bind(&new.site)
        .bind(&new.token)
        .bind(Json(&new.verification))
        .bind(new.readiness.as_ref().map(Json))
        .bind(new.expires_at)
        .bind(new.created_at)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        return Ok(new.clone());
    }
    Err(Error::Unavailable {
        service: SERVICE,
        message: format!(
            "the claim on {host} was released and taken again {CLAIM_ROUNDS} times while this \
             request waited for it; retry"
        ),
        source: None,
    })
}

pub(crate) async fn by_id(pool: &PgPool, id: DomainId) -> Result<Domain> {
    sqlx::query(&format!(
        "SELECT {DOMAIN_COLUMNS} FROM domains WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .as_ref()
    .map(domain)
    .transpose()?
    .ok_or_else(|| Error::not_found("domain", id))
}

/// The domains `sql` selects (with its one parameter bound by `bind`).
async fn list<'q>(
    pool: &PgPool,
    sql: &'q str,
    bind: impl FnOnce(
        sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
) -> Result<Vec<Domain>> {
    bind(sqlx::query(sql))
        .fetch_all(pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(domain)
        .collect()
}

fn listing(filter: &str) -> String {
    format!("SELECT {DOMAIN_COLUMNS} FROM domains WHERE {filter} ORDER BY id")
}

pub(crate) async fn list_by_service(pool: &PgPool, service: ServiceId) -> Result<Vec<Domain>> {
    list(pool, &listing("service_id = $1"), |q| q.bind(service.0)).await
}

pub(crate) async fn list_by_org(pool: &PgPool, org: OrgId) -> Result<Vec<Domain>> {
    list(pool, &listing("org_id = $1"), |q| q.bind(org.0)).await
}

pub(crate) async fn list_by_host(pool: &PgPool, host: &str) -> Result<Vec<Domain>> {
    list(pool, &listing("hostname = $1"), |q| q.bind(host)).await
}

pub(crate) async fn list_under(pool: &PgPool, base: &str) -> Result<Vec<Domain>> {
    // Hostnames hold no LIKE metacharacters ('%', '_'): validated at the boundary.
    let pattern = format!("%.{}", base.to_ascii_lowercase());
    list(pool, &listing("hostname LIKE $1"), |q| q.bind(pattern)).await
}

pub(crate) async fn update(pool: &PgPool, d: &Domain) -> Result<()> {
    let done = sqlx::query("UPDATE domains SET strip_prefix = $2, target_port = $3 WHERE id = $1")
        .bind(d.id.0)
        .bind(d.strip_prefix)
        .bind(i32::from(d.target_port))
        .execute(pool)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("domain", d.id));
    }
    Ok(())
}

pub(crate) async fn delete(pool: &PgPool, id: DomainId) -> Result<()> {
    let mut tx = pool.begin_with(BEGIN).await.map_err(db_error)?;
    let result = delete_in(&mut tx, id).await;
    finish(tx, result).await
}

async fn delete_in(tx: &mut Transaction<'_, Postgres>, id: DomainId) -> Result<()> {
    let gone: Option<(uuid::Uuid, String)> =
        sqlx::query_as("DELETE FROM domains WHERE id = $1 RETURNING org_id, hostname")
            .bind(id.0)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?;
    let Some((org, host)) = gone else {
        return Err(Error::not_found("domain", id));
    };
    // The claim is locked before counting what is left: a create_domain adding to it holds
    // this lock until it commits, so its domain is counted.
    let holder: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT org_id FROM host_claims WHERE hostname = $1 FOR UPDATE")
            .bind(&host)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?;
    if holder == Some(org) && !has_domains(tx, OrgId(org), &host).await? {
        remember_if_verified(tx, &host).await?;
        sqlx::query("DELETE FROM host_claims WHERE hostname = $1")
            .bind(&host)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

pub(crate) async fn claim_opt(pool: &PgPool, host: &str) -> Result<Option<HostClaim>> {
    sqlx::query(&format!(
        "SELECT {CLAIM_COLUMNS} FROM host_claims WHERE hostname = $1 AND {LIVE}"
    ))
    .bind(host)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .as_ref()
    .map(claim)
    .transpose()
}

pub(crate) async fn list_claims(pool: &PgPool, org: Option<OrgId>) -> Result<Vec<HostClaim>> {
    // Hostnames are ordered bytewise, like the in-memory store, whatever the collation.
    sqlx::query(&format!(
        "SELECT {CLAIM_COLUMNS} FROM host_claims \
         WHERE ($1::uuid IS NULL OR org_id = $1) AND {LIVE} \
         ORDER BY created_at, hostname COLLATE \"C\""
    ))
    .bind(org.map(|o| o.0))
    .fetch_all(pool)
    .await
    .map_err(db_error)?
    .iter()
    .map(claim)
    .collect()
}

pub(crate) async fn update_claim(pool: &PgPool, c: &HostClaim) -> Result<()> {
    let done = sqlx::query(&format!(
        "UPDATE host_claims SET verification = $3, readiness = $4 \
         WHERE hostname = $1 AND org_id = $2 AND {LIVE}"
    ))
    .bind(c.hostname.as_str())
    .bind(c.org.0)
    .bind(Json(&c.verification))
    .bind(c.readiness.as_ref().map(Json))
    .execute(pool)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("hostname claim", &c.hostname));
    }
    Ok(())
}

pub(crate) async fn release_expired(
    pool: &PgPool,
    host: &str,
    org: OrgId,
    now: DateTime<Utc>,
) -> Result<Vec<Domain>> {
    let mut tx = pool.begin_with(BEGIN).await.map_err(db_error)?;
    let result = release_expired_in(&mut tx, host, org, now).await;
    finish(tx, result).await
}

async fn release_expired_in(
    tx: &mut Transaction<'_, Postgres>,
    host: &str,
    org: OrgId,
    now: DateTime<Utc>,
) -> Result<Vec<Domain>> {
    // Locked, so no domain can join the claim while it is released.
    let held = sqlx::query(&format!(
        "SELECT {CLAIM_COLUMNS} FROM host_claims WHERE hostname = $1 AND org_id = $2 FOR UPDATE"
    ))
    .bind(host)
    .bind(org.0)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_error)?
    .as_ref()
    .map(claim)
    .transpose()?;
    if !held.is_some_and(|c| c.is_expired(now)) {
        return Ok(Vec::new());
    }
    let mut gone = sqlx::query(&format!(
        "DELETE FROM domains WHERE hostname = $1 AND org_id = $2 RETURNING {DOMAIN_COLUMNS}"
    ))
    .bind(host)
    .bind(org.0)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_error)?
    .iter()
    .map(domain)
    .collect::<Result<Vec<_>>>()?;
    gone.sort_by_key(|d| d.id);
    // Unproven, so there is nothing to remember.
    sqlx::query("DELETE FROM host_claims WHERE hostname = $1")
        .bind(host)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(gone)
}

pub(crate) async fn site_verified_by_others(pool: &PgPool, site: &str, org: OrgId) -> Result<bool> {
    // Dead claims count too: a verified claim left by a deleted service or organization is
    // still proof that someone else owned names of the site.
    sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM host_claims WHERE site = $1 AND org_id <> $2 AND {VERIFIED}) \
             OR EXISTS (SELECT 1 FROM released_host_claims WHERE site = $1 AND org_id <> $2)"
    ))
    .bind(site)
    .bind(org.0)
    .fetch_one(pool)
    .await
    .map_err(db_error)
}

/// Fills in the site of claims the migration made (SQL cannot read the public suffix list),
/// in one statement. Runs after every migration, so an upgrade interrupted in between is
/// completed by the next start. Errors: `InvalidInput` (a stored hostname that is not a
/// valid name any more).
pub(crate) async fn backfill_sites(pool: &PgPool) -> Result<()> {
    for table in ["host_claims", "released_host_claims"] {
        let hosts: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT DISTINCT hostname FROM {table} WHERE site = ''"
        ))
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
        if hosts.is_empty() {
            continue;
        }
        let sites = hosts
            .iter()
            .map(|h| HostPattern::parse_field("hostname", h.as_str(), true).map(|p| p.site()))
            .collect::<Result<Vec<_>>>()?;
        sqlx::query(&format!(
            "UPDATE {table} SET site = v.site \
             FROM UNNEST($1::text[], $2::text[]) AS v (hostname, site) \
             WHERE {table}.hostname = v.hostname AND {table}.site = ''"
        ))
        .bind(&hosts)
        .bind(&sites)
        .execute(pool)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use caas_core::model::VerificationStatus;

    #[test]
    fn verified_in_sql_is_the_serde_tag() {
        // VERIFIED and the migration spell the state literally.
        let v = serde_json::to_value(VerificationStatus::Verified {
            at: chrono::Utc::now(),
        })
        .unwrap();
        assert_eq!(v["state"], "verified");
    }
}
