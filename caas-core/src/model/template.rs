//! Application templates: the definition format (versioned; YAML or JSON), the records an
//! administrator stores, and the instances deployed from them.
//!
//! Values in a service's image, command, env, ports and in outputs may reference:
//! `{{ params.NAME }}` (a parameter), `{{ services.NAME.host }}` / `{{ services.NAME.port }}`
//! (another service of the template: its host name on the project network and first port),
//! `{{ services.NAME.username|password|database|url }}` (the generated credentials of a
//! managed database service) and `{{ instance }}` (the instance's name). See
//! [`crate::platform::instantiate`] for how a template becomes a deployment plan.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{OrgId, ProjectId, ServiceId, TemplateInstanceId};
use crate::model::{DatabaseEngine, HealthCheck, ResourceLimits};
use crate::units::GIB;
use crate::validate::Name;

/// The template format this version of the platform reads.
pub const TEMPLATE_FORMAT: u32 = 1;

/// What a template needs at least, shown in the catalogue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TemplateMinimum {
    /// Millicores.
    #[serde(default)]
    pub cpu_millis: u64,
    /// Bytes.
    #[serde(default)]
    pub memory_bytes: u64,
    /// Bytes.
    #[serde(default)]
    pub storage_bytes: u64,
}

/// Characters a generated secret is drawn from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SecretCharset {
    /// `A-Z a-z 0-9`.
    #[default]
    Alphanumeric,
    /// `0-9 a-f`.
    Hex,
}

/// How a secret parameter is generated when not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SecretRule {
    /// Length (16-128).
    pub length: u32,
    /// Characters.
    #[serde(default)]
    pub charset: SecretCharset,
}

/// The type of a parameter, with its rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ParameterKind {
    /// Text.
    String {
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
        /// Used when not given.
        #[serde(default)]
        default: Option<bool>,
    },
    /// One of fixed values.
    Enum {
        /// The values.
        values: Vec<String>,
        /// Used when not given.
        #[serde(default)]
        default: Option<String>,
    },
    /// A secret: never shown after deploy; generated when not given and a rule exists.
    Secret {
        /// How to generate it.
        #[serde(default)]
        generate: Option<SecretRule>,
        /// A regular expression a given value must match.
        #[serde(default)]
        pattern: Option<String>,
    },
}

/// One parameter of a template. (Unknown fields are refused by its kind, which receives
/// every field the parameter does not declare.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplateParameter {
    /// Name (`[a-z][a-z0-9_]*`), as referenced by `{{ params.NAME }}`.
    pub name: String,
    /// Shown in forms.
    #[serde(default)]
    pub label: String,
    /// Help text.
    #[serde(default)]
    pub description: String,
    /// Must be given (when it has no default and cannot be generated).
    #[serde(default)]
    pub required: bool,
    /// Type and rules.
    #[serde(flatten)]
    pub kind: ParameterKind,
}

fn default_volume_size() -> u64 {
    GIB
}

/// A volume of a template service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TemplateVolume {
    /// Name within the instance (the project's volume is `<instance>-<name>`).
    pub name: String,
    /// Mount path.
    pub target: String,
    /// Size (default 1 GiB).
    #[serde(default = "default_volume_size")]
    pub size_bytes: u64,
    /// Read-only.
    #[serde(default)]
    pub read_only: bool,
}

/// One service of a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TemplateService {
    /// Name within the instance (the project's service is `<instance>-<name>`).
    pub name: String,
    /// A managed database of this engine (image, credentials and volume from the platform);
    /// `image` is then not used.
    #[serde(default)]
    pub database: Option<DatabaseEngine>,
    /// Image (may reference parameters); required unless `database`.
    #[serde(default)]
    pub image: Option<String>,
    /// Command (each argument may reference values).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Environment (values may reference values).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Container ports (each may reference a parameter).
    #[serde(default)]
    pub ports: Vec<String>,
    /// Volumes.
    #[serde(default)]
    pub volumes: Vec<TemplateVolume>,
    /// Health check; deploys wait for it before the services that depend on this one.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    /// Services of the template that must be up first.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Limits (the platform's defaults when absent).
    #[serde(default)]
    pub resources: Option<ResourceLimits>,
    /// The service a custom domain of the instance should be added to.
    #[serde(default)]
    pub domain: bool,
    /// The user the app runs as (`uid[:gid]` or a name the image knows; may reference
    /// values); the image's own user when absent. Not for `database` services, whose
    /// images start as root and switch to their own user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A value shown after a deploy (a URL, a connection string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TemplateOutput {
    /// Name.
    pub name: String,
    /// Value (may reference values).
    pub value: String,
    /// Shown once, at deploy, like database credentials.
    #[serde(default)]
    pub secret: bool,
}

/// A template definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Format version ([`TEMPLATE_FORMAT`]).
    pub format: u32,
    /// Id (DNS-label rules), in URLs.
    pub id: String,
    /// Name shown to customers.
    pub name: String,
    /// Category (`cms`, `database`, `devtools`, ...).
    pub category: String,
    /// One paragraph.
    pub description: String,
    /// Icon URL or name.
    #[serde(default)]
    pub icon: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Least resources it needs.
    #[serde(default)]
    pub minimum: TemplateMinimum,
    /// Parameters.
    #[serde(default)]
    pub parameters: Vec<TemplateParameter>,
    /// Services.
    pub services: Vec<TemplateService>,
    /// Outputs.
    #[serde(default)]
    pub outputs: Vec<TemplateOutput>,
}

/// A template an administrator saved (new, or overriding a built-in of the same id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredTemplate {
    /// The template's id.
    pub id: Name,
    /// The definition.
    pub template: Template,
    /// Whether customers can deploy it.
    pub enabled: bool,
    /// Position in the catalogue (lower first).
    pub position: i32,
    /// When it was first saved.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// An output of a deployed instance (secret values are stored redacted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceOutput {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
    /// Whether it is a secret (shown only in the deploy's answer).
    pub secret: bool,
}

/// The services deployed together from a template, deleted together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplateInstance {
    /// Id.
    pub id: TemplateInstanceId,
    /// Organization.
    pub org: OrgId,
    /// Project.
    pub project: ProjectId,
    /// Name, unique in the project (prefix of its services' names).
    pub name: Name,
    /// The template's id.
    pub template: Name,
    /// Its services, in dependency order.
    pub services: Vec<ServiceId>,
    /// Outputs (secrets redacted).
    pub outputs: Vec<InstanceOutput>,
    /// When it was deployed.
    pub created_at: DateTime<Utc>,
}
