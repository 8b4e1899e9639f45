//! The HTTP facade over [`Platform`]: an axum [`Router`] factory, nothing else.
//!
//! ```
//! # use std::sync::Arc;
//! # use caas_core::{Platform, memory::{InMemoryStore, InMemoryRuntime}};
//! let platform = Platform::builder()
//!     .store(Arc::new(InMemoryStore::new()))
//!     .runtime(Arc::new(InMemoryRuntime::new()))
//!     .build()
//!     .unwrap();
//! let app: axum::Router = caas_http::router(platform, Arc::new(caas_http::BearerTokenAuthenticator));
//! # let _ = app;
//! ```
//!
//! - The embedder supplies an [`Authenticator`] that turns a request into a
//!   [`Principal`](caas_core::Principal) — [`BearerTokenAuthenticator`] checks the platform's
//!   API tokens. Every route but `GET /v1/health` and `GET /v1/openapi.json` requires it: no
//!   or an invalid credential is 401 `UNAUTHENTICATED`. Permissions are enforced by the
//!   platform itself: a caller who is not a member of an organization gets 404 for everything
//!   in it (never a 403 that would reveal it exists); members whose role is too low and
//!   non-administrators on administrator routes get 403.
//! - Errors are JSON `{ "code", "message", "details", "retryable" }` ([`ApiError`]): 404
//!   `NOT_FOUND`, 409 `ALREADY_EXISTS` / `CONFLICT` / `QUOTA_EXCEEDED` (the plan and every
//!   exceeded dimension in `details`), 422 `INVALID_INPUT` with `details.field` naming the
//!   field (also for malformed JSON, unknown fields at any depth and bad query parameters),
//!   403 `PERMISSION_DENIED`, 501 `UNSUPPORTED` (a feature this platform is not configured
//!   for, such as backups without a backup destination), 503 `UNAVAILABLE` (`retryable: true`).
//! - Creates answer 201 with the created resource, deletes 204, reads and updates 200.
//!   Services are always returned with secret values redacted; a new database's credentials
//!   are in the 201 answer and never again. Request bodies are never logged.
//! - Every response carries an `x-request-id` (taken from the request or generated); bodies
//!   are limited to [`MAX_BODY_BYTES`]; each request is traced (a DEBUG span with the method
//!   and the URI — with the invitation token of `/v1/invitations/{token}/…` and any
//!   `caas_…` path segment replaced by `[redacted]`).
//! - Logs are a JSON array, or Server-Sent Events with `follow=true`; live stats are JSON, or
//!   Server-Sent Events on `…/stats/stream`. Metrics charts answer `image/svg+xml`, usage
//!   reports JSON or (`format=csv`) a `text/csv` download.
//! - The OpenAPI 3.1 document is served at `/v1/openapi.json`; its schemas are derived from
//!   the caas-core types the handlers read and answer (caas-core's `openapi` feature).
//!   [`routes`] lists every route.
//!
//! | route | platform operation |
//! |---|---|
//! | `GET /v1/health` | `health` (no credentials) |
//! | `GET, PUT /v1/admin/runtime` | `runtime_config`, `update_runtime_config` |
//! | `POST /v1/admin/runtime/test` | `test_runtime` (body optional) |
//! | `GET /v1/admin/runtime/detect` | `detect_runtime` |
//! | `GET, POST /v1/admin/plans` | `list_plans`, `create_plan` |
//! | `GET, PATCH, DELETE /v1/admin/plans/{plan}` | `plan`, `update_plan`, `delete_plan` |
//! | `GET /v1/me` | `me` (the caller's user and memberships) |
//! | `GET, POST /v1/admin/users` | `list_users` (`search`, `limit`, `offset`), `create_user` |
//! | `POST /v1/admin/users/{user}/tokens` | `user`, then `create_api_token` for that user (the secret answered once) |
//! | `POST /v1/admin/users/{user}/disable`, `/enable` | `disable_user`, `enable_user` |
//! | `GET, POST /v1/tokens` | `list_api_tokens`, `create_api_token` (the secret answered once) |
//! | `DELETE /v1/tokens/{id}` | `revoke_api_token` |
//! | `GET, POST /v1/orgs` | `list_orgs`, `create_org` |
//! | `GET, PATCH, DELETE /v1/orgs/{org}` | `org`, `update_org`, `delete_org` (`?volumes=true`) |
//! | `GET, PUT /v1/orgs/{org}/subscription` | `subscription`, `set_subscription` |
//! | `GET /v1/orgs/{org}/usage` | `usage_summary` |
//! | `GET, POST /v1/orgs/{org}/members` | `list_members`, `add_member` |
//! | `PATCH, DELETE /v1/orgs/{org}/members/{user}` | `update_member`, `remove_member` |
//! | `POST /v1/orgs/{org}/transfer-ownership` | `transfer_ownership` |
//! | `GET, POST /v1/orgs/{org}/invitations` | `list_invitations`, `invite` (the token only to the mailer) |
//! | `DELETE /v1/orgs/{org}/invitations/{invitation}` | `revoke_invitation` |
//! | `POST /v1/invitations/{token}/accept`, `/decline` | `accept_invitation`, `decline_invitation` |
//! | `GET /v1/admin/orgs` | `admin_orgs` (`search`, `plan`, `status`, `subscription`, `limit`, `offset`) |
//! | `POST /v1/admin/orgs/{org}/suspend`, `/reactivate` | `suspend_org`, `reactivate_org` |
//! | `POST /v1/admin/orgs/bulk` | `bulk_orgs` (one result per organization) |
//! | `GET /v1/admin/audit` | `audit_log` (`org`, `action`, `actor`, `since`, `before`, `limit`) |
//! | `GET /v1/orgs/{org}/usage/report` | `usage_report` (`from`, `to`, `format=json\|csv`; CSV by [`render::usage_report_csv`]) |
//! | `GET, PUT /v1/orgs/{org}/alerts` | `alerts`, `set_alerts` |
//! | `GET, POST /v1/orgs/{org}/projects` | `list_projects`, `create_project` |
//! | `GET, DELETE /v1/orgs/{org}/projects/{project}` | `project`, `delete_project` (`?volumes=true`) |
//! | `GET, POST …/projects/{project}/services` | `list_services`, `deploy_app` / `deploy_database` |
//! | `GET, DELETE …/services/{service}` | `service`, `delete_service` (`?volumes=true`) |
//! | `POST …/services/{service}/start`, `/stop`, `/restart` | `start_service`, `stop_service`, `restart_service` |
//! | `GET …/services/{service}/logs` | `service_logs` (`tail`, `since`, `follow`) |
//! | `GET …/services/{service}/stats` | `service_stats` |
//! | `GET …/services/{service}/stats/stream` | `service_stats_stream` (`interval_ms`; Server-Sent Events) |
//! | `GET …/services/{service}/metrics` | `service_metrics` (`from`, `to`, `step`) |
//! | `GET …/services/{service}/metrics.svg` | `service_metrics` (`metric`, `from`, `to`, `step`), drawn by [`render::service_chart`] |
//! | `GET …/services/{service}/health` | `service_health` (`window_secs`) |
//! | `GET …/services/{service}/events` | `service_events` (`limit`) |
//! | `PATCH …/services/{service}` | `update_service` (`?dry_run=true` previews) |
//! | `GET …/services/{service}/deployments` | `list_deployments` |
//! | `POST …/services/{service}/rollback` | `rollback_service` (body `{"to": <deployment>}` optional) |
//! | `GET, POST …/services/{service}/domains` | `list_domains`, `add_domain` |
//! | `DELETE …/services/{service}/domains/{domain}` | `remove_domain` (`?path=`) |
//! | `POST /v1/orgs/{org}/domains/{domain}/verify` | `verify_domain` |
//! | `GET /v1/orgs/{org}/domains/{domain}/certificate` | `certificate_status` |
//! | `GET /.well-known/caas-challenge/{token}` (no credentials) | `challenge_answer` |
//! | `GET, POST /v1/orgs/{org}/volumes` | `list_volumes` (`?project=`), `create_volume` |
//! | `GET, DELETE /v1/orgs/{org}/volumes/{volume}` | `volume`, `delete_volume` (`?force=true`) |
//! | `GET, POST …/volumes/{volume}/backups` | `list_backups`, `backup_volume` (body `{"consistent": true}` optional); with `Prefer: respond-async`, `start_backup` (202, `Location`) |
//! | `PUT, DELETE …/volumes/{volume}/backup-schedule` | `set_backup_schedule` (`Some`, `None`) |
//! | `GET /v1/orgs/{org}/backups` | `list_org_backups` |
//! | `GET, DELETE /v1/orgs/{org}/backups/{backup}` | `backup`, `delete_backup` |
//! | `POST /v1/orgs/{org}/backups/{backup}/restore` | `restore_backup` (body optional: same volume) |
//! | `GET /v1/templates` | `templates` (`?category=`) |
//! | `GET /v1/templates/{template}` | `template` |
//! | `POST …/projects/{project}/templates/{template}/deploy` | `deploy_template` (`?dry_run=true` plans) |
//! | `GET …/projects/{project}/template-instances` | `list_template_instances` |
//! | `DELETE …/projects/{project}/template-instances/{instance}` | `delete_template_instance` (`?volumes=true`) |
//! | `POST, PUT, DELETE /v1/admin/templates/{template}` | `create_template`, `update_template`, `delete_template` |
//!
//! `POST …/services` takes `{"name": "web", "spec": {...}}` for an app or
//! `{"name": "db", "database": {"engine": "postgres"}}` for a managed database.
//!
//! `{volume}` is a volume's id, or its name when no other project of the organization has a
//! volume of that name (otherwise 409: use the id). Taking a backup answers 201 with the
//! backup record once the copy is over, also when the copy failed: the record says
//! `"status": "failed"` and why, and stays listed until deleted — check `status`. Without a
//! backup destination ([`caas_core::platform::BackupConfig`]) taking a backup, setting or
//! removing a schedule and restoring answer 501; the lists answer as usual.
//!
//! A template deploy (`POST …/templates/{template}/deploy` with `{"name": "blog",
//! "parameters": {...}}`) answers 201 with the plan, the instance, its services and its
//! `outputs` — secret ones (a database URL) with their values, the only time they are shown;
//! `?dry_run=true` answers 200 with the plan alone, secrets redacted. The catalogue list
//! answers summaries, `GET /v1/templates/{template}` the full definition. Administrators add
//! a template with `POST /v1/admin/templates/{id}` and `{"template": <definition>}` (the
//! definition's `id` must be the path's).
//!
//! Users are created by platform administrators (`POST /v1/admin/users` with `{"email":
//! "bob@example.com"}`; there is no sign-up), who hand them their first token
//! (`POST /v1/admin/users/{user}/tokens`, `{user}` an id or e-mail address), and who may
//! disable them (`POST /v1/admin/users/{user}/disable`: every token of theirs is 401 from
//! then on, their memberships stay) and enable them again (`…/enable`). Everyone creates,
//! lists and revokes their own tokens at `/v1/tokens`: a token's `secret` is in the 201
//! answer that creates it and in no later answer or log line. A token may be scoped
//! (`"scope": {"read_only": true, "orgs": [{"org": "acme", "projects": ["shop"]}]}`): a
//! read-only token gets 403 for every change, a token restricted to organizations 404 for
//! every other organization; it creates only tokens no wider and no longer-lived than itself.
//! Lifetimes follow the platform's default and maximum (`expires_in_days` above the maximum
//! is 422). `GET /v1/me` answers the caller's user and memberships.
//!
//! Members are added by e-mail address or id (`{"user": "bob@example.com", "role":
//! "admin"}`); `{user}` in a path is either too. Creating an invitation answers it without
//! its token, which goes only to the platform's mailer (501 without one); the invited user
//! accepts it with their own credentials at `POST /v1/invitations/{token}/accept`. The
//! administrators' overview answers a page with `total` and `more`; a bulk call
//! (`{"action": {"type": "suspend"}, "orgs": ["acme", "globex"]}`) answers 200 with one
//! result per organization, failures included.
//!
//! ## Who may call what
//!
//! The platform decides (see [`caas_core::auth`]); the `matrix` test of this crate checks
//! every route of the OpenAPI document against this table for every kind of caller.
//! Non-members of an organization get 404 for everything under its path; a role too low
//! gets 403; a suspended organization's changes (deploys, updates, starts and stops,
//! domains, volumes, backups, restores, new projects) get 409 for everyone, its reads
//! answer.
//!
//! | routes | who |
//! |---|---|
//! | `GET /v1/health`, `GET /v1/openapi.json` | anyone, without credentials |
//! | `GET /v1/orgs`, `POST /v1/orgs`, `GET /v1/admin/plans[/{plan}]`, `GET /v1/templates[/{template}]`, `GET /v1/me`, `GET, POST /v1/tokens` | every authenticated caller |
//! | `DELETE /v1/tokens/{id}` | the token's holder and platform administrators (404 for anyone else) |
//! | `POST /v1/admin/users/{user}/disable`, `/enable` | platform administrators (403 for anyone else; 409 for disabling oneself) |
//! | reads under `/v1/orgs/{org}` (the members list included) | viewer and up |
//! | deploys, updates, starts/stops/restarts, deletes and rollbacks of services; domains; volumes, backups and schedules; template deploys and instance deletes | member and up |
//! | new and deleted projects, restores, alert rules, members (add, change, remove), invitations (list, create, revoke) | admin and up (only owners grant, change or take the owner role) |
//! | `PATCH`, `DELETE /v1/orgs/{org}`, `POST …/transfer-ownership` | owner |
//! | leaving an organization (`DELETE …/members/{me}`) | every member, but the last owner |
//! | `POST /v1/invitations/{token}/accept`, `/decline` | the invited address only (403 for anyone else) |
//! | `GET /v1/admin/audit?org={org}` | owners of `{org}` and platform administrators |
//! | every other `/v1/admin/…` route, `PUT /v1/orgs/{org}/subscription` | platform administrators (403 for anyone else, whichever organization is named) |
//!
//! Platform administrators may call every other route too (their own role in an organization
//! does not matter).
//!
//! A scoped token narrows its user's row (see `caas_core::auth`, "API tokens"): with a
//! read-only token every change (every method but `GET`) is 403 and every `GET` answers as
//! for the user; with a token restricted to organizations, every other organization is 404
//! as for a stranger, creating organizations and answering invitations are 403, and a
//! platform administrator's restricted token acts as an owner of its organizations and
//! nowhere as an administrator (403 on the administrators' routes).

