//! The deployment's configuration file (runtime::config_file) in the real
//! binaries: `config check` shows each setting with where it came from and
//! masks secrets; a flag or variable wins over the file; a misspelt key or
//! a bad value stops a binary at start with the file's key in the message;
//! and a file alone is enough to run (`processor migrate` creates the
//! database the file names).

use std::path::Path;
use std::process::{Command, Output};

use integration_tests::procs::log_dir;
use integration_tests::{bin, clickhouse_url, unique};

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let path = log_dir().join(format!("{}-{name}", unique("config")));
    std::fs::write(&path, text).expect("write a file");
    path
}

fn run(binary: &str, config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(bin(binary))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("KAFKA_BROKERS")
        .env_remove("CLICKHOUSE_URL")
        .env_remove("CLICKHOUSE_DATABASE")
        .env_remove("DATABASE_URL")
        .env_remove("ANALYTICS_CONFIG")
        .envs(env.iter().copied())
        .output()
        .expect("run the binary")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The line of `config check` for `name`.
fn line<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[test]
fn config_check_shows_sources_and_masks_secrets() {
    let password = write("kafka-password", "kafka-s3cret\n");
    let keys = write(
        "keys.toml",
        &format!(
            "[[keys]]\ntenant = \"t\"\nsha256 = \"{}\"\n",
            query_api::keys::hash_key("a-reader-key")
        ),
    );
    let config = write(
        "analytics.toml",
        &format!(
            r#"
[common]
kafka_brokers = "b1.example.com:9096"
clickhouse_password = "ch-s3cret"
database_url = "postgres://campaign:pg-s3cret@db.example.com:5432/analytics"
tenant_timezones = "acme=Europe/Berlin"
kafka_property_sasl_password_file = "{password}"

[processor]
snapshot_interval_ms = 750

[query-api]
api_keys_file = "{keys}"
request_timeout_ms = 9000

[kafka-properties]
"security.protocol" = "SASL_SSL"
"sasl.mechanism" = "SCRAM-SHA-512"
"#,
            password = password.display(),
            keys = keys.display()
        ),
    );
    for binary in ["processor", "query-api"] {
        let out = run(
            binary,
            &config,
            &["config", "check"],
            &[("KAFKA_BROKERS", "from-env:9092")],
        );
        let shown = text(&out);
        assert!(
            out.status.success(),
            "{binary} config check failed:\n{shown}"
        );
        for secret in ["kafka-s3cret", "ch-s3cret", "pg-s3cret"] {
            assert!(!shown.contains(secret), "{binary} shows {secret}:\n{shown}");
        }
        assert!(
            line(&shown, "KAFKA_BROKERS").contains("from-env:9092  (env)"),
            "{binary}: the variable wins over the file:\n{shown}"
        );
        assert!(
            line(&shown, "CLICKHOUSE_PASSWORD")
                .contains("****  (file [common] clickhouse_password)"),
            "{shown}"
        );
        assert!(
            line(&shown, "TENANT_TIMEZONES").contains("acme=Europe/Berlin  (file [common]"),
            "{shown}"
        );
        assert!(shown.contains("security.protocol = SASL_SSL"), "{shown}");
        assert!(shown.contains("sasl.password = ****"), "{shown}");
        assert!(shown.contains("OK: the settings are valid"), "{shown}");
    }
    let processor = text(&run("processor", &config, &["config", "check"], &[]));
    assert!(
        line(&processor, "SNAPSHOT_INTERVAL_MS").contains("750  (file [processor]"),
        "{processor}"
    );
    assert!(
        processor.contains("not a setting of processor (ignored): [common] database_url"),
        "{processor}"
    );
    let api = text(&run("query-api", &config, &["config", "check"], &[]));
    assert!(
        line(&api, "DATABASE_URL")
            .contains("postgres://campaign:****@db.example.com:5432/analytics"),
        "{api}"
    );
    assert!(line(&api, "REQUEST_TIMEOUT_MS").contains("9000"), "{api}");
    assert!(api.contains("API keys: 1 in"), "{api}");
    // A flag wins over both.
    let flagged = text(&run(
        "processor",
        &config,
        &["config", "check"],
        &[("ANALYTICS_CONFIG", "/nonexistent.toml")],
    ));
    assert!(
        flagged.contains("OK"),
        "--config wins over ANALYTICS_CONFIG:\n{flagged}"
    );
}

#[test]
fn mistakes_in_the_file_stop_the_start_and_name_the_key() {
    let cases = [
        (
            "[processor]\nsnapshot_intervall_ms = 5\n",
            "[processor] snapshot_intervall_ms: processor has no such setting",
        ),
        ("[processor]\nsnapshot_interval_ms = \"soon\"\n", "(set by"),
        ("[procesor]\nx = 1\n", "unknown section [procesor]"),
        ("[common]\nkafka_brokers = \n", "config file"),
    ];
    for (file, says) in cases {
        let config = write("bad.toml", file);
        for args in [&["config", "check"][..], &["run"][..]] {
            let out = run("processor", &config, args, &[]);
            let shown = text(&out);
            assert!(
                !out.status.success(),
                "{file:?} {args:?}: accepted\n{shown}"
            );
            assert!(
                shown.contains(says),
                "{file:?} {args:?}: no {says:?} in\n{shown}"
            );
        }
    }
    let missing = run(
        "query-api",
        Path::new("/nonexistent/a.toml"),
        &["config", "check"],
        &[],
    );
    assert!(!missing.status.success());
    assert!(
        text(&missing).contains("config file /nonexistent/a.toml: cannot read it"),
        "{}",
        text(&missing)
    );
}

#[tokio::test]
async fn a_file_alone_configures_a_run() {
    let database = unique("config_file").replace('-', "_");
    let config = write(
        "migrate.toml",
        &format!(
            "[common]\nclickhouse_url = \"{}\"\nclickhouse_database = \"{database}\"\n",
            clickhouse_url()
        ),
    );
    let out = run("processor", &config, &["migrate"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let client = clickhouse::Client::default()
        .with_url(clickhouse_url())
        .with_validation(false);
    let tables: Vec<String> = client
        .query("SELECT name FROM system.tables WHERE database = ?")
        .bind(&database)
        .fetch_all()
        .await
        .expect("list the tables");
    assert!(
        tables.iter().any(|t| t == "checkpoints"),
        "the file's database has no tables: {tables:?}"
    );
    client
        .query(&format!("DROP DATABASE {database}"))
        .execute()
        .await
        .expect("drop the database");
}
