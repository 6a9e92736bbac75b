//! The pure request path without sockets: canonicalise, classify, read the body the
//! Go-exact way, decide. Used by `portcullis policy explain`, the benches and the
//! table-driven tests; the proxy runs the same steps around its I/O.

use http::{HeaderMap, Method};

use super::{Decision, Facts, Lookup, PolicySet, RequestView};
use crate::docker::json::{self, Json};
use crate::docker::route::{classify, BodyKind, Operation};
use crate::docker::{path, query};
use crate::tls::Identity;

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
        /// Daemon facts the proxy would fetch (absent ones were taken as not existing).
        lookups: Vec<Lookup>,
        /// The body forwarded upstream, when inspected.
        body: Option<Json<'b>>,
    },
}

/// Check a request target (`/v1.41/containers/create?name=x`) and optional body.
pub fn check<'b>(
    set: &PolicySet,
    identity: &Identity,
    method: &Method,
    target: &str,
    body: Option<&'b [u8]>,
    facts: &Facts,
) -> Outcome<'b> {
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let canonical = match path::canonicalise(raw_path) {
        Ok(c) => c,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    let q = match query::Query::parse(raw_query) {
        Ok(q) => q,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    let op = classify(method, &canonical.path);
    let body_bytes = body.filter(|b| b.iter().any(|c| !c.is_ascii_whitespace()));
    let value = match (body_bytes, op.kind.body()) {
        (None, _) => None,
        (Some(b), BodyKind::Json(schema)) => match json::read_body(b, schema) {
            Ok(v) => Some(v),
            Err(e) => return Outcome::Refused(format!("request body: {e}")),
        },
        (Some(_), BodyKind::None) => {
            return Outcome::Refused(format!("{} takes no request body", op.kind.name()))
        }
        (Some(_), BodyKind::Binary) => None,
    };
    let policy = set.for_identity(identity);
    let headers = HeaderMap::new();
    let view = RequestView {
        identity,
        method,
        version: canonical.version,
        op: &op,
        query: &q,
        body: value.as_ref(),
        headers: &headers,
    };
    let (decision, lookups) = policy.assess(&view, facts);
    Outcome::Decided {
        policy: policy.name.clone(),
        op,
        decision,
        lookups,
        body: value,
    }
}
