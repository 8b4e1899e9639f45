//! The template and template-instance tables of [`InMemoryStore`](super::InMemoryStore).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::ids::{OrgId, ProjectId, TemplateInstanceId};
use crate::model::{StoredTemplate, TemplateInstance};

/// Stored templates and instances, with the same constraints as the SQL stores.
#[derive(Debug, Default)]
pub(super) struct Tables {
    templates: BTreeMap<String, StoredTemplate>,
    instances: BTreeMap<TemplateInstanceId, TemplateInstance>,
}

impl Tables {
    pub(super) fn put_template(&mut self, t: &StoredTemplate) {
        self.templates.insert(t.id.to_string(), t.clone());
    }

    pub(super) fn template(&self, id: &str) -> Option<StoredTemplate> {
        self.templates.get(id).cloned()
    }

    pub(super) fn list_templates(&self) -> Vec<StoredTemplate> {
        let mut v: Vec<StoredTemplate> = self.templates.values().cloned().collect();
        v.sort_by(|a, b| (a.position, a.id.as_str()).cmp(&(b.position, b.id.as_str())));
        v
    }

    pub(super) fn delete_template(&mut self, id: &str) -> Result<()> {
        self.templates
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| Error::not_found("template", id))
    }

    /// `project_org` is the organization owning `instance.project`, when the project exists.
    pub(super) fn create_instance(
        &mut self,
        instance: &TemplateInstance,
        project_org: Option<OrgId>,
    ) -> Result<()> {
        if project_org != Some(instance.org) {
            return Err(Error::not_found("project", instance.project));
        }
        if self.instances.contains_key(&instance.id)
            || self
                .instances
                .values()
                .any(|i| i.project == instance.project && i.name == instance.name)
        {
            return Err(Error::already_exists("template instance", &instance.name));
        }
        self.instances.insert(instance.id, instance.clone());
        Ok(())
    }

    pub(super) fn instance(&self, id: TemplateInstanceId) -> Result<TemplateInstance> {
        self.instances
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::not_found("template instance", id))
    }

    pub(super) fn instance_by_name(
        &self,
        project: ProjectId,
        name: &str,
    ) -> Option<TemplateInstance> {
        self.instances
            .values()
            .find(|i| i.project == project && i.name.as_str() == name)
            .cloned()
    }

    pub(super) fn list_instances(
        &self,
        org: OrgId,
        project: Option<ProjectId>,
    ) -> Vec<TemplateInstance> {
        self.instances
            .values()
            .filter(|i| i.org == org && project.is_none_or(|p| i.project == p))
            .cloned()
            .collect()
    }

    pub(super) fn delete_instance(&mut self, id: TemplateInstanceId) -> Result<()> {
        self.instances
            .remove(&id)
            .map(|_| ())
            .ok_or_else(|| Error::not_found("template instance", id))
    }

    pub(super) fn project_deleted(&mut self, project: ProjectId) {
        self.instances.retain(|_, i| i.project != project);
    }

    pub(super) fn org_deleted(&mut self, org: OrgId) {
        self.instances.retain(|_, i| i.org != org);
    }
}
