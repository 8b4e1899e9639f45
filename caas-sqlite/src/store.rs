//! `impl Store for SqliteStore`: each method delegates to the module of its area.

use async_trait::async_trait;
use caas_core::model::{
    Alert, ApiToken, AuditEntry, Backup, Deployment, Domain, HostClaim, Invitation, Member,
    MetricPoint, MetricSample, Organization, Plan, Project, Reservation, Resolution, Service,
    ServiceEvent, StoredTemplate, Subscription, TemplateInstance, Usage, User, Volume,
};
use caas_core::ports::quota::QuotaGrant;
use caas_core::ports::store::prelude::*;
use caas_core::ports::store::{AuditFilter, OrgFilter, UserFilter};
use caas_core::units::ResourceAmounts;
use caas_core::{
    AlertId, ApiTokenId, BackupId, DeploymentId, DomainId, InvitationId, OrgId, PlanId, ProjectId,
    ReservationId, Result, ServiceId, TemplateInstanceId, UserId, VolumeId,
};
use chrono::{DateTime, Utc};

use crate::error::db_error;
use crate::{
    SqliteStore, alerts, domains, history, invitations, metrics, plans, quota, services, templates,
    tenancy, tokens, volumes,
};

#[async_trait]
impl SettingStore for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(self.pool())
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn setting_opt(&self, key: &str) -> Result<Option<serde_json::Value>> {
        history::setting_opt(self, key).await
    }
    async fn put_setting(&self, key: &str, value: &serde_json::Value) -> Result<()> {
        history::put_setting(self, key, value).await
    }
}

#[async_trait]
impl Directory for SqliteStore {
    async fn user(&self, id: UserId) -> Result<User> {
        tenancy::user_by_id(self, id).await
    }
    async fn user_by_email_opt(&self, email: &str) -> Result<Option<User>> {
        tenancy::user_by_email_opt(self, email).await
    }
    async fn list_users(&self, filter: &UserFilter) -> Result<Vec<User>> {
        tenancy::list_users(self, filter).await
    }
    async fn org(&self, id: OrgId) -> Result<Organization> {
        tenancy::org_by_id(self, id).await
    }
    async fn org_by_slug_opt(&self, slug: &str) -> Result<Option<Organization>> {
        tenancy::org_by_slug_opt(self, slug).await
    }
    async fn list_orgs(&self, filter: &OrgFilter) -> Result<Vec<Organization>> {
        tenancy::list_orgs(self, filter).await
    }
    async fn members(&self, org: OrgId) -> Result<Vec<Member>> {
        tenancy::members(self, org).await
    }
    async fn memberships(&self, user: UserId) -> Result<Vec<Member>> {
        tenancy::memberships(self, user).await
    }
}

#[async_trait]
impl DirectoryAdmin for SqliteStore {
    async fn create_user(&self, user: &User) -> Result<()> {
        tenancy::create_user(self, user).await
    }
    async fn set_user_disabled(&self, id: UserId, disabled: bool) -> Result<()> {
        tenancy::set_user_disabled(self, id, disabled).await
    }

    async fn create_org(&self, org: &Organization) -> Result<()> {
        tenancy::create_org(self, org).await
    }
    async fn update_org(&self, org: &Organization) -> Result<()> {
        tenancy::update_org(self, org).await
    }
    async fn delete_org(&self, id: OrgId) -> Result<()> {
        tenancy::delete_org(self, id).await
    }

    async fn put_member(&self, member: &Member) -> Result<()> {
        tenancy::put_member(self, member).await
    }
    async fn remove_member(&self, org: OrgId, user: UserId) -> Result<bool> {
        tenancy::remove_member(self, org, user).await
    }
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn create_api_token(&self, token: &ApiToken) -> Result<()> {
        tokens::create(self, token).await
    }
    async fn api_token_by_hash_opt(&self, token_sha256: &str) -> Result<Option<ApiToken>> {
        tokens::by_hash_opt(self, token_sha256).await
    }
    async fn list_api_tokens(&self, user: UserId) -> Result<Vec<ApiToken>> {
        tokens::list(self, user).await
    }
    async fn delete_api_token(&self, id: ApiTokenId) -> Result<()> {
        tokens::delete(self, id).await
    }
}

