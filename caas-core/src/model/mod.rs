//! The domain model. Constructors (`New*::build`) validate; see [`crate::validate`].

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
