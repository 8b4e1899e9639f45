//! Runnable examples of embedding caas-rs, next to the reference server (`caas-server`).
//!
//! - [`panel`]: a hosting panel's own users, organizations, members, plans and subscriptions
//!   (its PostgreSQL tables) as caas-rs's directory and plan source; the `panel` example
//!   (`cargo run -p caas-examples --example panel`) deploys through it.

pub mod panel;
