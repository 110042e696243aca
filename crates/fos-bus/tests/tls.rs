//! Mutual TLS against a real `nats-server` (one private server per test, free port, temporary store
//! dir, killed on drop) configured with `tls { verify: true }`. The PKI is generated per test with
//! rcgen: a CA, a server certificate for 127.0.0.1/localhost, a client certificate, and a second CA
//! with its own client certificate. Without the binary the tests print SKIPPED and pass, except under
//! `CI=true`, where they fail.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fos_bus::{
    BusError, CentralConsumer, ConsumerConfig, EdgePublisher, PublisherConfig, TlsConfig,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

fn find_binary() -> Option<PathBuf> {
    let fixed = Path::new("/usr/sbin/nats-server");
    if fixed.exists() {
        return Some(fixed.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("nats-server"))
            .find(|p| p.exists())
    })
}

fn binary_or_skip() -> Option<PathBuf> {
    let bin = find_binary();
    if bin.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "nats-server binary not found and CI=true"
        );
        eprintln!(
            "\n*** SKIPPED: nats-server binary not found (install Debian's nats-server) ***\n"
        );
    }
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The PEM files of one test's PKI.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `ca.pem`; `server.pem`/`server.key` (127.0.0.1, localhost); `client.pem`/`client.key` signed by
    /// the CA; `rogue-ca.pem`, `rogue-client.pem`/`rogue-client.key` signed by another CA.
    fn generate(dir: &Path) -> Pki {
        let write = |name: &str, pem: String| std::fs::write(dir.join(name), pem).unwrap();
        let ca = new_ca("FOS test CA");
        write("ca.pem", ca.pem());
        let (cert, key) = leaf(
            &ca,
            "nats-server",
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        write("server.pem", cert);
        write("server.key", key);
        let (cert, key) = leaf(
            &ca,
            "edge plant-1",
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        write("client.pem", cert);
        write("client.key", key);
        let rogue = new_ca("Rogue CA");
        write("rogue-ca.pem", rogue.pem());
        let (cert, key) = leaf(
            &rogue,
            "edge plant-1",
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        write("rogue-client.pem", cert);
        write("rogue-client.key", key);
        Pki {
            dir: dir.to_path_buf(),
        }
    }

    fn mutual(&self) -> TlsConfig {
        TlsConfig::mutual(
            self.path("ca.pem"),
            self.path("client.pem"),
            self.path("client.key"),
        )
    }
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A leaf certificate and its key (PEM), signed by `issuer`.
fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    name: &str,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(sans).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// A private nats-server with JetStream and `tls { verify: true }`; killed (and reaped) on drop.
struct TlsServer {
    child: Child,
    port: u16,
}

impl TlsServer {
    fn start(bin: &Path, pki: &Pki, store: &Path) -> Self {
        let port = free_port();
        let config = format!(
            "listen: \"127.0.0.1:{port}\"\n\
             jetstream {{ store_dir: {store:?} }}\n\
             tls {{\n  cert_file: {cert:?}\n  key_file: {key:?}\n  ca_file: {ca:?}\n  verify: true\n  timeout: 2\n}}\n",
            store = store.display().to_string(),
            cert = pki.path("server.pem").display().to_string(),
            key = pki.path("server.key").display().to_string(),
            ca = pki.path("ca.pem").display().to_string(),
        );
        let conf = pki.path("nats.conf");
        std::fs::write(&conf, config).unwrap();
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nats-server");
        wait_for_port(port);
        TlsServer { child, port }
    }

    fn url(&self, scheme_and_host: &str) -> String {
        format!("{scheme_and_host}:{}", self.port)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nats-server did not start on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn payload(seq: u64) -> Bytes {
    Bytes::from(format!("batch {seq} over mTLS"))
}

fn publisher_config(tls: Option<TlsConfig>) -> PublisherConfig {
    PublisherConfig {
        ack_timeout: Duration::from_secs(2),
        tls,
        ..Default::default()
    }
}

/// Connects a publisher that must be refused, and returns the connect error's message.
async fn refused(url: &str, tls: Option<TlsConfig>) -> String {
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        EdgePublisher::connect_with(url, "plant-1", "eu", publisher_config(tls)),
    )
    .await
    .expect("a refused connection fails promptly");
    match result {
        Err(e @ BusError::Connect { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(url), "{msg}");
            msg
        }
        Err(other) => panic!("expected a connect error, got {other}"),
        Ok(_) => panic!("connection to {url} was accepted"),
    }
}

#[tokio::test]
async fn mutual_tls_publisher_and_consumer_deliver_batches_in_order() {
    let Some(bin) = binary_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path());
    let store = dir.path().join("store");
    let server = TlsServer::start(&bin, &pki, &store);

    let publisher = EdgePublisher::connect_with(
        &server.url("tls://127.0.0.1"),
        "plant-1",
        "eu",
        publisher_config(Some(pki.mutual())),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let out = publisher
        .publish_from((1..=200).map(|s| (s, payload(s))))
        .await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.last_acked, Some(200));
    // A nats:// URL with TLS configured is upgraded (TLS required whatever the scheme); the host name
    // `localhost` is checked against the server certificate's DNS name.
    let second = EdgePublisher::connect_with(
        &server.url("nats://localhost"),
        "plant-1",
        "eu",
        publisher_config(Some(pki.mutual())),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let out = second
        .publish_from((201..=250).map(|s| (s, payload(s))))
        .await;
    assert_eq!(out.last_acked, Some(250), "{:?}", out.error);

    let config = ConsumerConfig {
        tls: Some(pki.mutual()),
        ..Default::default()
    };
    let mut consumer =
        CentralConsumer::connect_with(&server.url("tls://127.0.0.1"), "central", config)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    for want in 1..=250 {
        let d = tokio::time::timeout(Duration::from_secs(5), consumer.next())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {want}"))
            .expect("delivery");
        assert_eq!((d.site.as_str(), d.seq, d.gap), ("plant-1", want, None));
        assert_eq!(d.payload, payload(want));
        d.ack().await.unwrap();
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(300), consumer.next())
            .await
            .is_err(),
        "nothing more"
    );
}

#[tokio::test]
async fn client_without_certificate_is_refused() {
    let Some(bin) = binary_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path());
    let server = TlsServer::start(&bin, &pki, &dir.path().join("store"));
    // Trusts the server (same CA) but presents no certificate.
    let url = server.url("tls://127.0.0.1");
    let msg = refused(&url, Some(TlsConfig::new(pki.path("ca.pem")))).await;
    eprintln!("no client certificate: {msg}");
    assert!(msg.contains("over TLS: CA"), "{msg}");
    // Go's TLS stack answers a missing certificate with a bad_certificate alert (TLS 1.3 defines
    // certificate_required, which newer servers may send).
    assert!(
        msg.contains("BadCertificate") || msg.contains("CertificateRequired"),
        "the refusal should be the server's certificate alert: {msg}"
    );
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_refused() {
    let Some(bin) = binary_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path());
    let server = TlsServer::start(&bin, &pki, &dir.path().join("store"));
    let url = server.url("tls://127.0.0.1");
    // Trusts the right CA, but its own certificate is signed by the rogue CA.
    let tls = TlsConfig::mutual(
        pki.path("ca.pem"),
        pki.path("rogue-client.pem"),
        pki.path("rogue-client.key"),
    );
    let msg = refused(&url, Some(tls)).await;
    eprintln!("rogue client certificate: {msg}");
    assert!(msg.contains("rogue-client.pem"), "{msg}");
    assert!(
        msg.contains("BadCertificate") || msg.contains("UnknownCA"),
        "the refusal should be the server's certificate alert: {msg}"
    );
    // And a client that trusts only the rogue CA refuses the server.
    let tls = TlsConfig::mutual(
        pki.path("rogue-ca.pem"),
        pki.path("rogue-client.pem"),
        pki.path("rogue-client.key"),
    );
    let msg = refused(&url, Some(tls)).await;
    assert!(msg.contains("UnknownIssuer"), "{msg}");
}

#[tokio::test]
async fn plain_client_is_refused() {
    let Some(bin) = binary_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path());
    let server = TlsServer::start(&bin, &pki, &dir.path().join("store"));

    // A client speaking the protocol in plain text: the server announces that TLS is required and, when
    // the client sends a plain CONNECT instead of a TLS handshake, closes the connection without a
    // reply (never a PONG).
    let stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut info = String::new();
    reader.read_line(&mut info).unwrap();
    assert!(
        info.starts_with("INFO ") && info.contains("\"tls_required\":true"),
        "{info}"
    );
    let mut writer = stream;
    writer
        .write_all(b"CONNECT {\"verbose\":false,\"tls_required\":false}\r\nPING\r\n")
        .unwrap();
    let mut replies = Vec::new();
    match std::io::Read::read_to_end(&mut reader, &mut replies) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the server kept a plain-text client connected: {e}"),
    }
    let replies = String::from_utf8_lossy(&replies);
    assert!(
        !replies.contains("PONG") && !replies.contains("+OK"),
        "plain CONNECT was answered: {replies:?}"
    );

    // The crate without TLS settings against this server: the client library would upgrade because the
    // server asks for it, but trusts only the system's roots and has no certificate: refused.
    let msg = refused(&server.url("nats://127.0.0.1"), None).await;
    eprintln!("plain fos-bus client: {msg}");
    assert!(!msg.contains("over TLS"), "{msg}");
    assert!(
        msg.contains("UnknownIssuer") || msg.to_lowercase().contains("certificate"),
        "{msg}"
    );
}

