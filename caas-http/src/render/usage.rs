//! Usage reports as CSV, for the `format=csv` download of `GET /v1/orgs/{org}/usage/report`.

use caas_core::platform::UsageReport;
use caas_core::{Error, Result};

/// `report` as CSV: one row per service and volume and a total row, with the columns
/// `kind,id,name,container_hours,cpu_core_hours,memory_gib_hours,storage_gib_hours,backup_bytes`.
/// Errors: `Backend` (writing failed; not expected in memory).
pub fn usage_report_csv(report: &UsageReport) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::backend_source("platform", "writing CSV", e);
    w.write_record([
        "kind",
        "id",
        "name",
        "container_hours",
        "cpu_core_hours",
        "memory_gib_hours",
        "storage_gib_hours",
        "backup_bytes",
    ])
    .map_err(err)?;
    let f = |v: f64| format!("{v:.6}");
    for s in &report.services {
        w.write_record([
            "service",
            &s.service.to_string(),
            s.name.as_deref().unwrap_or(""),
            &f(s.container_hours),
            &f(s.cpu_core_hours),
            &f(s.memory_gib_hours),
            "",
            "",
        ])
        .map_err(err)?;
    }
    for v in &report.volumes {
        w.write_record([
            "volume",
            &v.volume.to_string(),
            &v.name,
            "",
            "",
            "",
            &f(v.gib_hours),
            "",
        ])
        .map_err(err)?;
    }
    let t = &report.totals;
    w.write_record([
        "total",
        "",
        &report.org,
        &f(t.container_hours),
        &f(t.cpu_core_hours),
        &f(t.memory_gib_hours),
        &f(t.storage_gib_hours),
        &t.backup_bytes_stored.to_string(),
    ])
    .map_err(err)?;
    let bytes = w
        .into_inner()
        .map_err(|e| Error::backend("platform", format!("writing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::backend_source("platform", "CSV is UTF-8", e))
}

#[cfg(test)]
mod tests {
    use caas_core::model::Resolution;
    use caas_core::platform::{ServiceUsageRow, UsageTotals, VolumeUsageRow};
    use caas_core::{ServiceId, VolumeId};
    use chrono::{DateTime, Utc};

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn service(name: &str, cpu_core_hours: f64) -> ServiceUsageRow {
        ServiceUsageRow {
            service: ServiceId::new(),
            name: Some(name.to_string()),
            container_hours: 2.0,
            cpu_core_hours,
            memory_gib_hours: 1.0,
        }
    }

    /// Two services (one of them deleted since) and a volume, as in caas-core's
    /// `a_usage_report_sums_container_cpu_memory_and_storage_hours`.
    #[test]
    fn a_report_is_one_csv_row_per_service_and_volume_and_a_total_row() {
        let report = UsageReport {
            org: "acme".to_string(),
            from: at("2030-03-01T00:00:00Z"),
            to: at("2030-03-01T03:00:00Z"),
            resolution: Resolution::Minute,
            totals: UsageTotals {
                container_hours: 3.0,
                cpu_core_hours: 2.0,
                memory_gib_hours: 1.5,
                storage_gib_hours: 6.0,
                backup_bytes_stored: 0,
                backup_bytes_created: 0,
            },
            services: vec![service("p/web", 1.0), service("gone", 1.0)],
            volumes: vec![VolumeUsageRow {
                volume: VolumeId::new(),
                name: "p/data".to_string(),
                size_bytes: 2 * caas_core::units::GIB,
                gib_hours: 6.0,
            }],
        };
        let csv = usage_report_csv(&report).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "kind,id,name,container_hours,cpu_core_hours,memory_gib_hours,storage_gib_hours,backup_bytes"
        );
        assert_eq!(lines.len(), 1 + 2 + 1 + 1, "{csv}");
        assert!(lines.last().unwrap().starts_with("total,,"), "{csv}");
    }
}
