//! Containers of the port as Swarm services: create, start (scale up), stop (scale to zero),
//! restart (Swarm's rolling replacement), remove, inspect, limits, logs, stats, events.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{Service, ServiceUpdateStatusStateEnum};
use bollard::service::ListServicesOptions;
use chrono::Utc;
use futures::stream::{BoxStream, StreamExt};

use caas_core::model::ResourceLimits;
use caas_core::ports::runtime::{
    AppliedSecurity, ContainerInfo, ContainerSpec, ContainerStatus, ContainerSummary,
    CreateOutcome, LabelSelector, LogLine, LogOptions, RawStats, RemoveOutcome, RuntimeEvent,
    StartOutcome, StopOutcome, UpdateOutcome,
};
use caas_core::{ContainerRuntime, Error, Result, labels};

use crate::api::{LimitsLite, Task};
use crate::error::{SERVICE, is_status, map_err};
use crate::runtime::SwarmRuntime;
use crate::spec::{self, LABEL_STOPPED_AT, Parts};
use crate::state::{self, View};

fn id_of(svc: &Service) -> String {
    svc.id.clone().unwrap_or_default()
}

fn set_replicas(spec: &mut bollard::models::ServiceSpec, n: i64) {
    let mode = spec.mode.get_or_insert_with(Default::default);
    mode.replicated
        .get_or_insert_with(Default::default)
        .replicas = Some(n);
}

/// Where a rolling update stands, to tell our update's outcome from an earlier one's.
fn update_mark(svc: &Service) -> Option<String> {
    svc.update_status
        .as_ref()
        .and_then(|u| u.started_at)
        .map(|t| t.to_rfc3339())
}

fn rolled_back(svc: &Service, before: &Option<String>) -> Option<String> {
    let u = svc.update_status.as_ref()?;
    if update_mark(svc) == *before {
        return None;
    }
    matches!(
        u.state,
        Some(
            ServiceUpdateStatusStateEnum::ROLLBACK_STARTED
                | ServiceUpdateStatusStateEnum::ROLLBACK_PAUSED
                | ServiceUpdateStatusStateEnum::ROLLBACK_COMPLETED
                | ServiceUpdateStatusStateEnum::PAUSED
        )
    )
    .then(|| u.message.clone().unwrap_or_else(|| "update failed".into()))
}

impl SwarmRuntime {
    /// The service and its current state.
    async fn observe(&self, id: &str) -> Result<Option<(Service, View)>> {
        let Some(svc) = self.service_opt(id).await? else {
            return Ok(None);
        };
        let tasks = self.tasks(&id_of(&svc)).await?;
        let view = match Parts::of(&svc) {
            Some(p) => state::view(&svc, &p, &tasks),
            None => return Ok(None),
        };
        Ok(Some((svc, view)))
    }

    pub(crate) async fn create(&self, spec: &ContainerSpec) -> Result<CreateOutcome> {
        let max = self.inner.max_replicas;
        if spec.replicas == 0 || spec.replicas > max {
            return Err(Error::invalid(
                "spec.replicas",
                format!(
                    "{} replicas asked; this Swarm runtime runs 1 to {max} per service (raise it \
                     with SwarmRuntime::builder().max_replicas(..))",
                    spec.replicas
                ),
            ));
        }
        spec.limits.validate().map_err(|e| e.in_field("spec"))?;
        if !self.inner.nnp {
            return Err(Error::unsupported(
                "swarm: no-new-privileges cannot be set per service on this manager (API older \
                 than 1.46, Docker 27); start every node's dockerd with --no-new-privileges \
                 (daemon.json \"no-new-privileges\": true) and declare it with \
                 SwarmRuntime::builder().daemons_enforce_no_new_privileges(true)",
            ));
        }
        if let Some(existing) = self.service_opt(&spec.name).await? {
            return self.existing_outcome(spec, &existing);
        }
        for n in &spec.networks {
            if self.inspect_network_opt(&n.network).await?.is_none() {
                return Err(Error::not_found("network", &n.network));
            }
        }
        let node = self.placement_for(spec).await?;
        self.check_image(&spec.image, node.as_deref()).await?;
        let service = spec::service_spec(spec, node.as_deref(), &self.inner.settings);
        match self.docker()?.create_service(service, None).await {
            Ok(r) => Ok(CreateOutcome::Created(r.id.unwrap_or_default())),
            Err(e) if is_status(&e, 409) => match self.service_opt(&spec.name).await? {
                Some(existing) => self.existing_outcome(spec, &existing),
                None => Err(map_err(e)),
            },
            Err(e) => Err(map_err(e)),
        }
    }

