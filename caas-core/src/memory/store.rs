//! [`InMemoryStore`]: the whole [`crate::Store`] port in process memory.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::ids::{
    AlertId, ApiTokenId, BackupId, DeploymentId, DomainId, InvitationId, OrgId, PlanId, ProjectId,
    ReservationId, ServiceId, TemplateInstanceId, UserId, VolumeId,
};
use crate::model::{
    Alert, ApiToken, AuditEntry, Backup, Deployment, Domain, HostClaim, Invitation, Member,
    MetricPoint, MetricSample, Organization, Plan, Project, Reservation, ReservationState,
    Resolution, Service, ServiceEvent, StoredTemplate, Subscription, TemplateInstance, Usage, User,
    Volume,
};
use crate::ports::quota::{QuotaGrant, sum_usage};
use crate::ports::store::{
    AuditFilter, Directory, DirectoryAdmin, DomainStore, HistoryStore, InvitationStore,
    MetricStore, OrgFilter, PlanAdmin, PlanSource, QuotaLedger, ServiceStore, SettingStore,
    TemplateStore, TokenStore, UserFilter, VolumeStore,
};
use crate::units::ResourceAmounts;

#[derive(Debug, Default)]
struct State {
    users: BTreeMap<UserId, User>,
    orgs: BTreeMap<OrgId, Organization>,
    members: BTreeMap<(OrgId, UserId), Member>,
    invitations: BTreeMap<InvitationId, Invitation>,
    plans: BTreeMap<PlanId, Plan>,
    subscriptions: BTreeMap<OrgId, Subscription>,
    projects: BTreeMap<ProjectId, Project>,
    services: BTreeMap<ServiceId, Service>,
    deployments: BTreeMap<DeploymentId, Deployment>,
    // Pending and committed reservations: what every reservation sums over.
    reservations: BTreeMap<ReservationId, Reservation>,
    // Released ones, kept for lookups apart from the live ones, so that a long-lived store's
    // reservations do not get slower with every one ever made.
    released: BTreeMap<ReservationId, Reservation>,
    events: Vec<ServiceEvent>,
    audit: Vec<AuditEntry>,
    settings: BTreeMap<String, serde_json::Value>,
    tokens: BTreeMap<ApiTokenId, ApiToken>,
    domains: super::domains::Tables,
    storage: super::volumes::Tables,
    catalogue: super::templates::Tables,
    raw_metrics: Vec<MetricSample>,
    // (resolution, service, bucket start) -> point
    rollups: BTreeMap<(Resolution, ServiceId, DateTime<Utc>), MetricPoint>,
}

/// A complete, faithful [`crate::Store`] in memory: the same constraints as the SQL stores (unique
/// names, references checked, cascades on delete) and atomic quota reservations under one lock.
/// Meant for tests and for embedders' own test suites.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    state: Mutex<State>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied change: every method
        // validates before it mutates.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn found<T: Clone>(v: Option<&T>, kind: &'static str, id: impl std::fmt::Display) -> Result<T> {
    v.cloned().ok_or_else(|| Error::not_found(kind, id))
}

#[async_trait]
impl SettingStore for InMemoryStore {
    async fn ping(&self) -> Result<()> {
        Ok(())
    }

    async fn setting_opt(&self, key: &str) -> Result<Option<serde_json::Value>> {
        Ok(self.lock().settings.get(key).cloned())
    }

    async fn put_setting(&self, key: &str, value: &serde_json::Value) -> Result<()> {
        self.lock().settings.insert(key.to_string(), value.clone());
        Ok(())
    }
}

#[async_trait]
impl Directory for InMemoryStore {
    async fn user(&self, id: UserId) -> Result<User> {
        found(self.lock().users.get(&id), "user", id)
    }

    async fn user_by_email_opt(&self, email: &str) -> Result<Option<User>> {
        let email = email.to_ascii_lowercase();
        Ok(self
            .lock()
            .users
            .values()
            .find(|u| u.email == email)
            .cloned())
    }

    async fn list_users(&self, filter: &UserFilter) -> Result<Vec<User>> {
        let s = self.lock();
        let mut users: Vec<User> = s
            .users
            .values()
            .filter(|u| filter.matches(u))
            .cloned()
            .collect();
        users.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(users
            .into_iter()
            .skip(filter.offset as usize)
            .take(filter.limit.min(500) as usize)
            .collect())
    }