mod auth;
mod error;
mod extract;
mod health;
mod limits;
pub mod render;
mod routes;
mod trace;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodFilter, MethodRouter, on};
use caas_core::Platform;
use http::{HeaderName, Method, StatusCode};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub use auth::{Authenticator, BearerTokenAuthenticator};
pub use error::{ApiError, ErrorBody};
pub use limits::HttpLimits;
pub use routes::services::MAX_LOG_LINES;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Shared state of the handlers.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) platform: Platform,
    pub(crate) auth: Arc<dyn Authenticator>,
    pub(crate) limiter: Arc<limits::Limiter>,
}

/// The OpenAPI document of the API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "caas-rs",
        description = "Containers as a service: the REST API of a caas-rs platform. Authenticate with `Authorization: Bearer <API token>`; errors are `{code, message, details, retryable}`."
    ),
    paths(
        health::health,
        openapi,
        routes::admin::runtime_config,
        routes::admin::update_runtime_config,
        routes::admin::test_runtime,
        routes::admin::detect_runtime,
        routes::admin::list_plans,
        routes::admin::create_plan,
        routes::admin::get_plan,
        routes::admin::update_plan,
        routes::admin::delete_plan,
        routes::users::me,
        routes::users::create_user,
        routes::users::list_users,
        routes::users::disable_user,
        routes::users::enable_user,
        routes::tokens::create_token,
        routes::tokens::list_tokens,
        routes::tokens::revoke_token,
        routes::tokens::create_user_token,
        routes::orgs::list_orgs,
        routes::orgs::create_org,
        routes::orgs::get_org,
        routes::orgs::update_org,
        routes::orgs::delete_org,
        routes::orgs::get_subscription,
        routes::orgs::put_subscription,
        routes::orgs::usage,
        routes::members::list_members,
        routes::members::add_member,
        routes::members::update_member,
        routes::members::remove_member,
        routes::members::transfer_ownership,
        routes::members::list_invitations,
        routes::members::create_invitation,
        routes::members::revoke_invitation,
        routes::members::accept_invitation,
        routes::members::decline_invitation,
        routes::org_admin::admin_orgs,
        routes::org_admin::bulk_orgs,
        routes::org_admin::suspend_org,
        routes::org_admin::reactivate_org,
        routes::org_admin::audit_log,
        routes::projects::list_projects,
        routes::projects::create_project,
        routes::projects::get_project,
        routes::projects::delete_project,
        routes::services::list_services,
        routes::services::create_service,
        routes::services::get_service,
        routes::updates::update_service,
        routes::services::delete_service,
        routes::services::start_service,
        routes::services::stop_service,
        routes::services::restart_service,
        routes::services::service_logs,
        routes::updates::list_deployments,
        routes::updates::rollback_service,
        routes::domains::list_domains,
        routes::domains::add_domain,
        routes::domains::remove_domain,
        routes::domains::verify_domain,
        routes::domains::certificate,
        routes::domains::challenge,
        routes::volumes::list_volumes,
        routes::volumes::create_volume,
        routes::volumes::get_volume,
        routes::volumes::delete_volume,
        routes::backups::list_volume_backups,
        routes::backups::create_backup,
        routes::backups::put_backup_schedule,
        routes::backups::delete_backup_schedule,
        routes::backups::list_backups,
        routes::backups::get_backup,
        routes::backups::delete_backup,
        routes::backups::restore_backup,
        routes::monitoring::service_stats,
        routes::monitoring::service_stats_stream,
        routes::monitoring::service_metrics,
        routes::monitoring::service_chart,
        routes::service_health::service_health,
        routes::service_health::service_events,
        routes::alerts::get_alerts,
        routes::alerts::put_alerts,
        routes::reports::usage_report,
        routes::templates::list_templates,
        routes::templates::get_template,
        routes::templates::deploy_template,
        routes::templates::list_instances,
        routes::templates::delete_instance,
        routes::templates::admin::create_template,
        routes::templates::admin::update_template,
        routes::templates::admin::delete_template,
    ),
    // The error body the conventions refer to, and schemas of query parameters, which utoipa
    // does not collect from `IntoParams`.
    components(schemas(
        ErrorBody,
        render::ChartMetric,
        routes::reports::ReportFormat
    )),
    modifiers(&Conventions),
    tags(
        (name = "health", description = "Liveness and backend status"),
        (name = "admin", description = "Runtime configuration (platform administrators)"),
        (name = "plans", description = "Plans: limits and prices (changed by platform administrators)"),
        (name = "users", description = "Users (created by platform administrators), their API tokens, and who am I"),
        (name = "organizations", description = "Tenants, their subscription and usage"),
        (name = "members", description = "Members of an organization, their roles, ownership and invitations"),
        (name = "administration", description = "Organization administration by platform administrators: the overview, suspension, bulk operations and the audit log"),
        (name = "projects", description = "Projects: private networks of services"),
        (name = "services", description = "Apps and managed databases"),
        (name = "volumes", description = "Persistent volumes, counted against the storage quota"),
        (name = "backups", description = "Backups of volumes, their schedules and restores"),
        (name = "monitoring", description = "Live stats, metrics history and charts, health and events of services"),
        (name = "alerts", description = "Alert rules, their webhook and the alerts they raised"),
        (name = "templates", description = "Application templates: the catalogue (managed by platform administrators), deploys of whole applications and their instances"),
    )
)]
pub struct ApiDoc;

