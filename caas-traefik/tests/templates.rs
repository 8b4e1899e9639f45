//! The WordPress template end to end: deployed by a `Platform` on the real engine (local
//! look-alike images of `wordpress:6-apache` and MySQL built by `scripts/test-env.sh`), its
//! web service given a domain, and its install page answered through the real Traefik with
//! the database connected.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use caas_core::labels;
use caas_core::memory::InMemoryStore;
use caas_core::model::{DatabaseEngine, PlanLimits, VerificationStatus};
use caas_core::platform::{
    DatabaseImages, DeleteOptions, DeployTemplate, DomainConfig, NewDomain, VerificationMethod,
};
use caas_core::ports::dns::InMemoryDns;
use caas_core::ports::runtime::LabelSelector;
use caas_core::units::GIB;
use caas_core::{ContainerRuntime, Platform};
use caas_core::{ProjectRef, ServiceRef};
use caas_docker::{DockerConnection, DockerRuntime};
use caas_testkit::env;
use caas_traefik::{Entrypoints, TraefikProxy};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wordpress_from_its_template_answers_its_install_page_through_traefik() {
    let Some(traefik) = common::Traefik::start().await else {
        return;
    };
    let Some(docker) = env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine") else {
        return;
    };
    let Some(mysql) = env::require("CAAS_TEST_MYSQL_IMAGE", "the local MySQL look-alike image")
    else {
        return;
    };
    let Some(wordpress) = env::require("CAAS_TEST_WORDPRESS_IMAGE", "the local WordPress image")
    else {
        return;
    };
    assert_eq!(
        wordpress, "wordpress:6-apache",
        "the name the template references"
    );
    let path = docker
        .strip_prefix("unix://")
        .unwrap_or(&docker)
        .to_string();
    let rt = match DockerRuntime::builder()
        .connection(DockerConnection::Unix { path: path.into() })
        .build()
        .await
    {
        Ok(rt) => rt,
        Err(e) => {
            let _: Option<()> = env::unavailable("the Docker engine", e);
            return;
        }
    };
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(rt);
    let proxy = Arc::new(
        TraefikProxy::new(&traefik.dir, traefik.api_url(), Entrypoints::default()).unwrap(),
    );
    let run = env::run_id();
    let instance = format!("wp{run}");
    let localhost: IpAddr = "127.0.0.1".parse().unwrap();
    let dns = Arc::new(InMemoryDns::new());
    let host = format!("blog.{run}.test");
    dns.set_ips(&host, [localhost]);
    let platform = Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(runtime.clone())
        .proxy(proxy.clone())
        .dns_resolver(dns.clone())
        .domains(DomainConfig::new().public_address(localhost))
        .database_images(DatabaseImages::default().with(DatabaseEngine::Mysql, mysql))
        .instance(instance.clone())
        .stop_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let t = caas_testkit::platform::seed_tenant(
        &platform,
        PlanLimits {
            cpu_millis: 4000,
            memory_bytes: 4 * GIB,
            storage_bytes: 10 * GIB,
            max_containers: 5,
            max_projects: 1,
            max_domains: 20,
            max_pids: 1024,
            backup_storage_bytes: 10 * 1024 * 1024 * 1024,
        },
        "site",
    )
    .await;
    let (who, org) = (&t.admin, t.org.as_str());

    let started = Instant::now();
    let done = platform
        .templates()
        .deploy(
            who,
            &ProjectRef::new(org, "site"),
            "wordpress",
            DeployTemplate::new("blog"),
            false,
        )
        .await
        .unwrap();
    eprintln!(
        "WordPress + MySQL deployed from the template in {:?}",
        started.elapsed()
    );
    let names: Vec<&str> = done.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["blog-db", "blog-web"]);

    let added = platform
        .domains()
        .add(
            who,
            &ServiceRef::new(org, "site", "blog-web"),
            NewDomain::new(host.clone()),
        )
        .await
        .unwrap();
    let proof = added.ownership.unwrap();
    dns.set_txt(&proof.txt_name, [proof.txt_value]);
    let verified = platform
        .domains()
        .verify(who, org, &host, None, VerificationMethod::Dns)
        .await
        .unwrap();
    assert!(matches!(
        verified[0].verification,
        VerificationStatus::Verified { .. }
    ));

    // The install page, through Traefik, with the database connected (Apache and the first
    // connection to MySQL may take a few seconds).
    let deadline = Instant::now() + Duration::from_secs(90);
    let body = loop {
        match common::get(traefik.web, "/wp-admin/install.php", &host).await {
            Ok((200, body)) if body.contains("WordPress") => break body,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "no install page through Traefik: {:?}",
                    other.map(|(s, b)| (s, b.chars().take(400).collect::<String>()))
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    assert!(
        !body.contains("Error establishing a database connection"),
        "{}",
        body.chars().take(600).collect::<String>()
    );
    assert!(
        body.contains("install"),
        "the installer: {}",
        body.chars().take(300).collect::<String>()
    );

    platform
        .templates()
        .delete_instance(
            who,
            &ProjectRef::new(org, "site"),
            "blog",
            DeleteOptions::with_volumes(),
        )
        .await
        .unwrap();
    let _ = platform
        .projects()
        .delete(
            who,
            &ProjectRef::new(org, "site"),
            DeleteOptions::with_volumes(),
        )
        .await;
    let sel = LabelSelector::managed().with(labels::INSTANCE, &instance);
    for c in runtime.list_containers(&sel).await.unwrap_or_default() {
        let _ = runtime.remove_container(&c.id, true).await;
    }
    assert!(runtime.list_volumes(&sel).await.unwrap().is_empty());
}
