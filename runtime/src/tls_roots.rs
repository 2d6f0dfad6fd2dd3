//! The CA certificates a TLS client trusts: those of a PEM file (a setting
//! such as `CLICKHOUSE_CA_FILE` or libpq's `sslrootcert`), or the system's.
//! The callers word the errors after their setting.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

/// Why a PEM file gave no roots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemRootsError {
    /// The file cannot be read (the I/O error).
    Unreadable(String),
    /// A block is not a PEM certificate (the parser's error).
    NotPem(String),
    /// A certificate was refused as a root (rustls's error).
    Unusable(String),
    /// No `-----BEGIN CERTIFICATE-----` block at all.
    Empty,
}

/// The CA certificates of the PEM file `path`: every one must be usable,
/// and there must be one.
pub fn from_pem_file(path: &Path) -> Result<RootCertStore, PemRootsError> {
    let pem = std::fs::read(path).map_err(|e| PemRootsError::Unreadable(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| PemRootsError::NotPem(e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| PemRootsError::Unusable(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(PemRootsError::Empty);
    }
    Ok(roots)
}

/// The system's CA certificates (`SSL_CERT_FILE` / `SSL_CERT_DIR`, else the
/// platform's store: `/etc/ssl/certs` on Debian); the error says why none
/// could be loaded.
pub fn system() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err(found
            .errors
            .first()
            .map_or_else(|| "none found".to_owned(), ToString::to_string));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_gives_no_roots() {
        let dir = std::env::temp_dir().join(format!("tls-roots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = dir.join("text.pem");
        std::fs::write(&text, "not a certificate\n").unwrap();
        assert_eq!(from_pem_file(&text).unwrap_err(), PemRootsError::Empty);
        assert!(matches!(
            from_pem_file(&dir.join("missing.pem")),
            Err(PemRootsError::Unreadable(_))
        ));
        let broken = dir.join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(from_pem_file(&broken).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
