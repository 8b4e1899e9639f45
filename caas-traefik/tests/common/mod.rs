//! A real Traefik process for tests: started from the binary `scripts/test-env.sh` installed,
//! with a file-provider directory and free loopback ports; killed when dropped.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use caas_testkit::env;
use caas_traefik::{AcmeResolver, DockerProvider, StaticConfig};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Traefik {
    pub child: tokio::process::Child,
    pub web: u16,
    pub api: u16,
    pub websecure: Option<u16>,
    pub dir: PathBuf,
    pub log: PathBuf,
    _tmp: tempfile::TempDir,
}

/// What to start Traefik with beyond the defaults (free ports, file provider, WARN logs).
#[derive(Default)]
pub struct Options {
    /// The web entrypoint's port (a free one when `None`).
    pub web: Option<u16>,
    /// A websecure entrypoint on this port.
    pub websecure: Option<u16>,
    /// Certificate resolvers.
    pub acme: Vec<AcmeResolver>,
    /// Extra environment for the process (e.g. `LEGO_CA_CERTIFICATES`).
    pub env: Vec<(String, String)>,
    /// Log level (`WARN` when `None`); the log goes to [`Traefik::log`].
    pub log_level: Option<String>,
    /// The web entrypoint on every address (`0.0.0.0`), as in production, instead of
    /// loopback. The API stays on loopback.
    pub public_web: bool,
    /// Traefik's Docker provider, as the platform configures it.
    pub docker_provider: Option<DockerProvider>,
}

impl Traefik {
    /// Starts Traefik, or returns `None` (skip) outside CI when the binary is missing.
    pub async fn start() -> Option<Traefik> {
        Self::start_with(Options::default()).await
    }

    /// Starts Traefik with `opts`, or returns `None` (skip) outside CI when the binary is
    /// missing.
    pub async fn start_with(opts: Options) -> Option<Traefik> {
        let bin = env::require("CAAS_TEST_TRAEFIK_BIN", "the Traefik binary")?;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("dynamic");
        std::fs::create_dir_all(&dir).unwrap();
        let (web, api) = (opts.web.unwrap_or_else(free_port), free_port());
        let web_ip = if opts.public_web {
            "0.0.0.0"
        } else {
            "127.0.0.1"
        };
        let mut cfg = StaticConfig::new(
            format!("{web_ip}:{web}").parse().unwrap(),
            format!("127.0.0.1:{api}").parse().unwrap(),
        );
        cfg.docker_provider = opts.docker_provider;
        cfg.file_provider_dir = Some(dir.clone());
        cfg.providers_throttle = Some(Duration::from_millis(100));
        cfg.log_level = opts.log_level.unwrap_or_else(|| "WARN".into());
        cfg.websecure = opts
            .websecure
            .map(|p| format!("127.0.0.1:{p}").parse().unwrap());
        cfg.acme = opts.acme;
        let file = tmp.path().join("traefik.yml");
        std::fs::write(&file, cfg.to_yaml().unwrap()).unwrap();
        let log = tmp.path().join("traefik.log");
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = tokio::process::Command::new(&bin)
            .arg(format!("--configFile={}", file.display()))
            .envs(opts.env)
            .kill_on_drop(true)
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let t = Traefik {
            child,
            web,
            api,
            websecure: opts.websecure,
            dir,
            log,
            _tmp: tmp,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((200, _)) = get(api, "/ping", "localhost").await {
                return Some(t);
            }
            assert!(Instant::now() < deadline, "traefik did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What Traefik logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api)
    }
}

/// One HTTP/1.1 GET with a Host header; the status code and the body.
pub async fn get(port: u16, path: &str, host: &str) -> std::io::Result<(u16, String)> {
    caas_testkit::load::get("127.0.0.1", port, path, host).await
}
