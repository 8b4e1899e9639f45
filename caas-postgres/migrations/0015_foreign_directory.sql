-- caas-rs's own tables no longer reference the directory's (users, organizations) or the plan
-- source's tables, so a host application can supply its own directory and plans (from its
-- own tables, in this or another database) and keep everything else in this store. The
-- directory's own tables (members, subscriptions, invitations) keep their keys. What the
-- cascades did when an organization is deleted, `delete_org` now does with explicit deletes
-- in one transaction; projects still cascade to their services, volumes and template
-- instances, and services to their deployments, events and domains. (Users are disabled,
-- never deleted, so their tokens lose no cascade.)
ALTER TABLE projects DROP CONSTRAINT projects_org_fkey;
ALTER TABLE reservations DROP CONSTRAINT reservations_org_fkey;
ALTER TABLE domains DROP CONSTRAINT domains_org_fkey;
ALTER TABLE volumes DROP CONSTRAINT volumes_org_fkey;
ALTER TABLE backups DROP CONSTRAINT backups_org_fkey;
ALTER TABLE alerts DROP CONSTRAINT alerts_org_fkey;
ALTER TABLE template_instances DROP CONSTRAINT template_instances_org_fkey;
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_user_fkey;
