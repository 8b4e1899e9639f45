//! The few Swarm endpoints bollard 0.18 does not cover (`/tasks`, `/nodes`,
//! `/services/{id}/logs`), spoken directly over the manager's socket or TCP address.
//!
//! Only what caas-swarm reads is modelled, every field defaulted, so newer engines adding
//! fields (or older ones missing some) decode the same way.

use std::path::PathBuf;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt};
use http_body_util::{BodyExt, BodyStream, Empty};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;

use caas_core::ports::runtime::{LogLine, LogStream};
use caas_core::{Error, Result};
use caas_docker::DockerConnection;

use crate::error::SERVICE;

/// Where the manager's API is.
#[derive(Debug, Clone)]
enum Target {
    Unix(PathBuf),
    Tcp(String),
}

/// A minimal HTTP/1.1 client for the engine API of one manager.
#[derive(Debug, Clone)]
pub(crate) struct EngineApi {
    target: Target,
    version: String,
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl EngineApi {
    /// A client for `connection` speaking API `version` (e.g. `1.41`). Errors: `Unsupported`
    /// for TLS connections, `InvalidInput` for malformed URLs.
    pub(crate) fn new(connection: &DockerConnection, version: &str) -> Result<Self> {
        let target = match connection {
            DockerConnection::Unix { path } => Target::Unix(path.clone()),
            DockerConnection::Tcp { url } => {
                let rest = url
                    .strip_prefix("tcp://")
                    .or_else(|| url.strip_prefix("http://"))
                    .ok_or_else(|| {
                        Error::invalid(
                            "manager.url",
                            "expected tcp://host:port or http://host:port",
                        )
                    })?;
                Target::Tcp(rest.trim_end_matches('/').to_string())
            }
            _ => {
                return Err(Error::unsupported(
                    "swarm: reaching a manager over TLS (tasks, nodes and service logs are read \
                     directly, without TLS support yet); forward the manager's socket (e.g. \
                     `ssh -L /tmp/swarm.sock:/var/run/docker.sock manager`) and connect to it as a \
                     Unix socket",
                ));
            }
        };
        Ok(Self {
            target,
            version: version.to_string(),
        })
    }

    async fn send(&self, path_and_query: &str) -> Result<Response<Incoming>> {
        let req = Request::get(format!("/v{}{path_and_query}", self.version))
            .header(hyper::header::HOST, "docker")
            .body(Empty::<Bytes>::new())
            .map_err(|e| Error::backend_source(SERVICE, "building a request", e))?;
        let unreachable = |e: std::io::Error| Error::Unavailable {
            service: SERVICE,
            message: format!("the swarm manager at {:?} is unreachable: {e}", self.target),
            source: Some(Box::new(e)),
        };
        let hyper_err = |e: hyper::Error| Error::Unavailable {
            service: SERVICE,
            message: format!("talking to the swarm manager failed: {e}"),
            source: Some(Box::new(e)),
        };
        macro_rules! over {
            ($io:expr) => {{
                let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new($io))
                    .await
                    .map_err(hyper_err)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                sender.send_request(req).await.map_err(hyper_err)
            }};
        }
        match &self.target {
            Target::Unix(path) => {
                over!(
                    tokio::net::UnixStream::connect(path)
                        .await
                        .map_err(unreachable)?
                )
            }
            Target::Tcp(addr) => {
                over!(
                    tokio::net::TcpStream::connect(addr.as_str())
                        .await
                        .map_err(unreachable)?
                )
            }
        }
    }

