//! The ports: traits the platform is composed of. Adapters implement them in sibling crates.

pub mod clock;
pub mod connector;
pub mod dns;
pub mod mailer;
pub mod notifier;
pub mod proxy;
pub mod quota;
pub mod runtime;
pub mod store;
