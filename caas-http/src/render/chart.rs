//! SVG charts of a service's metrics over a range, drawn with `plotters`: the average as a
//! line and the bucket's minimum and maximum as a band, time on the x axis (UTC).

use caas_core::model::{Aggregate, MetricPoint};
use caas_core::units::MIB;
use caas_core::{Error, Result};
use chrono::{DateTime, Utc};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

/// Width and height of a chart, pixels.
const SIZE: (u32, u32) = (720, 280);

/// Which metric a chart shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChartMetric {
    /// CPU use, percent of one core.
    Cpu,
    /// Memory in use, MiB.
    Memory,
    /// Processes.
    Pids,
}

impl ChartMetric {
    fn value(&self, p: &MetricPoint) -> Aggregate {
        match self {
            Self::Cpu => p.cpu_percent,
            Self::Memory => Aggregate {
                avg: p.memory_bytes.avg / MIB as f64,
                min: p.memory_bytes.min / MIB as f64,
                max: p.memory_bytes.max / MIB as f64,
            },
            Self::Pids => p.pids,
        }
    }
    fn unit(&self) -> &'static str {
        match self {
            Self::Cpu => "% of one core",
            Self::Memory => "MiB",
            Self::Pids => "processes",
        }
    }
    /// The name used in APIs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::Pids => "pids",
        }
    }
}

fn draw_err(e: impl std::fmt::Display) -> Error {
    Error::backend("platform", format!("drawing the chart: {e}"))
}

/// Renders `points` (oldest first) of `metric` over `[from, to)` as an SVG document titled
/// `title`. An empty series draws the axes and says so. Errors: `Backend` (drawing failed).
pub fn render_chart(
    title: &str,
    metric: ChartMetric,
    points: &[MetricPoint],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let top = points
            .iter()
            .map(|p| metric.value(p).max)
            .fold(0.0_f64, f64::max);
        let top = if top <= 0.0 { 1.0 } else { top * 1.1 };
        let caption = if points.is_empty() {
            format!("{title} — no data in this range")
        } else {
            title.to_string()
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(from..to, 0.0..top)
            .map_err(draw_err)?;
        let span = to - from;
        let fmt = if span <= chrono::Duration::days(2) {
            "%H:%M"
        } else {
            "%m-%d"
        };
        chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&|t| t.format(fmt).to_string())
            .y_desc(metric.unit())
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(draw_err)?;
        let band = RGBColor(66, 133, 244).mix(0.18);
        chart
            .draw_series(points.windows(2).map(|w| {
                let (a, b) = (&w[0], &w[1]);
                Polygon::new(
                    vec![
                        (a.at, metric.value(a).min),
                        (b.at, metric.value(b).min),
                        (b.at, metric.value(b).max),
                        (a.at, metric.value(a).max),
                    ],
                    band.filled(),
                )
            }))
            .map_err(draw_err)?;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.at, metric.value(p).avg)),
                RGBColor(25, 103, 210).stroke_width(2),
            ))
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// The chart of one `metric` of a service over `[from, to)` from its metrics history
/// (`points`, oldest first, as [`Monitoring::metrics`](caas_core::platform::Monitoring::metrics)
/// returns them), titled `project/service — metric`: what `GET …/metrics.svg` answers.
/// Errors: `Backend` (drawing failed).
pub fn service_chart(
    project: &str,
    service: &str,
    metric: ChartMetric,
    points: &[MetricPoint],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<String> {
    render_chart(
        &format!("{project}/{service} — {}", metric.as_str()),
        metric,
        points,
        from,
        to,
    )
}

#[cfg(test)]
mod tests {
    use caas_core::ServiceId;

    use super::*;

    fn point(at: DateTime<Utc>, cpu: f64) -> MetricPoint {
        let one = |v: f64| Aggregate {
            avg: v,
            min: v * 0.8,
            max: v * 1.2,
        };
        MetricPoint {
            service: ServiceId::new(),
            at,
            samples: 6,
            cpu_percent: one(cpu),
            memory_bytes: one(64.0 * MIB as f64),
            memory_limit_bytes: 256 * MIB,
            net_rx_bytes: 0,
            net_tx_bytes: 0,
            block_read_bytes: 0,
            block_write_bytes: 0,
            pids: one(3.0),
        }
    }

    #[test]
    fn a_chart_is_an_svg_with_its_title_axes_and_series() {
        let to = Utc::now();
        let from = to - chrono::Duration::hours(1);
        let points: Vec<MetricPoint> = (0..60)
            .map(|i| point(from + chrono::Duration::minutes(i), 20.0 + (i % 10) as f64))
            .collect();
        let svg = render_chart("shop/web — cpu", ChartMetric::Cpu, &points, from, to).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("shop/web — cpu"));
        assert!(svg.contains("% of one core"));
        assert!(svg.contains("<polyline"), "the average line");
        assert!(svg.contains("<polygon"), "the min-max band");
        let empty = render_chart("x", ChartMetric::Memory, &[], from, to).unwrap();
        assert!(empty.contains("no data in this range"));
    }
}
