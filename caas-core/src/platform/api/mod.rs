//! The public face of [`Platform`]: one thin handle per area, in the manner of kube's `Api<K>`.
//!
//! A handle borrows the platform and adds nothing but addressing: `platform.services()`
//! holds every operation on services, `platform.volumes()` every operation on volumes, and so
//! on (the list is on [`Platform`]). Operations that address a project or a service take a
//! [`ProjectRef`] or a [`ServiceRef`] instead of loose strings. The work itself lives in the
//! layer files next to this module (`deploy.rs`, `lifecycle.rs`, `volumes.rs`, …); each handle
//! method delegates to one of them.

use std::fmt;

mod admin;
mod backups;
mod domains;
mod members;
mod monitoring;
mod orgs;
mod plans;
mod projects;
mod services;
mod templates;
mod tokens;
mod users;
mod volumes;

pub use admin::Admin;
pub use backups::Backups;
pub use domains::Domains;
pub use members::Members;
pub use monitoring::Monitoring;
pub use orgs::Orgs;
pub use plans::Plans;
pub use projects::Projects;
pub use services::Services;
pub use templates::Templates;
pub use tokens::Tokens;
pub use users::Users;
pub use volumes::Volumes;

#[cfg(doc)]
use crate::platform::Platform;

/// A project, addressed by its organization's slug and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProjectRef {
    /// The organization's slug.
    pub org: String,
    /// The project's name.
    pub project: String,
}

impl ProjectRef {
    /// The project `project` of the organization `org`.
    pub fn new(org: impl Into<String>, project: impl Into<String>) -> Self {
        Self {
            org: org.into(),
            project: project.into(),
        }
    }

    /// The service `name` of this project.
    pub fn service(&self, name: impl Into<String>) -> ServiceRef {
        ServiceRef {
            org: self.org.clone(),
            project: self.project.clone(),
            service: name.into(),
        }
    }
}

impl fmt::Display for ProjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.org, self.project)
    }
}

/// A service, addressed by its organization's slug, its project's name and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceRef {
    /// The organization's slug.
    pub org: String,
    /// The project's name.
    pub project: String,
    /// The service's name.
    pub service: String,
}

impl ServiceRef {
    /// The service `service` of the project `project` of the organization `org`.
    pub fn new(
        org: impl Into<String>,
        project: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        Self {
            org: org.into(),
            project: project.into(),
            service: service.into(),
        }
    }

    /// The project this service belongs to.
    pub fn project_ref(&self) -> ProjectRef {
        ProjectRef::new(self.org.clone(), self.project.clone())
    }
}

impl fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.org, self.project, self.service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_display_as_slash_separated_paths() {
        let project = ProjectRef::new("acme", "web");
        assert_eq!(project.to_string(), "acme/web");
        let service = project.service("api");
        assert_eq!(service, ServiceRef::new("acme", "web", "api"));
        assert_eq!(service.to_string(), "acme/web/api");
        assert_eq!(service.project_ref(), project);
    }
}
