//! Benchmarks of caas-rs.
