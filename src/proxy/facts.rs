//! Facts the policy needs from the daemon: existing volumes (a named volume may be a
//! host bind in disguise) and containers (targets of `VolumesFrom`, `container:<id>`
//! namespaces, protected-container checks), resolved the way dockerd resolves names
//! and id prefixes, by asking it.

use std::collections::HashMap;
use std::sync::Arc;

use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};

use super::{empty_body, ProxyState, UPSTREAM_AUTHORITY};
use crate::error::ProxyError;
use crate::policy::{
    ContainerFacts, ExecFacts, Facts, ImageFacts, Lookup, NetworkFacts, ServiceFacts, VolumeFacts,
};

/// Rounds of lookups: the deepest chain is an exec, its container, the container that
/// one joins (`container:<x>`) or inherits volumes from, then their volumes.
const MAX_ROUNDS: usize = 4;

/// Ask the policy, fetch every fact it needs, and ask again (a few rounds: a
/// container's volumes may in turn need inspecting); the last answer is the one that
/// holds, returned with the facts it was given. `ask` returns its answer and the facts
/// it still lacks. A policy still lacking facts after the last round refuses when
/// `fail_closed` (an enforcing policy: facts never fetched must not count as absent);
/// an auditing policy's last answer stands, with a warning.
pub async fn gather<T>(
    state: &Arc<ProxyState>,
    fail_closed: bool,
    mut ask: impl FnMut(&Facts) -> (T, Vec<Lookup>),
) -> Result<(T, Facts), ProxyError> {
    let mut facts = Facts::default();
    let mut round = 0;
    loop {
        let (answer, need) = ask(&facts);
        let wanted: Vec<Lookup> = need.into_iter().filter(|l| !facts.has(l)).collect();
        if wanted.is_empty() {
            return Ok((answer, facts));
        }
        if round == MAX_ROUNDS && !fail_closed {
            tracing::warn!(
                unknown = ?wanted,
                "audit: the policy needed more than {MAX_ROUNDS} rounds of lookups; deciding without them"
            );
            return Ok((answer, facts));
        }
        if round == MAX_ROUNDS {
            return Err(ProxyError::Denied(format!(
                "{}: the policy needs more than {MAX_ROUNDS} rounds of lookups at the daemon to \
                 decide this request (still unknown: {wanted:?})",
                crate::policy::rules::TOO_MANY_REFERENCES
            )));
        }
        round += 1;
        for l in wanted {
            let f = &mut facts;
            match l {
                Lookup::Container(n) => {
                    let path = format!("/containers/{}/json", enc(&n));
                    fetch(
                        state,
                        path,
                        n,
                        &mut f.containers,
                        ContainerFacts::from_inspect,
                    )
                    .await?
                }
                Lookup::Service(n) => {
                    let path = format!("/services/{}", enc(&n));
                    fetch(state, path, n, &mut f.services, ServiceFacts::from_inspect).await?
                }
                Lookup::Network(n) => {
                    let path = format!("/networks/{}", enc(&n));
                    fetch(state, path, n, &mut f.networks, NetworkFacts::from_inspect).await?
                }
                Lookup::Exec(id) => {
                    let path = format!("/exec/{}/json", enc(&id));
                    fetch(state, path, id, &mut f.execs, ExecFacts::from_inspect).await?
                }
                Lookup::Volume(n) => {
                    let path = format!("/volumes/{}", enc(&n));
                    fetch(state, path, n, &mut f.volumes, VolumeFacts::from_inspect).await?
                }
                Lookup::Image(n) => {
                    let path = format!("/images/{}/json", enc(&n));
                    fetch(state, path, n, &mut f.images, ImageFacts::from_inspect).await?
                }
            }
        }
    }
}

/// Inspect one object at `path` and record under `key` what the policy reads of it
/// (`None`: the daemon has no such object).
async fn fetch<F>(
    state: &Arc<ProxyState>,
    path: String,
    key: String,
    into: &mut HashMap<String, Option<F>>,
    read: fn(&serde_json::Value) -> F,
) -> Result<(), ProxyError> {
    let v = inspect(state, &path).await?;
    into.insert(key, v.as_ref().map(read));
    Ok(())
}

fn enc(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn inspect(
    state: &Arc<ProxyState>,
    path: &str,
) -> Result<Option<serde_json::Value>, ProxyError> {
    let uri = Uri::builder()
        .scheme("http")
        .authority(UPSTREAM_AUTHORITY)
        .path_and_query(path)
        .build()
        .map_err(|e| ProxyError::BadRequest(e.to_string()))?;
    let req = Request::get(uri)
        .header(http::header::HOST, UPSTREAM_AUTHORITY)
        .body(empty_body())
        .map_err(|e| ProxyError::BadRequest(e.to_string()))?;
    let resp = state.client().request(req).await.map_err(|e| {
        ProxyError::UpstreamUnreachable(format!("cannot reach the Docker daemon: {e}"))
    })?;
    let status = resp.status();
    let body = Limited::new(resp.into_body(), 8 << 20)
        .collect()
        .await
        .map_err(|e| ProxyError::UpstreamUnreachable(format!("reading {path}: {e}")))?
        .to_bytes();
    if status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(ProxyError::UpstreamUnreachable(format!(
            "looking up {path} for the policy failed with {status}"
        )));
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| ProxyError::UpstreamUnreachable(format!("daemon answer to {path}: {e}")))
}
