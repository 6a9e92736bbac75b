//! The pure phases of the request path, with no I/O: **classify** (canonical path, API
//! version, query, typed operation), **inspect** (how the body is handled, the
//! Content-Encoding and Content-Type rules, the Go-exact JSON view), **decide** (the
//! policy, one round of the facts loop at a time) and **rewrite** (pin checked names to
//! the ids the lookups returned).
//!
//! The proxy runs these phases around its I/O (reading the body, fetching facts,
//! forwarding); [`check`] runs them on a request held in memory, for
//! `portcullis policy explain`, the benches, the fuzz targets and the table-driven
//! tests. There is no second copy: a request the two would treat differently is a bug
//! (`tests/wire/parity.rs` compares them).

use std::borrow::Cow;

use http::header::{self, HeaderMap, HeaderValue};
use http::Method;

use super::{Decision, Facts, Lookup, Mode, Policy, PolicySet, RequestView, Violation};
use crate::docker::json::{self, Json};
use crate::docker::path::{self, ApiVersion, CanonicalPath};
use crate::docker::query::Query;
use crate::docker::route::{classify as classify_route, BodyKind, OpKind, Operation};
use crate::docker::schema;
use crate::error::{ClientError, Denial, ProxyError};
use crate::tenant::Tenant;
use crate::tls::Identity;

/// The lowest API version accepted in a `/vX.Y` prefix unless configured otherwise.
pub const MIN_API: ApiVersion = ApiVersion::new(1, 24);

/// Rounds of lookups: the deepest chain is an exec, its container, the container that
/// one joins (`container:<x>`) or inherits volumes from, then their volumes.
pub const MAX_LOOKUP_ROUNDS: usize = 4;

// ---------------------------------------------------------------------------------
// classify

/// A classified request target: what the daemon will route, and the operation it is.
#[derive(Debug, Clone)]
pub struct Target {
    pub canonical: CanonicalPath,
    pub query: Query,
    pub op: Operation,
}

impl Target {
    /// The path and query sent upstream (after [`rewrite`], the pinned ones).
    pub fn upstream(&self) -> String {
        let mut out = self.canonical.to_upstream();
        if !self.query.is_empty() {
            out.push('?');
            out.push_str(&self.query.encode());
        }
        out
    }
}

/// Canonicalise the path, check its API version against `min_api`, parse the query
/// and classify the operation.
pub fn classify(
    method: &Method,
    raw_path: &str,
    raw_query: &str,
    min_api: ApiVersion,
) -> Result<Target, ClientError> {
    let canonical =
        path::canonicalise(raw_path).map_err(|e| ClientError::BadRequest(e.to_string()))?;
    if let Some(v) = canonical.version {
        if v < min_api {
            return Err(ClientError::BadRequest(format!(
                "API version {v} is too old: Portcullis accepts {min_api} and newer"
            )));
        }
    }
    let query = Query::parse(raw_query).map_err(|e| ClientError::BadRequest(e.to_string()))?;
    let op = classify_route(method, &canonical.path);
    Ok(Target {
        canonical,
        query,
        op,
    })
}

// ---------------------------------------------------------------------------------
// inspect

/// How a request body is handled, decided from the operation and headers before any
/// of it is read.
#[derive(Debug, Clone, Copy)]
pub enum BodyPlan {
    /// The route takes no body: whitespace is tolerated and dropped, anything else is
    /// refused ([`stray_body`]).
    Refuse,
    /// The policy reads the body: it is buffered (capped) and read as JSON
    /// ([`inspect`]); its re-serialisation is forwarded.
    Inspect(Option<&'static schema::Obj>),
    /// The policy never reads the body: it streams to the daemon as it came, with its
    /// `Content-Encoding` (the daemon decodes build contexts and tars itself).
    Stream,
}

/// The body plan for `op`. `Content-Encoding` is accepted only where the body streams:
/// where Portcullis must read the body, it would read other bytes than the daemon.
pub fn body_plan(op: &Operation, headers: &HeaderMap) -> Result<BodyPlan, ClientError> {
    let plan = match op.kind.body() {
        BodyKind::Binary => return Ok(BodyPlan::Stream),
        BodyKind::Json(schema) => BodyPlan::Inspect(schema),
        BodyKind::None => BodyPlan::Refuse,
    };
    if let Some(ce) = headers.get(header::CONTENT_ENCODING) {
        return Err(ClientError::BadRequest(format!(
            "Content-Encoding {:?} is not supported on {}: Portcullis reads this body, \
             send it uncompressed",
            String::from_utf8_lossy(ce.as_bytes()),
            op.kind.name()
        )));
    }
    Ok(plan)
}

/// Check one chunk of a body sent to a route that takes none: only whitespace passes.
pub fn stray_body(op: OpKind, chunk: &[u8]) -> Result<(), ClientError> {
    if chunk.iter().any(|b| !b.is_ascii_whitespace()) {
        return Err(ClientError::BadRequest(format!(
            "{} takes no request body",
            op.name()
        )));
    }
    Ok(())
}

/// The Go-exact view of an inspected body (`None`: no body, or only whitespace). A
/// body needs exactly one `Content-Type: application/json`.
pub fn inspect<'b>(
    schema: Option<&'static schema::Obj>,
    headers: &HeaderMap,
    bytes: &'b [u8],
) -> Result<Option<Json<'b>>, ClientError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    let mut cts = headers.get_all(header::CONTENT_TYPE).iter();
    let json_type = match (cts.next(), cts.next()) {
        (Some(ct), None) => media_type(ct) == "application/json",
        _ => false,
    };
    if !json_type {
        return Err(ClientError::BadRequest(
            "a JSON body needs exactly one \"Content-Type: application/json\" header".into(),
        ));
    }
    json::read_body(bytes, schema)
        .map(Some)
        .map_err(|e| ClientError::BadRequest(format!("request body: {e}")))
}

