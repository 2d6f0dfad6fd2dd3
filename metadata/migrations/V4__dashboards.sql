-- Saved dashboards: per tenant, a named list of widgets (`widgets` as the
-- API validated it: reporting::ValidDashboard). The version grows on every
-- replace (a client may send it back in If-Match); deleting is a soft
-- delete, like report definitions. Every change goes to audit_log in the
-- same transaction.
CREATE TABLE dashboards (
    id uuid PRIMARY KEY,
    tenant_id text NOT NULL,
    name text NOT NULL,
    description text,
    widgets jsonb NOT NULL DEFAULT '[]',
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    version integer NOT NULL DEFAULT 1,
    deleted boolean NOT NULL DEFAULT false
);
CREATE INDEX dashboards_tenant ON dashboards (tenant_id, name, id) WHERE NOT deleted;