    async fn org(&self, id: OrgId) -> Result<Organization> {
        found(self.lock().orgs.get(&id), "organization", id)
    }

    async fn org_by_slug_opt(&self, slug: &str) -> Result<Option<Organization>> {
        Ok(self
            .lock()
            .orgs
            .values()
            .find(|o| o.slug.as_str() == slug)
            .cloned())
    }

    async fn list_orgs(&self, filter: &OrgFilter) -> Result<Vec<Organization>> {
        let s = self.lock();
        let needle = filter.search.as_ref().map(|n| n.to_lowercase());
        let mut orgs: Vec<Organization> = s
            .orgs
            .values()
            .filter(|o| filter.status.is_none_or(|st| o.status == st))
            .filter(|o| {
                needle.as_ref().is_none_or(|n| {
                    o.slug.as_str().contains(n.as_str())
                        || o.display_name.to_lowercase().contains(n.as_str())
                })
            })
            .cloned()
            .collect();
        orgs.sort_by(|a, b| a.slug.cmp(&b.slug));
        Ok(orgs
            .into_iter()
            .skip(filter.offset as usize)
            .take(filter.limit.min(500) as usize)
            .collect())
    }

    async fn members(&self, org: OrgId) -> Result<Vec<Member>> {
        let mut v: Vec<Member> = self
            .lock()
            .members
            .values()
            .filter(|m| m.org == org)
            .cloned()
            .collect();
        v.sort_by_key(|m| (m.created_at, m.user));
        Ok(v)
    }

    async fn memberships(&self, user: UserId) -> Result<Vec<Member>> {
        let mut v: Vec<Member> = self
            .lock()
            .members
            .values()
            .filter(|m| m.user == user)
            .cloned()
            .collect();
        v.sort_by_key(|m| (m.created_at, m.org));
        Ok(v)
    }
}

#[async_trait]
impl DirectoryAdmin for InMemoryStore {
    async fn create_user(&self, user: &User) -> Result<()> {
        let mut s = self.lock();
        if s.users.values().any(|u| u.email == user.email) {
            return Err(Error::already_exists("user", &user.email));
        }
        if s.users.contains_key(&user.id) {
            return Err(Error::already_exists("user", user.id));
        }
        s.users.insert(user.id, user.clone());
        Ok(())
    }

    async fn set_user_disabled(&self, id: UserId, disabled: bool) -> Result<()> {
        match self.lock().users.get_mut(&id) {
            Some(u) => {
                u.disabled = disabled;
                Ok(())
            }
            None => Err(Error::not_found("user", id)),
        }
    }

    async fn create_org(&self, org: &Organization) -> Result<()> {
        let mut s = self.lock();
        if s.orgs.contains_key(&org.id) {
            return Err(Error::already_exists("organization", org.id));
        }
        if s.orgs.values().any(|o| o.slug == org.slug) {
            return Err(Error::already_exists("organization", &org.slug));
        }
        s.orgs.insert(org.id, org.clone());
        Ok(())
    }

    async fn update_org(&self, org: &Organization) -> Result<()> {
        let mut s = self.lock();
        if !s.orgs.contains_key(&org.id) {
            return Err(Error::not_found("organization", org.id));
        }
        if s.orgs
            .values()
            .any(|o| o.slug == org.slug && o.id != org.id)
        {
            return Err(Error::already_exists("organization", &org.slug));
        }
        s.orgs.insert(org.id, org.clone());
        Ok(())
    }

    async fn delete_org(&self, id: OrgId) -> Result<()> {
        let mut s = self.lock();
        if s.orgs.remove(&id).is_none() {
            return Err(Error::not_found("organization", id));
        }
        s.members.retain(|(o, _), _| *o != id);
        s.invitations.retain(|_, i| i.org != id);
        s.subscriptions.remove(&id);
        s.projects.retain(|_, p| p.org != id);
        s.services.retain(|_, sv| sv.org != id);
        s.deployments.retain(|_, d| d.org != id);
        s.reservations.retain(|_, r| r.org != id);
        s.released.retain(|_, r| r.org != id);
        s.events.retain(|e| e.org != id);
        s.domains.org_deleted(id);
        s.storage.org_deleted(id);
        s.catalogue.org_deleted(id);
        Ok(())
    }

