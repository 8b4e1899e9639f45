//! Runtime configuration through the platform: get, update, test, detect — platform
//! administrators only, persisted in the store under the setting `runtime`.

use std::sync::Arc;

use tracing::instrument;

use super::{Platform, json};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ports::connector::{RuntimeConfig, RuntimeConnector, RuntimeDetection};
use crate::ports::runtime::ConnectionReport;

/// The store setting holding the runtime configuration.
pub const RUNTIME_SETTING: &str = "runtime";

impl Platform {
    fn connector(&self) -> Result<&Arc<dyn RuntimeConnector>> {
        self.inner.connector.as_ref().ok_or_else(|| {
            Error::unsupported(
                "this platform was built without a runtime connector; its runtime is fixed",
            )
        })
    }

    fn check_backend(&self, config: &RuntimeConfig) -> Result<()> {
        let connector = self.connector()?;
        if config.backend != connector.backend() {
            return Err(Error::invalid(
                "backend",
                format!("this platform runs the '{}' backend", connector.backend()),
            ));
        }
        connector.validate(&config.settings)
    }

    /// The runtime configuration in use. Errors: `PermissionDenied`, `Unsupported` (no
    /// connector).
    pub(crate) async fn runtime_config(&self, who: &Principal) -> Result<RuntimeConfig> {
        who.require_admin(Action::RuntimeView)?;
        self.connector()?;
        self.inner
            .runtime_config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| Error::not_found("setting", RUNTIME_SETTING))
    }

    /// Switches to the runtime configuration stored by an administrator, if any (call at
    /// start-up). Returns the configuration now in use. Errors: `InvalidInput` (a stored
    /// configuration no longer valid), `Unavailable` (store).
    pub(crate) async fn load_runtime_config(&self) -> Result<Option<RuntimeConfig>> {
        let Some(connector) = self.inner.connector.clone() else {
            return Ok(None);
        };
        let Some(value) = self
            .inner
            .store
            .settings
            .setting_opt(RUNTIME_SETTING)
            .await?
        else {
            return Ok(self
                .inner
                .runtime_config
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone());
        };
        let config: RuntimeConfig = serde_json::from_value(value).map_err(|e| {
            Error::invalid(
                "runtime",
                format!("stored configuration is unreadable: {e}"),
            )
        })?;
        self.check_backend(&config)?;
        let runtime = connector.connect(&config.settings).await?;
        self.swap_runtime(runtime, config.clone());
        Ok(Some(config))
    }

    fn swap_runtime(&self, runtime: Arc<dyn crate::ContainerRuntime>, config: RuntimeConfig) {
        *self
            .inner
            .runtime
            .write()
            .unwrap_or_else(|p| p.into_inner()) = runtime;
        *self
            .inner
            .runtime_config
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(config);
    }

    /// Validates, tests, persists and switches to a new runtime configuration. The switch
    /// happens even when the engine does not answer yet (the report says so), so an
    /// administrator can point the platform at an engine that is being set up.
    /// Errors: `PermissionDenied`, `InvalidInput` naming the field, `Unsupported`, `Unavailable`
    /// (store).
    #[instrument(skip_all, fields(caas.runtime = %config.backend))]
    pub(crate) async fn update_runtime_config(
        &self,
        who: &Principal,
        config: RuntimeConfig,
    ) -> Result<ConnectionReport> {
        who.require_admin(Action::RuntimeManage)?;
        self.check_backend(&config)?;
        let connector = self.connector()?.clone();
        let report = connector.test(&config.settings).await;
        let runtime = connector.connect(&config.settings).await?;
        let value = serde_json::to_value(&config).map_err(|e| {
            Error::backend_source("platform", "serializing runtime configuration", e)
        })?;
        let before = self
            .inner
            .runtime_config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        self.inner
            .store
            .settings
            .put_setting(RUNTIME_SETTING, &value)
            .await?;
        self.swap_runtime(runtime, config);
        self.audit(
            Some(who),
            None,
            "runtime.update",
            "setting:runtime".into(),
            before.as_ref().and_then(json),
            Some(value),
        )
        .await;
        Ok(report)
    }

    /// Tests a configuration (the one in use when `config` is `None`) without switching.
    /// Errors: `PermissionDenied`, `InvalidInput`, `Unsupported`.
    pub(crate) async fn test_runtime(
        &self,
        who: &Principal,
        config: Option<RuntimeConfig>,
    ) -> Result<ConnectionReport> {
        who.require_admin(Action::RuntimeManage)?;
        let config = match config {
            Some(c) => c,
            None => self.runtime_config(who).await?,
        };
        self.check_backend(&config)?;
        Ok(self.connector()?.test(&config.settings).await)
    }

    /// Looks for engines in the usual places. Errors: `PermissionDenied`, `Unsupported`.
    pub(crate) async fn detect_runtime(&self, who: &Principal) -> Result<RuntimeDetection> {
        who.require_admin(Action::RuntimeView)?;
        Ok(self.connector()?.detect().await)
    }
}
