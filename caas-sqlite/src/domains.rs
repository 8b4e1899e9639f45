//! Custom domains and the hostname claims they are under (`migrations/0010_tenant_isolation.sql`).
//!
//! One organization owns a hostname with every path on it: `host_claims` holds one row per
//! hostname. A claim is live while its organization has a domain row on the hostname; rows
//! left behind by cascades (a service or an organization deleted) are dead and are replaced
//! by the next claim. Every decision that reads and then writes runs in one `BEGIN IMMEDIATE`
//! transaction behind the store's write gate (see "Quota atomicity" in the crate docs), so
//! two organizations claiming a name at once, or one organization adding domains past its
//! plan, are decided one after the other. The semantics are `InMemoryStore`'s.

use caas_core::model::{Domain, HostClaim};
use caas_core::ports::quota::{QuotaGrant, foreign_host_error};
use caas_core::validate::HostPattern;
use caas_core::{DomainId, Error, OrgId, Result, ServiceId};
use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::codec::{self, Cols, all, ts};
use crate::error::{corrupt, db_error, on_unique};

/// Whether the `host_claims` row at hand is proven, in SQL (the serde tag of
/// `VerificationStatus::Verified`; see the test below).
const VERIFIED: &str = "json_extract(host_claims.verification, '$.state') = 'verified'";

/// Whether the `host_claims` row at hand is live: its organization has a domain on the name.
const LIVE: &str = "EXISTS (SELECT 1 FROM domains
                            WHERE domains.hostname = host_claims.hostname
                              AND domains.org_id = host_claims.org_id)";

/// The columns [`domain`] reads. Named rather than `*` (here and for claims), so a statement
/// prepared on a connection that has not seen the latest migration yet still yields exactly
/// these columns (see [`crate::plans::PLAN_COLUMNS`]).
const DOMAIN_COLUMNS: &str =
    "id, org_id, service_id, hostname, path_prefix, strip_prefix, target_port, created_at";

/// The columns [`claim`] reads.
const CLAIM_COLUMNS: &str =
    "hostname, org_id, site, token, verification, readiness, expires_at, created_at";

fn hostname(c: &Cols<'_>) -> Result<HostPattern> {
    c.parsed("hostname", |h| {
        HostPattern::parse_field("hostname", h, true)
    })
}

fn domain(row: &SqliteRow) -> Result<Domain> {
    let c = Cols::new(row, "domains");
    Ok(Domain {
        id: c.id("id")?,
        org: c.id("org_id")?,
        service: c.id("service_id")?,
        hostname: hostname(&c)?,
        path_prefix: c.text("path_prefix")?,
        strip_prefix: c.bool("strip_prefix")?,
        target_port: u16::try_from(c.u64("target_port")?)
            .map_err(|e| corrupt("domains", "target_port", e))?,
        created_at: c.ts("created_at")?,
    })
}

fn claim(row: &SqliteRow) -> Result<HostClaim> {
    let c = Cols::new(row, "host_claims");
    Ok(HostClaim {
        hostname: hostname(&c)?,
        org: c.id("org_id")?,
        site: c.text("site")?,
        token: c.text("token")?,
        verification: c.json("verification")?,
        readiness: c.json_opt("readiness")?,
        expires_at: c.ts("expires_at")?,
        created_at: c.ts("created_at")?,
    })
}

/// A claim's columns as stored, checked before the write transaction starts.
struct ClaimValues {
    verification: String,
    readiness: Option<String>,
    expires_at: String,
    created_at: String,
}

impl ClaimValues {
    fn of(c: &HostClaim) -> Result<Self> {
        Ok(Self {
            verification: codec::json(&c.verification)?,
            readiness: codec::json_opt(c.readiness.as_ref())?,
            expires_at: ts("claim.expires_at", c.expires_at)?,
            created_at: ts("claim.created_at", c.created_at)?,
        })
    }
}

async fn live_claim(conn: &mut SqliteConnection, host: &str) -> Result<Option<HostClaim>> {
    sqlx::query(&format!(
        "SELECT {CLAIM_COLUMNS} FROM host_claims WHERE hostname = ? AND {LIVE}"
    ))
    .bind(host)
    .fetch_optional(conn)
    .await
    .map_err(db_error)?
    .map(|r| claim(&r))
    .transpose()
}

