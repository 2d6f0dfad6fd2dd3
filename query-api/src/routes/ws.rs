//! `GET /v1/ws`: one WebSocket per client for every live stream.
//!
//! - The tenant's alert transitions (alerts.md), as before: one text
//!   message per transition, the JSON of an `AlertEvent`
//!   (`?last_event_id=` resumes after one). Only when alerts are on.
//! - Report subscriptions, as many as the client asks for (at most
//!   [`MAX_SUBSCRIPTIONS`]): the client sends
//!   `{"type":"subscribe","id":"s1","stream":"campaigns","status":"RUNNING","last_event_id":"..."}`
//!   or `{"type":"subscribe","id":"s2","stream":"report","campaign_id":"c","job_id":"j","last_event_id":"..."}`
//!   and `{"type":"unsubscribe","id":"s1"}`; the server answers
//!   `{"type":"subscribed","subscription":"s1"}`, then the stream's
//!   messages as `{"type":"campaign"|"removed"|"report"|"synced","subscription":"s1","id":...,"data":...}`
//!   (the same events, ids and data as the SSE routes), and a bad request
//!   as `{"type":"error","subscription":...,"error":{"code","message"}}`
//!   (the connection stays).
//!
//! A client that falls behind is closed with code 4008 and the reason; a
//! send that the client does not take within [`SEND_TIMEOUT`] ends the
//! connection (it holds up no one else either way).

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::stream::{AbortHandle, Abortable, BoxStream, SelectAll};
use futures_util::StreamExt;
use metadata::StoredEvent;
use serde::Deserialize;
use serde_json::{json, Value};

use super::alerts::{after_event, event_json, StreamParams, KEEP_ALIVE};
use super::live::{parse_cursor, parse_version, subscribable_id};
use super::Params;
use crate::alerts::stream::EventFeed;
use crate::app::AppState;
use crate::auth::Scope;
use crate::error::{ApiError, ErrorCode, ErrorDetail};
use crate::live::{Feed, Out, Subscription};
use crate::params::parse_status;
use crate::read::Reader;

/// Subscriptions one connection may hold.
pub const MAX_SUBSCRIPTIONS: usize = 100;
/// How long a message may wait for the client to take it.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest subscription id.
const MAX_ID: usize = 128;

/// The live streams of the tenant over a WebSocket: alert transitions (as
/// JSON `AlertEvent`s) and report subscriptions (see the module docs).
#[utoipa::path(
    get,
    path = "/v1/ws",
    tag = "live",
    operation_id = "websocket",
    params(StreamParams),
    security(("bearer" = [])),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol. Alert transitions arrive as AlertEvent text messages (when alerts are on). Send `{\"type\":\"subscribe\",\"id\":\"s1\",\"stream\":\"campaigns\"|\"report\",...}` for report streams; their messages are `{\"type\",\"subscription\",\"id\",\"data\"}` with the events of the SSE routes.",
         body = crate::alerts::model::AlertEvent),
    )
)]
pub async fn websocket<R: Reader>(
    State(s): State<AppState<R>>,
    scope: Scope,
    headers: HeaderMap,
    Params(p): Params<StreamParams>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|e| {
        ApiError::bad_request(
            ErrorCode::NotWebsocket,
            format!("GET /v1/ws takes a WebSocket upgrade request ({e})"),
        )
    })?;
    let alerts = match &s.alerts {
        Some(alerts) => {
            let after = after_event(&headers, p.last_event_id.as_deref())?;
            let feed =
                EventFeed::start(alerts.clone(), scope.tenant.clone(), scope.principal, after)
                    .await?;
            Some(feed)
        }
        None => None,
    };
    let conn = Connection {
        state: s,
        tenant: scope.tenant,
        alerts,
        subs: SelectAll::new(),
        handles: HashMap::new(),
    };
    Ok(upgrade.on_upgrade(move |socket| conn.run(socket)))
}

/// What a client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Request {
    Subscribe {
        id: String,
        #[serde(flatten)]
        stream: StreamRequest,
    },
    Unsubscribe {
        id: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(tag = "stream", rename_all = "snake_case")]
enum StreamRequest {
    Campaigns {
        status: Option<String>,
        last_event_id: Option<String>,
    },
    Report {
        campaign_id: String,
        job_id: Option<String>,
        last_event_id: Option<String>,
    },
}

type Tagged = BoxStream<'static, (String, Out)>;

struct Connection<R> {
    state: AppState<R>,
    tenant: String,
    alerts: Option<EventFeed>,
    subs: SelectAll<Abortable<Tagged>>,
    handles: HashMap<String, AbortHandle>,
}

enum Step {
    Go,
    Stop,
}

