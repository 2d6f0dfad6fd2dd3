//! Signed, expiring download links: `HMAC-SHA256(secret, "<run id>\n<format>\n<expires>")`
//! in hex, checked in constant time. A link works without a key until
//! `expires` (seconds since the epoch) and is refused once expired or when
//! any of its parts was changed.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Why a link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    Expired,
    BadSignature,
}

/// Signs and checks links with one secret (every API instance must share
/// it for links to work on all of them).
#[derive(Clone)]
pub struct LinkSigner {
    secret: Vec<u8>,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSigner").finish_non_exhaustive()
    }
}

impl LinkSigner {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        LinkSigner {
            secret: secret.into(),
        }
    }

    fn mac(&self, run_id: &str, format: &str, expires: i64) -> HmacSha256 {
        // Any key length is accepted by HMAC.
        let mut mac = HmacSha256::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(format!("{run_id}\n{format}\n{expires}").as_bytes());
        mac
    }

    /// The hex signature of a link.
    pub fn sign(&self, run_id: &str, format: &str, expires: i64) -> String {
        hex::encode(self.mac(run_id, format, expires).finalize().into_bytes())
    }

    /// Check a link at `now` (seconds since the epoch).
    pub fn verify(
        &self,
        run_id: &str,
        format: &str,
        expires: i64,
        signature: &str,
        now: i64,
    ) -> Result<(), LinkError> {
        let expected = self.sign(run_id, format, expires);
        let same: bool = expected
            .as_bytes()
            .ct_eq(signature.to_ascii_lowercase().as_bytes())
            .into();
        if !same {
            return Err(LinkError::BadSignature);
        }
        if now >= expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_until_they_expire() {
        let signer = LinkSigner::new("secret");
        let sig = signer.sign("run", "pdf", 1_000);
        assert_eq!(sig.len(), 64);
        assert_eq!(signer.verify("run", "pdf", 1_000, &sig, 999), Ok(()));
        assert_eq!(
            signer.verify("run", "pdf", 1_000, &sig.to_uppercase(), 999),
            Ok(())
        );
        assert_eq!(
            signer.verify("run", "pdf", 1_000, &sig, 1_000),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn tampered_links_are_refused() {
        let signer = LinkSigner::new("secret");
        let sig = signer.sign("run", "pdf", 1_000);
        for (run, format, expires, sig) in [
            ("other", "pdf", 1_000, sig.as_str()),
            ("run", "csv", 1_000, &sig),
            ("run", "pdf", 2_000, &sig),
            ("run", "pdf", 1_000, &sig[1..]),
            ("run", "pdf", 1_000, ""),
        ] {
            assert_eq!(
                signer.verify(run, format, expires, sig, 0),
                Err(LinkError::BadSignature)
            );
        }
        let other = LinkSigner::new("another secret");
        assert_eq!(
            other.verify("run", "pdf", 1_000, &sig, 0),
            Err(LinkError::BadSignature)
        );
    }
}
