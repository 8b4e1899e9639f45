//! Alert rules on the in-memory backends: validation and permissions, CPU and memory over a
//! window from stored samples, restart loops and unhealthy containers from events, storage
//! from volumes; one alert per rule and service, resolved when the condition ends, each
//! change sent once to the organization's webhook.

#![allow(clippy::unwrap_used)]

use caas_core::ProjectRef;
use caas_core::ports::store::prelude::*;
use std::sync::Arc;
use std::time::Duration;

use caas_core::memory::{InMemoryRuntime, InMemoryStore};
use caas_core::model::{
    AlertState, MetricSample, PlanLimits, Role, ServiceEvent, ServiceEventKind, ServiceSpec,
};
use caas_core::platform::{AlertCondition, AlertRule, AlertSettings, DeployApp, RolloutTiming};
use caas_core::ports::notifier::InMemoryNotifier;
use caas_core::units::{GIB, MIB};
use caas_core::validate::ImageRef;
use caas_core::{Clock, EventId, ManualClock, Platform, Principal};

const IMAGE: &str = "caas/busybox:latest";
const SECRET: &str = "0123456789abcdef-secret";

struct World {
    platform: Platform,
    store: Arc<InMemoryStore>,
    clock: Arc<ManualClock>,
    notifier: Arc<InMemoryNotifier>,
    tenant: caas_testkit::platform::Tenant,
    svc: caas_core::model::Service,
}

async fn world() -> World {
    let store = Arc::new(InMemoryStore::new());
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let notifier = Arc::new(InMemoryNotifier::new());
    let platform = Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(runtime))
        .clock(clock.clone())
        .notifier(notifier.clone())
        .rollout(
            RolloutTiming::new(
                Duration::from_secs(2),
                Duration::from_millis(10),
                Duration::ZERO,
            )
            .with_tcp_probe(false),
        )
        .build()
        .unwrap();
    let tenant = caas_testkit::platform::seed_tenant(
        &platform,
        PlanLimits {
            cpu_millis: 4000,
            memory_bytes: 4 * GIB,
            storage_bytes: 4 * GIB,
            max_containers: 5,
            max_projects: 1,
            max_domains: 20,
            max_pids: 1024,
            backup_storage_bytes: 10 * 1024 * 1024 * 1024,
        },
        "p",
    )
    .await;
    let mut spec = ServiceSpec::new(ImageRef::parse(IMAGE).unwrap());
    spec.resources.cpu_millis = 500;
    spec.resources.memory_bytes = 100 * MIB;
    let svc = platform
        .services()
        .deploy_app(
            &tenant.admin,
            &ProjectRef::new(&tenant.org, "p"),
            DeployApp::new("web", spec),
        )
        .await
        .unwrap();
    World {
        platform,
        store,
        clock,
        notifier,
        tenant,
        svc,
    }
}

impl World {
    /// One raw sample every 10 s over the last `secs`, at `cpu` % of one core and `mem` MiB.
    async fn samples(&self, secs: i64, cpu: f64, mem: u64) {
        let now = self.clock.now();
        let samples: Vec<MetricSample> = (0..=secs / 10)
            .map(|i| MetricSample {
                org: self.svc.org,
                service: self.svc.id,
                at: now - chrono::Duration::seconds(secs - i * 10),
                cpu_percent: cpu,
                memory_bytes: mem * MIB,
                memory_limit_bytes: 100 * MIB,
                net_rx_bytes: 0,
                net_tx_bytes: 0,
                block_read_bytes: 0,
                block_write_bytes: 0,
                pids: 1,
            })
            .collect();
        self.store.insert_metrics(&samples).await.unwrap();
    }

    async fn set(&self, rules: Vec<AlertRule>) {
        self.platform
            .monitoring()
            .set_alerts(
                &self.tenant.admin,
                &self.tenant.org,
                AlertSettings::new(rules).webhook("https://hooks.example.com/caas", SECRET),
            )
            .await
            .unwrap();
    }