    fn existing_outcome(&self, spec: &ContainerSpec, existing: &Service) -> Result<CreateOutcome> {
        let theirs = existing
            .spec
            .as_ref()
            .and_then(|s| s.labels.as_ref())
            .and_then(|l| l.get(labels::DEPLOYMENT));
        if spec.labels.contains_key(labels::DEPLOYMENT)
            && theirs == spec.labels.get(labels::DEPLOYMENT)
        {
            Ok(CreateOutcome::AlreadyExists(id_of(existing)))
        } else {
            Err(Error::conflict(format!(
                "a container named '{}' already exists",
                spec.name
            )))
        }
    }

    /// The node a service must run on: the one holding its volumes, if it mounts any.
    async fn placement_for(&self, spec: &ContainerSpec) -> Result<Option<String>> {
        let mut node: Option<(String, String)> = None;
        for m in &spec.mounts {
            let (home, _) = self.volume_home(&m.volume).await?;
            match &node {
                Some((n, other)) if *n != home => {
                    return Err(Error::invalid(
                        "spec.mounts",
                        format!(
                            "volumes '{other}' and '{}' live on different nodes; the instances \
                             of a service run next to their volumes, on one node",
                            m.volume
                        ),
                    ));
                }
                Some(_) => {}
                None => node = Some((home, m.volume.clone())),
            }
        }
        Ok(node.map(|(n, _)| n))
    }

    /// The image must be on the pinned node, or on at least one schedulable node.
    async fn check_image(&self, image: &str, node: Option<&str>) -> Result<()> {
        if let Some(node) = node {
            if let Some(rt) = self.engine(node).await {
                if !rt.image_present(image).await? {
                    return Err(Error::not_found(
                        "image",
                        format!("{image} (not on node {node}, where its volumes are)"),
                    ));
                }
            }
            return Ok(());
        }
        for (_, rt) in self.schedulable_engines().await? {
            if rt.image_present(image).await? {
                return Ok(());
            }
        }
        Err(Error::not_found(
            "image",
            format!("{image} (on no schedulable node; pull it first)"),
        ))
    }

    pub(crate) async fn start(&self, id: &str) -> Result<StartOutcome> {
        let svc = self.service(id).await?;
        let parts = Parts::of(&svc).ok_or_else(|| Error::not_found("container", id))?;
        if parts.scale() > 0 {
            return Ok(StartOutcome::AlreadyRunning);
        }
        let wanted = parts.wanted();
        let sid = id_of(&svc);
        self.update_service(&sid, |s| {
            set_replicas(s, wanted);
            if let Some(l) = s.labels.as_mut() {
                l.remove(LABEL_STOPPED_AT);
            }
        })
        .await?;
        // Like `docker service create` without --detach: return once the tasks run (or fail).
        self.converge(Duration::ZERO, || async {
            Ok(match self.observe(&sid).await? {
                Some((_, v)) => matches!(
                    v.status,
                    ContainerStatus::Running | ContainerStatus::Restarting
                ),
                None => true,
            })
        })
        .await?;
        Ok(StartOutcome::Started)
    }

    pub(crate) async fn stop(&self, id: &str, timeout: Duration) -> Result<StopOutcome> {
        let svc = self.service(id).await?;
        let parts = Parts::of(&svc).ok_or_else(|| Error::not_found("container", id))?;
        if parts.scale() == 0 {
            return Ok(StopOutcome::AlreadyStopped);
        }
        let sid = id_of(&svc);
        let now = Utc::now().to_rfc3339();
        // The tasks stop with the grace period the container was created with.
        self.update_service(&sid, |s| {
            set_replicas(s, 0);
            s.labels
                .get_or_insert_with(HashMap::new)
                .insert(LABEL_STOPPED_AT.into(), now.clone());
        })
        .await?;
        self.converge(timeout, || async {
            let tasks = self.tasks(&sid).await?;
            Ok(!tasks.iter().any(|t| t.is_running() || t.is_starting()))
        })
        .await?;
        Ok(StopOutcome::Stopped)
    }