/// The routes that need no credentials.
const PUBLIC_PATHS: [&str; 3] = [
    "/v1/health",
    "/v1/openapi.json",
    "/.well-known/caas-challenge/{token}",
];

/// The bearer security scheme, required by every operation but health, the document and the
/// HTTP challenge answer; and the answers every authenticated operation may give (401, 429,
/// 503), so each route lists only its own.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::SecurityRequirement;
        use utoipa::openapi::{Ref, ResponseBuilder, content::ContentBuilder};

        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("caas_…")
                    .description(Some("An API token"))
                    .build(),
            ),
        );
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in doc.paths.paths.iter_mut() {
            if PUBLIC_PATHS.contains(&path.as_str()) {
                continue;
            }
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                op.security = Some(vec![SecurityRequirement::new(
                    "bearer",
                    Vec::<String>::new(),
                )]);
                let responses = &mut op.responses.responses;
                responses.insert(
                    "401".into(),
                    error("No or invalid credentials (`UNAUTHENTICATED`)").into(),
                );
                responses.insert(
                    "503".into(),
                    error("A backend (store or runtime) is unavailable, the server handles as many requests as it takes at once, or the request took longer than the server's timeout; retry later (`Retry-After`)").into(),
                );
                responses
                    .entry("429".into())
                    .or_insert_with(|| {
                        error("More requests a second than the user may make (`RATE_LIMITED`); `Retry-After` says when to try again").into()
                    });
                if let Some(body) = &mut op.request_body {
                    optional_body(body);
                }
            }
        }
    }
}

