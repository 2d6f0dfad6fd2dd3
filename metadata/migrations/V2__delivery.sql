-- Delivery (alerts.md, "Delivery channels"): where a tenant's alerts are
-- sent, the silences that mute them, and one delivery per (stored
-- transition, channel) with its attempt log. Deliveries are enqueued by
-- the transaction that stores the transition (Metadata::store_transition)
-- and sent by the API's delivery workers, which claim due rows with a
-- lease (FOR UPDATE SKIP LOCKED), so several instances never send one
-- delivery at the same time.

-- A delivery channel. `config` by kind: webhook {"url", "secret"?},
-- slack {"url"}, email {"recipients": [...]}. A deleted channel stays as a
-- tombstone (its deliveries and their attempts keep naming it).
CREATE TABLE channels (
    id uuid PRIMARY KEY,
    tenant_id text NOT NULL,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('webhook', 'slack', 'email')),
    config jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted boolean NOT NULL DEFAULT false
);
CREATE INDEX channels_tenant ON channels (tenant_id, created_at, id) WHERE NOT deleted;

-- A silence mutes the notifications (never the state) of the alerts that
-- every given matcher matches, from `starts_at` (inclusive) to `ends_at`
-- (exclusive).
CREATE TABLE silences (
    id uuid PRIMARY KEY,
    tenant_id text NOT NULL,
    rule_id uuid,
    campaign_id text,
    severity text CHECK (severity IN ('info', 'warning', 'critical')),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    comment text,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted boolean NOT NULL DEFAULT false,
    CHECK (ends_at > starts_at),
    CHECK (rule_id IS NOT NULL OR campaign_id IS NOT NULL OR severity IS NOT NULL)
);
CREATE INDEX silences_tenant_end ON silences (tenant_id, ends_at) WHERE NOT deleted;

-- One delivery of one stored transition to one channel. `pending` until
-- delivered, suppressed (a silence matched), or failed (a permanent error,
-- a deleted channel, or still failing 24 h after it was created). A worker
-- holds a claimed row until `lease_until`; a lease that ran out (the
-- worker died) is claimed again.
CREATE TABLE deliveries (
    id bigserial PRIMARY KEY,
    tenant_id text NOT NULL,
    event_seq bigint NOT NULL REFERENCES alert_events (seq) ON DELETE CASCADE,
    alert_id uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    channel_id uuid NOT NULL REFERENCES channels (id),
    -- The transition's: `<alert id>:fired|resolved` or `<alert id>:repeat:<ms>`.
    idempotency_key text NOT NULL,
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'suppressed', 'failed')),
    -- Sends tried (a suppression is not one).
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz,
    leased_by text,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_seq, channel_id)
);
CREATE INDEX deliveries_due ON deliveries (id) WHERE state = 'pending';
CREATE INDEX deliveries_alert ON deliveries (alert_id);

-- Every attempt: a send (ok or error, with the HTTP status when there was
-- one) or a suppression.
CREATE TABLE delivery_attempts (
    id bigserial PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    at timestamptz NOT NULL DEFAULT now(),
    outcome text NOT NULL CHECK (outcome IN ('ok', 'error', 'suppressed')),
    http_status integer,
    error text,
    duration_ms bigint NOT NULL DEFAULT 0,
    worker text
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);
