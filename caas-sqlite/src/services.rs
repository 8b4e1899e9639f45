//! Projects, services and deployments.

use caas_core::codec::StoredName;
use caas_core::model::{Deployment, Project, Service};
use caas_core::secrets::Sealer;
use caas_core::validate::Name;
use caas_core::{DeploymentId, Error, OrgId, ProjectId, Result, ServiceId};
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::codec::{self, Cols, all, ts, ts_opt};
use crate::error::{db_error, is_foreign_key, on_unique, on_write};

fn project(row: &SqliteRow) -> Result<Project> {
    let c = Cols::new(row, "projects");
    Ok(Project {
        id: c.id("id")?,
        org: c.id("org_id")?,
        name: c.parsed("name", Name::parse)?,
        reservation: c.id_opt("reservation_id")?,
        created_at: c.ts("created_at")?,
    })
}

fn service(row: &SqliteRow, sealer: &Sealer) -> Result<Service> {
    let c = Cols::new(row, "services");
    let org = c.id("org_id")?;
    Ok(Service {
        id: c.id("id")?,
        org,
        project: c.id("project_id")?,
        name: c.parsed("name", Name::parse)?,
        kind: c.json("kind")?,
        spec: c.spec("spec", org, sealer)?,
        status: c.name("status")?,
        current_deployment: c.id_opt("current_deployment")?,
        reservation: c.id_opt("reservation_id")?,
        created_at: c.ts("created_at")?,
        updated_at: c.ts("updated_at")?,
    })
}

fn deployment(row: &SqliteRow, sealer: &Sealer) -> Result<Deployment> {
    let c = Cols::new(row, "deployments");
    let org = c.id("org_id")?;
    Ok(Deployment {
        id: c.id("id")?,
        service: c.id("service_id")?,
        org,
        project: c.id("project_id")?,
        spec: c.spec("spec", org, sealer)?,
        status: c.name("status")?,
        container_id: c.text_opt("container_id")?,
        error: c.text_opt("error")?,
        created_at: c.ts("created_at")?,
        finished_at: c.ts_opt("finished_at")?,
    })
}

// --- projects ---

