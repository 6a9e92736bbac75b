//! The forward and respond phases: re-originate the checked request to the daemon
//! (Portcullis builds it; only end-to-end headers are copied), and hand the daemon's
//! answer back, switching protocols into a spliced session when the daemon does.

use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use hyper::upgrade::OnUpgrade;

use super::body::{empty_body, BoxError, ProxyBody};
use super::framing::end_to_end;
use super::record::RequestLog;
use super::{splice, ConnInfo, ProxyState, UPSTREAM_AUTHORITY};
use crate::error::{ClientBodyError, ClientError, DaemonError, ProxyError};
use crate::policy::pipeline::Target;

/// The request sent upstream, as the earlier phases left it.
pub struct Upstream<'a> {
    /// The client's request head (its method; its headers are in `headers`).
    pub parts: &'a Parts,
    /// The client's request headers, taken from `parts`.
    pub headers: http::HeaderMap,
    /// The (rewritten) target.
    pub target: &'a Target,
    /// The re-serialised inspected body, the client's streamed body, or none.
    pub body: Option<ProxyBody>,
    /// The body is the re-serialisation of an inspected JSON body.
    pub inspected: bool,
    /// The request upgrades the connection.
    pub upgrade: bool,
}

/// Send the request to the daemon and wait for its response head.
pub async fn forward(
    state: &Arc<ProxyState>,
    req: Upstream<'_>,
) -> Result<Response<Incoming>, ProxyError> {
    let uri = Uri::builder()
        .scheme("http")
        .authority(UPSTREAM_AUTHORITY)
        .path_and_query(req.target.upstream())
        .build()
        .map_err(|e| ProxyError::Internal(format!("cannot build the upstream URI: {e}")))?;
    let mut up = Request::builder()
        .method(req.parts.method.clone())
        .uri(uri)
        .version(Version::HTTP_11);
    let upgrade = req
        .upgrade
        .then(|| req.headers.get(header::UPGRADE).cloned())
        .flatten();
    let headers = up.headers_mut().expect("builder has no error yet");
    *headers = end_to_end(req.headers);
    if let Some(upgrade) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, upgrade);
    }
    if req.inspected {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    let up = up
        .body(req.body.unwrap_or_else(empty_body))
        .map_err(|e| ProxyError::Internal(format!("cannot build the upstream request: {e}")))?;
    let send = state.client().request(up);
    match state.limits.response_timeout {
        Some(t) => match tokio::time::timeout(t, send).await {
            Ok(r) => r,
            Err(_) => {
                return Err(
                    DaemonError::Timeout("the Docker daemon did not answer in time".into()).into(),
                )
            }
        },
        None => send.await,
    }
    .map_err(upstream_error)
}

/// Whose fault a failed upstream exchange is: the client's when its streamed body broke
/// off (a [`ClientBodyError`] among the sources), else the daemon's.
fn upstream_error(e: hyper_util::client::legacy::Error) -> ProxyError {
    use std::error::Error as _;
    let mut source = e.source();
    while let Some(s) = source {
        if s.downcast_ref::<ClientBodyError>().is_some() {
            return ClientError::BadRequest(format!("the request body broke off: {e}")).into();
        }
        source = s.source();
    }
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return DaemonError::Timeout(format!(
                    "the Docker daemon did not answer in time: {io}"
                ))
                .into();
            }
            return DaemonError::Unreachable(format!("cannot reach the Docker daemon: {io}"))
                .into();
        }
        source = s.source();
    }
    DaemonError::Unreachable(format!("cannot reach the Docker daemon: {e}")).into()
}

