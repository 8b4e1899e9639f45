//! Probes run from inside containers: a command's output, and whether a TCP connection
//! opens — what tenant isolation tests try from a tenant's place.

use caas_core::ContainerRuntime;
use futures::TryStreamExt;

/// Runs `command` with `sh -c` in container `id` and returns its standard output, trimmed.
/// Panics when the engine refuses (a test fixture).
pub async fn exec_output(rt: &dyn ContainerRuntime, id: &str, command: &str) -> String {
    let out: Vec<u8> = rt
        .exec(id, &["sh".into(), "-c".into(), command.into()], None)
        .await
        .expect("exec in the probe container")
        .map_ok(|b| b.to_vec())
        .try_concat()
        .await
        .expect("the probe's output");
    String::from_utf8_lossy(&out).trim().to_string()
}

/// Whether a TCP connection from inside container `id` (a busybox image) to `ip:port` opens,
/// within 2 s: busybox `nc -e true` closes right after connecting; a refused or dropped
/// connection makes it fail.
pub async fn connects(rt: &dyn ContainerRuntime, id: &str, ip: &str, port: u16) -> bool {
    let out = exec_output(
        rt,
        id,
        &format!("if nc -w 2 {ip} {port} -e true </dev/null; then echo OPEN; else echo CLOSED; fi"),
    )
    .await;
    match out.lines().last() {
        Some("OPEN") => true,
        Some("CLOSED") => false,
        other => panic!("unexpected probe output {other:?} ({out})"),
    }
}
