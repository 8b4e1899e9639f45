//! One container's observed state from a service and its tasks.
//!
//! | port | from Swarm |
//! |---|---|
//! | `Created` | no replicas asked, never stopped |
//! | `Running` | every asked replica has a running task (health-checked tasks run once healthy) |
//! | `Restarting` | fewer running than asked, and a task ended by itself since the last change |
//! | `Created` (again) | fewer running than asked, none failed: tasks still on their way |
//! | `Exited` | scaled to zero by a stop |
//! | `restart_count` | tasks that ended by themselves since the service last changed |
//! | `started_at` | the latest start among the running tasks |

use std::collections::BTreeMap;

use bollard::models::Service;
use chrono::{DateTime, Utc};

use caas_core::ports::runtime::{ContainerStatus, ContainerSummary, HealthStatus};

use crate::api::Task;
use crate::spec::{LABEL_NAME, LABEL_STOPPED_AT, Parts};

/// What the tasks of one service add up to.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub(crate) status: ContainerStatus,
    pub(crate) health: Option<HealthStatus>,
    pub(crate) restart_count: u64,
    pub(crate) exit_code: Option<i64>,
    pub(crate) started_at: Option<DateTime<Utc>>,
    pub(crate) finished_at: Option<DateTime<Utc>>,
    pub(crate) ip_addresses: BTreeMap<String, String>,
    /// The running tasks, lowest slot first.
    pub(crate) running: Vec<Task>,
    /// The task that ended last by itself since the last change, if any.
    pub(crate) last_failed: Option<Task>,
}

fn stopped_at(parts: &Parts<'_>) -> Option<DateTime<Utc>> {
    let l = parts.spec.labels.as_ref()?.get(LABEL_STOPPED_AT)?;
    DateTime::parse_from_rfc3339(l)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The name the platform gave the container.
pub(crate) fn container_name(service: &Service, parts: &Parts<'_>) -> String {
    parts
        .spec
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_NAME).cloned())
        .or_else(|| parts.spec.name.clone())
        .or_else(|| service.id.clone())
        .unwrap_or_default()
}

