//! The [`ContainerRuntime`](caas_core::ContainerRuntime) port on Docker Swarm (crate docs
//! are completed below).

mod api;
mod error;
mod port;
mod runtime;
mod spec;
mod state;
mod storage;
mod workloads;

pub use port::BACKEND;
pub use runtime::{DEFAULT_MAX_REPLICAS, SwarmRuntime, SwarmRuntimeBuilder};
pub use spec::{LABEL_HEALTH_CHECK, LABEL_NAME, LABEL_NODE, LABEL_REPLICAS, LABEL_STOPPED_AT};
