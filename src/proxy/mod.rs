//! The per-request service: one request travels through named phases, in order
//!
//! ```text
//! framing -> classify -> inspect -> decide (facts loop) -> rewrite -> forward -> respond -> record
//! ```
//!
//! [`framing`], then the pure phases of [`crate::policy::pipeline`] (classify,
//! inspect, decide, rewrite: the same functions `policy explain`, the benches and the
//! fuzz targets run) with the I/O between them: reading the body the policy must see
//! ([`body`]), fetching the facts it asks for ([`facts`]); then [`forward`] (which
//! also holds the respond hook), and [`record`] once the response has ended. Bodies
//! that are not inspected stream in both directions; hijacked attach/exec sessions are
//! spliced with half-close kept ([`splice`]).

pub mod body;
pub mod facts;
pub mod forward;
pub mod framing;
pub mod record;
pub mod splice;
pub mod upstream;

use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::docker::json::Json;
use crate::docker::path::ApiVersion;
use crate::error::ProxyError;
use crate::policy::pipeline::{self, BodyPlan, Step};
use crate::policy::{Facts, PolicySet};
use crate::tls::Identity;
use body::LoggedBody;
pub use body::{empty_body, full_body, BoxError, ProxyBody};
use record::RequestLog;
use upstream::Connector;

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

/// The calling thread's server worker number (0 off the workers).
pub fn shard() -> usize {
    SHARD.with(|s| s.get())
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
    let processed = process(&state, &conn, req, &mut log).await;
    let processed = match processed {
        // The respond phase's narrowing of a tenant's /system/df and network lists.
        Ok((resp, Some(narrow))) => forward::narrow_response(state.clone(), resp, narrow).await,
        Ok((resp, None)) => Ok(resp),
        Err(e) => Err(e),
    };
    let resp = match processed {
        Ok(resp) => resp,
        Err(e) => {
            log.failed(&e);
            e.into_response()
                .map(|b| b.map_err(|never: Infallible| match never {}).boxed_unsync())
        }
    };
    log.status = resp.status().as_u16();
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        // The splice task records the session when it ends.
        return Ok(resp);
    }
    // Record: when the response body has ended (or is dropped).
    let (parts, body) = resp.into_parts();
    Ok(Response::from_parts(
        parts,
        LoggedBody::new(body, log).boxed_unsync(),
    ))
}

