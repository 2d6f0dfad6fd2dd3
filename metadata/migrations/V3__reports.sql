-- Scheduled reports (scheduled-reports.md): definitions, tenant templates,
-- schedules, runs with their files, and the deliveries of each run to its
-- recipients. The scheduler creates runs (one per (definition,
-- scheduled_for): the unique key, whatever instances or crashes); the
-- report workers claim runs with a lease they renew (FOR UPDATE SKIP
-- LOCKED), and a run whose worker died is claimed again once its lease ran
-- out. Every change goes to audit_log in the same transaction.

-- A report definition. `parameters` and `formats` as validated by the API
-- (reporting::ValidDefinition). Deleting is a soft delete: runs keep it.
CREATE TABLE report_definitions (
    id uuid PRIMARY KEY,
    tenant_id text NOT NULL,
    name text NOT NULL,
    description text,
    tags text[] NOT NULL DEFAULT '{}',
    kind text NOT NULL CHECK (kind IN ('campaign_reports', 'journeys', 'overview')),
    parameters jsonb NOT NULL,
    formats text[] NOT NULL,
    template_id text,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    version integer NOT NULL DEFAULT 1,
    deleted boolean NOT NULL DEFAULT false
);
CREATE INDEX report_definitions_tenant ON report_definitions (tenant_id, created_at, id)
    WHERE NOT deleted;

-- A tenant's template: a definition body without the tenant's data,
-- versioned on update. System templates live in the code.
CREATE TABLE report_templates (
    id uuid PRIMARY KEY,
    tenant_id text NOT NULL,
    name text NOT NULL,
    description text,
    body jsonb NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    version integer NOT NULL DEFAULT 1,
    deleted boolean NOT NULL DEFAULT false
);
CREATE INDEX report_templates_tenant ON report_templates (tenant_id, name, id) WHERE NOT deleted;

-- At most one schedule per definition. `spec` is the schedule as the API
-- took it (cron or preset, time zone, recipients, missed-run policy);
-- `next_run_at` the next scheduled instant (null: none, e.g. paused or an
-- expression that never matches again).
CREATE TABLE report_schedules (
    definition_id uuid PRIMARY KEY REFERENCES report_definitions (id),
    tenant_id text NOT NULL,
    spec jsonb NOT NULL,
    enabled boolean NOT NULL DEFAULT true,
    next_run_at timestamptz,
    last_scheduled_for timestamptz,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    version integer NOT NULL DEFAULT 1
);
CREATE INDEX report_schedules_due ON report_schedules (next_run_at) WHERE enabled;

-- A run: of a definition at the version it had (`definition` is its body
-- then), by the schedule (`scheduled_for`), by hand or by the API.
CREATE TABLE report_runs (
    id uuid PRIMARY KEY,
    tenant_id text NOT NULL,
    definition_id uuid NOT NULL REFERENCES report_definitions (id),
    definition_version integer NOT NULL,
    definition jsonb NOT NULL,
    trigger text NOT NULL CHECK (trigger IN ('schedule', 'manual', 'api')),
    scheduled_for timestamptz,
    recipients jsonb NOT NULL DEFAULT '[]',
    state text NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    progress integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    error text,
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL DEFAULT 3,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_by text,
    lease_until timestamptz,
    as_of timestamptz,
    rows_written bigint NOT NULL DEFAULT 0,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    -- One run per scheduled time, whatever crashes or instances.
    UNIQUE (definition_id, scheduled_for)
);
CREATE INDEX report_runs_tenant ON report_runs (tenant_id, created_at DESC, id DESC);
CREATE INDEX report_runs_due ON report_runs (next_attempt_at) WHERE state IN ('queued', 'running');

-- The files of a succeeded run, one per format, in the file store.
CREATE TABLE report_files (
    run_id uuid NOT NULL REFERENCES report_runs (id),
    format text NOT NULL CHECK (format IN ('csv', 'json', 'xlsx', 'pdf', 'html')),
    storage_key text NOT NULL,
    file_name text NOT NULL,
    content_type text NOT NULL,
    size bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    PRIMARY KEY (run_id, format)
);
CREATE INDEX report_files_expiry ON report_files (expires_at) WHERE NOT deleted;

-- One delivery per (run, recipient), enqueued by the transaction that
-- marks the run succeeded; sent by the workers with a lease, like alert
-- deliveries.
CREATE TABLE report_deliveries (
    id bigserial PRIMARY KEY,
    tenant_id text NOT NULL,
    run_id uuid NOT NULL REFERENCES report_runs (id),
    recipient text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('email', 'webhook')),
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_by text,
    lease_until timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (run_id, recipient)
);
CREATE INDEX report_deliveries_due ON report_deliveries (id) WHERE state = 'pending';

CREATE TABLE report_delivery_attempts (
    id bigserial PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES report_deliveries (id),
    at timestamptz NOT NULL DEFAULT now(),
    outcome text NOT NULL CHECK (outcome IN ('ok', 'error')),
    http_status integer,
    error text,
    duration_ms bigint NOT NULL DEFAULT 0,
    worker text
);
CREATE INDEX report_delivery_attempts_delivery ON report_delivery_attempts (delivery_id, id);

CREATE INDEX audit_log_tenant_id ON audit_log (tenant_id, id);
