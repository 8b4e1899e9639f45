//! The multi-node scenario on the three-node swarm of `scripts/swarm-env.sh` (c1 manager, c2
//! and c3 workers, each a dockerd in its own network namespace): a replicated app deployed
//! through `Platform` and reached through a real Traefik on the overlay network; a worker is
//! cut off under load: the app's tasks are rescheduled and it keeps answering, and a service
//! pinned to that worker with its volume neither moves to an empty volume elsewhere nor loses
//! data; then the app is updated twice under load without a failed request.
//!
//! The tests of this file share the cluster, so they run one at a time.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::container::{
    Config, CreateContainerOptions, NetworkingConfig, RemoveContainerOptions,
};
use bollard::models::{
    EndpointSettings, HostConfig, Mount as EngineMount, MountTypeEnum, PortBinding,
};
use bollard::network::CreateNetworkOptions;
use bytes::Bytes;
use caas_core::labels;
use caas_core::memory::InMemoryStore;
use caas_core::model::{
    EnvVar, HealthCheck, HealthProbe, PlanLimits, PortSpec, Protocol, ResourceLimits, ServiceSpec,
    VolumeMount,
};
use caas_core::platform::{ApplyMode, DeployApp, RolloutTiming, ServiceUpdate};
use caas_core::ports::proxy::{RouteRule, ServiceRoutes};
use caas_core::ports::runtime::{ContainerStatus, LabelSelector};
use caas_core::units::{GIB, MIB};
use caas_core::validate::{Hostname, ImageRef, Name};
use caas_core::{ContainerRuntime, Error, Platform, Proxy};
use caas_core::{ProjectRef, ServiceRef};
use caas_docker::DockerRuntime;
use caas_testkit::env;
use caas_testkit::load::{HttpLoad, get};
use caas_traefik::{Entrypoints, StaticConfig, TraefikProxy};
use futures::StreamExt;

/// One scenario at a time on the shared cluster.
static CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The worker that is cut off, where the pinned service and its volume live.
const LOST: &str = "c2";

struct Cluster {
    manager: String,
    nodes: Vec<String>,
    addr: String,
    script: String,
    image: String,
    traefik_image: String,
}

fn cluster() -> Option<Cluster> {
    Some(Cluster {
        manager: env::require("CAAS_TEST_SWARM_CLUSTER_MANAGER", "the swarm cluster")?,
        nodes: env::require("CAAS_TEST_SWARM_CLUSTER_NODES", "the swarm cluster's nodes")?
            .split(',')
            .map(String::from)
            .collect(),
        addr: env::require(
            "CAAS_TEST_SWARM_CLUSTER_ADDR",
            "the swarm manager's address",
        )?,
        script: env::require("CAAS_TEST_SWARM_SCRIPT", "scripts/swarm-env.sh")?,
        image: env::require("CAAS_TEST_BUSYBOX_IMAGE", "the local busybox image")?,
        traefik_image: env::require("CAAS_TEST_TRAEFIK_IMAGE", "the Traefik image")?,
    })
}

/// `scripts/swarm-env.sh node-down|node-up NODE`.
fn script(c: &Cluster, action: &str, node: &str) {
    let out = std::process::Command::new("bash")
        .args([&c.script, action, node])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "swarm-env.sh {action} {node}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Brings the lost worker back however the scenario ends.
struct NodeBack<'a>(&'a Cluster);

impl Drop for NodeBack<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .args([&self.0.script, "node-up", LOST])
            .output();
    }
}

/// Traefik as a plain container on the manager's node: on a local bridge for its published
/// ports and, through `attach_to_networks`, on every overlay network the runtime creates.
struct Edge {
    engine: DockerRuntime,
    name: String,
    network: String,
    web: u16,
    api: u16,
    dir: std::path::PathBuf,
    _tmp: tempfile::TempDir,
}

impl Edge {
    /// The proxy's name on the edge network, where its API listens.
    const API_ALIAS: &str = "caas-proxy-api";

