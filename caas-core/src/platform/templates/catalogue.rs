//! The catalogue: built-in templates embedded in the crate (`caas-core/templates/*.yaml`),
//! administrators' templates from the store (overriding a built-in of the same id), and the
//! checks every template passes before it is saved or offered.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::plan::{MAX_TEMPLATE_SERVICES, instantiate};
use crate::error::{Error, Result};
use crate::model::{ParameterKind, StoredTemplate, TEMPLATE_FORMAT, Template, TemplateMinimum};
use crate::platform::database::DatabaseImages;
use crate::validate;

/// The built-in templates, as YAML sources.
const BUILTIN: &[&str] = &[
    include_str!("../../../templates/wordpress.yaml"),
    include_str!("../../../templates/nodejs.yaml"),
    include_str!("../../../templates/postgresql.yaml"),
    include_str!("../../../templates/redis.yaml"),
    include_str!("../../../templates/mariadb.yaml"),
    include_str!("../../../templates/mongodb.yaml"),
    include_str!("../../../templates/ghost.yaml"),
    include_str!("../../../templates/gitea.yaml"),
    include_str!("../../../templates/uptime-kuma.yaml"),
    include_str!("../../../templates/n8n.yaml"),
    include_str!("../../../templates/adminer.yaml"),
];

/// The built-in templates, parsed, in catalogue order. Errors: `Backend` if one does not
/// parse (a build defect; every one is checked by the tests).
pub fn builtin_templates() -> Result<Vec<Template>> {
    BUILTIN
        .iter()
        .map(|src| {
            serde_yaml::from_str::<Template>(src).map_err(|e| {
                Error::backend(
                    "platform",
                    format!("a built-in template does not parse: {e}"),
                )
            })
        })
        .collect()
}

/// Parses a template from YAML or JSON. Errors: `InvalidInput` (`template`) with the
/// parser's message (which names the field and the line).
pub fn parse_template(source: &str) -> Result<Template> {
    serde_yaml::from_str(source).map_err(|e| Error::invalid("template", e.to_string()))
}

fn bad(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::invalid(field, reason)
}

