#![doc = include_str!("../README.md")]

pub mod archive;
pub mod auth;
pub mod codec;
pub mod error;
pub mod ids;
pub mod labels;
pub mod memory;
pub mod model;
pub(crate) mod naming;
pub mod net;
pub mod platform;
pub mod ports;
pub mod secrets;
pub mod units;
pub mod validate;

pub use auth::{Action, Principal};
pub use error::{Error, Result};
pub use ids::*;
pub use platform::{Platform, PlatformBuilder, ProjectRef, ServiceRef};
pub use ports::clock::{Clock, ManualClock, SystemClock};
pub use ports::proxy::Proxy;
pub use ports::quota::{QuotaEngine, QuotaGrant, StoreQuotaEngine};
pub use ports::runtime::ContainerRuntime;
pub use ports::store::{
    Directory, DirectoryAdmin, DomainStore, HistoryStore, InvitationStore, MetricStore, PlanAdmin,
    PlanSource, QuotaLedger, ServiceStore, SettingStore, Store, StoreParts, TemplateStore,
    TokenStore, VolumeStore,
};

/// The repository README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
mod readme_doctests {}
