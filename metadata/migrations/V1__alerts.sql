-- Alert rules, alerts, their transitions and read state, and the audit log.
-- Times are timestamptz (UTC on the wire); ids of rules are server-made
-- UUIDs, ids of alerts are derived from (rule, report, n-th firing) by the
-- processor (alerting::alert_id) or random for manual alerts.

-- A rule as the API last wrote it. `body` is the alerting::Rule JSON the
-- processors receive. A deleted rule stays as a tombstone (deleted = true)
-- so that its deletion is published like any other change.
CREATE TABLE alert_rules (
    id uuid PRIMARY KEY,
    tenant_id text NOT NULL,
    revision bigint NOT NULL,
    body jsonb NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- The latest revision on the rules topic (the outbox: a change is
    -- committed here first, then published, then marked).
    published_revision bigint NOT NULL DEFAULT 0
);
CREATE INDEX alert_rules_tenant ON alert_rules (tenant_id, created_at, id) WHERE NOT deleted;
CREATE INDEX alert_rules_unpublished ON alert_rules (id) WHERE published_revision < revision;

-- One row per alert: created by its `fired` transition, updated by its
-- `resolved` one.
CREATE TABLE alerts (
    id uuid PRIMARY KEY,
    tenant_id text NOT NULL,
    rule_id uuid,
    rule_name text,
    severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    campaign_id text,
    job_id text,
    status text NOT NULL CHECK (status IN ('firing', 'resolved')),
    value double precision,
    threshold double precision,
    message text NOT NULL,
    fired_at timestamptz NOT NULL,
    resolved_at timestamptz,
    dismissed boolean NOT NULL DEFAULT false,
    deleted boolean NOT NULL DEFAULT false
);
CREATE INDEX alerts_tenant_recent ON alerts (tenant_id, fired_at DESC, id DESC) WHERE NOT deleted;
CREATE INDEX alerts_tenant_firing ON alerts (tenant_id) WHERE status = 'firing' AND NOT deleted;

-- Every transition stored, once per idempotency key, in commit order
-- (inserts take a transaction-level advisory lock, so `seq` order is commit
-- order and a reader that follows `seq` misses nothing): the source of the
-- live stream (Last-Event-ID is `seq`) and of deliveries.
CREATE TABLE alert_events (
    seq bigserial PRIMARY KEY,
    tenant_id text NOT NULL,
    alert_id uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('fired', 'resolved', 'repeated')),
    idempotency_key text NOT NULL UNIQUE,
    at timestamptz NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_events_tenant_seq ON alert_events (tenant_id, seq);

-- Which principal (a key's `user`, or the key's name) read which alert.
CREATE TABLE alert_reads (
    alert_id uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    principal text NOT NULL,
    read_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alert_id, principal)
);
CREATE INDEX alert_reads_principal ON alert_reads (principal);

-- Who changed what, when.
CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    tenant_id text NOT NULL,
    principal text NOT NULL,
    action text NOT NULL,
    entity text NOT NULL,
    entity_id text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    detail jsonb
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, at);
