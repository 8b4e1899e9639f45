//! Input policy: the defaults, bounds and page sizes of what callers ask for, decided here so
//! that an embedder calling the handles gets exactly what the HTTP facade's clients get. The
//! operations check their inputs against these bounds themselves (before authorization, so a
//! malformed request is refused the same way for everyone); the facade only fills in the
//! defaults for parameters a request leaves out. Error fields are the query parameters'
//! names (`window_secs`, `limit`, `interval_ms`, `action`).

use std::time::Duration;

use crate::error::{Error, Result};

/// A service's health window when none is asked for: a day.
pub const DEFAULT_HEALTH_WINDOW: Duration = Duration::from_secs(86_400);
/// The longest health window: 30 days.
pub const MAX_HEALTH_WINDOW: Duration = Duration::from_secs(30 * 86_400);
/// Service events returned when no limit is asked for.
pub const DEFAULT_EVENTS: u32 = 100;
/// Most service events one call returns.
pub const MAX_EVENTS: u32 = 1_000;
/// Most audit entries one call returns (the default of [`crate::ports::store::AuditFilter`]
/// is within it).
pub const MAX_AUDIT_ENTRIES: u32 = 1_000;
/// Time between two snapshots of a live stats stream when none is asked for.
pub const DEFAULT_STREAM_INTERVAL: Duration = Duration::from_millis(2_000);
/// The shortest stats-stream interval: a snapshot needs two readings 500 ms apart
/// ([`super::LIVE_STATS_WINDOW`]).
pub const MIN_STREAM_INTERVAL: Duration = super::monitoring::LIVE_STATS_WINDOW;
/// The longest stats-stream interval.
pub const MAX_STREAM_INTERVAL: Duration = Duration::from_secs(60);
/// Most log lines an answer that collects them (rather than streaming) holds: the last ones.
pub const MAX_LOG_LINES: usize = 10_000;
/// How far back a metrics query reaches when no start is given.
pub const DEFAULT_METRICS_RANGE: chrono::Duration = chrono::Duration::hours(1);

/// Checks a health window: at least a second, at most [`MAX_HEALTH_WINDOW`].
/// Errors: `InvalidInput` (`window_secs`).
pub(crate) fn check_health_window(window: Duration) -> Result<()> {
    if window < Duration::from_secs(1) || window > MAX_HEALTH_WINDOW {
        return Err(Error::invalid(
            "window_secs",
            format!(
                "must be between 1 and {} (30 days)",
                MAX_HEALTH_WINDOW.as_secs()
            ),
        ));
    }
    Ok(())
}

/// Checks a page size of `1..=max`. Errors: `InvalidInput` (`limit`).
pub(crate) fn check_limit(limit: u32, max: u32) -> Result<()> {
    if !(1..=max).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("must be between 1 and {max}"),
        ));
    }
    Ok(())
}

/// Checks a stats-stream interval against [`MIN_STREAM_INTERVAL`] and
/// [`MAX_STREAM_INTERVAL`]. Errors: `InvalidInput` (`interval_ms`).
pub(crate) fn check_stream_interval(interval: Duration) -> Result<()> {
    if interval < MIN_STREAM_INTERVAL || interval > MAX_STREAM_INTERVAL {
        return Err(Error::invalid(
            "interval_ms",
            format!(
                "must be between {} and {}",
                MIN_STREAM_INTERVAL.as_millis(),
                MAX_STREAM_INTERVAL.as_millis()
            ),
        ));
    }
    Ok(())
}

/// Checks an audit action prefix: 1-64 lowercase letters, digits, `.` and `_`.
/// Errors: `InvalidInput` (`action`).
pub(crate) fn check_audit_action(action: &str) -> Result<()> {
    let valid = (1..=64).contains(&action.len())
        && action
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_');
    if !valid {
        return Err(Error::invalid(
            "action",
            "1-64 lowercase letters, digits, `.` and `_` (an action's beginning, like `member.`)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_and_errors_name_the_parameter() {
        assert!(check_health_window(Duration::from_secs(1)).is_ok());
        assert!(check_health_window(MAX_HEALTH_WINDOW).is_ok());
        for bad in [Duration::ZERO, MAX_HEALTH_WINDOW + Duration::from_secs(1)] {
            let e = check_health_window(bad).unwrap_err();
            assert_eq!(e.field(), Some("window_secs"));
        }
        assert!(check_limit(1, MAX_EVENTS).is_ok());
        assert!(check_limit(MAX_EVENTS, MAX_EVENTS).is_ok());
        assert_eq!(check_limit(0, 10).unwrap_err().field(), Some("limit"));
        assert_eq!(check_limit(11, 10).unwrap_err().field(), Some("limit"));
        assert!(check_stream_interval(MIN_STREAM_INTERVAL).is_ok());
        assert!(check_stream_interval(MAX_STREAM_INTERVAL).is_ok());
        let e = check_stream_interval(Duration::from_millis(499)).unwrap_err();
        assert_eq!(e.field(), Some("interval_ms"));
        assert!(check_audit_action("member.").is_ok());
        for bad in ["", "Member", "a;drop", &"a".repeat(65), "é"] {
            assert_eq!(check_audit_action(bad).unwrap_err().field(), Some("action"));
        }
    }
}