    /// Sends a GET and checks the status; the body is left to the caller.
    async fn get(&self, path_and_query: &str, what: &str) -> Result<Response<Incoming>> {
        let res = tokio::time::timeout(REQUEST_TIMEOUT, self.send(path_and_query))
            .await
            .map_err(|_| {
                Error::unavailable(SERVICE, "the swarm manager did not answer within 30 s")
            })??;
        let status = res.status();
        if status.is_success() {
            return Ok(res);
        }
        let body = res
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(String::from))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        Err(status_error(status, what, message))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, pq: &str, what: &str) -> Result<T> {
        let res = self.get(pq, what).await?;
        let body = tokio::time::timeout(REQUEST_TIMEOUT, res.into_body().collect())
            .await
            .map_err(|_| Error::unavailable(SERVICE, "the swarm manager's answer was cut off"))?
            .map_err(|e| Error::unavailable(SERVICE, format!("reading an answer: {e}")))?
            .to_bytes();
        serde_json::from_slice(&body)
            .map_err(|e| Error::backend_source(SERVICE, format!("decoding {what}"), e))
    }

    /// Every task of a service (any state the manager still keeps).
    pub(crate) async fn tasks_of(&self, service_id: &str) -> Result<Vec<Task>> {
        let filters = serde_json::json!({ "service": [service_id] }).to_string();
        let tasks: Vec<Task> = self
            .get_json(&format!("/tasks?filters={}", encode(&filters)), "tasks")
            .await?;
        // The filter also matches names and id prefixes.
        Ok(tasks
            .into_iter()
            .filter(|t| t.service_id == service_id)
            .collect())
    }

    /// The nodes of the swarm.
    pub(crate) async fn nodes(&self) -> Result<Vec<Node>> {
        self.get_json("/nodes", "nodes").await
    }

    /// A service's log lines, as the manager gathers them from every task. Errors:
    /// `NotFound`, `Unavailable`.
    pub(crate) async fn service_logs(
        &self,
        service_id: &str,
        tail: Option<usize>,
        since: Option<DateTime<Utc>>,
        follow: bool,
    ) -> Result<BoxStream<'static, Result<LogLine>>> {
        let mut q = format!(
            "/services/{}/logs?stdout=1&stderr=1&timestamps=1&follow={}",
            encode(service_id),
            u8::from(follow)
        );
        match tail {
            Some(n) => q.push_str(&format!("&tail={n}")),
            None => q.push_str("&tail=all"),
        }
        if let Some(t) = since {
            q.push_str(&format!("&since={}", t.timestamp()));
        }
        let res = self.get(&q, &format!("service {service_id}")).await?;
        let frames = BodyStream::new(res.into_body()).filter_map(|f| async move {
            match f {
                Ok(frame) => frame.into_data().ok().map(Ok),
                Err(e) => Some(Err(Error::unavailable(
                    SERVICE,
                    format!("the log stream broke: {e}"),
                ))),
            }
        });
        Ok(demux(frames.boxed()))
    }
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn status_error(status: StatusCode, what: &str, message: String) -> Error {
    match status.as_u16() {
        404 => Error::not_found("swarm object", format!("{what}: {message}")),
        409 => Error::conflict(message),
        400 => Error::invalid("swarm", message),
        503 => Error::unavailable(
            SERVICE,
            format!(
                "{message} (is this engine a swarm manager? run `docker swarm init` or point SwarmRuntime at a manager)"
            ),
        ),
        code => Error::backend(SERVICE, format!("the manager answered {code}: {message}")),
    }
}

