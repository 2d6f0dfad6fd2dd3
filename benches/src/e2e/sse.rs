//! A Server-Sent Events client over one HTTP/1.1 connection (hyper): the
//! live streams' end-to-end tests and the live benchmark's clients (one
//! connection each, as browsers have).

use std::time::Duration;

use anyhow::{bail, Context};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;

/// One event as the stream sent it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `message` when the stream named none.
    pub event: String,
    /// The event's `id` field, if it had one.
    pub id: Option<String>,
    pub data: String,
}

/// The text/event-stream parser (WHATWG HTML, "Server-sent events"):
/// fields `event`, `data` (lines joined by `\n`), `id`; comments and
/// unknown fields ignored; an empty line dispatches (nothing without data
/// or an id).
#[derive(Debug, Default)]
pub struct Parser {
    line: Vec<u8>,
    event: String,
    data: Option<String>,
    id: Option<String>,
    /// The last id seen (what a reconnect sends as `Last-Event-ID`).
    pub last_id: Option<String>,
}

impl Parser {
    /// Feed bytes; the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                let line = line.strip_suffix(b"\r").unwrap_or(&line);
                if let Some(e) = self.line_done(&String::from_utf8_lossy(line)) {
                    out.push(e);
                }
            } else {
                self.line.push(b);
            }
        }
        out
    }

    fn line_done(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let data = self.data.take();
            let event = std::mem::take(&mut self.event);
            let id = self.id.take();
            if data.is_none() && id.is_none() {
                return None;
            }
            return Some(SseEvent {
                event: if event.is_empty() {
                    "message".into()
                } else {
                    event
                },
                id,
                data: data.unwrap_or_default(),
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "id" if !value.contains('\0') => {
                self.id = Some(value.to_string());
                self.last_id = Some(value.to_string());
            }
            _ => {}
        }
        None
    }
}

/// An open stream.
#[derive(Debug)]
pub struct SseStream {
    body: Incoming,
    parser: Parser,
    ready: std::collections::VecDeque<SseEvent>,
}

impl SseStream {
    /// `GET path` on `addr` (host:port) with a bearer key and, to resume, a
    /// `Last-Event-ID`; fails unless the answer is 200 `text/event-stream`
    /// (the error holds the status and body).
    pub async fn connect(
        addr: &str,
        path: &str,
        key: &str,
        last_event_id: Option<&str>,
    ) -> anyhow::Result<SseStream> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .context("HTTP handshake")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut request = hyper::Request::get(path)
            .header("host", addr)
            .header("authorization", format!("Bearer {key}"))
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let request = request.body(Empty::<Bytes>::new())?;
        let response = sender
            .send_request(request)
            .await
            .context("send the request")?;
        let status = response.status();
        let kind = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if status != 200 || !kind.starts_with("text/event-stream") {
            let body = response.into_body().collect().await?.to_bytes();
            bail!(
                "GET {path}: {status} {kind}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(SseStream {
            body: response.into_body(),
            parser: Parser::default(),
            ready: Default::default(),
        })
    }

    /// The next event; `None` when the server ended the stream.
    pub async fn next(&mut self) -> anyhow::Result<Option<SseEvent>> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Ok(Some(e));
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        let events = self.parser.feed(&data);
                        self.ready.extend(events);
                    }
                }
            }
        }
    }

    /// The next event within `timeout` (an error after it).
    pub async fn next_within(&mut self, timeout: Duration) -> anyhow::Result<Option<SseEvent>> {
        tokio::time::timeout(timeout, self.next())
            .await
            .with_context(|| format!("no event within {timeout:?}"))?
    }

    /// The last id the stream sent.
    pub fn last_id(&self) -> Option<&str> {
        self.parser.last_id.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_parsed_across_chunks_as_the_standard_says() {
        let mut p = Parser::default();
        let text = b": keep-alive\n\nevent: campaign\ndata: {\"a\":\ndata: 1}\n\nid: 0=5\nevent: synced\r\ndata: {}\r\n\r\ndata:x\n\nid: 7\n\n";
        let mut events = Vec::new();
        for chunk in text.chunks(3) {
            events.extend(p.feed(chunk));
        }
        assert_eq!(
            events,
            vec![
                SseEvent {
                    event: "campaign".into(),
                    id: None,
                    data: "{\"a\":\n1}".into()
                },
                SseEvent {
                    event: "synced".into(),
                    id: Some("0=5".into()),
                    data: "{}".into()
                },
                SseEvent {
                    event: "message".into(),
                    id: None,
                    data: "x".into()
                },
                SseEvent {
                    event: "message".into(),
                    id: Some("7".into()),
                    data: String::new()
                },
            ]
        );
        assert_eq!(p.last_id.as_deref(), Some("7"));
    }
}