    async fn put_member(&self, member: &Member) -> Result<()> {
        let mut s = self.lock();
        if !s.orgs.contains_key(&member.org) {
            return Err(Error::not_found("organization", member.org));
        }
        if !s.users.contains_key(&member.user) {
            return Err(Error::not_found("user", member.user));
        }
        s.members.insert((member.org, member.user), member.clone());
        Ok(())
    }

    async fn remove_member(&self, org: OrgId, user: UserId) -> Result<bool> {
        Ok(self.lock().members.remove(&(org, user)).is_some())
    }
}

#[async_trait]
impl TokenStore for InMemoryStore {
    async fn create_api_token(&self, token: &ApiToken) -> Result<()> {
        let mut s = self.lock();
        if s.tokens.contains_key(&token.id)
            || s.tokens
                .values()
                .any(|t| t.token_sha256 == token.token_sha256)
        {
            return Err(Error::already_exists("api token", token.id));
        }
        s.tokens.insert(token.id, token.clone());
        Ok(())
    }

    async fn api_token_by_hash_opt(&self, token_sha256: &str) -> Result<Option<ApiToken>> {
        Ok(self
            .lock()
            .tokens
            .values()
            .find(|t| t.token_sha256 == token_sha256)
            .cloned())
    }

    async fn list_api_tokens(&self, user: UserId) -> Result<Vec<ApiToken>> {
        Ok(self
            .lock()
            .tokens
            .values()
            .filter(|t| t.user == user)
            .cloned()
            .collect())
    }

    async fn delete_api_token(&self, id: ApiTokenId) -> Result<()> {
        match self.lock().tokens.remove(&id) {
            Some(_) => Ok(()),
            None => Err(Error::not_found("api token", id)),
        }
    }
}

#[async_trait]
impl InvitationStore for InMemoryStore {
    async fn create_invitation(&self, invitation: &Invitation) -> Result<()> {
        let mut s = self.lock();
        if !s.orgs.contains_key(&invitation.org) {
            return Err(Error::not_found("organization", invitation.org));
        }
        if s.invitations.contains_key(&invitation.id)
            || s.invitations
                .values()
                .any(|i| i.token_sha256 == invitation.token_sha256)
        {
            return Err(Error::already_exists("invitation", invitation.id));
        }
        s.invitations.insert(invitation.id, invitation.clone());
        Ok(())
    }

    async fn invitation(&self, id: InvitationId) -> Result<Invitation> {
        found(self.lock().invitations.get(&id), "invitation", id)
    }

    async fn invitation_by_hash_opt(&self, token_sha256: &str) -> Result<Option<Invitation>> {
        Ok(self
            .lock()
            .invitations
            .values()
            .find(|i| i.token_sha256 == token_sha256)
            .cloned())
    }

    async fn list_invitations(&self, org: OrgId) -> Result<Vec<Invitation>> {
        Ok(self
            .lock()
            .invitations
            .values()
            .filter(|i| i.org == org)
            .cloned()
            .collect())
    }

    async fn delete_invitation(&self, id: InvitationId) -> Result<()> {
        self.lock()
            .invitations
            .remove(&id)
            .map(|_| ())
            .ok_or_else(|| Error::not_found("invitation", id))
    }
}

#[async_trait]
impl PlanSource for InMemoryStore {
    async fn plan(&self, id: PlanId) -> Result<Plan> {
        found(self.lock().plans.get(&id), "plan", id)
    }

    async fn plan_by_name_opt(&self, name: &str) -> Result<Option<Plan>> {
        Ok(self
            .lock()
            .plans
            .values()
            .find(|p| p.name.as_str() == name)
            .cloned())
    }

    async fn list_plans(&self) -> Result<Vec<Plan>> {
        let mut v: Vec<Plan> = self.lock().plans.values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    async fn subscription_opt(&self, org: OrgId) -> Result<Option<Subscription>> {
        Ok(self.lock().subscriptions.get(&org).cloned())
    }
}

#[async_trait]
impl PlanAdmin for InMemoryStore {
    async fn create_plan(&self, plan: &Plan) -> Result<()> {
        let mut s = self.lock();
        if s.plans.values().any(|p| p.name == plan.name) || s.plans.contains_key(&plan.id) {
            return Err(Error::already_exists("plan", &plan.name));
        }
        s.plans.insert(plan.id, plan.clone());
        Ok(())
    }