/// The media type of a Content-Type value as Go's `mime.ParseMediaType` reads it: the
/// part before the first `;`, whitespace-trimmed and lowercased. Header values are
/// plain ASCII by the time this is called (framing refuses others), where Go's Unicode
/// trimming and lowercasing agree with the ASCII ones.
pub fn media_type(v: &HeaderValue) -> String {
    let v = v.as_bytes();
    let base = v.split(|&b| b == b';').next().unwrap_or(&[]);
    String::from_utf8_lossy(base.trim_ascii()).to_ascii_lowercase()
}

// ---------------------------------------------------------------------------------
// decide

/// What the policy sees of a classified (and inspected) request.
pub fn view<'a>(
    identity: &'a Identity,
    method: &'a Method,
    headers: &'a HeaderMap,
    target: &'a Target,
    body: Option<&'a Json<'a>>,
) -> RequestView<'a> {
    RequestView {
        identity,
        method,
        version: target.canonical.version,
        op: &target.op,
        query: &target.query,
        body,
        headers,
    }
}

/// A decision taken before the body is read: a request to no known endpoint is denied
/// as such (PC-0001), whatever body it carries. `None`: decide after inspecting.
pub fn decide_early(policy: &Policy, view: &RequestView) -> Option<Decision> {
    if view.op.kind != OpKind::Unknown {
        return None;
    }
    match policy.assess(view, &Facts::default()).0 {
        d @ Decision::Deny(_) => Some(d),
        Decision::Allow(_) => None,
    }
}

/// What the decide phase needs next.
#[derive(Debug)]
pub enum Step {
    /// The decision, with every fact it needed.
    Decided(Decision),
    /// Facts to fetch from the daemon before asking again.
    Fetch(Vec<Lookup>),
}

/// The decide phase: the policy is asked, names the facts it lacks, is given them and
/// asked again, for at most [`MAX_LOOKUP_ROUNDS`] rounds of lookups.
pub struct Decide<'p> {
    policy: &'p Policy,
    rounds: usize,
}

impl<'p> Decide<'p> {
    pub fn new(policy: &'p Policy) -> Self {
        Decide { policy, rounds: 0 }
    }

    /// Ask the policy with the facts gathered so far. A policy still lacking facts
    /// after the last round denies when enforcing (facts never fetched must not count
    /// as absent); an auditing policy's last answer stands, with a warning.
    pub fn step(&mut self, view: &RequestView, facts: &Facts) -> Step {
        let (decision, mut need) = self.policy.assess(view, facts);
        let (tenancy, tenancy_need) =
            crate::tenant::guard::assess(&self.policy.tenancy, view, facts);
        for l in tenancy_need {
            if !need.contains(&l) {
                need.push(l);
            }
        }
        let decision = with_tenancy(self.policy.mode, decision, tenancy);
        let wanted: Vec<Lookup> = need.into_iter().filter(|l| !facts.has(l)).collect();
        if wanted.is_empty() {
            return Step::Decided(decision);
        }
        if self.rounds < MAX_LOOKUP_ROUNDS {
            self.rounds += 1;
            return Step::Fetch(wanted);
        }
        if self.policy.mode == Mode::Audit {
            tracing::warn!(
                unknown = ?wanted,
                "audit: the policy needed more than {MAX_LOOKUP_ROUNDS} rounds of lookups; deciding without them"
            );
            return Step::Decided(decision);
        }
        Step::Decided(Decision::Deny(vec![too_many_rounds(&wanted)]))
    }
}