/// TLS configured but the server offers none: refused, never a silent fall-back to plain text.
#[tokio::test]
async fn server_without_tls_is_refused_when_tls_is_configured() {
    let Some(bin) = binary_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path());
    let port = free_port();
    let mut child = Command::new(&bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.path().join("store"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nats-server");
    wait_for_port(port);
    let url = format!("nats://127.0.0.1:{port}");
    let msg = refused(&url, Some(pki.mutual())).await;
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("TLS client, plain server: {msg}");
    assert!(msg.contains("over TLS: CA"), "{msg}");
}

#[tokio::test]
async fn tls_file_problems_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path());
    let missing = dir.path().join("missing-ca.pem");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let cases = [
        (
            TlsConfig::new(&missing),
            "CA file",
            missing.clone(),
            "cannot read it",
        ),
        (
            TlsConfig::new(&garbage),
            "CA file",
            garbage.clone(),
            "no PEM CERTIFICATE",
        ),
        (
            TlsConfig::mutual(pki.path("ca.pem"), pki.path("client.pem"), &garbage),
            "client key",
            garbage.clone(),
            "no PEM PRIVATE KEY",
        ),
        (
            TlsConfig::mutual(
                pki.path("ca.pem"),
                pki.path("client.key"),
                pki.path("client.key"),
            ),
            "client certificate",
            pki.path("client.key"),
            "no PEM CERTIFICATE",
        ),
        (
            TlsConfig {
                key_file: None,
                ..pki.mutual()
            },
            "client certificate",
            pki.path("client.pem"),
            "without key_file",
        ),
    ];
    for (tls, want_role, want_file, want_problem) in cases {
        // No server: the files are checked before any connection is tried.
        let e = EdgePublisher::connect_with(
            "tls://127.0.0.1:1",
            "plant-1",
            "eu",
            publisher_config(Some(tls)),
        )
        .await
        .unwrap_err();
        match &e {
            BusError::Tls {
                role,
                file,
                problem,
            } => {
                assert_eq!((*role, file), (want_role, &want_file));
                assert!(problem.contains(want_problem), "{e}");
            }
            other => panic!("expected a TLS file error, got {other}"),
        }
        assert!(e.to_string().contains(want_file.to_str().unwrap()), "{e}");
    }
    // A key file's content never appears in the error.
    let key = std::fs::read_to_string(pki.path("client.key")).unwrap();
    let body = key.lines().nth(1).unwrap();
    let broken = dir.path().join("broken.key");
    std::fs::write(&broken, key.replace("-----END", "-----XND")).unwrap();
    let tls = TlsConfig::mutual(pki.path("ca.pem"), pki.path("client.pem"), &broken);
    let e = tls.check().unwrap_err();
    assert!(
        !e.to_string().contains(body) && !format!("{e:?}").contains(body),
        "{e}"
    );
}