#[async_trait]
impl InvitationStore for SqliteStore {
    async fn create_invitation(&self, invitation: &Invitation) -> Result<()> {
        invitations::create(self, invitation).await
    }
    async fn invitation(&self, id: InvitationId) -> Result<Invitation> {
        invitations::by_id(self, id).await
    }
    async fn invitation_by_hash_opt(&self, token_sha256: &str) -> Result<Option<Invitation>> {
        invitations::by_hash_opt(self, token_sha256).await
    }
    async fn list_invitations(&self, org: OrgId) -> Result<Vec<Invitation>> {
        invitations::list(self, org).await
    }
    async fn delete_invitation(&self, id: InvitationId) -> Result<()> {
        invitations::delete(self, id).await
    }
}

#[async_trait]
impl PlanSource for SqliteStore {
    async fn plan(&self, id: PlanId) -> Result<Plan> {
        plans::plan_by_id(self, id).await
    }
    async fn plan_by_name_opt(&self, name: &str) -> Result<Option<Plan>> {
        plans::plan_by_name_opt(self, name).await
    }
    async fn list_plans(&self) -> Result<Vec<Plan>> {
        plans::list_plans(self).await
    }
    async fn subscription_opt(&self, org: OrgId) -> Result<Option<Subscription>> {
        plans::subscription_opt(self, org).await
    }
}

#[async_trait]
impl PlanAdmin for SqliteStore {
    async fn create_plan(&self, plan: &Plan) -> Result<()> {
        plans::create_plan(self, plan).await
    }
    async fn update_plan(&self, plan: &Plan) -> Result<()> {
        plans::update_plan(self, plan).await
    }
    async fn delete_plan(&self, id: PlanId) -> Result<()> {
        plans::delete_plan(self, id).await
    }
    async fn put_subscription(&self, sub: &Subscription) -> Result<()> {
        plans::put_subscription(self, sub).await
    }
}

#[async_trait]
impl ServiceStore for SqliteStore {
    async fn create_project(&self, project: &Project) -> Result<()> {
        services::create_project(self, project).await
    }
    async fn project(&self, id: ProjectId) -> Result<Project> {
        services::project_by_id(self, id).await
    }
    async fn project_by_name_opt(&self, org: OrgId, name: &str) -> Result<Option<Project>> {
        services::project_by_name_opt(self, org, name).await
    }
    async fn list_projects(&self, org: OrgId) -> Result<Vec<Project>> {
        services::list_projects(self, org).await
    }
    async fn delete_project(&self, id: ProjectId) -> Result<()> {
        services::delete_project(self, id).await
    }

    async fn create_service(&self, service: &Service) -> Result<()> {
        services::create_service(self, service).await
    }
    async fn service(&self, id: ServiceId) -> Result<Service> {
        services::service_by_id(self, id).await
    }
    async fn service_by_name_opt(&self, project: ProjectId, name: &str) -> Result<Option<Service>> {
        services::service_by_name_opt(self, project, name).await
    }
    async fn list_services(&self, org: OrgId, project: Option<ProjectId>) -> Result<Vec<Service>> {
        services::list_services(self, org, project).await
    }
    async fn list_all_services(&self) -> Result<Vec<Service>> {
        services::list_all_services(self).await
    }
    async fn update_service(&self, service: &Service) -> Result<()> {
        services::update_service(self, service).await
    }
    async fn delete_service(&self, id: ServiceId) -> Result<()> {
        services::delete_service(self, id).await
    }
    async fn create_deployment(&self, deployment: &Deployment) -> Result<()> {
        services::create_deployment(self, deployment).await
    }
    async fn deployment(&self, id: DeploymentId) -> Result<Deployment> {
        services::deployment_by_id(self, id).await
    }
    async fn update_deployment(&self, deployment: &Deployment) -> Result<()> {
        services::update_deployment(self, deployment).await
    }
    async fn list_deployments(&self, service: ServiceId) -> Result<Vec<Deployment>> {
        services::list_deployments(self, service).await
    }
}

