//! [`SwarmRuntime`] and its builder: a manager, the node engines it may reach, and how
//! services are made.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{LocalNodeState, Service, ServiceSpec};
use bollard::service::{InspectServiceOptions, UpdateServiceOptions};

use caas_core::ports::runtime::ContainerRuntime;
use caas_core::{Error, Result};
use caas_docker::{DockerConnection, DockerRuntime};

use crate::api::{EngineApi, Node, Task};
use crate::error::{SERVICE, is_status, map_err, message_of};
use crate::spec::ServiceSettings;

/// The default most replicas per service.
pub const DEFAULT_MAX_REPLICAS: u32 = 64;

/// Builds a [`SwarmRuntime`].
#[derive(Debug, Clone)]
pub struct SwarmRuntimeBuilder {
    manager: DockerConnection,
    nodes: Vec<DockerConnection>,
    storage_node: Option<String>,
    attach: Vec<String>,
    helper_image: String,
    daemons_enforce_nnp: bool,
    max_replicas: u32,
    converge_timeout: Duration,
    settings: ServiceSettings,
}

impl Default for SwarmRuntimeBuilder {
    fn default() -> Self {
        Self {
            manager: DockerConnection::default(),
            nodes: Vec::new(),
            storage_node: None,
            attach: Vec::new(),
            helper_image: "busybox:stable".into(),
            daemons_enforce_nnp: false,
            max_replicas: DEFAULT_MAX_REPLICAS,
            converge_timeout: Duration::from_secs(60),
            settings: ServiceSettings {
                reserve_cpu_percent: 100,
                reserve_memory_percent: 100,
                update_monitor: Duration::from_secs(5),
            },
        }
    }
}

impl SwarmRuntimeBuilder {
    /// Where a manager of the swarm listens (default: `/var/run/docker.sock`). Unix socket or
    /// plain TCP.
    pub fn manager(mut self, connection: DockerConnection) -> Self {
        self.manager = connection;
        self
    }

    /// The engine of another node (the manager's own node is always known). Node engines
    /// serve what only a node can: stats of its tasks, its volumes and their archives, its
    /// images and its containers' events. Each is identified by asking it for its node id.
    pub fn node(mut self, connection: DockerConnection) -> Self {
        self.nodes.push(connection);
        self
    }

    /// The node (host name or node id) where volumes are created; services mounting them are
    /// pinned there. Default: the manager's node. Its engine must be known (see
    /// [`SwarmRuntimeBuilder::node`]).
    pub fn storage_node(mut self, node: impl Into<String>) -> Self {
        self.storage_node = Some(node.into());
        self
    }

    /// A container on the manager's engine (typically the Traefik that routes to services)
    /// that joins every network this runtime creates and leaves it before it is removed, so
    /// it reaches the tasks on their overlay networks.
    pub fn attach_to_networks(mut self, container: impl Into<String>) -> Self {
        self.attach.push(container.into());
        self
    }

    /// The image of the short-lived helper containers that copy archives in and out of
    /// volumes on a node; it must be present on the nodes (default `busybox:stable`).
    pub fn helper_image(mut self, image: impl Into<String>) -> Self {
        self.helper_image = image.into();
        self
    }

    /// Declares that every node's daemon runs with `--no-new-privileges` (daemon.json
    /// `"no-new-privileges": true`). Managers older than API 1.46 (Docker 27) cannot set
    /// no-new-privileges per service, and no engine reports the daemon setting, so without
    /// this declaration creates are refused there with `Unsupported`.
    pub fn daemons_enforce_no_new_privileges(mut self, on: bool) -> Self {
        self.daemons_enforce_nnp = on;
        self
    }

    /// Most replicas one service may ask for (default [`DEFAULT_MAX_REPLICAS`]).
    pub fn max_replicas(mut self, n: u32) -> Self {
        self.max_replicas = n.max(1);
        self
    }

