//! CSV and NDJSON exports, streamed row by row as the reader yields them
//! (nothing is buffered but the row being written), and the choice of
//! format: `?format=` wins, else an `Accept` header asking for `text/csv`
//! or `application/x-ndjson` before `application/json`, else JSON.
//!
//! The first row is read before the response starts, so a store that is
//! down still answers 503; an error later in the stream can only cut the
//! body short (it is logged).

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, BoxStream, StreamExt};
use serde::Serialize;

use crate::error::{ApiError, ErrorCode};
use crate::model::{Journey, OverviewPeriod, Report};
use crate::read::ReadError;

/// How a response is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Ndjson,
}

pub const CSV_TYPE: &str = "text/csv; charset=utf-8";
pub const NDJSON_TYPE: &str = "application/x-ndjson";

impl Format {
    /// `?format=` if given (400 when unknown), else the `Accept` header.
    pub fn negotiate(param: Option<&str>, headers: &HeaderMap) -> Result<Format, ApiError> {
        if let Some(p) = param {
            return match p {
                "json" => Ok(Format::Json),
                "csv" => Ok(Format::Csv),
                "ndjson" => Ok(Format::Ndjson),
                other => Err(ApiError::bad_request(
                    ErrorCode::BadFormat,
                    format!("format must be json, csv or ndjson, not {other:?}"),
                )),
            };
        }
        let accept = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','));
        for range in accept {
            let media = range.split(';').next().unwrap_or_default().trim();
            if media.eq_ignore_ascii_case("application/json") {
                return Ok(Format::Json);
            }
            if media.eq_ignore_ascii_case("text/csv") {
                return Ok(Format::Csv);
            }
            if media.eq_ignore_ascii_case("application/x-ndjson")
                || media.eq_ignore_ascii_case("application/ndjson")
            {
                return Ok(Format::Ndjson);
            }
        }
        Ok(Format::Json)
    }
}

/// A row of a CSV export.
pub trait CsvRow: Serialize {
    const HEADER: &'static [&'static str];
    fn fields(&self) -> Vec<String>;
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

fn json_text<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl CsvRow for Report {
    const HEADER: &'static [&'static str] = &[
        "tenant_id",
        "campaign_id",
        "job_id",
        "status",
        "target_users",
        "sent_users",
        "interacted_users",
        "completed_users",
        "interaction_rate",
        "completion_rate",
        "total_interactions",
        "messages_sent",
        "warnings_sent",
        "avg_completion_seconds",
        "nodes",
        "funnel",
        "first_event_at",
        "last_event_at",
        "as_of",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.tenant_id.clone(),
            self.campaign_id.clone(),
            opt(&self.job_id),
            opt(&self.status),
            self.target_users.to_string(),
            self.sent_users.to_string(),
            self.interacted_users.to_string(),
            self.completed_users.to_string(),
            self.interaction_rate.to_string(),
            self.completion_rate.to_string(),
            self.total_interactions.to_string(),
            self.messages_sent.to_string(),
            self.warnings_sent.to_string(),
            opt(&self.avg_completion_seconds),
            json_text(&self.nodes),
            json_text(&self.funnel),
            self.first_event_at.clone(),
            self.last_event_at.clone(),
            self.as_of.clone(),
        ]
    }
}

impl CsvRow for Journey {
    const HEADER: &'static [&'static str] = &[
        "user_id",
        "steps",
        "total_interactions",
        "completed",
        "exit_node",
        "completion_seconds",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.user_id.clone(),
            json_text(&self.steps),
            self.total_interactions.to_string(),
            self.completed.to_string(),
            opt(&self.exit_node),
            opt(&self.completion_seconds),
        ]
    }
}

impl CsvRow for OverviewPeriod {
    const HEADER: &'static [&'static str] = &[
        "period_start",
        "campaigns",
        "target_users",
        "sent_users",
        "interacted_users",
        "interactions",
        "interaction_rate",
        "campaigns_completed",
        "campaigns_running",
        "campaigns_error",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.period_start.to_string(),
            self.campaigns.to_string(),
            self.target_users.to_string(),
            self.sent_users.to_string(),
            self.interacted_users.to_string(),
            self.interactions.to_string(),
            self.interaction_rate.to_string(),
            self.campaigns_completed.to_string(),
            self.campaigns_running.to_string(),
            self.campaigns_error.to_string(),
        ]
    }
}