/// Checks a template: format, metadata, parameters (names, patterns, defaults against their
/// own rules), services (names, images or databases, dependencies without cycles, at most one
/// domain service), outputs; then instantiates it with its defaults, so every reference
/// resolves. Errors: `InvalidInput` naming the field.
pub fn validate_template(t: &Template) -> Result<()> {
    if t.format != TEMPLATE_FORMAT {
        return Err(bad(
            "format",
            format!(
                "this platform reads template format {TEMPLATE_FORMAT}, not {}",
                t.format
            ),
        ));
    }
    validate::dns_label("id", &t.id)?;
    validate::dns_label("category", &t.category)?;
    validate::text("name", &t.name, 100)?;
    if t.name.trim().is_empty() {
        return Err(bad("name", "must not be empty"));
    }
    validate::text("description", &t.description, 2000)?;
    if let Some(icon) = &t.icon {
        validate::text("icon", icon, 500)?;
    }
    if t.tags.len() > 20 {
        return Err(bad("tags", "at most 20"));
    }
    for (i, tag) in t.tags.iter().enumerate() {
        validate::dns_label(&format!("tags[{i}]"), tag)?;
    }
    let mut names = BTreeSet::new();
    for (i, p) in t.parameters.iter().enumerate() {
        let f = |x: &str| format!("parameters[{i}].{x}");
        let ok = p.name.len() <= 64
            && p.name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase())
            && p.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(bad(f("name"), "must match [a-z][a-z0-9_]* (at most 64)"));
        }
        if !names.insert(p.name.as_str()) {
            return Err(bad(f("name"), format!("'{}' is declared twice", p.name)));
        }
        validate::text(&f("label"), &p.label, 200)?;
        validate::text(&f("description"), &p.description, 1000)?;
        match &p.kind {
            ParameterKind::String { pattern, .. } | ParameterKind::Secret { pattern, .. } => {
                if let Some(pat) = pattern {
                    regex::Regex::new(pat)
                        .map_err(|e| bad(f("pattern"), format!("not a regular expression: {e}")))?;
                }
            }
            ParameterKind::Enum { values, default } => {
                if values.is_empty() {
                    return Err(bad(f("values"), "must not be empty"));
                }
                if let Some(d) = default
                    && !values.contains(d)
                {
                    return Err(bad(f("default"), "must be one of the values"));
                }
            }
            ParameterKind::Int { min, max, .. } => {
                if let (Some(a), Some(b)) = (min, max)
                    && a > b
                {
                    return Err(bad(f("min"), "must not be above max"));
                }
            }
            ParameterKind::Bool { .. } => {}
        }
        if let ParameterKind::Secret {
            generate: Some(rule),
            ..
        } = &p.kind
            && !(16..=128).contains(&rule.length)
        {
            return Err(bad(f("generate.length"), "must be 16-128"));
        }
    }
    if t.services.is_empty() || t.services.len() > MAX_TEMPLATE_SERVICES {
        return Err(bad(
            "services",
            format!("between 1 and {MAX_TEMPLATE_SERVICES} services"),
        ));
    }
    let mut service_names = BTreeSet::new();
    for (i, s) in t.services.iter().enumerate() {
        let f = |x: &str| format!("services[{i}].{x}");
        validate::dns_label(&f("name"), &s.name)?;
        if !service_names.insert(s.name.as_str()) {
            return Err(bad(f("name"), format!("'{}' is used twice", s.name)));
        }
        match (&s.database, &s.image) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    f("image"),
                    "a database service takes the platform's image; remove `image`",
                ));
            }
            (None, None) => return Err(bad(f("image"), "give an image, or `database`")),
            _ => {}
        }
        if s.database.is_some() && s.user.is_some() {
            return Err(bad(
                f("user"),
                "a database service runs as its image's own user; remove `user`",
            ));
        }
        let mut volumes = BTreeSet::new();
        for (k, v) in s.volumes.iter().enumerate() {
            validate::dns_label(&format!("services[{i}].volumes[{k}].name"), &v.name)?;
            if !volumes.insert(v.name.as_str()) {
                return Err(bad(
                    format!("services[{i}].volumes[{k}].name"),
                    "used twice",
                ));
            }
        }
    }
    if t.services.iter().filter(|s| s.domain).count() > 1 {
        return Err(bad("services", "at most one service gets the domain"));
    }
    for (k, o) in t.outputs.iter().enumerate() {
        validate::dns_label(&format!("outputs[{k}].name"), &o.name.replace('_', "-"))?;
    }
    // Every reference resolves with the defaults (and generated secrets); a template with
    // required parameters without defaults is checked with placeholders of the right type.
    let mut sample = BTreeMap::new();
    for p in &t.parameters {
        let placeholder = match &p.kind {
            ParameterKind::String { default: None, .. } if p.required => {
                Some(Value::String("sample".into()))
            }
            ParameterKind::Int {
                default: None, min, ..
            } if p.required => Some(Value::from(min.unwrap_or(1).max(1))),
            ParameterKind::Bool { default: None } if p.required => Some(Value::Bool(false)),
            ParameterKind::Enum {
                default: None,
                values,
            } if p.required => values.first().cloned().map(Value::String),
            ParameterKind::Secret { generate: None, .. } if p.required => {
                Some(Value::String("sample-secret-value".into()))
            }
            _ => None,
        };
        if let Some(v) = placeholder {
            sample.insert(p.name.clone(), v);
        }
    }
    // Defaults must pass their own rules.
    for (i, p) in t.parameters.iter().enumerate() {
        let default = match &p.kind {
            ParameterKind::String { default, .. } | ParameterKind::Enum { default, .. } => {
                default.clone().map(Value::String)
            }
            ParameterKind::Int { default, .. } => default.map(Value::from),
            ParameterKind::Bool { default } => default.map(Value::Bool),
            ParameterKind::Secret { .. } => None,
        };
        if let Some(d) = default {
            super::plan::check_parameter(p, &d)
                .map_err(|e| bad(format!("parameters[{i}].default"), e.to_string()))?;
        }
    }
    // A placeholder may miss a pattern; that is not the template's fault.
    match instantiate(t, "check", &sample, &DatabaseImages::default()) {
        Ok(_) => Ok(()),
        Err(Error::InvalidInput { field, .. })
            if field
                .strip_prefix("parameters.")
                .is_some_and(|n| sample.contains_key(n)) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// A catalogue entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplateEntry {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Category.
    pub category: String,
    /// Description.
    pub description: String,
    /// Icon.
    pub icon: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Least resources.
    pub minimum: TemplateMinimum,
    /// Shipped with the platform (an administrator's override of it shows `false`).
    pub builtin: bool,
    /// Deployable by customers.
    pub enabled: bool,
    /// Position (lower first).
    pub position: i32,
    /// The definition (parameters for forms, services).
    pub template: Template,
}

/// The catalogue: built-ins in their order (positions 0, 10, 20, ...) with stored templates
/// replacing those of the same id and adding the others, ordered by position then id.
pub fn merge(builtins: Vec<Template>, stored: Vec<StoredTemplate>) -> Vec<TemplateEntry> {
    let mut by_id: BTreeMap<String, TemplateEntry> = BTreeMap::new();
    for (i, t) in builtins.into_iter().enumerate() {
        by_id.insert(
            t.id.clone(),
            TemplateEntry {
                id: t.id.clone(),
                name: t.name.clone(),
                category: t.category.clone(),
                description: t.description.clone(),
                icon: t.icon.clone(),
                tags: t.tags.clone(),
                minimum: t.minimum,
                builtin: true,
                enabled: true,
                position: i32::try_from(i).unwrap_or(i32::MAX / 10) * 10,
                template: t,
            },
        );
    }
    for s in stored {
        let t = s.template;
        by_id.insert(
            s.id.to_string(),
            TemplateEntry {
                id: t.id.clone(),
                name: t.name.clone(),
                category: t.category.clone(),
                description: t.description.clone(),
                icon: t.icon.clone(),
                tags: t.tags.clone(),
                minimum: t.minimum,
                builtin: false,
                enabled: s.enabled,
                position: s.position,
                template: t,
            },
        );
    }
    let mut out: Vec<TemplateEntry> = by_id.into_values().collect();
    out.sort_by(|a, b| (a.position, &a.id).cmp(&(b.position, &b.id)));
    out
}
