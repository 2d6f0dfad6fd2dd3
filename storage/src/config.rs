//! Where ClickHouse is.

/// ClickHouse connection settings.
#[derive(Debug, Clone, clap::Args)]
pub struct ClickHouseConfig {
    /// ClickHouse HTTP URL.
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
}

/// `--clickhouse-compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressionChoice {
    Auto,
    Lz4,
    None,
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

    /// A client of the server, not bound to a database.
    pub fn server_client(&self) -> clickhouse::Client {
        clickhouse::Client::default()
            .with_url(&self.url)
            .with_user(&self.user)
            .with_password(&self.password)
            .with_compression(self.compression())
            // 18.16 rejects the setting validation sends.
            .with_validation(false)
    }

    /// A client of the processor's database.
    pub fn client(&self) -> clickhouse::Client {
        self.server_client().with_database(&self.database)
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
}
