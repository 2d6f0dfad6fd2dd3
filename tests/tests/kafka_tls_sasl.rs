//! Kafka over SASL_SSL (issue 15): the real processor and query API given
//! only `KAFKA_PROPERTY_*` settings (the password from a file) against a
//! broker that requires TLS and SCRAM-SHA-512 (`secure_broker`). Events
//! posted to the API are produced over SASL_SSL, consumed by the processor
//! over SASL_SSL, and every figure equals loadgen's oracle. A wrong
//! password, an untrusted certificate or a misspelt property stops either
//! binary at start, quickly, with a message that names the setting.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use integration_tests::api::QueryApi;
use integration_tests::compare::assert_exact;
use integration_tests::ingest::{api_env, batches, loadgen_json, post, producer_keys, Poster};
use integration_tests::kafka::Topics;
use integration_tests::procs::{wait_caught_up, ProcessorSpec};
use integration_tests::secure_broker::SecureBroker;
use integration_tests::{bin, clickhouse_url, fresh_database};

#[rustfmt::skip]
const TRAFFIC: &[&str] = &[
    "--seed", "15", "--tenants", "2", "--campaigns", "3", "--jobs", "2", "--users", "15",
    "--days", "12", "--duplicate-ratio", "0.05", "--poison", "0",
];

fn broker_for(topics: &Topics) -> SecureBroker {
    SecureBroker::start(&[
        (&topics.lifecycle, topics.partitions),
        (&topics.notifications, topics.partitions),
        (&topics.interactions, topics.partitions),
        (&topics.dlq, 1),
    ])
}

