//! Volumes and backups on the in-memory backends: quota, mounts, usage states and alerts,
//! delete with and without force, backup and restore (same, other and new volume), hostile
//! archives, schedules and retention, permissions; the limits a tenant's backups and
//! containers cannot exceed.

#![allow(clippy::unwrap_used)]

mod backups;
mod limits;
mod volumes;

use caas_core::ProjectRef;
use caas_core::ports::store::prelude::*;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use caas_core::memory::{InMemoryRuntime, InMemoryStore};
use caas_core::model::{NewPlan, PlanLimits, Role, ServiceSpec, SubscriptionStatus, VolumeMount};
use caas_core::platform::{BackupConfig, DeployApp, NewProject, RolloutTiming};
use caas_core::units::{GIB, MIB};
use caas_core::validate::{ImageRef, Name};
use caas_core::{ContainerRuntime, ManualClock, Platform, Principal};
use futures::{StreamExt, TryStreamExt};

const IMAGE: &str = "caas/busybox:latest";

struct World {
    platform: Platform,
    store: Arc<InMemoryStore>,
    runtime: InMemoryRuntime,
    objects: Arc<object_store::memory::InMemory>,
    clock: Arc<ManualClock>,
    admin: Principal,
    member: Principal,
    viewer: Principal,
}

async fn world() -> World {
    world_with(10 * GIB).await
}

async fn world_with(storage: u64) -> World {
    world_with_limits(PlanLimits {
        cpu_millis: 8000,
        memory_bytes: 8 * GIB,
        storage_bytes: storage,
        max_containers: 20,
        max_projects: 3,
        max_domains: 20,
        max_pids: 1024,
        backup_storage_bytes: 10 * GIB,
    })
    .await
}

/// `acme` (projects `shop` and `blog`) on a plan with `limits`.
async fn world_with_limits(limits: PlanLimits) -> World {
    let store = Arc::new(InMemoryStore::new());
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let objects = Arc::new(object_store::memory::InMemory::new());
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let platform = platform_on(&store, &runtime, &objects, &clock);
    let admin_user = platform
        .users()
        .ensure_platform_admin("root@example.com")
        .await
        .unwrap();
    let admin = platform.principal_for(admin_user.id).await.unwrap();
    platform
        .plans()
        .create(&admin, NewPlan::new("p", limits))
        .await
        .unwrap();
    let org = platform
        .orgs()
        .create(&admin, caas_core::model::NewOrganization::new("acme"), None)
        .await
        .unwrap();
    platform
        .orgs()
        .set_subscription(&admin, "acme", "p", SubscriptionStatus::Active)
        .await
        .unwrap();
    for p in ["shop", "blog"] {
        platform
            .projects()
            .create(&admin, "acme", NewProject::new(p))
            .await
            .unwrap();
    }
    let member = Principal::user(caas_core::UserId::new()).with_role(org.id, Role::Member);
    let viewer = Principal::user(caas_core::UserId::new()).with_role(org.id, Role::Viewer);
    World {
        platform,
        store,
        runtime,
        objects,
        clock,
        admin,
        member,
        viewer,
    }
}

/// A platform on these backends.
fn platform_on(
    store: &Arc<InMemoryStore>,
    runtime: &InMemoryRuntime,
    objects: &Arc<object_store::memory::InMemory>,
    clock: &Arc<ManualClock>,
) -> Platform {
    Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(runtime.clone()))
        .clock(clock.clone())
        .backups(BackupConfig::new(objects.clone()))
        .rollout(
            RolloutTiming::new(
                Duration::from_secs(2),
                Duration::from_millis(10),
                Duration::from_millis(1),
            )
            .with_tcp_probe(false),
        )
        .build()
        .unwrap()
}

fn app_with(volume: &str, target: &str, size: u64) -> ServiceSpec {
    let mut spec = ServiceSpec::new(ImageRef::parse(IMAGE).unwrap());
    spec.volumes.push(VolumeMount {
        volume: Name::parse(volume).unwrap(),
        target: target.into(),
        read_only: false,
        size_bytes: size,
    });
    spec
}

impl World {
    async fn deploy(&self, name: &str, spec: ServiceSpec) -> caas_core::model::Service {
        self.platform
            .services()
            .deploy_app(
                &self.admin,
                &ProjectRef::new("acme", "shop"),
                DeployApp::new(name, spec),
            )
            .await
            .unwrap()
    }

    /// Another platform on the same store, engine and destination: the process after a
    /// crash and restart, with nothing in flight of its own.
    fn restarted(&self) -> Platform {
        platform_on(&self.store, &self.runtime, &self.objects, &self.clock)
    }

    /// Starts a backup of `data` by the member whose archive read takes `read` (the copy is
    /// under way once this returns); the caller may drop, abort or await the task.
    async fn backup_in_copy(
        &self,
        request: caas_core::platform::BackupRequest,
        read: Duration,
    ) -> tokio::task::JoinHandle<caas_core::Result<caas_core::model::Backup>> {
        self.runtime
            .set_latency(caas_core::memory::RuntimeOp::ReadArchive, read);
        let (p, who) = (self.platform.clone(), self.member.clone());
        let task =
            tokio::spawn(async move { p.backups().create(&who, "acme", "data", request).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.runtime.clear_faults();
        task
    }

    /// Restores `b` as the platform administrator.
    async fn restore(
        &self,
        b: &caas_core::model::Backup,
        request: caas_core::platform::RestoreRequest,
    ) -> caas_core::Result<caas_core::platform::RestoreOutcome> {
        self.platform
            .backups()
            .restore(&self.admin, "acme", &b.id.to_string(), request)
            .await
    }

    /// The service's container as the engine lists it.
    async fn container_of(
        &self,
        svc: caas_core::ServiceId,
    ) -> caas_core::ports::runtime::ContainerSummary {
        let selector = caas_core::ports::runtime::LabelSelector::managed()
            .with(caas_core::labels::SERVICE, svc);
        self.runtime
            .list_containers(&selector)
            .await
            .unwrap()
            .remove(0)
    }

    /// The kinds of the service's newest `n` events, newest first.
    async fn event_kinds(
        &self,
        svc: caas_core::ServiceId,
        n: u32,
    ) -> Vec<caas_core::model::ServiceEventKind> {
        self.store
            .list_events(svc, n)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    async fn storage_used(&self) -> u64 {
        self.platform
            .orgs()
            .usage(&self.admin, "acme")
            .await
            .unwrap()
            .committed
            .storage_bytes
    }

    async fn runtime_name(&self, volume: &str) -> String {
        self.platform
            .volumes()
            .get(&self.admin, "acme", volume)
            .await
            .unwrap()
            .volume
            .runtime_name
    }

    /// Writes `files` (path, contents) into a runtime volume through the archive API.
    async fn put_files(&self, runtime_name: &str, files: &[(&str, &[u8])]) {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, path, *data).unwrap();
        }
        let tar = Bytes::from(b.into_inner().unwrap());
        self.runtime
            .write_archive(
                runtime_name,
                "/",
                futures::stream::once(async move { Ok(tar) }).boxed(),
            )
            .await
            .unwrap();
    }

    /// The regular files of a runtime volume: path → contents.
    async fn files(&self, runtime_name: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
        let tar: Vec<Bytes> = self
            .runtime
            .read_archive(runtime_name, "/")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let tar = tar.concat();
        let mut out = std::collections::BTreeMap::new();
        let mut a = tar::Archive::new(tar.as_slice());
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            if e.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let path = e
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            out.insert(path, data);
        }
        out
    }
}

const MB: u64 = MIB;