async fn has_domains(conn: &mut SqliteConnection, org: OrgId, host: &str) -> Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM domains WHERE hostname = ? AND org_id = ?)")
        .bind(host)
        .bind(org.as_uuid())
        .fetch_one(conn)
        .await
        .map_err(db_error)
}

/// Drops the claim on `host` (only `org`'s, when given), first remembering it in the history
/// when it was verified.
async fn retire(conn: &mut SqliteConnection, host: &str, org: Option<OrgId>) -> Result<()> {
    let org = org.map(|o| o.as_uuid());
    sqlx::query(&format!(
        "INSERT INTO released_host_claims (site, org_id, hostname, released_at)
         SELECT site, org_id, hostname, ?1 FROM host_claims
         WHERE hostname = ?2 AND (?3 IS NULL OR org_id = ?3) AND {VERIFIED}"
    ))
    .bind(ts("released_at", Utc::now())?)
    .bind(host)
    .bind(org)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    sqlx::query("DELETE FROM host_claims WHERE hostname = ?1 AND (?2 IS NULL OR org_id = ?2)")
        .bind(host)
        .bind(org)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub(crate) async fn create(
    s: &SqliteStore,
    d: &Domain,
    new: &HostClaim,
    grant: &QuotaGrant,
) -> Result<HostClaim> {
    let created_at = ts("created_at", d.created_at)?;
    let values = ClaimValues::of(new)?;
    let host = d.hostname.as_str();
    grant.check_org(d.org)?;

    let mut tx = s.write().await?;
    let owner: Option<uuid::Uuid> = sqlx::query_scalar("SELECT org_id FROM services WHERE id = ?")
        .bind(d.service.as_uuid())
        .fetch_optional(tx.conn())
        .await
        .map_err(db_error)?;
    if owner != Some(d.org.as_uuid()) {
        return Err(Error::not_found("service", d.service));
    }
    if new.org != d.org || new.hostname != d.hostname {
        return Err(Error::invalid(
            "claim",
            "the claim must be the domain's organization's, on the domain's hostname",
        ));
    }
    let id_taken: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM domains WHERE id = ?)")
        .bind(d.id.as_uuid())
        .fetch_one(tx.conn())
        .await
        .map_err(db_error)?;
    if id_taken {
        return Err(Error::already_exists("domain", d.id));
    }
    let held = live_claim(tx.conn(), host).await?;
    if held.as_ref().is_some_and(|c| c.org != d.org) {
        return Err(foreign_host_error(host));
    }
    let taken = format!("{}{}", d.hostname, d.path_prefix);
    let path_taken: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM domains
                        WHERE org_id = ? AND hostname = ? AND path_prefix = ?)",
    )
    .bind(d.org.as_uuid())
    .bind(host)
    .bind(&d.path_prefix)
    .fetch_one(tx.conn())
    .await
    .map_err(db_error)?;
    if path_taken {
        return Err(Error::already_exists("domain", &taken));
    }
    let used: u64 = sqlx::query_scalar("SELECT count(*) FROM domains WHERE org_id = ?")
        .bind(d.org.as_uuid())
        .fetch_one(tx.conn())
        .await
        .map_err(db_error)?;
    grant.check_domain(used)?;

    let claim = match held {
        Some(c) => c,
        None => {
            // Nobody holds the name; a dead claim (of anyone) gives way to the new one.
            retire(tx.conn(), host, None).await?;
            sqlx::query(&format!(
                "INSERT INTO host_claims ({CLAIM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .bind(host)
            .bind(new.org.as_uuid())
            .bind(&new.site)
            .bind(&new.token)
            .bind(&values.verification)
            .bind(&values.readiness)
            .bind(&values.expires_at)
            .bind(&values.created_at)
            .execute(tx.conn())
            .await
            .map_err(db_error)?;
            new.clone()
        }
    };
    // The parents were read under the write lock, so only a unique key can still refuse.
    sqlx::query(&format!(
        "INSERT INTO domains ({DOMAIN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(d.id.as_uuid())
    .bind(d.org.as_uuid())
    .bind(d.service.as_uuid())
    .bind(host)
    .bind(&d.path_prefix)
    .bind(d.strip_prefix)
    .bind(i64::from(d.target_port))
    .bind(&created_at)
    .execute(tx.conn())
    .await
    .map_err(|e| {
        on_unique(e, |cols| {
            if cols == "domains.id" {
                Error::already_exists("domain", d.id)
            } else {
                Error::already_exists("domain", &taken)
            }
        })
    })?;
    tx.commit().await?;
    Ok(claim)
}

pub(crate) async fn by_id(s: &SqliteStore, id: DomainId) -> Result<Domain> {
    let row = sqlx::query(&format!(
        "SELECT {DOMAIN_COLUMNS} FROM domains WHERE id = ?"
    ))
    .bind(id.as_uuid())
    .fetch_optional(s.pool())
    .await
    .map_err(db_error)?;
    row.as_ref()
        .map(domain)
        .transpose()?
        .ok_or_else(|| Error::not_found("domain", id))
}

pub(crate) async fn list_by_service(s: &SqliteStore, service: ServiceId) -> Result<Vec<Domain>> {
    let rows = sqlx::query(&format!(
        "SELECT {DOMAIN_COLUMNS} FROM domains WHERE service_id = ? ORDER BY id"
    ))
    .bind(service.as_uuid())
    .fetch_all(s.pool())
    .await
    .map_err(db_error)?;
    all(&rows, domain)
}

pub(crate) async fn list_by_org(s: &SqliteStore, org: OrgId) -> Result<Vec<Domain>> {
    let rows = sqlx::query(&format!(
        "SELECT {DOMAIN_COLUMNS} FROM domains WHERE org_id = ? ORDER BY id"
    ))
    .bind(org.as_uuid())
    .fetch_all(s.pool())
    .await
    .map_err(db_error)?;
    all(&rows, domain)
}

pub(crate) async fn list_by_host(s: &SqliteStore, host: &str) -> Result<Vec<Domain>> {
    let rows = sqlx::query(&format!(
        "SELECT {DOMAIN_COLUMNS} FROM domains WHERE hostname = ? ORDER BY id"
    ))
    .bind(host)
    .fetch_all(s.pool())
    .await
    .map_err(db_error)?;
    all(&rows, domain)
}

pub(crate) async fn list_under(s: &SqliteStore, base: &str) -> Result<Vec<Domain>> {
    // Hostnames hold no LIKE metacharacters ('%', '_'): validated at the boundary.
    let rows = sqlx::query(&format!(
        "SELECT {DOMAIN_COLUMNS} FROM domains WHERE hostname LIKE ? ORDER BY id"
    ))
    .bind(format!("%.{}", base.to_ascii_lowercase()))
    .fetch_all(s.pool())
    .await
    .map_err(db_error)?;
    all(&rows, domain)
}

pub(crate) async fn update(s: &SqliteStore, d: &Domain) -> Result<()> {
    let done = sqlx::query("UPDATE domains SET strip_prefix = ?, target_port = ? WHERE id = ?")
        .bind(d.strip_prefix)
        .bind(i64::from(d.target_port))
        .bind(d.id.as_uuid())
        .execute(s.pool())
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("domain", d.id));
    }
    Ok(())
}

pub(crate) async fn delete(s: &SqliteStore, id: DomainId) -> Result<()> {
    let mut tx = s.write().await?;
    let gone: Option<(uuid::Uuid, String)> =
        sqlx::query_as("DELETE FROM domains WHERE id = ? RETURNING org_id, hostname")
            .bind(id.as_uuid())
            .fetch_optional(tx.conn())
            .await
            .map_err(db_error)?;
    let Some((org, host)) = gone else {
        return Err(Error::not_found("domain", id));
    };
    let org = OrgId::from(org);
    if !has_domains(tx.conn(), org, &host).await? {
        retire(tx.conn(), &host, Some(org)).await?;
    }
    tx.commit().await
}

pub(crate) async fn claim_opt(s: &SqliteStore, host: &str) -> Result<Option<HostClaim>> {
    let mut conn = s.pool().acquire().await.map_err(db_error)?;
    live_claim(&mut conn, host).await
}

pub(crate) async fn list_claims(s: &SqliteStore, org: Option<OrgId>) -> Result<Vec<HostClaim>> {
    let rows = sqlx::query(&format!(
        "SELECT {CLAIM_COLUMNS} FROM host_claims WHERE (?1 IS NULL OR org_id = ?1) AND {LIVE}
         ORDER BY created_at, hostname"
    ))
    .bind(org.map(|o| o.as_uuid()))
    .fetch_all(s.pool())
    .await
    .map_err(db_error)?;
    all(&rows, claim)
}

pub(crate) async fn update_claim(s: &SqliteStore, c: &HostClaim) -> Result<()> {
    let done = sqlx::query(&format!(
        "UPDATE host_claims SET verification = ?, readiness = ?
         WHERE hostname = ? AND org_id = ? AND {LIVE}"
    ))
    .bind(codec::json(&c.verification)?)
    .bind(codec::json_opt(c.readiness.as_ref())?)
    .bind(c.hostname.as_str())
    .bind(c.org.as_uuid())
    .execute(s.pool())
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("hostname claim", &c.hostname));
    }
    Ok(())
}

