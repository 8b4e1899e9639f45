//! The host guard: tenant containers cannot open TCP connections to the engine's host.
//!
//! A container on a bridge network reaches every address of its host through the bridge's
//! gateway (`172.18.0.1`): whatever listens on `0.0.0.0` there — the platform's API, dockerd's
//! TCP port, PostgreSQL, Traefik's API when someone binds it beyond loopback — answers
//! tenants. Docker 20.10 has no network option against it (`internal` networks still reach
//! their gateway), and its `DOCKER-USER` chain hangs off `FORWARD`, which never sees packets
//! addressed to the host itself. So the guard is a chain of its own, `CAAS-HOST-GUARD`,
//! jumped to from the top of `INPUT`, with one rule per managed network:
//!
//! ```text
//! -A CAAS-HOST-GUARD -i br-<id> -p tcp -m conntrack --ctstate NEW \
//!    -m comment --comment caas-host-guard:<id> -j REJECT --reject-with tcp-reset
//! ```
//!
//! Only new TCP connections *from* the bridge are refused: the host's own connections to
//! containers (the platform's probes, Traefik's upstream traffic) and their replies pass,
//! the host still reaches its own ports through the gateway address (that traffic comes in
//! on `lo`), containers still talk to each other and to the outside world, and UDP (DNS
//! resolvers on the host) is untouched. An operator who wants tenants to reach one host port
//! inserts an `ACCEPT` rule at the top of `CAAS-HOST-GUARD`; the runtime only appends there.
//!
//! Rules are added when the runtime creates a network (and again, idempotently, when it finds
//! the network already there), removed when it removes the network, and rules whose bridge
//! is gone are swept on the next creation. [`DockerRuntime::guard_host`] re-installs them
//! for every managed network, e.g. after a firewall reload flushed them.
//!
//! [`DockerRuntime::guard_host`]: crate::DockerRuntime::guard_host

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use caas_core::{Error, Result};

/// The chain holding the guard's rules.
pub const HOST_GUARD_CHAIN: &str = "CAAS-HOST-GUARD";
const COMMENT_PREFIX: &str = "caas-host-guard:";

/// Whether tenant containers may open TCP connections to the engine's host (see the crate
/// docs, "Host guard").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostGuard {
    /// Guard the host when this process can: the engine's bridges are in this process's
    /// network namespace (the engine runs on this host, not rootless) and `iptables` works
    /// (root, or `CAP_NET_ADMIN`). Otherwise say so once in a warning and run unguarded.
    #[default]
    Auto,
    /// Guard the host, or refuse to create networks (`Unsupported`) when the rules cannot
    /// be installed.
    Required,
    /// Leave the host reachable (the engine's host is protected otherwise, e.g. by its own
    /// firewall).
    Off,
}

/// Installs and removes the guard's rules with the `iptables` command.
#[derive(Debug)]
pub(crate) struct Firewall {
    mode: HostGuard,
    iptables: PathBuf,
    // Check-then-append of one process must not interleave (`-w` serialises processes).
    turn: tokio::sync::Mutex<()>,
    warned: AtomicBool,
}

/// The name of a bridge network's interface on the host.
pub(crate) fn bridge_name(network: &bollard::models::Network) -> Option<String> {
    if network.driver.as_deref() != Some("bridge") {
        return None;
    }
    if let Some(name) = network
        .options
        .as_ref()
        .and_then(|o| o.get("com.docker.network.bridge.name"))
    {
        return Some(name.clone());
    }
    let id = network.id.as_deref()?;
    Some(format!("br-{}", id.get(..12)?))
}

/// The guard's rule for one bridge (without the chain), as `iptables` arguments.
fn rule(bridge: &str, network_id: &str) -> Vec<String> {
    let short = network_id.get(..12).unwrap_or(network_id);
    let comment = format!("{COMMENT_PREFIX}{short}");
    strings(&[
        "-i",
        bridge,
        "-p",
        "tcp",
        "-m",
        "conntrack",
        "--ctstate",
        "NEW",
        "-m",
        "comment",
        "--comment",
        &comment,
        "-j",
        "REJECT",
        "--reject-with",
        "tcp-reset",
    ])
}

