//! Where ClickHouse is, and how to reach it (HTTP, or HTTPS verified
//! against the system's CA certificates or those of `--clickhouse-ca-file`).

use std::path::PathBuf;
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

use crate::tls;

/// ClickHouse connection settings.
#[derive(Debug, Clone, clap::Args)]
pub struct ClickHouseConfig {
    /// ClickHouse HTTP(S) URL. An `https://` URL's certificate is verified
    /// against the system's CA certificates, or those of
    /// `--clickhouse-ca-file`.
    #[arg(
        long = "clickhouse-url",
        env = "CLICKHOUSE_URL",
        default_value = "http://127.0.0.1:8123"
    )]
    pub url: String,

    /// ClickHouse user.
    #[arg(
        long = "clickhouse-user",
        env = "CLICKHOUSE_USER",
        default_value = "default"
    )]
    pub user: String,

    /// ClickHouse password.
    #[arg(
        long = "clickhouse-password",
        env = "CLICKHOUSE_PASSWORD",
        default_value = "",
        hide_env_values = true
    )]
    pub password: String,

    /// Database of the processor's tables (created by the migrations).
    #[arg(
        long = "clickhouse-database",
        env = "CLICKHOUSE_DATABASE",
        default_value = "campaign_analytics"
    )]
    pub database: String,

    /// Compression of the data sent to and read from ClickHouse: `lz4`
    /// saves network bandwidth at a CPU cost on both ends; `none` is
    /// cheaper where the network is not the bottleneck; `auto` is `none`
    /// for a loopback URL (localhost, 127.x, ::1) and `lz4` otherwise.
    #[arg(
        long = "clickhouse-compression",
        env = "CLICKHOUSE_COMPRESSION",
        value_enum,
        default_value_t = CompressionChoice::Auto
    )]
    pub compression: CompressionChoice,

    /// PEM file of the CA certificates to trust for an `https://` URL,
    /// instead of the system's (a private CA, a self-signed server). Read at
    /// start: a missing file or one without a PEM certificate stops the
    /// binary. Refused with an `http://` URL.
    #[arg(long = "clickhouse-ca-file", env = "CLICKHOUSE_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

/// Settings that cannot work (a CA file that cannot be read, ...): the
/// message names the setting.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// As clickhouse's own HTTP client: TCP keep-alive, and idle connections
/// dropped before the server's keep-alive timeout (3 s) closes them.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// `--clickhouse-compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressionChoice {
    Auto,
    Lz4,
    None,
}

/// Whether `url`'s scheme is `https`.
fn is_https(url: &str) -> bool {
    url.split_once("://")
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("https"))
}

