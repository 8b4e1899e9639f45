//! End to end: the real server binary starts with its defaults (SQLite in a fresh data
//! directory, the real Docker engine), answers `GET /v1/health` on a loopback port, hands its
//! first admin token over once, and serves the whole journey over HTTP: plan, organization,
//! subscription, project, the busybox httpd app reachable on its project network, stop/start,
//! logs, delete — leaving nothing labelled behind. Volumes are backed up into the default
//! backup directory next to the SQLite file, by hand and by the scheduler. The monitoring
//! workers run: metrics are collected, a crash loop is watched and alerted to a signed webhook.
//! Users, tokens and invitations work over HTTP alone, the invitation link in the log only.

#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use caas_core::labels;
use caas_core::ports::runtime::LabelSelector;
use caas_testkit::env;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

async fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    caas_testkit::load::get("127.0.0.1", port, path, "localhost").await
}

/// One request over a fresh connection: the status and the body as JSON (`Null` when empty,
/// a string when not JSON).
async fn request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        payload.len()
    );
    if body.is_some() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(payload.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut raw))
        .await
        .expect("an answer within 60 s")
        .expect("read");
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or(Value::String(body))
    };
    (status, json)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

struct Server {
    child: tokio::process::Child,
    port: u16,
    /// What the server printed on stdout so far.
    stdout: Arc<Mutex<String>>,
}

/// How to start a server: its data directory (kept across restarts) and extra environment.
struct Options<'a> {
    data_dir: &'a Path,
    docker_host: &'a str,
    env: Vec<(&'a str, String)>,
}

async fn start(docker_host: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_with(Options {
        data_dir: &dir.path().join("data"),
        docker_host,
        env: vec![],
    })
    .await;
    (server, dir)
}

