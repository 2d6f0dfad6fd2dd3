//! The TLS client settings of an `https://` ClickHouse URL: rustls (ring)
//! trusting the CA certificates of a PEM file, or the system's.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// The CA certificates of the PEM file `path`; errors start with `setting`.
/// A file that cannot be read, holds no certificate or a malformed one is
/// an error.
pub(crate) fn roots_from_pem_file(path: &Path, setting: &str) -> Result<RootCertStore, String> {
    let file = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("{setting}: cannot read {file}: {e}"))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert
            .map_err(|e| format!("{setting}: {file} is not a PEM file of CA certificates: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("{setting}: a certificate in {file} cannot be used: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "{setting}: {file} is not a PEM file of CA certificates \
             (no -----BEGIN CERTIFICATE----- block)"
        ));
    }
    Ok(roots)
}

/// The system's CA certificates (`SSL_CERT_FILE` / `SSL_CERT_DIR`, else the
/// platform's store: `/etc/ssl/certs` on Debian).
pub(crate) fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_owned(), ToString::to_string);
        return Err(format!(
            "the system's CA certificates cannot be loaded ({why})"
        ));
    }
    Ok(roots)
}

/// A client configuration trusting `roots`: TLS 1.2 and 1.3, ring's
/// algorithms (explicitly: no process-wide provider needed), no client
/// certificate.
pub(crate) fn client_config(roots: RootCertStore) -> Result<ClientConfig, String> {
    Ok(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS settings: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}
