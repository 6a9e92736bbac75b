//! The admin listener (loopback by default): `GET /metrics` (Prometheus text),
//! `GET /healthz` (the process is up) and `GET /readyz` (the daemon answers `_ping` and
//! a policy is loaded).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::proxy::ProxyState;

/// Serve the admin endpoints on a bound listener, forever.
pub async fn serve(listener: TcpListener, state: Arc<ProxyState>) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| respond(state.clone(), req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(sock), svc)
                .await;
        });
    }
}

fn text(status: StatusCode, body: String, ct: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, ct)
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

/// Whether the daemon answers `GET /_ping` with 200 within two seconds.
pub async fn daemon_ready(state: &ProxyState) -> Result<(), String> {
    let check = async {
        let mut s = state
            .connector
            .connect()
            .await
            .map_err(|e| format!("cannot reach the daemon: {e}"))?;
        s.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
        if buf[..n].starts_with(b"HTTP/1.1 200") || buf[..n].starts_with(b"HTTP/1.0 200") {
            Ok(())
        } else {
            Err(format!(
                "daemon answered _ping with {:?}",
                String::from_utf8_lossy(&buf[..n.min(20)])
            ))
        }
    };
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(r) => r,
        Err(_) => Err("daemon did not answer _ping within 2s".into()),
    }
}

async fn respond(
    state: Arc<ProxyState>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "GET only\n".into(),
            "text/plain",
        ));
    }
    Ok(match req.uri().path() {
        "/metrics" => text(
            StatusCode::OK,
            state
                .observers
                .metrics
                .render(state.connections.live(), state.sessions.live()),
            "text/plain; version=0.0.4",
        ),
        "/healthz" => text(StatusCode::OK, "ok\n".into(), "text/plain"),
        "/readyz" => {
            let policies = state.policies();
            match daemon_ready(&state).await {
                Ok(()) if !policies.policies.is_empty() => {
                    text(StatusCode::OK, "ready\n".into(), "text/plain")
                }
                Ok(()) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no policy loaded\n".into(),
                    "text/plain",
                ),
                Err(e) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: {e}\n"),
                    "text/plain",
                ),
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "admin endpoints: /metrics /healthz /readyz\n".into(),
            "text/plain",
        ),
    })
}
