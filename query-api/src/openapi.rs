//! The OpenAPI document, generated from the handlers' `#[utoipa::path]`
//! attributes and the models' `ToSchema` derives, plus what every route
//! shares: the bearer security scheme and the error responses (the same
//! JSON error body for each status a /v1 route can answer).

use std::sync::OnceLock;

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Ref, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr, Response};
use utoipa::{Modify, OpenApi};

use crate::alerts::model::{
    doc as rule_doc, AlertDetail, AlertEvent, AlertList, AlertPageView, AlertStatsView, AlertView,
    AttemptView, ChannelList, ChannelTest, ChannelView, DeliveryView, ManualAlertInput, Marked,
    MatchersView, Preview, PreviewHit, SilenceList, SilenceView,
};
use crate::dashboards::model::{
    AlertsData, CampaignRow, CampaignTableData, CounterData, DashboardData, DashboardInputDoc,
    DashboardList, DashboardView, FunnelData, TrendData, WidgetData, WidgetDoc, WidgetError,
};
use crate::error::{ErrorBody, ErrorCode, ErrorDetail};
use crate::live::doc::{CampaignStreamEvent, ReportStreamEvent};
use crate::params::{CampaignStatus, ExportFormat};
use crate::read::Granularity;
use crate::reports::model::{
    AuditList, AuditView, DefinitionInputDoc, DefinitionList, DefinitionView, DeliveryAttemptView,
    DownloadLink, FileView, InstantiateDoc, RunDeliveryView, RunList, RunView, ScheduleEntry,
    ScheduleInputDoc, ScheduleList, ScheduleView, TemplateInputDoc, TemplateList, TemplateView,
};
use crate::routes::channels::ChannelInput;
use crate::routes::silences::{MatchersInput, SilenceInput};
use crate::routes::{
    alert_rules, alerts, campaigns, channels, dashboards, events, journeys, keys, live, me, ops,
    overview, report_runs, report_templates, reports, silences, tenants, ws,
};
use crate::tenants::model::{TenantInput, TenantList, TenantPatchInput, TenantView, ZoneView};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Campaign analytics query API",
        description = "Tenant-isolated campaign reports, job reports, user journeys and the \
tenant overview, read from the processor's ClickHouse snapshots as of their latest \
checkpoints (a report never mixes two snapshots).\n\n\
Every /v1 route needs `Authorization: Bearer <key>`. A tenant key reads its own tenant; \
naming another with `?tenant_id=` answers 404 as if nothing existed. An admin key must \
pass `?tenant_id=` on every read route. A producer key (`role = \"producer\"`, one tenant) \
only posts events (`POST /v1/events`, `/v1/events/batch`) and reads nothing (403); tenant \
and admin keys may not post events (403).\n\n\
HTTP ingestion (when the server has `KAFKA_BROKERS`; 404 otherwise): each event is checked \
against the contract (required fields, non-empty ids, enum symbols, at most the allowed clock \
skew ahead, the key's tenant), encoded with the current Avro schema (single-object encoding) \
and produced to its topic keyed by `campaign_id` with an idempotent producer and `acks=all`. \
The answer, 202, comes once the broker acknowledged every accepted event; a broker that does \
not acknowledge them all within the delivery timeout is a 503 and nothing is reported \
accepted. Re-sending an event is harmless (its `event_id` counts once).\n\n\
Times are RFC 3339 UTC with milliseconds; rates are percentages. Lists are paginated by \
an opaque `cursor` (pass `next_cursor` back unchanged); the list, report and overview \
routes also answer `text/csv` (`Accept: text/csv` or `?format=csv`) and NDJSON \
(`?format=ndjson`), streamed, every matching row when no `limit` is given. Every error \
is `{\"error\": {\"code\", \"message\"}}`."
    ),
    paths(
        campaigns::list,
        campaigns::report,
        campaigns::jobs,
        campaigns::job_report,
        journeys::list,
        journeys::one_journey,
        overview::overview,
        me::me,
        events::post_event,
        events::post_batch,
        alerts::list,
        alerts::stats,
        alerts::unread,
        alerts::one,
        alerts::create,
        alerts::resolve,
        alerts::mark_read,
        alerts::mark_all_read,
        alerts::dismiss,
        alerts::delete,
        alerts::stream,
        live::campaigns,
        live::report,
        ws::websocket,
        alert_rules::list,
        alert_rules::create,
        alert_rules::one,
        alert_rules::replace,
        alert_rules::delete,
        alert_rules::preview,
        channels::list,
        channels::create,
        channels::delete,
        channels::test,
        silences::list,
        silences::create,
        silences::delete,
        reports::list_definitions,
        reports::create_definition,
        reports::definition,
        reports::update_definition,
        reports::delete_definition,
        reports::duplicate_definition,
        reports::put_schedule,
        reports::delete_schedule,
        reports::pause_schedule,
        reports::resume_schedule,
        reports::run_definition,
        reports::list_schedules,
        reports::audit,
        report_templates::list,
        report_templates::create,
        report_templates::one,
        report_templates::update,
        report_templates::delete,
        report_templates::instantiate,
        report_runs::list,
        report_runs::one,
        report_runs::cancel,
        report_runs::download,
        report_runs::file,
        dashboards::list,
        dashboards::create,
        dashboards::one,
        dashboards::replace,
        dashboards::delete,
        dashboards::data,
        tenants::list,
        tenants::create,
        tenants::one,
        tenants::update,
        tenants::delete,
        keys::list,
        keys::set_role,
        keys::reset_role,
        ops::healthz,
        ops::readyz,
        ops::metrics,
        ops::openapi,
        ops::docs,
    ),
    components(schemas(
        me::Me, ErrorBody, ErrorDetail, ErrorCode, ExportFormat, CampaignStatus, Granularity,
        AlertView, AlertPageView, AlertList, AlertStatsView, AlertEvent, Marked,
        ManualAlertInput, Preview, PreviewHit, rule_doc::Rule, rule_doc::RuleInput,
        rule_doc::RuleList, rule_doc::Scope, rule_doc::Condition, rule_doc::Op, rule_doc::Metric,
        rule_doc::Status, rule_doc::StreamEvent,
        AlertDetail, DeliveryView,
        AttemptView, ChannelView, ChannelList, ChannelInput, ChannelTest, SilenceView,
        SilenceList, SilenceInput, MatchersView, MatchersInput,
        DefinitionView, DefinitionList, DefinitionInputDoc, ScheduleView, ScheduleInputDoc,
        ScheduleList, ScheduleEntry, TemplateView, TemplateList, TemplateInputDoc, InstantiateDoc,
        RunView, RunList, FileView, RunDeliveryView, DeliveryAttemptView, DownloadLink,
        AuditView, AuditList, CampaignStreamEvent, ReportStreamEvent,
        DashboardView, DashboardList, DashboardInputDoc, WidgetDoc, DashboardData, WidgetData,
        WidgetError, FunnelData, TrendData, CampaignTableData, CampaignRow, CounterData, AlertsData,
        TenantView, TenantList, TenantInput, TenantPatchInput, ZoneView,
        keys::KeyView, keys::KeyList, keys::RoleInput,
    )),
    modifiers(&Security, &Errors),
    tags(
        (name = "campaigns", description = "Campaign and job reports."),
        (name = "journeys", description = "Per-user journeys of a job."),
        (name = "overview", description = "The tenant overview per day, week or month."),
        (name = "ingestion", description = "Posting events (a producer key), produced to Kafka."),
        (name = "alerts", description = "Alert rules, alerts and their live stream, delivery channels (webhook, Slack, e-mail) and silences (when the server has a metadata database, DATABASE_URL; 503 otherwise). Any reading key reads alerts, channels and silences, keeps its own read state and dismisses alerts; rules, channels, silences, manual alerts and deletions need an editor key (role = \"editor\") or an admin key."),
        (name = "reports", description = "Scheduled reports (when the server has a metadata database, DATABASE_URL; 503 otherwise): definitions, templates, schedules (cron or presets in an IANA time zone), runs (one per scheduled time), files in CSV/JSON/XLSX/PDF/HTML and signed download links, and the audit log. Any reading key reads; creating, changing, scheduling and running need an editor key; the audit log needs an admin key (role = \"admin\", with a tenant for a tenant admin)."),
        (name = "dashboards", description = "Saved dashboards (when the server has a metadata database, DATABASE_URL; 503 otherwise): per tenant, named lists of widgets (report_kpis, funnel, overview_trend, campaign_table, live_counter, alerts) and every widget's data as of one moment. Any reading key reads; creating, replacing and deleting need an editor key."),
        (name = "tenants", description = "The tenants registry (when the server has a metadata database, DATABASE_URL; 503 otherwise): each tenant's display name, default rate limits and calendar (an IANA time zone, changed from an instant on: events keep the day of the zone in effect when they occurred). Platform admin keys only (role = \"admin\" without a tenant); the processors follow it without a restart."),
        (name = "keys", description = "A tenant's API keys and their roles (when the server has a metadata database, DATABASE_URL; 503 otherwise): a tenant admin lists them and gives a key the role viewer, editor or admin, without changing the keys file or restarting (every API instance applies it within a second); DELETE gives it the file's role again. Keys are named by id (the first 16 hex digits of their SHA-256), never shown. A key cannot change its own role. Audited."),
        (name = "live", description = "Reports pushed as snapshots commit: Server-Sent Events per campaign report or for the tenant's campaigns, and one WebSocket for every live stream (report subscriptions and alert transitions). A reconnect with the last event id resumes without a gap."),
        (name = "operations", description = "Health, readiness, metrics and this document (no key)."),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key from the keys file: `Authorization: Bearer <key>`.",
                    ))
                    .build(),
            ),
        );
    }
}

