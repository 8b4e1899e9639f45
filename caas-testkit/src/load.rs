//! HTTP load for zero-downtime checks: one-shot requests ([`get`]) and concurrent clients
//! repeating a request until stopped ([`HttpLoad`]), recording when each answer and each
//! failure came.
//!
//! The requests are plain HTTP/1.1 with a `Host` header and `Connection: close`, so every
//! request opens a new connection, the way a proxy's routing change is seen by new clients.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longest a load runs when nobody stops it.
const MAX_RUN: Duration = Duration::from_secs(600);

/// One HTTP/1.1 GET of `path` on `addr:port` with `Host: host`: the status code (0 when the
/// answer has none) and the body. Connecting may take 5 s, reading 30 s.
pub async fn get(addr: &str, port: u16, path: &str, host: &str) -> std::io::Result<(u16, String)> {
    let mut s = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect((addr, port)),
    )
    .await
    .map_err(|_| std::io::Error::other("connect timeout"))??;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = String::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_string(&mut buf))
        .await
        .map_err(|_| std::io::Error::other("read timeout"))??;
    Ok(status_and_body(&buf))
}

/// The status code (0 when there is none) and the body of a whole HTTP/1.1 answer.
pub fn status_and_body(answer: &str) -> (u16, String) {
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// What the clients of an [`HttpLoad`] saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Each `200` answer: when, and its body.
    pub answers: Vec<(Instant, String)>,
    /// Everything else (other statuses, connection errors, timeouts): when, and what.
    pub failures: Vec<(Instant, String)>,
}

impl Seen {
    /// Answers whose body passes `expected`, the number of the others and of the failures,
    /// and a description of each of those.
    pub fn tally(&self, expected: impl Fn(&str) -> bool) -> (u64, u64, Vec<String>) {
        let mut bad: Vec<String> = self
            .answers
            .iter()
            .filter(|(_, body)| !expected(body))
            .map(|(_, body)| format!("unexpected answer {body:?}"))
            .collect();
        bad.extend(self.failures.iter().map(|(_, f)| f.clone()));
        let served = self.answers.len() as u64 - (bad.len() - self.failures.len()) as u64;
        (served, bad.len() as u64, bad)
    }
}

/// Concurrent clients requesting one URL until [`HttpLoad::finish`] (or ten minutes).
#[derive(Debug)]
pub struct HttpLoad {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl HttpLoad {
    /// Starts `clients` clients, each requesting `path` from `addr:port` with `Host: host`
    /// again as soon as an answer is in.
    pub fn start(addr: &str, port: u16, host: &str, path: &str, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let tasks = (0..clients)
            .map(|_| {
                let (stop, seen) = (stop.clone(), seen.clone());
                let (addr, host, path) = (addr.to_string(), host.to_string(), path.to_string());
                tokio::spawn(async move {
                    let end = Instant::now() + MAX_RUN;
                    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                        let r = get(&addr, port, &path, &host).await;
                        let at = Instant::now();
                        let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
                        match r {
                            Ok((200, body)) => s.answers.push((at, body)),
                            other => s.failures.push((at, format!("{other:?}"))),
                        }
                    }
                })
            })
            .collect();
        Self { stop, seen, tasks }
    }

    /// Answers and failures so far.
    pub fn counts(&self) -> (u64, u64) {
        let s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        (s.answers.len() as u64, s.failures.len() as u64)
    }

    /// Stops the clients (each finishes its request in flight) and returns what they saw.
    pub async fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_unexpected_answers_as_failed() {
        let t = Instant::now();
        let seen = Seen {
            answers: vec![(t, "v1\n".into()), (t, "v2\n".into()), (t, "oops".into())],
            failures: vec![(t, "Err(connect timeout)".into())],
        };
        let (served, failed, what) = seen.tally(|b| b.starts_with('v'));
        assert_eq!((served, failed), (2, 2));
        assert_eq!(what, ["unexpected answer \"oops\"", "Err(connect timeout)"]);
    }
}
