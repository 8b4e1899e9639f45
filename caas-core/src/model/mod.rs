//! The domain model. Constructors (`New*::build`) validate; see [`crate::validate`].
//!
//! With the `openapi` feature every type derives `utoipa::ToSchema`, describing the JSON serde
//! reads and writes. A field read with `#[serde(default)]` only so that records stored before
//! it existed still load, but always written, is marked `required` there: the schema
//! describes the answers.

mod ops;
mod org;
mod plan;
mod service;
mod template;

pub use ops::*;
pub use org::*;
pub use plan::*;
pub use service::*;
pub use template::*;