struct Errors;

fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    )
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

impl Modify for Errors {
    fn modify(&self, doc: &mut Document) {
        let v1: Vec<(&str, Response)> = vec![
            (
                "400",
                error_response(
                    "A bad parameter (code names which: bad_id, bad_date, bad_range, \
                     range_too_large, bad_granularity, bad_limit, bad_cursor, bad_status, \
                     bad_timestamp, bad_boolean, bad_format, bad_severity, bad_event_id, \
                     bad_query), an admin key without tenant_id (tenant_required), a \
                     posted body that is not JSON or not of the route's shape (bad_body), \
                     or an invalid alert rule (bad_rule), channel (bad_channel) or silence \
                     (bad_silence).",
                )
                .build(),
            ),
            (
                "401",
                error_response("No key, a malformed Authorization header or an unknown key.")
                    .build(),
            ),
            (
                "403",
                error_response(
                    "The key's role may not use this route: a producer key reads nothing, \
                     only a producer key posts events, a viewer key changes no alert rule, \
                     channel or silence.",
                )
                .build(),
            ),
            (
                "404",
                error_response(
                    "No such campaign, job, journey, alert, alert rule, channel or silence \
                     for this tenant, \
                     a tenant_id this key may not read, or (posting events) HTTP ingestion \
                     is off.",
                )
                .build(),
            ),
            (
                "429",
                error_response("The key exceeded its rate limit.")
                    .header(
                        "Retry-After",
                        HeaderBuilder::new()
                            .schema(
                                ObjectBuilder::new()
                                    .schema_type(Type::Integer)
                                    .minimum(Some(1)),
                            )
                            .description(Some("Seconds to wait before retrying."))
                            .build(),
                    )
                    .build(),
            ),
            (
                "503",
                error_response(
                    "ClickHouse (reads), the Kafka broker (posting events: it did not \
                     acknowledge every valid event in time; nothing is reported accepted, \
                     send again) or the metadata database (alerts) is unreachable or \
                     failed, or alerts are off (the server has no DATABASE_URL).",
                )
                .build(),
            ),
        ];
        let everywhere: Vec<(&str, Response)> = vec![
            (
                "405",
                error_response("The route exists but not with this method (see Allow).").build(),
            ),
            (
                "504",
                error_response("The request took longer than the configured timeout.").build(),
            ),
        ];
        for (path, item) in doc.paths.paths.iter_mut() {
            let is_v1 = path.starts_with("/v1/");
            for op in operations(item) {
                let responses = &mut op.responses.responses;
                let common = is_v1.then_some(v1.iter()).into_iter().flatten();
                for (status, response) in common.chain(everywhere.iter()) {
                    responses
                        .entry((*status).to_string())
                        .or_insert_with(|| RefOr::T(response.clone()));
                }
            }
        }
    }
}

/// The document as JSON (built once).
pub fn spec_json() -> &'static str {
    static SPEC: OnceLock<String> = OnceLock::new();
    SPEC.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_else(|_| "{}".into()))
}

/// `/docs`: the document rendered as one self-contained page (no script,
/// nothing from elsewhere), once per process.
pub fn docs_html() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| {
        let doc: serde_json::Value = serde_json::from_str(spec_json()).unwrap_or_default();
        crate::docs::render(&doc)
    })
}