#[async_trait]
impl DomainStore for SqliteStore {
    async fn create_domain(
        &self,
        domain: &Domain,
        claim: &HostClaim,
        grant: &QuotaGrant,
    ) -> Result<HostClaim> {
        domains::create(self, domain, claim, grant).await
    }
    async fn domain(&self, id: DomainId) -> Result<Domain> {
        domains::by_id(self, id).await
    }
    async fn list_domains(&self, service: ServiceId) -> Result<Vec<Domain>> {
        domains::list_by_service(self, service).await
    }
    async fn list_org_domains(&self, org: OrgId) -> Result<Vec<Domain>> {
        domains::list_by_org(self, org).await
    }
    async fn list_host_domains(&self, hostname: &str) -> Result<Vec<Domain>> {
        domains::list_by_host(self, hostname).await
    }
    async fn list_domains_under(&self, base: &str) -> Result<Vec<Domain>> {
        domains::list_under(self, base).await
    }
    async fn update_domain(&self, domain: &Domain) -> Result<()> {
        domains::update(self, domain).await
    }
    async fn delete_domain(&self, id: DomainId) -> Result<()> {
        domains::delete(self, id).await
    }

    async fn host_claim_opt(&self, hostname: &str) -> Result<Option<HostClaim>> {
        domains::claim_opt(self, hostname).await
    }
    async fn list_host_claims(&self, org: Option<OrgId>) -> Result<Vec<HostClaim>> {
        domains::list_claims(self, org).await
    }
    async fn update_host_claim(&self, claim: &HostClaim) -> Result<()> {
        domains::update_claim(self, claim).await
    }
    async fn release_expired_host_claim(
        &self,
        hostname: &str,
        org: OrgId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Domain>> {
        domains::release_expired(self, hostname, org, now).await
    }
    async fn site_verified_by_others(&self, site: &str, org: OrgId) -> Result<bool> {
        domains::site_verified_by_others(self, site, org).await
    }
}

#[async_trait]
impl VolumeStore for SqliteStore {
    async fn create_volume(&self, volume: &Volume) -> Result<()> {
        volumes::create_volume(self, volume).await
    }
    async fn volume(&self, id: VolumeId) -> Result<Volume> {
        volumes::volume_by_id(self, id).await
    }
    async fn volume_by_name_opt(&self, project: ProjectId, name: &str) -> Result<Option<Volume>> {
        volumes::volume_by_name_opt(self, project, name).await
    }
    async fn list_volumes(&self, org: OrgId, project: Option<ProjectId>) -> Result<Vec<Volume>> {
        volumes::list_volumes(self, org, project).await
    }
    async fn list_all_volumes(&self) -> Result<Vec<Volume>> {
        volumes::list_all_volumes(self).await
    }
    async fn update_volume(&self, volume: &Volume) -> Result<()> {
        volumes::update_volume(self, volume).await
    }
    async fn delete_volume(&self, id: VolumeId) -> Result<()> {
        volumes::delete_volume(self, id).await
    }

    async fn create_backup(&self, backup: &Backup) -> Result<()> {
        volumes::create_backup(self, backup).await
    }
    async fn backup(&self, id: BackupId) -> Result<Backup> {
        volumes::backup_by_id(self, id).await
    }
    async fn list_backups(&self, volume: VolumeId) -> Result<Vec<Backup>> {
        volumes::list_backups(self, volume).await
    }
    async fn list_org_backups(&self, org: OrgId) -> Result<Vec<Backup>> {
        volumes::list_org_backups(self, org).await
    }
    async fn update_backup(&self, backup: &Backup) -> Result<()> {
        volumes::update_backup(self, backup).await
    }
    async fn delete_backup(&self, id: BackupId) -> Result<()> {
        volumes::delete_backup(self, id).await
    }
}

#[async_trait]
impl HistoryStore for SqliteStore {
    async fn put_alert(&self, alert: &Alert) -> Result<()> {
        alerts::put(self, alert).await
    }
    async fn firing_alert_opt(
        &self,
        org: OrgId,
        rule: &str,
        subject: &str,
    ) -> Result<Option<Alert>> {
        alerts::firing_opt(self, org, rule, subject).await
    }
    async fn list_alerts(&self, org: OrgId, firing_only: bool, limit: u32) -> Result<Vec<Alert>> {
        alerts::list(self, org, firing_only, limit).await
    }
    async fn alert(&self, id: AlertId) -> Result<Alert> {
        alerts::by_id(self, id).await
    }