    async fn update_plan(&self, plan: &Plan) -> Result<()> {
        let mut s = self.lock();
        if !s.plans.contains_key(&plan.id) {
            return Err(Error::not_found("plan", plan.id));
        }
        if s.plans
            .values()
            .any(|p| p.name == plan.name && p.id != plan.id)
        {
            return Err(Error::already_exists("plan", &plan.name));
        }
        s.plans.insert(plan.id, plan.clone());
        Ok(())
    }

    async fn delete_plan(&self, id: PlanId) -> Result<()> {
        let mut s = self.lock();
        let Some(plan) = s.plans.get(&id) else {
            return Err(Error::not_found("plan", id));
        };
        let users = s.subscriptions.values().filter(|x| x.plan == id).count();
        if users > 0 {
            return Err(Error::conflict(format!(
                "plan '{}' is used by {users} subscription(s); move them to another plan first",
                plan.name
            )));
        }
        s.plans.remove(&id);
        Ok(())
    }

    async fn put_subscription(&self, sub: &Subscription) -> Result<()> {
        let mut s = self.lock();
        if !s.orgs.contains_key(&sub.org) {
            return Err(Error::not_found("organization", sub.org));
        }
        if !s.plans.contains_key(&sub.plan) {
            return Err(Error::not_found("plan", sub.plan));
        }
        s.subscriptions.insert(sub.org, sub.clone());
        Ok(())
    }
}

#[async_trait]
impl ServiceStore for InMemoryStore {
    async fn create_project(&self, project: &Project) -> Result<()> {
        let mut s = self.lock();
        if s.projects.contains_key(&project.id)
            || s.projects
                .values()
                .any(|p| p.org == project.org && p.name == project.name)
        {
            return Err(Error::already_exists("project", &project.name));
        }
        s.projects.insert(project.id, project.clone());
        Ok(())
    }

    async fn project(&self, id: ProjectId) -> Result<Project> {
        found(self.lock().projects.get(&id), "project", id)
    }

    async fn project_by_name_opt(&self, org: OrgId, name: &str) -> Result<Option<Project>> {
        Ok(self
            .lock()
            .projects
            .values()
            .find(|p| p.org == org && p.name.as_str() == name)
            .cloned())
    }

    async fn list_projects(&self, org: OrgId) -> Result<Vec<Project>> {
        Ok(self
            .lock()
            .projects
            .values()
            .filter(|p| p.org == org)
            .cloned()
            .collect())
    }

    async fn delete_project(&self, id: ProjectId) -> Result<()> {
        let mut s = self.lock();
        let Some(p) = s.projects.get(&id) else {
            return Err(Error::not_found("project", id));
        };
        let remaining = s.services.values().filter(|sv| sv.project == id).count();
        if remaining > 0 {
            return Err(Error::conflict(format!(
                "project '{}' still has {remaining} service(s); delete them first",
                p.name
            )));
        }
        s.projects.remove(&id);
        s.storage.project_deleted(id);
        s.catalogue.project_deleted(id);
        Ok(())
    }

    async fn create_service(&self, service: &Service) -> Result<()> {
        let mut s = self.lock();
        match s.projects.get(&service.project) {
            Some(p) if p.org == service.org => {}
            _ => return Err(Error::not_found("project", service.project)),
        }
        if s.services.contains_key(&service.id)
            || s.services
                .values()
                .any(|x| x.project == service.project && x.name == service.name)
        {
            return Err(Error::already_exists("service", &service.name));
        }
        s.services.insert(service.id, service.clone());
        Ok(())
    }

    async fn service(&self, id: ServiceId) -> Result<Service> {
        found(self.lock().services.get(&id), "service", id)
    }

    async fn service_by_name_opt(&self, project: ProjectId, name: &str) -> Result<Option<Service>> {
        Ok(self
            .lock()
            .services
            .values()
            .find(|x| x.project == project && x.name.as_str() == name)
            .cloned())
    }

    async fn list_services(&self, org: OrgId, project: Option<ProjectId>) -> Result<Vec<Service>> {
        Ok(self
            .lock()
            .services
            .values()
            .filter(|x| x.org == org && project.is_none_or(|p| x.project == p))
            .cloned()
            .collect())
    }