/// utoipa writes an `Option<T>` request body as a required body of schema `null | T`; the
/// API means an optional body that is a `T` when present (a JSON `null` is refused like any
/// non-object).
fn optional_body(body: &mut utoipa::openapi::request_body::RequestBody) {
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    use utoipa::openapi::{RefOr, Required};

    let is_null = |s: &RefOr<Schema>| matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null));
    let mut optional = false;
    for content in body.content.values_mut() {
        let Some(RefOr::T(Schema::OneOf(one))) = &content.schema else {
            continue;
        };
        if one.items.len() == 2 && one.items.iter().any(is_null) {
            content.schema = one.items.iter().find(|s| !is_null(s)).cloned();
            optional = true;
        }
    }
    if optional {
        body.required = Some(Required::False);
    }
}

/// Declares every route once: the router is built from this table and [`routes`] lists it.
macro_rules! route_table {
    ($($method:ident $path:literal => $handler:path,)*) => {
        fn table() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
            vec![$((Method::$method, $path, on(MethodFilter::$method, $handler)),)*]
        }
    };
}

route_table! {
    GET "/v1/health" => health::health,
    GET "/v1/openapi.json" => openapi,
    GET "/v1/admin/runtime" => routes::admin::runtime_config,
    PUT "/v1/admin/runtime" => routes::admin::update_runtime_config,
    POST "/v1/admin/runtime/test" => routes::admin::test_runtime,
    GET "/v1/admin/runtime/detect" => routes::admin::detect_runtime,
    GET "/v1/admin/plans" => routes::admin::list_plans,
    POST "/v1/admin/plans" => routes::admin::create_plan,
    GET "/v1/admin/plans/{plan}" => routes::admin::get_plan,
    PATCH "/v1/admin/plans/{plan}" => routes::admin::update_plan,
    DELETE "/v1/admin/plans/{plan}" => routes::admin::delete_plan,
    GET "/v1/me" => routes::users::me,
    POST "/v1/admin/users" => routes::users::create_user,
    GET "/v1/admin/users" => routes::users::list_users,
    POST "/v1/admin/users/{user}/tokens" => routes::tokens::create_user_token,
    POST "/v1/admin/users/{user}/disable" => routes::users::disable_user,
    POST "/v1/admin/users/{user}/enable" => routes::users::enable_user,
    POST "/v1/tokens" => routes::tokens::create_token,
    GET "/v1/tokens" => routes::tokens::list_tokens,
    DELETE "/v1/tokens/{id}" => routes::tokens::revoke_token,
    GET "/v1/orgs" => routes::orgs::list_orgs,
    POST "/v1/orgs" => routes::orgs::create_org,
    GET "/v1/orgs/{org}" => routes::orgs::get_org,
    PATCH "/v1/orgs/{org}" => routes::orgs::update_org,
    DELETE "/v1/orgs/{org}" => routes::orgs::delete_org,
    GET "/v1/orgs/{org}/subscription" => routes::orgs::get_subscription,
    PUT "/v1/orgs/{org}/subscription" => routes::orgs::put_subscription,
    GET "/v1/orgs/{org}/usage" => routes::orgs::usage,
    GET "/v1/orgs/{org}/members" => routes::members::list_members,
    POST "/v1/orgs/{org}/members" => routes::members::add_member,
    PATCH "/v1/orgs/{org}/members/{user}" => routes::members::update_member,
    DELETE "/v1/orgs/{org}/members/{user}" => routes::members::remove_member,
    POST "/v1/orgs/{org}/transfer-ownership" => routes::members::transfer_ownership,
    GET "/v1/orgs/{org}/invitations" => routes::members::list_invitations,
    POST "/v1/orgs/{org}/invitations" => routes::members::create_invitation,
    DELETE "/v1/orgs/{org}/invitations/{invitation}" => routes::members::revoke_invitation,
    POST "/v1/invitations/{token}/accept" => routes::members::accept_invitation,
    POST "/v1/invitations/{token}/decline" => routes::members::decline_invitation,
    GET "/v1/admin/orgs" => routes::org_admin::admin_orgs,
    POST "/v1/admin/orgs/bulk" => routes::org_admin::bulk_orgs,
    POST "/v1/admin/orgs/{org}/suspend" => routes::org_admin::suspend_org,
    POST "/v1/admin/orgs/{org}/reactivate" => routes::org_admin::reactivate_org,
    GET "/v1/admin/audit" => routes::org_admin::audit_log,
    GET "/v1/orgs/{org}/projects" => routes::projects::list_projects,
    POST "/v1/orgs/{org}/projects" => routes::projects::create_project,
    GET "/v1/orgs/{org}/projects/{project}" => routes::projects::get_project,
    DELETE "/v1/orgs/{org}/projects/{project}" => routes::projects::delete_project,
    GET "/v1/orgs/{org}/projects/{project}/services" => routes::services::list_services,
    POST "/v1/orgs/{org}/projects/{project}/services" => routes::services::create_service,
    GET "/v1/orgs/{org}/projects/{project}/services/{service}" => routes::services::get_service,
    PATCH "/v1/orgs/{org}/projects/{project}/services/{service}" => routes::updates::update_service,
    DELETE "/v1/orgs/{org}/projects/{project}/services/{service}" => routes::services::delete_service,
    POST "/v1/orgs/{org}/projects/{project}/services/{service}/start" => routes::services::start_service,
    POST "/v1/orgs/{org}/projects/{project}/services/{service}/stop" => routes::services::stop_service,
    POST "/v1/orgs/{org}/projects/{project}/services/{service}/restart" => routes::services::restart_service,
    GET "/v1/orgs/{org}/projects/{project}/services/{service}/logs" => routes::services::service_logs,
    GET "/v1/orgs/{org}/projects/{project}/services/{service}/deployments" => routes::updates::list_deployments,
    POST "/v1/orgs/{org}/projects/{project}/services/{service}/rollback" => routes::updates::rollback_service,
    GET "/v1/orgs/{org}/projects/{project}/services/{service}/domains" => routes::domains::list_domains,
    POST "/v1/orgs/{org}/projects/{project}/services/{service}/domains" => routes::domains::add_domain,
    DELETE "/v1/orgs/{org}/projects/{project}/services/{service}/domains/{domain}" => routes::domains::remove_domain,
    POST "/v1/orgs/{org}/domains/{domain}/verify" => routes::domains::verify_domain,
    GET "/v1/orgs/{org}/domains/{domain}/certificate" => routes::domains::certificate,
    GET "/.well-known/caas-challenge/{token}" => routes::domains::challenge,
    GET "/v1/orgs/{org}/volumes" => routes::volumes::list_volumes,
    POST "/v1/orgs/{org}/volumes" => routes::volumes::create_volume,
    GET "/v1/orgs/{org}/volumes/{volume}" => routes::volumes::get_volume,
    DELETE "/v1/orgs/{org}/volumes/{volume}" => routes::volumes::delete_volume,
    GET "/v1/orgs/{org}/volumes/{volume}/backups" => routes::backups::list_volume_backups,
    POST "/v1/orgs/{org}/volumes/{volume}/backups" => routes::backups::create_backup,
    PUT "/v1/orgs/{org}/volumes/{volume}/backup-schedule" => routes::backups::put_backup_schedule,
    DELETE "/v1/orgs/{org}/volumes/{volume}/backup-schedule" => routes::backups::delete_backup_schedule,
    GET "/v1/orgs/{org}/backups" => routes::backups::list_backups,
    GET "/v1/orgs/{org}/backups/{backup}" => routes::backups::get_backup,
    DELETE "/v1/orgs/{org}/backups/{backup}" => routes::backups::delete_backup,
    POST "/v1/orgs/{org}/backups/{backup}/restore" => routes::backups::restore_backup,
    GET "/v1/orgs/{org}/projects/{project}/services/{service}/stats" => routes::monitoring::service_stats,
    GET "/v1/orgs/{org}/projects/{project}/services/{service}/stats/stream" => routes::monitoring::service_stats_stream,
    GET "/v1/orgs/{org}/projects/{project}/services/{service}/metrics" => routes::monitoring::service_metrics,
    GET "/v1/orgs/{org}/projects/{project}/services/{service}/metrics.svg" => routes::monitoring::service_chart,
    GET "/v1/orgs/{org}/projects/{project}/services/{service}/health" => routes::service_health::service_health,
    GET "/v1/orgs/{org}/projects/{project}/services/{service}/events" => routes::service_health::service_events,
    GET "/v1/orgs/{org}/alerts" => routes::alerts::get_alerts,
    PUT "/v1/orgs/{org}/alerts" => routes::alerts::put_alerts,
    GET "/v1/orgs/{org}/usage/report" => routes::reports::usage_report,
    GET "/v1/templates" => routes::templates::list_templates,
    GET "/v1/templates/{template}" => routes::templates::get_template,
    POST "/v1/orgs/{org}/projects/{project}/templates/{template}/deploy" => routes::templates::deploy_template,
    GET "/v1/orgs/{org}/projects/{project}/template-instances" => routes::templates::list_instances,
    DELETE "/v1/orgs/{org}/projects/{project}/template-instances/{instance}" => routes::templates::delete_instance,
    POST "/v1/admin/templates/{template}" => routes::templates::admin::create_template,
    PUT "/v1/admin/templates/{template}" => routes::templates::admin::update_template,
    DELETE "/v1/admin/templates/{template}" => routes::templates::admin::delete_template,
}

