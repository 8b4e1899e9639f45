//! Custom domains: unique per hostname and path prefix across all organizations.

use caas_core::model::Domain;
use caas_core::validate::HostPattern;
use caas_core::{DomainId, Error, OrgId, Result, ServiceId};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::types::Json;

use crate::error::{Violation, db_error, on_violation};

const COLUMNS: &str = "id, org_id, service_id, hostname, path_prefix, strip_prefix, target_port, \
                       verification, verification_token, created_at";

fn domain(row: &PgRow) -> Result<Domain> {
    let port: i32 = row.try_get("target_port").map_err(db_error)?;
    let Json(verification) = row.try_get("verification").map_err(db_error)?;
    Ok(Domain {
        id: DomainId(row.try_get("id").map_err(db_error)?),
        org: OrgId(row.try_get("org_id").map_err(db_error)?),
        service: ServiceId(row.try_get("service_id").map_err(db_error)?),
        hostname: HostPattern::parse_field(
            "domains.hostname",
            row.try_get::<String, _>("hostname").map_err(db_error)?,
            true,
        )?,
        path_prefix: row.try_get("path_prefix").map_err(db_error)?,
        strip_prefix: row.try_get("strip_prefix").map_err(db_error)?,
        target_port: u16::try_from(port)
            .map_err(|_| Error::backend("postgres", "domains.target_port out of range"))?,
        verification,
        verification_token: row.try_get("verification_token").map_err(db_error)?,
        created_at: row.try_get("created_at").map_err(db_error)?,
    })
}

pub(crate) async fn create(pool: &PgPool, d: &Domain) -> Result<()> {
    let owner: Option<uuid::Uuid> = sqlx::query_scalar("SELECT org_id FROM services WHERE id = $1")
        .bind(d.service.0)
        .fetch_optional(pool)
        .await
        .map_err(db_error)?;
    if owner != Some(d.org.0) {
        return Err(Error::not_found("service", d.service));
    }
    sqlx::query(&format!(
        "INSERT INTO domains ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(d.id.0)
    .bind(d.org.0)
    .bind(d.service.0)
    .bind(d.hostname.as_str())
    .bind(&d.path_prefix)
    .bind(d.strip_prefix)
    .bind(i32::from(d.target_port))
    .bind(Json(&d.verification))
    .bind(&d.verification_token)
    .bind(d.created_at)
    .execute(pool)
    .await
    .map_err(|e| {
        on_violation(e, |v| match v {
            Violation::Unique("domains_host_path_key") => Some(Error::already_exists(
                "domain",
                format!("{}{}", d.hostname, d.path_prefix),
            )),
            Violation::Unique(_) => Some(Error::already_exists("domain", d.id)),
            Violation::ForeignKey("domains_org_fkey") => {
                Some(Error::not_found("organization", d.org))
            }
            Violation::ForeignKey(_) => Some(Error::not_found("service", d.service)),
        })
    })?;
    Ok(())
}

pub(crate) async fn by_id(pool: &PgPool, id: DomainId) -> Result<Domain> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM domains WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(pool)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(domain)
        .transpose()?
        .ok_or_else(|| Error::not_found("domain", id))
}

pub(crate) async fn by_host_opt(pool: &PgPool, host: &str, path: &str) -> Result<Option<Domain>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM domains WHERE hostname = $1 AND path_prefix = $2"
    ))
    .bind(host)
    .bind(path)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .as_ref()
    .map(domain)
    .transpose()
}

async fn list(pool: &PgPool, filter: &str, id: Option<uuid::Uuid>) -> Result<Vec<Domain>> {
    let q = format!("SELECT {COLUMNS} FROM domains {filter} ORDER BY id");
    let mut query = sqlx::query(&q);
    if let Some(id) = id {
        query = query.bind(id);
    }
    query
        .fetch_all(pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(domain)
        .collect()
}

pub(crate) async fn list_by_service(pool: &PgPool, service: ServiceId) -> Result<Vec<Domain>> {
    list(pool, "WHERE service_id = $1", Some(service.0)).await
}

pub(crate) async fn list_by_org(pool: &PgPool, org: OrgId) -> Result<Vec<Domain>> {
    list(pool, "WHERE org_id = $1", Some(org.0)).await
}

pub(crate) async fn list_under(pool: &PgPool, base: &str) -> Result<Vec<Domain>> {
    // Hostnames hold no LIKE metacharacters ('%', '_'): validated at the boundary.
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM domains WHERE hostname LIKE $1 ORDER BY id"
    ))
    .bind(format!("%.{}", base.to_ascii_lowercase()))
    .fetch_all(pool)
    .await
    .map_err(db_error)?
    .iter()
    .map(domain)
    .collect()
}

pub(crate) async fn list_all(pool: &PgPool) -> Result<Vec<Domain>> {
    list(pool, "", None).await
}

pub(crate) async fn update(pool: &PgPool, d: &Domain) -> Result<()> {
    let done = sqlx::query(
        "UPDATE domains SET verification = $2, strip_prefix = $3, target_port = $4 WHERE id = $1",
    )
    .bind(d.id.0)
    .bind(Json(&d.verification))
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
    let done = sqlx::query("DELETE FROM domains WHERE id = $1")
        .bind(id.0)
        .execute(pool)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("domain", id));
    }
    Ok(())
}
