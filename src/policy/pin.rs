//! Pinning: the request forwarded names the objects the policy checked by the full ids
//! its lookups returned, not by the names (or id prefixes) the client wrote.
//!
//! dockerd resolves a container reference as a full id, then an exact name, then an id
//! prefix. Between the policy's lookup and the forwarded request, a tenant could rename
//! or remove its own container `3f1a` so that the same string then resolves, as an id
//! prefix, to a protected container. Forwarding the id that was checked closes that
//! window: what runs is what was checked.

use std::borrow::Cow;

use crate::docker::json::Json;
use crate::docker::link::link_parts;
use crate::docker::route::{OpKind, Operation};

use super::Facts;

/// The full id of the container `name` resolved to, if the policy looked it up.
fn container_id<'f>(facts: &'f Facts, name: &str) -> Option<&'f str> {
    match facts.containers.get(name) {
        Some(Some(f)) if !f.id.is_empty() => Some(&f.id),
        _ => None,
    }
}

/// The canonical path with the container or service named in it replaced by the id
/// the policy resolved it to; `None` when nothing is to be pinned.
pub fn path(op: &Operation, path: &str, facts: &Facts) -> Option<String> {
    let target = op.target.as_deref()?;
    let (prefix, id) = match op.kind.group() {
        crate::docker::route::Group::Container if op.kind != OpKind::ContainerCreate => {
            ("/containers/", container_id(facts, target)?)
        }
        crate::docker::route::Group::Exec if op.kind == OpKind::ExecCreate => {
            ("/containers/", container_id(facts, target)?)
        }
        crate::docker::route::Group::Service => match facts.services.get(target) {
            Some(Some(f)) if !f.id.is_empty() => ("/services/", f.id.as_str()),
            _ => return None,
        },
        _ => return None,
    };
    let rest = path.strip_prefix(prefix)?.strip_prefix(target)?;
    if !(rest.is_empty() || rest.starts_with('/')) || id == target {
        return None;
    }
    Some(format!("{prefix}{id}{rest}"))
}

/// Pin the container named in the query (`POST /commit?container=`).
pub fn query(op: OpKind, q: &mut crate::docker::query::Query, facts: &Facts) {
    if op == OpKind::Commit {
        if let Some(id) = q.get("container").and_then(|c| container_id(facts, c)) {
            let id = id.to_string();
            q.set_first("container", id);
        }
    }
}

/// Pin the container references of a checked body (`VolumesFrom`, `container:<x>`
/// namespace modes, `Container` of a network connect). Returns whether anything
/// changed (the body must then be serialised again).
pub fn body(op: OpKind, body: &mut Json, facts: &Facts) -> bool {
    let mut changed = false;
    let mut pin = |v: &mut Json, rewrite: &dyn Fn(&str) -> Option<String>| {
        if let Json::String(s) = v {
            if let Some(new) = rewrite(s) {
                *s = Cow::Owned(new);
                changed = true;
            }
        }
    };
    let namespace = |mode: &str| {
        let name = mode.strip_prefix("container:")?;
        container_id(facts, name).map(|id| format!("container:{id}"))
    };
    let volumes_from = |spec: &str| {
        let (name, mode) = match spec.split_once(':') {
            Some((n, m)) => (n, Some(m)),
            None => (spec, None),
        };
        let id = container_id(facts, name)?;
        Some(match mode {
            Some(m) => format!("{id}:{m}"),
            None => id.to_string(),
        })
    };
    let Json::Object(top) = body else {
        return false;
    };
    match op {
        OpKind::ContainerCreate => {
            let Some(Json::Object(hc)) = top.get_mut("HostConfig") else {
                return false;
            };
            for field in ["NetworkMode", "PidMode", "IpcMode"] {
                if let Some(v) = hc.get_mut(field) {
                    pin(v, &namespace);
                }
            }
            if let Some(Json::Array(list)) = hc.get_mut("VolumesFrom") {
                for v in list {
                    pin(v, &volumes_from);
                }
            }
            // `name[:alias]`: the alias (the name when none is given) names the
            // environment variables, so it is kept.
            let link = |spec: &str| {
                let (name, alias) = link_parts(spec)?;
                let id = container_id(facts, name)?;
                Some(format!("{id}:{alias}"))
            };
            if let Some(Json::Array(list)) = hc.get_mut("Links") {
                for v in list {
                    pin(v, &link);
                }
            }
        }
        OpKind::ServiceCreate | OpKind::ServiceUpdate => {
            // Swarm resolves network targets by name, id or id prefix too.
            let network = |t: &str| match facts.networks.get(t) {
                Some(Some(n)) if !n.id.is_empty() && n.id != t => Some(n.id.clone()),
                _ => None,
            };
            if let Some(Json::Object(tt)) = top.get_mut("TaskTemplate") {
                if let Some(list) = tt.get_mut("Networks") {
                    changed |= pin_targets(list, &network);
                }
            }
            if let Some(list) = top.get_mut("Networks") {
                changed |= pin_targets(list, &network);
            }
        }
        OpKind::NetworkConnect | OpKind::NetworkDisconnect => {
            if let Some(v) = top.get_mut("Container") {
                pin(v, &|name| container_id(facts, name).map(str::to_string));
            }
        }
        _ => {}
    }
    changed
}