/// Every route the router serves, as (method, path template) — the same table the router is
/// built from, for embedders that mount, proxy or audit the API.
pub fn routes() -> Vec<(Method, &'static str)> {
    table().into_iter().map(|(m, p, _)| (m, p)).collect()
}

/// Builds the API router over `platform`, authenticating requests with `auth`, with the
/// default [`HttpLimits`].
pub fn router(platform: Platform, auth: Arc<dyn Authenticator>) -> Router {
    router_with(platform, auth, HttpLimits::default())
}

/// Builds the API router over `platform`, authenticating requests with `auth`, enforcing
/// `limits` (see [`HttpLimits`]).
pub fn router_with(platform: Platform, auth: Arc<dyn Authenticator>, limits: HttpLimits) -> Router {
    let state = AppState {
        platform,
        auth,
        limiter: Arc::new(limits::Limiter::new(limits)),
    };
    let request_id = HeaderName::from_static("x-request-id");
    let mut app = Router::new();
    for (_, path, handler) in table() {
        app = app.route(path, handler);
    }
    app.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(handler_panicked))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::enforce,
        ))
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(trace::RequestSpan))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// A handler that panicked answers 500 with the API's error body (the panic is logged, its
/// message is not sent: it may name internals).
fn handler_panicked(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    tracing::error!("a request handler panicked");
    ApiError::from(caas_core::Error::backend(
        "api",
        "the request failed unexpectedly",
    ))
    .into_response()
}

/// This document.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API (no credentials needed)", body = Object))
)]
async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

async fn not_found() -> ApiError {
    ApiError::Request {
        status: StatusCode::NOT_FOUND,
        code: "NOT_FOUND",
        message: "no such route".into(),
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::Request {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: "METHOD_NOT_ALLOWED",
        message: "this route does not answer this method".into(),
    }
}
