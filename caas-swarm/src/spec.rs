//! From the port's [`ContainerSpec`] to a Swarm service spec, and back to the limits, env and
//! mounts in force.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::models::{
    EndpointSpec, EndpointSpecModeEnum, HealthConfig, Limit, Mount as EngineMount, MountTypeEnum,
    NetworkAttachmentConfig, ResourceObject, Service, ServiceSpec, ServiceSpecMode,
    ServiceSpecModeReplicated, ServiceSpecRollbackConfig,
    ServiceSpecRollbackConfigFailureActionEnum, ServiceSpecRollbackConfigOrderEnum,
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum,
    ServiceSpecUpdateConfigOrderEnum, TaskSpec, TaskSpecContainerSpec,
    TaskSpecContainerSpecPrivileges, TaskSpecLogDriver, TaskSpecPlacement, TaskSpecResources,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};
use sha2::{Digest, Sha256};

use caas_core::model::{HealthProbe, ResourceLimits, RestartPolicy};
use caas_core::ports::runtime::{ALLOWED_CAPABILITIES, ContainerSpec, Mount};
use caas_core::units::millis_to_nano_cpus;

/// Service label: the container name the platform asked for (Swarm names are shorter).
pub const LABEL_NAME: &str = "caas.swarm.name";
/// Service label: the replicas to run when started.
pub const LABEL_REPLICAS: &str = "caas.swarm.replicas";
/// Service label: when the service was last stopped (RFC 3339).
pub const LABEL_STOPPED_AT: &str = "caas.swarm.stopped-at";
/// Service label: the container has a health check. Engines write the check back as
/// `Healthcheck`, which bollard's model (`HealthCheck`) does not read, so it is recorded here.
pub const LABEL_HEALTH_CHECK: &str = "caas.swarm.health-check";
/// Volume label: the id of the node the volume lives on.
pub const LABEL_NODE: &str = "caas.swarm.node";

/// How services are created, from the builder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServiceSettings {
    /// Reserved share of the CPU limit, percent (what the scheduler guarantees).
    pub(crate) reserve_cpu_percent: u8,
    /// Reserved share of the memory limit, percent.
    pub(crate) reserve_memory_percent: u8,
    /// How long Swarm watches a replaced task before the next one (and rolls back on failure).
    pub(crate) update_monitor: Duration,
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A valid Swarm service name for a container name: letters, digits, `-`, `_` and `.`, at
/// most 63 characters (a DNS label, since services are resolvable by name). Longer names keep
/// their start and get a digest of the whole name.
pub(crate) fn service_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let clean = clean.trim_start_matches(['-', '_']).to_string();
    if clean.len() <= 63 && clean == name {
        return clean;
    }
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let keep: String = clean.chars().take(63 - 1 - hex.len()).collect();
    format!("{}-{hex}", keep.trim_end_matches(['-', '_']))
}

fn healthcheck(spec: &ContainerSpec) -> Option<HealthConfig> {
    let h = spec.health_check.as_ref()?;
    // HTTP and TCP probes run inside the container with busybox-style tools, as on Docker.
    let test = match &h.probe {
        HealthProbe::Command { command } => {
            let mut t = vec!["CMD".to_string()];
            t.extend(command.iter().cloned());
            t
        }
        HealthProbe::Http { port, path } => vec![
            "CMD-SHELL".to_string(),
            format!("wget -q -O /dev/null http://127.0.0.1:{port}{path} || exit 1"),
        ],
        HealthProbe::Tcp { port } => vec![
            "CMD-SHELL".to_string(),
            format!("nc -z 127.0.0.1 {port} || exit 1"),
        ],
    };
    Some(HealthConfig {
        test: Some(test),
        interval: Some(nanos(h.interval)),
        timeout: Some(nanos(h.timeout)),
        retries: Some(i64::from(h.retries)),
        start_period: Some(nanos(h.start_period)),
        ..Default::default()
    })
}

