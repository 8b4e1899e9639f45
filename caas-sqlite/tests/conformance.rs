//! The store, quota and metrics conformance suites of `caas-testkit` against [`SqliteStore`]: on a
//! fresh database file per test (the real deployment: WAL, 8 connections), and on `:memory:`
//! (one connection, which also proves no operation needs two connections at once).
#![allow(clippy::unwrap_used)]

use caas_core::ports::store::prelude::*;
use std::sync::Arc;

use async_trait::async_trait;
use caas_core::model::{
    Alert, ApiToken, AuditEntry, Backup, Deployment, Domain, HostClaim, Invitation, Member,
    MetricPoint, MetricSample, Organization, Plan, Project, Reservation, Resolution, Service,
    ServiceEvent, StoredTemplate, Subscription, TemplateInstance, Usage, User, Volume,
};
use caas_core::ports::quota::QuotaGrant;
use caas_core::ports::store::{AuditFilter, OrgFilter, UserFilter};
use caas_core::units::ResourceAmounts;
use caas_core::{
    AlertId, ApiTokenId, BackupId, DeploymentId, DomainId, InvitationId, OrgId, PlanId, ProjectId,
    ReservationId, Result, ServiceId, Store, TemplateInstanceId, UserId, VolumeId,
};
use caas_sqlite::SqliteStore;
use chrono::{DateTime, Utc};
use tempfile::TempDir;

/// A fresh, migrated database file in its own temporary directory.
async fn fresh_store() -> Option<Arc<dyn Store>> {
    Some(Arc::new(FileStore::new().await))
}

/// A fresh, migrated `:memory:` database.
async fn memory_store() -> Option<Arc<dyn Store>> {
    let store = SqliteStore::open(":memory:").await.unwrap();
    store.migrate().await.unwrap();
    Some(Arc::new(store))
}

mod file {
    use super::*;

    mod store {
        use super::*;
        caas_testkit::store_suite!(fresh_store());
    }

    mod quota {
        use super::*;
        caas_testkit::quota_suite!(fresh_store());
    }

    mod metrics {
        use super::*;
        caas_testkit::metrics_suite!(fresh_store());
    }

    mod platform_quota {
        use super::*;

        caas_testkit::platform_quota_suite!(fresh_store());
    }

    mod tokens {
        use super::*;

        caas_testkit::token_suite!(fresh_store());
    }
}

mod memory {
    use super::*;

    mod store {
        use super::*;
        caas_testkit::store_suite!(memory_store());
    }

    mod quota {
        use super::*;
        caas_testkit::quota_suite!(memory_store());
    }

    mod metrics {
        use super::*;
        caas_testkit::metrics_suite!(memory_store());
    }
}

/// A [`SqliteStore`] on a file in a temporary directory that is removed when the store is
/// dropped (after the test).
#[derive(Debug)]
struct FileStore {
    store: SqliteStore,
    _dir: TempDir,
}

impl FileStore {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("caas.db");
        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        store.migrate().await.unwrap();
        Self { store, _dir: dir }
    }
}

#[async_trait]
impl SettingStore for FileStore {
    async fn ping(&self) -> Result<()> {
        self.store.ping().await
    }
    async fn setting_opt(&self, key: &str) -> Result<Option<serde_json::Value>> {
        self.store.setting_opt(key).await
    }
    async fn put_setting(&self, key: &str, value: &serde_json::Value) -> Result<()> {
        self.store.put_setting(key, value).await
    }
}

#[async_trait]
impl Directory for FileStore {
    async fn user(&self, id: UserId) -> Result<User> {
        self.store.user(id).await
    }
    async fn user_by_email_opt(&self, email: &str) -> Result<Option<User>> {
        self.store.user_by_email_opt(email).await
    }
    async fn list_users(&self, filter: &UserFilter) -> Result<Vec<User>> {
        self.store.list_users(filter).await
    }
    async fn org(&self, id: OrgId) -> Result<Organization> {
        self.store.org(id).await
    }
    async fn org_by_slug_opt(&self, slug: &str) -> Result<Option<Organization>> {
        self.store.org_by_slug_opt(slug).await
    }
    async fn list_orgs(&self, filter: &OrgFilter) -> Result<Vec<Organization>> {
        self.store.list_orgs(filter).await
    }
    async fn members(&self, org: OrgId) -> Result<Vec<Member>> {
        self.store.members(org).await
    }
    async fn memberships(&self, user: UserId) -> Result<Vec<Member>> {
        self.store.memberships(user).await
    }
}

