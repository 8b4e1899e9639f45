//! Application templates: the catalogue (`GET /v1/templates[/{template}]`), deploying one
//! into a project as an instance (`POST …/projects/{project}/templates/{template}/deploy`,
//! `?dry_run=true` for the plan alone), the project's instances (`GET|DELETE
//! …/projects/{project}/template-instances[/{instance}]`) and, in [`admin`], the platform
//! administrators' catalogue operations.
//!
//! - Any authenticated caller browses the catalogue: enabled templates (platform
//!   administrators also see disabled ones, and only they get a disabled one by id). The list
//!   answers summaries; one template answers its full definition (parameters for a form).
//! - A deploy checks the parameters (422 naming `parameters.NAME`; the instance's name is
//!   `name`), reserves the **whole plan's quota at once** (409 `QUOTA_EXCEEDED` before
//!   anything is created), then deploys the services in dependency order; a failure removes
//!   everything it created. The 201 answer carries the outputs with their secret values (a
//!   database URL): the only time they are shown. A dry run answers 200 with the plan,
//!   secrets redacted, and creates nothing.
//! - Viewers browse and list instances; members and above deploy and delete them.

pub(crate) mod admin;

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use caas_core::ProjectRef;
use caas_core::model::{TemplateInstance, TemplateMinimum};
use caas_core::platform::{DeployTemplate, TemplateDeployment, TemplateEntry};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{DeleteQuery, ProjectPath};
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams, QueryParams};

/// `{template}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct TemplatePath {
    /// The template's id.
    pub(crate) template: String,
}

/// `{org}/projects/{project}/templates/{template}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ProjectTemplatePath {
    /// The organization's slug.
    org: String,
    /// The project's name.
    project: String,
    /// The template's id.
    template: String,
}

/// `{org}/projects/{project}/template-instances/{instance}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct InstancePath {
    /// The organization's slug.
    org: String,
    /// The project's name.
    project: String,
    /// The instance's name.
    instance: String,
}

/// `?category=database`: only the templates of one category.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct CategoryQuery {
    /// The category (`cms`, `database`, `runtime`, ...; default: every category).
    #[serde(default)]
    category: Option<String>,
}

/// `?dry_run=true`: the plan alone.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeployQuery {
    /// Only check the parameters and answer the plan (secrets redacted); nothing is created
    /// and no quota is reserved (default `false`).
    #[serde(default)]
    dry_run: Option<bool>,
}

/// An instance to deploy from a template.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeployTemplateRequest {
    /// The instance's name, unique in the project (DNS-label rules): its services and
    /// volumes are called `<name>-<service>` and `<name>-<volume>`.
    name: String,
    /// Parameter values by name; the template's defaults and generated secrets fill in the
    /// rest.
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, serde_json::Value>)]
    parameters: BTreeMap<String, serde_json::Value>,
}

/// A catalogue entry without its definition (`GET /v1/templates/{template}` has it).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TemplateSummary {
    /// Id, used in URLs.
    id: String,
    /// Name shown to customers.
    name: String,
    /// Category.
    category: String,
    /// One paragraph.
    description: String,
    /// Icon URL or name.
    icon: Option<String>,
    /// Tags.
    tags: Vec<String>,
    /// Least resources it needs.
    minimum: TemplateMinimum,
    /// Shipped with the platform (an administrator's override of a built-in shows `false`).
    builtin: bool,
    /// Deployable by customers (platform administrators also see disabled ones).
    enabled: bool,
    /// Position in the catalogue (lower first).
    position: i32,
}

impl From<TemplateEntry> for TemplateSummary {
    fn from(e: TemplateEntry) -> Self {
        Self {
            id: e.id,
            name: e.name,
            category: e.category,
            description: e.description,
            icon: e.icon,
            tags: e.tags,
            minimum: e.minimum,
            builtin: e.builtin,
            enabled: e.enabled,
            position: e.position,
        }
    }
}