fn restart_policy(p: RestartPolicy) -> TaskSpecRestartPolicy {
    let (condition, max) = match p {
        RestartPolicy::No => (TaskSpecRestartPolicyConditionEnum::NONE, None),
        RestartPolicy::OnFailure { max_retries } => (
            TaskSpecRestartPolicyConditionEnum::ON_FAILURE,
            (max_retries > 0).then_some(i64::from(max_retries)),
        ),
        // Swarm has no "unless stopped": a stop scales the service to zero instead.
        RestartPolicy::UnlessStopped | RestartPolicy::Always => {
            (TaskSpecRestartPolicyConditionEnum::ANY, None)
        }
    };
    TaskSpecRestartPolicy {
        condition: Some(condition),
        delay: Some(nanos(Duration::from_secs(1))),
        max_attempts: max,
        window: None,
    }
}

fn percent(v: i64, p: u8) -> i64 {
    i64::try_from(i128::from(v) * i128::from(p) / 100).unwrap_or(i64::MAX)
}

/// Limits and reservations of a task.
pub(crate) fn resources(limits: &ResourceLimits, s: &ServiceSettings) -> TaskSpecResources {
    let cpu = millis_to_nano_cpus(limits.cpu_millis);
    let mem = i64_of(limits.memory_bytes);
    TaskSpecResources {
        limits: Some(Limit {
            nano_cpus: Some(cpu),
            memory_bytes: Some(mem),
            pids: Some(i64_of(limits.pids)),
        }),
        reservations: Some(ResourceObject {
            nano_cpus: Some(percent(cpu, s.reserve_cpu_percent)),
            memory_bytes: Some(percent(mem, s.reserve_memory_percent)),
            generic_resources: None,
        }),
    }
}

/// Whether two workloads writing the same volume would be running at once during a
/// start-first update: then updates stop the old task first.
fn single_writer(spec: &ContainerSpec) -> bool {
    spec.mounts.iter().any(|m| !m.read_only)
}

/// The service spec for a container spec, created with no replicas running (the port's
/// "created, not started"); `node` pins it to the node its volumes live on.
pub(crate) fn service_spec(
    spec: &ContainerSpec,
    node: Option<&str>,
    settings: &ServiceSettings,
) -> ServiceSpec {
    let cap_add: Vec<String> = spec
        .security
        .cap_add
        .iter()
        .map(|c| c.trim_start_matches("CAP_").to_ascii_uppercase())
        .filter(|c| ALLOWED_CAPABILITIES.contains(&c.as_str()))
        .map(|c| format!("CAP_{c}"))
        .collect();
    let container_labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    let mut labels = container_labels.clone();
    labels.insert(LABEL_NAME.into(), spec.name.clone());
    labels.insert(LABEL_REPLICAS.into(), spec.replicas.to_string());
    if spec.health_check.is_some() {
        labels.insert(LABEL_HEALTH_CHECK.into(), "true".into());
    }
    let container = TaskSpecContainerSpec {
        image: Some(spec.image.clone()),
        labels: Some(container_labels),
        // Swarm's Command is Docker's entrypoint and its Args the command.
        command: spec.entrypoint.clone(),
        args: spec.command.clone(),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        user: spec.security.user.clone(),
        read_only: Some(spec.security.read_only_rootfs),
        privileges: Some(TaskSpecContainerSpecPrivileges {
            // Honoured from API 1.46 on; older managers need the nodes' daemons to enforce it.
            no_new_privileges: Some(true),
            ..Default::default()
        }),
        capability_drop: Some(vec!["ALL".into()]),
        capability_add: Some(cap_add),
        mounts: Some(
            spec.mounts
                .iter()
                .map(|m| EngineMount {
                    target: Some(m.target.clone()),
                    source: Some(m.volume.clone()),
                    typ: Some(MountTypeEnum::VOLUME),
                    read_only: Some(m.read_only),
                    ..Default::default()
                })
                .collect(),
        ),
        stop_grace_period: Some(nanos(spec.stop_timeout)),
        health_check: healthcheck(spec),
        init: Some(false),
        ..Default::default()
    };
    let order_first_stop = single_writer(spec);
    ServiceSpec {
        name: Some(service_name(&spec.name)),
        labels: Some(labels),
        task_template: Some(TaskSpec {
            container_spec: Some(container),
            resources: Some(resources(&spec.limits, settings)),
            restart_policy: Some(restart_policy(spec.restart_policy)),
            placement: node.map(|n| TaskSpecPlacement {
                constraints: Some(vec![format!("node.id=={n}")]),
                ..Default::default()
            }),
            force_update: Some(0),
            networks: Some(
                spec.networks
                    .iter()
                    .map(|n| NetworkAttachmentConfig {
                        target: Some(n.network.clone()),
                        aliases: Some(n.aliases.clone()),
                        driver_opts: None,
                    })
                    .collect(),
            ),
            log_driver: Some(TaskSpecLogDriver {
                name: Some("json-file".into()),
                options: Some(HashMap::from([
                    ("max-size".to_string(), "10m".to_string()),
                    ("max-file".to_string(), "3".to_string()),
                ])),
            }),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(0) }),
            ..Default::default()
        }),
        update_config: Some(ServiceSpecUpdateConfig {
            parallelism: Some(1),
            delay: Some(0),
            failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK),
            monitor: Some(nanos(settings.update_monitor)),
            max_failure_ratio: Some(0.0),
            order: Some(if order_first_stop {
                ServiceSpecUpdateConfigOrderEnum::STOP_FIRST
            } else {
                ServiceSpecUpdateConfigOrderEnum::START_FIRST
            }),
        }),
        rollback_config: Some(ServiceSpecRollbackConfig {
            parallelism: Some(1),
            delay: Some(0),
            failure_action: Some(ServiceSpecRollbackConfigFailureActionEnum::PAUSE),
            monitor: Some(nanos(settings.update_monitor)),
            max_failure_ratio: Some(0.0),
            order: Some(if order_first_stop {
                ServiceSpecRollbackConfigOrderEnum::STOP_FIRST
            } else {
                ServiceSpecRollbackConfigOrderEnum::START_FIRST
            }),
        }),
        // No IPVS needed: clients resolve the service name to its running tasks.
        endpoint_spec: Some(EndpointSpec {
            mode: Some(EndpointSpecModeEnum::DNSRR),
            ports: None,
        }),
        ..Default::default()
    }
}

