//! Overlay networks on the manager; volumes, archives and images on the node engines.

use std::collections::{BTreeSet, HashMap};

use bollard::models::MountTypeEnum;
use bollard::network::{
    ConnectNetworkOptions, CreateNetworkOptions, DisconnectNetworkOptions, ListNetworksOptions,
};
use bollard::service::ListServicesOptions;

use caas_core::ports::runtime::{
    ByteStream, CreateOutcome, LabelSelector, NetworkInfo, NetworkSpec, RemoveOutcome, VolumeInfo,
    VolumeSpec,
};
use caas_core::{ContainerRuntime, Error, Result};
use caas_docker::DockerRuntime;

use crate::error::{is_status, map_err, message_of};
use crate::runtime::{SwarmRuntime, lock};
use crate::spec::LABEL_NODE;

fn label_filters(selector: &LabelSelector) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        selector
            .0
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            })
            .collect(),
    )])
}

impl SwarmRuntime {
    /// Joins the configured containers (the proxy) to a network; joining twice is fine.
    async fn attach_members(&self, network: &str) -> Result<()> {
        for container in &self.inner.attach {
            let r = self
                .docker()?
                .connect_network(
                    network,
                    ConnectNetworkOptions {
                        container: container.clone(),
                        endpoint_config: Default::default(),
                    },
                )
                .await;
            match r {
                Ok(()) => {}
                Err(e) if message_of(&e).is_some_and(|m| m.contains("already")) => {}
                Err(e) => {
                    return Err(Error::backend(
                        crate::error::SERVICE,
                        format!("joining container '{container}' to network '{network}': {e}"),
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn create_network(&self, spec: &NetworkSpec) -> Result<CreateOutcome> {
        if let Some(existing) = self.inspect_network_opt(&spec.name).await? {
            if existing.labels != spec.labels {
                return Err(Error::conflict(format!(
                    "a network named '{}' already exists with other labels",
                    spec.name
                )));
            }
            self.attach_members(&spec.name).await?;
            return Ok(CreateOutcome::AlreadyExists(existing.id));
        }
        let r = self
            .docker()?
            .create_network(CreateNetworkOptions {
                name: spec.name.clone(),
                check_duplicate: true,
                driver: "overlay".into(),
                internal: spec.internal,
                // Only Swarm's own tasks join a project's network, unless the runtime must
                // attach plain containers to it (the proxy): an attachable overlay lets any
                // container started on any node join it.
                attachable: !self.inner.attach.is_empty(),
                labels: spec.labels.clone().into_iter().collect(),
                ..Default::default()
            })
            .await;
        let outcome = match r {
            Ok(n) => CreateOutcome::Created(n.id),
            Err(e) if is_status(&e, 409) => match self.inspect_network_opt(&spec.name).await? {
                Some(n) if n.labels == spec.labels => CreateOutcome::AlreadyExists(n.id),
                _ => {
                    return Err(Error::conflict(format!(
                        "network '{}' already exists",
                        spec.name
                    )));
                }
            },
            Err(e) => return Err(map_err(e)),
        };
        self.attach_members(&spec.name).await?;
        Ok(outcome)
    }

    pub(crate) async fn remove_network(&self, name: &str) -> Result<RemoveOutcome> {
        if self.inspect_network_opt(name).await?.is_none() {
            return Ok(RemoveOutcome::NotFound);
        }
        if let Some(user) = self
            .services_using(|s| s.networks().iter().any(|n| n == name))
            .await?
        {
            return Err(Error::conflict(format!(
                "network '{name}' is used by container '{user}'"
            )));
        }
        for container in &self.inner.attach {
            let _ = self
                .docker()?
                .disconnect_network(
                    name,
                    DisconnectNetworkOptions {
                        container: container.clone(),
                        force: true,
                    },
                )
                .await;
        }
        match self.docker()?.remove_network(name).await {
            Ok(()) => Ok(RemoveOutcome::Removed),
            Err(e) if is_status(&e, 404) => Ok(RemoveOutcome::NotFound),
            Err(e)
                if is_status(&e, 403)
                    || is_status(&e, 409)
                    || message_of(&e).is_some_and(|m| m.contains("in use")) =>
            {
                Err(Error::conflict(format!(
                    "network '{name}' still has containers attached"
                )))
            }
            Err(e) => Err(map_err(e)),
        }
    }

    pub(crate) async fn inspect_network_opt(&self, name: &str) -> Result<Option<NetworkInfo>> {
        match self.docker()?.inspect_network::<String>(name, None).await {
            Ok(n) if n.name.as_deref() == Some(name) || n.id.as_deref() == Some(name) => {
                Ok(Some(NetworkInfo {
                    id: n.id.unwrap_or_default(),
                    name: n.name.unwrap_or_default(),
                    labels: n.labels.unwrap_or_default().into_iter().collect(),
                }))
            }
            Ok(_) => Ok(None),
            Err(e) if is_status(&e, 404) => Ok(None),
            Err(e) => Err(map_err(e)),
        }
    }

    pub(crate) async fn list_networks(&self, selector: &LabelSelector) -> Result<Vec<NetworkInfo>> {
        let list = self
            .docker()?
            .list_networks(Some(ListNetworksOptions {
                filters: label_filters(selector),
            }))
            .await
            .map_err(map_err)?;
        Ok(list
            .into_iter()
            .map(|n| NetworkInfo {
                id: n.id.unwrap_or_default(),
                name: n.name.unwrap_or_default(),
                labels: n.labels.unwrap_or_default().into_iter().collect(),
            })
            .collect())
    }

    /// The name of the first service whose spec satisfies `uses`, if any.
    async fn services_using(
        &self,
        uses: impl Fn(&crate::spec::Parts<'_>) -> bool,
    ) -> Result<Option<String>> {
        let list = self
            .docker()?
            .list_services(None::<ListServicesOptions<String>>)
            .await
            .map_err(map_err)?;
        Ok(list.iter().find_map(|s| {
            let p = crate::spec::Parts::of(s)?;
            uses(&p).then(|| crate::state::container_name(s, &p))
        }))
    }

    /// The node a volume lives on, and its engine. Errors: `NotFound`, `Unsupported` (a
    /// service pins it to a node whose engine is not known).
    pub(crate) async fn volume_home(&self, name: &str) -> Result<(String, DockerRuntime)> {
        let storage = lock(&self.inner.storage_node).clone();
        let mut engines = self.engines().await;
        // The storage node first: that is where volumes are made.
        engines.sort_by_key(|(id, _)| *id != storage);
        for (id, rt) in engines {
            if rt.inspect_volume_opt(name).await?.is_some() {
                return Ok((id, rt));
            }
        }
        let pinned_elsewhere = self
            .services_using(|p| {
                p.container
                    .and_then(|c| c.mounts.as_ref())
                    .is_some_and(|ms| {
                        ms.iter().any(|m| {
                            m.typ == Some(MountTypeEnum::VOLUME)
                                && m.source.as_deref() == Some(name)
                        })
                    })
            })
            .await?;
        match pinned_elsewhere {
            Some(user) => Err(Error::unsupported(format!(
                "swarm: volume '{name}' (mounted by '{user}') lives on a node whose engine is \
                 not known to this runtime; add it with SwarmRuntime::builder().node(...)"
            ))),
            None => Err(Error::not_found("volume", name)),
        }
    }

    pub(crate) async fn create_volume(&self, spec: &VolumeSpec) -> Result<CreateOutcome> {
        match self.volume_home(&spec.name).await {
            Ok(_) => return Ok(CreateOutcome::AlreadyExists(spec.name.clone())),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let storage = lock(&self.inner.storage_node).clone();
        let rt = self.engine(&storage).await.ok_or_else(|| {
            Error::unavailable(
                crate::error::SERVICE,
                format!("the engine of storage node {storage} does not answer"),
            )
        })?;
        let mut on_node = spec.clone();
        on_node.labels.insert(LABEL_NODE.into(), storage);
        rt.create_volume(&on_node).await
    }

    pub(crate) async fn remove_volume(&self, name: &str) -> Result<RemoveOutcome> {
        // Scaled to zero, a service has no containers left but still mounts the volume.
        let mounted = self
            .services_using(|p| p.mounts().iter().any(|m| m.volume == name))
            .await?;
        if let Some(user) = mounted {
            return Err(Error::conflict(format!(
                "volume '{name}' is in use by container '{user}'"
            )));
        }
        let mut outcome = RemoveOutcome::NotFound;
        for (_, rt) in self.engines().await {
            if rt.remove_volume(name).await? == RemoveOutcome::Removed {
                outcome = RemoveOutcome::Removed;
            }
        }
        Ok(outcome)
    }

    pub(crate) async fn inspect_volume_opt(&self, name: &str) -> Result<Option<VolumeInfo>> {
        match self.volume_home(name).await {
            Ok((_, rt)) => rt.inspect_volume_opt(name).await,
            Err(e) if e.is_not_found() || e.is_unsupported() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn list_volumes(&self, selector: &LabelSelector) -> Result<Vec<VolumeInfo>> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (_, rt) in self.engines().await {
            for v in rt.list_volumes(selector).await? {
                if seen.insert(v.name.clone()) {
                    out.push(v);
                }
            }
        }
        Ok(out)
    }

    pub(crate) async fn volume_usage(&self, name: &str) -> Result<Option<u64>> {
        self.volume_home(name).await?.1.volume_usage(name).await
    }

    pub(crate) async fn read_archive(&self, volume: &str, path: &str) -> Result<ByteStream> {
        self.volume_home(volume)
            .await?
            .1
            .read_archive(volume, path)
            .await
    }

    pub(crate) async fn write_archive(
        &self,
        volume: &str,
        path: &str,
        tar: ByteStream,
    ) -> Result<()> {
        self.volume_home(volume)
            .await?
            .1
            .write_archive(volume, path, tar)
            .await
    }

    /// Present on every schedulable node whose engine is known (so the platform pulls it
    /// where it is missing).
    pub(crate) async fn image_present(&self, image: &str) -> Result<bool> {
        let engines = self.schedulable_engines().await?;
        if engines.is_empty() {
            return Ok(false);
        }
        for (_, rt) in engines {
            if !rt.image_present(image).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Pulls on every schedulable node whose engine is known.
    pub(crate) async fn pull_image(&self, image: &str) -> Result<()> {
        for (node, rt) in self.schedulable_engines().await? {
            if !rt.image_present(image).await? {
                rt.pull_image(image).await.map_err(|e| match e {
                    Error::NotFound { kind, id } => Error::NotFound {
                        kind,
                        id: format!("{id} (on node {})", node.description.hostname),
                    },
                    other => other,
                })?;
            }
        }
        Ok(())
    }
}