/// One CSV line (RFC 4180: fields with commas, quotes or line breaks are
/// quoted, quotes doubled; CRLF line ends).
pub fn csv_line<S: AsRef<str>>(fields: &[S]) -> String {
    let mut out = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let f = f.as_ref();
        if f.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(f);
        }
    }
    out.push_str("\r\n");
    out
}

fn encode<T: CsvRow>(format: Format, item: &T) -> Bytes {
    match format {
        Format::Csv => Bytes::from(csv_line(&item.fields())),
        _ => {
            let mut line = serde_json::to_vec(item).unwrap_or_default();
            line.push(b'\n');
            Bytes::from(line)
        }
    }
}

fn respond(format: Format, body: Body) -> Response {
    let content_type = match format {
        Format::Csv => CSV_TYPE,
        Format::Ndjson => NDJSON_TYPE,
        Format::Json => "application/json",
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// A streamed CSV or NDJSON response of `rows` mapped by `to_item`.
/// Reads the first row before answering, so an unavailable store is a 503.
pub async fn stream_response<R, T>(
    format: Format,
    mut rows: BoxStream<'static, Result<R, ReadError>>,
    to_item: fn(&R) -> T,
) -> Result<Response, ApiError>
where
    R: Send + 'static,
    T: CsvRow + 'static,
{
    let first = match rows.next().await {
        Some(Ok(row)) => Some(row),
        Some(Err(e)) => return Err(e.into()),
        None => None,
    };
    let header =
        (format == Format::Csv).then(|| Ok::<_, std::io::Error>(Bytes::from(csv_line(T::HEADER))));
    let lines = stream::iter(first.map(Ok))
        .chain(rows)
        .map(move |row| match row {
            Ok(row) => Ok(encode(format, &to_item(&row))),
            Err(e) => {
                tracing::warn!(error = %e, "export cut short by a read error");
                Err(std::io::Error::other(e.to_string()))
            }
        });
    Ok(respond(
        format,
        Body::from_stream(stream::iter(header).chain(lines)),
    ))
}

/// A CSV or NDJSON response of items already in memory (a report, the
/// jobs of a campaign, an overview).
pub fn items_response<T: CsvRow>(format: Format, items: &[T]) -> Response {
    let mut out = Vec::new();
    if format == Format::Csv {
        out.extend_from_slice(csv_line(T::HEADER).as_bytes());
    }
    for item in items {
        out.extend_from_slice(&encode(format, item));
    }
    respond(format, Body::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
        h
    }

    #[test]
    fn the_format_parameter_wins_over_accept() {
        assert_eq!(
            Format::negotiate(None, &HeaderMap::new()).unwrap(),
            Format::Json
        );
        assert_eq!(
            Format::negotiate(None, &headers("text/csv")).unwrap(),
            Format::Csv
        );
        assert_eq!(
            Format::negotiate(None, &headers("application/x-ndjson")).unwrap(),
            Format::Ndjson
        );
        assert_eq!(
            Format::negotiate(None, &headers("application/json, text/csv")).unwrap(),
            Format::Json
        );
        assert_eq!(
            Format::negotiate(None, &headers("*/*")).unwrap(),
            Format::Json
        );
        assert_eq!(
            Format::negotiate(Some("ndjson"), &headers("text/csv")).unwrap(),
            Format::Ndjson
        );
        assert_eq!(
            Format::negotiate(Some("xml"), &HeaderMap::new())
                .unwrap_err()
                .code,
            ErrorCode::BadFormat
        );
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_line(&["a", "b c"]), "a,b c\r\n");
        assert_eq!(
            csv_line(&["x,y", "say \"hi\"", "l1\nl2"]),
            "\"x,y\",\"say \"\"hi\"\"\",\"l1\nl2\"\r\n"
        );
    }
}