/// Splits the engine's multiplexed stream (8-byte headers: stream, 0, 0, 0, big-endian
/// length) into log lines with their timestamps.
fn demux(frames: BoxStream<'static, Result<Bytes>>) -> BoxStream<'static, Result<LogLine>> {
    futures::stream::unfold(
        (
            frames,
            BytesMut::new(),
            std::collections::VecDeque::<LogLine>::new(),
            false,
        ),
        |(mut frames, mut buf, mut ready, mut done)| async move {
            loop {
                if let Some(line) = ready.pop_front() {
                    return Some((Ok(line), (frames, buf, ready, done)));
                }
                if done {
                    return None;
                }
                while buf.len() >= 8 {
                    let size = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
                    if buf.len() < 8 + size {
                        break;
                    }
                    let stream = if buf[0] == 2 {
                        LogStream::Stderr
                    } else {
                        LogStream::Stdout
                    };
                    buf.advance(8);
                    let payload = buf.split_to(size);
                    let text = String::from_utf8_lossy(&payload);
                    for raw in text.split_terminator('\n') {
                        ready.push_back(log_line(stream, raw));
                    }
                }
                if !ready.is_empty() {
                    continue;
                }
                match frames.next().await {
                    Some(Ok(b)) => buf.extend_from_slice(&b),
                    Some(Err(e)) => return Some((Err(e), (frames, buf, ready, true))),
                    None => done = true,
                }
            }
        },
    )
    .boxed()
}

fn log_line(stream: LogStream, raw: &str) -> LogLine {
    let raw = raw.strip_suffix('\r').unwrap_or(raw);
    let (at, text) = match raw.split_once(' ') {
        Some((ts, rest)) => match DateTime::parse_from_rfc3339(ts) {
            Ok(t) => (Some(t.with_timezone(&Utc)), rest),
            Err(_) => (None, raw),
        },
        None => match DateTime::parse_from_rfc3339(raw) {
            Ok(t) => (Some(t.with_timezone(&Utc)), ""),
            Err(_) => (None, raw),
        },
    };
    LogLine {
        stream,
        at,
        text: text.to_string(),
    }
}

/// A task: one scheduled instance of a service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct Task {
    #[serde(rename = "ID")]
    pub(crate) id: String,
    #[serde(rename = "ServiceID")]
    pub(crate) service_id: String,
    #[serde(rename = "NodeID")]
    pub(crate) node_id: String,
    pub(crate) slot: i64,
    pub(crate) created_at: Option<DateTime<Utc>>,
    pub(crate) desired_state: String,
    pub(crate) status: TaskStatus,
    pub(crate) spec: TaskSpecLite,
    pub(crate) networks_attachments: Vec<NetworkAttachment>,
}

/// The part of a task's spec used to tell generations apart.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct TaskSpecLite {
    pub(crate) force_update: i64,
    pub(crate) resources: ResourcesLite,
}

/// Resources of a task spec.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct ResourcesLite {
    pub(crate) limits: LimitsLite,
}

/// Limits of a task spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct LimitsLite {
    #[serde(rename = "NanoCPUs")]
    pub(crate) nano_cpus: i64,
    pub(crate) memory_bytes: i64,
    pub(crate) pids: i64,
}

/// Where a task is in its life.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct TaskStatus {
    pub(crate) timestamp: Option<DateTime<Utc>>,
    pub(crate) state: String,
    pub(crate) message: String,
    pub(crate) err: String,
    pub(crate) container_status: Option<TaskContainerStatus>,
}

/// The task's container on its node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct TaskContainerStatus {
    #[serde(rename = "ContainerID")]
    pub(crate) container_id: String,
    pub(crate) exit_code: i64,
}

/// A task's address on one network.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct NetworkAttachment {
    pub(crate) network: AttachedNetwork,
    pub(crate) addresses: Vec<String>,
}

/// The network of an attachment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct AttachedNetwork {
    pub(crate) spec: NamedSpec,
}

/// A spec with a name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct NamedSpec {
    pub(crate) name: String,
}

/// A node of the swarm.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct Node {
    #[serde(rename = "ID")]
    pub(crate) id: String,
    pub(crate) description: NodeDescription,
    pub(crate) status: NodeStatus,
    pub(crate) spec: NodeSpec,
}

/// What a node says about itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct NodeDescription {
    pub(crate) hostname: String,
}

/// A node's state as the manager sees it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct NodeStatus {
    pub(crate) state: String,
    pub(crate) addr: String,
}

/// A node's desired availability.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct NodeSpec {
    pub(crate) availability: String,
    pub(crate) role: String,
}