/// The policy's decision with the tenant's violations. Another tenant's (or the
/// operator's) object is answered as a missing one: under an enforcing policy that
/// answer (PC-1041) stands alone, so no other rule tells that the object exists.
fn with_tenancy(mode: Mode, decision: Decision, tenancy: Vec<Violation>) -> Decision {
    if tenancy.is_empty() {
        return decision;
    }
    let allowed = matches!(decision, Decision::Allow(_));
    let (Decision::Allow(mut violations) | Decision::Deny(mut violations)) = decision;
    // Too many references is said once, by the host-access checks when both bounds hit.
    let bounded = |v: &Violation| v.rule == super::rules::TOO_MANY_REFERENCES;
    let tenancy: Vec<Violation> = if violations.iter().any(bounded) {
        tenancy.into_iter().filter(|v| !bounded(v)).collect()
    } else {
        tenancy
    };
    if tenancy.is_empty() {
        return match allowed {
            true => Decision::Allow(violations),
            false => Decision::Deny(violations),
        };
    }
    if mode == Mode::Audit {
        violations.extend(tenancy);
        return Decision::Allow(violations);
    }
    if let Some(hidden) = tenancy
        .iter()
        .find(|v| v.rule == super::rules::TENANT_HIDDEN)
    {
        return Decision::Deny(vec![hidden.clone()]);
    }
    violations.extend(tenancy);
    Decision::Deny(violations)
}

/// Whether a denial is the tenant's "no such object" (404, the daemon's own message).
pub fn hidden(decision: &Decision) -> Option<&str> {
    match decision {
        Decision::Deny(v) if v.len() == 1 && v[0].rule == super::rules::TENANT_HIDDEN => {
            Some(&v[0].message)
        }
        _ => None,
    }
}

/// PC-1028 when the facts loop does not settle.
fn too_many_rounds(wanted: &[Lookup]) -> Violation {
    Violation {
        rule: super::rules::TOO_MANY_REFERENCES,
        message: format!(
            "the policy needs more than {MAX_LOOKUP_ROUNDS} rounds of lookups at the daemon \
             to decide this request (still unknown: {wanted:?})"
        ),
    }
}

/// A denial as the client receives it; `Ok` for an allowed request. Another tenant's
/// object is answered 404 with the daemon's own message ([`hidden`]).
pub fn enforce(policy: &Policy, decision: &Decision) -> Result<(), ProxyError> {
    if let Some(message) = hidden(decision) {
        return Err(ProxyError::Hidden(message.to_string()));
    }
    match decision {
        Decision::Allow(_) => Ok(()),
        Decision::Deny(violations) => Err(Denial {
            message: super::denial_message(&policy.name, violations),
        }
        .into()),
    }
}

/// The tenant of a client under `policy`: `None` when isolation is off (or the client
/// has no tenant key, which the decide phase denies).
pub fn tenant(policy: &Policy, identity: &Identity) -> Option<Tenant> {
    policy.tenancy.tenant_of(identity).ok().flatten()
}

// ---------------------------------------------------------------------------------
// rewrite

/// Rewrite an allowed request into the one forwarded: the objects the policy checked
/// are named by the ids its lookups returned (path, query and body), so a rename
/// between the lookup and this request cannot point it elsewhere. A tenant's owner
/// label is stamped into what it creates and its owner filter added to its lists
/// ([`crate::tenant::guard::rewrite`]).
pub fn rewrite(
    target: &mut Target,
    mut body: Option<&mut Json<'_>>,
    facts: &Facts,
    tenant: Option<&Tenant>,
) {
    if let Some(pinned) = super::pin::path(&target.op, &target.canonical.path, facts) {
        target.canonical.path = pinned;
    }
    super::pin::query(target.op.kind, &mut target.query, facts);
    if let Some(value) = body.as_deref_mut() {
        super::pin::body(target.op.kind, value, facts);
    }
    if let Some(tenant) = tenant {
        crate::tenant::guard::rewrite(
            target.op.kind,
            target.op.target.as_deref(),
            &mut target.canonical.path,
            &mut target.query,
            body,
            facts,
            tenant,
        );
    }
}

// ---------------------------------------------------------------------------------
// the whole pure path