/// The respond phase: the daemon's answer as the client receives it. Today every
/// response passes through unchanged (end-to-end headers, streamed body); this is where
/// a response is filtered or rewritten (tenants' lists, inspect answers).
pub fn respond(
    state: &Arc<ProxyState>,
    conn: &Arc<ConnInfo>,
    method: &Method,
    mut resp: Response<Incoming>,
    client_upgrade: Option<OnUpgrade>,
    log: &mut RequestLog,
) -> Result<Response<ProxyBody>, ProxyError> {
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            return Err(DaemonError::Unreachable(
                "the daemon switched protocols on a request that did not ask for it".into(),
            )
            .into());
        };
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        let (rparts, _) = resp.into_parts();
        let mut out = Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
        if let Some(reason) = rparts.extensions.get::<hyper::ext::ReasonPhrase>() {
            out = out.extension(reason.clone());
        }
        *out.headers_mut().expect("builder has no error yet") = rparts.headers;
        let resp = out
            .body(empty_body())
            .map_err(|e| ProxyError::Internal(e.to_string()))?;
        log.status = 101;
        splice::spawn(
            state,
            conn.clone(),
            client_upgrade,
            upstream_upgrade,
            log.take(),
        );
        return Ok(resp);
    }

    let (rparts, rbody) = resp.into_parts();
    let mut out = Response::builder()
        .status(rparts.status)
        .version(Version::HTTP_11);
    if let Some(reason) = rparts.extensions.get::<hyper::ext::ReasonPhrase>() {
        out = out.extension(reason.clone());
    }
    let keep_length = rparts
        .headers
        .get(header::CONTENT_LENGTH)
        .filter(|cl| method == Method::HEAD || rbody.is_end_stream() && *cl != "0")
        .cloned();
    let headers = out.headers_mut().expect("builder has no error yet");
    *headers = end_to_end(rparts.headers);
    if let Some(cl) = keep_length {
        // HEAD (and bodiless) responses keep the daemon's Content-Length.
        headers.insert(header::CONTENT_LENGTH, cl);
    }
    out.body(rbody.map_err(BoxError::from).boxed_unsync())
        .map_err(|e| ProxyError::Internal(e.to_string()))
}

/// Largest answer read whole to be narrowed for a tenant (`/system/df`: one JSON
/// document listing images, containers and volumes; a network list).
pub const MAX_NARROWED_RESPONSE: usize = 16 << 20;

/// How a tenant's answer is narrowed in the respond phase ([`crate::tenant::respond`]).
pub enum Narrow {
    /// `/system/df`: to the tenant's own objects.
    SystemDf(crate::tenant::Tenant),
    /// A network list: the daemon's predefined networks matching the client's filters
    /// are fetched from this path and added.
    BuiltinNetworks(String),
}

/// Narrow a successful answer for a tenant ([`Narrow`]): read whole (capped), changed,
/// re-serialised. Other statuses pass unchanged.
pub fn narrow_response(
    state: Arc<ProxyState>,
    resp: Response<ProxyBody>,
    narrow: Narrow,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Response<ProxyBody>, ProxyError>> + Send>,
> {
    Box::pin(narrow_answer(state, resp, narrow))
}

async fn narrow_answer(
    state: Arc<ProxyState>,
    resp: Response<ProxyBody>,
    narrow: Narrow,
) -> Result<Response<ProxyBody>, ProxyError> {
    if resp.status() != StatusCode::OK {
        return Ok(resp);
    }
    let (mut parts, mut body) = resp.into_parts();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| DaemonError::Unreachable(format!("reading the daemon's answer: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > MAX_NARROWED_RESPONSE {
                return Err(DaemonError::Unreachable(format!(
                    "the daemon's answer is larger than {MAX_NARROWED_RESPONSE} bytes"
                ))
                .into());
            }
            bytes.extend_from_slice(&data);
        }
    }
    let mut value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| DaemonError::Unreachable(format!("the daemon's answer is not JSON: {e}")))?;
    match narrow {
        Narrow::SystemDf(tenant) => crate::tenant::respond::narrow_system_df(&mut value, &tenant),
        Narrow::BuiltinNetworks(path) => {
            if let Some(builtins) = super::facts::get_json(&state, &path, &[]).await? {
                crate::tenant::respond::add_builtin_networks(&mut value, builtins);
            }
        }
    }
    let out = serde_json::to_vec(&value)
        .map_err(|e| ProxyError::Internal(format!("cannot re-encode the answer: {e}")))?;
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(out.len()));
    Ok(Response::from_parts(parts, super::body::full_body(out)))
}