#[async_trait]
impl DirectoryAdmin for FileStore {
    async fn create_user(&self, user: &User) -> Result<()> {
        self.store.create_user(user).await
    }
    async fn set_user_disabled(&self, id: UserId, disabled: bool) -> Result<()> {
        self.store.set_user_disabled(id, disabled).await
    }
    async fn create_org(&self, org: &Organization) -> Result<()> {
        self.store.create_org(org).await
    }
    async fn update_org(&self, org: &Organization) -> Result<()> {
        self.store.update_org(org).await
    }
    async fn delete_org(&self, id: OrgId) -> Result<()> {
        self.store.delete_org(id).await
    }
    async fn put_member(&self, member: &Member) -> Result<()> {
        self.store.put_member(member).await
    }
    async fn remove_member(&self, org: OrgId, user: UserId) -> Result<bool> {
        self.store.remove_member(org, user).await
    }
}

#[async_trait]
impl TokenStore for FileStore {
    async fn create_api_token(&self, token: &ApiToken) -> Result<()> {
        self.store.create_api_token(token).await
    }
    async fn api_token_by_hash_opt(&self, token_sha256: &str) -> Result<Option<ApiToken>> {
        self.store.api_token_by_hash_opt(token_sha256).await
    }
    async fn list_api_tokens(&self, user: UserId) -> Result<Vec<ApiToken>> {
        self.store.list_api_tokens(user).await
    }
    async fn delete_api_token(&self, id: ApiTokenId) -> Result<()> {
        self.store.delete_api_token(id).await
    }
}

#[async_trait]
impl InvitationStore for FileStore {
    async fn create_invitation(&self, invitation: &Invitation) -> Result<()> {
        self.store.create_invitation(invitation).await
    }
    async fn invitation(&self, id: InvitationId) -> Result<Invitation> {
        self.store.invitation(id).await
    }
    async fn invitation_by_hash_opt(&self, token_sha256: &str) -> Result<Option<Invitation>> {
        self.store.invitation_by_hash_opt(token_sha256).await
    }
    async fn list_invitations(&self, org: OrgId) -> Result<Vec<Invitation>> {
        self.store.list_invitations(org).await
    }
    async fn delete_invitation(&self, id: InvitationId) -> Result<()> {
        self.store.delete_invitation(id).await
    }
}

#[async_trait]
impl PlanSource for FileStore {
    async fn plan(&self, id: PlanId) -> Result<Plan> {
        self.store.plan(id).await
    }
    async fn plan_by_name_opt(&self, name: &str) -> Result<Option<Plan>> {
        self.store.plan_by_name_opt(name).await
    }
    async fn list_plans(&self) -> Result<Vec<Plan>> {
        self.store.list_plans().await
    }
    async fn subscription_opt(&self, org: OrgId) -> Result<Option<Subscription>> {
        self.store.subscription_opt(org).await
    }
}

#[async_trait]
impl PlanAdmin for FileStore {
    async fn create_plan(&self, plan: &Plan) -> Result<()> {
        self.store.create_plan(plan).await
    }
    async fn update_plan(&self, plan: &Plan) -> Result<()> {
        self.store.update_plan(plan).await
    }
    async fn delete_plan(&self, id: PlanId) -> Result<()> {
        self.store.delete_plan(id).await
    }
    async fn put_subscription(&self, sub: &Subscription) -> Result<()> {
        self.store.put_subscription(sub).await
    }
}

#[async_trait]
impl ServiceStore for FileStore {
    async fn create_project(&self, project: &Project) -> Result<()> {
        self.store.create_project(project).await
    }
    async fn project(&self, id: ProjectId) -> Result<Project> {
        self.store.project(id).await
    }
    async fn project_by_name_opt(&self, org: OrgId, name: &str) -> Result<Option<Project>> {
        self.store.project_by_name_opt(org, name).await
    }
    async fn list_projects(&self, org: OrgId) -> Result<Vec<Project>> {
        self.store.list_projects(org).await
    }
    async fn delete_project(&self, id: ProjectId) -> Result<()> {
        self.store.delete_project(id).await
    }
    async fn create_service(&self, service: &Service) -> Result<()> {
        self.store.create_service(service).await
    }
    async fn service(&self, id: ServiceId) -> Result<Service> {
        self.store.service(id).await
    }
    async fn service_by_name_opt(&self, project: ProjectId, name: &str) -> Result<Option<Service>> {
        self.store.service_by_name_opt(project, name).await
    }
    async fn list_services(&self, org: OrgId, project: Option<ProjectId>) -> Result<Vec<Service>> {
        self.store.list_services(org, project).await
    }
    async fn list_all_services(&self) -> Result<Vec<Service>> {
        self.store.list_all_services().await
    }
    async fn update_service(&self, service: &Service) -> Result<()> {
        self.store.update_service(service).await
    }
    async fn delete_service(&self, id: ServiceId) -> Result<()> {
        self.store.delete_service(id).await
    }
    async fn create_deployment(&self, deployment: &Deployment) -> Result<()> {
        self.store.create_deployment(deployment).await
    }
    async fn deployment(&self, id: DeploymentId) -> Result<Deployment> {
        self.store.deployment(id).await
    }
    async fn update_deployment(&self, deployment: &Deployment) -> Result<()> {
        self.store.update_deployment(deployment).await
    }
    async fn list_deployments(&self, service: ServiceId) -> Result<Vec<Deployment>> {
        self.store.list_deployments(service).await
    }
}

