//! The versioned `.avsc` files, compiled in.
//!
//! Every version ever published stays here: the codec resolves records
//! written with any of them (found by fingerprint) against the newest
//! version of the same record, the reader schema. To publish a new version,
//! add `schemas/avro/<record>.v<N>.avsc` and a line below; a test checks that
//! this list and the folder agree.

use crate::events::EventKind;

/// One `.avsc` file of `schemas/avro/`.
#[derive(Debug, Clone, Copy)]
pub struct SchemaFile {
    pub kind: EventKind,
    pub version: u32,
    pub file_name: &'static str,
    pub text: &'static str,
}

macro_rules! schema_file {
    ($kind:expr, $version:expr, $file:literal) => {
        SchemaFile {
            kind: $kind,
            version: $version,
            file_name: $file,
            text: include_str!(concat!("../avro/", $file)),
        }
    };
}

/// All published schema versions.
pub const SCHEMA_FILES: &[SchemaFile] = &[
    schema_file!(EventKind::Lifecycle, 1, "campaign_lifecycle.v1.avsc"),
    schema_file!(EventKind::Notification, 1, "notification_sent.v1.avsc"),
    schema_file!(EventKind::Interaction, 1, "user_interaction.v1.avsc"),
];

/// The newest version of each record: what the codec reads into and writes.
pub fn current(kind: EventKind) -> Option<&'static SchemaFile> {
    SCHEMA_FILES
        .iter()
        .filter(|f| f.kind == kind)
        .max_by_key(|f| f.version)
}
