//! [`HookedRuntime`]: wraps any runtime and runs a hook before chosen operations, to stage
//! crashes, daemon restarts or races at an exact step of a platform operation against a real
//! engine.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use caas_core::ContainerRuntime;
use caas_core::Result;
use caas_core::memory::RuntimeOp;
use caas_core::model::ResourceLimits;
use caas_core::ports::runtime::{
    ByteStream, ContainerInfo, ContainerSpec, ContainerSummary, CreateOutcome, EngineInfo,
    LabelSelector, LogLine, LogOptions, NetworkInfo, NetworkSpec, RawStats, RemoveOutcome,
    RuntimeEvent, StartOutcome, StopOutcome, UpdateOutcome, VolumeInfo, VolumeSpec,
};
use futures::stream::BoxStream;

/// A hook: receives the operation about to run.
pub type Hook = Arc<dyn Fn(RuntimeOp) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Delegates every call to `inner`, first awaiting `hook` for the operations in `ops`.
#[derive(Clone)]
pub struct HookedRuntime {
    inner: Arc<dyn ContainerRuntime>,
    ops: HashSet<RuntimeOp>,
    hook: Hook,
}

impl fmt::Debug for HookedRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookedRuntime")
            .field("inner", &self.inner)
            .field("ops", &self.ops)
            .finish()
    }
}

impl HookedRuntime {
    /// Wraps `inner`, running `hook` before each operation in `ops`.
    pub fn new(inner: Arc<dyn ContainerRuntime>, ops: &[RuntimeOp], hook: Hook) -> Self {
        Self {
            inner,
            ops: ops.iter().copied().collect(),
            hook,
        }
    }

    async fn before(&self, op: RuntimeOp) {
        if self.ops.contains(&op) {
            (self.hook)(op).await;
        }
    }
}

