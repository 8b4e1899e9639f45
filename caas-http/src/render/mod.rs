//! What the routes answer besides JSON, drawn from the core's data: SVG charts of a service's
//! metrics ([`Monitoring::metrics`](caas_core::platform::Monitoring::metrics)) and usage
//! reports as CSV ([`Orgs::usage_report`](caas_core::platform::Orgs::usage_report)). The core
//! returns data; presentation lives here, beside the routes that serve it.

mod chart;
mod usage;

pub use chart::{ChartMetric, render_chart, service_chart};
pub use usage::usage_report_csv;
