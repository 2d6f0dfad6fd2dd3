//! TLS to PostgreSQL the way libpq does it, from DATABASE_URL's `sslmode`
//! and `sslrootcert` (tokio-postgres knows only `disable`, `prefer` and
//! `require`, and no `sslrootcert`: both are taken out of the URL here and
//! turned into a rustls connector).
//!
//! | sslmode | TLS | certificate checked |
//! | --- | --- | --- |
//! | `disable` | never | - |
//! | `prefer` (the default) | when the server offers it | only with `sslrootcert`: its chain (as `verify-ca`) |
//! | `require` | always | only with `sslrootcert`: its chain (as `verify-ca`) |
//! | `verify-ca` | always | chain to a CA of `sslrootcert` |
//! | `verify-full` | always | chain, and the host name (or IP) of the URL |
//!
//! `sslrootcert` is a PEM file of CA certificates, or `system` for the
//! system's (libpq 16: only with `verify-full`, its default then).
//! `verify-ca` and `verify-full` need it (libpq would look for
//! `~/.postgresql/root.crt`; we do not). `allow` is refused.

use std::path::Path;
use std::sync::Arc;

use runtime::tls_roots::{self, PemRootsError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::MetadataError;

/// The connector of every connection (pool and dedicated): TLS with the
/// verification `sslmode` calls for (tokio-postgres does not use it with
/// `sslmode=disable`).
pub type Tls = MakeRustlsConnect;

/// The stream of a connection made with [`Tls`].
pub type TlsStream = <Tls as tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>>::Stream;

/// libpq's `sslmode` (but `allow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, String> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => {
                return Err(
                    "DATABASE_URL: sslmode=allow (plain first, TLS only if the server \
                            insists) is not supported: use sslmode=disable or sslmode=prefer"
                        .into(),
                )
            }
            other => {
                return Err(format!(
                    "DATABASE_URL: sslmode={other} is not one of disable, prefer, require, \
                     verify-ca, verify-full"
                ))
            }
        })
    }

    /// What tokio-postgres is told: whether to ask for TLS, and whether
    /// to go on without it.
    fn tokio_postgres(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => "require",
        }
    }
}

/// DATABASE_URL as tokio-postgres takes it, and the TLS settings it names.
pub(crate) struct Settings {
    pub pg: tokio_postgres::Config,
    pub tls: Tls,
    pub sslmode: SslMode,
}

/// Parse DATABASE_URL (a `postgres://` URL or `key=value` words); every
/// error names DATABASE_URL and never shows the URL (it may hold a
/// password).
pub(crate) fn settings(url: &str) -> Result<Settings, MetadataError> {
    settings_inner(url).map_err(MetadataError::Config)
}

fn settings_inner(url: &str) -> Result<Settings, String> {
    let split = split_tls(url)?;
    let root = split.sslrootcert.as_deref().filter(|r| !r.is_empty());
    let system = root == Some("system");
    let sslmode = match split.sslmode.as_deref() {
        Some(mode) => SslMode::parse(mode)?,
        None if system => SslMode::VerifyFull,
        None => SslMode::Prefer,
    };
    if system && sslmode != SslMode::VerifyFull {
        return Err(
            "DATABASE_URL: sslrootcert=system (the system's CA certificates) needs \
             sslmode=verify-full"
                .into(),
        );
    }
    let pg: tokio_postgres::Config = split
        .rest
        .parse()
        .map_err(|e| format!("DATABASE_URL: {}", crate::error::with_causes(&e)))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match (sslmode, root) {
        (SslMode::Disable, _) | (SslMode::Prefer | SslMode::Require, None) => None,
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
            return Err(format!(
                "DATABASE_URL: sslmode={} needs sslrootcert=<PEM file of the server's CA> \
                 (or sslrootcert=system for the system's CA certificates, with verify-full)",
                split.sslmode.as_deref().unwrap_or_default()
            ))
        }
        (_, Some("system")) => Some(system_roots()?),
        (_, Some(path)) => Some(roots_from_pem_file(Path::new(path))?),
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("DATABASE_URL: TLS settings: {e}"))?;
    let config = match (sslmode, roots) {
        (SslMode::VerifyFull, Some(roots)) => builder.with_root_certificates(roots),
        (_, Some(roots)) => {
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("DATABASE_URL: sslrootcert: {e}"))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
        }
        (_, None) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider))),
    }
    .with_no_client_auth();
    Ok(Settings {
        pg,
        tls: MakeRustlsConnect::new(config),
        sslmode,
    })
}

/// DATABASE_URL without `sslmode` and `sslrootcert`, plus tokio-postgres's
/// `sslmode`; and their values.
#[derive(Debug, PartialEq, Eq)]
struct Split {
    rest: String,
    sslmode: Option<String>,
    sslrootcert: Option<String>,
}