/// Whether `url`'s host is this machine.
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl ClickHouseConfig {
    /// The compression `--clickhouse-compression` stands for with this URL.
    pub fn compression(&self) -> clickhouse::Compression {
        let lz4 = match self.compression {
            CompressionChoice::Lz4 => true,
            CompressionChoice::None => false,
            CompressionChoice::Auto => !is_loopback(&self.url),
        };
        if lz4 {
            clickhouse::Compression::Lz4
        } else {
            clickhouse::Compression::None
        }
    }

    /// The TLS settings of the URL: none for `http://` (where a CA file is
    /// refused), the CA file's certificates or else the system's for
    /// `https://`.
    fn tls(&self) -> Result<Option<rustls::ClientConfig>, ConfigError> {
        let ca_file = self.ca_file.as_ref().filter(|p| !p.as_os_str().is_empty());
        let roots = match (is_https(&self.url), ca_file) {
            (false, None) => return Ok(None),
            (false, Some(_)) => {
                return Err(ConfigError(
                    "CLICKHOUSE_CA_FILE is set but CLICKHOUSE_URL is not an https:// URL: \
                     use the server's https port (https://HOST:8443) or unset CLICKHOUSE_CA_FILE"
                        .into(),
                ))
            }
            (true, Some(path)) => tls::roots_from_pem_file(path, "CLICKHOUSE_CA_FILE"),
            (true, None) => tls::system_roots().map_err(|e| {
                format!(
                    "CLICKHOUSE_URL is https:// but {e}: set CLICKHOUSE_CA_FILE to the \
                     server's CA certificate (PEM)"
                )
            }),
        }
        .map_err(ConfigError)?;
        tls::client_config(roots).map(Some).map_err(ConfigError)
    }

    /// Check the settings a client needs (the CA file is read): what
    /// [`Self::server_client`] would refuse.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.tls().map(|_| ())
    }

    /// A client of the server, not bound to a database. Fails when the TLS
    /// settings cannot work (see [`Self::check`]); it does not connect.
    pub fn server_client(&self) -> Result<clickhouse::Client, ConfigError> {
        let mut http = HttpConnector::new();
        http.set_keepalive(Some(TCP_KEEPALIVE));
        let mut builder = HyperClient::builder(TokioExecutor::new());
        builder.pool_idle_timeout(POOL_IDLE_TIMEOUT);
        let client = match self.tls()? {
            None => clickhouse::Client::with_http_client(builder.build(http)),
            Some(tls) => {
                http.enforce_http(false);
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(tls)
                    .https_only()
                    .enable_http1()
                    .wrap_connector(http);
                clickhouse::Client::with_http_client(builder.build(https))
            }
        };
        Ok(client
            .with_url(&self.url)
            .with_user(&self.user)
            .with_password(&self.password)
            .with_compression(self.compression())
            // 18.16 rejects the setting validation sends.
            .with_validation(false))
    }

    /// A client of the processor's database (see [`Self::server_client`]).
    pub fn client(&self) -> Result<clickhouse::Client, ConfigError> {
        Ok(self.server_client()?.with_database(&self.database))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for url in [
            "http://127.0.0.1:8123",
            "http://localhost:8123/",
            "https://user@LOCALHOST",
            "http://[::1]:8123",
            "http://127.0.0.2",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "http://10.0.0.5:8123",
            "https://clickhouse.example.com",
            "http://[2001:db8::1]:8123",
            "http://localhost.example.com",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }

    #[test]
    fn auto_compresses_only_off_this_machine() {
        let mut cfg = ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            user: "default".into(),
            password: String::new(),
            database: "db".into(),
            compression: CompressionChoice::Auto,
            ca_file: None,
        };
        assert_eq!(cfg.compression(), clickhouse::Compression::None);
        cfg.url = "http://clickhouse.internal:8123".into();
        assert_eq!(cfg.compression(), clickhouse::Compression::Lz4);
        cfg.compression = CompressionChoice::None;
        assert_eq!(cfg.compression(), clickhouse::Compression::None);
        cfg.url = "http://127.0.0.1:8123".into();
        cfg.compression = CompressionChoice::Lz4;
        assert_eq!(cfg.compression(), clickhouse::Compression::Lz4);
    }

    fn cfg(url: &str, ca_file: Option<&str>) -> ClickHouseConfig {
        ClickHouseConfig {
            url: url.into(),
            user: "default".into(),
            password: String::new(),
            database: "db".into(),
            compression: CompressionChoice::Auto,
            ca_file: ca_file.map(PathBuf::from),
        }
    }

    /// A file of its own in the temporary directory, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, contents: &[u8]) -> Self {
            let path =
                std::env::temp_dir().join(format!("storage-config-{}-{name}", std::process::id()));
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn https_is_recognised_by_scheme() {
        assert!(is_https("https://ch.example.com:8443"));
        assert!(is_https("HTTPS://ch.example.com"));
        assert!(!is_https("http://ch.example.com:8123"));
        assert!(!is_https("ch.example.com:8443"));
        assert!(!is_https("http://https.example.com"));
    }

    #[test]
    fn an_http_url_needs_no_tls() {
        assert!(cfg("http://127.0.0.1:8123", None).tls().unwrap().is_none());
        // An empty CLICKHOUSE_CA_FILE is no CA file.
        assert!(cfg("http://127.0.0.1:8123", Some(""))
            .tls()
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_ca_file_with_an_http_url_is_refused() {
        let err = cfg("http://127.0.0.1:8123", Some("/etc/ca.pem"))
            .check()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("CLICKHOUSE_CA_FILE is set but CLICKHOUSE_URL is not an https:// URL"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let err = cfg("https://127.0.0.1:8443", Some("/nonexistent/ca.pem"))
            .server_client()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("CLICKHOUSE_CA_FILE: cannot read /nonexistent/ca.pem: "),
            "{err}"
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_named() {
        let text = TempFile::new("not-pem", b"not a certificate\n");
        let err = cfg("https://127.0.0.1:8443", Some(text.0.to_str().unwrap()))
            .check()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("CLICKHOUSE_CA_FILE: ")
                && err.contains("is not a PEM file of CA certificates"),
            "{err}"
        );
        let broken = TempFile::new(
            "broken-pem",
            b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        );
        let err = cfg("https://127.0.0.1:8443", Some(broken.0.to_str().unwrap()))
            .check()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("CLICKHOUSE_CA_FILE: a certificate in "),
            "{err}"
        );
    }

    #[test]
    fn the_ca_file_is_a_flag() {
        use clap::Parser;
        #[derive(Debug, clap::Parser)]
        struct Cli {
            #[command(flatten)]
            clickhouse: ClickHouseConfig,
        }
        let cli = Cli::try_parse_from(["x", "--clickhouse-ca-file", "/etc/ca.pem"]).unwrap();
        assert_eq!(cli.clickhouse.ca_file, Some(PathBuf::from("/etc/ca.pem")));
    }
}
