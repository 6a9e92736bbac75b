//! The per-request service: check framing, canonicalise, classify, read what the policy
//! must see, decide, and forward a request Portcullis built itself. Bodies that are not
//! inspected stream in both directions; hijacked attach/exec sessions are spliced with
//! half-close kept.

pub mod body;
pub mod facts;
pub mod splice;
pub mod upstream;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::docker::json::{self, Json};
use crate::docker::path::{canonicalise, ApiVersion};
use crate::docker::query::Query;
use crate::docker::route::{classify, BodyKind, OpKind};
use crate::error::ProxyError;
use crate::policy::{Decision, PolicySet, RequestView};
use crate::tls::Identity;
use body::{LoggedBody, RequestLog};
use upstream::Connector;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type of every request and response Portcullis sends.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

pub fn empty_body() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

pub fn full_body(b: impl Into<Bytes>) -> ProxyBody {
    Full::new(b.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Limits that apply to every request.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest JSON body read for inspection; above it the request is refused (413).
    pub max_body: usize,
    /// Lowest API version accepted in a `/vX.Y` prefix.
    pub min_api: ApiVersion,
    /// Time allowed for the daemon to answer with response headers (`None`: no limit,
    /// since `wait`, builds and pulls may legitimately take long).
    pub response_timeout: Option<Duration>,
    /// Time allowed for a client to send a body Portcullis reads before deciding
    /// (inspected JSON bodies, and the stray bytes on bodiless routes); then 408.
    /// Streamed bodies are not limited.
    pub body_timeout: Duration,
}

/// The defaults of `portcullis serve` (see [`crate::config::defaults`]).
impl Default for Limits {
    fn default() -> Self {
        use crate::config::defaults;
        Limits {
            max_body: defaults::MAX_BODY_BYTES,
            min_api: defaults::MIN_API_VERSION,
            response_timeout: None,
            body_timeout: Duration::from_secs(defaults::BODY_TIMEOUT_SECS),
        }
    }
}

/// State shared by every connection.
pub struct ProxyState {
    /// One keep-alive pool per server worker thread ([`set_shard`]), so a request and
    /// the upstream connection serving it stay on one thread.
    clients: Box<[Client<Connector, ProxyBody>]>,
    pub connector: Connector,
    pub policies: RwLock<Arc<PolicySet>>,
    pub limits: Limits,
    pub sessions: Arc<splice::Tracker>,
    /// Open client connections (the server enters it per connection).
    pub connections: Arc<splice::Tracker>,
    pub observers: Arc<body::Observers>,
}

impl ProxyState {
    pub fn new(connector: Connector, policies: PolicySet, limits: Limits) -> Self {
        Self::with_observers(connector, policies, limits, body::Observers::default())
    }

    pub fn with_observers(
        connector: Connector,
        policies: PolicySet,
        limits: Limits,
        observers: body::Observers,
    ) -> Self {
        ProxyState {
            clients: upstream_pools(&connector, 1),
            connector,
            policies: RwLock::new(Arc::new(policies)),
            limits,
            sessions: Arc::default(),
            connections: Arc::default(),
            observers: Arc::new(observers),
        }
    }

    /// Give each of `n` server worker threads its own upstream pool.
    pub fn shards(mut self, n: usize) -> Self {
        self.clients = upstream_pools(&self.connector, n);
        self
    }

    /// The upstream client of the calling worker thread.
    pub fn client(&self) -> &Client<Connector, ProxyBody> {
        let i = SHARD.with(|s| s.get());
        &self.clients[i % self.clients.len()]
    }

    pub fn policies(&self) -> Arc<PolicySet> {
        self.policies
            .read()
            .map(|p| p.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    pub fn set_policies(&self, p: PolicySet) {
        match self.policies.write() {
            Ok(mut g) => *g = Arc::new(p),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(p),
        }
    }
}

thread_local! {
    static SHARD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Mark the calling thread as server worker `i` (it then uses upstream pool `i`).
pub fn set_shard(i: usize) {
    SHARD.with(|s| s.set(i));
}

/// `n` keep-alive pools to the daemon, 64 idle connections in all.
fn upstream_pools(connector: &Connector, n: usize) -> Box<[Client<Connector, ProxyBody>]> {
    let n = n.max(1);
    (0..n)
        .map(|_| {
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(64usize.div_ceil(n))
                .build(connector.clone())
        })
        .collect()
}

/// Who is on the other end of a client connection.
#[derive(Debug)]
pub struct ConnInfo {
    pub identity: Arc<Identity>,
    pub remote: String,
    /// The connection's place under the connection limit; it is released when the
    /// last holder (the connection, or a hijacked session spliced from it) is gone.
    pub slot: Option<splice::TrackGuard>,
}

/// The URI authority used for upstream requests; the connector ignores it.
const UPSTREAM_AUTHORITY: &str = "docker";

/// Serve one request. Never fails: errors become Docker-shaped responses.
pub async fn handle(
    state: Arc<ProxyState>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let mut log = RequestLog::new(&conn, req.method(), req.uri(), state.observers.clone());
    let resp = match process(&state, &conn, req, &mut log).await {
        Ok(resp) => resp,
        Err(e) => {
            log.error = Some(e.message());
            log.upstream_error = matches!(
                e,
                ProxyError::UpstreamUnreachable(_) | ProxyError::UpstreamTimeout(_)
            );
            if let ProxyError::Denied(_) = e {
            } else if log.decision == "-" {
                log.decision = "refused";
            }
            e.into_response()
        }
    };
    log.status = resp.status().as_u16();
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        // The splice task logs the session when it ends.
        return Ok(resp);
    }
    let (parts, body) = resp.into_parts();
    Ok(Response::from_parts(
        parts,
        LoggedBody::new(body, log).boxed_unsync(),
    ))
}

/// Refuse framings on which two HTTP parsers could disagree (RFC 9112 §6).
fn check_framing(req: &Request<Incoming>) -> Result<(), ProxyError> {
    let h = req.headers();
    let te: Vec<_> = h.get_all(header::TRANSFER_ENCODING).iter().collect();
    let cl = h.get_all(header::CONTENT_LENGTH).iter().count();
    if !te.is_empty() {
        if req.version() == Version::HTTP_10 {
            return Err(ProxyError::BadRequest(
                "Transfer-Encoding is not allowed on HTTP/1.0".into(),
            ));
        }
        if cl > 0 {
            return Err(ProxyError::BadRequest(
                "both Transfer-Encoding and Content-Length given".into(),
            ));
        }
        let ok = te.len() == 1
            && te[0]
                .to_str()
                .map(|v| v.trim().eq_ignore_ascii_case("chunked"))
                .unwrap_or(false);
        if !ok {
            return Err(ProxyError::NotImplemented(
                "only \"Transfer-Encoding: chunked\" is supported".into(),
            ));
        }
    }
    if cl > 1 {
        return Err(ProxyError::BadRequest(
            "repeated Content-Length header".into(),
        ));
    }
    if h.contains_key(header::CONTENT_ENCODING) {
        return Err(ProxyError::BadRequest(
            "Content-Encoding is not supported: send the body uncompressed".into(),
        ));
    }
    // Header values are forwarded as they came, and the daemon reads several of them
    // (Content-Type, X-Registry-Auth, Upgrade, …). Go trims Unicode spaces such as
    // U+00A0 and U+0085 where Portcullis would see a different string, so only visible
    // ASCII, space and tab are accepted; the docker CLI, compose and the SDKs send
    // nothing else (X-Registry-Auth is base64).
    for (name, value) in h {
        if !is_plain_ascii(value.as_bytes()) {
            return Err(ProxyError::BadRequest(format!(
                "header {name} contains a byte outside visible ASCII: Portcullis accepts only ASCII header values"
            )));
        }
    }
    let mut content_types = h.get_all(header::CONTENT_TYPE).iter();
    if let Some(ct) = content_types.next() {
        if content_types.next().is_some() {
            return Err(ProxyError::BadRequest(
                "more than one Content-Type header: send exactly one".into(),
            ));
        }
        let media = media_type(ct);
        if media == "application/x-www-form-urlencoded" || media.starts_with("multipart/") {
            return Err(ProxyError::BadRequest(format!(
                "{media} bodies are not accepted: pass parameters in the query string"
            )));
        }
    }
    if req.uri().authority().is_some() || req.uri().scheme().is_some() {
        return Err(ProxyError::BadRequest(
            "absolute-form request targets are not accepted".into(),
        ));
    }
    Ok(())
}

/// Visible ASCII, space and horizontal tab only (no obs-text, no controls).
fn is_plain_ascii(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// The media type of a Content-Type value as Go's `mime.ParseMediaType` reads it: the
/// part before the first `;`, whitespace-trimmed and lowercased. Only called on values
/// [`check_framing`] found to be plain ASCII, where Go's Unicode trimming and
/// lowercasing agree with the ASCII ones.
fn media_type(v: &HeaderValue) -> String {
    let v = v.as_bytes();
    let base = v.split(|&b| b == b';').next().unwrap_or(&[]);
    String::from_utf8_lossy(base.trim_ascii()).to_ascii_lowercase()
}

fn may_have_body(req: &Request<Incoming>) -> bool {
    !req.body().is_end_stream()
}

/// The first allocation for an inspected body of announced length; it grows with
/// what actually arrives.
const FIRST_BODY_ALLOC: usize = 64 << 10;

fn body_too_large(cap: usize) -> ProxyError {
    ProxyError::PayloadTooLarge(format!(
        "request body is larger than the {cap} bytes Portcullis inspects"
    ))
}

fn body_read_error(e: impl std::fmt::Display) -> ProxyError {
    ProxyError::BadRequest(format!("could not read the request body: {e}"))
}

/// Run a body read under the body deadline.
async fn within_body_timeout<T>(
    limit: Duration,
    read: impl std::future::Future<Output = Result<T, ProxyError>>,
) -> Result<T, ProxyError> {
    match tokio::time::timeout(limit, read).await {
        Ok(r) => r,
        Err(_) => Err(ProxyError::RequestTimeout(format!(
            "the request body did not arrive within {} s",
            limit.as_secs_f64()
        ))),
    }
}

/// Read a body that is inspected into one buffer of at most `cap` bytes.
///
/// Each frame is copied out as it arrives and dropped: a frame is a slice of the
/// connection's read buffer, so keeping the frames (as `Limited::collect` does) would
/// pin one read buffer per chunk, and a body of millions of one-byte chunks would
/// hold hundreds of megabytes under a 4 MiB cap.
async fn read_inspected<B>(mut body: B, cap: usize) -> Result<Bytes, ProxyError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let announced = body.size_hint().lower();
    if announced > cap as u64 {
        return Err(body_too_large(cap));
    }
    let mut buf: Vec<u8> = Vec::with_capacity((announced as usize).min(FIRST_BODY_ALLOC));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(body_read_error)?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        if data.len() > cap - buf.len() {
            return Err(body_too_large(cap));
        }
        if data.len() > buf.capacity() - buf.len() {
            // Grow by doubling, never past the cap.
            let want = (buf.len() + data.len()).max(buf.capacity() * 2).min(cap);
            buf.reserve_exact(want - buf.len());
        }
        buf.extend_from_slice(data);
    }
    Ok(Bytes::from(buf))
}

/// Read what a client sent on a route that takes no body: only whitespace is
/// tolerated (and dropped), up to `cap` bytes; the first other byte refuses the
/// request without reading on. Nothing is kept.
async fn refuse_body<B>(mut body: B, cap: usize, op: &str) -> Result<(), ProxyError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(body_read_error)?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        if data.iter().any(|b| !b.is_ascii_whitespace()) {
            return Err(ProxyError::BadRequest(format!(
                "{op} takes no request body"
            )));
        }
        seen = seen.saturating_add(data.len());
        if seen > cap {
            return Err(body_too_large(cap));
        }
    }
    Ok(())
}

