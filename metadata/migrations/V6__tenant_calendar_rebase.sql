-- Rebuilding a tenant's rollups in its current calendar (ARCHITECTURE.md,
-- "Rebuilding a tenant's rollups"): the tenant's zone history is rebased
-- on its latest entry, which then applies from the beginning of time. The
-- earlier entries are kept, marked superseded, for the record (the audit
-- log has the change too); readers of the history skip them.
ALTER TABLE tenant_zones ADD COLUMN superseded_at timestamptz;
