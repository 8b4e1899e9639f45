//! The [`ContainerRuntime`] impl: each method is one of the inherent operations of
//! [`SwarmRuntime`] in `workloads` and `storage`.

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

use caas_core::model::ResourceLimits;
use caas_core::ports::runtime::{
    ByteStream, ContainerInfo, ContainerSpec, ContainerSummary, CreateOutcome, EngineInfo,
    LabelSelector, LogLine, LogOptions, NetworkInfo, NetworkSpec, RawStats, RemoveOutcome,
    RuntimeCapabilities, RuntimeEvent, StartOutcome, StopOutcome, UpdateOutcome, VolumeInfo,
    VolumeSpec,
};
use caas_core::{ContainerRuntime, Error, Result};

use crate::error::{SERVICE, map_err};
use crate::runtime::SwarmRuntime;

/// The backend name in [`EngineInfo`].
pub const BACKEND: &str = "swarm";

#[async_trait]
impl ContainerRuntime for SwarmRuntime {
    async fn ping(&self) -> Result<EngineInfo> {
        let docker = self.docker()?;
        let info = docker.info().await.map_err(map_err)?;
        let swarm = info.swarm.unwrap_or_default();
        if swarm.control_available != Some(true) {
            return Err(Error::unavailable(
                SERVICE,
                format!(
                    "the engine is no longer a swarm manager (state {:?}, error {:?})",
                    swarm.local_node_state, swarm.error
                ),
            ));
        }
        let v = docker.version().await.map_err(map_err)?;
        Ok(EngineInfo {
            backend: BACKEND.into(),
            version: v.version.unwrap_or_default(),
            api_version: docker.client_version().to_string(),
            os: v.os.unwrap_or_default(),
            arch: v.arch.unwrap_or_default(),
        })
    }

    fn capabilities(&self) -> RuntimeCapabilities {
        RuntimeCapabilities::cluster(self.inner.max_replicas)
    }

    async fn upstream_hosts(&self, id: &str) -> Result<Vec<String>> {
        SwarmRuntime::upstream_hosts(self, id).await
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<CreateOutcome> {
        self.create(spec).await
    }

    async fn start_container(&self, id: &str) -> Result<StartOutcome> {
        self.start(id).await
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<StopOutcome> {
        self.stop(id, timeout).await
    }

    async fn restart_container(&self, id: &str, _timeout: Duration) -> Result<()> {
        self.restart(id).await
    }

    async fn remove_container(&self, id: &str, force: bool) -> Result<RemoveOutcome> {
        self.remove(id, force).await
    }

    async fn inspect_container_opt(&self, id: &str) -> Result<Option<ContainerInfo>> {
        self.inspect(id).await
    }

    async fn list_containers(&self, selector: &LabelSelector) -> Result<Vec<ContainerSummary>> {
        self.list(selector).await
    }

    async fn update_limits(&self, id: &str, limits: &ResourceLimits) -> Result<UpdateOutcome> {
        SwarmRuntime::update_limits(self, id, limits).await
    }

    async fn logs(
        &self,
        id: &str,
        options: &LogOptions,
    ) -> Result<BoxStream<'static, Result<LogLine>>> {
        SwarmRuntime::logs(self, id, options).await
    }

    async fn stats_once(&self, id: &str) -> Result<RawStats> {
        self.stats(id).await
    }

    async fn events(
        &self,
        selector: &LabelSelector,
    ) -> Result<BoxStream<'static, Result<RuntimeEvent>>> {
        SwarmRuntime::events(self, selector).await
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<CreateOutcome> {
        SwarmRuntime::create_network(self, spec).await
    }

    async fn remove_network(&self, name: &str) -> Result<RemoveOutcome> {
        SwarmRuntime::remove_network(self, name).await
    }

    async fn inspect_network_opt(&self, name: &str) -> Result<Option<NetworkInfo>> {
        SwarmRuntime::inspect_network_opt(self, name).await
    }

    async fn list_networks(&self, selector: &LabelSelector) -> Result<Vec<NetworkInfo>> {
        SwarmRuntime::list_networks(self, selector).await
    }

    async fn create_volume(&self, spec: &VolumeSpec) -> Result<CreateOutcome> {
        SwarmRuntime::create_volume(self, spec).await
    }

    async fn remove_volume(&self, name: &str) -> Result<RemoveOutcome> {
        SwarmRuntime::remove_volume(self, name).await
    }

    async fn inspect_volume_opt(&self, name: &str) -> Result<Option<VolumeInfo>> {
        SwarmRuntime::inspect_volume_opt(self, name).await
    }

    async fn list_volumes(&self, selector: &LabelSelector) -> Result<Vec<VolumeInfo>> {
        SwarmRuntime::list_volumes(self, selector).await
    }

    async fn volume_usage(&self, name: &str) -> Result<Option<u64>> {
        SwarmRuntime::volume_usage(self, name).await
    }

    async fn read_archive(&self, volume: &str, path: &str) -> Result<ByteStream> {
        SwarmRuntime::read_archive(self, volume, path).await
    }

    async fn write_archive(&self, volume: &str, path: &str, tar: ByteStream) -> Result<()> {
        SwarmRuntime::write_archive(self, volume, path, tar).await
    }

    async fn image_present(&self, image: &str) -> Result<bool> {
        SwarmRuntime::image_present(self, image).await
    }

    async fn pull_image(&self, image: &str) -> Result<()> {
        SwarmRuntime::pull_image(self, image).await
    }
}
