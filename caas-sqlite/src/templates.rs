//! Saved templates (platform-wide, by id) and template instances (unique by name per project,
//! going with their project and organization).

use caas_core::model::{StoredTemplate, TemplateInstance};
use caas_core::secrets::Sealer;
use caas_core::validate::Name;
use caas_core::{Error, OrgId, ProjectId, Result, TemplateInstanceId};
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::codec::{self, Cols, all, ts};
use crate::error::{db_error, on_write};

fn template(row: &SqliteRow) -> Result<StoredTemplate> {
    let c = Cols::new(row, "templates");
    Ok(StoredTemplate {
        id: c.parsed("id", Name::parse)?,
        template: c.json("definition")?,
        enabled: c.bool("enabled")?,
        position: c.i32("position")?,
        created_at: c.ts("created_at")?,
        updated_at: c.ts("updated_at")?,
    })
}

fn instance(row: &SqliteRow, sealer: &Sealer) -> Result<TemplateInstance> {
    let c = Cols::new(row, "template_instances");
    let org = c.id("org_id")?;
    Ok(TemplateInstance {
        id: c.id("id")?,
        org,
        project: c.id("project_id")?,
        name: c.parsed("name", Name::parse)?,
        template: c.parsed("template_id", Name::parse)?,
        services: c.json("services")?,
        outputs: c.outputs("outputs", org, sealer)?,
        created_at: c.ts("created_at")?,
    })
}

// --- templates ---

pub(crate) async fn put_template(s: &SqliteStore, t: &StoredTemplate) -> Result<()> {
    // Replaces every field of a template with the same id, creation time included, like
    // `InMemoryStore`: the platform decides what a replacement keeps.
    sqlx::query(
        "INSERT INTO templates (id, definition, enabled, position, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE
         SET definition = excluded.definition, enabled = excluded.enabled,
             position = excluded.position, created_at = excluded.created_at,
             updated_at = excluded.updated_at",
    )
    .bind(t.id.as_str())
    .bind(codec::json(&t.template)?)
    .bind(t.enabled)
    .bind(t.position)
    .bind(ts("created_at", t.created_at)?)
    .bind(ts("updated_at", t.updated_at)?)
    .execute(s.pool())
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(crate) async fn template_opt(s: &SqliteStore, id: &str) -> Result<Option<StoredTemplate>> {
    sqlx::query("SELECT * FROM templates WHERE id = ?")
        .bind(id)
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map(|r| template(&r))
        .transpose()
}

pub(crate) async fn list_templates(s: &SqliteStore) -> Result<Vec<StoredTemplate>> {
    let rows = sqlx::query("SELECT * FROM templates ORDER BY position, id")
        .fetch_all(s.pool())
        .await
        .map_err(db_error)?;
    all(&rows, template)
}

pub(crate) async fn delete_template(s: &SqliteStore, id: &str) -> Result<()> {
    // Instances keep their template's id without a key: they outlive the saved template.
    let done = sqlx::query("DELETE FROM templates WHERE id = ?")
        .bind(id)
        .execute(s.pool())
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("template", id));
    }
    Ok(())
}

// --- instances ---

pub(crate) async fn create_instance(s: &SqliteStore, i: &TemplateInstance) -> Result<()> {
    // The project must belong to the instance's organization (the (project, org) key says so
    // too; checking first names the project whatever else is wrong).
    let sealer = s.sealer().await;
    let owner: Option<uuid::Uuid> = sqlx::query_scalar("SELECT org_id FROM projects WHERE id = ?")
        .bind(i.project.as_uuid())
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?;
    if owner != Some(i.org.as_uuid()) {
        return Err(Error::not_found("project", i.project));
    }
    let result = sqlx::query(
        "INSERT INTO template_instances (id, org_id, project_id, name, template_id, services,
                                         outputs, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(i.id.as_uuid())
    .bind(i.org.as_uuid())
    .bind(i.project.as_uuid())
    .bind(i.name.as_str())
    .bind(i.template.as_str())
    .bind(codec::json(&i.services)?)
    .bind(codec::sealed_outputs(&sealer, i.org, &i.outputs)?)
    .bind(ts("created_at", i.created_at)?)
    .execute(s.pool())
    .await;
    if let Err(e) = result {
        let parents = [("project", "projects", i.project.as_uuid())];
        return Err(on_write(s.pool(), e, &parents, |cols| {
            if cols == "template_instances.id" {
                Error::already_exists("template instance", i.id)
            } else {
                Error::already_exists("template instance", &i.name)
            }
        })
        .await);
    }
    Ok(())
}

pub(crate) async fn instance_by_id(
    s: &SqliteStore,
    id: TemplateInstanceId,
) -> Result<TemplateInstance> {
    let sealer = s.sealer().await;
    sqlx::query("SELECT * FROM template_instances WHERE id = ?")
        .bind(id.as_uuid())
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map_or_else(
            || Err(Error::not_found("template instance", id)),
            |r| instance(&r, &sealer),
        )
}

pub(crate) async fn instance_by_name_opt(
    s: &SqliteStore,
    project: ProjectId,
    name: &str,
) -> Result<Option<TemplateInstance>> {
    let sealer = s.sealer().await;
    sqlx::query("SELECT * FROM template_instances WHERE project_id = ? AND name = ?")
        .bind(project.as_uuid())
        .bind(name)
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map(|r| instance(&r, &sealer))
        .transpose()
}

pub(crate) async fn list_instances(
    s: &SqliteStore,
    org: OrgId,
    project: Option<ProjectId>,
) -> Result<Vec<TemplateInstance>> {
    let sealer = s.sealer().await;
    let rows =
        match project {
            None => {
                sqlx::query("SELECT * FROM template_instances WHERE org_id = ? ORDER BY id")
                    .bind(org.as_uuid())
                    .fetch_all(s.pool())
                    .await
            }
            Some(p) => sqlx::query(
                "SELECT * FROM template_instances WHERE org_id = ? AND project_id = ? ORDER BY id",
            )
            .bind(org.as_uuid())
            .bind(p.as_uuid())
            .fetch_all(s.pool())
            .await,
        }
        .map_err(db_error)?;
    all(&rows, |r| instance(r, &sealer))
}

pub(crate) async fn delete_instance(s: &SqliteStore, id: TemplateInstanceId) -> Result<()> {
    // Only the record: its services are the platform's to delete.
    let done = sqlx::query("DELETE FROM template_instances WHERE id = ?")
        .bind(id.as_uuid())
        .execute(s.pool())
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("template instance", id));
    }
    Ok(())
}
