//! Saved dashboards: a tenant's named lists of widgets, stored in the
//! metadata database (`metadata::dashboards`), checked by
//! `reporting::dashboard`, and their data ([`data`]) read through the same
//! [`crate::read::Reader`] and shaped by the same models as the JSON API.
//!
//! A dashboard's data is as of one moment: every report its widgets show
//! comes from one query ([`crate::read::Reader::report_set`]), so two
//! widgets never disagree about a campaign. The overview trend comes from
//! the rollups, read right after. The answer carries the campaigns
//! stream's cursor as of just before the read: a client that opens
//! `/v1/campaigns/stream` with it as `Last-Event-ID` hears of every commit
//! the data may not include, and reads the data again (the web
//! dashboard's live widgets).

pub mod data;
pub mod model;