pub(crate) async fn release_expired(
    s: &SqliteStore,
    host: &str,
    org: OrgId,
    now: DateTime<Utc>,
) -> Result<Vec<Domain>> {
    let mut tx = s.write().await?;
    let held = sqlx::query(&format!(
        "SELECT {CLAIM_COLUMNS} FROM host_claims WHERE hostname = ? AND org_id = ?"
    ))
    .bind(host)
    .bind(org.as_uuid())
    .fetch_optional(tx.conn())
    .await
    .map_err(db_error)?
    .map(|r| claim(&r))
    .transpose()?;
    if !held.is_some_and(|c| c.is_expired(now)) {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(&format!(
        "SELECT {DOMAIN_COLUMNS} FROM domains WHERE hostname = ? AND org_id = ? ORDER BY id"
    ))
    .bind(host)
    .bind(org.as_uuid())
    .fetch_all(tx.conn())
    .await
    .map_err(db_error)?;
    let gone = all(&rows, domain)?;
    sqlx::query("DELETE FROM domains WHERE hostname = ? AND org_id = ?")
        .bind(host)
        .bind(org.as_uuid())
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
    // Unproven, so there is nothing to remember.
    sqlx::query("DELETE FROM host_claims WHERE hostname = ?")
        .bind(host)
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
    tx.commit().await?;
    Ok(gone)
}

pub(crate) async fn site_verified_by_others(
    s: &SqliteStore,
    site: &str,
    org: OrgId,
) -> Result<bool> {
    // Dead claims count too: a verified claim left by a deleted service or organization is
    // still proof that someone else owned names of the site.
    sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM host_claims WHERE site = ?1 AND org_id <> ?2 AND {VERIFIED})
             OR EXISTS (SELECT 1 FROM released_host_claims WHERE site = ?1 AND org_id <> ?2)"
    ))
    .bind(site)
    .bind(org.as_uuid())
    .fetch_one(s.pool())
    .await
    .map_err(db_error)
}

/// Fills in the site of claims the migration made (SQL cannot read the public suffix list).
/// Runs after every migration, so an upgrade interrupted in between is completed by the next
/// start. Errors: `InvalidInput` (a stored hostname that is not a valid name any more).
pub(crate) async fn backfill_sites(s: &SqliteStore) -> Result<()> {
    let mut tx = s.write().await?;
    for table in ["host_claims", "released_host_claims"] {
        let hosts: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT DISTINCT hostname FROM {table} WHERE site = ''"
        ))
        .fetch_all(tx.conn())
        .await
        .map_err(db_error)?;
        for host in &hosts {
            let site = HostPattern::parse_field("hostname", host.as_str(), true)?.site();
            sqlx::query(&format!(
                "UPDATE {table} SET site = ? WHERE hostname = ? AND site = ''"
            ))
            .bind(site)
            .bind(host)
            .execute(tx.conn())
            .await
            .map_err(db_error)?;
        }
    }
    tx.commit().await
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
        let p = serde_json::to_value(VerificationStatus::Pending).unwrap();
        assert_eq!(p["state"], "pending");
    }
}