/// `env` with `overrides` replacing or adding variables.
fn with(mut env: Vec<(String, String)>, overrides: &[(String, String)]) -> Vec<(String, String)> {
    env.retain(|(k, _)| !overrides.iter().any(|(o, _)| o == k));
    env.extend(overrides.iter().cloned());
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_processor_and_the_api_work_over_sasl_ssl() {
    let topics = Topics::unique("sasl-ssl", 2);
    let broker = broker_for(&topics);
    let client_env = broker.client_env(&broker.ca, &broker.password_file);
    let (db, client) = fresh_database("sasl_ssl").await;
    let (expected, events) = loadgen_json(&topics, TRAFFIC);

    let mut spec = ProcessorSpec::new(&topics, &db, &expected);
    spec.extra_env = client_env.clone();
    let mut processor = spec.start("sasl-ssl-processor");
    let keys = producer_keys(expected.tenants.keys());
    let api = QueryApi::start_with(
        &clickhouse_url(),
        &db,
        &spec.tenant_timezones,
        with(api_env(&topics, &keys), &client_env),
        false,
    )
    .await;
    let poster = Poster::new(&api.base);
    for b in &batches(&events, 200) {
        let key = keys.of(&b.tenant).expect("a key per tenant").to_owned();
        let body = String::from_utf8(b.body.to_vec()).expect("UTF-8");
        let answer = post(&poster, "/v1/events/batch", &key, body).await;
        assert_eq!(answer.accepted, b.events, "rejected: {:?}", answer.rejected);
    }
    wait_caught_up(
        &client,
        &topics,
        &expected,
        Duration::from_secs(180),
        &mut [&mut processor],
    )
    .await;
    assert_exact(&client, &expected).await;
    let log = std::fs::read_to_string(&processor.log).unwrap_or_default();
    assert!(
        !log.contains(integration_tests::secure_broker::PASSWORD),
        "the processor's log shows the password"
    );
    processor.stop();
}

/// What a binary did at start: whether it exited successfully, its output,
/// and how long it ran.
struct Exit {
    ok: bool,
    text: String,
    took: Duration,
}

/// Run `cmd` until it exits, at most `limit` (then kill it).
fn run_until_exit(mut cmd: Command, limit: Duration) -> Exit {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    while started.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("the binary's output");
    Exit {
        ok: out.status.success(),
        text: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        took: started.elapsed(),
    }
}

/// `processor run` with `env`.
fn processor_start(env: &[(String, String)], db: &str, limit: Duration) -> Exit {
    let mut cmd = Command::new(bin("processor"));
    cmd.arg("run")
        .env("CLICKHOUSE_URL", clickhouse_url())
        .env("CLICKHOUSE_DATABASE", db)
        .env("METRICS_ADDR", "127.0.0.1:0")
        .envs(env.iter().map(|(k, v)| (k, v)));
    run_until_exit(cmd, limit)
}

/// `query-api serve` with `env`.
fn api_start(env: &[(String, String)], limit: Duration) -> Exit {
    let keys = integration_tests::procs::log_dir()
        .join(format!("{}.toml", integration_tests::unique("keys")));
    let key = query_api::keys::hash_key("a-reader-key");
    std::fs::write(
        &keys,
        format!("[[keys]]\ntenant = \"t\"\nsha256 = \"{key}\"\n"),
    )
    .expect("keys file");
    let mut cmd = Command::new(bin("query-api"));
    cmd.arg("serve")
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("API_KEYS_FILE", &keys)
        .env("CLICKHOUSE_URL", clickhouse_url())
        .envs(env.iter().map(|(k, v)| (k, v)));
    run_until_exit(cmd, limit)
}

/// A setting gone wrong: what, the variables, what the error must say.
struct Case {
    what: &'static str,
    env: Vec<(String, String)>,
    says: &'static [&'static str],
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_certificates_and_properties_stop_the_start() {
    let topics = Topics::unique("sasl-bad", 1);
    let broker = broker_for(&topics);
    let (db, _client) = fresh_database("sasl_bad").await;
    let topic_env: Vec<(String, String)> = [
        ("TOPIC_LIFECYCLE", &topics.lifecycle),
        ("TOPIC_NOTIFICATIONS", &topics.notifications),
        ("TOPIC_INTERACTIONS", &topics.interactions),
        ("TOPIC_DLQ", &topics.dlq),
    ]
    .map(|(k, v)| (k.to_string(), v.clone()))
    .to_vec();
    let wrong_password = broker.file("wrong-password", "not-the-password\n");
    let cases = [
        Case {
            what: "a wrong password",
            env: broker.client_env(&broker.ca, &wrong_password),
            says: &["refused the credentials", "KAFKA_PROPERTY_SASL_PASSWORD"],
        },
        Case {
            what: "a certificate signed by another CA",
            env: broker.client_env(&broker.other_ca, &broker.password_file),
            says: &["TLS to Kafka", "KAFKA_PROPERTY_SSL_CA_LOCATION"],
        },
        Case {
            what: "a misspelt property",
            env: with(
                broker.client_env(&broker.ca, &broker.password_file),
                &[("KAFKA_PROPERTY_SASL_USERNME".into(), "x".into())],
            ),
            says: &["sasl.usernme", "KAFKA_PROPERTY_SASL_USERNME"],
        },
        Case {
            what: "a property the product sets itself",
            env: with(
                broker.client_env(&broker.ca, &broker.password_file),
                &[("KAFKA_PROPERTY_ENABLE_AUTO_COMMIT".into(), "true".into())],
            ),
            says: &[
                "KAFKA_PROPERTY_ENABLE_AUTO_COMMIT",
                "enable.auto.commit cannot be set",
            ],
        },
    ];
    for Case { what, env, says } in &cases {
        let env = with(topic_env.clone(), env);
        for (binary, Exit { ok, text, took }) in [
            (
                "processor",
                processor_start(&env, &db, Duration::from_secs(40)),
            ),
            ("query-api", api_start(&env, Duration::from_secs(40))),
        ] {
            assert!(!ok, "{binary} with {what}: started\n{text}");
            for s in *says {
                assert!(
                    text.contains(s),
                    "{binary} with {what}: no {s:?} in\n{text}"
                );
            }
            assert!(
                took < Duration::from_secs(20),
                "{binary} with {what}: took {took:?} to give up\n{text}"
            );
            assert!(
                !text.contains(integration_tests::secure_broker::PASSWORD),
                "{binary} with {what}: the password is in its output\n{text}"
            );
        }
    }
    // And the right settings pass the check (the processor then runs).
    let env = with(
        topic_env,
        &broker.client_env(&broker.ca, &broker.password_file),
    );
    let Exit { text, took, .. } = processor_start(&env, &db, Duration::from_secs(8));
    assert!(
        took >= Duration::from_secs(8),
        "the processor stopped:\n{text}"
    );
    assert!(
        text.contains("input topics are co-partitioned"),
        "the processor did not get past the check:\n{text}"
    );
}
