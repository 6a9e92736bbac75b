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

use crate::common::certs::{ClientId, TestCerts, Validity, CA_NAME};
use crate::common::command::tail_lines;
use crate::common::fake_daemon::{self, Record};
use crate::common::processes::Proxy;
use crate::common::wire::{exchange_tls, status_of};

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Upper bound for any single network wait.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for the proxy to start or to log something.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Denied by the default policy (PC-1001), allowed by the `admins` policy below.
const PRIV: &str = r#"{"Image":"x","HostConfig":{"Privileged":true}}"#;

// ---------------------------------------------------------------------------
// The proxy: the real binary
// ---------------------------------------------------------------------------

struct Serve {
    proxy: Proxy,
    addr: String,
    audit_path: PathBuf,
    rec: Record,
    pki: TestCerts,
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
        let pki = TestCerts::generate(&d.join("certs"), "alice");
        let sock = d.join("d.sock");
        let rec = Record::default();
        fake_daemon::spawn(&sock, rec.clone(), fake_daemon::docker_like);
        let audit_path = d.join("audit.log");
        let audit_arg = audit_path.to_string_lossy().into_owned();
        let mut args = vec!["--admin-listen", "off", "--audit-log", &audit_arg];
        args.extend(["--watch-interval-secs", "0"]);
        args.extend(extra);
        let pdir = d.join("policies");
        if !policy.is_empty() {
            fs::create_dir_all(&pdir).unwrap();
            for (name, text) in policy {
                fs::write(pdir.join(name), text).unwrap();
            }
        }
        let mut vars = vec![("RUST_LOG", "info")];
        vars.extend(env);
        let policy_dir = (!policy.is_empty()).then_some(pdir.as_path());
        let proxy = Proxy::start_env(&sock, &pki, policy_dir, &args, &vars);
        Serve {
            addr: proxy.addr.clone(),
            proxy,
            audit_path,
            rec,
            pki,
            dir,
        }
    }

    fn log(&self) -> String {
        self.proxy.log()
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
                tail_lines(&self.log(), 40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn signal(&self, sig: &str) {
        self.proxy.signal(sig);
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

// ---------------------------------------------------------------------------
// The TLS client
// ---------------------------------------------------------------------------

/// Send `raw` (which should carry `Connection: close`) over mutual TLS and read the
/// whole answer. `Err` says where it failed: the handshake, the write or the read.
async fn over_tls(serve: &Serve, client: Option<&ClientId>, raw: &str) -> Result<String, String> {
    exchange_tls(&serve.addr, &serve.pki.ca_pem, client, raw, IO_TIMEOUT).await
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
            Some(serve.pki.rogue_client("alice", CA_NAME)),
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
    // The policy's lookup of the image (the working directory it gives), then the create.
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert!(seen[0].line().starts_with("GET /images/"), "{seen:#?}");
    // The checked body, stamped with the certificate's tenant (policies without a
    // [tenants] table isolate tenants by common name).
    let forwarded: serde_json::Value = serde_json::from_slice(&seen[1].body).unwrap();
    let mut want = serde_json::from_str::<serde_json::Value>(PRIV).unwrap();
    want["Labels"] = serde_json::json!({"io.portcullis.owner": "alice"});
    assert_eq!(forwarded, want);
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
            tail_lines(&logs, 20)
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