    /// How long starts, stops, restarts and rolled updates wait for the tasks to converge
    /// (default 60 s).
    pub fn converge_timeout(mut self, timeout: Duration) -> Self {
        self.converge_timeout = timeout;
        self
    }

    /// The share of the limits reserved for each task, in percent (default 100 and 100: the
    /// scheduler only places a task where its limits fit). Lower values overcommit nodes.
    pub fn reservations(mut self, cpu_percent: u8, memory_percent: u8) -> Self {
        self.settings.reserve_cpu_percent = cpu_percent.min(100);
        self.settings.reserve_memory_percent = memory_percent.min(100);
        self
    }

    /// How long Swarm watches each replaced task during a rolling update before going on;
    /// a failure in that window rolls the update back (default 5 s).
    pub fn update_monitor(mut self, monitor: Duration) -> Self {
        self.settings.update_monitor = monitor;
        self
    }

    /// Connects to the manager, checks it is an active swarm manager, and identifies the node
    /// engines. Errors: `InvalidInput` (configuration, unknown storage node), `Unsupported`
    /// (TLS manager), `Unavailable` (manager not answering or not a manager).
    pub async fn build(self) -> Result<SwarmRuntime> {
        let manager = DockerRuntime::builder()
            .connection(self.manager.clone())
            .helper_image(self.helper_image.clone())
            .build()
            .await?;
        let docker = manager.client()?;
        let version = docker.client_version();
        let api = EngineApi::new(&self.manager, &version.to_string())?;
        let info = docker.info().await.map_err(map_err)?;
        let swarm = info.swarm.unwrap_or_default();
        if swarm.local_node_state != Some(LocalNodeState::ACTIVE)
            || swarm.control_available != Some(true)
        {
            return Err(Error::unavailable(
                SERVICE,
                format!(
                    "the engine at {:?} is not an active swarm manager (state {:?}); run \
                     `docker swarm init` there or point SwarmRuntime at a manager",
                    self.manager, swarm.local_node_state
                ),
            ));
        }
        let manager_node = swarm.node_id.unwrap_or_default();
        let per_service_nnp = (version.major_version, version.minor_version) >= (1, 46);
        let mut engines = vec![NodeEngine {
            runtime: manager.clone(),
            node_id: Some(manager_node.clone()),
        }];
        for conn in &self.nodes {
            let runtime = DockerRuntime::builder()
                .connection(conn.clone())
                .helper_image(self.helper_image.clone())
                .build_lazy()?;
            engines.push(NodeEngine {
                runtime,
                node_id: None,
            });
        }
        let rt = SwarmRuntime {
            inner: Arc::new(Inner {
                manager,
                api,
                manager_node: manager_node.clone(),
                engines: Mutex::new(engines),
                storage_node: Mutex::new(manager_node),
                attach: self.attach,
                nnp: per_service_nnp || self.daemons_enforce_nnp,
                daemons_enforce_nnp: self.daemons_enforce_nnp,
                max_replicas: self.max_replicas,
                converge_timeout: self.converge_timeout,
                settings: self.settings,
            }),
        };
        rt.identify_engines().await;
        if let Some(wanted) = self.storage_node {
            let nodes = rt.inner.api.nodes().await?;
            let node = nodes
                .iter()
                .find(|n| n.id == wanted || n.description.hostname == wanted)
                .ok_or_else(|| {
                    Error::invalid(
                        "storage_node",
                        format!("no node '{wanted}' in the swarm (give a host name or node id)"),
                    )
                })?;
            if rt.engine(&node.id).await.is_none() {
                return Err(Error::invalid(
                    "storage_node",
                    format!(
                        "node '{wanted}' has no known engine; add it with \
                         SwarmRuntime::builder().node(...)"
                    ),
                ));
            }
            *lock(&rt.inner.storage_node) = node.id.clone();
        }
        Ok(rt)
    }
}