pub(crate) async fn create_project(s: &SqliteStore, p: &Project) -> Result<()> {
    let result = sqlx::query(
        "INSERT INTO projects (id, org_id, name, reservation_id, created_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(p.id.as_uuid())
    .bind(p.org.as_uuid())
    .bind(p.name.as_str())
    .bind(p.reservation.map(|r| r.as_uuid()))
    .bind(ts("created_at", p.created_at)?)
    .execute(s.pool())
    .await;
    // No foreign key: the organization may be a host application's (0014_foreign_directory.sql).
    result.map_err(|e| {
        on_unique(e, |cols| {
            if cols == "projects.id" {
                Error::already_exists("project", p.id)
            } else {
                Error::already_exists("project", &p.name)
            }
        })
    })?;
    Ok(())
}

pub(crate) async fn project_by_id(s: &SqliteStore, id: ProjectId) -> Result<Project> {
    sqlx::query("SELECT * FROM projects WHERE id = ?")
        .bind(id.as_uuid())
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map_or_else(|| Err(Error::not_found("project", id)), |r| project(&r))
}

pub(crate) async fn project_by_name_opt(
    s: &SqliteStore,
    org: OrgId,
    name: &str,
) -> Result<Option<Project>> {
    sqlx::query("SELECT * FROM projects WHERE org_id = ? AND name = ?")
        .bind(org.as_uuid())
        .bind(name)
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map(|r| project(&r))
        .transpose()
}

pub(crate) async fn list_projects(s: &SqliteStore, org: OrgId) -> Result<Vec<Project>> {
    let rows = sqlx::query("SELECT * FROM projects WHERE org_id = ? ORDER BY id")
        .bind(org.as_uuid())
        .fetch_all(s.pool())
        .await
        .map_err(db_error)?;
    all(&rows, project)
}

pub(crate) async fn delete_project(s: &SqliteStore, id: ProjectId) -> Result<()> {
    // Counted in the same write transaction as the delete, so no service can be created in
    // between (the foreign key of services would refuse too, but without the count).
    let mut tx = s.write().await?;
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM projects WHERE id = ?")
        .bind(id.as_uuid())
        .fetch_optional(tx.conn())
        .await
        .map_err(db_error)?;
    let Some(name) = name else {
        return Err(Error::not_found("project", id));
    };
    let remaining: i64 = sqlx::query_scalar("SELECT count(*) FROM services WHERE project_id = ?")
        .bind(id.as_uuid())
        .fetch_one(tx.conn())
        .await
        .map_err(db_error)?;
    if remaining > 0 {
        return Err(Error::conflict(format!(
            "project '{name}' still has {remaining} service(s); delete them first"
        )));
    }
    sqlx::query("DELETE FROM projects WHERE id = ?")
        .bind(id.as_uuid())
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
    tx.commit().await
}

// --- services ---

pub(crate) async fn create_service(s: &SqliteStore, sv: &Service) -> Result<()> {
    let sealer = s.sealer().await;
    let result = sqlx::query(
        "INSERT INTO services (id, org_id, project_id, name, kind, spec, status,
                               current_deployment, reservation_id, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(sv.id.as_uuid())
    .bind(sv.org.as_uuid())
    .bind(sv.project.as_uuid())
    .bind(sv.name.as_str())
    .bind(codec::json(&sv.kind)?)
    .bind(codec::sealed_spec(&sealer, sv.org, &sv.spec)?)
    .bind(sv.status.name())
    .bind(sv.current_deployment.map(|d| d.as_uuid()))
    .bind(sv.reservation.map(|r| r.as_uuid()))
    .bind(ts("created_at", sv.created_at)?)
    .bind(ts("updated_at", sv.updated_at)?)
    .execute(s.pool())
    .await;
    match result {
        Ok(_) => Ok(()),
        // The key is (project_id, org_id): a missing project, or one of another organization,
        // is the same "no such project here".
        Err(e) if is_foreign_key(&e) => Err(Error::not_found("project", sv.project)),
        Err(e) => Err(on_unique(e, |cols| {
            if cols == "services.id" {
                Error::already_exists("service", sv.id)
            } else {
                Error::already_exists("service", &sv.name)
            }
        })),
    }
}

pub(crate) async fn service_by_id(s: &SqliteStore, id: ServiceId) -> Result<Service> {
    let sealer = s.sealer().await;
    sqlx::query("SELECT * FROM services WHERE id = ?")
        .bind(id.as_uuid())
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map_or_else(
            || Err(Error::not_found("service", id)),
            |r| service(&r, &sealer),
        )
}

pub(crate) async fn service_by_name_opt(
    s: &SqliteStore,
    project: ProjectId,
    name: &str,
) -> Result<Option<Service>> {
    let sealer = s.sealer().await;
    sqlx::query("SELECT * FROM services WHERE project_id = ? AND name = ?")
        .bind(project.as_uuid())
        .bind(name)
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map(|r| service(&r, &sealer))
        .transpose()
}

pub(crate) async fn list_services(
    s: &SqliteStore,
    org: OrgId,
    project: Option<ProjectId>,
) -> Result<Vec<Service>> {
    let sealer = s.sealer().await;
    let rows = match project {
        None => {
            sqlx::query("SELECT * FROM services WHERE org_id = ? ORDER BY id")
                .bind(org.as_uuid())
                .fetch_all(s.pool())
                .await
        }
        Some(p) => {
            sqlx::query("SELECT * FROM services WHERE org_id = ? AND project_id = ? ORDER BY id")
                .bind(org.as_uuid())
                .bind(p.as_uuid())
                .fetch_all(s.pool())
                .await
        }
    }
    .map_err(db_error)?;
    all(&rows, |r| service(r, &sealer))
}

pub(crate) async fn list_all_services(s: &SqliteStore) -> Result<Vec<Service>> {
    let sealer = s.sealer().await;
    let rows = sqlx::query("SELECT * FROM services ORDER BY id")
        .fetch_all(s.pool())
        .await
        .map_err(db_error)?;
    all(&rows, |r| service(r, &sealer))
}

pub(crate) async fn update_service(s: &SqliteStore, sv: &Service) -> Result<()> {
    // Organization, project and creation time are the service's identity: never moved.
    let sealer = s.sealer().await;
    let done = sqlx::query(
        "UPDATE services
         SET name = ?, kind = ?, spec = ?, status = ?, current_deployment = ?,
             reservation_id = ?, updated_at = ?
         WHERE id = ?",
    )
    .bind(sv.name.as_str())
    .bind(codec::json(&sv.kind)?)
    .bind(codec::sealed_spec(&sealer, sv.org, &sv.spec)?)
    .bind(sv.status.name())
    .bind(sv.current_deployment.map(|d| d.as_uuid()))
    .bind(sv.reservation.map(|r| r.as_uuid()))
    .bind(ts("updated_at", sv.updated_at)?)
    .bind(sv.id.as_uuid())
    .execute(s.pool())
    .await
    .map_err(|e| on_unique(e, |_| Error::already_exists("service", &sv.name)))?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("service", sv.id));
    }
    Ok(())
}

