//! Tenant isolation on the real engine, tried from inside containers with TCP connects
//! (busybox `nc`): a container cannot reach another project's containers, of its own
//! organization or another; it cannot reach the host's ports through its gateway while the
//! platform on the host still can, and the host guard's iptables rules go with the network;
//! containers run as the user their spec names.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use caas_core::ProjectRef;
use caas_core::labels;
use caas_core::memory::InMemoryStore;
use caas_core::model::{PlanLimits, PortSpec, Protocol, ResourceLimits, ServiceSpec};
use caas_core::platform::{DeployApp, NewProject};
use caas_core::ports::runtime::{
    ContainerSpec, CreateOutcome, LabelSelector, NetworkAttachment, NetworkSpec,
};
use caas_core::units::{GIB, MIB};
use caas_core::validate::ImageRef;
use caas_core::{ContainerRuntime, Platform, ServiceId};
use caas_docker::{DockerRuntime, HOST_GUARD_CHAIN, HostGuard};
use caas_testkit::env;
use caas_testkit::probe::{connects, exec_output};
use futures::FutureExt;

fn limits() -> PlanLimits {
    PlanLimits {
        cpu_millis: 2000,
        memory_bytes: 2 * GIB,
        storage_bytes: GIB,
        max_containers: 4,
        max_projects: 2,
        max_domains: 20,
        max_pids: 1024,
        backup_storage_bytes: GIB,
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

/// The runtime id of a service's container.
async fn container_of(rt: &dyn ContainerRuntime, service: ServiceId, instance: &str) -> String {
    let selector = LabelSelector::managed()
        .with(labels::SERVICE, service)
        .with(labels::INSTANCE, instance);
    rt.list_containers(&selector).await.unwrap()[0].id.clone()
}

/// Removes every container and network of `instance` (the networks through the runtime, so
/// their host guard rules go too).
async fn remove_instance(rt: &dyn ContainerRuntime, instance: &str) {
    let selector = LabelSelector::managed().with(labels::INSTANCE, instance);
    for c in rt.list_containers(&selector).await.unwrap_or_default() {
        let _ = rt.remove_container(&c.id, true).await;
    }
    for n in rt.list_networks(&selector).await.unwrap_or_default() {
        let _ = rt.remove_network(&n.name).await;
    }
}

/// Runs `body`, then removes what `instance` made even when `body` panicked.
async fn cleaning_up<F: std::future::Future<Output = ()>>(
    rt: &dyn ContainerRuntime,
    instance: &str,
    body: F,
) {
    let outcome = AssertUnwindSafe(body).catch_unwind().await;
    remove_instance(rt, instance).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_container_cannot_reach_other_projects_of_its_organization_or_other_organizations() {
    let Some((rt, image)) = common::docker().await else {
        return;
    };
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(rt);
    let instance = format!("iso{}", env::run_id());
    let platform = Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(runtime.clone())
        .instance(instance.clone())
        .stop_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    cleaning_up(&*runtime, &instance, async {
        let a = caas_testkit::platform::seed_tenant(&platform, limits(), "shop").await;
        let b = caas_testkit::platform::seed_tenant(&platform, limits(), "shop").await;
        platform
            .projects()
            .create(&a.admin, &a.org, NewProject::new("blog"))
            .await
            .unwrap();
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
        let mut target = small(&image, "exec httpd -f -p 8080 -h /");
        target.ports.push(PortSpec {
            container_port: 8080,
            protocol: Protocol::Tcp,
        });
        let sleeper = small(&image, "exec sleep 3600");
        let (target, neighbour, same_org, other_org) = tokio::join!(
            deploy(a.org.clone(), "shop", "target", target),
            deploy(a.org.clone(), "shop", "neighbour", sleeper.clone()),
            deploy(a.org.clone(), "blog", "prober", sleeper.clone()),
            deploy(b.org.clone(), "shop", "prober", sleeper),
        );
        let ip = common::container_ip(&*runtime, target.id, &instance).await;
        let neighbour = container_of(&*runtime, neighbour.id, &instance).await;
        let same_org = container_of(&*runtime, same_org.id, &instance).await;
        let other_org = container_of(&*runtime, other_org.id, &instance).await;

        // The probe works: a container of the same project reaches the target.
        let deadline = Instant::now() + Duration::from_secs(15);
        while !connects(&*runtime, &neighbour, &ip, 8080).await {
            assert!(
                Instant::now() < deadline,
                "the same project's container never reached {ip}:8080"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (from_same_org, from_other_org) = tokio::join!(
            connects(&*runtime, &same_org, &ip, 8080),
            connects(&*runtime, &other_org, &ip, 8080),
        );
        assert!(
            !from_same_org,
            "another project of the same organization reached {ip}:8080"
        );
        assert!(!from_other_org, "another organization reached {ip}:8080");
    })
    .await;
}

/// The gateway address of a network, as the engine reports it.
async fn gateway(rt: &DockerRuntime, network: &str) -> String {
    let n = rt
        .client()
        .unwrap()
        .inspect_network::<String>(network, None)
        .await
        .unwrap();
    n.ipam
        .and_then(|i| i.config)
        .and_then(|c| c.into_iter().find_map(|c| c.gateway))
        .expect("a gateway address")
}

/// The host guard's rules naming `bridge`.
async fn guard_rules(bridge: &str) -> usize {
    let iptables = ["/usr/sbin/iptables", "/sbin/iptables"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("iptables");
    let out = tokio::process::Command::new(iptables)
        .args(["-w", "-S", HOST_GUARD_CHAIN])
        .output()
        .await
        .expect("iptables runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split_whitespace().any(|w| w == bridge))
        .count()
}

/// A managed network and a sleeping container on it; the container's id and the gateway.
async fn network_with_container(
    rt: &DockerRuntime,
    run: &str,
    name: &str,
    image: &str,
) -> (String, String, String) {
    let labels = BTreeMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::INSTANCE.to_string(), run.to_string()),
        (labels::TEST_RUN.to_string(), run.to_string()),
    ]);
    let net = format!("caas-guard-{name}-{run}");
    let created = rt
        .create_network(&NetworkSpec::new(&net, labels.clone()))
        .await
        .unwrap();
    let mut spec = ContainerSpec::new(format!("caas-guard-{name}-{run}"), image);
    spec.command = Some(vec!["sleep".into(), "3600".into()]);
    spec.labels = labels;
    spec.networks = vec![NetworkAttachment {
        network: net.clone(),
        aliases: vec![],
    }];
    let id = rt.create_container(&spec).await.unwrap().id().to_string();
    rt.start_container(&id).await.unwrap();
    let bridge = format!("br-{}", &created.id()[..12]);
    (id, gateway(rt, &net).await, bridge)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tenant_containers_cannot_reach_host_ports_through_their_gateway_but_the_platform_can() {
    let Some((guarded, image)) = common::docker().await else {
        return;
    };
    let open = DockerRuntime::builder()
        .connection(guarded.connection().clone())
        .helper_image(image.clone())
        .host_guard(HostGuard::Off)
        .build()
        .await
        .unwrap();
    let run = format!("guard{}", env::run_id());
    // A control port of the host: listening on every address, as a careless service does.
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepting = tokio::spawn(async move {
        loop {
            if let Ok((s, _)) = listener.accept().await {
                drop(s);
            }
        }
    });

    cleaning_up(&guarded, &run, async {
        let (tenant, gw, bridge) = network_with_container(&guarded, &run, "a", &image).await;
        assert_eq!(guard_rules(&bridge).await, 1, "one rule for {bridge}");

        assert!(
            !connects(&guarded, &tenant, &gw, port).await,
            "a tenant container reached the host's port {port} through {gw}"
        );
        // The platform, on the host, still reaches the same address.
        tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect((gw.as_str(), port)),
        )
        .await
        .expect("the host connects in time")
        .expect("the host reaches its own port through the gateway address");

        // Without the guard the same probe goes through: it is the rule that refuses.
        let (unguarded, gw_open, bridge_open) =
            network_with_container(&open, &run, "b", &image).await;
        assert_eq!(guard_rules(&bridge_open).await, 0);
        assert!(
            connects(&open, &unguarded, &gw_open, port).await,
            "the control container did not reach {gw_open}:{port}"
        );

        // Creating the same network again keeps one rule.
        let net = format!("caas-guard-a-{run}");
        let labels = BTreeMap::from([
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::INSTANCE.to_string(), run.clone()),
            (labels::TEST_RUN.to_string(), run.clone()),
        ]);
        let again = guarded
            .create_network(&NetworkSpec::new(&net, labels))
            .await
            .unwrap();
        assert!(matches!(again, CreateOutcome::AlreadyExists(_)));
        assert_eq!(guard_rules(&bridge).await, 1);
        // guard_host covers it too, without doubling it.
        assert!(guarded.guard_host().await.unwrap() >= 1);
        assert_eq!(guard_rules(&bridge).await, 1);

        // The rule goes with the network.
        guarded.remove_container(&tenant, true).await.unwrap();
        guarded.remove_network(&net).await.unwrap();
        assert_eq!(guard_rules(&bridge).await, 0, "the rule outlived {net}");

        // A network removed behind the runtime's back loses its rule at the next creation.
        let labels = BTreeMap::from([
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::INSTANCE.to_string(), run.clone()),
        ]);
        let gone = format!("caas-guard-c-{run}");
        let created = guarded
            .create_network(&NetworkSpec::new(&gone, labels.clone()))
            .await
            .unwrap();
        let gone_bridge = format!("br-{}", &created.id()[..12]);
        assert_eq!(guard_rules(&gone_bridge).await, 1);
        guarded
            .client()
            .unwrap()
            .remove_network(&gone)
            .await
            .unwrap();
        assert_eq!(
            guard_rules(&gone_bridge).await,
            1,
            "nothing saw the removal yet"
        );
        guarded
            .create_network(&NetworkSpec::new(format!("caas-guard-d-{run}"), labels))
            .await
            .unwrap();
        assert_eq!(
            guard_rules(&gone_bridge).await,
            0,
            "the stale rule was swept"
        );
    })
    .await;
    accepting.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_run_as_the_user_their_spec_names() {
    let Some((rt, image)) = common::docker().await else {
        return;
    };
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(rt);
    let instance = format!("usr{}", env::run_id());
    let platform = Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(runtime.clone())
        .instance(instance.clone())
        .stop_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    cleaning_up(&*runtime, &instance, async {
        let t = caas_testkit::platform::seed_tenant(&platform, limits(), "p").await;
        let mut named = small(&image, "exec sleep 3600");
        named.user = Some("1234:2345".into());
        let named = platform
            .services()
            .deploy_app(
                &t.admin,
                &ProjectRef::new(&t.org, "p"),
                DeployApp::new("named", named),
            )
            .await
            .unwrap();
        let default = platform
            .services()
            .deploy_app(
                &t.admin,
                &ProjectRef::new(&t.org, "p"),
                DeployApp::new("default", small(&image, "exec sleep 3600")),
            )
            .await
            .unwrap();
        let named = container_of(&*runtime, named.id, &instance).await;
        let default = container_of(&*runtime, default.id, &instance).await;
        assert_eq!(
            exec_output(&*runtime, &named, "echo $(id -u):$(id -g)").await,
            "1234:2345"
        );
        assert_eq!(
            exec_output(&*runtime, &default, "id -u").await,
            "0",
            "without a user the image's own (root for busybox)"
        );
        // A user that is no user is refused before anything runs.
        let mut bad = small(&image, "exec sleep 3600");
        bad.user = Some("root;id".into());
        let e = platform
            .services()
            .deploy_app(
                &t.admin,
                &ProjectRef::new(&t.org, "p"),
                DeployApp::new("bad", bad),
            )
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("spec.user"), "{e}");
    })
    .await;
}
