//! A direct decoder for the v1 records: reads the Avro binary body straight
//! into the Rust types, without building apache-avro `Value`s. Used when the
//! writer schema is the reader schema it was written for (the common case);
//! other versions take the generic path through schema resolution. A test
//! checks that both paths agree on every input.
//!
//! Like [`crate::strict`], it rejects a body that ends early or has bytes
//! left over.

use crate::error::{ContractViolation, DecodeError};
use crate::events::{
    CampaignLifecycle, CampaignStatus, Event, EventKind, LifecycleKind, NotificationSent, Script,
    ScriptEdge, ScriptNode, UserInteraction,
};

/// The `.avsc` files this decoder was written for.
pub(crate) const LIFECYCLE_V1: &str = include_str!("../avro/campaign_lifecycle.v1.avsc");
pub(crate) const NOTIFICATION_V1: &str = include_str!("../avro/notification_sent.v1.avsc");
pub(crate) const INTERACTION_V1: &str = include_str!("../avro/user_interaction.v1.avsc");

struct Reader<'a> {
    buf: &'a [u8],
    record: &'static str,
}

impl<'a> Reader<'a> {
    fn truncated(&self, what: &str) -> DecodeError {
        DecodeError::TruncatedBody {
            record: self.record,
            reason: format!("the body ends inside a {what}"),
        }
    }

    fn malformed(&self, reason: String) -> DecodeError {
        DecodeError::MalformedBody {
            record: self.record,
            reason,
        }
    }

    fn long(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        let mut raw: u64 = 0;
        for i in 0..10 {
            let [byte, rest @ ..] = self.buf else {
                return Err(self.truncated(what));
            };
            self.buf = rest;
            raw |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64));
            }
        }
        Err(self.malformed(format!("{what}: varint longer than 10 bytes")))
    }

    fn boolean(&mut self) -> Result<bool, DecodeError> {
        match self.buf {
            [0, rest @ ..] => {
                self.buf = rest;
                Ok(false)
            }
            [1, rest @ ..] => {
                self.buf = rest;
                Ok(true)
            }
            [b, ..] => Err(self.malformed(format!("boolean byte {b}"))),
            [] => Err(self.truncated("boolean")),
        }
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let len = self.long("string")?;
        let len = usize::try_from(len)
            .map_err(|_| self.malformed(format!("string: negative length {len}")))?;
        if len > self.buf.len() {
            return Err(self.truncated("string"));
        }
        let (bytes, rest) = self.buf.split_at(len);
        self.buf = rest;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|e| self.malformed(format!("string is not UTF-8: {e}")))
    }

    /// `["null", T]`: `None` for null, else `Some(read T)`.
    fn optional<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        match self.long("union")? {
            0 => Ok(None),
            1 => read(self).map(Some),
            i => Err(self.malformed(format!("union index {i} out of range"))),
        }
    }

    fn symbol(&mut self, count: usize) -> Result<usize, DecodeError> {
        let i = self.long("enum")?;
        usize::try_from(i)
            .ok()
            .filter(|i| *i < count)
            .ok_or_else(|| self.malformed(format!("enum index {i} out of range")))
    }

    /// An array of items read by `item`.
    fn array<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let mut out = Vec::new();
        loop {
            let mut count = self.long("block count")?;
            if count == 0 {
                return Ok(out);
            }
            if count < 0 {
                count = count
                    .checked_neg()
                    .ok_or_else(|| self.malformed("block count out of range".into()))?;
                // Checked like the strict walk of the generic path does: a
                // size in bytes, never negative, never past the body.
                let size = self.long("block size")?;
                let size = usize::try_from(size)
                    .map_err(|_| self.malformed(format!("block size: negative length {size}")))?;
                if size > self.buf.len() {
                    return Err(self.truncated("block size"));
                }
            }
            if count as u64 > (self.buf.len() as u64 + 1) * 1024 {
                return Err(self.malformed(format!("block count {count} is implausible")));
            }
            for _ in 0..count {
                out.push(item(self)?);
            }
        }
    }
}

/// Decode a v1 body of `kind`.
pub(crate) fn decode(kind: EventKind, body: &[u8]) -> Result<Event, DecodeError> {
    let mut r = Reader {
        buf: body,
        record: kind.record_name(),
    };
    // Fields in .avsc order; the contract checks follow the generic path's
    // order (event_id, tenant_id, campaign_id, then the record's own).
    let event_id = r.string()?;
    let tenant_id = r.string()?;
    let campaign_id = r.string()?;
    let job_id = r.string()?;
    let occurred_at = r.long("long")?;
    let event = match kind {
        EventKind::Lifecycle => {
            let kind = LifecycleKind::ALL[r.symbol(LifecycleKind::ALL.len())?];
            let status =
                r.optional(|r| Ok(CampaignStatus::ALL[r.symbol(CampaignStatus::ALL.len())?]))?;
            let audience_size = r.optional(|r| r.long("long"))?;
            let script = r.optional(|r| {
                let nodes = r.array(|r| {
                    Ok(ScriptNode {
                        id: r.string()?,
                        node_type: r.string()?,
                        script_type: r.string()?,
                    })
                })?;
                let edges = r.array(|r| {
                    Ok(ScriptEdge {
                        source: r.string()?,
                        target: r.string()?,
                        label: r.optional(Reader::string)?,
                    })
                })?;
                Ok(Script { nodes, edges })
            })?;
            Event::Lifecycle(CampaignLifecycle {
                event_id,
                tenant_id,
                campaign_id,
                job_id,
                occurred_at,
                kind,
                status,
                audience_size,
                script,
            })
        }
        EventKind::Notification => {
            let user_id = r.string()?;
            let node_id = r.optional(Reader::string)?;
            let first_message = r.boolean()?;
            let warning_message = r.boolean()?;
            Event::Notification(NotificationSent {
                event_id,
                tenant_id,
                campaign_id,
                job_id,
                occurred_at,
                user_id,
                node_id,
                first_message,
                warning_message,
            })
        }
        EventKind::Interaction => {
            let user_id = r.string()?;
            let selected_action = r.string()?;
            let answer_target = r.string()?;
            let answer_title = r.optional(Reader::string)?;
            let question = r.optional(Reader::string)?;
            Event::Interaction(UserInteraction {
                event_id,
                tenant_id,
                campaign_id,
                job_id,
                occurred_at,
                user_id,
                selected_action,
                answer_target,
                answer_title,
                question,
            })
        }
    };
    if !r.buf.is_empty() {
        return Err(r.malformed(format!("{} bytes after the end of the record", r.buf.len())));
    }
    check_ids(
        event.event_id(),
        event.tenant_id(),
        event.campaign_id(),
        event.user_id(),
    )?;
    Ok(event)
}

fn check_ids(
    event_id: &str,
    tenant_id: &str,
    campaign_id: &str,
    user_id: Option<&str>,
) -> Result<(), ContractViolation> {
    for (field, v) in [
        ("event_id", event_id),
        ("tenant_id", tenant_id),
        ("campaign_id", campaign_id),
        ("user_id", user_id.unwrap_or("-")),
    ] {
        if v.is_empty() {
            return Err(ContractViolation::EmptyField { field });
        }
    }
    Ok(())
}