    async fn list_all_services(&self) -> Result<Vec<Service>> {
        Ok(self.lock().services.values().cloned().collect())
    }

    async fn update_service(&self, service: &Service) -> Result<()> {
        let mut s = self.lock();
        let Some(existing) = s.services.get_mut(&service.id) else {
            return Err(Error::not_found("service", service.id));
        };
        existing.spec = service.spec.clone();
        existing.status = service.status;
        existing.current_deployment = service.current_deployment;
        existing.reservation = service.reservation;
        existing.updated_at = service.updated_at;
        Ok(())
    }

    async fn delete_service(&self, id: ServiceId) -> Result<()> {
        let mut s = self.lock();
        if s.services.remove(&id).is_none() {
            return Err(Error::not_found("service", id));
        }
        s.deployments.retain(|_, d| d.service != id);
        s.events.retain(|e| e.service != id);
        s.domains.service_deleted(id);
        Ok(())
    }

    async fn create_deployment(&self, deployment: &Deployment) -> Result<()> {
        let mut s = self.lock();
        if !s.services.contains_key(&deployment.service) {
            return Err(Error::not_found("service", deployment.service));
        }
        if s.deployments.contains_key(&deployment.id) {
            return Err(Error::already_exists("deployment", deployment.id));
        }
        s.deployments.insert(deployment.id, deployment.clone());
        Ok(())
    }

    async fn deployment(&self, id: DeploymentId) -> Result<Deployment> {
        found(self.lock().deployments.get(&id), "deployment", id)
    }

    async fn update_deployment(&self, deployment: &Deployment) -> Result<()> {
        let mut s = self.lock();
        let Some(existing) = s.deployments.get_mut(&deployment.id) else {
            return Err(Error::not_found("deployment", deployment.id));
        };
        existing.status = deployment.status;
        existing.container_id = deployment.container_id.clone();
        existing.error = deployment.error.clone();
        existing.finished_at = deployment.finished_at;
        Ok(())
    }

    async fn list_deployments(&self, service: ServiceId) -> Result<Vec<Deployment>> {
        let mut v: Vec<Deployment> = self
            .lock()
            .deployments
            .values()
            .filter(|d| d.service == service)
            .cloned()
            .collect();
        v.sort_by_key(|d| std::cmp::Reverse(d.id));
        Ok(v)
    }
}

#[async_trait]
impl DomainStore for InMemoryStore {
    async fn create_domain(
        &self,
        domain: &Domain,
        claim: &HostClaim,
        grant: &QuotaGrant,
    ) -> Result<HostClaim> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let cx = super::domains::Context {
            service_org: s.services.get(&domain.service).map(|svc| svc.org),
            grant,
        };
        s.domains.create(domain, claim, cx)
    }

    async fn domain(&self, id: DomainId) -> Result<Domain> {
        self.lock().domains.domain(id)
    }

    async fn list_domains(&self, service: ServiceId) -> Result<Vec<Domain>> {
        Ok(self.lock().domains.list(|d| d.service == service))
    }

    async fn list_org_domains(&self, org: OrgId) -> Result<Vec<Domain>> {
        Ok(self.lock().domains.list(|d| d.org == org))
    }

    async fn list_host_domains(&self, hostname: &str) -> Result<Vec<Domain>> {
        Ok(self
            .lock()
            .domains
            .list(|d| d.hostname.as_str() == hostname))
    }

    async fn list_domains_under(&self, base: &str) -> Result<Vec<Domain>> {
        let suffix = format!(".{}", base.to_ascii_lowercase());
        Ok(self
            .lock()
            .domains
            .list(|d| d.hostname.as_str().ends_with(&suffix)))
    }

    async fn update_domain(&self, domain: &Domain) -> Result<()> {
        self.lock().domains.update(domain)
    }

    async fn delete_domain(&self, id: DomainId) -> Result<()> {
        self.lock().domains.delete(id)
    }

    async fn host_claim_opt(&self, hostname: &str) -> Result<Option<HostClaim>> {
        Ok(self.lock().domains.claim(hostname))
    }

    async fn list_host_claims(&self, org: Option<OrgId>) -> Result<Vec<HostClaim>> {
        Ok(self.lock().domains.claims(org))
    }

