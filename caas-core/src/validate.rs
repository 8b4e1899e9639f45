//! Validation of every user-supplied string, at the boundary.
//!
//! Each check returns [`Error::InvalidInput`] naming the field and saying what would be accepted.
//! Validated values are carried in newtypes ([`Name`], [`Slug`], [`Hostname`], [`ImageRef`],
//! [`EnvKey`]) whose only constructor validates, so a value of such a type is valid everywhere.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest env value accepted (32 KiB).
pub const MAX_ENV_VALUE_BYTES: usize = 32 * 1024;
/// Largest total size of all env keys and values of one service (256 KiB).
pub const MAX_ENV_TOTAL_BYTES: usize = 256 * 1024;
/// Most env variables on one service.
pub const MAX_ENV_VARS: usize = 256;
/// Longest env key.
pub const MAX_ENV_KEY_BYTES: usize = 256;
/// Longest container path.
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest image reference.
pub const MAX_IMAGE_REF_BYTES: usize = 512;
/// Most user labels on one service.
pub const MAX_LABELS: usize = 64;
/// Label key prefixes reserved for the platform and the proxy.
pub const RESERVED_LABEL_PREFIXES: &[&str] = &["caas.", "traefik.", "com.docker."];

#[allow(clippy::expect_used)]
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static regex compiles")
}

static DNS_LABEL: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"));
static ENV_KEY: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Za-z_][A-Za-z0-9_]*$"));
static CONTAINER_USER_NAME: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$"));
static LABEL_KEY: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?$"));
// The reference grammar of the OCI distribution spec (github.com/distribution/reference).
static IMAGE_REF: LazyLock<Regex> = LazyLock::new(|| {
    let alnum = r"[a-z0-9]+";
    let sep = r"(?:[._]|__|[-]+)";
    let component = format!("{alnum}(?:{sep}{alnum})*");
    let domain_component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let domain =
        format!(r"(?:{domain_component}(?:\.{domain_component})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?");
    let name = format!("(?:{domain}/)?{component}(?:/{component})*");
    let tag = r"[\w][\w.-]{0,127}";
    let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    re(&format!("^{name}(?::{tag})?(?:@{digest})?$"))
});

fn printable(field: &str, value: &str) -> Result<()> {
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(
            field,
            format!("contains the control character U+{:04X}", c as u32),
        ));
    }
    Ok(())
}

fn shorten(value: &str) -> String {
    let mut s: String = value.chars().take(64).collect();
    if value.chars().count() > 64 {
        s.push('…');
    }
    s.escape_debug().to_string()
}

/// Checks a DNS-label-like name: 1–63 characters of `a-z`, `0-9` and `-`, starting and ending
/// with a letter or digit.
pub fn dns_label(field: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.len() > 63 {
        return Err(Error::invalid(
            field,
            format!("is {} characters long; at most 63 are allowed", value.len()),
        ));
    }
    if !DNS_LABEL.is_match(value) {
        return Err(Error::invalid(
            field,
            format!(
                "'{}' must contain only lowercase letters a-z, digits and '-', and start and end with a letter or digit",
                shorten(value)
            ),
        ));
    }
    Ok(())
}

/// Checks an environment variable key: `[A-Za-z_][A-Za-z0-9_]*`, at most 256 bytes.
pub fn env_key(field: &str, key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid(field, "env key must not be empty"));
    }
    if key.len() > MAX_ENV_KEY_BYTES {
        return Err(Error::invalid(
            field,
            format!("env key is longer than {MAX_ENV_KEY_BYTES} bytes"),
        ));
    }
    if !ENV_KEY.is_match(key) {
        return Err(Error::invalid(
            field,
            format!(
                "env key '{}' must match [A-Za-z_][A-Za-z0-9_]*",
                shorten(key)
            ),
        ));
    }
    Ok(())
}

