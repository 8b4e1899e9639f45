//! Saved templates (platform-wide, by id) and template instances (unique by name per project,
//! going with their project and organization).

use caas_core::model::{StoredTemplate, Template, TemplateInstance};
use caas_core::secrets::Sealer;
use caas_core::validate::Name;
use caas_core::{Error, OrgId, ProjectId, Result, ServiceId, TemplateInstanceId};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::types::Json;
use uuid::Uuid;

use crate::codec::get;
use crate::error::{Violation, corrupt, db_error, on_violation};

fn name_column(table_column: &'static str, value: String) -> Result<Name> {
    Name::parse(value.as_str()).map_err(|_| corrupt(table_column, &value))
}

/// Whether `value` can be a stored id or name at all. Anything else is absent without asking
/// the server (which would refuse a NUL byte with an error instead).
fn storable(value: &str) -> bool {
    Name::parse(value).is_ok()
}

// --- templates ---

const TEMPLATE_COLUMNS: &str = "id, definition, enabled, position, created_at, updated_at";

fn template_from_row(row: &PgRow) -> Result<StoredTemplate> {
    Ok(StoredTemplate {
        id: name_column("templates.id", get(row, "id")?)?,
        template: get::<Json<Template>>(row, "definition")?.0,
        enabled: get(row, "enabled")?,
        position: get(row, "position")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) async fn put_template(pool: &PgPool, t: &StoredTemplate) -> Result<()> {
    // Replaces every field of a template with the same id, creation time included, like
    // `InMemoryStore`: the platform decides what a replacement keeps.
    sqlx::query(&format!(
        "INSERT INTO templates ({TEMPLATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET definition = EXCLUDED.definition, \
         enabled = EXCLUDED.enabled, position = EXCLUDED.position, \
         created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at"
    ))
    .bind(t.id.as_str())
    .bind(Json(&t.template))
    .bind(t.enabled)
    .bind(t.position)
    .bind(t.created_at)
    .bind(t.updated_at)
    .execute(pool)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(crate) async fn template_opt(pool: &PgPool, id: &str) -> Result<Option<StoredTemplate>> {
    if !storable(id) {
        return Ok(None);
    }
    sqlx::query(&format!(
        "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .as_ref()
    .map(template_from_row)
    .transpose()
}

pub(crate) async fn list_templates(pool: &PgPool) -> Result<Vec<StoredTemplate>> {
    sqlx::query(&format!(
        "SELECT {TEMPLATE_COLUMNS} FROM templates ORDER BY position, id"
    ))
    .fetch_all(pool)
    .await
    .map_err(db_error)?
    .iter()
    .map(template_from_row)
    .collect()
}

pub(crate) async fn delete_template(pool: &PgPool, id: &str) -> Result<()> {
    if !storable(id) {
        return Err(Error::not_found("template", id));
    }
    // Instances keep their template's id without a key: they outlive the saved template.
    let done = sqlx::query("DELETE FROM templates WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("template", id));
    }
    Ok(())
}

// --- instances ---

const INSTANCE_COLUMNS: &str =
    "id, org_id, project_id, name, template_id, services, outputs, created_at";

fn instance_from_row(row: &PgRow, sealer: &Sealer) -> Result<TemplateInstance> {
    let org = OrgId(get(row, "org_id")?);
    Ok(TemplateInstance {
        id: TemplateInstanceId(get(row, "id")?),
        org,
        project: ProjectId(get(row, "project_id")?),
        name: name_column("template_instances.name", get(row, "name")?)?,
        template: name_column("template_instances.template_id", get(row, "template_id")?)?,
        services: get::<Json<Vec<ServiceId>>>(row, "services")?.0,
        outputs: sealer.open_outputs(org, get::<Json<serde_json::Value>>(row, "outputs")?.0)?,
        created_at: get(row, "created_at")?,
    })
}

pub(crate) async fn create_instance(
    pool: &PgPool,
    sealer: &Sealer,
    i: &TemplateInstance,
) -> Result<()> {
    // The (project, org) key refuses a project of another organization too; checking first
    // names the project whatever else is wrong.
    let owner: Option<Uuid> = sqlx::query_scalar("SELECT org_id FROM projects WHERE id = $1")
        .bind(i.project.0)
        .fetch_optional(pool)
        .await
        .map_err(db_error)?;
    if owner != Some(i.org.0) {
        return Err(Error::not_found("project", i.project));
    }
    sqlx::query(&format!(
        "INSERT INTO template_instances ({INSTANCE_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(i.id.0)
    .bind(i.org.0)
    .bind(i.project.0)
    .bind(i.name.as_str())
    .bind(i.template.as_str())
    .bind(Json(&i.services))
    .bind(Json(sealer.seal_outputs(i.org, &i.outputs)?))
    .bind(i.created_at)
    .execute(pool)
    .await
    .map_err(|e| {
        on_violation(e, |viol| match viol {
            Violation::Unique("template_instances_pkey") => {
                Some(Error::already_exists("template instance", i.id))
            }
            Violation::Unique(_) => Some(Error::already_exists("template instance", &i.name)),
            // The one key left is (project, org): the organization itself may be a host
            // application's.
            Violation::ForeignKey(_) => Some(Error::not_found("project", i.project)),
        })
    })?;
    Ok(())
}

pub(crate) async fn instance_by_id(
    pool: &PgPool,
    sealer: &Sealer,
    id: TemplateInstanceId,
) -> Result<TemplateInstance> {
    sqlx::query(&format!(
        "SELECT {INSTANCE_COLUMNS} FROM template_instances WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .as_ref()
    .map(|row| instance_from_row(row, sealer))
    .transpose()?
    .ok_or_else(|| Error::not_found("template instance", id))
}

pub(crate) async fn instance_by_name_opt(
    pool: &PgPool,
    sealer: &Sealer,
    project: ProjectId,
    name: &str,
) -> Result<Option<TemplateInstance>> {
    if !storable(name) {
        return Ok(None);
    }
    sqlx::query(&format!(
        "SELECT {INSTANCE_COLUMNS} FROM template_instances WHERE project_id = $1 AND name = $2"
    ))
    .bind(project.0)
    .bind(name)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .as_ref()
    .map(|row| instance_from_row(row, sealer))
    .transpose()
}

pub(crate) async fn list_instances(
    pool: &PgPool,
    sealer: &Sealer,
    org: OrgId,
    project: Option<ProjectId>,
) -> Result<Vec<TemplateInstance>> {
    sqlx::query(&format!(
        "SELECT {INSTANCE_COLUMNS} FROM template_instances \
         WHERE org_id = $1 AND ($2::uuid IS NULL OR project_id = $2) ORDER BY id"
    ))
    .bind(org.0)
    .bind(project.map(|p| p.0))
    .fetch_all(pool)
    .await
    .map_err(db_error)?
    .iter()
    .map(|row| instance_from_row(row, sealer))
    .collect()
}

pub(crate) async fn delete_instance(pool: &PgPool, id: TemplateInstanceId) -> Result<()> {
    // Only the record: its services are the platform's to delete.
    let done = sqlx::query("DELETE FROM template_instances WHERE id = $1")
        .bind(id.0)
        .execute(pool)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("template instance", id));
    }
    Ok(())
}
