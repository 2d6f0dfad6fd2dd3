//! The TLS client settings of an `https://` ClickHouse URL: rustls (ring)
//! trusting the CA certificates of a PEM file, or the system's.

use std::path::Path;
use std::sync::Arc;

use runtime::tls_roots::{self, PemRootsError};
use rustls::{ClientConfig, RootCertStore};

/// The CA certificates of the PEM file `path`; errors start with `setting`.
/// A file that cannot be read, holds no certificate or a malformed one is
/// an error.
pub(crate) fn roots_from_pem_file(path: &Path, setting: &str) -> Result<RootCertStore, String> {
    let file = path.display();
    tls_roots::from_pem_file(path).map_err(|e| match e {
        PemRootsError::Unreadable(e) => format!("{setting}: cannot read {file}: {e}"),
        PemRootsError::NotPem(e) => {
            format!("{setting}: {file} is not a PEM file of CA certificates: {e}")
        }
        PemRootsError::Unusable(e) => {
            format!("{setting}: a certificate in {file} cannot be used: {e}")
        }
        PemRootsError::Empty => format!(
            "{setting}: {file} is not a PEM file of CA certificates \
             (no -----BEGIN CERTIFICATE----- block)"
        ),
    })
}

/// The system's CA certificates (`SSL_CERT_FILE` / `SSL_CERT_DIR`, else the
/// platform's store: `/etc/ssl/certs` on Debian).
pub(crate) fn system_roots() -> Result<RootCertStore, String> {
    tls_roots::system()
        .map_err(|why| format!("the system's CA certificates cannot be loaded ({why})"))
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
