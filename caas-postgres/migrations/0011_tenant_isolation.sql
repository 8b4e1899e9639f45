-- Tenant isolation of custom domains. A hostname (every path on it) belongs to one
-- organization: the claim on its normalized name, proven once for all the organization's
-- domains there. Earlier versions kept a verification per domain and let two organizations
-- hold one hostname on different paths, where a longer prefix could take another tenant's
-- traffic. Conventions as in 0001_core.sql.

-- One row per hostname: the primary key is the unique index on the normalized hostname's
-- owner, so two organizations claiming a name at once cannot both win (the store inserts
-- with ON CONFLICT DO NOTHING and reads the winner back). A claim counts (is live) only while
-- its organization has a domain on the hostname; a row left behind when a service or an
-- organization went (cascades do not reach this table) is dead, and is replaced by the next
-- claim on the name. `org_id` has no foreign key, like the audit log: a verified claim must
-- still count for its site after its organization is deleted. `hostname` keeps the default
-- collation of `domains.hostname`, which it is compared with.
CREATE TABLE host_claims (
    hostname     TEXT NOT NULL,
    org_id       UUID NOT NULL,
    -- The registrable domain (needs the public suffix list: computed by the store).
    site         TEXT COLLATE "C" NOT NULL,
    token        TEXT NOT NULL,
    verification JSONB NOT NULL,
    readiness    JSONB,
    expires_at   TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT host_claims_pkey PRIMARY KEY (hostname),
    CONSTRAINT host_claims_hostname_check
        CHECK (length(hostname) BETWEEN 1 AND 253 AND hostname = lower(hostname))
);
-- An organization's claims oldest first; who holds or held names of a site.
CREATE INDEX host_claims_by_org ON host_claims (org_id, created_at);
CREATE INDEX host_claims_by_site ON host_claims (site);

-- Verified claims that were released (last domain removed, or a dead claim replaced): proof
-- that an organization owned names of the site, which outlives the claim and the organization.
CREATE TABLE released_host_claims (
    site        TEXT COLLATE "C" NOT NULL,
    org_id      UUID NOT NULL,
    hostname    TEXT NOT NULL,
    released_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX released_host_claims_by_site ON released_host_claims (site);

-- Each hostname already in use gets one owner: the organization of its oldest verified domain
-- (by creation, then id), or of its oldest domain when none is verified. The claim takes that
-- domain's verification and token, is as old as the owner's oldest domain on the name, and
-- gets a fresh week from now to be proven. Other organizations' domains on the name are kept,
-- but are under no claim of theirs, so they are never routed. `site` is filled in by the store
-- right after the migrations run (`PgStore::migrate`), here and in the released claims.
INSERT INTO host_claims (hostname, org_id, site, token, verification, readiness, expires_at,
                         created_at)
SELECT owner.hostname, owner.org_id, '', owner.verification_token, owner.verification, NULL,
       now() + interval '7 days',
       (SELECT min(o.created_at) FROM domains AS o
        WHERE o.hostname = owner.hostname AND o.org_id = owner.org_id)
FROM (
    SELECT DISTINCT ON (hostname) hostname, org_id, verification, verification_token
    FROM domains
    ORDER BY hostname, (verification ->> 'state' = 'verified') DESC, created_at, id
) AS owner;

-- Verified domains of organizations that do not keep their hostname: they proved names of
-- the site once, which keeps counting against taking a request that reaches the platform as
-- proof for another organization's name of that site (see `released_host_claims`).
INSERT INTO released_host_claims (site, org_id, hostname, released_at)
SELECT DISTINCT '', d.org_id, d.hostname, now()
FROM domains AS d
JOIN host_claims AS c ON c.hostname = d.hostname
WHERE d.org_id <> c.org_id AND d.verification ->> 'state' = 'verified';

-- Domains lose their own verification (it is the claim's now), and the unique key is per
-- organization: legacy rows of several organizations on one hostname and path must survive.
ALTER TABLE domains
    DROP CONSTRAINT domains_host_path_key,
    ADD CONSTRAINT domains_org_host_path_key UNIQUE (org_id, hostname, path_prefix),
    DROP COLUMN verification,
    DROP COLUMN verification_token;
-- Who has domains on a hostname: a claim's liveness, and the hostname listings.
CREATE INDEX domains_by_host ON domains (hostname, org_id);

-- Plans bound the domains of an organization; existing plans get the model's default
-- (`PlanLimits::DEFAULT_MAX_DOMAINS`).
ALTER TABLE plans
    ADD COLUMN max_domains BIGINT NOT NULL DEFAULT 50,
    DROP CONSTRAINT plans_limits_check,
    ADD CONSTRAINT plans_limits_check CHECK (
        cpu_millis >= 0 AND memory_bytes >= 0 AND storage_bytes >= 0
        AND max_containers >= 0 AND max_projects >= 0 AND max_domains >= 0
    );

-- An invitation may grant only some projects, like a member's list. NULL: every project.
ALTER TABLE invitations ADD COLUMN projects UUID[];