impl<R: Reader> Connection<R> {
    async fn run(mut self, mut socket: WebSocket) {
        let mut ping = tokio::time::interval(KEEP_ALIVE);
        ping.tick().await;
        loop {
            let step = tokio::select! {
                event = next_alert(&mut self.alerts) => match event {
                    Some(event) => send(&mut socket, event_json(event).1).await,
                    None => Step::Stop,
                },
                Some((id, out)) = self.subs.next(), if !self.subs.is_empty() => {
                    self.on_out(&mut socket, id, out).await
                }
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Text(text))) => self.on_request(&mut socket, text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => {
                        let e = bad_body("send requests as JSON text messages");
                        send(&mut socket, e).await
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => Step::Stop,
                    Some(Ok(_)) => Step::Go,
                },
                _ = ping.tick() => match timed(socket.send(Message::Ping(Bytes::new()))).await {
                    true => Step::Go,
                    false => Step::Stop,
                },
            };
            if let Step::Stop = step {
                break;
            }
        }
        for handle in self.handles.values() {
            handle.abort();
        }
    }

    async fn on_out(&mut self, socket: &mut WebSocket, sub: String, out: Out) -> Step {
        let (kind, id, data) = match out {
            Out::Report { version, json } => ("report", Some(version.to_string()), raw(&json)),
            Out::Campaign { json, id } => ("campaign", id, raw(&json)),
            Out::Removed {
                campaign_id,
                status,
                id,
            } => (
                "removed",
                id,
                json!({ "campaign_id": campaign_id, "status": status }),
            ),
            Out::Synced { id } => ("synced", id, json!({})),
            Out::Close { code, message } => {
                // The client is behind on this subscription, so on the
                // connection: close it with the reason.
                let _ = timed(socket.send(Message::Text(
                    json!({ "type": "close", "subscription": sub, "data": { "code": code, "message": message } })
                        .to_string()
                        .into(),
                )))
                .await;
                let frame = CloseFrame {
                    code: 4008,
                    reason: format!("{code}: reconnect and resume with the last event ids").into(),
                };
                let _ = timed(socket.send(Message::Close(Some(frame)))).await;
                return Step::Stop;
            }
        };
        let message = json!({ "type": kind, "subscription": sub, "id": id, "data": data });
        send(socket, message.to_string()).await
    }

    async fn on_request(&mut self, socket: &mut WebSocket, text: &str) -> Step {
        let request: Request = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                let message = format!(
                    "not a request ({e}): send {{\"type\":\"subscribe\",\"id\":...,\"stream\":\"campaigns\"|\"report\",...}} or {{\"type\":\"unsubscribe\",\"id\":...}}"
                );
                return send(socket, bad_body(&message)).await;
            }
        };
        match request {
            Request::Unsubscribe { id } => {
                if let Some(handle) = self.handles.remove(&id) {
                    handle.abort();
                }
                send(
                    socket,
                    json!({ "type": "unsubscribed", "subscription": id }).to_string(),
                )
                .await
            }
            Request::Subscribe { id, stream } => match self.subscribe(&id, stream).await {
                Ok(()) => {
                    send(
                        socket,
                        json!({ "type": "subscribed", "subscription": id }).to_string(),
                    )
                    .await
                }
                Err(e) => send(socket, error(Some(&id), e.body().error)).await,
            },
        }
    }

    async fn subscribe(&mut self, id: &str, stream: StreamRequest) -> Result<(), ApiError> {
        if id.is_empty() || id.len() > MAX_ID {
            return Err(ApiError::bad_request(
                ErrorCode::BadBody,
                format!("a subscription id is 1 to {MAX_ID} bytes"),
            ));
        }
        if self.handles.contains_key(id) {
            return Err(ApiError::bad_request(
                ErrorCode::BadBody,
                format!("subscription {id:?} exists: unsubscribe it first or pick another id"),
            ));
        }
        self.handles.retain(|_, h| !h.is_aborted());
        if self.handles.len() >= MAX_SUBSCRIPTIONS {
            return Err(ApiError::bad_request(
                ErrorCode::BadBody,
                format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection"),
            ));
        }
        let sub = match stream {
            StreamRequest::Campaigns {
                status,
                last_event_id,
            } => {
                let status = parse_status(status.as_deref())?.map(|s| s.as_str().to_string());
                let resume = last_event_id
                    .as_deref()
                    .filter(|t| !t.is_empty())
                    .map(parse_cursor)
                    .transpose()?;
                Subscription::campaigns(self.tenant.clone(), status, resume)
            }
            StreamRequest::Report {
                campaign_id,
                job_id,
                last_event_id,
            } => {
                subscribable_id("campaign", &campaign_id)?;
                if let Some(job) = &job_id {
                    subscribable_id("job", job)?;
                }
                let after = last_event_id
                    .as_deref()
                    .filter(|t| !t.is_empty())
                    .map(parse_version)
                    .transpose()?;
                Subscription::report(
                    self.tenant.clone(),
                    campaign_id,
                    job_id.unwrap_or_default(),
                    after,
                )
            }
        };
        let feed = Feed::start(&self.state.live, &self.state.reader, sub).await?;
        let tag = id.to_string();
        let messages: Tagged = futures_util::stream::unfold(feed, move |mut feed| {
            let tag = tag.clone();
            async move { feed.next().await.map(|out| ((tag, out), feed)) }
        })
        .boxed();
        let (handle, registration) = AbortHandle::new_pair();
        self.subs.push(Abortable::new(messages, registration));
        self.handles.insert(id.to_string(), handle);
        Ok(())
    }
}

async fn next_alert(feed: &mut Option<EventFeed>) -> Option<StoredEvent> {
    match feed {
        Some(feed) => feed.next().await,
        None => std::future::pending().await,
    }
}

/// A report's JSON as a value (it was serialized from one).
fn raw(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or(Value::Null)
}

fn error(sub: Option<&str>, detail: ErrorDetail) -> String {
    json!({ "type": "error", "subscription": sub, "error": detail }).to_string()
}

fn bad_body(message: &str) -> String {
    error(
        None,
        ApiError::bad_request(ErrorCode::BadBody, message)
            .body()
            .error,
    )
}

async fn timed<F, E>(send: F) -> bool
where
    F: std::future::Future<Output = Result<(), E>>,
{
    matches!(tokio::time::timeout(SEND_TIMEOUT, send).await, Ok(Ok(())))
}

async fn send(socket: &mut WebSocket, text: String) -> Step {
    if timed(socket.send(Message::Text(text.into()))).await {
        Step::Go
    } else {
        Step::Stop
    }
}
