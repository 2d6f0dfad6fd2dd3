//! The query API over ClickHouse, and HTTP ingestion of events into Kafka.
//!
//! # Layout
//!
//! - [`read`]: the read model: what is visible in ClickHouse (reports and
//!   journeys up to each partition's checkpoint, so a report never mixes
//!   two snapshots) and the tenant overview from the rollup tables; the
//!   [`read::Reader`] trait is the seam between HTTP and storage, with the
//!   ClickHouse implementation and an in-memory one for tests. Only this
//!   module builds SQL.
//! - [`app`]: the router, its shared state and its layers (request id,
//!   access log, metrics, timeout, JSON errors) and the server loop.
//! - [`routes`]: the handlers, one file per resource.
//! - [`ingest`]: HTTP ingestion (`POST /v1/events`): JSON events checked
//!   against the contract, encoded (Avro single-object) and produced to
//!   Kafka through the [`ingest::EventSink`] seam (rdkafka; in memory for
//!   tests). The only module that knows Kafka.
//! - [`alerts`]: alert rules and alerts in the metadata database
//!   (PostgreSQL), the rule publisher (outbox to the rules topic), the
//!   alert store (the processor's transitions from the alerts topic) and
//!   the live stream (SSE and WebSocket); the routes are
//!   [`routes::alerts`] and [`routes::alert_rules`].
//! - [`reports`]: scheduled reports: the scheduler, the workers that
//!   render runs (through [`read::Reader`] and `report-render`) and store
//!   their files, deliveries to recipients, signed links, retention; the
//!   routes are [`routes::reports`], [`routes::report_templates`] and
//!   [`routes::report_runs`].
//! - [`tenants`]: the tenants registry (`/v1/tenants`, platform admin
//!   keys) in the metadata database: the calendars every instance answers
//!   with, kept in step by a sync task, and the outbox to the tenants
//!   topic the processors follow; [`outbox`] is the publisher shared with
//!   the alert rules.
//! - [`dashboards`]: saved dashboards' data, every widget's from one read
//!   of the reports; the routes are [`routes::dashboards`].
//! - [`auth`] (the key and tenant of a request), [`keys`] (the keys file,
//!   constant-time lookup, `hash-key`), [`key_roles`] (tenant keys' roles
//!   as their admins changed them, `/v1/keys`), [`rate_limit`] (per-key
//!   token buckets).
//! - [`params`] (query parameters and their validation), [`cursor`]
//!   (pagination cursors), [`model`] (the JSON returned), [`export`]
//!   (CSV/NDJSON streaming), [`error`] (every error as JSON).
//! - [`openapi`]: the OpenAPI document generated from the code, and the
//!   docs page; [`metrics`]: every Prometheus metric; [`config`]: the CLI.

pub mod alerts;
pub mod app;
pub mod auth;
pub mod config;
pub mod cursor;
pub mod dashboards;
pub mod docs;
pub mod error;
pub mod export;
pub mod ingest;
pub mod key_roles;
pub mod keys;
pub mod live;
pub mod metrics;
pub mod model;
pub mod openapi;
pub mod outbox;
pub mod params;
pub mod rate_limit;
pub mod read;
pub mod reports;
pub mod routes;
pub mod tenants;
pub mod ui;