    pub(crate) async fn restart(&self, id: &str) -> Result<()> {
        let svc = self.service(id).await?;
        let parts = Parts::of(&svc).ok_or_else(|| Error::not_found("container", id))?;
        if parts.scale() == 0 {
            self.start(id).await?;
            return Ok(());
        }
        let force = parts
            .spec
            .task_template
            .as_ref()
            .and_then(|t| t.force_update)
            .unwrap_or(0)
            + 1;
        let sid = id_of(&svc);
        let mark = update_mark(&svc);
        self.update_service(&sid, |s| {
            s.task_template
                .get_or_insert_with(Default::default)
                .force_update = Some(force);
        })
        .await?;
        self.await_generation(&sid, mark, |t| t.spec.force_update == force, "restart")
            .await
    }

    /// Waits until every current task of a service is of the new generation and running, as
    /// many as asked. Errors: `Conflict` (Swarm rolled the update back), `Unavailable` (no
    /// convergence in time).
    async fn await_generation(
        &self,
        sid: &str,
        mark: Option<String>,
        new: impl Fn(&Task) -> bool,
        what: &str,
    ) -> Result<()> {
        let failure = std::sync::Mutex::new(None);
        let converged = self
            .converge(Duration::ZERO, || async {
                let svc = self.service(sid).await?;
                if let Some(why) = rolled_back(&svc, &mark) {
                    *crate::runtime::lock(&failure) = Some(why);
                    return Ok(true);
                }
                let scale = Parts::of(&svc).map(|p| p.scale()).unwrap_or(0);
                let tasks = self.tasks(sid).await?;
                let current: Vec<&Task> = tasks
                    .iter()
                    .filter(|t| t.desired_state == "running")
                    .collect();
                let fresh = current.iter().filter(|t| new(t) && t.is_running()).count();
                Ok(current.iter().all(|t| new(t)) && fresh as u64 >= scale)
            })
            .await?;
        if let Some(why) = crate::runtime::lock(&failure).take() {
            return Err(Error::conflict(format!(
                "the {what} failed and Swarm rolled it back: {why}"
            )));
        }
        if !converged {
            return Err(Error::unavailable(
                SERVICE,
                format!(
                    "the {what} did not converge within {} s",
                    self.inner.converge_timeout.as_secs()
                ),
            ));
        }
        Ok(())
    }

    pub(crate) async fn remove(&self, id: &str, force: bool) -> Result<RemoveOutcome> {
        let Some(svc) = self.service_opt(id).await? else {
            return Ok(RemoveOutcome::NotFound);
        };
        let parts = Parts::of(&svc).ok_or_else(|| Error::not_found("container", id))?;
        if parts.scale() > 0 && !force {
            return Err(Error::conflict(format!(
                "container '{id}' is running; stop it first or remove it with force"
            )));
        }
        let sid = id_of(&svc);
        match self.docker()?.delete_service(&sid).await {
            Ok(()) => {}
            Err(e) if is_status(&e, 404) => return Ok(RemoveOutcome::NotFound),
            Err(e) => return Err(map_err(e)),
        }
        // Volumes and networks are only free once the nodes removed the task containers.
        let grace = parts
            .container
            .and_then(|c| c.stop_grace_period)
            .and_then(|n| u64::try_from(n).ok())
            .map_or(Duration::from_secs(10), Duration::from_nanos);
        let gone = self
            .converge(grace, || async {
                Ok(self.leftover_containers(&sid).await? == 0)
            })
            .await?;
        if !gone {
            tracing::warn!(service = %sid, "task containers still present after removal");
        }
        Ok(RemoveOutcome::Removed)
    }

