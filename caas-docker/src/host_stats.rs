//! One-shot container statistics read straight from the host's cgroup and proc files, when
//! this process runs next to the engine in the host's cgroup namespace. The engine's one-shot
//! stats wait for its per-container collector (Docker 20.10 answers at the next one-second
//! tick), so a sweep over many containers through the API takes seconds; these files answer
//! in microseconds, with the same figures the engine reads from them.
//!
//! A container's cgroup is found once (through its main process's `/proc/<pid>/cgroup`,
//! checked against the cgroup's own process list) and remembered by container id; a cgroup
//! that is gone (the container stopped or was removed) is forgotten and the caller asks the
//! engine, whose answer then says what happened. cgroup v1 (cgroupfs or systemd driver, any
//! parent) and v2 are read.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::Utc;
use procfs::process::Process;
use procfs::{Current, CurrentSI, KernelStats, Meminfo};

use caas_core::ports::runtime::RawStats;

/// Most containers whose cgroup is remembered (beyond it, the memory starts over).
const REMEMBERED: usize = 4096;

/// Where the cgroup hierarchies are mounted on this host.
#[derive(Debug, Default)]
struct Mounts {
    /// The unified (v2) hierarchy.
    v2: Option<PathBuf>,
    /// v1 hierarchies by controller (`cpuacct`, `memory`, `pids`, `blkio`).
    v1: HashMap<String, PathBuf>,
}

/// A container's cgroup directories.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cgroup {
    V1 {
        cpuacct: PathBuf,
        memory: PathBuf,
        pids: PathBuf,
        blkio: PathBuf,
    },
    V2(PathBuf),
}

impl Cgroup {
    /// The directory listing the container's processes.
    fn procs(&self) -> &Path {
        match self {
            Self::V1 { pids, .. } => pids,
            Self::V2(dir) => dir,
        }
    }
}

/// Reads containers' statistics from the host (see the module docs).
#[derive(Debug)]
pub(crate) struct HostStats {
    mounts: Mounts,
    known: Mutex<HashMap<String, Cgroup>>,
}