#[async_trait]
impl ContainerRuntime for HookedRuntime {
    async fn ping(&self) -> Result<EngineInfo> {
        self.before(RuntimeOp::Ping).await;
        self.inner.ping().await
    }
    fn capabilities(&self) -> caas_core::ports::runtime::RuntimeCapabilities {
        self.inner.capabilities()
    }
    async fn upstream_hosts(&self, id: &str) -> Result<Vec<String>> {
        self.before(RuntimeOp::InspectContainer).await;
        self.inner.upstream_hosts(id).await
    }
    async fn create_container(&self, spec: &ContainerSpec) -> Result<CreateOutcome> {
        self.before(RuntimeOp::CreateContainer).await;
        self.inner.create_container(spec).await
    }
    async fn start_container(&self, id: &str) -> Result<StartOutcome> {
        self.before(RuntimeOp::StartContainer).await;
        self.inner.start_container(id).await
    }
    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<StopOutcome> {
        self.before(RuntimeOp::StopContainer).await;
        self.inner.stop_container(id, timeout).await
    }
    async fn restart_container(&self, id: &str, timeout: Duration) -> Result<()> {
        self.before(RuntimeOp::RestartContainer).await;
        self.inner.restart_container(id, timeout).await
    }
    async fn remove_container(&self, id: &str, force: bool) -> Result<RemoveOutcome> {
        self.before(RuntimeOp::RemoveContainer).await;
        self.inner.remove_container(id, force).await
    }
    async fn inspect_container_opt(&self, id: &str) -> Result<Option<ContainerInfo>> {
        self.before(RuntimeOp::InspectContainer).await;
        self.inner.inspect_container_opt(id).await
    }
    async fn list_containers(&self, selector: &LabelSelector) -> Result<Vec<ContainerSummary>> {
        self.before(RuntimeOp::ListContainers).await;
        self.inner.list_containers(selector).await
    }
    async fn update_limits(&self, id: &str, limits: &ResourceLimits) -> Result<UpdateOutcome> {
        self.before(RuntimeOp::UpdateLimits).await;
        self.inner.update_limits(id, limits).await
    }
    async fn logs(
        &self,
        id: &str,
        options: &LogOptions,
    ) -> Result<BoxStream<'static, Result<LogLine>>> {
        self.before(RuntimeOp::Logs).await;
        self.inner.logs(id, options).await
    }
    async fn stats_once(&self, id: &str) -> Result<RawStats> {
        self.before(RuntimeOp::Stats).await;
        self.inner.stats_once(id).await
    }
    async fn events(
        &self,
        selector: &LabelSelector,
    ) -> Result<BoxStream<'static, Result<RuntimeEvent>>> {
        self.before(RuntimeOp::Events).await;
        self.inner.events(selector).await
    }
    async fn create_network(&self, spec: &NetworkSpec) -> Result<CreateOutcome> {
        self.before(RuntimeOp::CreateNetwork).await;
        self.inner.create_network(spec).await
    }
    async fn remove_network(&self, name: &str) -> Result<RemoveOutcome> {
        self.before(RuntimeOp::RemoveNetwork).await;
        self.inner.remove_network(name).await
    }
    async fn inspect_network_opt(&self, name: &str) -> Result<Option<NetworkInfo>> {
        self.before(RuntimeOp::InspectNetwork).await;
        self.inner.inspect_network_opt(name).await
    }
    async fn list_networks(&self, selector: &LabelSelector) -> Result<Vec<NetworkInfo>> {
        self.before(RuntimeOp::InspectNetwork).await;
        self.inner.list_networks(selector).await
    }
    async fn create_volume(&self, spec: &VolumeSpec) -> Result<CreateOutcome> {
        self.before(RuntimeOp::CreateVolume).await;
        self.inner.create_volume(spec).await
    }
    async fn remove_volume(&self, name: &str) -> Result<RemoveOutcome> {
        self.before(RuntimeOp::RemoveVolume).await;
        self.inner.remove_volume(name).await
    }
    async fn inspect_volume_opt(&self, name: &str) -> Result<Option<VolumeInfo>> {
        self.before(RuntimeOp::InspectVolume).await;
        self.inner.inspect_volume_opt(name).await
    }
    async fn list_volumes(&self, selector: &LabelSelector) -> Result<Vec<VolumeInfo>> {
        self.before(RuntimeOp::InspectVolume).await;
        self.inner.list_volumes(selector).await
    }
    async fn volume_usage(&self, name: &str) -> Result<Option<u64>> {
        self.before(RuntimeOp::InspectVolume).await;
        self.inner.volume_usage(name).await
    }
    async fn read_archive(&self, volume: &str, path: &str) -> Result<ByteStream> {
        self.before(RuntimeOp::ReadArchive).await;
        self.inner.read_archive(volume, path).await
    }
    async fn write_archive(&self, volume: &str, path: &str, tar: ByteStream) -> Result<()> {
        self.before(RuntimeOp::WriteArchive).await;
        self.inner.write_archive(volume, path, tar).await
    }
    async fn pause_container(&self, id: &str) -> Result<()> {
        self.before(RuntimeOp::PauseContainer).await;
        self.inner.pause_container(id).await
    }
    async fn unpause_container(&self, id: &str) -> Result<()> {
        self.before(RuntimeOp::PauseContainer).await;
        self.inner.unpause_container(id).await
    }
    async fn exec(
        &self,
        id: &str,
        command: &[String],
        stdin: Option<ByteStream>,
    ) -> Result<ByteStream> {
        self.before(RuntimeOp::Exec).await;
        self.inner.exec(id, command, stdin).await
    }
    async fn image_present(&self, image: &str) -> Result<bool> {
        self.before(RuntimeOp::ImagePresent).await;
        self.inner.image_present(image).await
    }
    async fn pull_image(&self, image: &str) -> Result<()> {
        self.before(RuntimeOp::PullImage).await;
        self.inner.pull_image(image).await
    }
}
