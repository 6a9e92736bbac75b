//! Portcullis in-process for the raw-socket suites: the real server and proxy state,
//! plain TCP on 127.0.0.1:0, the built-in default policy, in front of a unix socket in
//! a fresh temporary directory where a test puts its fake daemon.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use portcullis::policy::PolicySet;
use portcullis::proxy::body::Observers;
use portcullis::proxy::{upstream, Limits, ProxyState};
use portcullis::server::{ListenAddr, Server, ServerOptions};

use super::fake_daemon::{self, Answer, Record};
use super::wire::Seen;

/// Bind Portcullis in front of `daemon_socket` with the given drain grace period.
pub async fn bind_plain(daemon_socket: PathBuf, grace_period: Duration) -> (Server, String) {
    bind_with(
        daemon_socket,
        grace_period,
        Limits::default(),
        64,
        Observers::default(),
    )
    .await
}

/// Bind Portcullis in front of `daemon_socket` with the given grace period, limits,
/// connection limit and observers (audit sink).
pub async fn bind_with(
    daemon_socket: PathBuf,
    grace_period: Duration,
    limits: Limits,
    max_connections: usize,
    observers: Observers,
) -> (Server, String) {
    bind_with_policies(
        daemon_socket,
        grace_period,
        limits,
        max_connections,
        observers,
        PolicySet::builtin(),
    )
    .await
}

/// [`bind_with`] under the given policies instead of the built-in default.
pub async fn bind_with_policies(
    daemon_socket: PathBuf,
    grace_period: Duration,
    limits: Limits,
    max_connections: usize,
    observers: Observers,
    policies: PolicySet,
) -> (Server, String) {
    let connector = upstream::Connector::new(
        upstream::UpstreamAddr::Unix(daemon_socket),
        Duration::from_secs(2),
    );
    let state = Arc::new(ProxyState::with_observers(
        connector, policies, limits, observers,
    ));
    let opts = ServerOptions {
        tls: None,
        mtls: false,
        handshake_timeout: Duration::from_secs(5),
        header_timeout: Duration::from_secs(5),
        grace_period,
        max_connections,
        workers: 2,
    };
    let server = Server::bind(&[ListenAddr::Tcp("127.0.0.1:0".into())], state, opts)
        .await
        .expect("bind 127.0.0.1:0");
    let addr = server.local_urls()[0]
        .trim_start_matches("tcp://")
        .to_string();
    (server, addr)
}

/// Portcullis serving until the test's runtime ends, in front of `sock`.
pub struct InProc {
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// The daemon's socket: nothing listens there until a test starts a fake daemon.
    pub sock: PathBuf,
    /// What the fake daemon started by [`with_daemon`](Self::with_daemon) received.
    pub rec: Record,
    _dir: tempfile::TempDir,
}

impl InProc {
    /// Default limits, 64 connections, no observers, no daemon yet.
    pub async fn start() -> InProc {
        InProc::start_with(Limits::default(), 64, Observers::default()).await
    }

    /// The given limits, connection limit and observers (audit sink), no daemon yet.
    pub async fn start_with(
        limits: Limits,
        max_connections: usize,
        observers: Observers,
    ) -> InProc {
        let dir = tempfile::Builder::new()
            .prefix("pcw")
            .tempdir_in("/tmp")
            .unwrap();
        let sock = dir.path().join("d.sock");
        let (server, addr) = bind_with(
            sock.clone(),
            Duration::from_secs(1),
            limits,
            max_connections,
            observers,
        )
        .await;
        tokio::spawn(server.run(std::future::pending()));
        InProc {
            addr,
            sock,
            rec: Record::default(),
            _dir: dir,
        }
    }

    /// Start the fake daemon on [`sock`](Self::sock) with `script`, recording into
    /// [`rec`](Self::rec).
    pub fn with_daemon<S>(self, script: S) -> InProc
    where
        S: Fn(&Seen) -> Answer + Send + Sync + 'static,
    {
        fake_daemon::spawn(&self.sock, self.rec.clone(), script);
        self
    }
}