/// Checks an environment variable value: no NUL, no newline, at most 32 KiB.
pub fn env_value(field: &str, value: &str) -> Result<()> {
    if value.len() > MAX_ENV_VALUE_BYTES {
        return Err(Error::invalid(
            field,
            format!(
                "value is {} bytes; at most {MAX_ENV_VALUE_BYTES} are allowed",
                value.len()
            ),
        ));
    }
    if value.contains('\0') {
        return Err(Error::invalid(field, "value contains a NUL byte"));
    }
    if value.contains('\n') || value.contains('\r') {
        return Err(Error::invalid(
            field,
            "value contains a line break; encode multi-line values (e.g. base64)",
        ));
    }
    Ok(())
}

/// Checks an image reference against the OCI distribution grammar
/// (`[registry[:port]/]path[:tag][@digest]`, path lowercase).
pub fn image_ref(field: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid(field, "image must not be empty"));
    }
    if value.len() > MAX_IMAGE_REF_BYTES {
        return Err(Error::invalid(
            field,
            format!("image reference is longer than {MAX_IMAGE_REF_BYTES} bytes"),
        ));
    }
    if !IMAGE_REF.is_match(value) {
        return Err(Error::invalid(
            field,
            format!(
                "'{}' is not a valid image reference; expected [registry/]name[:tag][@sha256:digest] with a lowercase name",
                shorten(value)
            ),
        ));
    }
    Ok(())
}