    async fn update_host_claim(&self, claim: &HostClaim) -> Result<()> {
        self.lock().domains.update_claim(claim)
    }

    async fn release_expired_host_claim(
        &self,
        hostname: &str,
        org: OrgId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Domain>> {
        Ok(self.lock().domains.release_expired(hostname, org, now))
    }

    async fn site_verified_by_others(&self, site: &str, org: OrgId) -> Result<bool> {
        Ok(self.lock().domains.site_verified_by_others(site, org))
    }
}

#[async_trait]
impl VolumeStore for InMemoryStore {
    async fn create_volume(&self, volume: &Volume) -> Result<()> {
        let mut s = self.lock();
        let owner = s.projects.get(&volume.project).map(|p| p.org);
        s.storage.create_volume(volume, owner)
    }
    async fn volume(&self, id: VolumeId) -> Result<Volume> {
        self.lock().storage.volume(id)
    }
    async fn volume_by_name_opt(&self, project: ProjectId, name: &str) -> Result<Option<Volume>> {
        Ok(self.lock().storage.volume_by_name(project, name))
    }
    async fn list_volumes(&self, org: OrgId, project: Option<ProjectId>) -> Result<Vec<Volume>> {
        Ok(self.lock().storage.list_volumes(Some(org), project))
    }
    async fn list_all_volumes(&self) -> Result<Vec<Volume>> {
        Ok(self.lock().storage.list_volumes(None, None))
    }
    async fn update_volume(&self, volume: &Volume) -> Result<()> {
        self.lock().storage.update_volume(volume)
    }
    async fn delete_volume(&self, id: VolumeId) -> Result<()> {
        self.lock().storage.delete_volume(id)
    }
    async fn create_backup(&self, backup: &Backup) -> Result<()> {
        let mut s = self.lock();
        s.storage.create_backup(backup)
    }
    async fn backup(&self, id: BackupId) -> Result<Backup> {
        self.lock().storage.backup(id)
    }
    async fn list_backups(&self, volume: VolumeId) -> Result<Vec<Backup>> {
        Ok(self.lock().storage.list_backups(Some(volume), None))
    }
    async fn list_org_backups(&self, org: OrgId) -> Result<Vec<Backup>> {
        Ok(self.lock().storage.list_backups(None, Some(org)))
    }
    async fn update_backup(&self, backup: &Backup) -> Result<()> {
        self.lock().storage.update_backup(backup)
    }
    async fn delete_backup(&self, id: BackupId) -> Result<()> {
        self.lock().storage.delete_backup(id)
    }
}

#[async_trait]
impl HistoryStore for InMemoryStore {
    async fn put_alert(&self, alert: &Alert) -> Result<()> {
        let mut s = self.lock();
        s.storage.put_alert(alert)
    }
    async fn firing_alert_opt(
        &self,
        org: OrgId,
        rule: &str,
        subject: &str,
    ) -> Result<Option<Alert>> {
        Ok(self.lock().storage.firing_alert(org, rule, subject))
    }
    async fn list_alerts(&self, org: OrgId, firing_only: bool, limit: u32) -> Result<Vec<Alert>> {
        Ok(self.lock().storage.list_alerts(org, firing_only, limit))
    }
    async fn alert(&self, id: AlertId) -> Result<Alert> {
        self.lock().storage.alert(id)
    }

    async fn append_event(&self, event: &ServiceEvent) -> Result<()> {
        let mut s = self.lock();
        if !s.services.contains_key(&event.service) {
            return Err(Error::not_found("service", event.service));
        }
        s.events.push(event.clone());
        Ok(())
    }

    async fn list_events(&self, service: ServiceId, limit: u32) -> Result<Vec<ServiceEvent>> {
        let s = self.lock();
        let mut v: Vec<ServiceEvent> = s
            .events
            .iter()
            .filter(|e| e.service == service)
            .cloned()
            .collect();
        v.sort_by(|a, b| b.at.cmp(&a.at).then(b.id.cmp(&a.id)));
        v.truncate(limit.min(1000) as usize);
        Ok(v)
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        self.lock().audit.push(entry.clone());
        Ok(())
    }

    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let s = self.lock();
        let mut v: Vec<AuditEntry> = s
            .audit
            .iter()
            .filter(|a| filter.matches(a))
            .cloned()
            .collect();
        v.sort_by(|a, b| b.at.cmp(&a.at).then(b.id.cmp(&a.id)));
        v.truncate(filter.limit.min(1000) as usize);
        Ok(v)
    }
}

