//! Identity and secrets over real TLS, against the real `portcullis serve` binary in
//! front of a fake daemon on a unix socket (no dockerd needed):
//!
//! * with mutual TLS, client certificates from an unknown CA, expired, not yet valid,
//!   or missing are refused during the handshake (the handshake or the first read
//!   fails with the matching TLS alert) and the daemon receives nothing;
//! * the identity the policy sees comes only from the verified certificate: headers a
//!   client can set (`X-Forwarded-Client-Cert`, `X-Portcullis-Identity`, …) change
//!   nothing, while `X-Registry-Auth` still reaches the daemon unchanged;
//! * private keys never appear in the logs, even at `RUST_LOG=trace`, through a full
//!   request cycle, refused handshakes and a policy and certificate reload.

use crate::common::fake_daemon::{self, Record};

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Upper bound for any single network wait.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for the proxy to start or to log something.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Denied by the default policy (PC-1001), allowed by the `admins` policy below.
const PRIV: &str = r#"{"Image":"x","HostConfig":{"Privileged":true}}"#;

// ---------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------

/// A client certificate and its key, PEM.
struct ClientId {
    cert_pem: String,
    key_pem: String,
}

enum Validity {
    Current,
    Expired,
    NotYetValid,
}

/// A throw-away PKI, made with rcgen as `tests/support`'s `TestCerts` does, but with
/// the CA key at hand to issue certificates with any validity.
struct Pki {
    ca: Certificate,
    ca_key: KeyPair,
    ca_pem: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    server_key_pem: String,
    ca_key_pem: String,
}

fn dn(cn: &str, org: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, cn);
    name.push(DnType::OrganizationName, org);
    name
}

fn new_ca(cn: &str) -> (Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = dn(cn, "Portcullis tests");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    (cert, key)
}

