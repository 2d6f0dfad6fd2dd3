-- The tenants registry: every tenant with its display name, default rate
-- limits and calendar. A tenant's time zone is a history (tenant_zones):
-- the first entry applies from the beginning of time, each later one from
-- its effective_from on, to the events that occurred from then on. Entries
-- are only ever appended, at least TENANT_ZONE_CHANGE_DELAY_SECONDS ahead
-- of their commit, so every processor holds an entry before the first
-- event it applies to can be read (ARCHITECTURE.md, "Tenants registry").
--
-- The outbox works as for alert rules: every change bumps revision; the
-- API publishes the tenant's whole record to the tenants topic and then
-- raises published_revision. Deleting is a soft delete: the record stays
-- published (a deleted tenant's events keep their calendar).
CREATE TABLE tenants (
    id text PRIMARY KEY,
    display_name text NOT NULL,
    rate_limit_per_second integer,
    rate_limit_burst integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    revision bigint NOT NULL DEFAULT 1,
    published_revision bigint NOT NULL DEFAULT 0,
    deleted boolean NOT NULL DEFAULT false
);
CREATE INDEX tenants_unpublished ON tenants (id) WHERE published_revision < revision;

CREATE TABLE tenant_zones (
    tenant_id text NOT NULL REFERENCES tenants (id),
    effective_from timestamptz NOT NULL,
    timezone text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, effective_from)
);
