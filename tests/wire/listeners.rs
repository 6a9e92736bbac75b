//! Identity without TLS, in-process over real unix sockets in front of a fake daemon:
//!
//! * two listeners bound to two policies (`?policy=traefik` and the default) decide
//!   the same request differently, and a bound policy beats an `[identities]` match;
//! * a unix client is identified by its peer credentials: the test process's own uid
//!   matches `uids = [<uid>]`, and the audit record carries its uid, gid and pid.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use portcullis::audit::AuditSink;
use portcullis::policy::PolicySet;
use portcullis::proxy::body::Observers;
use portcullis::proxy::{upstream, Limits, ProxyState};
use portcullis::server::{Listen, Server, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::common::fake_daemon::{self, Record};
use crate::common::wire::status_of;

const IO_TIMEOUT: Duration = Duration::from_secs(10);
const IMAGES: &str = "GET /v1.43/images/json HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n";

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// Portcullis serving `listen` (entries as `--listen` takes them, relative socket names
/// under the temporary directory) with `policies`, in front of a fake daemon.
struct Served {
    dir: tempfile::TempDir,
    rec: Record,
    audit: PathBuf,
}

impl Served {
    async fn start(policies: &[PathBuf], listen: &[&str]) -> Served {
        let dir = tempfile::Builder::new()
            .prefix("pcl")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        let rec = Record::default();
        fake_daemon::spawn(&d.join("d.sock"), rec.clone(), fake_daemon::docker_like);
        let set = PolicySet::load(policies).expect("policies load");
        let listens: Vec<Listen> = listen
            .iter()
            .map(|l| Listen::parse(&format!("unix://{}/{l}", d.display())).unwrap())
            .collect();
        set.check_listener_policies(listens.iter().filter_map(|l| l.policy.as_deref()))
            .expect("listener policies are loaded");
        let audit = d.join("audit.log");
        let observers = Observers {
            metrics: Default::default(),
            audit: Some(AuditSink::file(audit.clone()).unwrap()),
        };
        let connector = upstream::Connector::new(
            upstream::UpstreamAddr::Unix(d.join("d.sock")),
            Duration::from_secs(2),
        );
        let state = Arc::new(ProxyState::with_observers(
            connector,
            set,
            Limits::default(),
            observers,
        ));
        let opts = ServerOptions {
            tls: None,
            mtls: false,
            handshake_timeout: Duration::from_secs(5),
            header_timeout: Duration::from_secs(5),
            grace_period: Duration::from_secs(1),
            max_connections: 64,
            workers: 1,
        };
        let server = Server::bind_listeners(&listens, state, opts)
            .await
            .expect("bind the unix listeners");
        tokio::spawn(server.run(std::future::pending()));
        Served { dir, rec, audit }
    }

    /// One request on a fresh connection to the socket `name`; the whole response.
    async fn ask(&self, name: &str, raw: &str) -> String {
        let path = self.dir.path().join(name);
        let mut s = tokio::time::timeout(IO_TIMEOUT, UnixStream::connect(&path))
            .await
            .expect("connect in time")
            .unwrap();
        s.write_all(raw.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        tokio::time::timeout(IO_TIMEOUT, s.read_to_end(&mut buf))
            .await
            .expect("response in time")
            .unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// The audit records, parsed, once `n` are written (a record is written when the
    /// response body is dropped, which may trail the client's last read slightly).
    async fn audit(&self, n: usize) -> Vec<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + IO_TIMEOUT;
        loop {
            let records: Vec<serde_json::Value> = std::fs::read_to_string(&self.audit)
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            if records.len() >= n || tokio::time::Instant::now() >= deadline {
                return records;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn listeners_bound_to_different_policies_decide_differently() {
    let served = Served::start(
        &[
            repo("policies/default.toml"),
            repo("policies/profiles/traefik.toml"),
        ],
        &[
            "traefik.sock?policy=traefik",
            "ci.sock",
            "ci-bound.sock?policy=default",
        ],
    )
    .await;

    // Traefik's read-only profile lists containers but not images (PC-0002).
    let refused = served.ask("traefik.sock", IMAGES).await;
    assert_eq!(status_of(&refused), 403, "{refused}");
    assert!(refused.contains("traefik"), "{refused}");
    assert!(
        served.rec.forwarded().is_empty(),
        "nothing reached the daemon"
    );
    let listed = served
        .ask(
            "traefik.sock",
            "GET /v1.43/containers/json HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n",
        )
        .await;
    assert_eq!(status_of(&listed), 200, "{listed}");

    // The same request on the unbound listener gets the default policy, as does the
    // listener that names it.
    for sock in ["ci.sock", "ci-bound.sock"] {
        let allowed = served.ask(sock, IMAGES).await;
        assert_eq!(status_of(&allowed), 200, "{sock}: {allowed}");
        assert!(
            allowed.contains("/images/json"),
            "{sock}: the daemon's echo: {allowed}"
        );
    }
    let policies: Vec<String> = served
        .audit(4)
        .await
        .iter()
        .map(|r| format!("{} {}", r["policy"].as_str().unwrap(), r["status"]))
        .collect();
    assert_eq!(
        policies,
        ["traefik 403", "traefik 200", "default 200", "default 200"]
    );
}

#[tokio::test]
async fn unix_peer_credentials_pick_the_policy_and_reach_the_audit() {
    let me = std::fs::metadata("/proc/self").unwrap();
    let (uid, gid) = (me.uid(), me.gid());
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("mine.toml");
    std::fs::write(
        &mine,
        format!("name = \"mine\"\n[identities]\nuids = [{uid}]\n[endpoints]\ndeny_groups = [\"image\"]\n"),
    )
    .unwrap();
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        format!(
            "name = \"other\"\n[identities]\nuids = [{}]\n",
            uid.wrapping_add(1)
        ),
    )
    .unwrap();
    let served = Served::start(
        &[repo("policies/default.toml"), other, mine],
        &["peer.sock", "bound.sock?policy=default"],
    )
    .await;

    // The uid matches `mine`, which refuses images; `other` names another uid.
    let refused = served.ask("peer.sock", IMAGES).await;
    assert_eq!(status_of(&refused), 403, "{refused}");
    assert!(refused.contains("mine"), "{refused}");
    // A listener-bound policy takes precedence over the uid match.
    let allowed = served.ask("bound.sock", IMAGES).await;
    assert_eq!(status_of(&allowed), 200, "{allowed}");

    let records = served.audit(2).await;
    assert_eq!(records.len(), 2, "{records:?}");
    for (r, policy) in records.iter().zip(["mine", "default"]) {
        assert_eq!(r["policy"], policy, "{r}");
        assert_eq!(r["uid"], uid, "{r}");
        assert_eq!(r["gid"], gid, "{r}");
        assert_eq!(r["pid"], std::process::id(), "{r}");
        assert_eq!(r["remote"], "unix", "{r}");
    }
}

/// `portcullis serve` refuses to start when a listener names a policy that is not
/// loaded, and lists the loaded ones.
#[test]
fn serve_refuses_a_listener_policy_that_is_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("unix://{}/p.sock?policy=traefk", dir.path().display());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["serve", "--listen", &listen, "--admin-listen", "off"])
        .args(["--insecure-no-tls", "--policy"])
        .arg(repo("policies/default.toml"))
        .arg("--policy")
        .arg(repo("policies/profiles/traefik.toml"))
        .env("XDG_DATA_HOME", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("\"traefk\"") && stderr.contains("loaded: default, traefik"),
        "{stderr}"
    );
    assert!(!dir.path().join("p.sock").exists(), "nothing was bound");
}
