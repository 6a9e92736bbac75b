//! Whether a tenant may reach an existing object, and how a refusal reads.
//!
//! An object is owned by the tenant its [`OWNER_LABEL`] names; an object without the
//! label is the operator's. A tenant reaches its own objects, may use (never change or
//! remove) the operator's objects a policy shares, and does not see anything else: such a
//! request is answered exactly as the daemon answers for a missing object
//! ([`not_found`]), so tenants cannot probe for each other's names or ids.

use std::collections::HashMap;

use super::{Tenant, OWNER_LABEL};

/// Who owns an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    Tenant(&'a str),
    /// No owner label: made on the daemon directly (infrastructure, ingress, monitoring).
    Operator,
}

/// The owner named by an object's labels.
pub fn owner(labels: &HashMap<String, String>) -> Owner<'_> {
    match labels.get(OWNER_LABEL) {
        Some(t) => Owner::Tenant(t),
        None => Owner::Operator,
    }
}

/// What the request does with the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Reads it or refers to it (inspect, join a network, mount a volume).
    Use,
    /// Changes or removes it.
    Change,
}

/// How far a tenant reaches an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Its own object.
    Own,
    /// An operator's object this policy shares, used and not changed.
    Shared,
    /// Not the tenant's: answer as for a missing object.
    Hidden,
    /// A shared object the tenant tried to change or remove.
    SharedReadOnly,
}

/// Whether `tenant` reaches an object with these labels; `shared` says whether the policy
/// shares it (only operator objects can be shared).
pub fn reach(tenant: &Tenant, labels: &HashMap<String, String>, shared: bool, how: Use) -> Reach {
    match owner(labels) {
        Owner::Tenant(t) if t == tenant.as_str() => Reach::Own,
        Owner::Operator if shared => match how {
            Use::Use => Reach::Shared,
            Use::Change => Reach::SharedReadOnly,
        },
        _ => Reach::Hidden,
    }
}

/// The kinds of named objects a request can refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Container,
    Exec,
    Image,
    Volume,
    Network,
    Service,
    Task,
    Secret,
    Config,
    Node,
}