#[async_trait]
impl DomainStore for FileStore {
    async fn create_domain(
        &self,
        domain: &Domain,
        claim: &HostClaim,
        grant: &QuotaGrant,
    ) -> Result<HostClaim> {
        self.store.create_domain(domain, claim, grant).await
    }
    async fn domain(&self, id: DomainId) -> Result<Domain> {
        self.store.domain(id).await
    }
    async fn list_domains(&self, service: ServiceId) -> Result<Vec<Domain>> {
        self.store.list_domains(service).await
    }
    async fn list_org_domains(&self, org: OrgId) -> Result<Vec<Domain>> {
        self.store.list_org_domains(org).await
    }
    async fn list_host_domains(&self, hostname: &str) -> Result<Vec<Domain>> {
        self.store.list_host_domains(hostname).await
    }
    async fn list_domains_under(&self, base: &str) -> Result<Vec<Domain>> {
        self.store.list_domains_under(base).await
    }
    async fn update_domain(&self, domain: &Domain) -> Result<()> {
        self.store.update_domain(domain).await
    }
    async fn delete_domain(&self, id: DomainId) -> Result<()> {
        self.store.delete_domain(id).await
    }
    async fn host_claim_opt(&self, hostname: &str) -> Result<Option<HostClaim>> {
        self.store.host_claim_opt(hostname).await
    }
    async fn list_host_claims(&self, org: Option<OrgId>) -> Result<Vec<HostClaim>> {
        self.store.list_host_claims(org).await
    }
    async fn update_host_claim(&self, claim: &HostClaim) -> Result<()> {
        self.store.update_host_claim(claim).await
    }
    async fn release_expired_host_claim(
        &self,
        hostname: &str,
        org: OrgId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Domain>> {
        self.store
            .release_expired_host_claim(hostname, org, now)
            .await
    }
    async fn site_verified_by_others(&self, site: &str, org: OrgId) -> Result<bool> {
        self.store.site_verified_by_others(site, org).await
    }
}

#[async_trait]
impl VolumeStore for FileStore {
    async fn create_volume(&self, volume: &Volume) -> Result<()> {
        self.store.create_volume(volume).await
    }
    async fn volume(&self, id: VolumeId) -> Result<Volume> {
        self.store.volume(id).await
    }
    async fn volume_by_name_opt(&self, project: ProjectId, name: &str) -> Result<Option<Volume>> {
        self.store.volume_by_name_opt(project, name).await
    }
    async fn list_volumes(&self, org: OrgId, project: Option<ProjectId>) -> Result<Vec<Volume>> {
        self.store.list_volumes(org, project).await
    }
    async fn list_all_volumes(&self) -> Result<Vec<Volume>> {
        self.store.list_all_volumes().await
    }
    async fn update_volume(&self, volume: &Volume) -> Result<()> {
        self.store.update_volume(volume).await
    }
    async fn delete_volume(&self, id: VolumeId) -> Result<()> {
        self.store.delete_volume(id).await
    }
    async fn create_backup(&self, backup: &Backup) -> Result<()> {
        self.store.create_backup(backup).await
    }
    async fn backup(&self, id: BackupId) -> Result<Backup> {
        self.store.backup(id).await
    }
    async fn list_backups(&self, volume: VolumeId) -> Result<Vec<Backup>> {
        self.store.list_backups(volume).await
    }
    async fn list_org_backups(&self, org: OrgId) -> Result<Vec<Backup>> {
        self.store.list_org_backups(org).await
    }
    async fn update_backup(&self, backup: &Backup) -> Result<()> {
        self.store.update_backup(backup).await
    }
    async fn delete_backup(&self, id: BackupId) -> Result<()> {
        self.store.delete_backup(id).await
    }
}

#[async_trait]
impl HistoryStore for FileStore {
    async fn put_alert(&self, alert: &Alert) -> Result<()> {
        self.store.put_alert(alert).await
    }
    async fn firing_alert_opt(
        &self,
        org: OrgId,
        rule: &str,
        subject: &str,
    ) -> Result<Option<Alert>> {
        self.store.firing_alert_opt(org, rule, subject).await
    }
    async fn list_alerts(&self, org: OrgId, firing_only: bool, limit: u32) -> Result<Vec<Alert>> {
        self.store.list_alerts(org, firing_only, limit).await
    }
    async fn alert(&self, id: AlertId) -> Result<Alert> {
        self.store.alert(id).await
    }
    async fn append_event(&self, event: &ServiceEvent) -> Result<()> {
        self.store.append_event(event).await
    }
    async fn list_events(&self, service: ServiceId, limit: u32) -> Result<Vec<ServiceEvent>> {
        self.store.list_events(service, limit).await
    }
    async fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        self.store.append_audit(entry).await
    }
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        self.store.list_audit(filter).await
    }
}