    async fn start(c: &Cluster, run: &str) -> Edge {
        let engine = DockerRuntime::builder()
            .connection(common::unix(&c.manager))
            .build()
            .await
            .unwrap();
        let docker = engine.client().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("dynamic");
        std::fs::create_dir_all(&dir).unwrap();
        let name = format!("caas-swarm-test-traefik-{run}");
        let network = format!("caas-swarm-test-edge-{run}");
        docker
            .create_network(CreateNetworkOptions {
                name: network.clone(),
                driver: "bridge".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut cfg = StaticConfig::new(
            "0.0.0.0:8000".parse().unwrap(),
            "0.0.0.0:8081".parse().unwrap(),
        );
        // The proxy joins every project's overlay network: its API listens on its address on
        // the edge network alone (an alias it has only there), where the port published on
        // the cluster's address leads; tenants' tasks on the overlays do not reach it.
        cfg.api_host = Some(Self::API_ALIAS.into());
        cfg.api_beyond_loopback = true;
        cfg.file_provider_dir = Some("/dynamic".into());
        cfg.providers_throttle = Some(Duration::from_millis(100));
        cfg.log_level = "WARN".into();
        let publish = |p: &str| {
            (
                format!("{p}/tcp"),
                Some(vec![PortBinding {
                    host_ip: Some(c.addr.clone()),
                    host_port: Some(String::new()),
                }]),
            )
        };
        docker
            .create_container(
                Some(CreateContainerOptions {
                    name: name.clone(),
                    platform: None,
                }),
                Config {
                    image: Some(c.traefik_image.clone()),
                    cmd: Some({
                        let mut args = cfg.to_cli_args().unwrap();
                        // A task on a lost node does not refuse connections, it never
                        // answers: give up on its address quickly and try the next one the
                        // service name resolves to.
                        args.push("--serverstransport.forwardingtimeouts.dialtimeout=6s".into());
                        args
                    }),
                    exposed_ports: Some(HashMap::from([
                        ("8000/tcp".to_string(), HashMap::new()),
                        ("8081/tcp".to_string(), HashMap::new()),
                    ])),
                    networking_config: Some(NetworkingConfig {
                        endpoints_config: HashMap::from([(
                            network.clone(),
                            EndpointSettings {
                                aliases: Some(vec![Self::API_ALIAS.to_string()]),
                                ..Default::default()
                            },
                        )]),
                    }),
                    host_config: Some(HostConfig {
                        network_mode: Some(network.clone()),
                        port_bindings: Some(HashMap::from([publish("8000"), publish("8081")])),
                        mounts: Some(vec![EngineMount {
                            target: Some("/dynamic".into()),
                            source: Some(dir.display().to_string()),
                            typ: Some(MountTypeEnum::BIND),
                            read_only: Some(true),
                            ..Default::default()
                        }]),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        docker.start_container::<String>(&name, None).await.unwrap();
        let info = docker.inspect_container(&name, None).await.unwrap();
        let ports = info.network_settings.unwrap().ports.unwrap();
        let port = |p: &str| -> u16 {
            ports[p].as_ref().unwrap()[0]
                .host_port
                .as_ref()
                .unwrap()
                .parse()
                .unwrap()
        };
        let edge = Edge {
            engine,
            name,
            network,
            web: port("8000/tcp"),
            api: port("8081/tcp"),
            dir,
            _tmp: tmp,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(
            get(&c.addr, edge.api, "/ping", "localhost").await,
            Ok((200, _))
        ) {
            assert!(
                Instant::now() < deadline,
                "traefik did not start on the manager"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        edge
    }

    async fn stop(&self) {
        let docker = self.engine.client().unwrap();
        let _ = docker
            .remove_container(
                &self.name,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await;
        let _ = docker.remove_network(&self.network).await;
    }
}

/// Node engines by name (`c1`, `c2`, `c3`), from the sockets the env file lists.
async fn node_engines(c: &Cluster) -> BTreeMap<String, DockerRuntime> {
    let mut out = BTreeMap::new();
    for url in &c.nodes {
        let name = url
            .trim_end_matches("/docker.sock")
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let rt = DockerRuntime::builder()
            .connection(common::unix(url))
            .build()
            .await
            .unwrap();
        out.insert(name, rt);
    }
    out
}

/// Running (or, with `all`, any) task containers of a service, per node.
async fn containers_per_node(
    engines: &BTreeMap<String, DockerRuntime>,
    service_id: &str,
    all: bool,
) -> BTreeMap<String, usize> {
    let sel = LabelSelector::default().with("com.docker.swarm.service.id", service_id);
    let mut out = BTreeMap::new();
    for (name, rt) in engines {
        let n = rt
            .list_containers(&sel)
            .await
            .unwrap()
            .into_iter()
            .filter(|c| all || c.status == ContainerStatus::Running)
            .count();
        out.insert(name.clone(), n);
    }
    out
}

fn site_spec(image: &str) -> ServiceSpec {
    let mut spec = ServiceSpec::new(ImageRef::parse(image).unwrap());
    spec.command = Some(vec![
        "sh".into(),
        "-c".into(),
        "mkdir -p /www && echo \"v$VERSION $(hostname)\" > /www/index.html && exec httpd -f -p 8080 -h /www"
            .into(),
    ]);
    spec.env.push(EnvVar::plain("VERSION", "1").unwrap());
    spec.ports.push(PortSpec {
        container_port: 8080,
        protocol: Protocol::Tcp,
    });
    spec.health_check = Some(HealthCheck {
        probe: HealthProbe::Http {
            port: 8080,
            path: "/index.html".into(),
        },
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        retries: 2,
        start_period: Duration::ZERO,
    });
    spec.resources = ResourceLimits {
        cpu_millis: 200,
        memory_bytes: 32 * MIB,
        pids: 32,
    };
    spec.replicas = 3;
    spec
}

/// A stateful service that appends a line to its volume at every start.
fn notes_spec(image: &str) -> ServiceSpec {
    let mut spec = ServiceSpec::new(ImageRef::parse(image).unwrap());
    spec.command = Some(vec![
        "sh".into(),
        "-c".into(),
        "echo \"boot $(date +%s) $(hostname)\" >> /data/boots && exec sleep 3600".into(),
    ]);
    spec.volumes.push(VolumeMount {
        volume: Name::parse("notes").unwrap(),
        target: "/data".into(),
        read_only: false,
        size_bytes: 64 * MIB,
    });
    spec.resources = ResourceLimits {
        cpu_millis: 100,
        memory_bytes: 16 * MIB,
        pids: 16,
    };
    spec
}

fn tar_of(name: &str, data: &[u8]) -> caas_core::ports::runtime::ByteStream {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path(name).unwrap();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, data).unwrap();
    let bytes = Bytes::from(b.into_inner().unwrap());
    futures::stream::iter([Ok(bytes)]).boxed()
}

async fn read_file(rt: &dyn ContainerRuntime, volume: &str, path: &str) -> String {
    let mut s = rt.read_archive(volume, path).await.unwrap();
    let mut raw = Vec::new();
    while let Some(chunk) = s.next().await {
        raw.extend_from_slice(&chunk.unwrap());
    }
    let mut archive = tar::Archive::new(raw.as_slice());
    let mut out = String::new();
    for e in archive.entries().unwrap() {
        use std::io::Read;
        let mut e = e.unwrap();
        if e.header().entry_type().is_file() {
            e.read_to_string(&mut out).unwrap();
        }
    }
    out
}

async fn wait_for(what: &str, timeout: Duration, mut ok: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ok().await {
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replicated_app_updates_without_failed_requests_and_survives_losing_a_worker() {
    let _one = CLUSTER.lock().await;
    let Some(c) = cluster() else {
        return;
    };
    let _back = NodeBack(&c);
    // A previous run that died half-way may have left the worker cut off.
    script(&c, "node-up", LOST);
    let run = env::run_id();
    let edge = Edge::start(&c, &run).await;
    let mut builder = common::builder(&c.manager, &c.image)
        .storage_node(format!("caas-sw-{LOST}"))
        .attach_to_networks(edge.name.clone())
        .reservations(10, 50);
    for n in &c.nodes[1..] {
        builder = builder.node(common::unix(n));
    }
    let Some(swarm) = common::ready(builder, "the swarm cluster", &c.image).await else {
        return;
    };
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(swarm);
    let proxy = Arc::new(
        TraefikProxy::new(
            &edge.dir,
            format!("http://{}:{}", c.addr, edge.api),
            Entrypoints::default(),
        )
        .unwrap(),
    );
    let instance = format!("sw{run}");
    let platform = Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(runtime.clone())
        .proxy(proxy.clone())
        .instance(instance.clone())
        .stop_timeout(Duration::from_secs(2))
        .rollout(RolloutTiming::new(
            Duration::from_secs(120),
            Duration::from_secs(1),
            Duration::from_secs(2),
        ))
        .build()
        .unwrap();
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(scenario(
        &c, &platform, &runtime, &proxy, &edge,
    )))
    .await;

    // Cleanup whatever happened: services, networks, volumes of this instance, the proxy.
    script(&c, "node-up", LOST);
    let sel = LabelSelector::managed().with(labels::INSTANCE, &instance);
    for s in runtime.list_containers(&sel).await.unwrap_or_default() {
        let _ = runtime.remove_container(&s.id, true).await;
    }
    for n in runtime.list_networks(&sel).await.unwrap_or_default() {
        let _ = runtime.remove_network(&n.name).await;
    }
    for v in runtime.list_volumes(&sel).await.unwrap_or_default() {
        let _ = runtime.remove_volume(&v.name).await;
    }
    edge.stop().await;
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}

async fn scenario(
    c: &Cluster,
    platform: &Platform,
    runtime: &Arc<dyn ContainerRuntime>,
    proxy: &Arc<TraefikProxy>,
    edge: &Edge,
) {
    let engines = node_engines(c).await;
    let tenant = caas_testkit::platform::seed_tenant(
        platform,
        PlanLimits {
            cpu_millis: 8000,
            memory_bytes: 8 * GIB,
            storage_bytes: 10 * GIB,
            max_containers: 20,
            max_projects: 2,
            max_domains: 20,
            max_pids: 1024,
            backup_storage_bytes: 10 * 1024 * 1024 * 1024,
        },
        "shop",
    )
    .await;
    let (admin, org) = (&tenant.admin, tenant.org.as_str());

    let t = Instant::now();
    let site = platform
        .services()
        .deploy_app(
            admin,
            &ProjectRef::new(org, "shop"),
            DeployApp::new("site", site_spec(&c.image)),
        )
        .await
        .unwrap();
    let notes = platform
        .services()
        .deploy_app(
            admin,
            &ProjectRef::new(org, "shop"),
            DeployApp::new("notes", notes_spec(&c.image)),
        )
        .await
        .unwrap();
    eprintln!("deployed 3 + 1 replicas in {:?}", t.elapsed());
    let container = |svc: caas_core::ServiceId| {
        let runtime = runtime.clone();
        async move {
            runtime
                .list_containers(&LabelSelector::managed().with(labels::SERVICE, svc))
                .await
                .unwrap()
                .into_iter()
                .next()
                .unwrap()
                .id
        }
    };
    let site_id = container(site.id).await;
    let notes_id = container(notes.id).await;
    let spread = containers_per_node(&engines, &site_id, false).await;
    assert_eq!(spread.values().sum::<usize>(), 3, "{spread:?}");
    assert!(
        spread.values().filter(|n| **n > 0).count() >= 2,
        "the replicas spread over the nodes: {spread:?}"
    );
    let pinned = containers_per_node(&engines, &notes_id, true).await;
    assert_eq!(
        pinned[LOST], 1,
        "the stateful service runs where its volume is: {pinned:?}"
    );

    // Route a host to the app: Traefik resolves the service name to its healthy tasks.
    let host = format!("{org}.swarm.test");
    let upstreams: Vec<String> = runtime
        .upstream_hosts(&site_id)
        .await
        .unwrap()
        .into_iter()
        .map(|h| format!("http://{h}:8080"))
        .collect();
    assert_eq!(upstreams.len(), 1, "{upstreams:?}");
    let routes = ServiceRoutes {
        key: site.id.to_string(),
        rules: vec![RouteRule {
            host: Hostname::parse(host.clone()).unwrap().into(),
            path_prefix: "/".into(),
            strip_prefix: false,
            tls: false,
        }],
        upstreams,
    };
    let g = proxy.apply(&routes).await.unwrap();
    proxy
        .wait_applied(&routes.key, g, Duration::from_secs(30))
        .await
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    wait_for(
        "every replica answering through Traefik",
        Duration::from_secs(60),
        async || {
            if let Ok((200, body)) = get(&c.addr, edge.web, "/index.html", &host).await {
                seen.insert(body.trim().to_string());
            }
            seen.len() >= 3
        },
    )
    .await;
    assert!(seen.iter().all(|b| b.starts_with("v1 ")), "{seen:?}");

    // Data on the pinned volume, written before anything goes wrong.
    let volume = runtime
        .list_volumes(&LabelSelector::managed().with(labels::VOLUME, "notes"))
        .await
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
        .name;
    runtime
        .write_archive(
            &volume,
            "/",
            tar_of("marker.txt", b"written before the loss\n"),
        )
        .await
        .unwrap();

    // 1. Lose a worker: cut c2 off the network while the load goes on. Swarm spreads a
    // service's replicas evenly, so one of the three runs there.
    let before = containers_per_node(&engines, &site_id, false).await;
    eprintln!("site replicas per node before the loss: {before:?}");
    assert_eq!(
        before[LOST], 1,
        "one replica on the node about to be lost: {before:?}"
    );
    let boots_before = read_file(runtime.as_ref(), &volume, "boots").await;
    assert_eq!(boots_before.lines().count(), 1, "{boots_before}");
    let load = HttpLoad::start(&c.addr, edge.web, &host, "/index.html", 8);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cut = Instant::now();
    script(c, "node-down", LOST);
    // Rescheduled: three running replicas on the nodes that are left.
    let others: Vec<&String> = engines.keys().filter(|n| n.as_str() != LOST).collect();
    let rescheduled = wait_for(
        "the replicas rescheduled",
        Duration::from_secs(120),
        async || {
            let now = containers_per_node(&engines, &site_id, false).await;
            others.iter().map(|n| now[*n]).sum::<usize>() == 3
        },
    )
    .await;
    let (ok_during, failed_during) = load.counts();
    // Once rescheduled, every request must succeed again.
    let steady = wait_for("no failures for 5 s", Duration::from_secs(90), async || {
        let (_, f0) = load.counts();
        tokio::time::sleep(Duration::from_secs(5)).await;
        load.counts().1 == f0
    })
    .await;
    let (ok, failed, failures) = load.finish().await.tally(|b| b.starts_with('v'));
    eprintln!(
        "worker {LOST} cut off: replicas rescheduled after {rescheduled:?}; until then \
         {ok_during} served / {failed_during} failed; steady again {steady:?} later; total \
         {ok} served / {failed} failed (first failures: {:?})",
        &failures[..failures.len().min(3)]
    );
    assert!(
        ok_during > 100,
        "the app kept answering while a worker was lost"
    );
    // Measured here: none failed (a dead task's address costs a 2 s dial, then the next).
    assert!(
        failed * 100 <= ok,
        "more than 1% of the requests failed while a worker was lost: {failed} of {ok}"
    );
    let (status, _) = get(&c.addr, edge.web, "/index.html", &host).await.unwrap();
    assert_eq!(status, 200);

    // The pinned service did not move to an empty volume elsewhere.
    let pinned = containers_per_node(&engines, &notes_id, true).await;
    for n in &others {
        assert_eq!(pinned[*n], 0, "the pinned service ran on {n}: {pinned:?}");
    }
    let notes_info = runtime
        .inspect_container_opt(&notes_id)
        .await
        .unwrap()
        .unwrap();
    eprintln!(
        "pinned service while its node is gone: {:?}",
        notes_info.status
    );
    assert_ne!(
        notes_info.status,
        ContainerStatus::Running,
        "the pinned service waits for its node instead of running elsewhere"
    );

    // 2. The worker comes back: the pinned service runs there again, with its data.
    let back = Instant::now();
    script(c, "node-up", LOST);
    let recovered = wait_for(
        "the pinned service running again",
        Duration::from_secs(120),
        async || {
            matches!(
                runtime.inspect_container_opt(&notes_id).await,
                Ok(Some(i)) if i.status == ContainerStatus::Running
            ) && containers_per_node(&engines, &notes_id, false).await[LOST] == 1
        },
    )
    .await;
    eprintln!(
        "worker back after {:?} away; pinned service running again {recovered:?} later",
        back.duration_since(cut)
    );
    let marker = read_file(runtime.as_ref(), &volume, "marker.txt").await;
    assert_eq!(marker, "written before the loss\n");
    let boots = read_file(runtime.as_ref(), &volume, "boots").await;
    eprintln!("boots on the pinned volume:\n{boots}");
    assert!(
        boots.starts_with(&boots_before) && boots.lines().count() >= 2,
        "started again on the same volume, nothing lost: {boots}"
    );
    let (status, _) = get(&c.addr, edge.web, "/index.html", &host).await.unwrap();
    assert_eq!(status, 200);

    // 3. An env update under load: the platform's rolling update (a new service, routes
    // switched old+new → new through the file provider, the old one drained and removed).
    let load = HttpLoad::start(&c.addr, edge.web, &host, "/index.html", 8);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = Instant::now();
    let mut u = ServiceUpdate::default();
    u.env_set.push(EnvVar::plain("VERSION", "2").unwrap());
    let r = platform
        .services()
        .update(admin, &ServiceRef::new(org, "shop", "site"), u, false)
        .await
        .unwrap();
    assert_eq!(r.mode, ApplyMode::Rolling);
    let env_update = t.elapsed();
    // 4. A resource update under load: Swarm's own start-first, health-gated rolling update
    // of the same service.
    let t = Instant::now();
    let mut u = ServiceUpdate::default();
    u.resources = Some(ResourceLimits {
        cpu_millis: 250,
        memory_bytes: 48 * MIB,
        pids: 48,
    });
    let r = platform
        .services()
        .update(admin, &ServiceRef::new(org, "shop", "site"), u, false)
        .await
        .unwrap();
    assert_eq!(r.mode, ApplyMode::Rolling, "rolled by Swarm: {r:?}");
    let limits_update = t.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (ok, failed, failures) = load.finish().await.tally(|b| b.starts_with('v'));
    eprintln!(
        "env update (platform rollout) {env_update:?}, limits update (Swarm rolling update) \
         {limits_update:?}: {ok} requests served, {failed} failed"
    );
    assert_eq!(
        failed,
        0,
        "failed requests: {:?}",
        &failures[..failures.len().min(10)]
    );
    assert!(ok > 100, "the load loop ran ({ok} requests)");
    let site_id = container(site.id).await;
    let info = runtime
        .inspect_container_opt(&site_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.limits.memory_bytes, 48 * MIB);
    assert_eq!(info.status, ContainerStatus::Running);
    let (status, body) = get(&c.addr, edge.web, "/index.html", &host).await.unwrap();
    assert_eq!(status, 200);
    assert!(body.starts_with("v2 "), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_add_up_over_nodes_and_are_unsupported_for_unknown_nodes() {
    let _one = CLUSTER.lock().await;
    let Some(c) = cluster() else {
        return;
    };
    let _back = NodeBack(&c);
    script(&c, "node-up", LOST);
    let mut builder = common::builder(&c.manager, &c.image).reservations(0, 0);
    for n in &c.nodes[1..] {
        builder = builder.node(common::unix(n));
    }
    let Some(all) = common::ready(builder, "the swarm cluster", &c.image).await else {
        return;
    };
    let manager_only = common::builder(&c.manager, &c.image).build().await.unwrap();
    let fx = caas_testkit::runtime::RuntimeFixture::new(Arc::new(all.clone()), c.image.clone());
    fx.scoped(async {
        let mut spec = fx.container_spec("spread");
        spec.replicas = 3;
        let id = all.create_container(&spec).await.unwrap().id().to_string();
        all.start_container(&id).await.unwrap();
        let stats = all.stats_once(&id).await.unwrap();
        assert_eq!(stats.memory_limit_bytes, 3 * spec.limits.memory_bytes);
        assert!(stats.pids >= 3, "{stats:?}");
        let engines = node_engines(&c).await;
        let spread = containers_per_node(&engines, &id, false).await;
        if spread.iter().any(|(n, k)| n != "c1" && *k > 0) {
            match manager_only.stats_once(&id).await {
                Err(Error::Unsupported { feature }) => {
                    assert!(feature.contains("builder().node"), "{feature}");
                }
                other => panic!("stats of a task on an unknown node: {other:?}"),
            }
        } else {
            panic!("no replica left the manager's node: {spread:?}");
        }
    })
    .await;
}