    pub(crate) async fn inspect(&self, id: &str) -> Result<Option<ContainerInfo>> {
        let Some((svc, view)) = self.observe(id).await? else {
            return Ok(None);
        };
        let Some(parts) = Parts::of(&svc) else {
            return Ok(None);
        };
        let security = self.security_of(&parts, &view).await;
        let oom_killed = match &view.last_failed {
            Some(t) => self.task_container(t).await.is_some_and(|c| c.oom_killed),
            None => false,
        };
        Ok(Some(ContainerInfo {
            id: id_of(&svc),
            name: state::container_name(&svc, &parts),
            image: parts.image(),
            labels: parts.labels(),
            status: view.status,
            health: view.health,
            restart_count: view.restart_count,
            oom_killed,
            exit_code: view.exit_code,
            started_at: view.started_at,
            finished_at: view.finished_at,
            ip_addresses: view.ip_addresses.clone(),
            limits: parts.limits(),
            env: parts
                .container
                .and_then(|c| c.env.clone())
                .unwrap_or_default(),
            mounts: parts.mounts(),
            security,
        }))
    }

    /// The container of a task, inspected on its node, when that node's engine is known.
    async fn task_container(&self, t: &Task) -> Option<ContainerInfo> {
        let rt = self.engine(&t.node_id).await?;
        rt.inspect_container_opt(t.container_id()?).await.ok()?
    }

    /// What a running task's container really got; from the spec when no task can be read.
    async fn security_of(&self, parts: &Parts<'_>, view: &View) -> AppliedSecurity {
        for t in &view.running {
            if let Some(c) = self.task_container(t).await {
                let mut s = c.security;
                // No engine reports the daemon-wide setting; the builder declared it.
                s.no_new_privileges |= self.inner.daemons_enforce_nnp;
                return s;
            }
        }
        let c = parts.container;
        AppliedSecurity {
            privileged: false,
            cap_drop: c
                .and_then(|c| c.capability_drop.clone())
                .unwrap_or_default(),
            cap_add: c.and_then(|c| c.capability_add.clone()).unwrap_or_default(),
            no_new_privileges: self.inner.nnp,
            network_mode: "swarm".into(),
            pid_mode: String::new(),
            ipc_mode: "private".into(),
            bind_mounts: Vec::new(),
        }
    }