/// The state of a service with these tasks.
pub(crate) fn view(service: &Service, parts: &Parts<'_>, tasks: &[Task]) -> View {
    let since = service.updated_at;
    let scale = parts.scale();
    let mut running: Vec<Task> = tasks
        .iter()
        .filter(|t| t.desired_state == "running" && t.is_running())
        .cloned()
        .collect();
    running.sort_by_key(|t| t.slot);
    let mut failed: Vec<&Task> = tasks
        .iter()
        .filter(|t| t.ended_by_itself())
        .filter(|t| match (since, t.created_at) {
            (Some(since), Some(created)) => created >= since,
            _ => true,
        })
        .collect();
    failed.sort_by_key(|t| t.status.timestamp);
    let last_failed = failed.last().map(|t| (*t).clone());
    let enough = scale > 0 && running.len() as u64 >= scale;
    let status = if scale == 0 {
        if tasks.iter().any(Task::is_running) {
            ContainerStatus::Running
        } else if stopped_at(parts).is_some() {
            ContainerStatus::Exited
        } else {
            ContainerStatus::Created
        }
    } else if enough {
        ContainerStatus::Running
    } else if !failed.is_empty() {
        ContainerStatus::Restarting
    } else {
        ContainerStatus::Created
    };
    let health = (parts.has_health_check() && scale > 0).then(|| {
        if enough {
            HealthStatus::Healthy
        } else if failed
            .iter()
            .any(|t| t.status.err.contains("unhealthy") || t.status.message.contains("unhealthy"))
        {
            HealthStatus::Unhealthy
        } else {
            HealthStatus::Starting
        }
    });
    let last_terminal = tasks
        .iter()
        .filter(|t| t.is_terminal())
        .max_by_key(|t| t.status.timestamp);
    let finished_at = if scale == 0 {
        stopped_at(parts).or_else(|| last_terminal.and_then(|t| t.status.timestamp))
    } else {
        last_failed.as_ref().and_then(|t| t.status.timestamp)
    };
    let ip_addresses = running
        .first()
        .map(|t| {
            t.networks_attachments
                .iter()
                .filter(|a| a.network.spec.name != "ingress")
                .filter_map(|a| {
                    let ip = a.addresses.first()?;
                    let ip = ip.split('/').next().unwrap_or(ip);
                    Some((a.network.spec.name.clone(), ip.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    View {
        status,
        health,
        restart_count: failed.len() as u64,
        exit_code: last_terminal
            .and_then(|t| t.status.container_status.as_ref())
            .map(|c| c.exit_code),
        started_at: running.iter().filter_map(|t| t.status.timestamp).max(),
        finished_at,
        ip_addresses,
        running,
        last_failed,
    }
}

/// A list entry from the service and the engine's task counts (no task query per service).
pub(crate) fn summary(service: &Service) -> Option<ContainerSummary> {
    let parts = Parts::of(service)?;
    let scale = parts.scale();
    let counts = service.service_status.as_ref();
    let running = counts.and_then(|c| c.running_tasks).unwrap_or(0);
    let status = if scale == 0 {
        if running > 0 {
            ContainerStatus::Running
        } else if stopped_at(&parts).is_some() {
            ContainerStatus::Exited
        } else {
            ContainerStatus::Created
        }
    } else if running >= scale {
        ContainerStatus::Running
    } else {
        ContainerStatus::Created
    };
    Some(ContainerSummary {
        id: service.id.clone().unwrap_or_default(),
        name: container_name(service, &parts),
        image: parts.image(),
        labels: parts.labels(),
        status,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::api::{TaskContainerStatus, TaskStatus};
    use bollard::models::{ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated};

    fn service(scale: i64, labels: &[(&str, &str)]) -> Service {
        Service {
            id: Some("s1".into()),
            updated_at: Some(DateTime::from_timestamp(1_000, 0).unwrap()),
            spec: Some(ServiceSpec {
                name: Some("caas-web".into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                mode: Some(ServiceSpecMode {
                    replicated: Some(ServiceSpecModeReplicated {
                        replicas: Some(scale),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn task(slot: i64, desired: &str, state: &str, at: i64) -> Task {
        Task {
            id: format!("t{slot}-{state}"),
            service_id: "s1".into(),
            slot,
            created_at: Some(DateTime::from_timestamp(at, 0).unwrap()),
            desired_state: desired.into(),
            status: TaskStatus {
                timestamp: Some(DateTime::from_timestamp(at, 0).unwrap()),
                state: state.into(),
                container_status: Some(TaskContainerStatus {
                    container_id: format!("c{slot}"),
                    exit_code: if state == "failed" { 3 } else { 0 },
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn running_only_when_every_replica_runs_and_failures_count_as_restarts() {
        let s = service(2, &[]);
        let p = Parts::of(&s).unwrap();
        let one = [
            task(1, "running", "running", 1_001),
            task(2, "running", "preparing", 1_001),
        ];
        assert_eq!(view(&s, &p, &one).status, ContainerStatus::Created);
        let both = [
            task(1, "running", "running", 1_001),
            task(2, "running", "running", 1_002),
        ];
        let v = view(&s, &p, &both);
        assert_eq!(v.status, ContainerStatus::Running);
        assert_eq!(v.started_at, DateTime::from_timestamp(1_002, 0));
        assert_eq!(v.restart_count, 0);
        let crashed = [
            task(1, "running", "running", 1_001),
            task(2, "shutdown", "failed", 1_003),
            task(2, "running", "starting", 1_004),
        ];
        let v = view(&s, &p, &crashed);
        assert_eq!(v.status, ContainerStatus::Restarting);
        assert_eq!((v.restart_count, v.exit_code), (1, Some(3)));
        // Failures from before the last change are history.
        let s1 = service(1, &[]);
        let p1 = Parts::of(&s1).unwrap();
        let old = [
            task(1, "running", "running", 1_001),
            task(2, "shutdown", "failed", 999),
        ];
        assert_eq!(view(&s1, &p1, &old).restart_count, 0);
    }

    #[test]
    fn scaled_to_zero_is_created_until_a_stop_then_exited() {
        let s = service(0, &[]);
        let p = Parts::of(&s).unwrap();
        assert_eq!(view(&s, &p, &[]).status, ContainerStatus::Created);
        let s = service(0, &[(LABEL_STOPPED_AT, "2026-12-01T10:00:00Z")]);
        let p = Parts::of(&s).unwrap();
        let v = view(&s, &p, &[]);
        assert_eq!(v.status, ContainerStatus::Exited);
        assert!(v.finished_at.is_some() && v.started_at.is_none());
    }
}