fn split_tls(url: &str) -> Result<Split, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        split_url(url)
    } else {
        split_words(url)
    }
}

/// `postgres://...?a=b&sslmode=...`: the other parameters are kept as
/// written; the last of a repeated one counts (as for libpq).
fn split_url(url: &str) -> Result<Split, String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept = Vec::new();
    let (mut sslmode, mut sslrootcert) = (None, None);
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        match percent_decode(key)?.as_str() {
            "sslmode" => sslmode = Some(percent_decode(value)?),
            "sslrootcert" => sslrootcert = Some(percent_decode(value)?),
            _ => kept.push(param),
        }
    }
    let mode = tokio_mode(sslmode.as_deref());
    kept.push(&mode);
    Ok(Split {
        rest: format!("{base}?{}", kept.join("&")),
        sslmode,
        sslrootcert,
    })
}

/// `host=... sslmode=...` (libpq's key/value form: values unquoted with
/// backslash escapes, or single-quoted).
fn split_words(conninfo: &str) -> Result<Split, String> {
    let mut kept = Vec::new();
    let (mut sslmode, mut sslrootcert) = (None, None);
    for (key, value) in words(conninfo)? {
        match key.as_str() {
            "sslmode" => sslmode = Some(value),
            "sslrootcert" => sslrootcert = Some(value),
            _ => {
                let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
                kept.push(format!("{key}='{quoted}'"));
            }
        }
    }
    kept.push(tokio_mode(sslmode.as_deref()));
    Ok(Split {
        rest: kept.join(" "),
        sslmode,
        sslrootcert,
    })
}

/// tokio-postgres's `sslmode` for libpq's `value`; an unknown one is
/// reported by [`SslMode::parse`] later, `prefer` stands in for it here.
fn tokio_mode(value: Option<&str>) -> String {
    let mode = value
        .and_then(|v| SslMode::parse(v).ok())
        .map_or("prefer", SslMode::tokio_postgres);
    format!("sslmode={mode}")
}

/// The `key=value` pairs of libpq's key/value form.
fn words(conninfo: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = conninfo.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!("DATABASE_URL: `{key}` is not followed by `=`"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => {
                        return Err(format!(
                            "DATABASE_URL: the value of `{key}` is not closed by '"
                        ))
                    }
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

/// `%XX` sequences decoded (a `%` not followed by two hex digits stays).
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).and_then(|b| hex(*b)),
            bytes.get(i + 2).and_then(|b| hex(*b)),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                // Two hex digits: below 256.
                out.push(u8::try_from(hi * 16 + lo).unwrap_or_default());
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|_| "DATABASE_URL: a parameter is not UTF-8 once percent-decoded".to_owned())
}

/// The CA certificates of the PEM file `path`.
fn roots_from_pem_file(path: &Path) -> Result<RootCertStore, String> {
    let file = path.display();
    tls_roots::from_pem_file(path).map_err(|e| match e {
        PemRootsError::Unreadable(e) => {
            format!("DATABASE_URL: sslrootcert {file} cannot be read: {e}")
        }
        PemRootsError::NotPem(e) => {
            format!("DATABASE_URL: sslrootcert {file} is not a PEM file of CA certificates: {e}")
        }
        PemRootsError::Unusable(e) => {
            format!("DATABASE_URL: sslrootcert {file}: a certificate cannot be used: {e}")
        }
        PemRootsError::Empty => format!(
            "DATABASE_URL: sslrootcert {file} is not a PEM file of CA certificates \
             (no -----BEGIN CERTIFICATE----- block)"
        ),
    })
}

/// The system's CA certificates (`sslrootcert=system`).
fn system_roots() -> Result<RootCertStore, String> {
    tls_roots::system().map_err(|why| {
        format!(
            "DATABASE_URL: sslrootcert=system: the system's CA certificates cannot be loaded ({why})"
        )
    })
}

