//! OpenAPI schemas of the template types the API reads and answers, written out here because
//! those types live in `caas-core` without `utoipa` derives. Documentation only: handlers
//! (de)serialize the core types, and the OpenAPI test checks real requests and answers
//! against these schemas so the two cannot drift apart silently.

#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::schema;

/// What a template needs at least, shown in the catalogue.
#[derive(Serialize, ToSchema)]
pub(crate) struct TemplateMinimumDoc {
    /// Millicores.
    #[serde(default)]
    cpu_millis: u64,
    /// Bytes of memory.
    #[serde(default)]
    memory_bytes: u64,
    /// Bytes of volume storage.
    #[serde(default)]
    storage_bytes: u64,
}

/// Characters a generated secret is drawn from.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SecretCharsetDoc {
    /// `A-Z a-z 0-9` (the default).
    Alphanumeric,
    /// `0-9 a-f`.
    Hex,
}

/// How a secret parameter is generated when it is not given.
#[derive(Serialize, ToSchema)]
pub(crate) struct SecretRuleDoc {
    /// Length (16-128).
    length: u32,
    /// Characters (default `alphanumeric`).
    #[serde(default)]
    charset: SecretCharsetDoc,
}

/// One parameter of a template: a name, form texts, and (`type` says which) its type with
/// its rules. Referenced in the definition's values as `{{ params.NAME }}`.
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum TemplateParameterDoc {
    /// Text.
    String {
        /// Name (`[a-z][a-z0-9_]*`, at most 64).
        name: String,
        /// Shown in forms.
        #[serde(default)]
        label: String,
        /// Help text.
        #[serde(default)]
        description: String,
        /// Must be given (when it has no default).
        #[serde(default)]
        required: bool,
        /// Used when not given.
        #[serde(default)]
        default: Option<String>,
        /// A regular expression the whole value must match.
        #[serde(default)]
        pattern: Option<String>,
        /// Longest value (default 1024).
        #[serde(default)]
        max_length: Option<u32>,
    },
    /// A whole number.
    Int {
        /// Name (`[a-z][a-z0-9_]*`, at most 64).
        name: String,
        /// Shown in forms.
        #[serde(default)]
        label: String,
        /// Help text.
        #[serde(default)]
        description: String,
        /// Must be given (when it has no default).
        #[serde(default)]
        required: bool,
        /// Used when not given.
        #[serde(default)]
        default: Option<i64>,
        /// Smallest value.
        #[serde(default)]
        min: Option<i64>,
        /// Largest value.
        #[serde(default)]
        max: Option<i64>,
    },
    /// True or false.
    Bool {
        /// Name (`[a-z][a-z0-9_]*`, at most 64).
        name: String,
        /// Shown in forms.
        #[serde(default)]
        label: String,
        /// Help text.
        #[serde(default)]
        description: String,
        /// Must be given (when it has no default).
        #[serde(default)]
        required: bool,
        /// Used when not given.
        #[serde(default)]
        default: Option<bool>,
    },
    /// One of fixed values.
    Enum {
        /// Name (`[a-z][a-z0-9_]*`, at most 64).
        name: String,
        /// Shown in forms.
        #[serde(default)]
        label: String,
        /// Help text.
        #[serde(default)]
        description: String,
        /// Must be given (when it has no default).
        #[serde(default)]
        required: bool,
        /// The values.
        values: Vec<String>,
        /// Used when not given (one of the values).
        #[serde(default)]
        default: Option<String>,
    },
    /// A secret (8-256 printable characters): never shown after the deploy; generated when
    /// not given and `generate` says how.
    Secret {
        /// Name (`[a-z][a-z0-9_]*`, at most 64).
        name: String,
        /// Shown in forms.
        #[serde(default)]
        label: String,
        /// Help text.
        #[serde(default)]
        description: String,
        /// Must be given (when it cannot be generated).
        #[serde(default)]
        required: bool,
        /// How to generate it.
        #[serde(default)]
        generate: Option<SecretRuleDoc>,
        /// A regular expression a given value must match.
        #[serde(default)]
        pattern: Option<String>,
    },
}

/// A volume of a template service.
#[derive(Serialize, ToSchema)]
pub(crate) struct TemplateVolumeDoc {
    /// Name within the instance (the project's volume is `<instance>-<name>`).
    name: String,
    /// Mount path.
    target: String,
    /// Size counted against the storage quota (default 1 GiB).
    #[serde(default)]
    size_bytes: u64,
    /// Mounted read-only.
    #[serde(default)]
    read_only: bool,
}

/// One service of a template: an app (`image`) or a managed database (`database`).
#[derive(Serialize, ToSchema)]
pub(crate) struct TemplateServiceDoc {
    /// Name within the instance (the project's service is `<instance>-<name>`).
    name: String,
    /// A managed database of this engine (image, credentials and volume from the platform).
    #[serde(default)]
    database: Option<schema::DatabaseEngine>,
    /// Image (may reference parameters); required unless `database`.
    #[serde(default)]
    image: Option<String>,
    /// Command (each argument may reference values).
    #[serde(default)]
    command: Option<Vec<String>>,
    /// Environment (values may reference values).
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Container ports (each may reference a parameter).
    #[serde(default)]
    ports: Vec<String>,
    /// Volumes.
    #[serde(default)]
    volumes: Vec<TemplateVolumeDoc>,
    /// Health check; the deploy waits for it before starting the services depending on this
    /// one.
    #[serde(default)]
    health_check: Option<schema::HealthCheck>,
    /// Services of the template that must be up first.
    #[serde(default)]
    depends_on: Vec<String>,
    /// Limits (the platform's defaults when absent).
    #[serde(default)]
    resources: Option<schema::ResourceLimits>,
    /// The service a custom domain of the instance goes to (at most one).
    #[serde(default)]
    domain: bool,
    /// The user the app runs as (`uid[:gid]` or a name the image knows; may reference
    /// values); the image's own user when absent. Not for `database` services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
}

