//! The one unit convention used inside caas-rs, and conversions at the boundaries.
//!
//! | quantity | internal unit | boundary forms accepted by [`parse_cpu`] / [`parse_bytes`] |
//! |---|---|---|
//! | CPU | millicores (`u64`, 1000 = one core) | `"0.5"`, `"2"`, `"500m"` |
//! | memory, storage | bytes (`u64`) | `"512Mi"`, `"1Gi"`, `"100M"`, `"1G"`, `"1048576"` |
//! | money | minor units (cents, `u64`) with an ISO-4217 currency | — |
//! | time | UTC [`chrono::DateTime`] | RFC 3339 |
//!
//! Docker wants CPU as nano-CPUs: [`millis_to_nano_cpus`] converts.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One kibibyte.
pub const KIB: u64 = 1024;
/// One mebibyte.
pub const MIB: u64 = 1024 * KIB;
/// One gibibyte.
pub const GIB: u64 = 1024 * MIB;

/// Converts millicores to Docker's nano-CPUs.
pub fn millis_to_nano_cpus(millis: u64) -> i64 {
    i64::try_from(millis.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
}

/// Parses a CPU quantity into millicores: `"0.5"` and `"500m"` are both 500.
pub fn parse_cpu(field: &str, value: &str) -> Result<u64> {
    let v = value.trim();
    let bad = || {
        Error::invalid(
            field,
            format!(
                "'{value}' is not a CPU quantity; use cores (\"0.5\") or millicores (\"500m\")"
            ),
        )
    };
    if let Some(m) = v.strip_suffix('m') {
        return m.parse::<u64>().map_err(|_| bad());
    }
    let cores: f64 = v.parse().map_err(|_| bad())?;
    if !cores.is_finite() || !(0.0..=1_000_000.0).contains(&cores) {
        return Err(bad());
    }
    Ok((cores * 1000.0).round() as u64)
}

/// Parses a byte quantity: binary (`Ki`, `Mi`, `Gi`, `Ti`) and decimal (`K`, `M`, `G`, `T`)
/// suffixes, or plain bytes.
pub fn parse_bytes(field: &str, value: &str) -> Result<u64> {
    let v = value.trim();
    let bad = || {
        Error::invalid(
            field,
            format!("'{value}' is not a size; use e.g. \"512Mi\", \"1Gi\" or a number of bytes"),
        )
    };
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, suffix) = v.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match suffix {
        "" | "B" => 1,
        "Ki" | "KiB" => KIB,
        "Mi" | "MiB" => MIB,
        "Gi" | "GiB" => GIB,
        "Ti" | "TiB" => GIB * 1024,
        "K" | "KB" | "k" => 1000,
        "M" | "MB" => 1_000_000,
        "G" | "GB" => 1_000_000_000,
        "T" | "TB" => 1_000_000_000_000,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

/// Resource amounts counted against a plan: what a quota reservation holds and what usage sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceAmounts {
    /// CPU in millicores.
    pub cpu_millis: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Volume storage in bytes.
    pub storage_bytes: u64,
    /// Number of containers.
    pub containers: u64,
    /// Number of projects.
    pub projects: u64,
}

impl ResourceAmounts {
    /// Nothing.
    pub const ZERO: Self = Self {
        cpu_millis: 0,
        memory_bytes: 0,
        storage_bytes: 0,
        containers: 0,
        projects: 0,
    };

    /// One project and nothing else.
    pub fn one_project() -> Self {
        Self {
            projects: 1,
            ..Self::ZERO
        }
    }

    /// Component-wise saturating sum.
    pub fn plus(&self, o: &Self) -> Self {
        Self {
            cpu_millis: self.cpu_millis.saturating_add(o.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_add(o.memory_bytes),
            storage_bytes: self.storage_bytes.saturating_add(o.storage_bytes),
            containers: self.containers.saturating_add(o.containers),
            projects: self.projects.saturating_add(o.projects),
        }
    }

    /// Component-wise saturating difference.
    pub fn minus(&self, o: &Self) -> Self {
        Self {
            cpu_millis: self.cpu_millis.saturating_sub(o.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_sub(o.memory_bytes),
            storage_bytes: self.storage_bytes.saturating_sub(o.storage_bytes),
            containers: self.containers.saturating_sub(o.containers),
            projects: self.projects.saturating_sub(o.projects),
        }
    }

    /// Whether every component is zero.
    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }

    /// The dimensions as `(name, value)` pairs, in a stable order.
    pub fn dimensions(&self) -> [(&'static str, u64); 5] {
        [
            ("cpu_millis", self.cpu_millis),
            ("memory_bytes", self.memory_bytes),
            ("storage_bytes", self.storage_bytes),
            ("containers", self.containers),
            ("projects", self.projects),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_forms() {
        assert_eq!(parse_cpu("cpu", "0.5").unwrap(), 500);
        assert_eq!(parse_cpu("cpu", "500m").unwrap(), 500);
        assert_eq!(parse_cpu("cpu", "2").unwrap(), 2000);
        assert!(parse_cpu("cpu", "-1").is_err());
        assert!(parse_cpu("cpu", "lots").is_err());
        assert_eq!(millis_to_nano_cpus(500), 500_000_000);
    }

    #[test]
    fn byte_forms() {
        assert_eq!(parse_bytes("m", "512Mi").unwrap(), 512 * MIB);
        assert_eq!(parse_bytes("m", "1G").unwrap(), 1_000_000_000);
        assert_eq!(parse_bytes("m", "42").unwrap(), 42);
        assert!(parse_bytes("m", "1Xi").is_err());
        assert!(parse_bytes("m", "99999999999999Ti").is_err());
    }
}
