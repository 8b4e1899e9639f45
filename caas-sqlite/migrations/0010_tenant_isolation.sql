-- Tenant isolation of custom domains. A hostname (every path on it) belongs to one
-- organization: the claim on its normalized name, proven once for all the organization's
-- domains there. Earlier versions kept a verification per domain and let two organizations
-- hold one hostname on different paths, where a longer prefix could take another tenant's
-- traffic. Encodings as in 0001_core.sql.

-- One row per hostname: the primary key is the unique index on the normalized hostname's
-- owner, so two organizations claiming a name at once cannot both win. A claim counts (is
-- live) only while its organization has a domain on the hostname; a row left behind when a
-- service or an organization went (cascades do not reach this table) is dead, and is replaced
-- by the next claim on the name. `org_id` has no foreign key, like the audit log: a verified
-- claim must still count for its site after its organization is deleted.
CREATE TABLE host_claims (
    hostname     TEXT PRIMARY KEY CHECK (length(hostname) BETWEEN 1 AND 253),
    org_id       BLOB NOT NULL CHECK (length(org_id) = 16),
    -- The registrable domain (needs the public suffix list: computed by the store).
    site         TEXT NOT NULL,
    token        TEXT NOT NULL,
    verification TEXT NOT NULL CHECK (json_valid(verification)),
    readiness    TEXT CHECK (readiness IS NULL OR json_valid(readiness)),
    expires_at   TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
-- An organization's claims oldest first; who holds or held names of a site.
CREATE INDEX host_claims_by_org ON host_claims (org_id, created_at);
CREATE INDEX host_claims_by_site ON host_claims (site);

-- Verified claims that were released (last domain removed, or a dead claim replaced): proof
-- that an organization owned names of the site, which outlives the claim and the organization.
CREATE TABLE released_host_claims (
    site        TEXT NOT NULL,
    org_id      BLOB NOT NULL CHECK (length(org_id) = 16),
    hostname    TEXT NOT NULL,
    released_at TEXT NOT NULL
);
CREATE INDEX released_host_claims_by_site ON released_host_claims (site);

-- Each hostname already in use gets one owner: the organization of its oldest verified domain
-- (by creation, then id), or of its oldest domain when none is verified. The claim takes that
-- domain's verification and token, is as old as the owner's oldest domain on the name, and
-- gets a fresh week from now to be proven (timestamps in the store's format: six fractional
-- digits, where strftime gives three). Other organizations' domains on the name are kept, but
-- are under no claim of theirs, so they are never routed. `site` is filled in by the store
-- right after the migrations run (`SqliteStore::migrate`), here and in the released claims.
INSERT INTO host_claims (hostname, org_id, site, token, verification, readiness, expires_at,
                         created_at)
SELECT d.hostname, d.org_id, '', d.verification_token, d.verification, NULL,
       strftime('%Y-%m-%dT%H:%M:%f', 'now', '+7 days') || '000Z',
       (SELECT min(o.created_at) FROM domains AS o
        WHERE o.hostname = d.hostname AND o.org_id = d.org_id)
FROM domains AS d
WHERE d.id = (
    SELECT f.id FROM domains AS f
    WHERE f.hostname = d.hostname
    ORDER BY json_extract(f.verification, '$.state') = 'verified' DESC, f.created_at, f.id
    LIMIT 1
);

-- Verified domains of organizations that do not keep their hostname: they proved names of
-- the site once, which keeps counting against taking a request that reaches the platform as
-- proof for another organization's name of that site (see `released_host_claims`).
INSERT INTO released_host_claims (site, org_id, hostname, released_at)
SELECT DISTINCT '', d.org_id, d.hostname, strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'
FROM domains AS d
JOIN host_claims AS c ON c.hostname = d.hostname
WHERE d.org_id <> c.org_id AND json_extract(d.verification, '$.state') = 'verified';

-- Domains lose their own verification (it is the claim's now), and the unique key is per
-- organization: legacy rows of several organizations on one hostname and path must survive.
-- SQLite cannot drop a table constraint, hence the rebuild; no table refers to `domains`.
CREATE TABLE domains_new (
    id           BLOB PRIMARY KEY CHECK (length(id) = 16),
    org_id       BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    service_id   BLOB NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    hostname     TEXT NOT NULL CHECK (length(hostname) BETWEEN 1 AND 253),
    path_prefix  TEXT NOT NULL CHECK (substr(path_prefix, 1, 1) = '/'),
    strip_prefix INTEGER NOT NULL CHECK (strip_prefix IN (0, 1)),
    target_port  INTEGER NOT NULL CHECK (target_port BETWEEN 1 AND 65535),
    created_at   TEXT NOT NULL,
    UNIQUE (org_id, hostname, path_prefix)
);
INSERT INTO domains_new (id, org_id, service_id, hostname, path_prefix, strip_prefix,
                         target_port, created_at)
SELECT id, org_id, service_id, hostname, path_prefix, strip_prefix, target_port, created_at
FROM domains;
DROP TABLE domains;
ALTER TABLE domains_new RENAME TO domains;
CREATE INDEX domains_by_service ON domains (service_id, id);
CREATE INDEX domains_by_org ON domains (org_id, id);
-- Who has domains on a hostname: a claim's liveness, and the hostname listings.
CREATE INDEX domains_by_host ON domains (hostname, org_id);

-- Plans bound the domains of an organization; existing plans get the model's default
-- (`PlanLimits::DEFAULT_MAX_DOMAINS`).
ALTER TABLE plans ADD COLUMN max_domains INTEGER NOT NULL DEFAULT 50 CHECK (max_domains >= 0);

-- An invitation may grant only some projects, like a member's list: a JSON array of project
-- ids, NULL = every project.
ALTER TABLE invitations ADD COLUMN projects TEXT CHECK (projects IS NULL OR json_valid(projects));