/// One node's engine, identified by its swarm node id once it answered.
#[derive(Debug, Clone)]
struct NodeEngine {
    runtime: DockerRuntime,
    node_id: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) manager: DockerRuntime,
    pub(crate) api: EngineApi,
    pub(crate) manager_node: String,
    engines: Mutex<Vec<NodeEngine>>,
    pub(crate) storage_node: Mutex<String>,
    pub(crate) attach: Vec<String>,
    pub(crate) nnp: bool,
    pub(crate) daemons_enforce_nnp: bool,
    pub(crate) max_replicas: u32,
    pub(crate) converge_timeout: Duration,
    pub(crate) settings: ServiceSettings,
}

/// The [`ContainerRuntime`] port on Docker Swarm: every container the platform asks for is a
/// replicated Swarm service, so it runs on any node, with as many replicas as its spec says.
/// See the crate documentation for the mapping and what is `Unsupported`.
#[derive(Debug, Clone)]
pub struct SwarmRuntime {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SwarmRuntime {
    /// Starts building a runtime.
    pub fn builder() -> SwarmRuntimeBuilder {
        SwarmRuntimeBuilder::default()
    }

    /// The runtime on the manager's own engine (for what the port does not cover).
    pub fn manager_engine(&self) -> &DockerRuntime {
        &self.inner.manager
    }

    /// The swarm node id of the manager this runtime talks to.
    pub fn manager_node_id(&self) -> &str {
        &self.inner.manager_node
    }

    /// The node id volumes are created on.
    pub fn storage_node_id(&self) -> String {
        lock(&self.inner.storage_node).clone()
    }

    pub(crate) fn docker(&self) -> Result<Docker> {
        self.inner.manager.client()
    }

    /// Asks every not yet identified node engine for its node id (engines that do not answer
    /// are asked again next time).
    async fn identify_engines(&self) {
        let pending: Vec<(usize, DockerRuntime)> = lock(&self.inner.engines)
            .iter()
            .enumerate()
            .filter(|(_, e)| e.node_id.is_none())
            .map(|(i, e)| (i, e.runtime.clone()))
            .collect();
        for (i, rt) in pending {
            let id = match rt.client() {
                Ok(d) => match d.info().await {
                    Ok(info) => info.swarm.and_then(|s| s.node_id).filter(|s| !s.is_empty()),
                    Err(e) => {
                        tracing::warn!(error = %e, "a swarm node engine does not answer yet");
                        None
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "a swarm node engine cannot be opened yet");
                    None
                }
            };
            if let Some(id) = id {
                lock(&self.inner.engines)[i].node_id = Some(id);
            }
        }
    }

    /// The engine of a node, when known.
    pub(crate) async fn engine(&self, node_id: &str) -> Option<DockerRuntime> {
        let find = |rt: &Self| {
            lock(&rt.inner.engines)
                .iter()
                .find(|e| e.node_id.as_deref() == Some(node_id))
                .map(|e| e.runtime.clone())
        };
        if let Some(e) = find(self) {
            return Some(e);
        }
        self.identify_engines().await;
        find(self)
    }

    /// Every identified node engine, with its node id.
    pub(crate) async fn engines(&self) -> Vec<(String, DockerRuntime)> {
        self.identify_engines().await;
        lock(&self.inner.engines)
            .iter()
            .filter_map(|e| e.node_id.clone().map(|id| (id, e.runtime.clone())))
            .collect()
    }

    /// The engines of the nodes the scheduler may use now (ready and active).
    pub(crate) async fn schedulable_engines(&self) -> Result<Vec<(Node, DockerRuntime)>> {
        let nodes = self.inner.api.nodes().await?;
        let engines = self.engines().await;
        Ok(nodes
            .into_iter()
            .filter(|n| n.status.state == "ready" && n.spec.availability == "active")
            .filter_map(|n| {
                let rt = engines.iter().find(|(id, _)| *id == n.id)?.1.clone();
                Some((n, rt))
            })
            .collect())
    }

