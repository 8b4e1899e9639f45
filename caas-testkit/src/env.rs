//! Reading the test environment written by `scripts/test-env.sh`.
//!
//! Integration tests need real services. On a developer machine without them a test may be
//! skipped (it prints why); when the `CI` environment variable is set, a missing service is a
//! failure, never a skip.

/// Whether we run in CI, where missing services fail tests (see [`ci_flag`]).
pub fn in_ci() -> bool {
    ci_flag(std::env::var_os("CI").as_deref())
}

/// How a value of `CI` is read: set to anything but empty, `0` or `false` means CI — so
/// `CI=true` (what CI runners set) and `CI=1` never let a test skip.
pub fn ci_flag(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The value of a test-environment variable (e.g. `CAAS_TEST_DATABASE_URL`), falling back to
/// the file `/var/tmp/caas-test-env/env` written by `scripts/test-env.sh`.
pub fn var(name: &str) -> Option<String> {
    if let Ok(v) = std::env::var(name) {
        if !v.is_empty() {
            return Some(v);
        }
    }
    let file = std::fs::read_to_string(ENV_FILE).ok()?;
    file.lines().find_map(|line| {
        let line = line.trim().strip_prefix("export ").unwrap_or(line.trim());
        let (k, v) = line.split_once('=')?;
        (k == name).then(|| v.trim_matches('"').trim_matches('\'').to_string())
    })
}

/// Where `scripts/test-env.sh` writes its variables.
pub const ENV_FILE: &str = "/var/tmp/caas-test-env/env";

/// Returns the variable, or — when it is missing — panics in CI and returns `None` elsewhere
/// after printing why the test is skipped.
pub fn require(name: &str, what: &str) -> Option<String> {
    match var(name) {
        Some(v) => Some(v),
        None if in_ci() => panic!(
            "{what} is required in CI but {name} is not set and {ENV_FILE} does not define it; run scripts/test-env.sh"
        ),
        None => {
            eprintln!("skipping: {what} not available ({name} unset); run scripts/test-env.sh");
            None
        }
    }
}

/// Handles a service that is configured but does not answer: panics in CI, otherwise prints
/// why the test is skipped and returns `None`.
pub fn unavailable<T>(what: &str, err: impl std::fmt::Display) -> Option<T> {
    if in_ci() {
        panic!("{what} is required in CI but is not reachable: {err}");
    }
    eprintln!("skipping: {what} not reachable: {err}; run scripts/test-env.sh");
    None
}

/// A short random id labelling everything one test run creates.
pub fn run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn ci_runners_values_mean_ci() {
        for v in ["true", "1", "yes", "TRUE"] {
            assert!(ci_flag(Some(OsStr::new(v))), "{v}");
        }
        for v in [None, Some(""), Some("0"), Some("false")] {
            assert!(!ci_flag(v.map(OsStr::new)), "{v:?}");
        }
    }
}
