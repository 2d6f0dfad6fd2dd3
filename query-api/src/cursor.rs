//! Pagination cursors: the base64url (no padding) of the last key of a
//! page (a campaign id or a user id). The next page holds the keys greater
//! than it, in byte order, so pages are stable while rows change: a row is
//! never returned twice and never skipped unless it was added before the
//! cursor. Every string of the base64url alphabet whose length is not 1
//! modulo 4 decodes, so every cursor the OpenAPI pattern admits is valid.

use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use crate::error::{ApiError, ErrorCode};

const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// The longest cursor accepted.
pub const MAX_LEN: usize = 1024;

/// The OpenAPI pattern of a cursor (non-empty base64url without padding).
pub const PATTERN: &str = "^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{4}|[A-Za-z0-9_-]{2,3})$";

/// The cursor that continues after `key`.
pub fn encode(key: impl AsRef<[u8]>) -> String {
    ENGINE.encode(key.as_ref())
}

/// The key a cursor continues after.
pub fn decode(text: &str) -> Result<Vec<u8>, ApiError> {
    let bad = |why: &str| {
        ApiError::bad_request(
            ErrorCode::BadCursor,
            format!("malformed cursor ({why}): pass the next_cursor of a previous page unchanged"),
        )
    };
    if text.is_empty() {
        return Err(bad("empty"));
    }
    if text.len() > MAX_LEN {
        return Err(bad("too long"));
    }
    let key = ENGINE.decode(text).map_err(|_| bad("not base64url"))?;
    if key.is_empty() {
        return Err(bad("empty key"));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        for key in ["c1", "campaign-ü-😀", "a b/c?d&e=f", "x"] {
            assert_eq!(decode(&encode(key)).unwrap(), key.as_bytes());
        }
    }

    #[test]
    fn malformed_cursors_are_refused() {
        for bad in [
            "",
            "A",
            "AAAAA",
            "ab=",
            "a+b/",
            "no spaces",
            &"A".repeat(MAX_LEN + 3),
        ] {
            let e = decode(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadCursor, "{bad:?}");
        }
    }

    #[test]
    fn every_well_formed_string_decodes() {
        for ok in ["AA", "AB", "ABC", "ABCD", "_-_-", "zzzzz9"] {
            assert!(decode(ok).is_ok(), "{ok}");
        }
    }
}