impl HostStats {
    /// The host's cgroup mounts, or `None` when there are none this process can read.
    pub(crate) fn detect() -> Option<Self> {
        let mut mounts = Mounts::default();
        for m in Process::myself().ok()?.mountinfo().ok()? {
            match m.fs_type.as_str() {
                "cgroup2" => mounts.v2 = Some(m.mount_point.clone()),
                "cgroup" => {
                    for option in m.super_options.keys() {
                        if matches!(option.as_str(), "cpuacct" | "memory" | "pids" | "blkio") {
                            mounts.v1.insert(option.clone(), m.mount_point.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        let v1 = ["cpuacct", "memory", "pids", "blkio"]
            .iter()
            .all(|c| mounts.v1.contains_key(*c));
        if !v1 {
            mounts.v1.clear();
        }
        (v1 || mounts.v2.is_some()).then(|| Self {
            mounts,
            known: Mutex::new(HashMap::new()),
        })
    }

    /// Statistics of a container whose cgroup is known, or `None` (not known yet, or gone).
    pub(crate) fn read_known(&self, id: &str) -> Option<RawStats> {
        let cgroup = self.lock().get(id).cloned()?;
        match read(&cgroup) {
            Ok(s) => Some(s),
            Err(_) => {
                self.lock().remove(id);
                None
            }
        }
    }

    /// Finds the cgroup of container `id` from its main process `pid` and reads it; `None`
    /// when it cannot be found or read from here.
    pub(crate) fn read_new(&self, id: &str, pid: i32) -> Option<RawStats> {
        let cgroup = self.locate(pid)?;
        let stats = read(&cgroup).ok()?;
        let mut known = self.lock();
        if known.len() >= REMEMBERED {
            known.clear();
        }
        known.insert(id.to_string(), cgroup);
        Some(stats)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cgroup>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn locate(&self, pid: i32) -> Option<Cgroup> {
        let groups = Process::new(pid).ok()?.cgroups().ok()?.0;
        let under = |mount: &Path, path: &str| mount.join(path.trim_start_matches('/'));
        let cgroup = if self.mounts.v1.is_empty() {
            let g = groups.iter().find(|g| g.hierarchy == 0)?;
            Cgroup::V2(under(self.mounts.v2.as_deref()?, &g.pathname))
        } else {
            let dir = |controller: &str| {
                let g = groups
                    .iter()
                    .find(|g| g.controllers.iter().any(|c| c == controller))?;
                Some(under(self.mounts.v1.get(controller)?, &g.pathname))
            };
            Cgroup::V1 {
                cpuacct: dir("cpuacct")?,
                memory: dir("memory")?,
                pids: dir("pids")?,
                blkio: dir("blkio")?,
            }
        };
        // Paths are relative to the reader's cgroup namespace: only trust a directory that
        // lists the process.
        procs(&cgroup).ok().filter(|all| all.contains(&pid))?;
        Some(cgroup)
    }
}

fn text(dir: &Path, file: &str) -> io::Result<String> {
    std::fs::read_to_string(dir.join(file))
}

fn number(dir: &Path, file: &str) -> io::Result<u64> {
    let t = text(dir, file)?;
    let t = t.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("{file}: '{t}'")))
}

/// The value of `key` in a `key value` file such as `memory.stat` (0 when absent).
fn keyed(dir: &Path, file: &str, key: &str) -> io::Result<u64> {
    Ok(text(dir, file)?
        .lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0))
}

fn procs(cgroup: &Cgroup) -> io::Result<Vec<i32>> {
    Ok(text(cgroup.procs(), "cgroup.procs")?
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect())
}

/// A process of the container (for its network namespace); an empty cgroup is gone.
fn first_pid(cgroup: &Cgroup) -> io::Result<i32> {
    procs(cgroup)?
        .into_iter()
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the cgroup has no process"))
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

fn read(cgroup: &Cgroup) -> io::Result<RawStats> {
    let pid = first_pid(cgroup)?;
    let host_memory = Meminfo::current().map_err(other)?.mem_total;
    let (cpu, usage, cache, limit, pids, (read, write)) = match cgroup {
        Cgroup::V1 {
            cpuacct,
            memory,
            pids,
            blkio,
        } => (
            number(cpuacct, "cpuacct.usage")?,
            number(memory, "memory.usage_in_bytes")?,
            keyed(memory, "memory.stat", "total_inactive_file")?,
            number(memory, "memory.limit_in_bytes")?,
            number(pids, "pids.current")?,
            block_v1(blkio)?,
        ),
        Cgroup::V2(dir) => (
            keyed(dir, "cpu.stat", "usage_usec")?.saturating_mul(1000),
            number(dir, "memory.current")?,
            keyed(dir, "memory.stat", "inactive_file")?,
            number(dir, "memory.max")?,
            number(dir, "pids.current")?,
            block_v2(dir)?,
        ),
    };
    let kernel = KernelStats::current().map_err(other)?;
    let t = &kernel.total;
    let ticks = t.user
        + t.nice
        + t.system
        + t.idle
        + t.iowait.unwrap_or(0)
        + t.irq.unwrap_or(0)
        + t.softirq.unwrap_or(0);
    let tick_ns = 1_000_000_000 / procfs::ticks_per_second().max(1);
    let (mut rx, mut tx) = (0, 0);
    let net = Process::new(pid)
        .and_then(|p| p.dev_status())
        .map_err(other)?;
    for (name, dev) in net {
        if name != "lo" {
            rx += dev.recv_bytes;
            tx += dev.sent_bytes;
        }
    }
    Ok(RawStats {
        at: Utc::now(),
        cpu_total_ns: cpu,
        system_cpu_ns: ticks.saturating_mul(tick_ns),
        online_cpus: u32::try_from(kernel.cpu_time.len()).unwrap_or(1).max(1),
        memory_usage_bytes: usage,
        memory_cache_bytes: cache,
        // Unlimited reads as the host's memory, as the engine reports it.
        memory_limit_bytes: limit.min(host_memory),
        net_rx_bytes: rx,
        net_tx_bytes: tx,
        block_read_bytes: read,
        block_write_bytes: write,
        pids,
    })
}

/// Bytes read and written: `blkio.throttle.io_service_bytes_recursive` lines such as
/// `8:0 Read 4096` (the CFQ file first, as the engine does, when the kernel has it).
fn block_v1(dir: &Path) -> io::Result<(u64, u64)> {
    let t = match text(dir, "blkio.io_service_bytes_recursive") {
        Ok(t) if t.lines().any(|l| l.split_whitespace().count() == 3) => t,
        _ => text(dir, "blkio.throttle.io_service_bytes_recursive")?,
    };
    let (mut read, mut write) = (0u64, 0u64);
    for line in t.lines() {
        let mut f = line.split_whitespace();
        let (Some(_dev), Some(op), Some(v)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let v: u64 = v.parse().unwrap_or(0);
        match op {
            "Read" => read += v,
            "Write" => write += v,
            _ => {}
        }
    }
    Ok((read, write))
}

/// Bytes read and written: `io.stat` lines such as `8:0 rbytes=4096 wbytes=0 …`.
fn block_v2(dir: &Path) -> io::Result<(u64, u64)> {
    let (mut read, mut write) = (0u64, 0u64);
    for line in text(dir, "io.stat")?.lines() {
        for field in line.split_whitespace().skip(1) {
            match field.split_once('=') {
                Some(("rbytes", v)) => read += v.parse::<u64>().unwrap_or(0),
                Some(("wbytes", v)) => write += v.parse::<u64>().unwrap_or(0),
                _ => {}
            }
        }
    }
    Ok((read, write))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn block_files_of_both_versions_sum_reads_and_writes() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("blkio.throttle.io_service_bytes_recursive"),
            "8:0 Read 4096\n8:0 Write 512\n8:16 Read 10\n8:0 Total 4608\nTotal 4618\n",
        )
        .unwrap();
        assert_eq!(block_v1(d.path()).unwrap(), (4106, 512));
        std::fs::write(
            d.path().join("io.stat"),
            "8:0 rbytes=100 wbytes=7 rios=1 wios=1\n8:16 rbytes=1 wbytes=2\n",
        )
        .unwrap();
        assert_eq!(block_v2(d.path()).unwrap(), (101, 9));
    }

    #[test]
    fn numbers_keys_and_unlimited_values_parse() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("memory.max"), "max\n").unwrap();
        std::fs::write(d.path().join("pids.current"), "3\n").unwrap();
        std::fs::write(
            d.path().join("memory.stat"),
            "cache 1\ninactive_file 42\ntotal_inactive_file 43\n",
        )
        .unwrap();
        assert_eq!(number(d.path(), "memory.max").unwrap(), u64::MAX);
        assert_eq!(number(d.path(), "pids.current").unwrap(), 3);
        assert_eq!(keyed(d.path(), "memory.stat", "inactive_file").unwrap(), 42);
        assert_eq!(keyed(d.path(), "memory.stat", "absent").unwrap(), 0);
        assert!(number(d.path(), "missing").is_err());
    }
}
