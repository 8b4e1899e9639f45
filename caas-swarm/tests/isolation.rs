//! Tenant isolation on the single-node swarm, tried from inside tasks with TCP connects
//! (busybox `nc`): a task cannot reach another project's tasks, of its own organization or
//! another, while a task of the same project can; each project has an overlay network of its
//! own that plain containers cannot join; tasks run as the user their spec names.

#![allow(clippy::unwrap_used)]

mod common;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use caas_core::ProjectRef;
use caas_core::labels;
use caas_core::memory::InMemoryStore;
use caas_core::model::{PlanLimits, PortSpec, Protocol, ResourceLimits, ServiceSpec};
use caas_core::platform::{DeployApp, NewProject};
use caas_core::ports::runtime::{LabelSelector, LogOptions};
use caas_core::units::MIB;
use caas_core::validate::ImageRef;
use caas_core::{ContainerRuntime, Platform, ServiceId};
use caas_docker::DockerRuntime;
use caas_testkit::env;
use futures::{FutureExt, TryStreamExt};

fn limits() -> PlanLimits {
    PlanLimits {
        max_containers: 4,
        max_projects: 2,
        ..caas_testkit::platform::test_limits()
    }
}

fn small(image: &str, command: &str) -> ServiceSpec {
    let mut spec = ServiceSpec::new(ImageRef::parse(image).unwrap());
    spec.command = Some(vec!["sh".into(), "-c".into(), command.into()]);
    spec.resources = ResourceLimits {
        cpu_millis: 100,
        memory_bytes: 32 * MIB,
        pids: 32,
    };
    spec
}

/// A task that tries `ip:port` every half second (1 s timeout) and logs each outcome.
fn prober(image: &str, ip: &str, port: u16) -> ServiceSpec {
    small(
        image,
        &format!(
            "trap 'exit 0' TERM; echo USER=$(id -u):$(id -g); i=0; while [ $i -lt 60 ]; do \
             if nc -w 1 {ip} {port} -e true </dev/null; then echo PROBE-OPEN; \
             else echo PROBE-CLOSED; fi; i=$((i+1)); sleep 0.5; done; sleep 3600 & wait"
        ),
    )
}

/// The runtime id of a service's container.
async fn container_of(rt: &dyn ContainerRuntime, service: ServiceId, instance: &str) -> String {
    let selector = LabelSelector::managed()
        .with(labels::SERVICE, service)
        .with(labels::INSTANCE, instance);
    rt.list_containers(&selector).await.unwrap()[0].id.clone()
}

/// What a prober logged so far: its user line, and how many probes opened and were refused.
async fn probes(rt: &dyn ContainerRuntime, id: &str) -> (String, usize, usize) {
    let lines: Vec<_> = rt
        .logs(id, &LogOptions::default())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let user = lines
        .iter()
        .find_map(|l| l.text.strip_prefix("USER="))
        .unwrap_or_default()
        .to_string();
    let count = |what: &str| lines.iter().filter(|l| l.text == what).count();
    (user, count("PROBE-OPEN"), count("PROBE-CLOSED"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_cannot_reach_other_projects_of_its_organization_or_other_organizations() {
    let Some((rt, image)) = common::solo().await else {
        return;
    };
    let host = env::require("CAAS_TEST_SWARM_SOLO_HOST", "the single-node swarm").unwrap();
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(rt);
    let instance = format!("swiso{}", env::run_id());
    let platform = Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(runtime.clone())
        .instance(instance.clone())
        .stop_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let body = async {
        let a = caas_testkit::platform::seed_tenant(&platform, limits(), "shop").await;
        let b = caas_testkit::platform::seed_tenant(&platform, limits(), "shop").await;
        platform
            .projects()
            .create(&a.admin, &a.org, NewProject::new("blog"))
            .await
            .unwrap();
        let mut target = small(&image, "httpd -f -p 8080 -h / & trap 'exit 0' TERM; wait");
        target.ports.push(PortSpec {
            container_port: 8080,
            protocol: Protocol::Tcp,
        });
        let target = platform
            .services()
            .deploy_app(
                &a.admin,
                &ProjectRef::new(&a.org, "shop"),
                DeployApp::new("target", target),
            )
            .await
            .unwrap();
        let target = container_of(&*runtime, target.id, &instance).await;
        let info = runtime
            .inspect_container_opt(&target)
            .await
            .unwrap()
            .unwrap();
        let ip = info
            .ip_addresses
            .values()
            .next()
            .expect("an address")
            .clone();

        let deploy = |org: String, project: &'static str, name: &'static str, spec| {
            let (platform, who) = (platform.clone(), a.admin.clone());
            async move {
                platform
                    .services()
                    .deploy_app(
                        &who,
                        &ProjectRef::new(&org, project),
                        DeployApp::new(name, spec),
                    )
                    .await
                    .unwrap()
            }
        };
        let mut neighbour = prober(&image, &ip, 8080);
        neighbour.user = Some("1234:2345".into());
        let (neighbour, same_org, other_org) = tokio::join!(
            deploy(a.org.clone(), "shop", "neighbour", neighbour),
            deploy(a.org.clone(), "blog", "prober", prober(&image, &ip, 8080)),
            deploy(b.org.clone(), "shop", "prober", prober(&image, &ip, 8080)),
        );
        let neighbour = container_of(&*runtime, neighbour.id, &instance).await;
        let same_org = container_of(&*runtime, same_org.id, &instance).await;
        let other_org = container_of(&*runtime, other_org.id, &instance).await;

        // The probe works: a task of the same project reaches the target (and runs as the
        // user its spec names). Others get at least three refusals each, and no connection.
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            let (user, opened, _) = probes(&*runtime, &neighbour).await;
            let (_, same_opened, same_refused) = probes(&*runtime, &same_org).await;
            let (_, other_opened, other_refused) = probes(&*runtime, &other_org).await;
            assert_eq!(
                same_opened, 0,
                "another project of the same organization reached {ip}"
            );
            assert_eq!(other_opened, 0, "another organization reached {ip}");
            if opened > 0 && same_refused >= 3 && other_refused >= 3 {
                assert_eq!(
                    user, "1234:2345",
                    "the neighbour's task runs as its spec's user"
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "probes did not conclude: neighbour opened {opened}, same organization \
                 refused {same_refused}, other organization refused {other_refused}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }

        // One overlay network per project, which plain containers cannot join.
        let engine = DockerRuntime::builder()
            .connection(common::unix(&host))
            .build()
            .await
            .unwrap();
        let docker = engine.client().unwrap();
        let networks = runtime
            .list_networks(&LabelSelector::managed().with(labels::INSTANCE, &instance))
            .await
            .unwrap();
        assert_eq!(networks.len(), 3, "{networks:?}");
        for n in &networks {
            let n = docker.inspect_network::<String>(&n.id, None).await.unwrap();
            assert_eq!(n.driver.as_deref(), Some("overlay"));
            assert_eq!(n.attachable, Some(false), "{:?} is attachable", n.name);
        }
    };
    let outcome = AssertUnwindSafe(body).catch_unwind().await;
    let all = LabelSelector::managed().with(labels::INSTANCE, &instance);
    let containers = runtime.list_containers(&all).await.unwrap_or_default();
    futures::future::join_all(
        containers
            .iter()
            .map(|c| runtime.remove_container(&c.id, true)),
    )
    .await;
    let networks = runtime.list_networks(&all).await.unwrap_or_default();
    futures::future::join_all(networks.iter().map(|n| runtime.remove_network(&n.name))).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