    pub(crate) async fn list(&self, selector: &LabelSelector) -> Result<Vec<ContainerSummary>> {
        let filters = HashMap::from([(
            "label".to_string(),
            selector
                .0
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={v}"),
                    None => k.clone(),
                })
                .collect::<Vec<_>>(),
        )]);
        let list = self
            .docker()?
            .list_services(Some(ListServicesOptions {
                filters,
                status: true,
            }))
            .await
            .map_err(map_err)?;
        Ok(list
            .iter()
            .filter_map(state::summary)
            .filter(|c| selector.matches(&c.labels))
            .collect())
    }

    pub(crate) async fn update_limits(
        &self,
        id: &str,
        limits: &ResourceLimits,
    ) -> Result<UpdateOutcome> {
        let svc = self.service(id).await?;
        limits.validate()?;
        let parts = Parts::of(&svc).ok_or_else(|| Error::not_found("container", id))?;
        if parts.limits() == *limits {
            return Ok(UpdateOutcome::Live);
        }
        let scale = parts.scale();
        let sid = id_of(&svc);
        let mark = update_mark(&svc);
        let resources = spec::resources(limits, &self.inner.settings);
        self.update_service(&sid, |s| {
            s.task_template
                .get_or_insert_with(Default::default)
                .resources = Some(resources.clone());
        })
        .await?;
        if scale == 0 {
            // Nothing runs: the next start uses the new limits.
            return Ok(UpdateOutcome::Live);
        }
        let want = LimitsLite {
            nano_cpus: caas_core::units::millis_to_nano_cpus(limits.cpu_millis),
            memory_bytes: i64::try_from(limits.memory_bytes).unwrap_or(i64::MAX),
            pids: i64::try_from(limits.pids).unwrap_or(i64::MAX),
        };
        self.await_generation(
            &sid,
            mark,
            |t| t.spec.resources.limits == want,
            "rolling update of the limits",
        )
        .await?;
        Ok(UpdateOutcome::Rolled)
    }

    pub(crate) async fn logs(
        &self,
        id: &str,
        options: &LogOptions,
    ) -> Result<BoxStream<'static, Result<LogLine>>> {
        let svc = self.service(id).await?;
        if options.tail == Some(0) && !options.follow {
            return Ok(futures::stream::empty().boxed());
        }
        self.inner
            .api
            .service_logs(&id_of(&svc), options.tail, options.since, options.follow)
            .await
    }

    pub(crate) async fn stats(&self, id: &str) -> Result<RawStats> {
        let (_, view) = self
            .observe(id)
            .await?
            .ok_or_else(|| Error::not_found("container", id))?;
        if view.running.is_empty() {
            return Err(Error::conflict(format!("container '{id}' is not running")));
        }
        let mut readings = Vec::new();
        for t in &view.running {
            let rt = self.engine(&t.node_id).await.ok_or_else(|| {
                Error::unsupported(format!(
                    "swarm: stats of task {} on node {}: that node's engine is not known to \
                     this runtime; add it with SwarmRuntime::builder().node(...)",
                    t.id, t.node_id
                ))
            })?;
            let cid = t
                .container_id()
                .ok_or_else(|| Error::conflict(format!("task {} has no container yet", t.id)))?;
            readings.push(rt.stats_once(cid).await?);
        }
        Ok(sum(readings))
    }

    pub(crate) async fn events(
        &self,
        selector: &LabelSelector,
    ) -> Result<BoxStream<'static, Result<RuntimeEvent>>> {
        let mut streams = Vec::new();
        let mut last_err = None;
        for (node, rt) in self.engines().await {
            match rt.events(selector).await {
                Ok(s) => streams.push(s),
                Err(e) => {
                    tracing::warn!(node = %node, error = %e, "no events from a swarm node");
                    last_err = Some(e);
                }
            }
        }
        if streams.is_empty() {
            return Err(last_err.unwrap_or_else(|| {
                Error::unavailable(SERVICE, "no swarm node engine answers for events")
            }));
        }
        Ok(futures::stream::select_all(streams)
            .filter_map(|ev| async move {
                match ev {
                    Err(e) => Some(Err(e)),
                    Ok(mut ev) => {
                        // Only task containers, reported under their service's id.
                        let service = ev.labels.get("com.docker.swarm.service.id")?.clone();
                        ev.container_id = service;
                        ev.labels.retain(|k, _| !k.starts_with("com.docker."));
                        Some(Ok(ev))
                    }
                }
            })
            .boxed())
    }

    pub(crate) async fn upstream_hosts(&self, id: &str) -> Result<Vec<String>> {
        let svc = self.service(id).await?;
        let parts = Parts::of(&svc).ok_or_else(|| Error::not_found("container", id))?;
        // With endpoint mode dnsrr the name resolves, on the service's networks, to its tasks
        // that run (and are healthy, when checked); Swarm drops a task from it before stopping.
        Ok(match (&parts.spec.name, parts.networks().is_empty()) {
            (Some(name), false) => vec![name.clone()],
            _ => Vec::new(),
        })
    }
}

/// One reading for several instances: counters summed. The host CPU counter only means
/// something for one instance, so several are reported without it (rates then come from the
/// wall clock, in percent of one core).
fn sum(readings: Vec<RawStats>) -> RawStats {
    if readings.len() == 1 {
        return readings.into_iter().next().unwrap_or_default();
    }
    let mut out = RawStats::default();
    for r in readings {
        out.at = out.at.max(r.at);
        out.cpu_total_ns += r.cpu_total_ns;
        out.online_cpus = out.online_cpus.max(r.online_cpus);
        out.memory_usage_bytes += r.memory_usage_bytes;
        out.memory_cache_bytes += r.memory_cache_bytes;
        out.memory_limit_bytes += r.memory_limit_bytes;
        out.net_rx_bytes += r.net_rx_bytes;
        out.net_tx_bytes += r.net_tx_bytes;
        out.block_read_bytes += r.block_read_bytes;
        out.block_write_bytes += r.block_write_bytes;
        out.pids += r.pids;
    }
    out.system_cpu_ns = 0;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_readings_add_up_without_the_host_counter() {
        let one = RawStats {
            cpu_total_ns: 10,
            system_cpu_ns: 1_000,
            online_cpus: 2,
            memory_usage_bytes: 5,
            memory_limit_bytes: 64,
            pids: 3,
            ..RawStats::default()
        };
        let s = sum(vec![one.clone(), one.clone()]);
        assert_eq!((s.cpu_total_ns, s.memory_limit_bytes, s.pids), (20, 128, 6));
        assert_eq!(s.system_cpu_ns, 0);
        assert_eq!(sum(vec![one.clone()]), one);
    }
}
