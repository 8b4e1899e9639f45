//! In-memory backends of every port: first-class, faithful implementations for tests (ours and
//! embedders'). They pass the same conformance suites (`caas-testkit`) as the real backends.

mod domains;
mod proxy;
mod runtime;
mod store;
mod templates;
mod volumes;

pub use proxy::InMemoryProxy;
pub use runtime::{ExecCall, Fault, InMemoryRuntime, RuntimeOp};
pub use store::InMemoryStore;
