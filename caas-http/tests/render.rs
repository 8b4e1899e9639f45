//! Charts drawn from a platform's metrics history on the in-memory backends (moved from
//! caas-core's `tests/reports.rs` with the drawing).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use caas_core::memory::{InMemoryRuntime, InMemoryStore};
use caas_core::model::{PlanLimits, Resolution, ServiceSpec};
use caas_core::platform::DeployApp;
use caas_core::ports::store::prelude::*;
use caas_core::units::GIB;
use caas_core::validate::ImageRef;
use caas_core::{ManualClock, Platform, ServiceId};
use caas_core::{ProjectRef, ServiceRef};
use caas_http::render::{self, ChartMetric};
use chrono::{DateTime, Utc};

const IMAGE: &str = "caas/busybox:latest";

struct World {
    platform: Platform,
    store: Arc<InMemoryStore>,
    tenant: caas_testkit::platform::Tenant,
}

async fn world(clock_at: DateTime<Utc>) -> World {
    let store = Arc::new(InMemoryStore::new());
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let platform = Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(runtime))
        .clock(Arc::new(ManualClock::new(clock_at)))
        .metrics_interval(Duration::from_secs(10))
        .build()
        .unwrap();
    let tenant = caas_testkit::platform::seed_tenant(
        &platform,
        PlanLimits {
            cpu_millis: 4000,
            memory_bytes: 4 * GIB,
            storage_bytes: 100 * GIB,
            max_containers: 5,
            max_projects: 1,
            max_domains: 20,
            max_pids: 1024,
            backup_storage_bytes: 10 * 1024 * 1024 * 1024,
        },
        "p",
    )
    .await;
    World {
        platform,
        store,
        tenant,
    }
}

impl World {
    async fn deploy(&self, name: &str) -> ServiceId {
        let spec = ServiceSpec::new(ImageRef::parse(IMAGE).unwrap());
        self.platform
            .services()
            .deploy_app(
                &self.tenant.admin,
                &ProjectRef::new(&self.tenant.org, "p"),
                DeployApp::new(name, spec),
            )
            .await
            .unwrap()
            .id
    }

    /// A sample every 10 s for `minutes` from `from`, at `cpu` % of one core, 512 MiB limit.
    async fn run(&self, svc: ServiceId, from: DateTime<Utc>, minutes: i64, cpu: f64) {
        let org = self.store.service(svc).await.unwrap().org;
        let samples = caas_testkit::metrics::steady(org, svc, from, minutes, cpu);
        self.store.insert_metrics(&samples).await.unwrap();
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn a_chart_of_a_service_metric_is_svg() {
    let start = at("2030-03-01T00:00:00Z");
    let w = world(start + chrono::Duration::hours(1)).await;
    let (who, org) = (&w.tenant.admin, w.tenant.org.as_str());
    let web = w.deploy("web").await;
    w.run(web, start, 60, 30.0).await;
    let (from, to) = (start, start + chrono::Duration::hours(1));
    let points = w
        .platform
        .monitoring()
        .metrics(
            who,
            &ServiceRef::new(org, "p", "web"),
            from,
            to,
            Some(Resolution::Raw),
        )
        .await
        .unwrap();
    let svg = render::service_chart("p", "web", ChartMetric::Cpu, &points, from, to).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("<polyline"),
        "{}",
        &svg[..200]
    );
    assert!(svg.contains("p/web"));
}