/// A request held in memory.
#[derive(Debug, Clone, Copy)]
pub struct Request<'r, 'b> {
    pub method: &'r Method,
    /// Path and query as sent (`/v1.41/containers/create?name=x`).
    pub target: &'r str,
    pub headers: &'r HeaderMap,
    pub body: Option<&'b [u8]>,
}

/// The result of checking one request.
#[derive(Debug)]
pub enum Outcome<'b> {
    /// Refused before the policy (400): malformed or ambiguous.
    Refused(String),
    /// Classified and decided.
    Decided {
        op: Operation,
        policy: String,
        decision: Decision,
        /// Daemon facts the proxy would fetch (those not given were taken as absent).
        lookups: Vec<Lookup>,
        /// The path and query forwarded upstream (pinned).
        upstream: String,
        /// The body forwarded upstream, when inspected (pinned).
        body: Option<Json<'b>>,
    },
}

/// Check a request target (`/v1.41/containers/create?name=x`) and optional body, sent
/// as a client would send it (`Content-Type: application/json` with a body), against
/// the default minimum API version.
pub fn check<'b>(
    set: &PolicySet,
    identity: &Identity,
    method: &Method,
    target: &str,
    body: Option<&'b [u8]>,
    facts: &Facts,
) -> Outcome<'b> {
    static JSON: std::sync::OnceLock<HeaderMap> = std::sync::OnceLock::new();
    static NONE: std::sync::OnceLock<HeaderMap> = std::sync::OnceLock::new();
    let headers = match body {
        Some(_) => JSON.get_or_init(|| {
            let mut h = HeaderMap::new();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h
        }),
        None => NONE.get_or_init(HeaderMap::new),
    };
    let req = Request {
        method,
        target,
        headers,
        body,
    };
    check_request(set, identity, &req, facts, MIN_API)
}