    /// A service by id or exact name; `None` when there is none.
    pub(crate) async fn service_opt(&self, id: &str) -> Result<Option<Service>> {
        match self
            .docker()?
            .inspect_service(id, None::<InspectServiceOptions>)
            .await
        {
            // The engine also matches id prefixes: accept only an exact id or name.
            Ok(s)
                if s.id.as_deref() == Some(id)
                    || s.spec.as_ref().and_then(|sp| sp.name.as_deref()) == Some(id) =>
            {
                Ok(Some(s))
            }
            Ok(_) => self.service_by_label_name(id).await,
            Err(e) if is_status(&e, 404) => self.service_by_label_name(id).await,
            Err(e) => Err(map_err(e)),
        }
    }

    /// A service created for a container name too long for Swarm (see `spec::service_name`).
    async fn service_by_label_name(&self, name: &str) -> Result<Option<Service>> {
        if crate::spec::service_name(name) == name {
            return Ok(None);
        }
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{}={name}", crate::spec::LABEL_NAME)],
        )]);
        let list = self
            .docker()?
            .list_services(Some(bollard::service::ListServicesOptions {
                filters,
                status: false,
            }))
            .await
            .map_err(map_err)?;
        Ok(list.into_iter().next())
    }

    /// A service that must exist. Errors: `NotFound`, `Unavailable`.
    pub(crate) async fn service(&self, id: &str) -> Result<Service> {
        self.service_opt(id)
            .await?
            .ok_or_else(|| Error::not_found("container", id))
    }

    /// Changes a service's spec with `change`, retrying when another update got there first.
    /// Errors: `NotFound`, `InvalidInput` (refused spec), `Unavailable`.
    pub(crate) async fn update_service(
        &self,
        id: &str,
        change: impl Fn(&mut ServiceSpec),
    ) -> Result<()> {
        let mut attempt = 0;
        loop {
            let svc = self.service(id).await?;
            let version = svc.version.as_ref().and_then(|v| v.index).unwrap_or(0);
            let mut spec = svc.spec.clone().unwrap_or_default();
            change(&mut spec);
            let sid = svc.id.clone().unwrap_or_default();
            let r = self
                .docker()?
                .update_service(
                    &sid,
                    spec,
                    UpdateServiceOptions {
                        version,
                        ..Default::default()
                    },
                    None,
                )
                .await;
            match r {
                Ok(_) => return Ok(()),
                Err(e)
                    if attempt < 5
                        && message_of(&e).is_some_and(|m| m.contains("out of sequence")) =>
                {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) if is_status(&e, 404) => return Err(Error::not_found("container", id)),
                Err(e) => return Err(map_err(e)),
            }
        }
    }

    /// Tasks of a service.
    pub(crate) async fn tasks(&self, service_id: &str) -> Result<Vec<Task>> {
        self.inner.api.tasks_of(service_id).await
    }

    /// Polls `done` every 200 ms until it says yes or the converge timeout passes; returns
    /// whether it said yes.
    pub(crate) async fn converge<F, Fut>(&self, extra: Duration, mut done: F) -> Result<bool>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<bool>>,
    {
        let deadline = Instant::now() + self.inner.converge_timeout + extra;
        loop {
            if done().await? {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Task containers of a service still present on the known node engines.
    pub(crate) async fn leftover_containers(&self, service_id: &str) -> Result<usize> {
        use caas_core::ports::runtime::LabelSelector;
        let selector = LabelSelector::default().with("com.docker.swarm.service.id", service_id);
        let mut n = 0;
        for (_, rt) in self.engines().await {
            match rt.list_containers(&selector).await {
                Ok(cs) => n += cs.len(),
                // A node that cannot be asked cannot hold the removal up.
                Err(e) if e.is_unavailable() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}