/// The phases, in order; see the module documentation.
async fn process(
    state: &Arc<ProxyState>,
    conn: &Arc<ConnInfo>,
    mut req: Request<Incoming>,
    log: &mut RequestLog,
) -> Result<(Response<ProxyBody>, Option<forward::Narrow>), ProxyError> {
    // Framing.
    framing::check(&req)?;

    // Classify.
    let mut target = pipeline::classify(
        req.method(),
        req.uri().path(),
        req.uri().query().unwrap_or(""),
        state.limits.min_api,
    )?;
    log.op = target.op.kind.name();
    let upgrade = framing::upgrade(&req, &target.op)?;
    let policies = state.policies();
    let policy = policies.for_identity(&conn.identity);
    log.policy = policy.name.clone();
    let tenant = pipeline::tenant(policy, &conn.identity);
    log.tenant = tenant.as_ref().map(|t| t.as_str().to_string());
    let early = pipeline::view(&conn.identity, req.method(), req.headers(), &target, None);
    if let Some(decision) = pipeline::decide_early(policy, &early) {
        log.decided(&decision, policy);
        pipeline::enforce(policy, &decision)?;
    }

    // Inspect: read what the policy must see, stream the rest.
    let plan = pipeline::body_plan(&target.op, req.headers())?;
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let has_body = !req.body().is_end_stream();
    let (mut parts, body) = req.into_parts();
    let limits = &state.limits;
    // The inspected body's bytes, and the checked value that borrows from them.
    let inspected_bytes: Bytes;
    let mut inspected: Option<Json<'_>> = None;
    let mut streamed: Option<ProxyBody> = None;
    match plan {
        BodyPlan::Refuse if has_body => {
            let read = body::refuse_body(body, limits.max_body, target.op.kind);
            body::within_body_timeout(limits.body_timeout, read).await?;
        }
        BodyPlan::Refuse => {}
        BodyPlan::Inspect(schema) => {
            inspected_bytes = if has_body {
                let read = body::read_inspected(body, limits.max_body);
                body::within_body_timeout(limits.body_timeout, read).await?
            } else {
                Bytes::new()
            };
            inspected = pipeline::inspect(schema, &parts.headers, &inspected_bytes)?;
            if inspected.is_some() {
                // Until it is re-serialised (and on a denial) the client's bytes count.
                log.bytes_in = inspected_bytes.len() as u64;
            }
        }
        BodyPlan::Stream => streamed = has_body.then(|| body::client_stream(body)),
    }

    // Decide, fetching the facts the policy asks for.
    let mut decide = pipeline::Decide::new(policy);
    let mut facts = Facts::default();
    let decision = loop {
        let view = pipeline::view(
            &conn.identity,
            &parts.method,
            &parts.headers,
            &target,
            inspected.as_ref(),
        );
        match decide.step(&view, &facts) {
            Step::Decided(d) => break d,
            Step::Fetch(wanted) => {
                let t = std::time::Instant::now();
                let fetched = facts::fetch(state, wanted, &mut facts).await;
                log.facts += t.elapsed();
                fetched?
            }
        }
    };
    log.decided(&decision, policy);
    let enforced = pipeline::enforce(policy, &decision);
    if enforced.is_err() {
        // Read the refused streamed body first, so that the client sees the refusal.
        if let Some(refused) = streamed.take() {
            body::drain(refused, body::DRAIN_ON_REFUSAL, limits.body_timeout).await;
        }
    }
    enforced?;

    // Rewrite, then serialise the checked value once: it is what is forwarded, never
    // the client's bytes.
    // A tenant's network list also gets the predefined networks its filters match.
    let builtins = match (&tenant, target.op.kind) {
        (Some(_), crate::docker::route::OpKind::NetworkList) => {
            crate::tenant::respond::builtin_networks_query(&target.query)
        }
        _ => None,
    };
    pipeline::rewrite(&mut target, inspected.as_mut(), &facts, tenant.as_ref());
    let forward_body = match &inspected {
        Some(value) => {
            let out = serde_json::to_vec(value).map_err(|e| {
                ProxyError::Internal(format!("the request body cannot be re-encoded: {e}"))
            })?;
            log.bytes_in = out.len() as u64;
            Some(full_body(out))
        }
        None => streamed,
    };

    // Forward.
    let headers = std::mem::take(&mut parts.headers);
    let upstream = forward::Upstream {
        headers,
        parts: &parts,
        target: &target,
        body: forward_body,
        inspected: inspected.is_some(),
        upgrade,
    };
    log.forwarded = Some(std::time::Instant::now());
    let resp = forward::forward(state, upstream).await?;
    log.answered = Some(std::time::Instant::now());

    // Respond: a tenant's /system/df is narrowed to its own objects.
    let narrow_body = crate::tenant::scope::narrowing(target.op.kind)
        == crate::tenant::scope::Narrowing::ResponseBody;
    let narrow = match builtins {
        Some(q) => Some(forward::Narrow::BuiltinNetworks(format!(
            "{}?{}",
            target.canonical.to_upstream(),
            q.encode()
        ))),
        None if narrow_body => tenant.map(forward::Narrow::SystemDf),
        None => None,
    };
    let resp = forward::respond(state, conn, &parts.method, resp, client_upgrade, log)?;
    Ok((resp, narrow))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::route::OpKind;
    use crate::error::ClientError;
    use body::{read_inspected, refuse_body, within_body_timeout};
    use hyper::body::{Frame, SizeHint};
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::sync::atomic::AtomicUsize;
    use std::sync::atomic::Ordering;
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
        assert!(matches!(e, ClientError::PayloadTooLarge(_)), "{e:?}");
        assert_eq!(taken.load(Ordering::Relaxed), 4097);
        assert_eq!(live.peak.load(Ordering::SeqCst), 1);

        // An announced length over the cap is refused before anything is read.
        let mut body = Frames::new([b"{}".to_vec()]);
        body.announced = Some(4097);
        let taken = body.taken.clone();
        let e = read_inspected(body, 4096).await.unwrap_err();
        assert!(matches!(e, ClientError::PayloadTooLarge(_)), "{e:?}");
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
        let e = refuse_body(body, 1 << 20, OpKind::Ping).await.unwrap_err();
        assert!(
            matches!(&e, ClientError::BadRequest(m) if m == "Ping takes no request body"),
            "{e:?}"
        );
        assert_eq!(taken.load(Ordering::Relaxed), 2);

        let body = Frames::bytewise(&[b'\n'; 3000]);
        let live = body.live.clone();
        refuse_body(body, 4096, OpKind::Ping).await.unwrap();
        assert_eq!(live.peak.load(Ordering::SeqCst), 1);
        let e = refuse_body(Frames::bytewise(&[b'\n'; 3000]), 2048, OpKind::Ping)
            .await
            .unwrap_err();
        assert!(matches!(e, ClientError::PayloadTooLarge(_)), "{e:?}");
    }

    /// A refused streamed body is read to its end (so the client's write completes and
    /// it reads the refusal), but never past the cap.
    #[tokio::test]
    async fn a_refused_stream_is_drained_up_to_the_cap() {
        let frames = Frames::new((0..10).map(|_| vec![0u8; 100]));
        let taken = frames.taken.clone();
        body::drain(frames, 10_000, Duration::from_secs(5)).await;
        assert_eq!(taken.load(Ordering::Relaxed), 10);
        let frames = Frames::new((0..10).map(|_| vec![0u8; 100]));
        let taken = frames.taken.clone();
        body::drain(frames, 250, Duration::from_secs(5)).await;
        assert_eq!(taken.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn a_stalled_body_read_times_out() {
        let e = within_body_timeout::<()>(Duration::from_millis(10), std::future::pending())
            .await
            .unwrap_err();
        assert!(matches!(e, ClientError::RequestTimeout(_)), "{e:?}");
        assert_eq!(ProxyError::from(e).status(), StatusCode::REQUEST_TIMEOUT);
    }
}