    async fn event(&self, kind: ServiceEventKind, ago_secs: i64) {
        self.store
            .append_event(&ServiceEvent {
                id: EventId::new(),
                org: self.svc.org,
                service: self.svc.id,
                kind,
                message: String::new(),
                at: self.clock.now() - chrono::Duration::seconds(ago_secs),
            })
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn settings_are_validated_admin_only_and_the_secret_never_shown() {
    let w = world().await;
    let (who, org) = (&w.tenant.admin, w.tenant.org.as_str());
    let cases: Vec<(AlertSettings, &str)> = vec![
        (
            AlertSettings::new(vec![AlertRule::new("Bad Name", AlertCondition::Unhealthy)]),
            "rules[0].name",
        ),
        (
            AlertSettings::new(vec![
                AlertRule::new("a", AlertCondition::Unhealthy),
                AlertRule::new("a", AlertCondition::Unhealthy),
            ]),
            "rules[1].name",
        ),
        (
            AlertSettings::new(vec![AlertRule::new(
                "a",
                AlertCondition::CpuAbove { percent: 0.0 },
            )]),
            "rules[0].condition.percent",
        ),
        (
            AlertSettings::new(vec![
                AlertRule::new("a", AlertCondition::Unhealthy).for_secs(5),
            ]),
            "rules[0].for_secs",
        ),
        (
            AlertSettings::new(vec![AlertRule::new(
                "a",
                AlertCondition::RestartLoop { restarts: 1 },
            )]),
            "rules[0].condition.restarts",
        ),
        (
            AlertSettings::new(vec![]).webhook("ftp://x", SECRET),
            "webhook.url",
        ),
        (
            AlertSettings::new(vec![]).webhook("https://x.example", "short"),
            "webhook.secret",
        ),
    ];
    for (s, field) in cases {
        let err = w
            .platform
            .monitoring()
            .set_alerts(who, org, s)
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some(field), "{err}");
    }
    let org_id = w.store.org_by_slug_opt(org).await.unwrap().unwrap().id;
    let member = Principal::user(caas_core::UserId::new()).with_role(org_id, Role::Member);
    let err = w
        .platform
        .monitoring()
        .set_alerts(&member, org, AlertSettings::default())
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");

    w.set(vec![AlertRule::new(
        "cpu",
        AlertCondition::CpuAbove { percent: 80.0 },
    )])
    .await;
    let view = w.platform.monitoring().alerts(&member, org).await.unwrap();
    assert_eq!(view.settings.rules.len(), 1);
    let shown = view.settings.webhook.clone().unwrap();
    assert_eq!(shown.secret, "********");
    assert!(!serde_json::to_string(&view).unwrap().contains(SECRET));
    // Sending the placeholder back keeps the stored secret.
    w.platform
        .monitoring()
        .set_alerts(who, org, view.settings.clone())
        .await
        .unwrap();
    w.samples(400, 90.0, 10).await;
    w.platform.monitoring().evaluate_alerts().await.unwrap();
    assert_eq!(w.notifier.sent()[0].target.secret, SECRET);
}

#[tokio::test]
async fn cpu_above_fires_once_over_a_covered_window_and_resolves_with_notifications() {
    let w = world().await;
    w.set(vec![
        AlertRule::new("cpu-high", AlertCondition::CpuAbove { percent: 80.0 }).for_secs(300),
    ])
    .await;
    // 45 % of one core under a 0.5 CPU limit is 90 % of the limit — but only for 2 minutes.
    w.samples(120, 45.0, 10).await;
    let r = w.platform.monitoring().evaluate_alerts().await.unwrap();
    assert_eq!((r.evaluated, r.fired), (1, 0), "{r:?}");
    w.samples(400, 45.0, 10).await;
    let r = w.platform.monitoring().evaluate_alerts().await.unwrap();
    assert_eq!((r.fired, r.notified), (1, 1), "{r:?}");
    let r = w.platform.monitoring().evaluate_alerts().await.unwrap();
    assert_eq!((r.fired, r.notified), (0, 0), "deduplicated: {r:?}");
    let view = w
        .platform
        .monitoring()
        .alerts(&w.tenant.admin, &w.tenant.org)
        .await
        .unwrap();
    assert_eq!(view.firing.len(), 1);
    assert_eq!(view.firing[0].rule, "cpu-high");
    assert_eq!(view.firing[0].service, Some(w.svc.id));
    let sent = w.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].org, w.tenant.org);
    assert_eq!(sent[0].alert.state, AlertState::Firing);
    assert_eq!(sent[0].target.url, "https://hooks.example.com/caas");

    // Load drops: one sample below the threshold in the window resolves it.
    w.clock.advance(chrono::Duration::seconds(10));
    w.samples(0, 5.0, 10).await;
    let r = w.platform.monitoring().evaluate_alerts().await.unwrap();
    assert_eq!((r.resolved, r.notified), (1, 1), "{r:?}");
    let sent = w.notifier.sent();
    assert_eq!(sent[1].alert.state, AlertState::Resolved);
    assert!(sent[1].alert.resolved_at.is_some());
}

#[tokio::test]
async fn memory_restarts_unhealthy_and_storage_rules() {
    let w = world().await;
    w.set(vec![
        AlertRule::new("mem", AlertCondition::MemoryAbove { percent: 90.0 }).for_secs(60),
        AlertRule::new("loop", AlertCondition::RestartLoop { restarts: 3 }).for_secs(600),
        AlertRule::new("sick", AlertCondition::Unhealthy).for_secs(120),
        AlertRule::new("disk", AlertCondition::StorageAbove { percent: 50.0 }),
        // About another service: never evaluated against web.
        AlertRule::new("other", AlertCondition::Unhealthy).for_service("p", "nope"),
    ])
    .await;
    w.samples(90, 1.0, 95).await;
    for ago in [500, 300, 100] {
        w.event(ServiceEventKind::EngineRestart, ago).await;
    }
    let r = w.platform.monitoring().evaluate_alerts().await.unwrap();
    assert_eq!(r.evaluated, 4, "{r:?}");
    let firing: Vec<String> = w
        .platform
        .monitoring()
        .alerts(&w.tenant.admin, &w.tenant.org)
        .await
        .unwrap()
        .firing
        .into_iter()
        .map(|a| a.rule)
        .collect();
    assert!(firing.contains(&"mem".to_string()), "{firing:?}");
    assert!(firing.contains(&"loop".to_string()), "{firing:?}");
    assert!(!firing.contains(&"sick".to_string()), "healthy: {firing:?}");
    assert!(
        !firing.contains(&"disk".to_string()),
        "no volume: {firing:?}"
    );
    // Restarts age out of the window.
    w.clock.advance(chrono::Duration::seconds(400));
    w.platform.monitoring().evaluate_alerts().await.unwrap();
    let firing: Vec<String> = w
        .platform
        .monitoring()
        .alerts(&w.tenant.admin, &w.tenant.org)
        .await
        .unwrap()
        .firing
        .into_iter()
        .map(|a| a.rule)
        .collect();
    assert!(!firing.contains(&"loop".to_string()), "{firing:?}");
}