#[async_trait]
impl TemplateStore for FileStore {
    async fn put_template(&self, template: &StoredTemplate) -> Result<()> {
        self.store.put_template(template).await
    }
    async fn template_opt(&self, id: &str) -> Result<Option<StoredTemplate>> {
        self.store.template_opt(id).await
    }
    async fn list_templates(&self) -> Result<Vec<StoredTemplate>> {
        self.store.list_templates().await
    }
    async fn delete_template(&self, id: &str) -> Result<()> {
        self.store.delete_template(id).await
    }
    async fn create_template_instance(&self, instance: &TemplateInstance) -> Result<()> {
        self.store.create_template_instance(instance).await
    }
    async fn template_instance(&self, id: TemplateInstanceId) -> Result<TemplateInstance> {
        self.store.template_instance(id).await
    }
    async fn template_instance_by_name_opt(
        &self,
        project: ProjectId,
        name: &str,
    ) -> Result<Option<TemplateInstance>> {
        self.store
            .template_instance_by_name_opt(project, name)
            .await
    }
    async fn list_template_instances(
        &self,
        org: OrgId,
        project: Option<ProjectId>,
    ) -> Result<Vec<TemplateInstance>> {
        self.store.list_template_instances(org, project).await
    }
    async fn delete_template_instance(&self, id: TemplateInstanceId) -> Result<()> {
        self.store.delete_template_instance(id).await
    }
}

#[async_trait]
impl QuotaLedger for FileStore {
    async fn quota_reserve(
        &self,
        grant: &QuotaGrant,
        amounts: ResourceAmounts,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Reservation> {
        self.store
            .quota_reserve(grant, amounts, now, expires_at)
            .await
    }
    async fn quota_commit(&self, id: ReservationId, owner: &str, now: DateTime<Utc>) -> Result<()> {
        self.store.quota_commit(id, owner, now).await
    }
    async fn quota_resize(
        &self,
        id: ReservationId,
        grant: &QuotaGrant,
        amounts: ResourceAmounts,
        now: DateTime<Utc>,
    ) -> Result<Reservation> {
        self.store.quota_resize(id, grant, amounts, now).await
    }
    async fn quota_release(&self, id: ReservationId) -> Result<()> {
        self.store.quota_release(id).await
    }
    async fn reservation(&self, id: ReservationId) -> Result<Reservation> {
        self.store.reservation(id).await
    }
    async fn quota_usage(&self, grant: &QuotaGrant, now: DateTime<Utc>) -> Result<Usage> {
        self.store.quota_usage(grant, now).await
    }
    async fn quota_expire(&self, now: DateTime<Utc>) -> Result<u64> {
        self.store.quota_expire(now).await
    }
}

#[async_trait]
impl MetricStore for FileStore {
    async fn insert_metrics(&self, samples: &[MetricSample]) -> Result<u64> {
        self.store.insert_metrics(samples).await
    }
    async fn rollup_metrics(
        &self,
        resolution: Resolution,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<u64> {
        self.store.rollup_metrics(resolution, since, until).await
    }
    async fn query_metrics(
        &self,
        service: ServiceId,
        resolution: Resolution,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MetricPoint>> {
        self.store
            .query_metrics(service, resolution, from, to)
            .await
    }
    async fn delete_metrics_before(
        &self,
        resolution: Resolution,
        before: DateTime<Utc>,
    ) -> Result<u64> {
        self.store.delete_metrics_before(resolution, before).await
    }
}