fn expected_upgrade(op: OpKind) -> &'static str {
    match op {
        OpKind::ContainerAttachWebsocket => "websocket",
        OpKind::Session | OpKind::Grpc => "h2c",
        _ => "tcp",
    }
}

/// Copy end-to-end headers (RFC 9110 §7.6.1 hop-by-hop ones and framing removed).
fn copy_end_to_end(src: &HeaderMap, dst: &mut HeaderMap, keep_upgrade: bool) {
    let mut connection_named: Vec<HeaderName> = Vec::new();
    for v in src.get_all(header::CONNECTION) {
        if let Ok(s) = v.to_str() {
            for t in s.split(',') {
                if let Ok(n) = HeaderName::from_bytes(t.trim().as_bytes()) {
                    connection_named.push(n);
                }
            }
        }
    }
    for (name, value) in src {
        let hop = matches!(
            name.as_str(),
            "connection"
                | "keep-alive"
                | "proxy-connection"
                | "te"
                | "trailer"
                | "transfer-encoding"
                | "upgrade"
                | "proxy-authenticate"
                | "proxy-authorization"
                | "content-length"
                | "expect"
        );
        if hop {
            continue;
        }
        if connection_named.contains(name) && !(keep_upgrade && name == header::UPGRADE) {
            continue;
        }
        dst.append(name.clone(), value.clone());
    }
}