pub(crate) async fn delete_service(s: &SqliteStore, id: ServiceId) -> Result<()> {
    // Deployments and events go with it (ON DELETE CASCADE).
    let done = sqlx::query("DELETE FROM services WHERE id = ?")
        .bind(id.as_uuid())
        .execute(s.pool())
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("service", id));
    }
    Ok(())
}

// --- deployments ---

pub(crate) async fn create_deployment(s: &SqliteStore, d: &Deployment) -> Result<()> {
    let sealer = s.sealer().await;
    let result = sqlx::query(
        "INSERT INTO deployments (id, service_id, org_id, project_id, spec, status, container_id,
                                  error, created_at, finished_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(d.id.as_uuid())
    .bind(d.service.as_uuid())
    .bind(d.org.as_uuid())
    .bind(d.project.as_uuid())
    .bind(codec::sealed_spec(&sealer, d.org, &d.spec)?)
    .bind(d.status.name())
    .bind(d.container_id.as_deref())
    .bind(d.error.as_deref())
    .bind(ts("created_at", d.created_at)?)
    .bind(ts_opt("finished_at", d.finished_at)?)
    .execute(s.pool())
    .await;
    if let Err(e) = result {
        let parents = [("service", "services", d.service.as_uuid())];
        return Err(on_write(s.pool(), e, &parents, |_| {
            Error::already_exists("deployment", d.id)
        })
        .await);
    }
    Ok(())
}

pub(crate) async fn deployment_by_id(s: &SqliteStore, id: DeploymentId) -> Result<Deployment> {
    let sealer = s.sealer().await;
    sqlx::query("SELECT * FROM deployments WHERE id = ?")
        .bind(id.as_uuid())
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map_or_else(
            || Err(Error::not_found("deployment", id)),
            |r| deployment(&r, &sealer),
        )
}

pub(crate) async fn update_deployment(s: &SqliteStore, d: &Deployment) -> Result<()> {
    // What was deployed (service, spec, creation time) is history; only the outcome changes.
    let done = sqlx::query(
        "UPDATE deployments SET status = ?, container_id = ?, error = ?, finished_at = ?
         WHERE id = ?",
    )
    .bind(d.status.name())
    .bind(d.container_id.as_deref())
    .bind(d.error.as_deref())
    .bind(ts_opt("finished_at", d.finished_at)?)
    .bind(d.id.as_uuid())
    .execute(s.pool())
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("deployment", d.id));
    }
    Ok(())
}

pub(crate) async fn list_deployments(
    s: &SqliteStore,
    service: ServiceId,
) -> Result<Vec<Deployment>> {
    let sealer = s.sealer().await;
    let rows = sqlx::query("SELECT * FROM deployments WHERE service_id = ? ORDER BY id DESC")
        .bind(service.as_uuid())
        .fetch_all(s.pool())
        .await
        .map_err(db_error)?;
    all(&rows, |r| deployment(r, &sealer))
}
