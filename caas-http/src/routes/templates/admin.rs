//! `/v1/admin/templates/{template}`: the platform administrators' catalogue operations —
//! adding a template (`POST`, the path's id must be the definition's), changing one
//! (`PUT`: a new definition, enabled or not, its position; a built-in is overridden by a
//! stored copy) and deleting one (`DELETE`: an administrator's template, or an override,
//! which brings the built-in back; a built-in itself is disabled instead, 409).
//!
//! Definitions are checked before they are saved: unknown fields, bad values and references
//! that do not resolve are 422 naming the field under `template` (`template.services[0].image`).

use axum::Json;
use axum::extract::State;
use caas_core::Error;
use caas_core::model::Template;
use caas_core::platform::{TemplateEntry, TemplateUpdate};
use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::TemplatePath;
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams};

/// A template to add to the catalogue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTemplate {
    /// The definition; its `id` must be the path's `{template}`.
    template: Template,
    /// Deployable by customers (default `true`).
    #[serde(default)]
    enabled: Option<bool>,
    /// Position in the catalogue, lower first (default 1000: after the built-ins, which
    /// take 0, 10, 20, ...).
    #[serde(default)]
    position: Option<i32>,
}

/// Changes to a catalogue entry; absent fields keep their value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateTemplate {
    /// A new definition (its `id` must stay the same).
    #[serde(default)]
    template: Option<Template>,
    /// Deployable by customers.
    #[serde(default)]
    enabled: Option<bool>,
    /// Position in the catalogue (lower first).
    #[serde(default)]
    position: Option<i32>,
}

/// Adds a template to the catalogue (checked first: every reference must resolve with the
/// parameters' defaults).
#[utoipa::path(
    post,
    path = "/v1/admin/templates/{template}",
    tag = "templates",
    params(TemplatePath),
    request_body = CreateTemplate,
    responses(
        (status = 201, description = "Added: the catalogue entry", body = TemplateEntry),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 409, description = "The id is taken (by a built-in too: change that one with `PUT`)", body = ErrorBody),
        (status = 422, description = "Invalid definition; `details.field` names the field (`template.id` when it is not the path's)", body = ErrorBody),
    )
)]
pub(crate) async fn create_template(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<TemplatePath>,
    JsonBody(body): JsonBody<CreateTemplate>,
) -> Result<(StatusCode, Json<TemplateEntry>), ApiError> {
    if body.template.id != p.template {
        return Err(Error::invalid(
            "template.id",
            format!(
                "must be the id in the path ('{}'), not '{}'",
                p.template, body.template.id
            ),
        )
        .into());
    }
    let entry = s
        .platform
        .templates()
        .create(
            &who,
            body.template,
            body.enabled.unwrap_or(true),
            body.position,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

/// Changes a catalogue entry: its definition, whether customers may deploy it, its position.
/// Changing a built-in stores an override of it.
#[utoipa::path(
    put,
    path = "/v1/admin/templates/{template}",
    tag = "templates",
    params(TemplatePath),
    request_body = UpdateTemplate,
    responses(
        (status = 200, description = "The entry after the change", body = TemplateEntry),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 404, description = "No such template", body = ErrorBody),
        (status = 422, description = "Invalid definition; `details.field` names the field (`template.id` when it changes)", body = ErrorBody),
    )
)]
pub(crate) async fn update_template(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<TemplatePath>,
    JsonBody(body): JsonBody<UpdateTemplate>,
) -> Result<Json<TemplateEntry>, ApiError> {
    let mut update = TemplateUpdate::default();
    update.template = body.template;
    update.enabled = body.enabled;
    update.position = body.position;
    Ok(Json(
        s.platform
            .templates()
            .update(&who, &p.template, update)
            .await?,
    ))
}

/// Deletes an administrator's template; deleting the override of a built-in brings the
/// built-in back.
#[utoipa::path(
    delete,
    path = "/v1/admin/templates/{template}",
    tag = "templates",
    params(TemplatePath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 404, description = "No such template", body = ErrorBody),
        (status = 409, description = "A built-in without an override: disable it instead (`PUT` with `enabled: false`)", body = ErrorBody),
    )
)]
pub(crate) async fn delete_template(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<TemplatePath>,
) -> Result<StatusCode, ApiError> {
    s.platform.templates().delete(&who, &p.template).await?;
    Ok(StatusCode::NO_CONTENT)
}