#[async_trait]
impl TemplateStore for InMemoryStore {
    async fn put_template(&self, template: &StoredTemplate) -> Result<()> {
        self.lock().catalogue.put_template(template);
        Ok(())
    }
    async fn template_opt(&self, id: &str) -> Result<Option<StoredTemplate>> {
        Ok(self.lock().catalogue.template(id))
    }
    async fn list_templates(&self) -> Result<Vec<StoredTemplate>> {
        Ok(self.lock().catalogue.list_templates())
    }
    async fn delete_template(&self, id: &str) -> Result<()> {
        self.lock().catalogue.delete_template(id)
    }
    async fn create_template_instance(&self, instance: &TemplateInstance) -> Result<()> {
        let mut s = self.lock();
        let owner = s.projects.get(&instance.project).map(|p| p.org);
        s.catalogue.create_instance(instance, owner)
    }
    async fn template_instance(&self, id: TemplateInstanceId) -> Result<TemplateInstance> {
        self.lock().catalogue.instance(id)
    }
    async fn template_instance_by_name_opt(
        &self,
        project: ProjectId,
        name: &str,
    ) -> Result<Option<TemplateInstance>> {
        Ok(self.lock().catalogue.instance_by_name(project, name))
    }
    async fn list_template_instances(
        &self,
        org: OrgId,
        project: Option<ProjectId>,
    ) -> Result<Vec<TemplateInstance>> {
        Ok(self.lock().catalogue.list_instances(org, project))
    }
    async fn delete_template_instance(&self, id: TemplateInstanceId) -> Result<()> {
        self.lock().catalogue.delete_instance(id)
    }
}

#[async_trait]
impl QuotaLedger for InMemoryStore {
    async fn quota_reserve(
        &self,
        grant: &QuotaGrant,
        amounts: ResourceAmounts,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Reservation> {
        let mut s = self.lock();
        let org = grant.org;
        let (committed, pending) = sum_usage(s.reservations.values().filter(|r| r.org == org), now);
        grant.check(&committed.plus(&pending), &amounts)?;
        let r = Reservation {
            id: ReservationId::new(),
            org,
            amounts,
            state: ReservationState::Pending,
            owner: None,
            expires_at,
            created_at: now,
        };
        s.reservations.insert(r.id, r.clone());
        Ok(r)
    }

    async fn quota_commit(&self, id: ReservationId, owner: &str, now: DateTime<Utc>) -> Result<()> {
        let mut s = self.lock();
        if s.released.contains_key(&id) {
            return Err(Error::conflict(format!(
                "reservation {id} was already released"
            )));
        }
        let Some(r) = s.reservations.get_mut(&id) else {
            return Err(Error::not_found("reservation", id));
        };
        match r.state {
            ReservationState::Committed => Ok(()),
            ReservationState::Released => Err(Error::conflict(format!(
                "reservation {id} was already released"
            ))),
            ReservationState::Pending if r.expires_at <= now => Err(Error::conflict(format!(
                "reservation {id} expired before it was committed"
            ))),
            ReservationState::Pending => {
                r.state = ReservationState::Committed;
                r.owner = Some(owner.to_string());
                Ok(())
            }
        }
    }

    async fn quota_resize(
        &self,
        id: ReservationId,
        grant: &QuotaGrant,
        amounts: ResourceAmounts,
        now: DateTime<Utc>,
    ) -> Result<Reservation> {
        let mut s = self.lock();
        let r = found(
            s.reservations.get(&id).or_else(|| s.released.get(&id)),
            "reservation",
            id,
        )?;
        if r.state == ReservationState::Released {
            return Err(Error::conflict(format!(
                "reservation {id} was already released"
            )));
        }
        grant.check_org(r.org)?;
        let increase = amounts.minus(&r.amounts);
        if !increase.is_zero() {
            let (committed, pending) =
                sum_usage(s.reservations.values().filter(|x| x.org == r.org), now);
            grant.check(&committed.plus(&pending), &increase)?;
        }
        let entry = s
            .reservations
            .get_mut(&id)
            .ok_or_else(|| Error::not_found("reservation", id))?;
        entry.amounts = amounts;
        Ok(entry.clone())
    }

    async fn quota_release(&self, id: ReservationId) -> Result<()> {
        let mut s = self.lock();
        if s.released.contains_key(&id) {
            return Ok(());
        }
        let Some(mut r) = s.reservations.remove(&id) else {
            return Err(Error::not_found("reservation", id));
        };
        r.state = ReservationState::Released;
        s.released.insert(id, r);
        Ok(())
    }

    async fn reservation(&self, id: ReservationId) -> Result<Reservation> {
        let s = self.lock();
        found(
            s.reservations.get(&id).or_else(|| s.released.get(&id)),
            "reservation",
            id,
        )
    }

    async fn quota_usage(&self, grant: &QuotaGrant, now: DateTime<Utc>) -> Result<Usage> {
        let s = self.lock();
        let (committed, pending) =
            sum_usage(s.reservations.values().filter(|r| r.org == grant.org), now);
        Ok(grant.usage(committed, pending))
    }

    async fn quota_expire(&self, now: DateTime<Utc>) -> Result<u64> {
        let mut s = self.lock();
        let expired: Vec<ReservationId> = s
            .reservations
            .values()
            .filter(|r| r.state == ReservationState::Pending && r.expires_at <= now)
            .map(|r| r.id)
            .collect();
        for id in &expired {
            if let Some(mut r) = s.reservations.remove(id) {
                r.state = ReservationState::Released;
                s.released.insert(*id, r);
            }
        }
        Ok(expired.len() as u64)
    }
}

#[async_trait]
impl MetricStore for InMemoryStore {
    async fn insert_metrics(&self, samples: &[MetricSample]) -> Result<u64> {
        self.lock().raw_metrics.extend_from_slice(samples);
        Ok(samples.len() as u64)
    }

