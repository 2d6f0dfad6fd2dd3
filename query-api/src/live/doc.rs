//! The OpenAPI schemas of the live streams' Server-Sent Events (the fields
//! of a `text/event-stream` schema are an event's fields, as OpenAPI
//! before 3.2 describes them).

use std::borrow::Cow;

use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// One event of `GET /v1/campaigns/stream`.
#[derive(Debug)]
#[allow(dead_code)]
pub struct CampaignStreamEvent;

/// One event of `GET /v1/campaigns/{campaign_id}/report/stream`.
#[derive(Debug)]
#[allow(dead_code)]
pub struct ReportStreamEvent;

/// The event names of the campaigns stream.
pub const CAMPAIGN_EVENTS: [&str; 4] = ["campaign", "removed", "synced", "close"];
/// The event names of a report stream.
pub const REPORT_EVENTS: [&str; 3] = ["report", "synced", "close"];

fn event_schema(
    description: &str,
    id: (&str, &str),
    events: &[&str],
    data: &str,
    report_data: bool,
) -> RefOr<Schema> {
    let mut data_schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .content_media_type("application/json")
        .description(Some(data));
    if report_data {
        let extensions: Extensions = [(
            "contentSchema",
            serde_json::json!({ "$ref": "#/components/schemas/Report" }),
        )]
        .into_iter()
        .collect();
        data_schema = data_schema.extensions(Some(extensions));
    }
    ObjectBuilder::new()
        .description(Some(description))
        .property(
            "id",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(id.0))
                .description(Some(id.1)),
        )
        .property(
            "event",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(events.iter().copied())),
        )
        .required("event")
        .property("data", data_schema)
        .required("data")
        .into()
}

impl PartialSchema for CampaignStreamEvent {
    fn schema() -> RefOr<Schema> {
        event_schema(
            "One Server-Sent Event of the campaigns stream: `campaign` (data: a Report, as in \
             the campaign list), `removed` (data: `{campaign_id, status}`), `synced` (data `{}`), \
             `close` (data `{code, message}`). `id`, on the last event of each commit and on \
             `synced`, is the cursor to resume from.",
            (
                "^([0-9]{1,9}=[0-9]{1,19}(,[0-9]{1,9}=[0-9]{1,19})*)?$",
                "The stream's cursor: partition=version pairs.",
            ),
            &CAMPAIGN_EVENTS,
            "The event's JSON.",
            false,
        )
    }
}

impl ToSchema for CampaignStreamEvent {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CampaignStreamEvent")
    }
}

impl PartialSchema for ReportStreamEvent {
    fn schema() -> RefOr<Schema> {
        event_schema(
            "One Server-Sent Event of a report stream: `report` (id: the report's version; data: \
             a Report), `synced` (data `{}`: what follows is live) or `close` (data `{code, message}`).",
            ("^[0-9]+$", "The report's version, in decimal."),
            &REPORT_EVENTS,
            "A Report as JSON (`report`), `{}` (`synced`) or `{code, message}` (`close`).",
            false,
        )
    }
}

impl ToSchema for ReportStreamEvent {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ReportStreamEvent")
    }
}
