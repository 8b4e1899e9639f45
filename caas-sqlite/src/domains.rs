//! Custom domains: unique per hostname and path prefix across all organizations.

use caas_core::model::Domain;
use caas_core::validate::HostPattern;
use caas_core::{DomainId, Error, OrgId, Result, ServiceId};
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::codec::{self, Cols, all, ts};
use crate::errors::{db, on_write};

fn domain(row: &SqliteRow) -> Result<Domain> {
    let c = Cols::new(row, "domains");
    Ok(Domain {
        id: c.id("id")?,
        org: c.id("org_id")?,
        service: c.id("service_id")?,
        hostname: HostPattern::parse_field("domains.hostname", c.text("hostname")?, true)?,
        path_prefix: c.text("path_prefix")?,
        strip_prefix: c.bool("strip_prefix")?,
        target_port: u16::try_from(c.u64("target_port")?)
            .map_err(|_| Error::backend("sqlite", "domains.target_port out of range"))?,
        verification: c.json("verification")?,
        verification_token: c.text("verification_token")?,
        created_at: c.ts("created_at")?,
    })
}

pub(crate) async fn create(s: &SqliteStore, d: &Domain) -> Result<()> {
    // The service must belong to the domain's organization.
    let owner: Option<uuid::Uuid> = sqlx::query_scalar("SELECT org_id FROM services WHERE id = ?")
        .bind(d.service.as_uuid())
        .fetch_optional(s.pool())
        .await
        .map_err(db)?;
    if owner != Some(d.org.as_uuid()) {
        return Err(Error::not_found("service", d.service));
    }
    let result = sqlx::query(
        "INSERT INTO domains (id, org_id, service_id, hostname, path_prefix, strip_prefix,
                              target_port, verification, verification_token, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(d.id.as_uuid())
    .bind(d.org.as_uuid())
    .bind(d.service.as_uuid())
    .bind(d.hostname.as_str())
    .bind(&d.path_prefix)
    .bind(d.strip_prefix)
    .bind(i64::from(d.target_port))
    .bind(codec::json(&d.verification)?)
    .bind(&d.verification_token)
    .bind(ts("created_at", d.created_at)?)
    .execute(s.pool())
    .await;
    if let Err(err) = result {
        let parents = [
            ("service", "services", d.service.as_uuid()),
            ("organization", "organizations", d.org.as_uuid()),
        ];
        let taken = format!("{}{}", d.hostname, d.path_prefix);
        return Err(on_write(s.pool(), err, &parents, |_| {
            Error::already_exists("domain", &taken)
        })
        .await);
    }
    Ok(())
}

pub(crate) async fn by_id(s: &SqliteStore, id: DomainId) -> Result<Domain> {
    let row = sqlx::query("SELECT * FROM domains WHERE id = ?")
        .bind(id.as_uuid())
        .fetch_optional(s.pool())
        .await
        .map_err(db)?;
    row.as_ref()
        .map(domain)
        .transpose()?
        .ok_or_else(|| Error::not_found("domain", id))
}

pub(crate) async fn by_host_opt(s: &SqliteStore, host: &str, path: &str) -> Result<Option<Domain>> {
    let row = sqlx::query("SELECT * FROM domains WHERE hostname = ? AND path_prefix = ?")
        .bind(host)
        .bind(path)
        .fetch_optional(s.pool())
        .await
        .map_err(db)?;
    row.as_ref().map(domain).transpose()
}

pub(crate) async fn list_by_service(s: &SqliteStore, service: ServiceId) -> Result<Vec<Domain>> {
    let rows = sqlx::query("SELECT * FROM domains WHERE service_id = ? ORDER BY id")
        .bind(service.as_uuid())
        .fetch_all(s.pool())
        .await
        .map_err(db)?;
    all(&rows, domain)
}

pub(crate) async fn list_by_org(s: &SqliteStore, org: OrgId) -> Result<Vec<Domain>> {
    let rows = sqlx::query("SELECT * FROM domains WHERE org_id = ? ORDER BY id")
        .bind(org.as_uuid())
        .fetch_all(s.pool())
        .await
        .map_err(db)?;
    all(&rows, domain)
}

pub(crate) async fn list_under(s: &SqliteStore, base: &str) -> Result<Vec<Domain>> {
    // Hostnames hold no LIKE metacharacters ('%', '_'): validated at the boundary.
    let rows = sqlx::query("SELECT * FROM domains WHERE hostname LIKE ? ORDER BY id")
        .bind(format!("%.{}", base.to_ascii_lowercase()))
        .fetch_all(s.pool())
        .await
        .map_err(db)?;
    all(&rows, domain)
}

pub(crate) async fn list_all(s: &SqliteStore) -> Result<Vec<Domain>> {
    let rows = sqlx::query("SELECT * FROM domains ORDER BY id")
        .fetch_all(s.pool())
        .await
        .map_err(db)?;
    all(&rows, domain)
}

pub(crate) async fn update(s: &SqliteStore, d: &Domain) -> Result<()> {
    let done = sqlx::query(
        "UPDATE domains SET verification = ?, strip_prefix = ?, target_port = ? WHERE id = ?",
    )
    .bind(codec::json(&d.verification)?)
    .bind(d.strip_prefix)
    .bind(i64::from(d.target_port))
    .bind(d.id.as_uuid())
    .execute(s.pool())
    .await
    .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("domain", d.id));
    }
    Ok(())
}

pub(crate) async fn delete(s: &SqliteStore, id: DomainId) -> Result<()> {
    let done = sqlx::query("DELETE FROM domains WHERE id = ?")
        .bind(id.as_uuid())
        .execute(s.pool())
        .await
        .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("domain", id));
    }
    Ok(())
}
