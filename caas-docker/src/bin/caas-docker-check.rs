//! Prints the connection report for an engine address as JSON:
//! `cargo run -p caas-docker --bin caas-docker-check -- unix:///var/run/docker.sock`.

use std::time::Duration;

use caas_docker::{DockerConnection, test_connection};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let host = std::env::args().nth(1);
    let conn = match DockerConnection::from_env_value(host.as_deref(), false, None) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let report = test_connection(&conn, Duration::from_secs(5)).await;
    match serde_json::to_string_pretty(&report) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