fn issue_client(cn: &str, validity: Validity, ca: &Certificate, ca_key: &KeyPair) -> ClientId {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = dn(cn, "tenants");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    match validity {
        Validity::Current => {}
        Validity::Expired => {
            params.not_before = rcgen::date_time_ymd(2001, 1, 1);
            params.not_after = rcgen::date_time_ymd(2002, 1, 1);
        }
        Validity::NotYetValid => {
            params.not_before = rcgen::date_time_ymd(2090, 1, 1);
            params.not_after = rcgen::date_time_ymd(2091, 1, 1);
        }
    }
    let cert = params.signed_by(&key, ca, ca_key).unwrap();
    ClientId {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

impl Pki {
    fn generate(dir: &Path) -> Pki {
        let (ca, ca_key) = new_ca("Portcullis Identity Test CA");
        let ca_pem = dir.join("ca.pem");
        fs::write(&ca_pem, ca.pem()).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name = dn("localhost", "Portcullis tests");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = params.signed_by(&key, &ca, &ca_key).unwrap();
        let server_cert = dir.join("server-cert.pem");
        let server_key = dir.join("server-key.pem");
        let server_key_pem = key.serialize_pem();
        fs::write(&server_cert, server.pem()).unwrap();
        fs::write(&server_key, &server_key_pem).unwrap();
        let ca_key_pem = ca_key.serialize_pem();
        Pki {
            ca,
            ca_key,
            ca_pem,
            server_cert,
            server_key,
            server_key_pem,
            ca_key_pem,
        }
    }

    fn client(&self, cn: &str, validity: Validity) -> ClientId {
        issue_client(cn, validity, &self.ca, &self.ca_key)
    }

    /// A certificate for `cn` from a CA the proxy does not trust, named `ca_name`.
    fn rogue_client(&self, cn: &str, ca_name: &str) -> ClientId {
        let (ca, key) = new_ca(ca_name);
        issue_client(cn, Validity::Current, &ca, &key)
    }
}

// ---------------------------------------------------------------------------
// The proxy: the real binary
// ---------------------------------------------------------------------------

struct Serve {
    child: Child,
    addr: String,
    log_path: PathBuf,
    audit_path: PathBuf,
    rec: Record,
    pki: Pki,
    dir: tempfile::TempDir,
}

impl Serve {
    /// `portcullis serve` with mutual TLS on 127.0.0.1:0 in front of a fresh fake
    /// daemon; `policy` files are written to a policy directory (none: built-in).
    async fn start(policy: &[(&str, &str)], extra: &[&str], env: &[(&str, &str)]) -> Serve {
        let dir = tempfile::Builder::new()
            .prefix("pci")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        let pki = Pki::generate(d);
        let sock = d.join("d.sock");
        let rec = Record::default();
        fake_daemon::spawn(&sock, rec.clone(), fake_daemon::docker_like);
        let ready = d.join("ready");
        let log_path = d.join("portcullis.log");
        let audit_path = d.join("audit.log");
        let log = fs::File::create(&log_path).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        cmd.arg("serve")
            .args(["--listen", "tcp://127.0.0.1:0", "--admin-listen", "off"])
            .arg("--tls-cert")
            .arg(&pki.server_cert)
            .arg("--tls-key")
            .arg(&pki.server_key)
            .arg("--tls-client-ca")
            .arg(&pki.ca_pem)
            .arg("--upstream")
            .arg(format!("unix://{}", sock.display()))
            .arg("--audit-log")
            .arg(&audit_path)
            .arg("--ready-file")
            .arg(&ready)
            .args(["--watch-interval-secs", "0"]);
        if !policy.is_empty() {
            let pdir = d.join("policies");
            fs::create_dir_all(&pdir).unwrap();
            for (name, text) in policy {
                fs::write(pdir.join(name), text).unwrap();
            }
            cmd.arg("--policy").arg(&pdir);
        }
        cmd.args(extra)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = cmd.spawn().unwrap();
        let mut serve = Serve {
            child,
            addr: String::new(),
            log_path,
            audit_path,
            rec,
            pki,
            dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let content = fs::read_to_string(&ready).unwrap_or_default();
            if let Some(a) = content
                .lines()
                .find_map(|l| l.trim().strip_prefix("tcp://"))
                .filter(|_| content.ends_with('\n'))
            {
                serve.addr = a.to_string();
                return serve;
            }
            if let Ok(Some(status)) = serve.child.try_wait() {
                panic!("portcullis exited with {status}:\n{}", serve.log());
            }
            assert!(
                Instant::now() < deadline,
                "portcullis did not get ready:\n{}",
                serve.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.log_path).unwrap_or_default()).into_owned()
    }

    fn audit(&self) -> Vec<serde_json::Value> {
        fs::read_to_string(&self.audit_path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The audit records, once there are at least `n` (the record is written when the
    /// response body ends, a moment after the client read it).
    async fn audit_at_least(&self, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let a = self.audit();
            if a.len() >= n || Instant::now() >= deadline {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until the log holds `needle` `count` times.
    async fn wait_log(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + START_TIMEOUT;
        while self.log().matches(needle).count() < count {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} (x{count}) in the log:\n{}",
                tail(&self.log(), 40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {sig}");
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("portcullis log tail:\n{}", tail(&self.log(), 60));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// ---------------------------------------------------------------------------
// The TLS client
// ---------------------------------------------------------------------------

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn connector(ca_pem: &Path, client: Option<&ClientId>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut fs::read(ca_pem).unwrap().as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some(id) => {
            let certs: Vec<CertificateDer<'static>> =
                rustls_pemfile::certs(&mut id.cert_pem.as_bytes())
                    .collect::<Result<_, _>>()
                    .unwrap();
            let key: PrivateKeyDer<'static> =
                rustls_pemfile::private_key(&mut id.key_pem.as_bytes())
                    .unwrap()
                    .unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    TlsConnector::from(Arc::new(config))
}

/// Send `raw` (which should carry `Connection: close`) over mutual TLS and read the
/// whole answer. `Err` says where it failed: the handshake, the write or the read.
async fn over_tls(serve: &Serve, client: Option<&ClientId>, raw: &str) -> Result<String, String> {
    let tls = connector(&serve.pki.ca_pem, client);
    let tcp = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(&serve.addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut s = match tokio::time::timeout(IO_TIMEOUT, tls.connect(name, tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("handshake: {e}")),
        Err(_) => return Err("handshake timed out".into()),
    };
    if let Err(e) = s.write_all(raw.as_bytes()).await {
        return Err(format!("write: {e}"));
    }
    let _ = s.flush().await;
    let mut out = Vec::new();
    match tokio::time::timeout(IO_TIMEOUT, s.read_to_end(&mut out)).await {
        Ok(Ok(_)) if out.is_empty() => Err("read: closed without a response".into()),
        Ok(Ok(_)) => Ok(String::from_utf8_lossy(&out).into_owned()),
        Ok(Err(e)) if out.is_empty() => Err(format!("read: {e}")),
        // Closed without close_notify after a complete `Connection: close` answer.
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
        Ok(Err(e)) => Err(format!(
            "read: {e} after {:?}",
            String::from_utf8_lossy(&out)
        )),
        Err(_) => Err(format!(
            "read timed out after {:?}",
            String::from_utf8_lossy(&out)
        )),
    }
}

fn ping() -> String {
    "GET /_ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".into()
}

fn create(extra_headers: &str, body: &str) -> String {
    format!(
        "POST /v1.41/containers/create HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{extra_headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn status_of(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {resp:?}"))
}

// ---------------------------------------------------------------------------
// (1)–(4): refused at the handshake
// ---------------------------------------------------------------------------

#[tokio::test]
async fn bad_client_certificates_are_refused_at_the_handshake() {
    let serve = Serve::start(&[], &[], &[]).await;
    // Positive control: a current certificate from the trusted CA works.
    let good = serve.pki.client("alice", Validity::Current);
    let resp = over_tls(&serve, Some(&good), &ping()).await.unwrap();
    assert_eq!(status_of(&resp), 200, "{resp}");
    assert_eq!(serve.rec.requests().len(), 1);
    serve.rec.clear();
    let connections = serve.rec.connections();

    let cases: Vec<(&str, Option<ClientId>, &str)> = vec![
        // A certificate naming a known tenant, from a CA the proxy does not trust.
        (
            "unknown CA",
            Some(serve.pki.rogue_client("alice", "Rogue CA")),
            "UnknownCA",
        ),
        // A rogue CA with the trusted CA's exact name: the chain is built to the
        // trusted CA, whose signature does not verify.
        (
            "rogue CA impersonating the trusted CA's name",
            Some(
                serve
                    .pki
                    .rogue_client("alice", "Portcullis Identity Test CA"),
            ),
            "DecryptError",
        ),
        (
            "expired",
            Some(serve.pki.client("alice", Validity::Expired)),
            "CertificateExpired",
        ),
        (
            "not yet valid",
            Some(serve.pki.client("alice", Validity::NotYetValid)),
            "CertificateExpired",
        ),
        ("no client certificate", None, "CertificateRequired"),
    ];
    for (name, client, alert) in &cases {
        let r = over_tls(&serve, client.as_ref(), &create("", PRIV)).await;
        match r {
            Ok(resp) => panic!("{name}: got an HTTP answer: {resp}"),
            Err(e) => {
                assert!(
                    e.starts_with("handshake:")
                        || e.starts_with("read:")
                        || e.starts_with("write:"),
                    "{name}: {e}"
                );
                assert!(e.contains(alert), "{name}: expected alert {alert}: {e}");
            }
        }
    }
    // The daemon saw nothing: no request, not even a connection.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        serve.rec.requests().is_empty(),
        "{:#?}",
        serve.rec.requests()
    );
    assert_eq!(serve.rec.connections(), connections);
    // Nothing was decided or audited for them either.
    let audited = serve.audit_at_least(1).await;
    assert_eq!(audited.len(), 1, "only the control request: {audited:#?}");
}

// ---------------------------------------------------------------------------
// (5): identity comes only from the verified certificate
// ---------------------------------------------------------------------------

const ADMINS_POLICY: &str = r#"
name = "admins"
description = "alice may run privileged containers"
default = false
[identities]
common_names = ["alice"]
[containers]
allow_privileged = true
"#;

/// Headers a client could set hoping to be taken for someone else.
const SPOOF: &[(&str, &str)] = &[
    ("X-Portcullis-Identity", "alice"),
    (
        "X-Forwarded-Client-Cert",
        "Hash=00;Subject=\"CN=alice,O=tenants\";URI=spiffe://x/alice",
    ),
    ("X-Client-CN", "alice"),
    ("X-SSL-Client-S-DN", "CN=alice,O=tenants"),
    ("X-Remote-User", "alice"),
    ("X-Forwarded-User", "alice"),
    ("X-Forwarded-For", "127.0.0.1"),
    ("X-Real-IP", "127.0.0.1"),
    ("Forwarded", "for=127.0.0.1;by=portcullis"),
    ("Authorization", "Bearer alice"),
    ("Proxy-Authorization", "Basic YWxpY2U6eA=="),
    ("X-Registry-Auth", "eyJ1c2VybmFtZSI6ImJvYiJ9"),
];

fn spoof_headers() -> String {
    SPOOF.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect()
}

/// The shipped default policy, served next to the admins policy.
fn default_policy() -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.toml")).unwrap()
}

#[tokio::test]
async fn identity_comes_only_from_the_certificate() {
    let default_policy = default_policy();
    let serve = Serve::start(
        &[
            ("admins.toml", ADMINS_POLICY),
            ("default.toml", &default_policy),
        ],
        &[],
        &[],
    )
    .await;
    let alice = serve.pki.client("alice", Validity::Current);
    let bob = serve.pki.client("bob", Validity::Current);

    // The mapping works: alice's certificate selects the admins policy.
    let resp = over_tls(&serve, Some(&alice), &create("", PRIV))
        .await
        .unwrap();
    assert_eq!(status_of(&resp), 200, "alice may: {resp}");
    let seen = serve.rec.requests();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    let forwarded: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(
        forwarded,
        serde_json::from_str::<serde_json::Value>(PRIV).unwrap()
    );
    serve.rec.clear();

    // bob claims to be alice in every header a proxy or client might use: denied under
    // the default policy, and nothing reaches the daemon.
    let resp = over_tls(&serve, Some(&bob), &create(&spoof_headers(), PRIV))
        .await
        .unwrap();
    assert_eq!(status_of(&resp), 403, "{resp}");
    assert!(
        resp.contains("PC-1001") && resp.contains(r#"(policy \"default\")"#),
        "{resp}"
    );
    assert!(
        serve.rec.requests().is_empty(),
        "{:#?}",
        serve.rec.requests()
    );

    // The same headers on an allowed request: forwarded as bob; X-Registry-Auth reaches
    // the daemon unchanged (docker pull/push need it); Proxy-Authorization is
    // hop-by-hop and is not forwarded.
    let raw = format!(
        "GET /v1.41/images/json HTTP/1.1\r\nHost: localhost\r\n{}Connection: close\r\n\r\n",
        spoof_headers()
    );
    let resp = over_tls(&serve, Some(&bob), &raw).await.unwrap();
    assert_eq!(status_of(&resp), 200, "{resp}");
    let seen = serve.rec.requests();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!(
        seen[0].header_values("x-registry-auth"),
        ["eyJ1c2VybmFtZSI6ImJvYiJ9"]
    );
    assert!(
        seen[0].header_values("proxy-authorization").is_empty(),
        "{}",
        seen[0].head
    );
    // Report what else passes through (no documented stripping of these headers; the
    // daemon does not read them, an authz plugin behind it might).
    let forwarded: Vec<&str> = SPOOF
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| !seen[0].header_values(k).is_empty())
        .collect();
    eprintln!("client-set identity-like headers forwarded to the daemon: {forwarded:?}");

    // The audit trail names the certificate's identity and the policy it selected.
    let audited = serve.audit_at_least(3).await;
    let who: Vec<(String, String, String)> = audited
        .iter()
        .map(|r| {
            (
                r["identity"].as_str().unwrap_or("").to_string(),
                r["policy"].as_str().unwrap_or("").to_string(),
                r["decision"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let want = [
        ("alice", "admins", "allow"),
        ("bob", "default", "deny"),
        ("bob", "default", "allow"),
    ]
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
    assert_eq!(who, want, "{audited:#?}");
}

// ---------------------------------------------------------------------------
// (6): private keys never logged
// ---------------------------------------------------------------------------

/// Every way key material could show up in a log line.
fn key_fingerprints(label: &str, pem: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let body: Vec<&str> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.is_empty())
        .collect();
    for line in &body {
        // Each base64 line of the PEM (at least 40 characters: the last one may be
        // short enough to occur by chance).
        if line.len() >= 40 {
            out.push((format!("{label}: PEM line"), line.to_string()));
        }
    }
    let der = rustls_pemfile::private_key(&mut pem.as_bytes())
        .unwrap()
        .unwrap();
    let der = der.secret_der();
    // The private scalar of the EC key (rcgen's default, ECDSA P-256): in the SEC1
    // ECPrivateKey inside the PKCS#8, `INTEGER 1, OCTET STRING (32)`. (The public key
    // that follows it is public: it is in the certificate, which rustls logs at trace.)
    let at = der
        .windows(5)
        .position(|w| w == [0x02, 0x01, 0x01, 0x04, 0x20])
        .unwrap_or_else(|| panic!("{label}: not an EC P-256 key"));
    let scalar = &der[at + 5..at + 5 + 32];
    // Any 16-byte window of it, in hex (both cases) and as a Rust byte list.
    for start in [0, 8, 16] {
        let w = &scalar[start..start + 16];
        let hex: String = w.iter().map(|b| format!("{b:02x}")).collect();
        out.push((format!("{label}: hex"), hex.clone()));
        out.push((format!("{label}: HEX"), hex.to_uppercase()));
        let list = format!("{w:?}");
        out.push((
            format!("{label}: byte list"),
            list.trim_matches(|c| c == '[' || c == ']').to_string(),
        ));
    }
    out
}

#[tokio::test]
async fn private_keys_never_reach_the_logs() {
    for format in ["text", "json"] {
        let default_policy = default_policy();
        let serve = Serve::start(
            &[
                ("admins.toml", ADMINS_POLICY),
                ("default.toml", &default_policy),
            ],
            &["--log-format", format],
            &[("RUST_LOG", "trace")],
        )
        .await;
        let alice = serve.pki.client("alice", Validity::Current);
        let bob = serve.pki.client("bob", Validity::Current);

        // A full cycle: allowed, denied, refused handshakes, a reload of policies and
        // certificates (which reads the server key again), and a request after it.
        let resp = over_tls(&serve, Some(&alice), &create(&spoof_headers(), PRIV))
            .await
            .unwrap();
        assert_eq!(status_of(&resp), 200, "{resp}");
        let resp = over_tls(&serve, Some(&bob), &create(&spoof_headers(), PRIV))
            .await
            .unwrap();
        assert_eq!(status_of(&resp), 403, "{resp}");
        let expired = serve.pki.client("bob", Validity::Expired);
        assert!(over_tls(&serve, Some(&expired), &ping()).await.is_err());
        assert!(over_tls(&serve, None, &ping()).await.is_err());
        // SIGHUP reloads the changed policy and re-reads the certificates and key.
        fs::write(
            serve.dir().join("policies/admins.toml"),
            ADMINS_POLICY.replace("alice may", "alice still may"),
        )
        .unwrap();
        serve.signal("-HUP");
        serve.wait_log("policies reloaded", 1).await;
        serve.wait_log("TLS certificates reloaded", 1).await;
        let resp = over_tls(&serve, Some(&alice), &ping()).await.unwrap();
        assert_eq!(status_of(&resp), 200, "{resp}");
        // A broken key on reload is reported, and must not be echoed either.
        fs::write(
            &serve.pki.server_key,
            serve.pki.server_key_pem.replace("MI", "M!"),
        )
        .unwrap();
        serve.signal("-HUP");
        serve.wait_log("certificate reload rejected", 1).await;

        let mut logs = serve.log();
        logs.push_str(&fs::read_to_string(&serve.audit_path).unwrap_or_default());
        assert!(
            logs.contains("TRACE") || logs.contains("\"level\":\"TRACE\""),
            "{format}: trace logging was not on:\n{}",
            tail(&logs, 20)
        );
        assert!(
            !logs.contains("PRIVATE KEY"),
            "{format}: a PEM private key header was logged"
        );
        let mut secrets = key_fingerprints("server key", &serve.pki.server_key_pem);
        secrets.extend(key_fingerprints("CA key", &serve.pki.ca_key_pem));
        secrets.extend(key_fingerprints("alice's key", &alice.key_pem));
        secrets.extend(key_fingerprints("bob's key", &bob.key_pem));
        // Registry credentials and bearer tokens are secrets too.
        secrets.push(("X-Registry-Auth".into(), "eyJ1c2VybmFtZSI6ImJvYiJ9".into()));
        secrets.push(("Authorization".into(), "Bearer alice".into()));
        secrets.push(("Proxy-Authorization".into(), "YWxpY2U6eA==".into()));
        for (what, needle) in &secrets {
            assert!(
                !logs.contains(needle.as_str()),
                "{format}: {what} material appears in the logs: {needle}"
            );
        }
    }
}