    async fn rollup_metrics(
        &self,
        resolution: Resolution,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<u64> {
        let Some(source) = resolution.source() else {
            return Err(Error::invalid(
                "resolution",
                "raw samples are not rolled up",
            ));
        };
        let mut s = self.lock();
        let start = resolution.bucket(since);
        let width = resolution.width();
        let mut groups: BTreeMap<(ServiceId, DateTime<Utc>), Vec<MetricPoint>> = BTreeMap::new();
        let mut add = |p: MetricPoint| {
            let b = resolution.bucket(p.at);
            if b >= start && b + width <= until {
                groups.entry((p.service, b)).or_default().push(p);
            }
        };
        if source == Resolution::Raw {
            s.raw_metrics
                .iter()
                .map(MetricPoint::from_sample)
                .for_each(&mut add);
        } else {
            s.rollups
                .iter()
                .filter(|((r, _, _), _)| *r == source)
                .map(|(_, p)| p.clone())
                .for_each(&mut add);
        }
        let mut n = 0;
        for ((service, at), mut points) in groups {
            points.sort_by_key(|p| p.at);
            if let Some(p) = MetricPoint::summarise(at, &points) {
                s.rollups.insert((resolution, service, at), p);
                n += 1;
            }
        }
        Ok(n)
    }

    async fn query_metrics(
        &self,
        service: ServiceId,
        resolution: Resolution,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MetricPoint>> {
        let s = self.lock();
        let mut v: Vec<MetricPoint> = if resolution == Resolution::Raw {
            s.raw_metrics
                .iter()
                .filter(|m| m.service == service && m.at >= from && m.at < to)
                .map(MetricPoint::from_sample)
                .collect()
        } else {
            s.rollups
                .range((resolution, service, from)..(resolution, service, to))
                .map(|(_, p)| p.clone())
                .collect()
        };
        v.sort_by_key(|p| p.at);
        v.truncate(10_000);
        Ok(v)
    }

    async fn delete_metrics_before(
        &self,
        resolution: Resolution,
        before: DateTime<Utc>,
    ) -> Result<u64> {
        let mut s = self.lock();
        if resolution == Resolution::Raw {
            let n = s.raw_metrics.len();
            s.raw_metrics.retain(|m| m.at >= before);
            Ok((n - s.raw_metrics.len()) as u64)
        } else {
            let n = s.rollups.len();
            s.rollups
                .retain(|(r, _, at), _| *r != resolution || *at >= before);
            Ok((n - s.rollups.len()) as u64)
        }
    }
}
