-- Roles of API keys changed by a tenant admin (PUT /v1/keys/{id}/role):
-- the keys themselves (their hashes) stay in the keys file; a row here
-- overrides the file's role of the key `key_id` (the first 16 hex digits
-- of its SHA-256) for tenant `tenant_id`. Deleting the row restores the
-- file's role. Every change is in the audit log too.
CREATE TABLE key_roles (
    tenant_id text NOT NULL,
    key_id text NOT NULL,
    role text NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL,
    PRIMARY KEY (tenant_id, key_id)
);