/// The daemon's own 404 message for a missing object of `kind` named `name` (dockerd
/// 20.10, checked against a real daemon).
pub fn not_found(kind: Kind, name: &str) -> String {
    match kind {
        Kind::Container => format!("No such container: {name}"),
        Kind::Exec => format!("No such exec instance: {name}"),
        Kind::Image => format!("No such image: {name}"),
        Kind::Volume => format!("get {name}: no such volume"),
        Kind::Network => format!("network {name} not found"),
        Kind::Service => format!("service {name} not found"),
        Kind::Task => format!("task {name} not found"),
        Kind::Secret => format!("secret {name} not found"),
        Kind::Config => format!("config {name} not found"),
        Kind::Node => format!("node {name} not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(owner: Option<&str>) -> HashMap<String, String> {
        let mut m = HashMap::from([("app".to_string(), "web".to_string())]);
        if let Some(o) = owner {
            m.insert(OWNER_LABEL.to_string(), o.to_string());
        }
        m
    }

    #[test]
    fn a_tenant_reaches_its_own_and_shared_operator_objects_only() {
        let alice = Tenant::new("alice").unwrap();
        for how in [Use::Use, Use::Change] {
            for shared in [false, true] {
                assert_eq!(
                    reach(&alice, &labels(Some("alice")), shared, how),
                    Reach::Own
                );
                assert_eq!(
                    reach(&alice, &labels(Some("bob")), shared, how),
                    Reach::Hidden
                );
                assert_eq!(reach(&alice, &labels(Some("")), shared, how), Reach::Hidden);
                assert_eq!(
                    reach(&alice, &labels(Some("Alice")), shared, how),
                    Reach::Hidden
                );
            }
            assert_eq!(reach(&alice, &labels(None), false, how), Reach::Hidden);
        }
        assert_eq!(reach(&alice, &labels(None), true, Use::Use), Reach::Shared);
        assert_eq!(
            reach(&alice, &labels(None), true, Use::Change),
            Reach::SharedReadOnly
        );
    }

    #[test]
    fn refusals_read_as_the_daemons_missing_object() {
        assert_eq!(not_found(Kind::Container, "web"), "No such container: web");
        assert_eq!(not_found(Kind::Volume, "v"), "get v: no such volume");
        assert_eq!(not_found(Kind::Network, "n"), "network n not found");
        assert_eq!(not_found(Kind::Exec, "e"), "No such exec instance: e");
        assert_eq!(not_found(Kind::Secret, "s"), "secret s not found");
    }
}

/// The object an operation's path names (its `{id}`/`{name}`), and what it does with it.
/// Execs are reached through the container they run in. `None`: the path names no
/// object a tenant owns (lists, creates, system, images — shared content, see the README).
pub fn path_target(op: crate::docker::route::OpKind) -> Option<(Kind, Use)> {
    use crate::docker::route::OpKind::*;
    Some(match op {
        ContainerInspect
        | ContainerTop
        | ContainerLogs
        | ContainerChanges
        | ContainerExport
        | ContainerStats
        | ContainerAttach
        | ContainerAttachWebsocket
        | ContainerWait
        | ContainerArchiveInfo
        | ContainerArchive
        | ContainerCopy
        | ExecCreate => (Kind::Container, Use::Use),
        ContainerResize | ContainerStart | ContainerStop | ContainerRestart | ContainerKill
        | ContainerUpdate | ContainerRename | ContainerPause | ContainerUnpause
        | ContainerDelete | PutContainerArchive => (Kind::Container, Use::Change),
        ExecStart | ExecResize | ExecInspect => (Kind::Exec, Use::Use),
        VolumeInspect => (Kind::Volume, Use::Use),
        VolumeUpdate | VolumeDelete => (Kind::Volume, Use::Change),
        NetworkInspect | NetworkConnect | NetworkDisconnect => (Kind::Network, Use::Use),
        NetworkDelete => (Kind::Network, Use::Change),
        ServiceInspect | ServiceLogs => (Kind::Service, Use::Use),
        ServiceUpdate | ServiceDelete => (Kind::Service, Use::Change),
        TaskInspect | TaskLogs => (Kind::Task, Use::Use),
        SecretInspect => (Kind::Secret, Use::Use),
        SecretUpdate | SecretDelete => (Kind::Secret, Use::Change),
        ConfigInspect => (Kind::Config, Use::Use),
        ConfigUpdate | ConfigDelete => (Kind::Config, Use::Change),
        NodeInspect => (Kind::Node, Use::Use),
        NodeUpdate | NodeDelete => (Kind::Node, Use::Change),
        _ => return None,
    })
}

#[cfg(test)]
mod path_target_tests {
    use super::*;
    use crate::docker::route::{classify, OpKind};
    use http::Method;

    /// Every operation whose route has an object parameter (other than images, plugins,
    /// distribution and checkpoints, which tenants do not own) names its kind: a new
    /// route cannot slip past tenancy unnoticed.
    #[test]
    fn every_object_route_names_its_target() {
        let untenanted = |op: OpKind| {
            let name = op.name();
            name.starts_with("Image")
                || name.starts_with("Plugin")
                || name.starts_with("Checkpoint")
                || name.starts_with("Distribution")
                || name.starts_with("Swarm")
                || op == OpKind::Commit
                || op == OpKind::BuildCancel
        };
        let mut seen = 0;
        for method in [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
        ] {
            for path in [
                "/containers/x/json",
                "/containers/x/top",
                "/containers/x/logs",
                "/containers/x/changes",
                "/containers/x/export",
                "/containers/x/stats",
                "/containers/x/resize",
                "/containers/x/start",
                "/containers/x/stop",
                "/containers/x/restart",
                "/containers/x/kill",
                "/containers/x/update",
                "/containers/x/rename",
                "/containers/x/pause",
                "/containers/x/unpause",
                "/containers/x/attach",
                "/containers/x/attach/ws",
                "/containers/x/wait",
                "/containers/x",
                "/containers/x/archive",
                "/containers/x/copy",
                "/containers/x/exec",
                "/exec/x/start",
                "/exec/x/resize",
                "/exec/x/json",
                "/volumes/x",
                "/networks/x",
                "/networks/x/connect",
                "/networks/x/disconnect",
                "/services/x",
                "/services/x/update",
                "/services/x/logs",
                "/tasks/x",
                "/tasks/x/logs",
                "/secrets/x",
                "/secrets/x/update",
                "/configs/x",
                "/configs/x/update",
                "/nodes/x",
                "/nodes/x/update",
            ] {
                let op = classify(&method, path);
                if op.kind == OpKind::Unknown || untenanted(op.kind) {
                    continue;
                }
                assert!(op.target.is_some(), "{method} {path}");
                assert!(
                    path_target(op.kind).is_some(),
                    "{method} {path}: {:?}",
                    op.kind
                );
                seen += 1;
            }
        }
        assert!(seen >= 40, "only {seen} routes checked");
        // And nothing without a path object claims one.
        for op in OpKind::ALL {
            if path_target(*op).is_some() {
                assert!(!untenanted(*op), "{op:?}");
            }
        }
    }
}