/// The parts of a service read back by inspect.
pub(crate) struct Parts<'a> {
    pub(crate) spec: &'a ServiceSpec,
    pub(crate) container: Option<&'a TaskSpecContainerSpec>,
}

impl<'a> Parts<'a> {
    pub(crate) fn of(service: &'a Service) -> Option<Self> {
        let spec = service.spec.as_ref()?;
        let container = spec
            .task_template
            .as_ref()
            .and_then(|t| t.container_spec.as_ref());
        Some(Self { spec, container })
    }

    /// The service's labels.
    pub(crate) fn labels(&self) -> BTreeMap<String, String> {
        self.spec
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect()
    }

    /// Replicas the service runs now (0 when stopped).
    pub(crate) fn scale(&self) -> u64 {
        self.spec
            .mode
            .as_ref()
            .and_then(|m| m.replicated.as_ref())
            .and_then(|r| r.replicas)
            .and_then(|r| u64::try_from(r).ok())
            .unwrap_or(0)
    }

    /// Replicas to run when started.
    pub(crate) fn wanted(&self) -> i64 {
        self.spec
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_REPLICAS))
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
    }

    /// The limits in force.
    pub(crate) fn limits(&self) -> ResourceLimits {
        let l = self
            .spec
            .task_template
            .as_ref()
            .and_then(|t| t.resources.as_ref())
            .and_then(|r| r.limits.as_ref());
        let get = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
        ResourceLimits {
            cpu_millis: get(l.and_then(|l| l.nano_cpus)) / 1_000_000,
            memory_bytes: get(l.and_then(|l| l.memory_bytes)),
            pids: get(l.and_then(|l| l.pids)),
        }
    }

    /// The image, without the digest Swarm may pin.
    pub(crate) fn image(&self) -> String {
        let image = self
            .container
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        match image.split_once('@') {
            Some((name, _)) => name.to_string(),
            None => image,
        }
    }

    /// The volume mounts.
    pub(crate) fn mounts(&self) -> Vec<Mount> {
        self.container
            .and_then(|c| c.mounts.as_ref())
            .map(|ms| {
                ms.iter()
                    .filter(|m| m.typ == Some(MountTypeEnum::VOLUME))
                    .map(|m| Mount {
                        volume: m.source.clone().unwrap_or_default(),
                        target: m.target.clone().unwrap_or_default(),
                        read_only: m.read_only.unwrap_or(false),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether a health check is configured.
    pub(crate) fn has_health_check(&self) -> bool {
        self.spec
            .labels
            .as_ref()
            .is_some_and(|l| l.get(LABEL_HEALTH_CHECK).is_some_and(|v| v == "true"))
    }

    /// Networks the service is attached to.
    pub(crate) fn networks(&self) -> Vec<String> {
        self.spec
            .task_template
            .as_ref()
            .and_then(|t| t.networks.as_ref())
            .map(|ns| ns.iter().filter_map(|n| n.target.clone()).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use caas_core::ports::runtime::NetworkAttachment;

    fn settings() -> ServiceSettings {
        ServiceSettings {
            reserve_cpu_percent: 50,
            reserve_memory_percent: 100,
            update_monitor: Duration::from_secs(5),
        }
    }

    #[test]
    fn long_or_odd_names_become_valid_distinct_service_names() {
        assert_eq!(service_name("caas-web-0123"), "caas-web-0123");
        let long = format!("caas-{}-{}", "a".repeat(40), "0".repeat(32));
        let n = service_name(&long);
        assert!(n.len() <= 63, "{n}");
        assert_ne!(n, service_name(&format!("{long}x")));
        let odd = service_name("caas.test/x");
        assert!(
            odd.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn the_service_spec_is_hardened_dnsrr_pinned_and_created_stopped() {
        let mut spec = ContainerSpec::new("caas-web-1", "caas/busybox:latest");
        spec.replicas = 3;
        spec.command = Some(vec!["httpd".into(), "-f".into()]);
        spec.security.cap_add = vec!["SYS_ADMIN".into(), "NET_BIND_SERVICE".into()];
        spec.networks = vec![NetworkAttachment {
            network: "net".into(),
            aliases: vec!["web".into()],
        }];
        spec.mounts = vec![Mount {
            volume: "data".into(),
            target: "/data".into(),
            read_only: false,
        }];
        let s = service_spec(&spec, Some("node-7"), &settings());
        let t = s.task_template.as_ref().unwrap();
        let c = t.container_spec.as_ref().unwrap();
        assert_eq!(c.args, spec.command);
        assert_eq!(c.command, None);
        assert_eq!(c.capability_drop.as_deref(), Some(&["ALL".to_string()][..]));
        assert_eq!(
            c.capability_add.as_deref(),
            Some(&["CAP_NET_BIND_SERVICE".to_string()][..])
        );
        assert_eq!(
            t.placement.as_ref().unwrap().constraints.as_deref(),
            Some(&["node.id==node-7".to_string()][..])
        );
        assert_eq!(
            s.endpoint_spec.as_ref().unwrap().mode,
            Some(EndpointSpecModeEnum::DNSRR)
        );
        let parts_service = Service {
            spec: Some(s.clone()),
            ..Default::default()
        };
        let p = Parts::of(&parts_service).unwrap();
        assert_eq!(p.scale(), 0, "created, not started");
        assert_eq!(p.wanted(), 3);
        assert_eq!(p.limits(), spec.limits);
        assert_eq!(p.mounts(), spec.mounts);
        // A writable volume: updates stop the old task before starting the new one.
        assert_eq!(
            s.update_config.as_ref().unwrap().order,
            Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST)
        );
        let r = t.resources.as_ref().unwrap().reservations.as_ref().unwrap();
        assert_eq!(r.nano_cpus, Some(250_000_000));
        assert_eq!(r.memory_bytes, Some(i64_of(spec.limits.memory_bytes)));
    }
}