/// `verify-ca`: the certificate chains to a trusted CA; the name in it is
/// not compared with the host (webpki checks the chain first, then the
/// name: a name mismatch means the chain was good).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without `sslrootcert`: encrypted, the
/// certificate not checked (libpq's meaning: no protection against an
/// active attacker). The handshake's signatures are still verified.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> Split {
        split_tls(url).unwrap()
    }

    fn error(url: &str) -> String {
        match settings_inner(url) {
            Ok(_) => panic!("{url} is accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn url_parameters_are_taken_out() {
        assert_eq!(
            split("postgres://u@h:5432/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20x.pem&application_name=a"),
            Split {
                rest: "postgres://u@h:5432/db?application_name=a&sslmode=require".into(),
                sslmode: Some("verify-full".into()),
                sslrootcert: Some("/etc/ca x.pem".into()),
            }
        );
        assert_eq!(
            split("postgresql://u@h/db"),
            Split {
                rest: "postgresql://u@h/db?sslmode=prefer".into(),
                sslmode: None,
                sslrootcert: None,
            }
        );
        // The last of a repeated parameter counts.
        assert_eq!(
            split("postgres://h/db?sslmode=require&sslmode=disable").rest,
            "postgres://h/db?sslmode=disable"
        );
    }

    #[test]
    fn key_value_words_are_taken_out() {
        assert_eq!(
            split(
                r"host=h  port = 5432 password='a b' user=a\ b sslmode=verify-ca sslrootcert='/c a.pem'"
            ),
            Split {
                rest: r"host='h' port='5432' password='a b' user='a b' sslmode=require".into(),
                sslmode: Some("verify-ca".into()),
                sslrootcert: Some("/c a.pem".into()),
            }
        );
        assert_eq!(
            split(r"password='it\'s\\' host=h").rest,
            r"password='it\'s\\' host='h' sslmode=prefer"
        );
        assert!(split_tls("host=h password='open").is_err());
        assert!(split_tls("host").is_err());
    }

    #[test]
    fn the_rest_parses_as_tokio_postgres_config() {
        for url in [
            "postgres://u:p%40ss@h:5433/db?sslmode=verify-full&sslrootcert=/x&connect_timeout=5",
            r"host=h user=u password='p s' sslmode=require",
        ] {
            let pg: tokio_postgres::Config = split(url).rest.parse().unwrap();
            assert_eq!(pg.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
        }
    }

    #[test]
    fn modes_map_to_tokio_postgres() {
        for (url, mode, tokio) in [
            ("postgres://h/db", SslMode::Prefer, "prefer"),
            (
                "postgres://h/db?sslmode=disable",
                SslMode::Disable,
                "disable",
            ),
            ("postgres://h/db?sslmode=prefer", SslMode::Prefer, "prefer"),
            (
                "postgres://h/db?sslmode=require",
                SslMode::Require,
                "require",
            ),
        ] {
            let s = settings_inner(url).unwrap();
            assert_eq!(s.sslmode, mode, "{url}");
            assert_eq!(mode.tokio_postgres(), tokio);
        }
    }

    #[test]
    fn unknown_and_unsupported_modes_are_named() {
        assert_eq!(
            error("postgres://u:secret@h/db?sslmode=verify_full"),
            "DATABASE_URL: sslmode=verify_full is not one of disable, prefer, require, \
             verify-ca, verify-full"
        );
        assert!(error("postgres://h/db?sslmode=allow").starts_with("DATABASE_URL: sslmode=allow"));
    }

    #[test]
    fn other_errors_of_tokio_postgres_say_why() {
        assert_eq!(
            error("postgres://h/db?sslcert=/c.pem"),
            "DATABASE_URL: invalid connection string: unknown option `sslcert`"
        );
    }

    #[test]
    fn verifying_modes_need_a_root_certificate() {
        for mode in ["verify-ca", "verify-full"] {
            assert_eq!(
                error(&format!("postgres://h/db?sslmode={mode}")),
                format!(
                    "DATABASE_URL: sslmode={mode} needs sslrootcert=<PEM file of the server's CA> \
                     (or sslrootcert=system for the system's CA certificates, with verify-full)"
                )
            );
        }
        assert!(
            error("postgres://h/db?sslmode=require&sslrootcert=system").contains(
                "sslrootcert=system (the system's CA certificates) needs sslmode=verify-full"
            )
        );
    }

    #[test]
    fn a_root_certificate_that_cannot_be_read_is_named() {
        let err = error("postgres://h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
        assert!(
            err.starts_with("DATABASE_URL: sslrootcert /nonexistent/ca.pem cannot be read: "),
            "{err}"
        );
        let not_pem = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let err = error(&format!(
            "postgres://h/db?sslmode=verify-ca&sslrootcert={not_pem}"
        ));
        assert!(
            err.starts_with("DATABASE_URL: sslrootcert ")
                && err.ends_with(
                    "is not a PEM file of CA certificates (no -----BEGIN CERTIFICATE----- block)"
                ),
            "{err}"
        );
        // Disabled: not read (as libpq).
        assert!(settings_inner("postgres://h/db?sslmode=disable&sslrootcert=/nonexistent").is_ok());
    }

    #[test]
    fn the_settings_are_checked_without_connecting() {
        let cfg = |url: &str| crate::MetadataConfig {
            database_url: url.into(),
            pool_size: 1,
        };
        assert_eq!(
            cfg("postgres://nowhere.invalid/db?sslmode=require")
                .check()
                .unwrap(),
            SslMode::Require
        );
        assert!(cfg("postgres://h/db?sslmode=verify-full").check().is_err());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("%2Fa%20b%").unwrap(), "/a b%");
        assert_eq!(percent_decode("100%zz").unwrap(), "100%zz");
        assert!(percent_decode("%ff").is_err());
    }
}
