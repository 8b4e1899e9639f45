//! Projects, services and deployments.

use caas_core::codec::StoredName;
use caas_core::model::{Deployment, Project, Service, ServiceKind};
use caas_core::secrets::Sealer;
use caas_core::validate::Name;
use caas_core::{DeploymentId, Error, OrgId, ProjectId, ReservationId, Result, ServiceId};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::types::Json;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::codec::{finish, get, read_name};
use crate::error::{Violation, corrupt, db_error, on_violation};

fn name_column(table_column: &'static str, value: String) -> Result<Name> {
    Name::parse(value.as_str()).map_err(|_| corrupt(table_column, &value))
}

// --- projects ---

const PROJECT_COLUMNS: &str = "id, org_id, name, reservation_id, created_at";

fn project_from_row(row: &PgRow) -> Result<Project> {
    Ok(Project {
        id: ProjectId(get(row, "id")?),
        org: OrgId(get(row, "org_id")?),
        name: name_column("projects.name", get(row, "name")?)?,
        reservation: get::<Option<Uuid>>(row, "reservation_id")?.map(ReservationId),
        created_at: get(row, "created_at")?,
    })
}

pub(crate) async fn create_project(pool: &PgPool, project: &Project) -> Result<()> {
    sqlx::query(
        "INSERT INTO projects (id, org_id, name, reservation_id, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(project.id.0)
    .bind(project.org.0)
    .bind(project.name.as_str())
    .bind(project.reservation.map(|r| r.0))
    .bind(project.created_at)
    .execute(pool)
    .await
    .map_err(|e| {
        on_violation(e, |v| match v {
            Violation::Unique(_) => Some(Error::already_exists("project", &project.name)),
            // No foreign key: the organization may be a host application's.
            Violation::ForeignKey(_) => None,
        })
    })?;
    Ok(())
}

pub(crate) async fn project(pool: &PgPool, id: ProjectId) -> Result<Project> {
    sqlx::query(&format!(
        "SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .map(|row| project_from_row(&row))
    .transpose()?
    .ok_or_else(|| Error::not_found("project", id))
}

pub(crate) async fn project_by_name_opt(
    pool: &PgPool,
    org: OrgId,
    name: &str,
) -> Result<Option<Project>> {
    sqlx::query(&format!(
        "SELECT {PROJECT_COLUMNS} FROM projects WHERE org_id = $1 AND name = $2"
    ))
    .bind(org.0)
    .bind(name)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .map(|row| project_from_row(&row))
    .transpose()
}

pub(crate) async fn list_projects(pool: &PgPool, org: OrgId) -> Result<Vec<Project>> {
    // Ids are UUIDv7: ordering by id is creation order.
    sqlx::query(&format!(
        "SELECT {PROJECT_COLUMNS} FROM projects WHERE org_id = $1 ORDER BY id"
    ))
    .bind(org.0)
    .fetch_all(pool)
    .await
    .map_err(db_error)?
    .iter()
    .map(project_from_row)
    .collect()
}

pub(crate) async fn delete_project(pool: &PgPool, id: ProjectId) -> Result<()> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    let result = delete_project_in(&mut tx, id).await;
    finish(tx, result).await
}

async fn delete_project_in(tx: &mut Transaction<'_, Postgres>, id: ProjectId) -> Result<()> {
    // The row lock orders us with a concurrent create_service: its foreign-key check locks the
    // project row, so either it waits and then finds the project gone (NotFound), or we wait
    // and then count its service (Conflict). The cascade from projects to services only
    // serves delete_org.
    let name: String = sqlx::query_scalar("SELECT name FROM projects WHERE id = $1 FOR UPDATE")
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::not_found("project", id))?;
    let remaining: i64 = sqlx::query_scalar("SELECT count(*) FROM services WHERE project_id = $1")
        .bind(id.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_error)?;
    if remaining > 0 {
        return Err(Error::conflict(format!(
            "project '{name}' still has {remaining} service(s); delete them first"
        )));
    }
    sqlx::query("DELETE FROM projects WHERE id = $1")
        .bind(id.0)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

// --- services ---

const SERVICE_COLUMNS: &str = "id, org_id, project_id, name, kind, spec, status, \
     current_deployment, reservation_id, created_at, updated_at";

fn service_from_row(row: &PgRow, sealer: &Sealer) -> Result<Service> {
    let org = OrgId(get(row, "org_id")?);
    Ok(Service {
        id: ServiceId(get(row, "id")?),
        org,
        project: ProjectId(get(row, "project_id")?),
        name: name_column("services.name", get(row, "name")?)?,
        kind: get::<Json<ServiceKind>>(row, "kind")?.0,
        spec: sealer.open_spec(org, get::<Json<serde_json::Value>>(row, "spec")?.0)?,
        status: read_name(row, "status", "services.status")?,
        current_deployment: get::<Option<Uuid>>(row, "current_deployment")?.map(DeploymentId),
        reservation: get::<Option<Uuid>>(row, "reservation_id")?.map(ReservationId),
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) async fn create_service(
    pool: &PgPool,
    sealer: &Sealer,
    service: &Service,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO services (id, org_id, project_id, name, kind, spec, status, \
         current_deployment, reservation_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(service.id.0)
    .bind(service.org.0)
    .bind(service.project.0)
    .bind(service.name.as_str())
    .bind(Json(&service.kind))
    .bind(Json(sealer.seal_spec(service.org, &service.spec)?))
    .bind(service.status.name())
    .bind(service.current_deployment.map(|d| d.0))
    .bind(service.reservation.map(|r| r.0))
    .bind(service.created_at)
    .bind(service.updated_at)
    .execute(pool)
    .await
    .map_err(|e| {
        on_violation(e, |v| match v {
            Violation::Unique(_) => Some(Error::already_exists("service", &service.name)),
            // The reference is (project, org): a project of another organization is as
            // missing as one that does not exist.
            Violation::ForeignKey(_) => Some(Error::not_found("project", service.project)),
        })
    })?;
    Ok(())
}

pub(crate) async fn service(pool: &PgPool, sealer: &Sealer, id: ServiceId) -> Result<Service> {
    sqlx::query(&format!(
        "SELECT {SERVICE_COLUMNS} FROM services WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .map(|row| service_from_row(&row, sealer))
    .transpose()?
    .ok_or_else(|| Error::not_found("service", id))
}

pub(crate) async fn service_by_name_opt(
    pool: &PgPool,
    sealer: &Sealer,
    project: ProjectId,
    name: &str,
) -> Result<Option<Service>> {
    sqlx::query(&format!(
        "SELECT {SERVICE_COLUMNS} FROM services WHERE project_id = $1 AND name = $2"
    ))
    .bind(project.0)
    .bind(name)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .map(|row| service_from_row(&row, sealer))
    .transpose()
}

pub(crate) async fn list_services(
    pool: &PgPool,
    sealer: &Sealer,
    org: OrgId,
    project: Option<ProjectId>,
) -> Result<Vec<Service>> {
    sqlx::query(&format!(
        "SELECT {SERVICE_COLUMNS} FROM services \
         WHERE org_id = $1 AND ($2::uuid IS NULL OR project_id = $2) ORDER BY id"
    ))
    .bind(org.0)
    .bind(project.map(|p| p.0))
    .fetch_all(pool)
    .await
    .map_err(db_error)?
    .iter()
    .map(|row| service_from_row(row, sealer))
    .collect()
}

pub(crate) async fn list_all_services(pool: &PgPool, sealer: &Sealer) -> Result<Vec<Service>> {
    sqlx::query(&format!(
        "SELECT {SERVICE_COLUMNS} FROM services ORDER BY id"
    ))
    .fetch_all(pool)
    .await
    .map_err(db_error)?
    .iter()
    .map(|row| service_from_row(row, sealer))
    .collect()
}

pub(crate) async fn update_service(
    pool: &PgPool,
    sealer: &Sealer,
    service: &Service,
) -> Result<()> {
    // Identity (id, organization, project) and created_at are fixed at creation.
    let done = sqlx::query(
        "UPDATE services SET name = $2, kind = $3, spec = $4, status = $5, \
         current_deployment = $6, reservation_id = $7, updated_at = $8 WHERE id = $1",
    )
    .bind(service.id.0)
    .bind(service.name.as_str())
    .bind(Json(&service.kind))
    .bind(Json(sealer.seal_spec(service.org, &service.spec)?))
    .bind(service.status.name())
    .bind(service.current_deployment.map(|d| d.0))
    .bind(service.reservation.map(|r| r.0))
    .bind(service.updated_at)
    .execute(pool)
    .await
    .map_err(|e| {
        on_violation(e, |v| match v {
            Violation::Unique(_) => Some(Error::already_exists("service", &service.name)),
            Violation::ForeignKey(_) => None,
        })
    })?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("service", service.id));
    }
    Ok(())
}

pub(crate) async fn delete_service(pool: &PgPool, id: ServiceId) -> Result<()> {
    // Deployments and events cascade.
    let done = sqlx::query("DELETE FROM services WHERE id = $1")
        .bind(id.0)
        .execute(pool)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("service", id));
    }
    Ok(())
}

// --- deployments ---

const DEPLOYMENT_COLUMNS: &str = "id, service_id, org_id, project_id, spec, status, \
     container_id, error, created_at, finished_at";

fn deployment_from_row(row: &PgRow, sealer: &Sealer) -> Result<Deployment> {
    let org = OrgId(get(row, "org_id")?);
    Ok(Deployment {
        id: DeploymentId(get(row, "id")?),
        service: ServiceId(get(row, "service_id")?),
        org,
        project: ProjectId(get(row, "project_id")?),
        spec: sealer.open_spec(org, get::<Json<serde_json::Value>>(row, "spec")?.0)?,
        status: read_name(row, "status", "deployments.status")?,
        container_id: get(row, "container_id")?,
        error: get(row, "error")?,
        created_at: get(row, "created_at")?,
        finished_at: get(row, "finished_at")?,
    })
}

pub(crate) async fn create_deployment(
    pool: &PgPool,
    sealer: &Sealer,
    deployment: &Deployment,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO deployments (id, service_id, org_id, project_id, spec, status, \
         container_id, error, created_at, finished_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(deployment.id.0)
    .bind(deployment.service.0)
    .bind(deployment.org.0)
    .bind(deployment.project.0)
    .bind(Json(sealer.seal_spec(deployment.org, &deployment.spec)?))
    .bind(deployment.status.name())
    .bind(deployment.container_id.as_deref())
    .bind(deployment.error.as_deref())
    .bind(deployment.created_at)
    .bind(deployment.finished_at)
    .execute(pool)
    .await
    .map_err(|e| {
        on_violation(e, |v| match v {
            Violation::Unique(_) => Some(Error::already_exists("deployment", deployment.id)),
            Violation::ForeignKey(_) => Some(Error::not_found("service", deployment.service)),
        })
    })?;
    Ok(())
}

pub(crate) async fn deployment(
    pool: &PgPool,
    sealer: &Sealer,
    id: DeploymentId,
) -> Result<Deployment> {
    sqlx::query(&format!(
        "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .map(|row| deployment_from_row(&row, sealer))
    .transpose()?
    .ok_or_else(|| Error::not_found("deployment", id))
}

pub(crate) async fn update_deployment(pool: &PgPool, deployment: &Deployment) -> Result<()> {
    // What was deployed (service, spec, created_at) is history; the outcome is mutable.
    let done = sqlx::query(
        "UPDATE deployments SET status = $2, container_id = $3, error = $4, finished_at = $5 \
         WHERE id = $1",
    )
    .bind(deployment.id.0)
    .bind(deployment.status.name())
    .bind(deployment.container_id.as_deref())
    .bind(deployment.error.as_deref())
    .bind(deployment.finished_at)
    .execute(pool)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("deployment", deployment.id));
    }
    Ok(())
}

pub(crate) async fn list_deployments(
    pool: &PgPool,
    sealer: &Sealer,
    service: ServiceId,
) -> Result<Vec<Deployment>> {
    // Newest first: ids are UUIDv7.
    sqlx::query(&format!(
        "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE service_id = $1 ORDER BY id DESC"
    ))
    .bind(service.0)
    .fetch_all(pool)
    .await
    .map_err(db_error)?
    .iter()
    .map(|row| deployment_from_row(row, sealer))
    .collect()
}
