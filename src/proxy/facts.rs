//! Facts the policy needs from the daemon: existing volumes (a named volume may be a
//! host bind in disguise) and containers (targets of `VolumesFrom`, `container:<id>`
//! namespaces, protected-container checks), resolved the way dockerd resolves names
//! and id prefixes, by asking it. The decide phase ([`crate::policy::pipeline::Decide`])
//! names the lookups; this module performs them.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};

use super::body::empty_body;
use super::{ProxyState, UPSTREAM_AUTHORITY};
use crate::error::{DaemonError, ProxyError};
use crate::policy::{
    ContainerFacts, ExecFacts, Facts, ImageFacts, Lookup, NetworkFacts, OwnedFacts, ServiceFacts,
    VolumeFacts,
};
use crate::tenant::access::Kind;

/// Fetch the facts the decide phase asked for, one lookup after another.
pub async fn fetch(
    state: &Arc<ProxyState>,
    wanted: Vec<Lookup>,
    facts: &mut Facts,
) -> Result<(), ProxyError> {
    for l in wanted {
        let f = &mut *facts;
        match l {
            Lookup::Container(n) => {
                let path = format!("/containers/{}/json", enc(&n));
                fetch_one(
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
                fetch_one(state, path, n, &mut f.services, ServiceFacts::from_inspect).await?
            }
            Lookup::Network(n) => {
                let path = format!("/networks/{}", enc(&n));
                fetch_one(state, path, n, &mut f.networks, NetworkFacts::from_inspect).await?
            }
            Lookup::Exec(id) => {
                let path = format!("/exec/{}/json", enc(&id));
                fetch_one(state, path, id, &mut f.execs, ExecFacts::from_inspect).await?
            }
            Lookup::Volume(n) => {
                let path = format!("/volumes/{}", enc(&n));
                fetch_one(state, path, n, &mut f.volumes, VolumeFacts::from_inspect).await?
            }
            Lookup::Image(n) => {
                let path = format!("/images/{}/json", enc(&n));
                fetch_one(state, path, n, &mut f.images, ImageFacts::from_inspect).await?
            }
            Lookup::Owned(kind, n) => {
                let Some(path) = owned_path(kind, &n) else {
                    f.owned.insert((kind, n), None);
                    continue;
                };
                let v = inspect(state, &path).await?;
                let read = v.as_ref().map(|v| OwnedFacts::from_inspect(kind, v));
                f.owned.insert((kind, n), read);
            }
            Lookup::Count(kind, tenant) => {
                let count = count_owned(state, kind, &tenant).await?;
                f.counts.insert((kind, tenant), count);
            }
            Lookup::Usage(tenant) => {
                let usage = usage(state, &tenant).await?;
                f.usage.insert(tenant, Some(usage));
            }
            Lookup::ImageUsers(id) => {
                let users = image_users(state, &id).await?;
                f.image_users.insert(id, users);
            }
        }
    }
    Ok(())
}

/// Inspect one object at `path` and record under `key` what the policy reads of it
/// (`None`: the daemon has no such object).
async fn fetch_one<F>(
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

/// The `filters` query value that selects `tenant`'s objects.
fn owner_filter(tenant: &str) -> String {
    let label = format!("{}={tenant}", crate::tenant::OWNER_LABEL);
    enc(&serde_json::json!({ "label": { label: true } }).to_string())
}

/// How many containers (stopped ones included), volumes, networks or services the
/// daemon lists with `tenant`'s owner label. Containers count as
/// [`crate::tenant::quota::container_count`] defines: tasks of the tenant's replicated
/// services through their service's replica count.
async fn count_owned(
    state: &Arc<ProxyState>,
    kind: Kind,
    tenant: &str,
) -> Result<Option<usize>, ProxyError> {
    let (base, all) = match kind {
        Kind::Container => ("/containers/json", "all=1&"),
        Kind::Volume => ("/volumes", ""),
        Kind::Network => ("/networks", ""),
        Kind::Service => ("/services", ""),
        _ => return Ok(None),
    };
    let path = format!("{base}?{all}filters={}", owner_filter(tenant));
    let v = if kind == Kind::Service {
        services(state, &path).await?
    } else {
        inspect(state, &path).await?
    };
    let list = match (kind, &v) {
        (Kind::Volume, Some(v)) => v["Volumes"].as_array(),
        (_, Some(v)) => v.as_array(),
        _ => None,
    };
    if kind == Kind::Container {
        let path = format!("/services?filters={}", owner_filter(tenant));
        let svcs = services(state, &path).await?;
        let none = Vec::new();
        let svcs = svcs.as_ref().and_then(|v| v.as_array()).unwrap_or(&none);
        let ids = crate::tenant::quota::replicated(svcs);
        let tasks = tasks_of(state, &ids).await?;
        let tasks = tasks.as_ref().and_then(|v| v.as_array()).unwrap_or(&none);
        return Ok(Some(crate::tenant::quota::container_count(
            list.unwrap_or(&none),
            svcs,
            tasks,
        )));
    }
    Ok(Some(list.map_or(0, Vec::len)))
}

/// The tasks of the services `ids` (none for none: no request), whose status names
/// their containers.
async fn tasks_of(
    state: &Arc<ProxyState>,
    ids: &std::collections::HashSet<&str>,
) -> Result<Option<serde_json::Value>, ProxyError> {
    if ids.is_empty() {
        return Ok(None);
    }
    let by_id: serde_json::Map<String, serde_json::Value> = ids
        .iter()
        .map(|id| (id.to_string(), serde_json::Value::Bool(true)))
        .collect();
    let filters = serde_json::json!({ "service": by_id }).to_string();
    services(state, &format!("/tasks?filters={}", enc(&filters))).await
}

/// Container inspects in flight at once when counting a tenant's memory and CPUs.
const USAGE_INSPECTS: usize = 8;

/// The services the daemon lists at `path`; none when it is not a swarm manager (503).
async fn services(
    state: &Arc<ProxyState>,
    path: &str,
) -> Result<Option<serde_json::Value>, ProxyError> {
    get_json(
        state,
        path,
        &[StatusCode::NOT_FOUND, StatusCode::SERVICE_UNAVAILABLE],
    )
    .await
}

/// The memory and CPU limits `tenant`'s containers (all of them, stopped ones too;
/// swarm tasks are counted through their service) and services hold: one list of
/// services and one of their tasks, one list of containers, an inspect of each (the
/// list has no limits).
async fn usage(
    state: &Arc<ProxyState>,
    tenant: &str,
) -> Result<crate::tenant::quota::Usage, ProxyError> {
    use crate::tenant::quota;
    let filters = owner_filter(tenant);
    let mut usage = quota::Usage::default();
    // The tenant's services and their tasks first: only containers swarm reports as
    // tasks of one of them are left to their service (a swarm label proves nothing: it
    // can come from the client or from the image).
    let services = services(state, &format!("/services?filters={filters}")).await?;
    let services: &[serde_json::Value] = services
        .as_ref()
        .and_then(|v| v.as_array())
        .map_or(&[], Vec::as_slice);
    let service_ids: std::collections::HashSet<&str> =
        services.iter().filter_map(|s| s["ID"].as_str()).collect();
    let tasks = tasks_of(state, &service_ids).await?;
    let tasks: &[serde_json::Value] = tasks
        .as_ref()
        .and_then(|v| v.as_array())
        .map_or(&[], Vec::as_slice);
    let of_tasks = quota::task_containers(tasks, &service_ids);
    let list = inspect(state, &format!("/containers/json?all=1&filters={filters}")).await?;
    let paths: Vec<String> = list
        .as_ref()
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter(|c| !quota::task_of(c, &of_tasks))
        .filter_map(|c| c["Id"].as_str())
        .map(|id| format!("/containers/{}/json", enc(id)))
        .collect();
    // A few inspects at a time: the latency of a create under a quota grows with the
    // tenant's containers, this divides it.
    let mut answers = stream::iter(paths.into_iter().map(|p| {
        let state = Arc::clone(state);
        async move { inspect(&state, &p).await }
    }))
    .buffered(USAGE_INSPECTS);
    while let Some(v) = answers.next().await {
        // Removed since the list: holds nothing.
        if let Some(v) = v? {
            usage.containers.push(quota::container_held(&v));
        }
    }
    for s in services {
        let id = s["ID"].as_str().unwrap_or("");
        usage.services.push(quota::service_held(id, &s["Spec"]));
    }
    Ok(usage)
}

/// The owner label (`""` for none) and image name of every container, stopped ones
/// included, that runs the image `id` or an image built on it (the daemon's
/// `ancestor` filter).
async fn image_users(
    state: &Arc<ProxyState>,
    id: &str,
) -> Result<Option<Vec<(String, String)>>, ProxyError> {
    let filters = serde_json::json!({ "ancestor": { id: true } }).to_string();
    let path = format!("/containers/json?all=1&filters={}", enc(&filters));
    let v = inspect(state, &path).await?;
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let users: Vec<(String, String)> = v
        .as_ref()
        .and_then(|v| v.as_array())
        .map(|list| {
            list.iter()
                .map(|c| {
                    (
                        text(&c["Labels"][crate::tenant::OWNER_LABEL]),
                        text(&c["Image"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((!users.is_empty()).then_some(users))
}

/// Where the daemon answers the inspect of an owned object.
fn owned_path(kind: Kind, name: &str) -> Option<String> {
    let base = match kind {
        Kind::Volume => "/volumes",
        Kind::Network => "/networks",
        Kind::Task => "/tasks",
        Kind::Secret => "/secrets",
        Kind::Config => "/configs",
        Kind::Service => "/services",
        _ => return None,
    };
    Some(format!("{base}/{}", enc(name)))
}

fn enc(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn inspect(
    state: &Arc<ProxyState>,
    path: &str,
) -> Result<Option<serde_json::Value>, ProxyError> {
    get_json(state, path, &[StatusCode::NOT_FOUND]).await
}

/// GET `path` from the daemon; `None` when it answers with one of the `absent` statuses.
pub(super) async fn get_json(
    state: &Arc<ProxyState>,
    path: &str,
    absent: &[StatusCode],
) -> Result<Option<serde_json::Value>, ProxyError> {
    let uri = Uri::builder()
        .scheme("http")
        .authority(UPSTREAM_AUTHORITY)
        .path_and_query(path)
        .build()
        .map_err(|e| ProxyError::Internal(format!("cannot build the lookup {path}: {e}")))?;
    let req = Request::get(uri)
        .header(http::header::HOST, UPSTREAM_AUTHORITY)
        .body(empty_body())
        .map_err(|e| ProxyError::Internal(format!("cannot build the lookup {path}: {e}")))?;
    let resp =
        state.client().request(req).await.map_err(|e| {
            DaemonError::Unreachable(format!("cannot reach the Docker daemon: {e}"))
        })?;
    let status = resp.status();
    let body = Limited::new(resp.into_body(), 8 << 20)
        .collect()
        .await
        .map_err(|e| DaemonError::Unreachable(format!("reading {path}: {e}")))?
        .to_bytes();
    if absent.contains(&status) {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(DaemonError::Unreachable(format!(
            "looking up {path} for the policy failed with {status}"
        ))
        .into());
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| DaemonError::Unreachable(format!("daemon answer to {path}: {e}")).into())
}
