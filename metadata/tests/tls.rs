//! TLS to the real PostgreSQL of the local stack (`ssl = on`, a server
//! certificate for localhost, 127.0.0.1 and ::1 signed by the local CA:
//! LOCAL_CA_FILE, default `.local/tls/ca.pem`; `deploy/local/tls.sh`), with
//! libpq's `sslmode` and `sslrootcert` in DATABASE_URL. The server is
//! DATABASE_URL's (default the local stack's). Never skipped: a stack
//! without TLS fails the tests with how to start it.

use std::net::IpAddr;

use metadata::testing::{TestDatabase, TestServer};
use metadata::tls::SslMode;
use metadata::{Metadata, MetadataConfig, MetadataError};

/// The server's IP address.
async fn ip(s: &TestServer) -> IpAddr {
    if let Ok(ip) = s.host.parse() {
        return ip;
    }
    tokio::net::lookup_host((s.host.as_str(), s.port))
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .map(|a| a.ip())
        .unwrap_or_else(|| panic!("{} does not resolve", s.host))
}

fn server() -> TestServer {
    TestServer::from_env()
}

fn ca_param() -> String {
    TestServer::local_ca_param()
}

async fn connect(url: &str) -> Result<Metadata, MetadataError> {
    Metadata::connect(&MetadataConfig {
        database_url: url.to_owned(),
        pool_size: 2,
    })
    .await
}

/// Connected, or a panic saying how to get a server with TLS.
async fn connected(url: &str) -> Metadata {
    connect(url).await.unwrap_or_else(|e| {
        panic!(
            "{url}: {e}. Start the local stack with `make up` (PostgreSQL with ssl = on; \
             a stack started before TLS was added: `make down && make up`)"
        )
    })
}

#[tokio::test]
async fn verify_full_with_the_local_ca_encrypts_pool_and_dedicated_connections() {
    let s = server();
    let url = s.verify_full_url();
    let metadata = connected(&url).await;
    assert_eq!(metadata.sslmode(), SslMode::VerifyFull);
    assert!(metadata.session_is_encrypted().await.unwrap());
    drop(metadata);

    // A scratch database made, migrated (on a dedicated connection) and
    // listened to over the same settings.
    let db = TestDatabase::on("tls_full", &url).await;
    assert!(db.metadata.session_is_encrypted().await.unwrap());
    let listener = db.metadata.listen_events().await.unwrap();
    let (connections, encrypted) = db.encrypted_connections().await;
    assert!(
        connections >= 2,
        "the pool's and the listener's: {connections}"
    );
    assert_eq!(encrypted, connections, "every connection is encrypted");
    drop(listener);
    db.drop().await;
}

#[tokio::test]
async fn verify_full_checks_the_ip_address_too() {
    let s = server();
    let ip = ip(&s).await;
    let host = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    let metadata = connected(&s.url(&host, &format!("sslmode=verify-full&{}", ca_param()))).await;
    assert!(metadata.session_is_encrypted().await.unwrap());
}

#[tokio::test]
async fn verify_full_refuses_a_host_name_not_in_the_certificate() {
    let s = server();
    let ip = ip(&s).await;
    // The right server (hostaddr), under a name its certificate does not have.
    let params = |mode: &str| format!("sslmode={mode}&{}&hostaddr={ip}", ca_param());
    let err = connect(&s.url("not-in-the-certificate.invalid", &params("verify-full")))
        .await
        .expect_err("the name is not the certificate's");
    let text = err.to_string();
    assert!(matches!(err, MetadataError::Unavailable(_)), "{err:?}");
    assert!(
        text.contains("error performing TLS handshake")
            && text.contains("certificate not valid for name"),
        "{text}"
    );

    // verify-ca checks the chain only: the same connection is made.
    let metadata = connected(&s.url("not-in-the-certificate.invalid", &params("verify-ca"))).await;
    assert_eq!(metadata.sslmode(), SslMode::VerifyCa);
    assert!(metadata.session_is_encrypted().await.unwrap());
}

#[tokio::test]
async fn a_certificate_of_another_ca_is_refused() {
    let s = server();
    // The system's CA certificates do not include the local CA.
    match connect(&s.url("localhost", "sslmode=verify-full&sslrootcert=system")).await {
        Err(MetadataError::Unavailable(text)) => assert!(
            text.contains("error performing TLS handshake") && text.contains("UnknownIssuer"),
            "{text}"
        ),
        // A machine without system CA certificates.
        Err(MetadataError::Config(text)) => {
            assert!(text.contains("system's CA certificates"), "{text}")
        }
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test]
async fn require_without_a_ca_encrypts_and_disable_does_not() {
    let s = server();
    let metadata = connected(&s.url(&s.host, "sslmode=require")).await;
    assert_eq!(metadata.sslmode(), SslMode::Require);
    assert!(metadata.session_is_encrypted().await.unwrap());

    // The default is libpq's: prefer, encrypted when the server offers it.
    let metadata = connected(&s.url(&s.host, "")).await;
    assert_eq!(metadata.sslmode(), SslMode::Prefer);
    assert!(metadata.session_is_encrypted().await.unwrap());

    let metadata = connected(&s.url(&s.host, "sslmode=disable")).await;
    assert!(!metadata.session_is_encrypted().await.unwrap());
}

#[tokio::test]
async fn bad_tls_settings_are_named_errors() {
    let s = server();
    let err = connect(&s.url(&s.host, "sslmode=verify_full"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "metadata database settings: DATABASE_URL: sslmode=verify_full is not one of \
         disable, prefer, require, verify-ca, verify-full"
    );

    let err = connect(&s.url(
        &s.host,
        "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
    ))
    .await
    .unwrap_err();
    assert!(matches!(err, MetadataError::Config(_)), "{err:?}");
    assert!(
        err.to_string().starts_with(
            "metadata database settings: DATABASE_URL: sslrootcert /nonexistent/ca.pem \
             cannot be read: "
        ),
        "{err}"
    );

    let err = connect(&s.url(&s.host, "sslmode=verify-ca"))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("sslmode=verify-ca needs sslrootcert="),
        "{err}"
    );
}