async fn process(
    state: &Arc<ProxyState>,
    conn: &Arc<ConnInfo>,
    mut req: Request<Incoming>,
    log: &mut RequestLog,
) -> Result<Response<ProxyBody>, ProxyError> {
    check_framing(&req)?;
    let mut canonical =
        canonicalise(req.uri().path()).map_err(|e| ProxyError::BadRequest(e.to_string()))?;
    if let Some(v) = canonical.version {
        if v < state.limits.min_api {
            return Err(ProxyError::BadRequest(format!(
                "API version {v} is too old: Portcullis accepts {} and newer",
                state.limits.min_api
            )));
        }
    }
    let mut query = Query::parse(req.uri().query().unwrap_or(""))
        .map_err(|e| ProxyError::BadRequest(e.to_string()))?;
    let op = classify(req.method(), &canonical.path);
    log.op = op.kind.name();

    let wants_upgrade = req.headers().contains_key(header::UPGRADE);
    if wants_upgrade && op.kind.hijacks() && req.version() != Version::HTTP_11 {
        // RFC 9110 §7.8: Upgrade is an HTTP/1.1 mechanism; the server side could not
        // hand over an HTTP/1.0 connection, so the daemon must not start a session.
        return Err(ProxyError::BadRequest(format!(
            "{} needs HTTP/1.1 to upgrade the connection",
            op.kind.name()
        )));
    }
    if wants_upgrade && op.kind.hijacks() {
        let want = expected_upgrade(op.kind);
        let got = req.headers()[header::UPGRADE].to_str().unwrap_or("");
        if !got.eq_ignore_ascii_case(want) {
            return Err(ProxyError::BadRequest(format!(
                "{} upgrades to {want:?}, not {got:?}",
                op.kind.name()
            )));
        }
    }
    let upgrade = wants_upgrade && op.kind.hijacks();

    // Read what the policy must see.
    // The inspected body's bytes, and the checked value that borrows from them.
    let inspected_bytes: Bytes;
    let mut inspected: Option<Json<'_>> = None;
    let mut forward_body: Option<ProxyBody> = None;
    let client_upgrade = if upgrade {
        Some(hyper::upgrade::on(&mut req))
    } else {
        None
    };
    let has_body = may_have_body(&req);
    // Set when a streamed client body breaks off; only streamed bodies need it.
    let mut client_body_failed: Option<Arc<AtomicBool>> = None;
    let (parts, body) = req.into_parts();
    match op.kind.body() {
        BodyKind::None => {
            if has_body {
                within_body_timeout(
                    state.limits.body_timeout,
                    refuse_body(body, state.limits.max_body, op.kind.name()),
                )
                .await?;
            }
        }
        BodyKind::Json(schema) => {
            inspected_bytes = if has_body {
                within_body_timeout(
                    state.limits.body_timeout,
                    read_inspected(body, state.limits.max_body),
                )
                .await?
            } else {
                Bytes::new()
            };
            let bytes = &inspected_bytes;
            if !bytes.iter().all(|b| b.is_ascii_whitespace()) {
                let cts: Vec<_> = parts.headers.get_all(header::CONTENT_TYPE).iter().collect();
                if cts.len() != 1 || media_type(cts[0]) != "application/json" {
                    return Err(ProxyError::BadRequest(
                        "a JSON body needs exactly one \"Content-Type: application/json\" header"
                            .into(),
                    ));
                }
                let value = json::read_body(bytes, schema)
                    .map_err(|e| ProxyError::BadRequest(format!("request body: {e}")))?;
                // Serialised for forwarding once decided (and pinned), below; until
                // then (and for a denial) the log counts the client's bytes.
                log.bytes_in = bytes.len() as u64;
                inspected = Some(value);
            }
        }
        BodyKind::Binary => {
            if has_body {
                // Remember when the client's own stream breaks (bad chunking, reset), so
                // the failure is reported as the client's (400), not the daemon's (502).
                let failed = Arc::new(AtomicBool::new(false));
                client_body_failed = Some(failed.clone());
                forward_body = Some(
                    body.map_err(move |e| {
                        failed.store(true, Ordering::Relaxed);
                        BoxError::from(e)
                    })
                    .boxed_unsync(),
                );
            }
        }
    }

    // Decide.
    let policies = state.policies();
    let policy = policies.for_identity(&conn.identity);
    log.policy = policy.name.clone();
    let view = RequestView {
        identity: &conn.identity,
        method: &parts.method,
        version: canonical.version,
        op: &op,
        query: &query,
        body: inspected.as_ref(),
        headers: &parts.headers,
    };
    let enforcing = policy.mode == crate::policy::Mode::Enforce;
    let (decision, facts) = facts::gather(state, enforcing, |f| policy.assess(&view, f)).await?;
    log.record_decision(&decision, policy.mode_name());
    if let Decision::Deny(violations) = &decision {
        return Err(ProxyError::Denied(crate::policy::denial_message(
            &policy.name,
            violations,
        )));
    }
    // Name what was checked by the ids the lookups returned, so a rename between the
    // lookup and this request cannot point it elsewhere.
    if let Some(pinned) = crate::policy::pin::path(&op, &canonical.path, &facts) {
        canonical.path = pinned;
    }
    crate::policy::pin::query(op.kind, &mut query, &facts);
    // The checked (and pinned) value is what is forwarded, never the client's bytes.
    if let Some(value) = inspected.as_mut() {
        crate::policy::pin::body(op.kind, value, &facts);
        let out = serde_json::to_vec(value).map_err(|e| {
            ProxyError::BadRequest(format!("request body cannot be re-encoded: {e}"))
        })?;
        log.bytes_in = out.len() as u64;
        forward_body = Some(full_body(out));
    }

    // Re-originate the request.
    let mut path_and_query = canonical.to_upstream();
    if !query.is_empty() {
        path_and_query.push('?');
        path_and_query.push_str(&query.encode());
    }
    let uri = Uri::builder()
        .scheme("http")
        .authority(UPSTREAM_AUTHORITY)
        .path_and_query(path_and_query)
        .build()
        .map_err(|e| ProxyError::BadRequest(format!("cannot build upstream URI: {e}")))?;
    let mut up = Request::builder()
        .method(parts.method.clone())
        .uri(uri)
        .version(Version::HTTP_11);
    let headers = up.headers_mut().expect("builder has no error yet");
    copy_end_to_end(&parts.headers, headers, upgrade);
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, parts.headers[header::UPGRADE].clone());
    }
    if inspected.is_some() {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    let up = up
        .body(forward_body.unwrap_or_else(empty_body))
        .map_err(|e| ProxyError::BadRequest(format!("cannot build upstream request: {e}")))?;
    let send = state.client().request(up);
    let mut resp = match state.limits.response_timeout {
        Some(t) => match tokio::time::timeout(t, send).await {
            Ok(r) => r,
            Err(_) => {
                return Err(ProxyError::UpstreamTimeout(
                    "the Docker daemon did not answer in time".into(),
                ))
            }
        },
        None => send.await,
    }
    .map_err(|e| {
        if client_body_failed.is_some_and(|f| f.load(Ordering::Relaxed)) {
            ProxyError::BadRequest(format!("the request body broke off: {e}"))
        } else {
            upstream_error(e)
        }
    })?;

    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            return Err(ProxyError::UpstreamUnreachable(
                "the daemon switched protocols on a request that did not ask for it".into(),
            ));
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
            .map_err(|e| ProxyError::UpstreamUnreachable(e.to_string()))?;
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
    let headers = out.headers_mut().expect("builder has no error yet");
    copy_end_to_end(&rparts.headers, headers, false);
    if let Some(cl) = rparts.headers.get(header::CONTENT_LENGTH) {
        if parts.method == Method::HEAD || rbody.is_end_stream() && cl != "0" {
            // HEAD (and bodiless) responses keep the daemon's Content-Length.
            headers.insert(header::CONTENT_LENGTH, cl.clone());
        }
    }
    out.body(rbody.map_err(BoxError::from).boxed_unsync())
        .map_err(|e| ProxyError::UpstreamUnreachable(e.to_string()))
}

