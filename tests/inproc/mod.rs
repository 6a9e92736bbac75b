//! Portcullis in-process for the raw-socket tests: the real server and proxy state, plain
//! TCP on 127.0.0.1:0, the built-in default policy and default limits, in front of a
//! fake daemon's unix socket.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use portcullis::policy::PolicySet;
use portcullis::proxy::{upstream, Limits, ProxyState};
use portcullis::server::{ListenAddr, Server, ServerOptions};

/// Start serving in front of `daemon_socket`; returns `127.0.0.1:PORT`.
pub async fn serve_plain(daemon_socket: PathBuf) -> String {
    let connector = upstream::Connector::new(
        upstream::UpstreamAddr::Unix(daemon_socket),
        Duration::from_secs(2),
    );
    let state = Arc::new(ProxyState::new(
        connector,
        PolicySet::builtin(),
        Limits::default(),
    ));
    let opts = ServerOptions {
        tls: None,
        mtls: false,
        handshake_timeout: Duration::from_secs(5),
        header_timeout: Duration::from_secs(5),
        grace_period: Duration::from_secs(1),
        max_connections: 64,
    };
    let server = Server::bind(&[ListenAddr::Tcp("127.0.0.1:0".into())], state, opts)
        .await
        .expect("bind 127.0.0.1:0");
    let addr = server.local_urls()[0]
        .trim_start_matches("tcp://")
        .to_string();
    tokio::spawn(server.run(std::future::pending()));
    addr
}