/// The catalogue, ordered by position (of one category with `?category=`).
#[utoipa::path(
    get,
    path = "/v1/templates",
    tag = "templates",
    params(CategoryQuery),
    responses(
        (status = 200, description = "Enabled templates (every one for platform administrators), without their definitions", body = Vec<TemplateSummary>),
        (status = 422, description = "Unknown query parameter; `details.field` names it", body = ErrorBody),
    )
)]
pub(crate) async fn list_templates(
    State(s): State<AppState>,
    Caller(who): Caller,
    QueryParams(q): QueryParams<CategoryQuery>,
) -> Result<Json<Vec<TemplateSummary>>, ApiError> {
    let entries = s
        .platform
        .templates()
        .list(&who, q.category.as_deref())
        .await?;
    Ok(Json(
        entries.into_iter().map(TemplateSummary::from).collect(),
    ))
}

/// One template with its full definition: its parameters (for a deploy form), services and
/// outputs.
#[utoipa::path(
    get,
    path = "/v1/templates/{template}",
    tag = "templates",
    params(TemplatePath),
    responses(
        (status = 200, description = "The catalogue entry and its definition", body = TemplateEntry),
        (status = 404, description = "No such template (or a disabled one, to customers)", body = ErrorBody),
    )
)]
pub(crate) async fn get_template(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<TemplatePath>,
) -> Result<Json<TemplateEntry>, ApiError> {
    Ok(Json(s.platform.templates().get(&who, &p.template).await?))
}

/// Deploys a template into a project as one instance, or with `?dry_run=true` answers the
/// plan. The whole plan's quota is reserved before anything is created; the services are
/// deployed in dependency order, and a failure at any step removes everything created.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/projects/{project}/templates/{template}/deploy",
    tag = "templates",
    params(ProjectTemplatePath, DeployQuery),
    request_body = DeployTemplateRequest,
    responses(
        (status = 200, description = "Dry run: the plan (secrets redacted); nothing was created", body = TemplateDeployment),
        (status = 201, description = "Deployed: the plan, the instance, its services and the outputs with their secret values (shown once, never again)", body = TemplateDeployment),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member), project, template or image", body = ErrorBody),
        (status = 409, description = "The instance, or a service or volume name it needs, is taken (`ALREADY_EXISTS`); the plan's limits would be exceeded by the whole plan (`QUOTA_EXCEEDED`, dimensions in `details`; nothing was created); the subscription is inactive, the template disabled, or a service did not become healthy (`CONFLICT`; everything created was removed)", body = ErrorBody),
        (status = 422, description = "Invalid input; `details.field` names it (`name`, `parameters.NAME`)", body = ErrorBody),
    )
)]
pub(crate) async fn deploy_template(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ProjectTemplatePath>,
    QueryParams(q): QueryParams<DeployQuery>,
    JsonBody(body): JsonBody<DeployTemplateRequest>,
) -> Result<(StatusCode, Json<TemplateDeployment>), ApiError> {
    let dry_run = q.dry_run.unwrap_or(false);
    let mut input = DeployTemplate::new(body.name);
    input.parameters = body.parameters;
    let deployment = s
        .platform
        .templates()
        .deploy(
            &who,
            &ProjectRef::new(&p.org, &p.project),
            &p.template,
            input,
            dry_run,
        )
        .await?;
    let status = if deployment.applied {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(deployment)))
}

/// The project's template instances.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/projects/{project}/template-instances",
    tag = "templates",
    params(ProjectPath),
    responses(
        (status = 200, description = "Instances (secret outputs redacted)", body = Vec<TemplateInstance>),
        (status = 404, description = "No such organization (or not a member) or project", body = ErrorBody),
    )
)]
pub(crate) async fn list_instances(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ProjectPath>,
) -> Result<Json<Vec<TemplateInstance>>, ApiError> {
    Ok(Json(
        s.platform.templates().instances(&who, &p.to_ref()).await?,
    ))
}

/// Deletes a template instance with all its services, newest first, and releases their
/// quota. Volumes are kept unless `?volumes=true`. After a failure, repeating the call
/// finishes the job.
#[utoipa::path(
    delete,
    path = "/v1/orgs/{org}/projects/{project}/template-instances/{instance}",
    tag = "templates",
    params(InstancePath, DeleteQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member), project or instance", body = ErrorBody),
        (status = 422, description = "Unknown query parameter; `details.field` names it", body = ErrorBody),
    )
)]
pub(crate) async fn delete_instance(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<InstancePath>,
    QueryParams(q): QueryParams<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    s.platform
        .templates()
        .delete_instance(
            &who,
            &ProjectRef::new(&p.org, &p.project),
            &p.instance,
            q.options(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
