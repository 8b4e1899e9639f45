//! The volume, backup and alert tables of [`InMemoryStore`](super::InMemoryStore).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::ids::{AlertId, BackupId, OrgId, ProjectId, VolumeId};
use crate::model::{Alert, AlertState, Backup, Volume};

/// Volumes, backups and alerts, with the same constraints as the SQL stores.
#[derive(Debug, Default)]
pub(super) struct Tables {
    volumes: BTreeMap<VolumeId, Volume>,
    backups: BTreeMap<BackupId, Backup>,
    alerts: BTreeMap<AlertId, Alert>,
}

fn newest_first<T: Clone>(
    mut v: Vec<T>,
    key: impl Fn(&T) -> (chrono::DateTime<chrono::Utc>, String),
) -> Vec<T> {
    v.sort_by_key(|x| std::cmp::Reverse(key(x)));
    v
}

impl Tables {
    /// `project_org` is the organization owning `volume.project`, when the project exists.
    pub(super) fn create_volume(
        &mut self,
        volume: &Volume,
        project_org: Option<OrgId>,
    ) -> Result<()> {
        if project_org != Some(volume.org) {
            return Err(Error::not_found("project", volume.project));
        }
        if self.volumes.contains_key(&volume.id)
            || self
                .volumes
                .values()
                .any(|v| v.project == volume.project && v.name == volume.name)
        {
            return Err(Error::already_exists("volume", &volume.name));
        }
        self.volumes.insert(volume.id, volume.clone());
        Ok(())
    }

    pub(super) fn volume(&self, id: VolumeId) -> Result<Volume> {
        self.volumes
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::not_found("volume", id))
    }

    pub(super) fn volume_by_name(&self, project: ProjectId, name: &str) -> Option<Volume> {
        self.volumes
            .values()
            .find(|v| v.project == project && v.name.as_str() == name)
            .cloned()
    }

    pub(super) fn list_volumes(
        &self,
        org: Option<OrgId>,
        project: Option<ProjectId>,
    ) -> Vec<Volume> {
        self.volumes
            .values()
            .filter(|v| org.is_none_or(|o| v.org == o) && project.is_none_or(|p| v.project == p))
            .cloned()
            .collect()
    }

    pub(super) fn update_volume(&mut self, volume: &Volume) -> Result<()> {
        let Some(v) = self.volumes.get_mut(&volume.id) else {
            return Err(Error::not_found("volume", volume.id));
        };
        v.size_bytes = volume.size_bytes;
        v.runtime_name = volume.runtime_name.clone();
        v.reservation = volume.reservation;
        v.state = volume.state;
        v.usage = volume.usage;
        v.backup_schedule = volume.backup_schedule.clone();
        Ok(())
    }

    pub(super) fn delete_volume(&mut self, id: VolumeId) -> Result<()> {
        self.volumes
            .remove(&id)
            .map(|_| ())
            .ok_or_else(|| Error::not_found("volume", id))
    }

    /// The volumes of a deleted project go with it (their backups stay).
    pub(super) fn project_deleted(&mut self, project: ProjectId) {
        self.volumes.retain(|_, v| v.project != project);
    }

    /// Everything of a deleted organization goes with it.
    pub(super) fn org_deleted(&mut self, org: OrgId) {
        self.volumes.retain(|_, v| v.org != org);
        self.backups.retain(|_, b| b.org != org);
        self.alerts.retain(|_, a| a.org != org);
    }

    pub(super) fn create_backup(&mut self, backup: &Backup) -> Result<()> {
        if self.backups.contains_key(&backup.id) {
            return Err(Error::already_exists("backup", backup.id));
        }
        self.backups.insert(backup.id, backup.clone());
        Ok(())
    }

    pub(super) fn backup(&self, id: BackupId) -> Result<Backup> {
        self.backups
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::not_found("backup", id))
    }

    pub(super) fn list_backups(&self, volume: Option<VolumeId>, org: Option<OrgId>) -> Vec<Backup> {
        let v = self
            .backups
            .values()
            .filter(|b| volume.is_none_or(|v| b.volume == v) && org.is_none_or(|o| b.org == o))
            .cloned()
            .collect();
        newest_first(v, |b| (b.created_at, b.id.to_string()))
    }

    pub(super) fn update_backup(&mut self, backup: &Backup) -> Result<()> {
        let Some(b) = self.backups.get_mut(&backup.id) else {
            return Err(Error::not_found("backup", backup.id));
        };
        b.status = backup.status;
        b.archive_bytes = backup.archive_bytes;
        b.size_bytes = backup.size_bytes;
        b.sha256 = backup.sha256.clone();
        b.location = backup.location.clone();
        b.error = backup.error.clone();
        b.finished_at = backup.finished_at;
        Ok(())
    }

    pub(super) fn delete_backup(&mut self, id: BackupId) -> Result<()> {
        self.backups
            .remove(&id)
            .map(|_| ())
            .ok_or_else(|| Error::not_found("backup", id))
    }

    /// Errors: `AlreadyExists` when another alert of the rule and subject is firing (the SQL
    /// stores' unique index).
    pub(super) fn put_alert(&mut self, alert: &Alert) -> Result<()> {
        if alert.state == AlertState::Firing
            && let Some(other) = self.firing_alert(alert.org, &alert.rule, &alert.subject)
            && other.id != alert.id
        {
            return Err(Error::already_exists(
                "firing alert",
                format!("{} about {}", alert.rule, alert.subject),
            ));
        }
        self.alerts.insert(alert.id, alert.clone());
        Ok(())
    }

    pub(super) fn firing_alert(&self, org: OrgId, rule: &str, subject: &str) -> Option<Alert> {
        self.alerts
            .values()
            .find(|a| {
                a.org == org
                    && a.rule == rule
                    && a.subject == subject
                    && a.state == AlertState::Firing
            })
            .cloned()
    }

    pub(super) fn list_alerts(&self, org: OrgId, firing_only: bool, limit: u32) -> Vec<Alert> {
        let v = self
            .alerts
            .values()
            .filter(|a| a.org == org && (!firing_only || a.state == AlertState::Firing))
            .cloned()
            .collect();
        let mut v = newest_first(v, |a| (a.since, a.id.to_string()));
        v.truncate(limit.min(1000) as usize);
        v
    }

    pub(super) fn alert(&self, id: AlertId) -> Result<Alert> {
        self.alerts
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::not_found("alert", id))
    }
}
