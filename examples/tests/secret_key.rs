//! The reference server's key file, end to end with the real binary and SQLite: created
//! private on first start, secrets sealed under it in the raw rows, a wrong, exposed or
//! missing key file stopping start-up with an error naming it, and `rotate-secret-key`
//! re-encrypting everything under a new key the next start uses. (No engine is needed: the
//! server starts without one.)

#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use caas_core::secrets::{SEALED_PREFIX, SecretKey};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WEBHOOK_SECRET: &str = "whsec-server-test-0123456789";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A data directory, and where the server hands its first admin token over.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    fn key_file(&self) -> PathBuf {
        self.data().join("secret.key")
    }
    fn token(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("token"))
            .unwrap()
            .trim()
            .to_string()
    }

    fn command(&self, env: &[(&str, &Path)]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_caas-server"));
        c.arg("--data-dir")
            .arg(self.data())
            .env(
                "DOCKER_HOST",
                format!(
                    "unix://{}",
                    self.dir.path().join("no-docker.sock").display()
                ),
            )
            .env("RUST_LOG", "warn")
            .env("CAAS_BOOTSTRAP_TOKEN_FILE", self.dir.path().join("token"))
            .env_remove("DATABASE_URL")
            .env_remove("CAAS_SECRET_KEY_FILE")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    /// Starts the server and waits until it answers.
    async fn start(&self) -> Server {
        let port = free_port();
        let mut child = self
            .command(&[])
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if request(port, "GET", "/v1/health", None, None).await.is_ok() {
                return Server { child, port };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("caas-server exited early with {status}");
            }
            assert!(Instant::now() < deadline, "caas-server did not listen");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs the binary to its end (a refused start-up, a subcommand): exit success, stdout,
    /// stderr.
    async fn run(&self, args: &[&str], env: &[(&str, &Path)]) -> (bool, String, String) {
        let port = free_port().to_string();
        let mut c = self.command(env);
        c.arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(args);
        let out = tokio::time::timeout(Duration::from_secs(60), c.output())
            .await
            .expect("caas-server ended within 60 s")
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    /// The alert settings rows, as stored.
    async fn raw_alert_settings(&self) -> Vec<String> {
        let store = caas_sqlite::SqliteStore::open(self.data().join("caas.db").to_str().unwrap())
            .await
            .unwrap();
        let rows = sqlx::query_scalar("SELECT value FROM settings WHERE key LIKE 'alerts.%'")
            .fetch_all(store.pool())
            .await
            .unwrap();
        store.pool().close().await;
        rows
    }
}

struct Server {
    child: tokio::process::Child,
    port: u16,
}

impl Server {
    async fn stop(mut self) {
        let pid = self.child.id().unwrap();
        let killed = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        let exit = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("stops within 20 s")
            .unwrap();
        assert!(exit.success(), "clean exit: {exit}");
    }
}

async fn request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\nContent-Type: application/json\r\n",
        payload.len()
    );
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await?;
    s.write_all(payload.as_bytes()).await?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    // Bodies of these small answers come whole (Content-Length), or as one chunk.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body.split_once("\r\n")
            .map_or("", |(_, rest)| {
                rest.rsplit_once("\r\n0\r\n").map_or(rest, |(b, _)| b)
            })
            .to_string()
    } else {
        body.to_string()
    };
    Ok((
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    ))
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn the_server_seals_secrets_under_its_key_file_and_rotates_it() {
    let setup = Setup::new();
    let server = setup.start().await;
    // The key file: created on first start, private, 32 bytes in hex.
    let key_text = std::fs::read_to_string(setup.key_file()).unwrap();
    assert_eq!(key_text.trim().len(), 64, "hex");
    #[cfg(unix)]
    assert_eq!(mode(&setup.key_file()), 0o600);
    let key = SecretKey::parse(&key_text).unwrap();

    let token = setup.token();
    let (status, answer) = request(
        server.port,
        "POST",
        "/v1/orgs",
        Some(&token),
        Some(&json!({"slug": "acme"})),
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{answer}");
    let settings = json!({"rules": [], "webhook": {"url": "https://hooks.example.com/caas", "secret": WEBHOOK_SECRET}});
    let (status, answer) = request(
        server.port,
        "PUT",
        "/v1/orgs/acme/alerts",
        Some(&token),
        Some(&settings),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{answer}");
    server.stop().await;

    let sealed = setup.raw_alert_settings().await;
    assert_eq!(sealed.len(), 1);
    assert!(
        !sealed[0].contains(WEBHOOK_SECRET) && sealed[0].contains(SEALED_PREFIX),
        "{sealed:?}"
    );

    // Rotation: a fresh key written to the new file, everything re-encrypted, the default key
    // file replaced.
    let new_file = setup.dir.path().join("new.key");
    let (ok, out, err) = setup
        .run(
            &[
                "rotate-secret-key",
                "--new-key-file",
                new_file.to_str().unwrap(),
            ],
            &[],
        )
        .await;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("Re-encrypted 1 secret values"), "{out}");
    #[cfg(unix)]
    assert_eq!(mode(&new_file), 0o600);
    let new_key = SecretKey::parse(&std::fs::read_to_string(&new_file).unwrap()).unwrap();
    assert_ne!(new_key.id(), key.id());
    let installed = SecretKey::parse(&std::fs::read_to_string(setup.key_file()).unwrap()).unwrap();
    assert_eq!(
        installed.id(),
        new_key.id(),
        "the default key file holds the new key"
    );
    #[cfg(unix)]
    assert_eq!(mode(&setup.key_file()), 0o600);
    let resealed = setup.raw_alert_settings().await;
    assert!(
        !resealed[0].contains(WEBHOOK_SECRET) && resealed[0].contains(SEALED_PREFIX),
        "{resealed:?}"
    );
    assert_ne!(resealed, sealed, "sealed again");
    let store = caas_sqlite::SqliteStore::open(setup.data().join("caas.db").to_str().unwrap())
        .await
        .unwrap();
    assert!(
        store.clone().with_secret_key(key).await.is_err(),
        "the old key no longer opens"
    );
    store.pool().close().await;

    // The next start uses the new key, and the webhook still works (its secret shown hidden).
    let server = setup.start().await;
    let (status, view) = request(
        server.port,
        "GET",
        "/v1/orgs/acme/alerts",
        Some(&token),
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        view["settings"]["webhook"]["url"], "https://hooks.example.com/caas",
        "{view}"
    );
    assert_eq!(view["settings"]["webhook"]["secret"], "********", "{view}");
    server.stop().await;
}

#[tokio::test]
async fn start_up_refuses_a_wrong_exposed_or_missing_key_file_naming_it() {
    let setup = Setup::new();
    setup.start().await.stop().await;
    let key_file = setup.key_file();
    let right = std::fs::read_to_string(&key_file).unwrap();
    let path = key_file.display().to_string();

    // Another key: refused, naming the file and both keys.
    std::fs::write(
        &key_file,
        format!("{}\n", SecretKey::generate().to_hex().as_str()),
    )
    .unwrap();
    let (ok, _, err) = setup.run(&[], &[]).await;
    assert!(!ok, "a wrong key stops start-up");
    assert!(
        err.contains(&path) && err.contains("cannot be used with this store"),
        "{err}"
    );
    assert!(
        err.contains(SecretKey::parse(&right).unwrap().id()),
        "{err}"
    );

    // The right key, but readable by others: refused with what to do.
    std::fs::write(&key_file, &right).unwrap();
    #[cfg(unix)]
    {
        set_mode(&key_file, 0o644);
        let (ok, _, err) = setup.run(&[], &[]).await;
        assert!(!ok, "an exposed key file stops start-up");
        assert!(err.contains(&path) && err.contains("chmod 600"), "{err}");
        set_mode(&key_file, 0o600);
    }

    // A key file the operator names must exist; none is made up.
    let missing = setup.dir.path().join("missing.key");
    let (ok, _, err) = setup.run(&[], &[("CAAS_SECRET_KEY_FILE", &missing)]).await;
    assert!(!ok);
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
    assert!(!missing.exists());

    // The default key file deleted: a new key is not silently put in its place.
    std::fs::remove_file(&key_file).unwrap();
    let (ok, _, err) = setup.run(&[], &[]).await;
    assert!(!ok, "a lost key file stops start-up");
    assert!(
        err.contains("did not exist") && err.contains(&path),
        "{err}"
    );
    assert!(!key_file.exists(), "the key made up on the way is removed");

    // Back in place, private: the server starts.
    std::fs::write(&key_file, &right).unwrap();
    #[cfg(unix)]
    set_mode(&key_file, 0o600);
    setup.start().await.stop().await;
}