    async fn append_event(&self, event: &ServiceEvent) -> Result<()> {
        history::append_event(self, event).await
    }
    async fn list_events(&self, service: ServiceId, limit: u32) -> Result<Vec<ServiceEvent>> {
        history::list_events(self, service, limit).await
    }
    async fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        history::append_audit(self, entry).await
    }
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        history::list_audit(self, filter).await
    }
}

#[async_trait]
impl TemplateStore for SqliteStore {
    async fn put_template(&self, template: &StoredTemplate) -> Result<()> {
        templates::put_template(self, template).await
    }
    async fn template_opt(&self, id: &str) -> Result<Option<StoredTemplate>> {
        templates::template_opt(self, id).await
    }
    async fn list_templates(&self) -> Result<Vec<StoredTemplate>> {
        templates::list_templates(self).await
    }
    async fn delete_template(&self, id: &str) -> Result<()> {
        templates::delete_template(self, id).await
    }
    async fn create_template_instance(&self, instance: &TemplateInstance) -> Result<()> {
        templates::create_instance(self, instance).await
    }
    async fn template_instance(&self, id: TemplateInstanceId) -> Result<TemplateInstance> {
        templates::instance_by_id(self, id).await
    }
    async fn template_instance_by_name_opt(
        &self,
        project: ProjectId,
        name: &str,
    ) -> Result<Option<TemplateInstance>> {
        templates::instance_by_name_opt(self, project, name).await
    }
    async fn list_template_instances(
        &self,
        org: OrgId,
        project: Option<ProjectId>,
    ) -> Result<Vec<TemplateInstance>> {
        templates::list_instances(self, org, project).await
    }
    async fn delete_template_instance(&self, id: TemplateInstanceId) -> Result<()> {
        templates::delete_instance(self, id).await
    }
}

#[async_trait]
impl QuotaLedger for SqliteStore {
    async fn quota_reserve(
        &self,
        grant: &QuotaGrant,
        amounts: ResourceAmounts,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Reservation> {
        quota::reserve(self, grant, amounts, now, expires_at).await
    }
    async fn quota_commit(&self, id: ReservationId, owner: &str, now: DateTime<Utc>) -> Result<()> {
        quota::commit(self, id, owner, now).await
    }
    async fn quota_resize(
        &self,
        id: ReservationId,
        grant: &QuotaGrant,
        amounts: ResourceAmounts,
        now: DateTime<Utc>,
    ) -> Result<Reservation> {
        quota::resize(self, id, grant, amounts, now).await
    }
    async fn quota_release(&self, id: ReservationId) -> Result<()> {
        quota::release(self, id).await
    }
    async fn reservation(&self, id: ReservationId) -> Result<Reservation> {
        quota::by_id(self, id).await
    }
    async fn quota_usage(&self, grant: &QuotaGrant, now: DateTime<Utc>) -> Result<Usage> {
        quota::usage(self, grant, now).await
    }
    async fn quota_expire(&self, now: DateTime<Utc>) -> Result<u64> {
        quota::expire(self, now).await
    }
}

#[async_trait]
impl MetricStore for SqliteStore {
    async fn insert_metrics(&self, samples: &[MetricSample]) -> Result<u64> {
        metrics::insert(self, samples).await
    }
    async fn rollup_metrics(
        &self,
        resolution: Resolution,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<u64> {
        metrics::rollup(self, resolution, since, until).await
    }
    async fn query_metrics(
        &self,
        service: ServiceId,
        resolution: Resolution,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MetricPoint>> {
        metrics::query(self, service, resolution, from, to).await
    }
    async fn delete_metrics_before(
        &self,
        resolution: Resolution,
        before: DateTime<Utc>,
    ) -> Result<u64> {
        metrics::delete_before(self, resolution, before).await
    }
}