fn upstream_error(e: hyper_util::client::legacy::Error) -> ProxyError {
    use std::error::Error as _;
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return ProxyError::UpstreamTimeout(format!(
                    "the Docker daemon did not answer in time: {io}"
                ));
            }
            return ProxyError::UpstreamUnreachable(format!(
                "cannot reach the Docker daemon: {io}"
            ));
        }
        source = s.source();
    }
    ProxyError::UpstreamUnreachable(format!("cannot reach the Docker daemon: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::{Frame, SizeHint};
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::sync::atomic::AtomicUsize;
    use std::task::{Context, Poll};

    /// Frames handed out and not yet dropped, and the most there ever were.
    #[derive(Default)]
    struct Live {
        now: AtomicUsize,
        peak: AtomicUsize,
    }

    /// The memory behind one frame (hyper's frames are slices of the connection's read
    /// buffer, each keeping it alive); counted while it lives.
    struct TrackedChunk {
        data: Vec<u8>,
        live: Arc<Live>,
    }

    impl AsRef<[u8]> for TrackedChunk {
        fn as_ref(&self) -> &[u8] {
            &self.data
        }
    }

    impl Drop for TrackedChunk {
        fn drop(&mut self) {
            self.live.now.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// A request body made of given frames; counts the frames taken from it and
    /// those still alive.
    struct Frames {
        parts: VecDeque<Vec<u8>>,
        taken: Arc<AtomicUsize>,
        live: Arc<Live>,
        announced: Option<u64>,
    }

    impl Frames {
        fn new(parts: impl IntoIterator<Item = Vec<u8>>) -> Self {
            Frames {
                parts: parts.into_iter().collect(),
                taken: Arc::default(),
                live: Arc::default(),
                announced: None,
            }
        }

        /// `body` as one frame per byte (the chunks of `1\r\n \r\n` × n).
        fn bytewise(body: &[u8]) -> Self {
            Frames::new(body.iter().map(|&b| vec![b]))
        }
    }

    impl Body for Frames {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            let Some(data) = self.parts.pop_front() else {
                return Poll::Ready(None);
            };
            self.taken.fetch_add(1, Ordering::Relaxed);
            let now = self.live.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.live.peak.fetch_max(now, Ordering::SeqCst);
            let chunk = TrackedChunk {
                data,
                live: self.live.clone(),
            };
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_owner(chunk)))))
        }

        fn size_hint(&self) -> SizeHint {
            match self.announced {
                Some(n) => SizeHint::with_exact(n),
                None => SizeHint::default(),
            }
        }
    }

    /// The inspected body is copied out of each frame, which is dropped before the
    /// next is read: however many chunks a body comes in, no more than one read
    /// buffer is kept alive at a time.
    #[tokio::test]
    async fn inspected_frames_are_copied_not_kept() {
        let mut raw = br#"{"Image":"x"}"#.to_vec();
        raw.resize(100_000, b' ');
        let body = Frames::bytewise(&raw);
        let (taken, live) = (body.taken.clone(), body.live.clone());
        let got = read_inspected(body, 1 << 20).await.unwrap();
        assert_eq!(taken.load(Ordering::Relaxed), raw.len());
        assert_eq!(got, raw);
        assert_eq!(
            live.peak.load(Ordering::SeqCst),
            1,
            "frames were kept while the body was read"
        );
        assert_eq!(live.now.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn inspected_body_over_the_cap_is_refused() {
        let body = Frames::bytewise(&[b' '; 5000]);
        let (taken, live) = (body.taken.clone(), body.live.clone());
        let e = read_inspected(body, 4096).await.unwrap_err();
        assert!(matches!(e, ProxyError::PayloadTooLarge(_)), "{e:?}");
        assert_eq!(taken.load(Ordering::Relaxed), 4097);
        assert_eq!(live.peak.load(Ordering::SeqCst), 1);

        // An announced length over the cap is refused before anything is read.
        let mut body = Frames::new([b"{}".to_vec()]);
        body.announced = Some(4097);
        let taken = body.taken.clone();
        let e = read_inspected(body, 4096).await.unwrap_err();
        assert!(matches!(e, ProxyError::PayloadTooLarge(_)), "{e:?}");
        assert_eq!(taken.load(Ordering::Relaxed), 0);
    }

    /// On a bodiless route the first byte other than whitespace refuses the request
    /// without reading the rest, and whitespace is dropped as it comes.
    #[tokio::test]
    async fn bodiless_route_refuses_at_the_first_other_byte() {
        let mut parts = vec![b" ".to_vec(), b"\r\n x".to_vec()];
        parts.extend((0..1000).map(|_| b" ".to_vec()));
        let body = Frames::new(parts);
        let taken = body.taken.clone();
        let e = refuse_body(body, 1 << 20, "Ping").await.unwrap_err();
        assert!(
            matches!(&e, ProxyError::BadRequest(m) if m == "Ping takes no request body"),
            "{e:?}"
        );
        assert_eq!(taken.load(Ordering::Relaxed), 2);

        let body = Frames::bytewise(&[b'\n'; 3000]);
        let live = body.live.clone();
        refuse_body(body, 4096, "Ping").await.unwrap();
        assert_eq!(live.peak.load(Ordering::SeqCst), 1);
        let e = refuse_body(Frames::bytewise(&[b'\n'; 3000]), 2048, "Ping")
            .await
            .unwrap_err();
        assert!(matches!(e, ProxyError::PayloadTooLarge(_)), "{e:?}");
    }

    #[tokio::test]
    async fn a_stalled_body_read_times_out() {
        let e = within_body_timeout::<()>(Duration::from_millis(10), std::future::pending())
            .await
            .unwrap_err();
        assert!(matches!(e, ProxyError::RequestTimeout(_)), "{e:?}");
        assert_eq!(e.status(), StatusCode::REQUEST_TIMEOUT);
    }
}