/// A value shown after a deploy (a URL, a connection string).
#[derive(Serialize, ToSchema)]
pub(crate) struct TemplateOutputDoc {
    /// Name.
    name: String,
    /// Value (may reference values).
    value: String,
    /// Shown once, in the deploy's answer (also when it references a secret).
    #[serde(default)]
    secret: bool,
}

/// A template definition (format 1). Values in images, commands, env, ports and outputs may
/// reference `{{ params.NAME }}`, `{{ services.NAME.host }}`, `{{ services.NAME.port }}`, a
/// managed database's `{{ services.NAME.username|password|database|url }}` and
/// `{{ instance }}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct TemplateDoc {
    /// Format version (1).
    format: u32,
    /// Id (DNS-label rules), used in URLs.
    id: String,
    /// Name shown to customers.
    name: String,
    /// Category (`cms`, `database`, `runtime`, `devtools`, ...).
    category: String,
    /// One paragraph.
    description: String,
    /// Icon URL or name.
    #[serde(default)]
    icon: Option<String>,
    /// Tags.
    #[serde(default)]
    tags: Vec<String>,
    /// Least resources it needs.
    #[serde(default)]
    minimum: TemplateMinimumDoc,
    /// Parameters.
    #[serde(default)]
    parameters: Vec<TemplateParameterDoc>,
    /// Services (1-20).
    services: Vec<TemplateServiceDoc>,
    /// Outputs.
    #[serde(default)]
    outputs: Vec<TemplateOutputDoc>,
}

/// A catalogue entry with its full definition.
#[derive(Serialize, ToSchema)]
pub(crate) struct TemplateEntryDoc {
    /// Id.
    id: String,
    /// Name.
    name: String,
    /// Category.
    category: String,
    /// Description.
    description: String,
    /// Icon.
    icon: Option<String>,
    /// Tags.
    tags: Vec<String>,
    /// Least resources.
    minimum: TemplateMinimumDoc,
    /// Shipped with the platform (an administrator's override of a built-in shows `false`).
    builtin: bool,
    /// Deployable by customers.
    enabled: bool,
    /// Position in the catalogue (lower first).
    position: i32,
    /// The definition: parameters for forms, services, outputs.
    template: TemplateDoc,
}

/// A parameter's value in a plan.
#[derive(Serialize, ToSchema)]
pub(crate) struct PlannedParameterDoc {
    /// Name.
    name: String,
    /// Value (`********` for secrets).
    value: serde_json::Value,
    /// A secret.
    secret: bool,
    /// Generated by the platform (not given).
    generated: bool,
}

/// One service of a plan.
#[derive(Serialize, ToSchema)]
pub(crate) struct PlannedServiceDoc {
    /// Its name in the template.
    template_name: String,
    /// Its name in the project (`<instance>-<name>`).
    name: String,
    /// App or managed database.
    kind: schema::ServiceKind,
    /// What it runs (secret values redacted).
    spec: schema::ServiceSpec,
    /// Services of the plan it waits for.
    depends_on: Vec<String>,
    /// The service the instance's domain goes to.
    domain: bool,
}

/// An output of an instance.
#[derive(Serialize, ToSchema)]
pub(crate) struct InstanceOutputDoc {
    /// Name.
    name: String,
    /// Value (`********` for a secret, except in the answer of the deploy that created it).
    value: String,
    /// A secret: shown once, in the deploy's answer.
    secret: bool,
}

/// What deploying a template creates.
#[derive(Serialize, ToSchema)]
pub(crate) struct TemplatePlanDoc {
    /// The template's id.
    template: String,
    /// The instance's name.
    instance: String,
    /// The parameters, completed with defaults and generated secrets (secrets redacted).
    parameters: Vec<PlannedParameterDoc>,
    /// Services, in dependency order (secrets redacted).
    services: Vec<PlannedServiceDoc>,
    /// What the whole plan holds against the plan's limits, reserved at once before anything
    /// is created.
    quota: schema::ResourceAmounts,
    /// Outputs (secrets redacted).
    outputs: Vec<InstanceOutputDoc>,
}

/// The services deployed together from a template, deleted together.
#[derive(Serialize, ToSchema)]
pub(crate) struct TemplateInstanceDoc {
    /// Id.
    id: Uuid,
    /// Organization.
    org: Uuid,
    /// Project.
    project: Uuid,
    /// Name, unique in the project (prefix of its services' names).
    name: String,
    /// The template's id.
    template: String,
    /// Its services' ids, in dependency order.
    services: Vec<Uuid>,
    /// Outputs (secrets redacted).
    outputs: Vec<InstanceOutputDoc>,
    /// When it was deployed.
    created_at: DateTime<Utc>,
}

/// What a template deploy did, or for a dry run would do.
#[derive(Serialize, ToSchema)]
pub(crate) struct TemplateDeploymentDoc {
    /// The plan (secrets redacted).
    plan: TemplatePlanDoc,
    /// Whether anything was deployed (`false` for a dry run).
    applied: bool,
    /// The instance, once deployed.
    instance: Option<TemplateInstanceDoc>,
    /// Its services, once deployed (secrets redacted).
    services: Vec<schema::Service>,
    /// The outputs with the secret values: shown here once, never again (empty for a dry
    /// run).
    outputs: Vec<InstanceOutputDoc>,
}