/// Run every pure phase on `req`, in the proxy's order. Lookups not answered in `facts`
/// are taken as absent objects.
pub fn check_request<'b>(
    set: &PolicySet,
    identity: &Identity,
    req: &Request<'_, 'b>,
    facts: &Facts,
    min_api: ApiVersion,
) -> Outcome<'b> {
    let (raw_path, raw_query) = req.target.split_once('?').unwrap_or((req.target, ""));
    let mut target = match classify(req.method, raw_path, raw_query, min_api) {
        Ok(t) => t,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    let policy = set.for_identity(identity);
    let decided = |target: Target, decision, lookups, body| Outcome::Decided {
        upstream: target.upstream(),
        op: target.op,
        policy: policy.name.clone(),
        decision,
        lookups,
        body,
    };
    if let Some(d) = decide_early(
        policy,
        &view(identity, req.method, req.headers, &target, None),
    ) {
        return decided(target, d, Vec::new(), None);
    }
    let bytes = req.body.unwrap_or_default();
    let mut value = match body_plan(&target.op, req.headers) {
        Err(e) => return Outcome::Refused(e.to_string()),
        Ok(BodyPlan::Stream) => None,
        Ok(BodyPlan::Refuse) => match stray_body(target.op.kind, bytes) {
            Ok(()) => None,
            Err(e) => return Outcome::Refused(e.to_string()),
        },
        Ok(BodyPlan::Inspect(schema)) => match inspect(schema, req.headers, bytes) {
            Ok(v) => v,
            Err(e) => return Outcome::Refused(e.to_string()),
        },
    };
    let mut facts = Cow::Borrowed(facts);
    let mut lookups = Vec::new();
    let mut decide = Decide::new(policy);
    let decision = loop {
        match decide.step(
            &view(identity, req.method, req.headers, &target, value.as_ref()),
            &facts,
        ) {
            Step::Decided(d) => break d,
            Step::Fetch(wanted) => {
                let f = facts.to_mut();
                for l in &wanted {
                    f.set_absent(l);
                }
                lookups.extend(wanted);
            }
        }
    };
    if matches!(decision, Decision::Allow(_)) {
        let tenant = tenant(policy, identity);
        rewrite(&mut target, value.as_mut(), &facts, tenant.as_ref());
    }
    decided(target, decision, lookups, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(method: &Method, t: &str) -> Target {
        let (p, q) = t.split_once('?').unwrap_or((t, ""));
        classify(method, p, q, MIN_API).unwrap()
    }

    /// Every route whose body streams unread (BodyKind::Binary).
    const BINARY_ROUTES: &[(&str, &str, OpKind)] = &[
        (
            "PUT",
            "/v1.41/containers/c1/archive?path=/tmp",
            OpKind::PutContainerArchive,
        ),
        ("POST", "/v1.41/images/load", OpKind::ImageLoad),
        (
            "POST",
            "/v1.41/images/create?fromSrc=-&repo=r",
            OpKind::ImageCreate,
        ),
        ("POST", "/v1.41/build?t=x", OpKind::Build),
        ("POST", "/v1.41/plugins/create?name=p", OpKind::PluginCreate),
    ];

    const ENCODINGS: &[&str] = &[
        "gzip",
        "x-gzip",
        "GZIP",
        "deflate",
        "br",
        "compress",
        "x-compress",
        "zstd",
        "identity",
        "gzip, identity",
        "bzip2",
        "",
    ];

    fn with_encoding(ce: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_str(ce).unwrap());
        h
    }

    #[test]
    fn content_encoding_streams_on_every_binary_route() {
        for (method, t, kind) in BINARY_ROUTES {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let target = target(&method, t);
            assert_eq!(target.op.kind, *kind, "{t}");
            assert!(matches!(target.op.kind.body(), BodyKind::Binary), "{t}");
            for ce in ENCODINGS {
                let plan = body_plan(&target.op, &with_encoding(ce));
                assert!(matches!(plan, Ok(BodyPlan::Stream)), "{t} {ce:?}: {plan:?}");
            }
        }
    }

    #[test]
    fn content_encoding_is_refused_where_the_body_is_read() {
        let read = [
            ("POST", "/v1.41/containers/create"),
            ("POST", "/v1.41/containers/c1/exec"),
            ("POST", "/v1.41/volumes/create"),
            ("POST", "/v1.41/containers/c1/start"),
            ("GET", "/v1.41/containers/json"),
        ];
        for (method, t) in read {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let target = target(&method, t);
            for ce in ENCODINGS {
                match body_plan(&target.op, &with_encoding(ce)) {
                    Err(ClientError::BadRequest(m)) => {
                        assert!(m.contains("send it uncompressed"), "{m}")
                    }
                    other => panic!("{t} {ce:?}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn unknown_endpoint_with_a_body_is_denied_as_unknown() {
        let set = PolicySet::builtin();
        let id = Identity::transport("mtls");
        for body in [&b"{\"x\":1}"[..], b"not json", b"  "] {
            match check(
                &set,
                &id,
                &Method::POST,
                "/v1.41/no/such/route",
                Some(body),
                &Facts::default(),
            ) {
                Outcome::Decided {
                    decision: Decision::Deny(v),
                    ..
                } => assert_eq!(v[0].rule, "PC-0001", "{v:?}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn classify_refuses_api_versions_below_the_minimum() {
        let e = classify(&Method::GET, "/v1.23/containers/json", "", MIN_API).unwrap_err();
        assert!(e.to_string().contains("too old"), "{e}");
        classify(&Method::GET, "/v1.24/containers/json", "", MIN_API).unwrap();
        classify(
            &Method::GET,
            "/v1.40/containers/json",
            "",
            ApiVersion::new(1, 41),
        )
        .unwrap_err();
    }

    #[test]
    fn an_inspected_body_needs_one_json_content_type() {
        let schema = Some(&schema::CONTAINER_CREATE);
        let body = br#"{"Image":"x"}"#;
        let mut h = HeaderMap::new();
        assert!(inspect(schema, &h, body).is_err());
        assert!(inspect(schema, &h, b" \n").unwrap().is_none());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert!(inspect(schema, &h, body).unwrap().is_some());
        h.append(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(inspect(schema, &h, body).is_err());
    }

    /// A facts loop that never settles denies with PC-1028 under an enforcing policy.
    #[test]
    fn decide_gives_up_after_the_last_round() {
        let set = PolicySet::builtin();
        let policy = &set.policies[0];
        let id = Identity::transport("mtls");
        let method = Method::POST;
        let headers = HeaderMap::new();
        let t = target(&method, "/v1.41/containers/c1/start");
        let mut decide = Decide::new(policy);
        let facts = Facts::default();
        let mut rounds = 0;
        let decision = loop {
            // The facts are never given: the policy keeps asking.
            match decide.step(&view(&id, &method, &headers, &t, None), &facts) {
                Step::Decided(d) => break d,
                Step::Fetch(w) => {
                    assert!(!w.is_empty());
                    rounds += 1;
                }
            }
        };
        assert_eq!(rounds, MAX_LOOKUP_ROUNDS);
        match decision {
            Decision::Deny(v) => assert_eq!(v[0].rule, "PC-1028"),
            other => panic!("{other:?}"),
        }
    }
}