/// Pin the `Target` of each network attachment of a list.
fn pin_targets(list: &mut Json, resolve: &dyn Fn(&str) -> Option<String>) -> bool {
    let mut changed = false;
    if let Json::Array(items) = list {
        for item in items {
            if let Some(Json::String(t)) = match item {
                Json::Object(att) => att.get_mut("Target"),
                _ => None,
            } {
                if let Some(id) = resolve(t) {
                    *t = Cow::Owned(id);
                    changed = true;
                }
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::json::read_body;
    use crate::docker::schema;
    use crate::policy::{ContainerFacts, ServiceFacts};

    fn facts() -> Facts {
        let mut f = Facts::default();
        for (name, id) in [("web", "f00d"), ("3f1a", "3f1a9c")] {
            f.containers.insert(
                name.into(),
                Some(ContainerFacts {
                    id: id.into(),
                    name: name.into(),
                    ..Default::default()
                }),
            );
        }
        f.containers.insert("gone".into(), None);
        f.services.insert(
            "api".into(),
            Some(ServiceFacts {
                id: "s1d".into(),
                name: "api".into(),
                ..Default::default()
            }),
        );
        f
    }

    fn op(kind: OpKind, target: &str) -> Operation {
        Operation {
            kind,
            target: Some(target.into()),
        }
    }

    #[test]
    fn paths_name_the_checked_ids() {
        let f = facts();
        let cases = [
            (
                op(OpKind::ExecCreate, "web"),
                "/containers/web/exec",
                Some("/containers/f00d/exec"),
            ),
            (
                op(OpKind::ContainerDelete, "3f1a"),
                "/containers/3f1a",
                Some("/containers/3f1a9c"),
            ),
            (
                op(OpKind::ContainerArchive, "web"),
                "/containers/web/archive",
                Some("/containers/f00d/archive"),
            ),
            (
                op(OpKind::ServiceUpdate, "api"),
                "/services/api/update",
                Some("/services/s1d/update"),
            ),
            // Not looked up, not found, or not a container route: unchanged.
            (
                op(OpKind::ContainerKill, "other"),
                "/containers/other/kill",
                None,
            ),
            (
                op(OpKind::ContainerKill, "gone"),
                "/containers/gone/kill",
                None,
            ),
            (op(OpKind::ImageDelete, "web"), "/images/web", None),
        ];
        for (o, p, want) in cases {
            assert_eq!(path(&o, p, &f).as_deref(), want, "{p}");
        }
    }

    #[test]
    fn commit_names_the_checked_id() {
        let f = facts();
        let mut q = crate::docker::query::Query::parse("container=3f1a&repo=x").unwrap();
        query(OpKind::Commit, &mut q, &f);
        assert_eq!(q.encode(), "container=3f1a9c&repo=x");
        let mut q = crate::docker::query::Query::parse("container=other&repo=x").unwrap();
        query(OpKind::Commit, &mut q, &f);
        assert_eq!(q.encode(), "container=other&repo=x");
    }

    #[test]
    fn body_references_name_the_checked_ids() {
        let f = facts();
        let raw = br#"{"Image":"x","HostConfig":{"NetworkMode":"container:web","PidMode":"container:3f1a","IpcMode":"shareable","VolumesFrom":["web:ro","3f1a","other"]}}"#;
        let mut v = read_body(raw, Some(&schema::CONTAINER_CREATE)).unwrap();
        assert!(body(OpKind::ContainerCreate, &mut v, &f));
        let hc = &v["HostConfig"];
        assert_eq!(hc["NetworkMode"], "container:f00d");
        assert_eq!(hc["PidMode"], "container:3f1a9c");
        assert_eq!(hc["IpcMode"], "shareable");
        assert_eq!(hc["VolumesFrom"][0], "f00d:ro");
        assert_eq!(hc["VolumesFrom"][1], "3f1a9c");
        assert_eq!(hc["VolumesFrom"][2], "other");
        let raw = br#"{"Image":"x","HostConfig":{"Links":["web","/3f1a:/c1/db","other:o"]}}"#;
        let mut v = read_body(raw, Some(&schema::CONTAINER_CREATE)).unwrap();
        assert!(body(OpKind::ContainerCreate, &mut v, &f));
        assert_eq!(v["HostConfig"]["Links"][0], "f00d:web");
        assert_eq!(v["HostConfig"]["Links"][1], "3f1a9c:db");
        assert_eq!(v["HostConfig"]["Links"][2], "other:o");
        let raw = br#"{"Image":"x","HostConfig":{"NetworkMode":"bridge"}}"#;
        let mut v = read_body(raw, Some(&schema::CONTAINER_CREATE)).unwrap();
        assert!(!body(OpKind::ContainerCreate, &mut v, &f));
        let mut f = f;
        f.networks.insert(
            "3f1a".into(),
            Some(crate::policy::NetworkFacts {
                id: "3f1a77".into(),
                name: "3f1a".into(),
                driver: "overlay".into(),
            }),
        );
        let raw = br#"{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"x"},"Networks":[{"Target":"3f1a"},{"Target":"other"}]},"Networks":[{"Target":"3f1a"}]}"#;
        let mut v = read_body(raw, Some(&schema::SERVICE_SPEC)).unwrap();
        assert!(body(OpKind::ServiceCreate, &mut v, &f));
        assert_eq!(v["TaskTemplate"]["Networks"][0]["Target"], "3f1a77");
        assert_eq!(v["TaskTemplate"]["Networks"][1]["Target"], "other");
        assert_eq!(v["Networks"][0]["Target"], "3f1a77");
        let raw = br#"{"Container":"web"}"#;
        let mut v = read_body(raw, Some(&schema::NETWORK_CONNECT)).unwrap();
        assert!(body(OpKind::NetworkConnect, &mut v, &f));
        assert_eq!(v["Container"], "f00d");
    }
}