async fn start_with(options: Options<'_>) -> Server {
    let port = free_port();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_caas-server"));
    command
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(options.data_dir)
        .env("DOCKER_HOST", options.docker_host)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("CAAS_BOOTSTRAP_TOKEN_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in &options.env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("start caas-server");
    // Drain stdout so the server never blocks on a full pipe, and keep it for assertions.
    let stdout = Arc::new(Mutex::new(String::new()));
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let sink = stdout.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    let mut server = Server {
        child,
        port,
        stdout,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if get(port, "/v1/health").await.is_ok() {
            return server;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("caas-server exited early with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "caas-server did not listen within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Server {
    fn printed(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// SIGTERM, then waits for a clean exit.
    async fn stop(mut self) {
        let pid = self.child.id().expect("pid");
        let killed = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("kill");
        assert!(killed.success());
        let exit = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("server stops within 20 s of SIGTERM")
            .expect("wait");
        assert!(exit.success(), "clean exit: {exit}");
    }
}

#[tokio::test]
async fn server_starts_with_defaults_and_reports_the_real_engine() {
    let Some(docker) = env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine") else {
        return;
    };
    let (mut server, _dir) = start(&docker).await;
    let (status, body) = get(server.port, "/v1/health").await.expect("health");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["store"]["available"], true, "{v}");
    assert_eq!(v["runtime"]["available"], true, "{v}");
    assert_eq!(v["engine"]["backend"], "docker", "{v}");
    assert_eq!(v["status"], "ok");
    // Graceful shutdown on SIGTERM.
    let pid = server.child.id().expect("pid");
    let killed = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(killed.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), server.child.wait())
        .await
        .expect("server stops within 10 s of SIGTERM")
        .expect("wait");
    assert!(exit.success(), "clean exit: {exit}");
}

#[tokio::test]
async fn server_starts_without_an_engine_and_reports_it_unavailable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = format!("unix://{}", dir.path().join("no-docker.sock").display());
    let (server, _data) = start(&missing).await;
    let (status, body) = get(server.port, "/v1/health").await.expect("health");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["status"], "degraded", "{v}");
    assert_eq!(v["runtime"]["available"], false, "{v}");
    assert_eq!(v["store"]["available"], true, "{v}");
}

#[tokio::test]
async fn the_server_reconciles_at_start_up_and_removes_orphans() {
    use caas_core::ContainerRuntime;
    use caas_core::ports::runtime::ContainerSpec;

    let Some(docker) = env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine") else {
        return;
    };
    let Some(image) = env::require("CAAS_TEST_BUSYBOX_IMAGE", "the local busybox image") else {
        return;
    };
    let path = docker
        .strip_prefix("unix://")
        .unwrap_or(&docker)
        .to_string();
    let rt = caas_docker::DockerRuntime::builder()
        .connection(caas_docker::DockerConnection::Unix { path: path.into() })
        .build()
        .await
        .expect("engine");
    // A container of this server's instance whose deployment no store knows: an orphan.
    let mut spec = ContainerSpec::new(format!("caas-orphan-{}", env::run_id()), image);
    spec.command = Some(vec!["sleep".into(), "300".into()]);
    spec.labels = caas_core::labels::container_labels(
        caas_core::OrgId::new(),
        caas_core::ProjectId::new(),
        caas_core::ServiceId::new(),
        caas_core::DeploymentId::new(),
    );
    spec.labels
        .insert(caas_core::labels::INSTANCE.into(), "default".into());
    let id = rt
        .create_container(&spec)
        .await
        .expect("create")
        .id()
        .to_string();
    rt.start_container(&id).await.expect("start");

    let _server = start(&docker).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while rt
        .inspect_container_opt(&id)
        .await
        .expect("inspect")
        .is_some()
    {
        assert!(Instant::now() < deadline, "the orphan was not removed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the server printed something matching `find`.
async fn printed_line(server: &Server, find: impl Fn(&str) -> Option<String>) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(found) = server.printed().lines().find_map(&find) {
            return Some(found);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const TOKEN_LINE: &str = "Admin API token (shown once, store it now): ";

#[tokio::test]
async fn the_first_start_prints_the_admin_token_once_and_it_keeps_working() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = format!("unix://{}", dir.path().join("no-docker.sock").display());
    let data_dir = dir.path().join("data");
    let options = || Options {
        data_dir: &data_dir,
        docker_host: &missing,
        env: vec![],
    };
    let server = start_with(options()).await;
    let token = printed_line(&server, |l| l.strip_prefix(TOKEN_LINE).map(str::to_string))
        .await
        .unwrap_or_else(|| panic!("no token printed: {}", server.printed()));
    assert!(token.starts_with("caas_"), "{token}");
    let (status, orgs) = request(server.port, "GET", "/v1/orgs", Some(&token), None).await;
    assert_eq!(status, 200, "{orgs}");
    let (status, err) = request(server.port, "GET", "/v1/orgs", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(err["code"], "UNAUTHENTICATED");
    server.stop().await;

    let server = start_with(options()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let printed = server.printed();
    assert!(!printed.contains("Admin API token"), "{printed}");
    assert!(!printed.contains(&token), "{printed}");
    let (status, _) = request(server.port, "GET", "/v1/orgs", Some(&token), None).await;
    assert_eq!(status, 200, "the first token still works");
    server.stop().await;
}

#[tokio::test]
async fn a_new_user_joins_by_invitation_over_http_and_only_the_mailer_line_holds_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = format!("unix://{}", dir.path().join("no-docker.sock").display());
    let data_dir = dir.path().join("data");
    let server = start_with(Options {
        data_dir: &data_dir,
        docker_host: &missing,
        env: vec![
            // The mailer's line, and the request traces at their most verbose.
            (
                "RUST_LOG",
                "warn,caas::invitations=info,tower_http=trace".into(),
            ),
            ("CAAS_PUBLIC_URL", "https://panel.example.test/caas/".into()),
        ],
    })
    .await;
    let port = server.port;
    let admin = printed_line(&server, |l| l.strip_prefix(TOKEN_LINE).map(str::to_string))
        .await
        .unwrap_or_else(|| panic!("no token printed: {}", server.printed()));
    let call = |method: &'static str, path: String, token: String, body: Option<Value>| async move {
        request(port, method, &path, Some(&token), body.as_ref()).await
    };

    // A user and the token handed over to them.
    let (status, user) = call(
        "POST",
        "/v1/admin/users".into(),
        admin.clone(),
        Some(json!({"email": "dave@example.com", "display_name": "Dave"})),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let (status, created) = call(
        "POST",
        "/v1/admin/users/dave@example.com/tokens".into(),
        admin.clone(),
        Some(json!({"name": "first"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let dave = created["secret"].as_str().expect("secret").to_string();
    let (status, own) = call(
        "POST",
        "/v1/tokens".into(),
        dave.clone(),
        Some(json!({"name": "laptop"})),
    )
    .await;
    assert_eq!(status, 201, "{own}");
    let laptop = own["secret"].as_str().expect("secret").to_string();
    let (status, listed) = call("GET", "/v1/tokens".into(), laptop.clone(), None).await;
    assert_eq!(status, 200, "{listed}");
    assert!(!listed.to_string().contains("caas_"), "{listed}");

    // Invited to the administrator's organization, Dave accepts with his own token.
    let (status, org) = call(
        "POST",
        "/v1/orgs".into(),
        admin.clone(),
        Some(json!({"slug": "acme"})),
    )
    .await;
    assert_eq!(status, 201, "{org}");
    let (status, invitation) = call(
        "POST",
        "/v1/orgs/acme/invitations".into(),
        admin.clone(),
        Some(json!({"email": "dave@example.com", "role": "member"})),
    )
    .await;
    assert_eq!(status, 201, "the server has a mailer: {invitation}");
    assert!(
        !invitation.to_string().contains("caas_inv_"),
        "{invitation}"
    );
    let link = "POST https://panel.example.test/caas/v1/invitations/";
    let token = printed_line(&server, |l| {
        let (_, rest) = l.split_once(link)?;
        rest.split_once("/accept").map(|(t, _)| t.to_string())
    })
    .await
    .unwrap_or_else(|| panic!("no invitation link logged: {}", server.printed()));
    assert!(token.starts_with("caas_inv_"), "{token}");
    let (status, member) = call(
        "POST",
        format!("/v1/invitations/{token}/accept"),
        laptop.clone(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{member}");
    assert_eq!(member["email"], "dave@example.com");
    assert_eq!(member["role"], "member");
    let (status, me) = call("GET", "/v1/me".into(), dave.clone(), None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["memberships"][0]["org"], "acme", "{me}");
    assert_eq!(me["memberships"][0]["role"], "member", "{me}");

    // The token is in the mailer's line and nowhere else; the secrets in no line at all.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let printed = server.printed();
    assert_eq!(printed.matches(&token).count(), 1, "{printed}");
    assert!(
        printed.contains("/v1/invitations/[redacted]/accept"),
        "the accept request is traced, redacted: {printed}"
    );
    for secret in [&dave, &laptop] {
        assert!(!printed.contains(secret.as_str()), "{secret}: {printed}");
    }
    server.stop().await;
}

fn docker_runtime(docker: &str) -> caas_docker::DockerRuntime {
    let path = docker.strip_prefix("unix://").unwrap_or(docker).to_string();
    caas_docker::DockerRuntime::builder()
        .connection(caas_docker::DockerConnection::Unix { path: path.into() })
        .build_lazy()
        .expect("engine")
}

/// Reads the token file: one line, mode 0600.
fn read_token(path: &Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .expect("token file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the token file is private");
    }
    std::fs::read_to_string(path)
        .expect("token file")
        .trim()
        .to_string()
}

async fn http_get_page(addr: &str) -> std::io::Result<String> {
    let mut s = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::other("connect timeout"))??;
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").await?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await?;
    Ok(buf)
}

/// The service's container address on its project network, answering with the page.
async fn page_of(rt: &caas_docker::DockerRuntime, selector: &LabelSelector) -> String {
    use caas_core::ContainerRuntime;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let containers = rt.list_containers(selector).await.expect("list");
        assert_eq!(containers.len(), 1, "{containers:?}");
        let info = rt
            .inspect_container_opt(&containers[0].id)
            .await
            .expect("inspect")
            .expect("the container exists");
        if let Some(ip) = info.ip_addresses.values().next() {
            if let Ok(page) = http_get_page(&format!("{ip}:8080")).await {
                if page.contains("200") {
                    return page;
                }
            }
        }
        assert!(Instant::now() < deadline, "httpd did not answer: {info:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_quick_start_journey_works_over_http_on_the_real_engine() {
    use caas_core::ContainerRuntime;

    let Some(docker) = env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine") else {
        return;
    };
    let Some(image) = env::require("CAAS_TEST_BUSYBOX_IMAGE", "the local busybox image") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let token_file: PathBuf = dir.path().join("admin-token");
    let instance = format!("e2e-{}", env::run_id());
    let options = || Options {
        data_dir: &data_dir,
        docker_host: &docker,
        env: vec![
            (
                "CAAS_BOOTSTRAP_TOKEN_FILE",
                token_file.display().to_string(),
            ),
            ("CAAS_INSTANCE", instance.clone()),
            ("CAAS_STOP_TIMEOUT", "2s".into()),
        ],
    };
    let server = start_with(options()).await;
    let token = read_token(&token_file);
    assert!(token.starts_with("caas_"));
    assert!(
        !server.printed().contains(&token),
        "written to the file, not printed"
    );
    let port = server.port;
    let call = |method: &'static str, path: String, body: Option<Value>| {
        let token = token.clone();
        async move { request(port, method, &path, Some(&token), body.as_ref()).await }
    };

    let (status, plan) = call(
        "POST",
        "/v1/admin/plans".into(),
        Some(json!({"name": "starter", "limits": {
            "cpu_millis": 2000, "memory_bytes": 2_147_483_648u64, "storage_bytes": 10_737_418_240u64,
            "max_containers": 5, "max_projects": 2}})),
    )
    .await;
    assert_eq!(status, 201, "{plan}");
    let (status, org) = call("POST", "/v1/orgs".into(), Some(json!({"slug": "acme"}))).await;
    assert_eq!(status, 201, "{org}");
    let (status, sub) = call(
        "PUT",
        "/v1/orgs/acme/subscription".into(),
        Some(json!({"plan": "starter"})),
    )
    .await;
    assert_eq!(status, 200, "{sub}");
    assert_eq!(sub["status"], "active");
    let (status, project) = call(
        "POST",
        "/v1/orgs/acme/projects".into(),
        Some(json!({"name": "shop"})),
    )
    .await;
    assert_eq!(status, 201, "{project}");

    let services = "/v1/orgs/acme/projects/shop/services";
    let (status, web) = call(
        "POST",
        services.into(),
        Some(json!({"name": "web", "spec": {
            "image": image,
            "command": ["sh", "-c", "mkdir -p /www && echo hi > /www/index.html && echo httpd ready && exec httpd -f -p 8080 -h /www"],
            "ports": [{"container_port": 8080}]}})),
    )
    .await;
    assert_eq!(status, 201, "{web}");
    assert_eq!(web["status"], "running");
    let (status, got) = call("GET", format!("{services}/web"), None).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["id"], web["id"]);

    // Reachable from the host on its project network.
    let rt = docker_runtime(&docker);
    let service_id = web["id"].as_str().unwrap();
    let selector = LabelSelector::managed()
        .with(labels::INSTANCE, &instance)
        .with(labels::SERVICE, service_id);
    let page = page_of(&rt, &selector).await;
    assert!(page.contains("hi"), "{page}");

    let (status, out) = call("POST", format!("{services}/web/stop"), None).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["service"]["status"], "stopped");
    let containers = rt.list_containers(&selector).await.unwrap();
    assert_eq!(
        rt.inspect_container_opt(&containers[0].id)
            .await
            .unwrap()
            .unwrap()
            .status,
        caas_core::ports::runtime::ContainerStatus::Exited,
        "stopped in the engine"
    );
    let (status, out) = call("POST", format!("{services}/web/start"), None).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["changed"], true);
    let page = page_of(&rt, &selector).await;
    assert!(page.contains("hi"), "{page}");

    let (status, lines) = call("GET", format!("{services}/web/logs?tail=50"), None).await;
    assert_eq!(status, 200, "{lines}");
    assert!(
        lines
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["text"] == "httpd ready"),
        "{lines}"
    );

    let (status, _) = call("DELETE", format!("{services}/web"), None).await;
    assert_eq!(status, 204);
    let (status, _) = call("GET", format!("{services}/web"), None).await;
    assert_eq!(status, 404);
    let (status, _) = call(
        "DELETE",
        "/v1/orgs/acme/projects/shop?volumes=true".into(),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let mine = LabelSelector::managed().with(labels::INSTANCE, &instance);
    assert!(rt.list_containers(&mine).await.unwrap().is_empty());
    assert!(rt.list_networks(&mine).await.unwrap().is_empty());
    assert!(rt.list_volumes(&mine).await.unwrap().is_empty());

    // A restart hands no new token over, and the first one still works.
    server.stop().await;
    std::fs::remove_file(&token_file).unwrap();
    let server = start_with(options()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!token_file.exists(), "no second bootstrap token");
    assert!(
        !server.printed().contains("Admin API token"),
        "{}",
        server.printed()
    );
    let (status, orgs) = request(server.port, "GET", "/v1/orgs", Some(&token), None).await;
    assert_eq!(status, 200, "{orgs}");
    assert_eq!(orgs[0]["slug"], "acme");
    server.stop().await;
}

/// Plan `starter`, organization `acme` subscribed to it, project `shop`.
async fn seed_tenant(port: u16, token: &str) {
    let plan = json!({"name": "starter", "limits": {
        "cpu_millis": 2000, "memory_bytes": 2_147_483_648u64, "storage_bytes": 10_737_418_240u64,
        "max_containers": 5, "max_projects": 2}});
    for (method, path, body, expected) in [
        ("POST", "/v1/admin/plans", plan, 201),
        ("POST", "/v1/orgs", json!({"slug": "acme"}), 201),
        (
            "PUT",
            "/v1/orgs/acme/subscription",
            json!({"plan": "starter"}),
            200,
        ),
        (
            "POST",
            "/v1/orgs/acme/projects",
            json!({"name": "shop"}),
            201,
        ),
    ] {
        let (status, answer) = request(port, method, path, Some(token), Some(&body)).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
    }
}

#[tokio::test]
async fn a_volume_is_backed_up_over_http_into_the_backup_directory() {
    use caas_core::ContainerRuntime;

    let Some(docker) = env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine") else {
        return;
    };
    let Some(image) = env::require("CAAS_TEST_BUSYBOX_IMAGE", "the local busybox image") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let token_file = dir.path().join("admin-token");
    let instance = format!("e2e-backup-{}", env::run_id());
    let server = start_with(Options {
        data_dir: &data_dir,
        docker_host: &docker,
        env: vec![
            (
                "CAAS_BOOTSTRAP_TOKEN_FILE",
                token_file.display().to_string(),
            ),
            ("CAAS_INSTANCE", instance.clone()),
            ("CAAS_STOP_TIMEOUT", "2s".into()),
            // No registry here: the archive helper is the local busybox image.
            ("CAAS_ARCHIVE_HELPER_IMAGE", image.clone()),
            ("CAAS_VOLUME_CHECK_INTERVAL", "1s".into()),
            ("CAAS_BACKUP_CHECK_INTERVAL", "1s".into()),
            // Schedules every minute, which the default floor (15 minutes) refuses.
            ("CAAS_BACKUP_MIN_INTERVAL", "1m".into()),
        ],
    })
    .await;
    let backup_dir = data_dir.join("backups");
    assert!(
        backup_dir.is_dir(),
        "the default backup directory is created"
    );
    let token = read_token(&token_file);
    let port = server.port;
    let call = |method: &'static str, path: String, body: Option<Value>| {
        let token = token.clone();
        async move { request(port, method, &path, Some(&token), body.as_ref()).await }
    };
    seed_tenant(port, &token).await;

    let (status, volume) = call(
        "POST",
        "/v1/orgs/acme/volumes".into(),
        Some(json!({"project": "shop", "name": "data", "size_bytes": 67_108_864u64})),
    )
    .await;
    assert_eq!(status, 201, "{volume}");
    let services = "/v1/orgs/acme/projects/shop/services";
    let (status, web) = call(
        "POST",
        services.into(),
        Some(json!({"name": "web", "spec": {
            "image": image,
            "command": ["sh", "-c", "mkdir -p /data && echo hello > /data/hello.txt && echo data written && exec httpd -f -p 8080 -h /data"],
            "ports": [{"container_port": 8080}],
            "volumes": [{"volume": "data", "target": "/data"}]}})),
    )
    .await;
    assert_eq!(status, 201, "{web}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, lines) = call("GET", format!("{services}/web/logs?tail=20"), None).await;
        if lines
            .as_array()
            .is_some_and(|l| l.iter().any(|l| l["text"] == "data written"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "the app did not write: {lines}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, got) = call("GET", "/v1/orgs/acme/volumes/data".into(), None).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["mounted_by"][0]["service"], "web", "{got}");

    // A consistent backup: the app is stopped around the copy and runs again afterwards.
    let (status, backup) = call(
        "POST",
        "/v1/orgs/acme/volumes/data/backups".into(),
        Some(json!({"consistent": true})),
    )
    .await;
    assert_eq!(status, 201, "{backup}");
    assert_eq!(backup["status"], "succeeded", "{backup}");
    assert!(
        backup["archive_bytes"].as_u64().unwrap() >= 1024,
        "a tar holding hello.txt: {backup}"
    );
    let archive = backup_dir.join(backup["location"].as_str().unwrap());
    let size = std::fs::metadata(&archive)
        .unwrap_or_else(|e| panic!("{}: {e}", archive.display()))
        .len();
    assert_eq!(Some(size), backup["size_bytes"].as_u64(), "{backup}");
    let (_, web) = call("GET", format!("{services}/web"), None).await;
    assert_eq!(web["status"], "running", "{web}");
    let (status, list) = call("GET", "/v1/orgs/acme/backups".into(), None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list[0]["id"], backup["id"]);

    // The workers run: the volume monitor measures the volume, the scheduler takes the
    // scheduled backup at the next minute.
    let (status, scheduled) = call(
        "PUT",
        "/v1/orgs/acme/volumes/data/backup-schedule".into(),
        Some(json!({"cron": "* * * * *", "keep_last": 1})),
    )
    .await;
    assert_eq!(status, 200, "{scheduled}");
    let deadline = Instant::now() + Duration::from_secs(90);
    let taken = loop {
        let (_, list) = call("GET", "/v1/orgs/acme/volumes/data/backups".into(), None).await;
        let taken = list.as_array().and_then(|l| {
            l.iter()
                .find(|b| b["trigger"] == "scheduled" && b["status"] != "running")
                .cloned()
        });
        if let Some(b) = taken {
            break b;
        }
        assert!(Instant::now() < deadline, "no scheduled backup: {list}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(taken["status"], "succeeded", "{taken}");
    let (_, measured) = call("GET", "/v1/orgs/acme/volumes/data".into(), None).await;
    assert!(measured["usage"]["bytes"].as_u64().is_some(), "{measured}");
    assert_eq!(measured["state"], "ok", "{measured}");
    let (status, _) = call(
        "DELETE",
        "/v1/orgs/acme/volumes/data/backup-schedule".into(),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = call(
        "DELETE",
        format!("/v1/orgs/acme/backups/{}", taken["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");

    // The volume goes (forced: the app mounts it); its backup stays until deleted.
    let (status, body) = call("DELETE", "/v1/orgs/acme/volumes/data".into(), None).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = call(
        "DELETE",
        "/v1/orgs/acme/volumes/data?force=true".into(),
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert!(archive.exists(), "backups outlive their volume");
    let (status, _) = call(
        "DELETE",
        format!("/v1/orgs/acme/backups/{}", backup["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert!(!archive.exists(), "the archive goes with the backup");

    let (status, _) = call(
        "DELETE",
        "/v1/orgs/acme/projects/shop?volumes=true".into(),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let rt = docker_runtime(&docker);
    let mine = LabelSelector::managed().with(labels::INSTANCE, &instance);
    assert!(
        rt.list_containers(&mine).await.unwrap().is_empty(),
        "helpers removed too"
    );
    assert!(rt.list_volumes(&mine).await.unwrap().is_empty());
    server.stop().await;
}

/// One webhook delivery: its headers (lowercase names) and body.
struct Delivery {
    path: String,
    headers: std::collections::HashMap<String, String>,
    body: Vec<u8>,
}

/// A webhook receiver on loopback answering 200 to every POST; deliveries come out of the
/// channel.
async fn webhook_receiver() -> (u16, tokio::sync::mpsc::UnboundedReceiver<Delivery>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut raw = Vec::new();
                let mut buf = [0u8; 4096];
                let (head, mut body) = loop {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    raw.extend_from_slice(&buf[..n]);
                    if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&raw[..at]).to_string();
                        break (head, raw[at + 4..].to_vec());
                    }
                };
                let mut lines = head.lines();
                let path = lines
                    .next()
                    .and_then(|l| l.split_whitespace().nth(1))
                    .unwrap_or_default()
                    .to_string();
                let headers: std::collections::HashMap<String, String> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let length: usize = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                while body.len() < length {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        break;
                    }
                    body.extend_from_slice(&buf[..n]);
                }
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                let _ = tx.send(Delivery {
                    path,
                    headers,
                    body,
                });
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn the_server_collects_metrics_watches_events_and_sends_alerts_on_the_real_engine() {
    use caas_core::ContainerRuntime;

    let Some(docker) = env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine") else {
        return;
    };
    let Some(image) = env::require("CAAS_TEST_BUSYBOX_IMAGE", "the local busybox image") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let token_file = dir.path().join("admin-token");
    let instance = format!("e2e-monitoring-{}", env::run_id());
    let server = start_with(Options {
        data_dir: &data_dir,
        docker_host: &docker,
        env: vec![
            (
                "CAAS_BOOTSTRAP_TOKEN_FILE",
                token_file.display().to_string(),
            ),
            ("CAAS_INSTANCE", instance.clone()),
            ("CAAS_STOP_TIMEOUT", "2s".into()),
            ("CAAS_METRICS_INTERVAL", "2s".into()),
            ("CAAS_ALERT_INTERVAL", "1s".into()),
            // The test's webhook receiver listens on loopback.
            ("CAAS_WEBHOOK_ALLOW_PRIVATE", "true".into()),
        ],
    })
    .await;
    let token = read_token(&token_file);
    let port = server.port;
    let call = |method: &'static str, path: String, body: Option<Value>| {
        let token = token.clone();
        async move { request(port, method, &path, Some(&token), body.as_ref()).await }
    };
    seed_tenant(port, &token).await;
    let services = "/v1/orgs/acme/projects/shop/services";
    let (status, web) = call(
        "POST",
        services.into(),
        Some(json!({"name": "web", "spec": {
            "image": image,
            "command": ["sh", "-c", "mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p 8080 -h /www"],
            "ports": [{"container_port": 8080}]}})),
    )
    .await;
    assert_eq!(status, 201, "{web}");

    // The collector samples it: raw points within ~30 s (minute points need a complete,
    // rolled-up minute).
    let deadline = Instant::now() + Duration::from_secs(30);
    let points = loop {
        let (status, points) = call("GET", format!("{services}/web/metrics?step=raw"), None).await;
        assert_eq!(status, 200, "{points}");
        if points.as_array().is_some_and(|p| !p.is_empty()) {
            break points;
        }
        assert!(
            Instant::now() < deadline,
            "no metrics within 30 s: {points}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(points[0]["service"], web["id"], "{points}");
    assert!(
        points[0]["memory_bytes"]["avg"].as_f64().unwrap() > 0.0,
        "{points}"
    );
    assert!(
        points[0]["pids"]["avg"].as_f64().unwrap() >= 1.0,
        "{points}"
    );
    assert_eq!(points[0]["memory_limit_bytes"], 268_435_456, "{points}");
    let (status, health) = call("GET", format!("{services}/web/health"), None).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "running", "{health}");
    assert_eq!(health["container"]["state"], "running", "{health}");
    assert!(health["uptime_percent"].as_f64().unwrap() > 0.0, "{health}");
    let (status, stats) = call("GET", format!("{services}/web/stats"), None).await;
    assert_eq!(status, 200, "{stats}");
    assert!(stats["memory_bytes"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["cpu_percent"].is_number(), "{stats}");

    // A restart-loop rule with a webhook on loopback, then an app the engine keeps
    // restarting: the watcher records the restarts, the evaluator fires and notifies.
    let (hook_port, mut deliveries) = webhook_receiver().await;
    let secret = "whsec-e2e-0123456789abcdef";
    let rules = json!({
        "rules": [{"name": "looping", "project": "shop", "service": "crash",
                   "condition": {"type": "restart_loop", "restarts": 2}, "for_secs": 60}],
        "webhook": {"url": format!("http://127.0.0.1:{hook_port}/hook"), "secret": secret},
    });
    let (status, view) = call("PUT", "/v1/orgs/acme/alerts".into(), Some(rules)).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        view["settings"]["rules"][0]["condition"]["type"],
        "restart_loop"
    );
    assert_eq!(view["settings"]["webhook"]["secret"], "********");
    let (status, crash) = call(
        "POST",
        services.into(),
        Some(json!({"name": "crash", "spec": {
            "image": image,
            "command": ["sh", "-c", "echo boom; sleep 1; exit 3"],
            "restart_policy": {"type": "on_failure", "max_retries": 0}}})),
    )
    .await;
    assert_eq!(status, 201, "{crash}");
    let delivery = tokio::time::timeout(Duration::from_secs(60), deliveries.recv())
        .await
        .expect("a notification within 60 s")
        .expect("the receiver runs");
    assert_eq!(delivery.path, "/hook");
    let ts: i64 = delivery.headers["x-caas-timestamp"].parse().unwrap();
    assert!(
        caas_notify::verify(
            secret,
            ts,
            &delivery.body,
            &delivery.headers["x-caas-signature"]
        ),
        "signed with the organization's secret"
    );
    let payload: Value = serde_json::from_slice(&delivery.body).unwrap();
    assert_eq!(payload["type"], "alert", "{payload}");
    assert_eq!(payload["org"], "acme");
    assert_eq!(payload["alert"]["rule"], "looping");
    assert_eq!(payload["alert"]["state"], "firing");
    assert_eq!(payload["alert"]["service"], crash["id"]);
    let (_, view) = call("GET", "/v1/orgs/acme/alerts".into(), None).await;
    assert_eq!(view["firing"][0]["rule"], "looping", "{view}");
    let (_, events) = call("GET", format!("{services}/crash/events"), None).await;
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"]["type"].as_str())
        .collect();
    assert!(kinds.contains(&"engine_restart"), "{kinds:?}");
    assert!(kinds.contains(&"died"), "{kinds:?}");
    let (_, health) = call("GET", format!("{services}/crash/health"), None).await;
    assert!(
        health["container"]["restart_count"].as_u64().unwrap() >= 2,
        "{health}"
    );
    assert!(
        !health["restarts"].as_array().unwrap().is_empty(),
        "{health}"
    );

    let (status, _) = call(
        "DELETE",
        "/v1/orgs/acme/projects/shop?volumes=true".into(),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let rt = docker_runtime(&docker);
    let mine = LabelSelector::managed().with(labels::INSTANCE, &instance);
    assert!(rt.list_containers(&mine).await.unwrap().is_empty());
    server.stop().await;
}

/// The token lifetime flags: the bootstrap token is printed with a word that it never expires,
/// a new token lives the default, and asking for more than the maximum is 422 naming
/// `expires_in_days`.
#[tokio::test]
async fn token_lifetimes_follow_the_flags_and_the_bootstrap_token_says_it_never_expires() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = format!("unix://{}", dir.path().join("no-docker.sock").display());
    let server = start_with(Options {
        data_dir: &dir.path().join("data"),
        docker_host: &missing,
        env: vec![
            ("CAAS_TOKEN_DEFAULT_TTL", "7days".into()),
            ("CAAS_TOKEN_MAX_TTL", "30days".into()),
        ],
    })
    .await;
    let token = printed_line(&server, |l| l.strip_prefix(TOKEN_LINE).map(str::to_string))
        .await
        .unwrap_or_else(|| panic!("no token printed: {}", server.printed()));
    printed_line(&server, |l| {
        l.contains("never expires").then(|| l.to_string())
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the bootstrap token's lifetime is not told: {}",
            server.printed()
        )
    });
    let (status, err) = request(
        server.port,
        "POST",
        "/v1/tokens",
        Some(&token),
        Some(&json!({"name": "long", "expires_in_days": 31})),
    )
    .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["details"]["field"], "expires_in_days", "{err}");
    let (status, created) = request(
        server.port,
        "POST",
        "/v1/tokens",
        Some(&token),
        Some(&json!({"name": "default"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let at = |field: &str| {
        humantime::parse_rfc3339_weak(created[field].as_str().expect(field)).expect("a time")
    };
    assert_eq!(
        at("expires_at").duration_since(at("created_at")).ok(),
        Some(Duration::from_secs(7 * 86_400)),
        "{created}"
    );
    server.stop().await;
}
