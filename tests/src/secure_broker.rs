//! A broker that requires TLS and SASL/SCRAM, for the tests of the Kafka
//! client settings: the real tansu with `--authentication` (its users
//! created with `tansu user create`, topics with `tansu topic create`), and
//! TLS from socat in front of it with a certificate signed by a CA made
//! here by the `openssl` command.
//!
//! Why socat: tansu 0.6 cannot be given both `--cert` and `--key` (they are
//! one clap argument group, so either flag refuses the other). Clients see
//! the same thing as with TLS in the broker: a TLS listener whose
//! certificate they must verify, then the SASL handshake with tansu.
//!
//! tansu creates users only for an authenticated client, and the first user
//! cannot authenticate before it exists: so the broker first runs without
//! `--authentication` on a sqlite file to create the user and the topics,
//! then again on the same file with it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::procs::log_dir;
use crate::server::free_port;

/// The SCRAM user the tests connect as.
pub const USER: &str = "analytics";
/// Its password.
pub const PASSWORD: &str = "s3cret-pa55";

/// The running broker (both processes killed when dropped).
#[derive(Debug)]
pub struct SecureBroker {
    /// What clients use: `localhost:<TLS port>`.
    pub brokers: String,
    /// The CA that signed the listener's certificate.
    pub ca: PathBuf,
    /// Another CA, which signed nothing of this broker.
    pub other_ca: PathBuf,
    /// A file holding [`PASSWORD`].
    pub password_file: PathBuf,
    dir: PathBuf,
    tansu: Child,
    tls: Child,
}

fn tansu_bin() -> PathBuf {
    let path = std::env::var_os("TANSU_BIN").map(PathBuf::from).expect(
        "TANSU_BIN is not set: run the tests with `make test` (deploy/local/env.sh sets it)",
    );
    assert!(
        path.exists(),
        "{} is missing: make setup installs tansu",
        path.display()
    );
    path
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`<name>.pem`, `<name>.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) -> PathBuf {
    let pem = dir.join(format!("{name}.pem"));
    run(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .arg("-subj")
            .arg(format!("/CN={name}"))
            .arg("-keyout")
            .arg(dir.join(format!("{name}.key")))
            .arg("-out")
            .arg(&pem),
        "openssl: the test CA",
    );
    pem
}

/// A certificate for localhost signed by the CA `ca`: (cert, key).
fn make_server_cert(dir: &Path, ca: &str) -> (PathBuf, PathBuf) {
    let (key, csr, cert, ext) = (
        dir.join("server.key"),
        dir.join("server.csr"),
        dir.join("server.pem"),
        dir.join("server.ext"),
    );
    run(
        Command::new("openssl")
            .args([
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&csr),
        "openssl: the server key",
    );
    std::fs::write(&ext, "subjectAltName=DNS:localhost,IP:127.0.0.1\n").expect("ext file");
    run(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
            .arg("-in")
            .arg(&csr)
            .arg("-CA")
            .arg(dir.join(format!("{ca}.pem")))
            .arg("-CAkey")
            .arg(dir.join(format!("{ca}.key")))
            .arg("-extfile")
            .arg(&ext)
            .arg("-out")
            .arg(&cert),
        "openssl: the server certificate",
    );
    (cert, key)
}

fn wait_port(port: u16, child: &mut Child, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited with {status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_tansu(dir: &Path, port: u16, advertised: u16, authentication: bool) -> Child {
    let log = dir.join(if authentication {
        "tansu-auth.log"
    } else {
        "tansu-setup.log"
    });
    let out = std::fs::File::create(&log).expect("tansu log");
    let err = out.try_clone().expect("tansu log");
    let mut cmd = Command::new(tansu_bin());
    cmd.arg("broker")
        .arg("--listener-url")
        .arg(format!("tcp://127.0.0.1:{port}"))
        .arg("--advertised-listener-url")
        .arg(format!("tcp://localhost:{advertised}"))
        .arg("--storage-engine")
        .arg(format!("sqlite://{}", dir.join("tansu.db").display()))
        // tansu resolves the sqlite path against its working directory.
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    if authentication {
        cmd.arg("--authentication");
    }
    let mut child = cmd.spawn().expect("start tansu");
    wait_port(port, &mut child, "tansu", &log);
    child
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

impl SecureBroker {
    /// Start it with `topics` (name, partitions) created.
    pub fn start(topics: &[(&str, i32)]) -> SecureBroker {
        let dir = log_dir().join(crate::unique("secure-broker"));
        std::fs::create_dir_all(&dir).expect("broker dir");
        let ca = make_ca(&dir, "ca");
        let other_ca = make_ca(&dir, "other-ca");
        let (cert, key) = make_server_cert(&dir, "ca");
        let password_file = dir.join("kafka-password");
        std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("password file");

        let (plain, tls_port) = (free_port(), free_port());
        let setup_url = format!("tcp://localhost:{plain}");
        let mut setup = start_tansu(&dir, plain, plain, false);
        run(
            Command::new(tansu_bin())
                .args([
                    "user",
                    "create",
                    "--broker",
                    &setup_url,
                    "--mechanism",
                    "scram512",
                ])
                .args([USER, PASSWORD]),
            "tansu user create",
        );
        for (topic, partitions) in topics {
            run(
                Command::new(tansu_bin())
                    .args(["topic", "create", "--broker", &setup_url])
                    .arg("--partitions")
                    .arg(partitions.to_string())
                    .arg(topic),
                "tansu topic create",
            );
        }
        kill(&mut setup);

        let tansu = start_tansu(&dir, plain, tls_port, true);
        let log = dir.join("socat.log");
        let out = std::fs::File::create(&log).expect("socat log");
        let mut tls = Command::new("socat")
            .arg(format!(
                "openssl-listen:{tls_port},bind=127.0.0.1,reuseaddr,fork,verify=0,cert={},key={}",
                cert.display(),
                key.display()
            ))
            .arg(format!("tcp:127.0.0.1:{plain}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("socat: install it with `make setup`");
        wait_port(tls_port, &mut tls, "socat", &log);
        SecureBroker {
            brokers: format!("localhost:{tls_port}"),
            ca,
            other_ca,
            password_file,
            dir,
            tansu,
            tls,
        }
    }

    /// The client settings of a user of this broker, as the variables the
    /// binaries read: TLS verified with `ca`, SCRAM with the password read
    /// from `password_file`.
    pub fn client_env(&self, ca: &Path, password_file: &Path) -> Vec<(String, String)> {
        [
            ("KAFKA_BROKERS", self.brokers.clone()),
            ("KAFKA_PROPERTY_SECURITY_PROTOCOL", "SASL_SSL".into()),
            ("KAFKA_PROPERTY_SASL_MECHANISM", "SCRAM-SHA-512".into()),
            ("KAFKA_PROPERTY_SASL_USERNAME", USER.into()),
            (
                "KAFKA_PROPERTY_SASL_PASSWORD_FILE",
                password_file.display().to_string(),
            ),
            ("KAFKA_PROPERTY_SSL_CA_LOCATION", ca.display().to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .to_vec()
    }

    /// A file of its own in the broker's directory.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write a file");
        path
    }
}

impl Drop for SecureBroker {
    fn drop(&mut self) {
        kill(&mut self.tls);
        kill(&mut self.tansu);
    }
}