impl Task {
    /// Whether the task's container is up (running; health-checked tasks only once healthy).
    pub(crate) fn is_running(&self) -> bool {
        self.status.state == "running"
    }

    /// Whether the task is on its way to running.
    pub(crate) fn is_starting(&self) -> bool {
        matches!(
            self.status.state.as_str(),
            "new"
                | "allocated"
                | "pending"
                | "assigned"
                | "accepted"
                | "preparing"
                | "ready"
                | "starting"
        )
    }

    /// Whether the task's container ended on its own (not on request).
    pub(crate) fn ended_by_itself(&self) -> bool {
        matches!(
            self.status.state.as_str(),
            "failed" | "rejected" | "complete"
        )
    }

    /// Whether the task is over, whatever the reason.
    pub(crate) fn is_terminal(&self) -> bool {
        self.ended_by_itself()
            || matches!(
                self.status.state.as_str(),
                "shutdown" | "remove" | "orphaned"
            )
    }

    /// The task's container id, once the node created it.
    pub(crate) fn container_id(&self) -> Option<&str> {
        self.status
            .container_status
            .as_ref()
            .map(|c| c.container_id.as_str())
            .filter(|c| !c.is_empty())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn frame(stream: u8, payload: &str) -> Vec<u8> {
        let mut v = vec![stream, 0, 0, 0];
        v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        v.extend_from_slice(payload.as_bytes());
        v
    }

    #[tokio::test]
    async fn multiplexed_frames_split_into_timestamped_lines_across_chunk_borders() {
        let mut all = frame(1, "2026-12-01T10:25:51.548024816Z line4\n");
        all.extend(frame(2, "2026-12-01T10:25:51.648024816Z oops\n"));
        all.extend(frame(1, "no timestamp here\n"));
        // Cut in the middle of a header and of a payload.
        let chunks: Vec<Result<Bytes>> = vec![
            Ok(Bytes::copy_from_slice(&all[..5])),
            Ok(Bytes::copy_from_slice(&all[5..30])),
            Ok(Bytes::copy_from_slice(&all[30..])),
        ];
        let lines: Vec<LogLine> = demux(futures::stream::iter(chunks).boxed())
            .map(|l| l.unwrap())
            .collect()
            .await;
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["line4", "oops", "no timestamp here"]);
        assert_eq!(lines[1].stream, LogStream::Stderr);
        assert!(lines[0].at.is_some() && lines[2].at.is_none());
    }

    #[test]
    fn tasks_decode_from_the_engine_json_with_missing_fields() {
        let t: Task = serde_json::from_str(
            r#"{"ID":"t1","ServiceID":"s1","NodeID":"n1","Slot":1,"DesiredState":"running",
                "Status":{"Timestamp":"2026-12-01T10:25:57.043812938Z","State":"running",
                          "ContainerStatus":{"ContainerID":"c1","PID":42,"ExitCode":0}},
                "Spec":{"ForceUpdate":2,"Resources":{"Limits":{"NanoCPUs":250000000,"MemoryBytes":67108864,"Pids":64}}},
                "NetworksAttachments":[{"Network":{"Spec":{"Name":"app"}},"Addresses":["10.213.1.5/24"]}]}"#,
        )
        .unwrap();
        assert!(t.is_running());
        assert_eq!(t.container_id(), Some("c1"));
        assert_eq!(t.spec.force_update, 2);
        assert_eq!(t.spec.resources.limits.memory_bytes, 64 << 20);
        assert_eq!(t.networks_attachments[0].network.spec.name, "app");
        let bare: Task = serde_json::from_str(r#"{"ID":"t2"}"#).unwrap();
        assert_eq!(bare.container_id(), None);
        assert!(!bare.is_running() && !bare.is_terminal());
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode(r#"{"service":["a b"]}"#),
            "%7B%22service%22%3A%5B%22a%20b%22%5D%7D"
        );
    }
}