/// Checks a hostname (RFC 1123): ASCII letters, digits and `-` in dot-separated labels of at
/// most 63 characters, at most 253 in all, at least two labels, no trailing dot. Characters that
/// could escape a proxy rule (backtick, quotes, spaces, parentheses, `|`, `&`, `,`) and non-ASCII
/// text are refused. A leading `*.` label is accepted only when `allow_wildcard` is set.
pub fn hostname(field: &str, value: &str, allow_wildcard: bool) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid(field, "hostname must not be empty"));
    }
    if !value.is_ascii() {
        return Err(Error::invalid(
            field,
            "hostname must be ASCII; convert internationalized names to punycode (xn--...)",
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.' || *c == '*'))
    {
        return Err(Error::invalid(
            field,
            format!("hostname contains the forbidden character {c:?}"),
        ));
    }
    if value.len() > 253 {
        return Err(Error::invalid(
            field,
            format!("hostname is {} characters long; at most 253", value.len()),
        ));
    }
    let labels: Vec<&str> = value.split('.').collect();
    if labels.len() < 2 {
        return Err(Error::invalid(
            field,
            "hostname must be fully qualified (e.g. app.example.com)",
        ));
    }
    for (i, label) in labels.iter().enumerate() {
        if i == 0 && *label == "*" {
            if !allow_wildcard {
                return Err(Error::invalid(
                    field,
                    "wildcard hostnames are not enabled on this platform",
                ));
            }
            continue;
        }
        if label.is_empty() {
            return Err(Error::invalid(field, "hostname has an empty label"));
        }
        if label.len() > 63 {
            return Err(Error::invalid(
                field,
                format!(
                    "hostname label '{}' is longer than 63 characters",
                    shorten(label)
                ),
            ));
        }
        if label.contains('*') {
            return Err(Error::invalid(
                field,
                "'*' is only allowed as the whole first label",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(Error::invalid(
                field,
                format!("hostname label '{label}' must not start or end with '-'"),
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(Error::invalid(
            field,
            "an IP address is not a hostname; use a domain name",
        ));
    }
    Ok(())
}

/// The ASCII form of a hostname (or of the part after a wildcard's `*.`) by which it is
/// stored and compared: one trailing dot dropped, lower case, and internationalized names
/// (`bücher.example`) turned into their IDNA A-labels (`xn--bcher-kva.example`), so every
/// spelling of one name yields one key. Punycode labels written by hand are checked the same
/// way. Errors: `InvalidInput` naming `field` when the name is not a valid IDNA name.
pub fn host_key(field: &str, value: &str) -> Result<String> {
    let trimmed = value.strip_suffix('.').unwrap_or(value);
    let (wildcard, base) = match trimmed.strip_prefix("*.") {
        Some(base) => ("*.", base),
        None => ("", trimmed),
    };
    let lower = base.to_ascii_lowercase();
    let plain = lower.is_ascii() && !lower.split('.').any(|l| l.starts_with("xn--"));
    if plain {
        return Ok(format!("{wildcard}{lower}"));
    }
    // Characters IDNA would map to something harmless are still refused when they could
    // escape a proxy rule; the strict profile allows letters, digits and hyphens only.
    match idna::domain_to_ascii_strict(base) {
        Ok(ascii) if !ascii.is_empty() => Ok(format!("{wildcard}{ascii}")),
        _ => Err(Error::invalid(
            field,
            format!(
                "'{}' is not a valid internationalized hostname",
                shorten(value)
            ),
        )),
    }
}

/// Checks an absolute path inside a container: starts with `/`, no `..` or `.` component, no
/// empty component, no control characters, at most 4096 bytes, not `/` itself.
pub fn container_path(field: &str, value: &str) -> Result<()> {
    if !value.starts_with('/') {
        return Err(Error::invalid(
            field,
            format!("path '{}' must be absolute", shorten(value)),
        ));
    }
    if value.len() > MAX_PATH_BYTES {
        return Err(Error::invalid(
            field,
            format!("path is longer than {MAX_PATH_BYTES} bytes"),
        ));
    }
    printable(field, value)?;
    if value == "/" {
        return Err(Error::invalid(field, "path must not be the root '/'"));
    }
    let trimmed = value.strip_suffix('/').unwrap_or(value);
    for comp in trimmed[1..].split('/') {
        match comp {
            "" => return Err(Error::invalid(field, "path has an empty component ('//')")),
            "." | ".." => {
                return Err(Error::invalid(
                    field,
                    "path must not contain '.' or '..' components",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks a mount target: a [`container_path`] that does not cover the engine's own file systems
/// (`/proc`, `/sys`, `/dev`) or the Docker socket.
pub fn mount_target(field: &str, value: &str) -> Result<()> {
    container_path(field, value)?;
    let v = value.trim_end_matches('/');
    for forbidden in ["/proc", "/sys", "/dev"] {
        if v == forbidden || v.starts_with(&format!("{forbidden}/")) {
            return Err(Error::invalid(
                field,
                format!("mounting over {forbidden} is not allowed"),
            ));
        }
    }
    if v.ends_with("docker.sock") {
        return Err(Error::invalid(
            field,
            "mounting the Docker socket is not allowed",
        ));
    }
    Ok(())
}

/// Checks a user-supplied label key: lowercase reverse-DNS style, at most 128 characters, and
/// not in a reserved namespace (`caas.*`, `traefik.*`, `com.docker.*`).
pub fn user_label_key(field: &str, key: &str) -> Result<()> {
    let lower = key.to_ascii_lowercase();
    if let Some(prefix) = RESERVED_LABEL_PREFIXES
        .iter()
        .find(|p| lower.starts_with(*p) || lower == p.trim_end_matches('.'))
    {
        return Err(Error::invalid(
            field,
            format!("label keys starting with '{prefix}' are reserved for the platform"),
        ));
    }
    if !LABEL_KEY.is_match(key) {
        return Err(Error::invalid(
            field,
            format!(
                "label key '{}' must be 1-128 characters of a-z, 0-9, '.', '_' and '-'",
                shorten(key)
            ),
        ));
    }
    Ok(())
}

/// Checks a user-supplied label value: printable, at most 1 KiB.
pub fn label_value(field: &str, value: &str) -> Result<()> {
    if value.len() > 1024 {
        return Err(Error::invalid(
            field,
            "label value is longer than 1024 bytes",
        ));
    }
    printable(field, value)
}

/// Checks the user a container runs as: `user[:group]`, each a numeric id (0 to
/// 2147483647) or a name (`[A-Za-z_][A-Za-z0-9_.-]*`, at most 32 characters, as the image's
/// `/etc/passwd` and `/etc/group` must know it). Numeric ids need no entry in the image.
pub fn container_user(field: &str, value: &str) -> Result<()> {
    let part_ok = |p: &str| {
        if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
            return p.len() <= 10 && p.parse::<u32>().is_ok_and(|n| n <= i32::MAX as u32);
        }
        CONTAINER_USER_NAME.is_match(p)
    };
    let mut parts = value.splitn(2, ':');
    let user = parts.next().unwrap_or_default();
    let group = parts.next();
    if !part_ok(user) || group.is_some_and(|g| !part_ok(g)) {
        return Err(Error::invalid(
            field,
            format!(
                "'{}' is not a user: give uid[:gid] (e.g. 1000:1000) or a name known to the \
                 image (e.g. node, or node:node)",
                shorten(value)
            ),
        ));
    }
    Ok(())
}

/// Checks free text (display names, descriptions): printable, at most `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<()> {
    if value.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    printable(field, value)
}

/// Checks an e-mail address loosely: one `@`, a non-empty local part, a hostname-like domain,
/// no spaces or control characters, at most 254 characters.
pub fn email(field: &str, value: &str) -> Result<()> {
    let bad = || {
        Error::invalid(
            field,
            format!("'{}' is not an e-mail address", shorten(value)),
        )
    };
    if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = value.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || domain.contains('@') || !domain.contains('.') {
        return Err(bad());
    }
    hostname(field, &domain.to_ascii_lowercase(), false).map_err(|_| bad())
}

macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $field:literal, $check:expr) => {
        validated_string!($(#[$doc])* $name, $field, $check, |v: String| v);
    };
    ($(#[$doc:meta])* $name:ident, $field:literal, $check:expr, $normalize:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `value`, naming `field` in the error.
            pub fn parse_field(field: &str, value: impl Into<String>) -> Result<Self> {
                let normalize: fn(String) -> String = $normalize;
                let value = normalize(value.into());
                let check: fn(&str, &str) -> Result<()> = $check;
                check(field, &value)?;
                Ok(Self(value))
            }
            /// Validates `value` under its default field name.
            pub fn parse(value: impl Into<String>) -> Result<Self> {
                Self::parse_field($field, value)
            }
            /// The validated string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(value: String) -> Result<Self> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::parse(s)
            }
        }
    };
}

validated_string!(
    /// A DNS-label-like name of a project, service, volume or plan.
    Name, "name", dns_label
);
validated_string!(
    /// An organization slug: a DNS label of 2 to 40 characters, used in URLs and resource names.
    Slug, "slug", |field, value| {
        dns_label(field, value)?;
        if value.len() < 2 || value.len() > 40 {
            return Err(Error::invalid(field, "slug must be 2 to 40 characters long"));
        }
        Ok(())
    }
);
validated_string!(
    /// A fully qualified hostname, lowercased (no wildcard; see [`hostname`] for wildcard checks).
    Hostname, "hostname", |field, value| hostname(field, value, false), |v: String| v.to_ascii_lowercase()
);
/// What a custom domain routes: an exact [`Hostname`], or a wildcard `*.<hostname>` matching
/// every name exactly one label below it (`*.example.com` matches `shop.example.com`, not
/// `example.com` nor `a.b.example.com`), as wildcard certificates do. Lowercased.
///
/// [`HostPattern::parse`] refuses wildcards; [`HostPattern::parse_field`] takes a flag, so only
/// a platform that enabled wildcards creates them. Deserializing accepts both, because stored
/// domains are read back this way.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "String", into = "String")]
pub struct HostPattern(String);

/// The prefix of a wildcard pattern.
const WILDCARD_PREFIX: &str = "*.";

impl HostPattern {
    /// Validates `value`, naming `field` in the error; `*.<hostname>` only with
    /// `allow_wildcard`. The value is normalized first ([`host_key`]): any case, one trailing
    /// dot and Unicode or punycode spellings of a name all give the same pattern. The part after `*.` must itself be a hostname of at least two labels
    /// (`*.com` is refused).
    pub fn parse_field(
        field: &str,
        value: impl Into<String>,
        allow_wildcard: bool,
    ) -> Result<Self> {
        let value = host_key(field, &value.into())?;
        match value.strip_prefix(WILDCARD_PREFIX) {
            Some(base) => {
                if !allow_wildcard {
                    return Err(Error::invalid(
                        field,
                        "wildcard hostnames are not enabled on this platform",
                    ));
                }
                hostname(field, base, false).map_err(|e| match e {
                    Error::InvalidInput { field, reason } => {
                        Error::invalid(field, format!("after '*.': {reason}"))
                    }
                    other => other,
                })?;
            }
            None => hostname(field, &value, false)?,
        }
        Ok(Self(value))
    }
    /// An exact hostname (no wildcard), validated under the field name `hostname`.
    pub fn parse(value: impl Into<String>) -> Result<Self> {
        Self::parse_field("hostname", value, false)
    }
    /// The pattern as written (`*.example.com` or `shop.example.com`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Whether this is a wildcard.
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with(WILDCARD_PREFIX)
    }
    /// The hostname itself, or for a wildcard the name below which it matches
    /// (`example.com` for `*.example.com`).
    pub fn base(&self) -> &str {
        self.0.strip_prefix(WILDCARD_PREFIX).unwrap_or(&self.0)
    }
    /// Whether a request for `host` (any case) is matched.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        match self.0.strip_prefix(WILDCARD_PREFIX) {
            None => host == self.0,
            Some(base) => host
                .strip_suffix(base)
                .and_then(|rest| rest.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        }
    }
    /// A concrete hostname this pattern matches: the hostname itself, or `<label>.<base>` for
    /// a wildcard (to resolve or to probe it). Errors: `InvalidInput` when `label` is not a
    /// DNS label or the result is too long.
    pub fn sample(&self, label: &str) -> Result<Hostname> {
        if self.is_wildcard() {
            dns_label("label", label)?;
            Hostname::parse(format!("{label}.{}", self.base()))
        } else {
            Hostname::parse(self.0.clone())
        }
    }
    /// The registrable domain the name belongs to: one label below its public suffix
    /// (`example.co.uk` for `shop.example.co.uk` and for `*.example.co.uk`), from the public
    /// suffix list; a name that is itself a public suffix is its own.
    pub fn site(&self) -> String {
        let base = self.base();
        psl::domain_str(base).unwrap_or(base).to_string()
    }
    /// The wildcard that covers this exact hostname (`*.example.com` for `shop.example.com`),
    /// when its parent has at least two labels; `None` for a wildcard.
    pub fn covering_wildcard(&self) -> Option<HostPattern> {
        if self.is_wildcard() {
            return None;
        }
        let (_, parent) = self.0.split_once('.')?;
        parent
            .contains('.')
            .then(|| HostPattern(format!("{WILDCARD_PREFIX}{parent}")))
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for HostPattern {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        Self::parse_field("hostname", value, true)
    }
}

impl From<HostPattern> for String {
    fn from(v: HostPattern) -> String {
        v.0
    }
}

impl From<Hostname> for HostPattern {
    fn from(h: Hostname) -> Self {
        Self(h.as_str().to_string())
    }
}

impl AsRef<str> for HostPattern {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

validated_string!(
    /// An OCI image reference.
    ImageRef, "image", image_ref
);
validated_string!(
    /// An environment variable key.
    EnvKey, "env", env_key
);

impl ImageRef {
    /// The reference with `:latest` added when it has neither tag nor digest, as engines resolve it.
    pub fn normalized(&self) -> String {
        let s = self.as_str();
        let last = s.rsplit('/').next().unwrap_or(s);
        if s.contains('@') || last.contains(':') {
            s.to_string()
        } else {
            format!("{s}:latest")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dns_label_rules() {
        for ok in ["a", "web", "my-app-1", &"a".repeat(63)] {
            dns_label("name", ok).unwrap();
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a_b",
            "a.b",
            "é",
            &"a".repeat(64),
            "a b",
        ] {
            let e = dns_label("name", bad).unwrap_err();
            assert_eq!(e.field(), Some("name"), "{bad}");
        }
    }

    #[test]
    fn container_users_are_ids_or_names_with_an_optional_group() {
        for ok in [
            "1000",
            "1000:1000",
            "0",
            "node",
            "node:node",
            "www-data",
            "_apt",
            "app:1000",
            "2147483647",
        ] {
            container_user("user", ok).unwrap();
        }
        for bad in [
            "",
            ":",
            "1000:",
            ":1000",
            "a:b:c",
            "-rf",
            "1node",
            "root user",
            "2147483648",
            "99999999999",
            "node\n",
            "$(id)",
            &"a".repeat(33),
        ] {
            let e = container_user("spec.user", bad).unwrap_err();
            assert_eq!(e.field(), Some("spec.user"), "{bad:?}");
        }
    }

    #[test]
    fn slugs_need_two_to_forty_characters() {
        assert!(Slug::parse("a").is_err());
        assert!(Slug::parse("ab").is_ok());
        assert!(Slug::parse("a".repeat(41)).is_err());
    }

    #[test]
    fn env_keys_and_values() {
        for ok in ["A", "_x", "DATABASE_URL", "a1"] {
            env_key("env", ok).unwrap();
        }
        for bad in ["", "1A", "A-B", "A B", "A=B", "é"] {
            assert!(env_key("env", bad).is_err(), "{bad}");
        }
        env_value("v", "hello world = ok").unwrap();
        assert!(env_value("v", "a\0b").is_err());
        assert!(env_value("v", "a\nb").is_err());
        assert!(env_value("v", &"x".repeat(MAX_ENV_VALUE_BYTES + 1)).is_err());
    }

    #[test]
    fn image_references() {
        for ok in [
            "busybox",
            "caas/busybox:latest",
            "library/postgres:16-alpine",
            "registry.example.com:5000/team/app:v1.2.3",
            "ghcr.io/org/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "localhost/app:1",
        ] {
            image_ref("image", ok).unwrap();
        }
        for bad in [
            "",
            "Busybox",
            "a b",
            "app:",
            ":tag",
            "app:tag:tag",
            "app;rm -rf",
            "-app",
        ] {
            assert!(image_ref("image", bad).is_err(), "{bad}");
        }
        assert_eq!(ImageRef::parse("a/b").unwrap().normalized(), "a/b:latest");
        assert_eq!(
            ImageRef::parse("host:5000/b").unwrap().normalized(),
            "host:5000/b:latest"
        );
        assert_eq!(ImageRef::parse("b:1").unwrap().normalized(), "b:1");
    }

    #[test]
    fn hostnames_refuse_injection() {
        for ok in [
            "example.com",
            "app.example.com",
            "a-b.c-d.io",
            "xn--bcher-kva.example",
        ] {
            hostname("host", ok, false).unwrap();
        }
        for bad in [
            "example",
            "ex`ample.com",
            "a.com`) || Host(`b.com",
            "a\".com",
            "a'.com",
            "a com.com",
            "a(b).com",
            "a||b.com",
            "a|b.com",
            "bücher.de",
            "-a.com",
            "a-.com",
            "a..com",
            "a.com.",
            "1.2.3.4",
            "*.example.com",
            "a.*.com",
            &format!("{}.com", "a".repeat(64)),
            &format!("{}.com", vec!["a".repeat(60); 5].join(".")),
        ] {
            assert!(hostname("host", bad, false).is_err(), "{bad}");
        }
        hostname("host", "*.example.com", true).unwrap();
        assert_eq!(
            Hostname::parse("App.Example.COM").unwrap().as_str(),
            "app.example.com"
        );
    }

    #[test]
    fn every_spelling_of_a_hostname_gives_one_pattern() {
        let key = |v: &str| HostPattern::parse_field("hostname", v, true).map(|h| h.to_string());
        for same in [
            "bücher.example",
            "BÜCHER.example",
            "Bücher.Example.",
            "xn--bcher-kva.example",
            "XN--BCHER-KVA.EXAMPLE.",
        ] {
            assert_eq!(key(same).unwrap(), "xn--bcher-kva.example", "{same}");
        }
        assert_eq!(key("Shop.Example.COM.").unwrap(), "shop.example.com");
        let site = |v: &str| {
            HostPattern::parse_field("hostname", v, true)
                .unwrap()
                .site()
        };
        assert_eq!(site("a.b.shop.example.co.uk"), "example.co.uk");
        assert_eq!(site("*.example.co.uk"), "example.co.uk");
        assert_eq!(site("example.com"), "example.com");
        assert_eq!(site("app.example.test"), "example.test");
        assert_eq!(site("co.uk"), "co.uk");
        assert_eq!(key("*.Bücher.example").unwrap(), "*.xn--bcher-kva.example");
        for bad in [
            "xn--a.example",
            "bü`cher.example",
            "bücher.example`) || Host(`x.com",
            "bü cher.example",
            "a.com..",
            ".",
            "bücher.",
        ] {
            let e = key(bad).unwrap_err();
            assert_eq!(e.field(), Some("hostname"), "{bad}: {e}");
        }
    }

    #[test]
    fn host_patterns_hold_wildcards_only_when_allowed() {
        let w = HostPattern::parse_field("hostname", "*.Example.COM", true).unwrap();
        assert_eq!(w.as_str(), "*.example.com");
        assert!(w.is_wildcard());
        assert_eq!(w.base(), "example.com");
        assert!(w.matches("shop.example.com"));
        assert!(w.matches("SHOP.example.com"));
        for no in [
            "example.com",
            "a.b.example.com",
            ".example.com",
            "shopexample.com",
        ] {
            assert!(!w.matches(no), "{no}");
        }
        assert_eq!(w.sample("probe").unwrap().as_str(), "probe.example.com");
        assert!(w.sample("bad label").is_err());
        assert_eq!(w.covering_wildcard(), None);

        let exact = HostPattern::parse("shop.example.com").unwrap();
        assert!(!exact.is_wildcard());
        assert!(exact.matches("shop.example.com") && !exact.matches("x.example.com"));
        assert_eq!(exact.covering_wildcard().unwrap().as_str(), "*.example.com");
        assert_eq!(
            HostPattern::parse("example.com")
                .unwrap()
                .covering_wildcard(),
            None
        );

        let refused = HostPattern::parse("*.example.com").unwrap_err();
        assert!(refused.to_string().contains("not enabled"), "{refused}");
        for bad in [
            "*.com",
            "*",
            "*.",
            "**.example.com",
            "*.*.example.com",
            "a*.example.com",
            "*.exa`mple.com",
            "*.example.com`) || Host(`evil.com",
            "*.bü`cher.de",
            "*.1.2.3.4",
        ] {
            let e = HostPattern::parse_field("hostname", bad, true).unwrap_err();
            assert_eq!(e.field(), Some("hostname"), "{bad}");
        }
        // Stored wildcards read back; serialized as written.
        let back: HostPattern = serde_json::from_str("\"*.example.com\"").unwrap();
        assert_eq!(back, w);
        assert_eq!(serde_json::to_string(&w).unwrap(), "\"*.example.com\"");
        assert!(serde_json::from_str::<HostPattern>("\"*.com\"").is_err());
    }

    #[test]
    fn paths_and_mount_targets() {
        container_path("p", "/data").unwrap();
        container_path("p", "/var/lib/postgresql/data/").unwrap();
        for bad in ["data", "/", "/a/../b", "/a/./b", "//a", "/a\0b", "/a\nb"] {
            assert!(container_path("p", bad).is_err(), "{bad}");
        }
        for bad in ["/proc", "/sys/fs", "/dev", "/var/run/docker.sock"] {
            assert!(mount_target("p", bad).is_err(), "{bad}");
        }
        mount_target("p", "/devices").unwrap();
    }

    #[test]
    fn reserved_label_namespaces_are_refused() {
        user_label_key("labels", "com.example.team").unwrap();
        for bad in [
            "caas.org",
            "CAAS.managed",
            "traefik.enable",
            "traefik",
            "com.docker.compose.project",
            "Bad Key",
        ] {
            assert!(user_label_key("labels", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        email("email", "ops@example.com").unwrap();
        for bad in [
            "ops",
            "ops@",
            "@example.com",
            "a b@example.com",
            "a@b@example.com",
            "a@localhost",
        ] {
            assert!(email("email", bad).is_err(), "{bad}");
        }
    }
}