/// `iptables <op> CAAS-HOST-GUARD <rule>` arguments.
fn in_chain(op: &str, rule: &[String]) -> Vec<String> {
    let mut args = strings(&[op, HOST_GUARD_CHAIN]);
    args.extend_from_slice(rule);
    args
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn interface_exists(name: &str) -> bool {
    !name.contains('/') && Path::new("/sys/class/net").join(name).exists()
}

/// `iptables` from the usual places (services often run with a `PATH` without `/usr/sbin`).
fn default_iptables() -> PathBuf {
    ["/usr/sbin/iptables", "/sbin/iptables"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("iptables"))
}

impl Firewall {
    pub(crate) fn new(mode: HostGuard, iptables: Option<PathBuf>) -> Self {
        Self {
            mode,
            iptables: iptables.unwrap_or_else(default_iptables),
            turn: tokio::sync::Mutex::new(()),
            warned: AtomicBool::new(false),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.mode != HostGuard::Off
    }

    /// Runs `iptables -w <args>`: whether it exited 0, and its standard error.
    async fn run(&self, args: &[String]) -> std::io::Result<(bool, String)> {
        self.output(args).await.map(|(ok, _, err)| (ok, err))
    }

    /// Runs `iptables -w <args>`: whether it exited 0, its standard output and error.
    async fn output(&self, args: &[String]) -> std::io::Result<(bool, String, String)> {
        let out = tokio::process::Command::new(&self.iptables)
            .arg("-w")
            .args(args)
            .kill_on_drop(true)
            .output()
            .await?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }

    /// `Auto`: a warning (once) and no guard; `Required`: `Unsupported`.
    fn cannot(&self, why: String) -> Result<()> {
        match self.mode {
            HostGuard::Required => Err(Error::unsupported(format!(
                "guarding the host from tenant containers: {why}; run the platform as root \
                 on the engine's host, or choose HostGuard::Off and protect the host otherwise"
            ))),
            _ => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        reason = %why,
                        "tenant containers can reach this host's ports through their gateway: \
                         the host guard cannot be installed (see caas-docker's docs)"
                    );
                }
                Ok(())
            }
        }
    }

    async fn ensure_chain(&self) -> std::result::Result<(), String> {
        let io = |e: std::io::Error| format!("running {}: {e}", self.iptables.display());
        // Exit status 1 with "already exists" is the normal case after the first network.
        let (created, err) = self
            .run(&strings(&["-N", HOST_GUARD_CHAIN]))
            .await
            .map_err(io)?;
        if !created && !err.contains("exists") {
            return Err(format!("creating chain {HOST_GUARD_CHAIN}: {err}"));
        }
        let (present, _) = self
            .run(&strings(&["-C", "INPUT", "-j", HOST_GUARD_CHAIN]))
            .await
            .map_err(io)?;
        if !present {
            let (ok, err) = self
                .run(&strings(&["-I", "INPUT", "1", "-j", HOST_GUARD_CHAIN]))
                .await
                .map_err(io)?;
            if !ok {
                return Err(format!("jumping from INPUT to {HOST_GUARD_CHAIN}: {err}"));
            }
        }
        Ok(())
    }

    /// Installs the rule of `network` (idempotent). Errors: `Unsupported` with
    /// [`HostGuard::Required`] when it cannot.
    pub(crate) async fn guard(&self, network: &bollard::models::Network) -> Result<()> {
        if !self.enabled() {
            return Ok(());
        }
        let (Some(bridge), Some(id)) = (bridge_name(network), network.id.as_deref()) else {
            return Ok(());
        };
        if !interface_exists(&bridge) {
            return self.cannot(format!(
                "the bridge '{bridge}' of network '{}' is not in this process's network \
                 namespace (the engine runs on another host, or rootless)",
                network.name.as_deref().unwrap_or(id)
            ));
        }
        let _turn = self.turn.lock().await;
        if let Err(why) = self.ensure_chain().await {
            return self.cannot(why);
        }
        self.sweep_locked().await;
        let rule = rule(&bridge, id);
        match self.run(&in_chain("-C", &rule)).await {
            Ok((true, _)) => return Ok(()),
            Ok((false, _)) => {}
            Err(e) => return self.cannot(e.to_string()),
        }
        match self.run(&in_chain("-A", &rule)).await {
            Ok((true, _)) => {
                tracing::debug!(bridge, network = id, "host guard installed");
                Ok(())
            }
            Ok((false, err)) => self.cannot(format!("adding the rule for '{bridge}': {err}")),
            Err(e) => self.cannot(e.to_string()),
        }
    }

    /// Removes the rules of a removed network (every copy; nothing when there is none).
    pub(crate) async fn unguard(&self, network: &bollard::models::Network) {
        if !self.enabled() {
            return;
        }
        let (Some(bridge), Some(id)) = (bridge_name(network), network.id.as_deref()) else {
            return;
        };
        let _turn = self.turn.lock().await;
        let args = in_chain("-D", &rule(&bridge, id));
        // Concurrent creators may have appended a copy each.
        for _ in 0..16 {
            match self.run(&args).await {
                Ok((true, _)) => {}
                _ => break,
            }
        }
    }

    /// Removes rules whose bridge no longer exists (networks removed behind the runtime's
    /// back). Best effort.
    async fn sweep_locked(&self) {
        let Ok((true, listed, _)) = self.output(&["-S".into(), HOST_GUARD_CHAIN.into()]).await
        else {
            return;
        };
        for line in listed.lines() {
            // `-S` quotes the comment; the rule is matched without the quotes.
            let words: Vec<&str> = line
                .split_whitespace()
                .map(|w| w.trim_matches('"'))
                .collect();
            if words.first() != Some(&"-A") || !line.contains(COMMENT_PREFIX) {
                continue;
            }
            let iface = words
                .iter()
                .position(|w| *w == "-i")
                .and_then(|i| words.get(i + 1));
            if let Some(iface) = iface
                && !interface_exists(iface)
            {
                let mut args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
                args[0] = "-D".into();
                let _ = self.run(&args).await;
                tracing::debug!(bridge = iface, "stale host guard rule removed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(id: &str, driver: &str, bridge: Option<&str>) -> bollard::models::Network {
        bollard::models::Network {
            id: Some(id.into()),
            driver: Some(driver.into()),
            options: bridge.map(|b| {
                std::collections::HashMap::from([(
                    "com.docker.network.bridge.name".to_string(),
                    b.to_string(),
                )])
            }),
            ..Default::default()
        }
    }

    #[test]
    fn bridges_are_named_like_the_engine_names_them() {
        let id = "0123456789abcdef0123";
        assert_eq!(
            bridge_name(&net(id, "bridge", None)).as_deref(),
            Some("br-0123456789ab")
        );
        assert_eq!(
            bridge_name(&net(id, "bridge", Some("docker0"))).as_deref(),
            Some("docker0")
        );
        assert_eq!(bridge_name(&net(id, "overlay", None)), None);
    }

    #[test]
    fn the_rule_refuses_new_tcp_connections_from_the_bridge_only() {
        let r = rule("br-0123456789ab", "0123456789abcdef");
        assert_eq!(
            r.join(" "),
            "-i br-0123456789ab -p tcp -m conntrack --ctstate NEW -m comment --comment \
             caas-host-guard:0123456789ab -j REJECT --reject-with tcp-reset"
        );
    }
}
