//! The tenant's part of the decide and rewrite phases.
//!
//! [`assess`] runs beside the policy, in the same facts loop: it names the lookups it
//! needs (the object a path names, and every object a request body refers to: `container:<x>`
//! modes, `VolumesFrom`, links, named volumes, networks, service networks, secrets and
//! configs) and, once they are known, gives the tenant's violations: PC-1041 for another
//! tenant's or the operator's object (answered as the daemon answers for a missing one),
//! PC-1042 for changing a shared operator network, PC-1040 for forged owner labels and
//! requests that cannot be narrowed to the tenant. [`rewrite`] then stamps the owner into
//! creates and adds it to the daemon's `filters`.
//!
//! Pure: the daemon's answers come in through [`Facts`].

use std::collections::HashMap;

use super::access::{self, Kind, Reach, Use};
use super::quota;
use super::scope::{self, Narrowing};
use super::stamp::{self, StampQueryError};
use super::{Tenancy, Tenant};
use crate::docker::json::Json;
use crate::docker::query::Query;
use crate::docker::route::OpKind;
use crate::policy::rules as r;
use crate::policy::{Facts, Lookup, RequestView, Violation};

/// Distinct objects one request may make the tenant check look up (as for the policy,
/// each is a request to the daemon).
pub const MAX_TENANT_LOOKUPS: usize = 32;

/// Networks every container may name without owning them: the daemon's own modes and
/// its predefined networks (`host` is the policy's business, PC-1008).
const BUILTIN_NETWORKS: &[&str] = &["", "default", "bridge", "host", "none"];

/// The tenant's violations of a request, and the lookups still needed to decide. With
/// isolation off there are none.
pub fn assess(
    tenancy: &Tenancy,
    view: &RequestView,
    facts: &Facts,
) -> (Vec<Violation>, Vec<Lookup>) {
    let tenant = match tenancy.tenant_of(view.identity) {
        Ok(Some(t)) => t,
        Ok(None) => return (Vec::new(), Vec::new()),
        Err(e) => {
            let v = Violation {
                rule: r::TENANT_OWNER,
                message: format!("{e}: this policy isolates tenants, so every client needs one"),
            };
            return (vec![v], Vec::new());
        }
    };
    let mut g = Guard {
        tenancy,
        tenant: &tenant,
        facts,
        out: Vec::new(),
        need: Vec::new(),
    };
    g.path_target(view);
    g.quota(view);
    g.resources(view);
    g.scope(view);
    g.owner_labels(view);
    if let Some(body) = view.body {
        g.references(view.op.kind, body);
    }
    if view.op.kind == OpKind::Commit {
        if let Some(c) = view.query.get("container") {
            g.check(Kind::Container, c, Use::Use);
        }
    }
    let (image_out, image_need) = super::images::assess(
        tenancy.image_prefix.as_ref(),
        tenancy.allow_image_load,
        &tenant,
        view.op.kind,
        view.op.target.as_deref(),
        view.query,
        facts,
    );
    g.out.extend(image_out);
    g.need.extend(image_need);
    if g.need.len() > MAX_TENANT_LOOKUPS {
        g.out.push(Violation {
            rule: r::TOO_MANY_REFERENCES,
            message: format!(
                "the request names more than {MAX_TENANT_LOOKUPS} existing objects to check"
            ),
        });
        g.need.clear();
    }
    (g.out, g.need)
}

/// The prefix of the labels swarm puts on its tasks' containers.
const SWARM_LABELS: &str = "com.docker.swarm.";

struct Guard<'a> {
    tenancy: &'a Tenancy,
    tenant: &'a Tenant,
    facts: &'a Facts,
    out: Vec<Violation>,
    need: Vec<Lookup>,
}

/// What is known of an object.
enum Known<'f> {
    /// Not looked up yet (the lookup is queued).
    Unknown,
    /// The daemon has no such object.
    Absent,
    /// Its labels, and whether the policy shares it.
    Found(&'f HashMap<String, String>, bool),
    /// Not a kind tenants own (images, nodes).
    Unowned,
}

impl<'a> Guard<'a> {
    fn want(&mut self, l: Lookup) {
        if !self.need.contains(&l) {
            self.need.push(l);
        }
    }

    fn known(&mut self, kind: Kind, name: &str) -> Known<'a> {
        let facts = self.facts;
        match kind {
            Kind::Container => match facts.containers.get(name) {
                None => {
                    self.want(Lookup::Container(name.to_string()));
                    Known::Unknown
                }
                Some(None) => Known::Absent,
                Some(Some(f)) => Known::Found(&f.labels, false),
            },
            // An exec is its container's.
            Kind::Exec => match facts.execs.get(name) {
                None => {
                    self.want(Lookup::Exec(name.to_string()));
                    Known::Unknown
                }
                Some(None) => Known::Absent,
                Some(Some(e)) => match self.known(Kind::Container, &e.container_id) {
                    Known::Absent => Known::Found(&EMPTY, false),
                    k => k,
                },
            },
            Kind::Service => match facts.services.get(name) {
                None => {
                    self.want(Lookup::Service(name.to_string()));
                    Known::Unknown
                }
                Some(None) => Known::Absent,
                Some(Some(f)) => Known::Found(&f.labels, false),
            },
            Kind::Volume | Kind::Network | Kind::Task | Kind::Secret | Kind::Config => {
                match facts.owned.get(&(kind, name.to_string())) {
                    None => {
                        self.want(Lookup::Owned(kind, name.to_string()));
                        Known::Unknown
                    }
                    Some(None) => Known::Absent,
                    Some(Some(f)) => {
                        let shared =
                            kind == Kind::Network && self.tenancy.shares_network(&f.name, &f.id);
                        Known::Found(&f.labels, shared)
                    }
                }
            }
            Kind::Image | Kind::Node => Known::Unowned,
        }
    }

    /// Check the tenant's reach of `kind` object `name`; `Some(false)` when it does not
    /// exist, `None` while unknown or reached.
    fn check(&mut self, kind: Kind, name: &str, how: Use) -> Option<bool> {
        self.check_shared(kind, name, how, false)
    }

    /// [`Self::check`], with the object shared for this use when `shared_here` (and it
    /// is the operator's).
    fn check_shared(
        &mut self,
        kind: Kind,
        name: &str,
        how: Use,
        shared_here: bool,
    ) -> Option<bool> {
        match self.known(kind, name) {
            Known::Unknown | Known::Unowned => None,
            Known::Absent => Some(false),
            Known::Found(labels, shared) => {
                match access::reach(self.tenant, labels, shared || shared_here, how) {
                    Reach::Own | Reach::Shared => {}
                    Reach::Hidden => self.hidden(kind, name),
                    Reach::SharedReadOnly => self.out.push(Violation {
                        rule: r::TENANT_SHARED,
                        message: format!(
                            "the network {name:?} is the operator's, shared for use: it cannot be changed or removed"
                        ),
                    }),
                }
                None
            }
        }
    }

    fn hidden(&mut self, kind: Kind, name: &str) {
        let v = Violation {
            rule: r::TENANT_HIDDEN,
            message: access::not_found(kind, name),
        };
        if !self.out.contains(&v) {
            self.out.push(v);
        }
    }

    fn owner(&mut self, message: String) {
        self.out.push(Violation {
            rule: r::TENANT_OWNER,
            message,
        });
    }

    /// The object the path names.
    fn path_target(&mut self, view: &RequestView) {
        let Some((kind, how)) = access::path_target(view.op.kind) else {
            return;
        };
        if let Some(name) = view.op.target.as_deref() {
            self.check(kind, name, how);
        }
    }

    /// A create within the tenant's quota of its kind; a service create or update
    /// within `max_containers` by the tasks it adds.
    fn quota(&mut self, view: &RequestView) {
        let op = view.op.kind;
        if matches!(op, OpKind::ServiceCreate | OpKind::ServiceUpdate) {
            self.service_tasks(view);
        }
        let kind = match op {
            OpKind::ContainerCreate => Kind::Container,
            OpKind::VolumeCreate => Kind::Volume,
            OpKind::NetworkCreate => Kind::Network,
            OpKind::ServiceCreate => Kind::Service,
            _ => return,
        };
        self.quota_of(kind, 1);
    }

    /// A replicated service's tasks count as containers ([`quota::container_count`]): a
    /// create adds its replicas, an update (a scale) what it adds to the running spec's.
    /// A global service's tasks cannot be counted beforehand: refused under the quota.
    fn service_tasks(&mut self, view: &RequestView) {
        if self.tenancy.quotas.of(Kind::Container).is_none() {
            return;
        }
        let Some(body) = view.body else { return };
        let target = view.op.target.as_deref().unwrap_or("");
        let (spec, old) = match view.op.kind {
            OpKind::ServiceUpdate => match self.facts.services.get(target) {
                // Looked up by path_target.
                Some(Some(s)) => {
                    let old = s.spec.as_ref().and_then(|o| quota::service_tasks(o).ok());
                    match (&s.previous_spec, view.query.get("rollback")) {
                        (Some(prev), Some("previous")) => (prev.clone(), old),
                        _ => (body.to_value(), old),
                    }
                }
                _ => return,
            },
            _ => (body.to_value(), None),
        };
        match quota::service_tasks(&spec) {
            Err(why) => self.out.push(Violation {
                rule: r::TENANT_QUOTA,
                message: format!("{why} (the tenant's quota of containers counts every task)"),
            }),
            Ok(n) => {
                let adding = n.saturating_sub(old.unwrap_or(0));
                if adding > 0 {
                    self.quota_of(
                        Kind::Container,
                        usize::try_from(adding).unwrap_or(usize::MAX),
                    );
                }
            }
        }
    }

    /// Room for `adding` more objects of `kind` within the tenant's quota.
    fn quota_of(&mut self, kind: Kind, adding: usize) {
        let Some(max) = self.tenancy.quotas.of(kind) else {
            return;
        };
        let key = (kind, self.tenant.as_str().to_string());
        match self.facts.counts.get(&key) {
            None => self.want(Lookup::Count(kind, key.1)),
            Some(n) => {
                let have = n.unwrap_or(0);
                if !matches!(have.checked_add(adding), Some(n) if n <= max) {
                    let more = if adding > 1 {
                        format!(" and asks for {adding} more")
                    } else {
                        String::new()
                    };
                    self.out.push(Violation {
                        rule: r::TENANT_QUOTA,
                        message: format!(
                            "the tenant {:?} has {have} {}s, its quota is {max}{more}",
                            self.tenant.as_str(),
                            format!("{kind:?}").to_lowercase()
                        ),
                    });
                }
            }
        }
    }

    /// Creates and updates of containers and services within the tenant's memory and
    /// CPU quotas ([`quota`]).
    fn resources(&mut self, view: &RequestView) {
        let limits = self.tenancy.quotas.resources;
        if !limits.any() {
            return;
        }
        let op = view.op.kind;
        if !matches!(
            op,
            OpKind::ContainerCreate
                | OpKind::ContainerUpdate
                | OpKind::ServiceCreate
                | OpKind::ServiceUpdate
        ) {
            return;
        }
        let Some(body) = view.body else { return };
        let tenant = self.tenant.as_str().to_string();
        let usage = match self.facts.usage.get(&tenant) {
            None => {
                self.want(Lookup::Usage(tenant));
                return;
            }
            Some(u) => u.clone().unwrap_or_default(),
        };
        // An update replaces the object its path names (looked up by path_target).
        let target = view.op.target.as_deref().unwrap_or("");
        let mut rollback = None;
        let replaced = match op {
            OpKind::ContainerUpdate => match self.facts.containers.get(target) {
                Some(Some(c)) => c.id.clone(),
                _ => return,
            },
            OpKind::ServiceUpdate => match self.facts.services.get(target) {
                Some(Some(s)) => {
                    // Swarm runs the previous spec on a rollback, not the body.
                    if view.query.get("rollback") == Some("previous") {
                        rollback = s.previous_spec.clone();
                    }
                    s.id.clone()
                }
                _ => return,
            },
            _ => String::new(),
        };
        let ask = match op {
            OpKind::ContainerCreate => quota::ask_create(body),
            OpKind::ContainerUpdate => {
                let held = usage.containers.iter().find(|h| h.id == replaced);
                quota::ask_update(body, &replaced, held)
            }
            _ => match rollback {
                Some(spec) => quota::ask_service(&spec, &replaced),
                None => quota::ask_service(&body.to_value(), &replaced),
            },
        };
        for message in quota::exceeded(limits, &usage, &ask) {
            self.out.push(Violation {
                rule: r::TENANT_QUOTA,
                message,
            });
        }
    }

    /// Lists, prunes and events must be narrowable; the build cache has no owner.
    fn scope(&mut self, view: &RequestView) {
        let kind = view.op.kind;
        if scope::narrowing(kind) == Narrowing::DaemonFilter {
            let mut q = view.query.clone();
            if let Err(e) = scope::narrow_query(&mut q, self.tenant) {
                self.owner(format!(
                    "the filters cannot be narrowed to the tenant's objects: {e}"
                ));
            }
        }
        match kind {
            OpKind::BuildPrune => self.owner(
                "the build cache has no owner: pruning it would remove other tenants' cache (ask the operator)"
                    .into(),
            ),
            OpKind::Build => match stamp::stamp_label_query(view.query.get("labels"), self.tenant) {
                Ok(_) => {}
                Err(StampQueryError::Invalid(e)) => self.owner(format!("build {e}")),
                Err(StampQueryError::Forged(f)) => self.forged(&f),
            },
            _ => {}
        }
    }

    fn forged(&mut self, f: &stamp::Forged) {
        self.owner(format!(
            "{} sets the owner label {} to {:?}: the owner is the tenant, {:?}, and Portcullis sets it",
            f.field,
            super::OWNER_LABEL,
            f.value,
            self.tenant.as_str()
        ));
    }

    /// Creates carry no forged owner, and have a body to stamp; a container carries no
    /// swarm label (swarm creates its tasks' containers itself, not through the API: a
    /// client's `com.docker.swarm.service.id` would pass its container off as a task).
    fn owner_labels(&mut self, view: &RequestView) {
        let kind = view.op.kind;
        if let (OpKind::ContainerCreate, Some(Json::Object(labels))) =
            (kind, view.body.and_then(|b| b.get("Labels")))
        {
            if let Some(k) = labels.keys().find(|k| k.starts_with(SWARM_LABELS)) {
                self.owner(format!(
                    "the label {k:?} is swarm's: a container created through the API cannot carry {SWARM_LABELS}* labels"
                ));
            }
        }
        if stamp::label_fields(kind).is_empty() {
            return;
        }
        match view.body {
            None if kind == OpKind::ServiceUpdate || kind == OpKind::Commit => {
                // A commit without a body labels nothing new; an update without one is
                // refused by the policy (PC-1027).
            }
            None => self.owner(format!(
                "{} needs a JSON body to carry the owner label",
                kind.name()
            )),
            Some(body) => {
                let mut copy = body.clone();
                if let Err(f) = stamp::stamp(kind, &mut copy, self.tenant) {
                    self.forged(&f);
                }
            }
        }
    }

    /// Objects a body refers to.
    fn references(&mut self, kind: OpKind, body: &Json) {
        match kind {
            OpKind::ContainerCreate => {
                if let Some(hc) = body.get("HostConfig") {
                    self.host_config(hc);
                }
                if let Some(eps) = body
                    .get("NetworkingConfig")
                    .and_then(|n| n.get("EndpointsConfig"))
                    .and_then(Json::as_object)
                {
                    for net in eps.keys() {
                        self.network(net);
                    }
                }
            }
            OpKind::NetworkConnect | OpKind::NetworkDisconnect => {
                if let Some(c) = str_at(body, "Container") {
                    self.check(Kind::Container, c, Use::Use);
                }
            }
            OpKind::ServiceCreate | OpKind::ServiceUpdate => self.service(body),
            OpKind::VolumeCreate => self.volume_name(str_at(body, "Name").unwrap_or("")),
            _ => {}
        }
    }

    /// dockerd answers the create of an existing volume name with that volume (and
    /// its labels): a name another tenant (or the operator) uses is refused instead.
    fn volume_name(&mut self, name: &str) {
        if name.is_empty() {
            return;
        }
        if let Known::Found(labels, _) = self.known(Kind::Volume, name) {
            if access::reach(self.tenant, labels, false, Use::Change) != Reach::Own {
                self.owner(format!(
                    "the volume name {name:?} is already in use on the daemon: choose another name"
                ));
            }
        }
    }

    fn network(&mut self, name: &str) {
        if BUILTIN_NETWORKS.contains(&name) {
            return;
        }
        self.check(Kind::Network, name, Use::Use);
    }

    fn host_config(&mut self, hc: &Json) {
        let mode = str_at(hc, "NetworkMode").unwrap_or("");
        match mode.strip_prefix("container:") {
            Some(c) => {
                self.check(Kind::Container, c, Use::Use);
            }
            None => self.network(mode),
        }
        for field in ["PidMode", "IpcMode"] {
            if let Some(c) = str_at(hc, field).and_then(|m| m.strip_prefix("container:")) {
                self.check(Kind::Container, c, Use::Use);
            }
        }
        for spec in strings(hc, "VolumesFrom") {
            // The policy's volumes_from_allowed sources are shared for this use only
            // (matched as the policy matches them, by the name the request gives).
            let name = crate::docker::binds::volumes_from_source(spec);
            let shared = self.tenancy.shared_volumes_from.iter().any(|s| s == name);
            self.check_shared(Kind::Container, name, Use::Use, shared);
        }
        for link in strings(hc, "Links") {
            if let Some((name, _)) = crate::docker::link::link_parts(link) {
                self.check(Kind::Container, name.trim_start_matches('/'), Use::Use);
            }
        }
        for spec in strings(hc, "Binds") {
            let parts: Vec<&str> = spec.split(':').collect();
            if parts.len() >= 2 && !parts[0].is_empty() && !parts[0].starts_with('/') {
                self.volume(parts[0]);
            }
        }
        self.volume_mounts(hc.get("Mounts"));
    }

    /// Named volumes in `Mounts` (a container's or a service's): an existing one must be
    /// the tenant's own; a missing one is created by the daemon with the mount's
    /// `VolumeOptions.Labels`, which carry the owner ([`stamp::mount_fields`]), so it is
    /// allowed and becomes the tenant's.
    /// The volumes it creates count against the tenant's volume quota.
    fn volume_mounts(&mut self, mounts: Option<&Json>) {
        let mut created = Vec::new();
        for m in mounts.and_then(Json::as_array).unwrap_or(&[]) {
            let ty = str_at(m, "Type").unwrap_or("");
            let source = str_at(m, "Source").unwrap_or("");
            if ty == "volume"
                && !source.is_empty()
                && self.check(Kind::Volume, source, Use::Use) == Some(false)
                && !created.contains(&source)
            {
                created.push(source);
            }
        }
        if !created.is_empty() {
            self.quota_of(Kind::Volume, created.len());
        }
    }

    /// A named volume a container binds (`Binds`, `-v name:/path`): the tenant's own, and
    /// existing. dockerd creates a missing one without labels (nobody's), so it is
    /// refused: the tenant creates it first (`docker volume create`, as compose does), or
    /// mounts it with `--mount type=volume`, which creates it owned.
    fn volume(&mut self, name: &str) {
        if self.check(Kind::Volume, name, Use::Use) == Some(false) {
            self.owner(format!(
                "the volume {name:?} does not exist: with tenants isolated, create it first (docker volume create {name}), or mount it with --mount type=volume,src={name},dst=<path>, so that it is yours"
            ));
        }
    }

    fn service(&mut self, spec: &Json) {
        let tt = spec.get("TaskTemplate");
        let nets = [spec.get("Networks"), tt.and_then(|t| t.get("Networks"))];
        for list in nets.into_iter().flatten() {
            for n in list.as_array().unwrap_or(&[]) {
                if let Some(t) = str_at(n, "Target") {
                    self.network(t);
                }
            }
        }
        let cs = tt.and_then(|t| t.get("ContainerSpec"));
        self.volume_mounts(cs.and_then(|c| c.get("Mounts")));
        for (field, id, name, kind) in [
            ("Secrets", "SecretID", "SecretName", Kind::Secret),
            ("Configs", "ConfigID", "ConfigName", Kind::Config),
        ] {
            let list = cs.and_then(|c| c.get(field)).and_then(Json::as_array);
            for item in list.unwrap_or(&[]) {
                // Swarm resolves the id; the name is only checked against it.
                match (str_at(item, id), str_at(item, name)) {
                    (Some(x), _) if !x.is_empty() => {
                        self.check(kind, x, Use::Use);
                    }
                    (_, Some(x)) if !x.is_empty() => {
                        self.check(kind, x, Use::Use);
                    }
                    _ => {}
                }
            }
        }
    }
}

static EMPTY: std::sync::LazyLock<HashMap<String, String>> = std::sync::LazyLock::new(HashMap::new);

fn str_at<'j>(v: &'j Json<'j>, k: &str) -> Option<&'j str> {
    v.get(k).and_then(Json::as_str)
}

fn strings<'j>(v: &'j Json<'j>, k: &str) -> Vec<&'j str> {
    v.get(k)
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default()
}

/// The tenant's rewrite of an allowed request: the owner stamped into what it creates
/// (body, or a build's `labels`), added to the `filters` of its lists, prunes and
/// events, and the owned object its path names pinned to the id that was checked.
/// Stamping and narrowing cannot fail on a request the guard allowed under an enforcing
/// policy; an auditing policy's request is forwarded as far as it could be rewritten.
pub fn rewrite(
    op: OpKind,
    target: Option<&str>,
    path: &mut String,
    query: &mut Query,
    body: Option<&mut Json<'_>>,
    facts: &Facts,
    tenant: &Tenant,
) {
    if scope::narrowing(op) == Narrowing::DaemonFilter {
        let _ = scope::narrow_query(query, tenant);
    }
    super::images::rewrite(op, query, tenant);
    if op == OpKind::Build {
        if let Ok(labels) = stamp::stamp_label_query(query.get("labels"), tenant) {
            query.replace_all("labels", labels);
        }
    }
    if let Some(body) = body {
        let _ = stamp::stamp(op, body, tenant);
    }
    if let (Some((kind, _)), Some(name)) = (access::path_target(op), target) {
        let prefix = match kind {
            Kind::Network => "/networks/",
            Kind::Task => "/tasks/",
            Kind::Secret => "/secrets/",
            Kind::Config => "/configs/",
            _ => return,
        };
        let Some(Some(f)) = facts.owned.get(&(kind, name.to_string())) else {
            return;
        };
        if f.id.is_empty() || f.id == name {
            return;
        }
        if let Some(rest) = path.strip_prefix(prefix).and_then(|p| p.strip_prefix(name)) {
            if rest.is_empty() || rest.starts_with('/') {
                *path = format!("{prefix}{}{rest}", f.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use http::Method;

    use crate::policy::pipeline::{self, Outcome};
    use crate::policy::{
        ContainerFacts, Decision, ExecFacts, Facts, OwnedFacts, Policy, PolicySet,
    };
    use crate::tenant::access::Kind;
    use crate::tenant::OWNER_LABEL;
    use crate::tls::Identity;

    fn set() -> PolicySet {
        set_of("name = \"t\"\n[containers]\nvolumes_from_allowed = [\"ops-data\", \"bobs-data\"]\n[tenants]\nisolate = true\nshared_networks = [\"infra\"]\n")
    }

    /// The policy set of one policy file's text.
    fn set_of(toml: &str) -> PolicySet {
        let p = Policy::from_toml(toml, Path::new("test.toml")).unwrap();
        PolicySet::new(vec![p]).unwrap()
    }

    fn client(cn: &str) -> Identity {
        Identity {
            common_name: Some(cn.into()),
            ..Identity::transport("mtls")
        }
    }

    fn owned_by(owner: Option<&str>) -> std::collections::HashMap<String, String> {
        owner
            .map(|o| [(OWNER_LABEL.to_string(), o.to_string())].into())
            .unwrap_or_default()
    }

    /// Alice's container `web` (id c0ffee), her volume `data`, bob's volume `bobs`, the
    /// operator's network `infra` (shared) and `admin` (not shared), an exec in `web`.
    fn facts() -> Facts {
        let mut f = Facts::default();
        f.containers.insert(
            "web".into(),
            Some(ContainerFacts {
                id: "c0ffee".into(),
                name: "web".into(),
                labels: owned_by(Some("alice")),
                ..Default::default()
            }),
        );
        f.containers
            .insert("c0ffee".into(), f.containers["web"].clone());
        f.containers.insert("gone".into(), None);
        // The operator's ops-data and ops-other, and bob's bobs-data.
        for (name, owner) in [
            ("ops-data", None),
            ("ops-other", None),
            ("bobs-data", Some("bob")),
        ] {
            f.containers.insert(
                name.into(),
                Some(ContainerFacts {
                    id: format!("id-{name}"),
                    name: name.into(),
                    labels: owned_by(owner),
                    ..Default::default()
                }),
            );
        }
        f.execs.insert(
            "e1".into(),
            Some(ExecFacts {
                container_id: "c0ffee".into(),
            }),
        );
        for (kind, name, id, owner) in [
            (Kind::Volume, "data", "data", Some("alice")),
            (Kind::Volume, "bobs", "bobs", Some("bob")),
            (Kind::Network, "infra", "n1", None),
            (Kind::Network, "admin", "n2", None),
            (Kind::Network, "front", "n3", Some("alice")),
        ] {
            f.owned.insert(
                (kind, name.into()),
                Some(OwnedFacts {
                    id: id.into(),
                    name: name.into(),
                    labels: owned_by(owner),
                }),
            );
        }
        f.owned.insert((Kind::Volume, "new".into()), None);
        f
    }

    /// A container create by `cn` with the HostConfig `hc`: the decision.
    fn create_with(cn: &str, hc: &str) -> Decision {
        run(
            cn,
            Method::POST,
            "/v1.41/containers/create",
            Some(&format!(r#"{{"Image":"busybox","HostConfig":{hc}}}"#)),
        )
        .0
    }

    fn run(
        cn: &str,
        method: Method,
        target: &str,
        body: Option<&str>,
    ) -> (Decision, String, Option<serde_json::Value>) {
        let set = set();
        let facts = facts();
        match pipeline::check(
            &set,
            &client(cn),
            &method,
            target,
            body.map(str::as_bytes),
            &facts,
        ) {
            Outcome::Decided {
                decision,
                upstream,
                body,
                ..
            } => (decision, upstream, body.map(|b| b.to_value())),
            Outcome::Refused(why) => panic!("refused: {why}"),
        }
    }

    fn rules(d: &Decision) -> Vec<&'static str> {
        let (Decision::Allow(v) | Decision::Deny(v)) = d;
        v.iter().map(|v| v.rule).collect()
    }

    #[test]
    fn another_tenants_container_is_answered_as_missing() {
        for t in [
            "/v1.41/containers/web/json",
            "/v1.41/containers/web/logs?stdout=1",
            "/v1.41/containers/c0ffee/stop",
            "/v1.41/exec/e1/json",
        ] {
            let method = if t.ends_with("stop") {
                Method::POST
            } else {
                Method::GET
            };
            let (d, _, _) = run("bob", method.clone(), t, None);
            let msg = pipeline::hidden(&d).unwrap_or_else(|| panic!("{t}: {d:?}"));
            assert!(msg.starts_with("No such"), "{t}: {msg}");
            let (d, up, _) = run("alice", method, t, None);
            assert_eq!(d, Decision::Allow(vec![]), "{t}");
            if t.contains("/web/") {
                assert!(up.contains("/containers/c0ffee/"), "{up}");
            }
        }
        let (d, _, _) = run("bob", Method::DELETE, "/v1.41/containers/web?force=1", None);
        assert_eq!(pipeline::hidden(&d), Some("No such container: web"));
        // A missing container is the daemon's to answer.
        let (d, _, _) = run("bob", Method::GET, "/v1.41/containers/gone/json", None);
        assert_eq!(d, Decision::Allow(vec![]));
    }

    #[test]
    fn creates_are_stamped_and_forged_owners_refused() {
        let (d, _, body) = run(
            "alice",
            Method::POST,
            "/v1.41/containers/create?name=x",
            Some(r#"{"Image":"busybox","Labels":{"app":"web"}}"#),
        );
        assert_eq!(d, Decision::Allow(vec![]));
        let body = body.unwrap();
        assert_eq!(body["Labels"][OWNER_LABEL], "alice");
        assert_eq!(body["Labels"]["app"], "web");
        let (d, _, _) = run(
            "bob",
            Method::POST,
            "/v1.41/volumes/create",
            Some(r#"{"Name":"v","Labels":{"io.portcullis.owner":"alice"}}"#),
        );
        assert_eq!(rules(&d), ["PC-1040"]);
        assert!(matches!(d, Decision::Deny(_)));
        let (d, up, _) = run(
            "alice",
            Method::POST,
            "/v1.41/build?t=x&labels=%7B%22a%22%3A%22b%22%7D",
            None,
        );
        assert_eq!(d, Decision::Allow(vec![]));
        assert!(up.contains("io.portcullis.owner%22%3A%22alice"), "{up}");
        // An existing name is not handed over (dockerd would answer with that volume).
        let (d, _, _) = run(
            "alice",
            Method::POST,
            "/v1.41/volumes/create",
            Some(r#"{"Name":"bobs"}"#),
        );
        assert_eq!(rules(&d), ["PC-1040"]);
        let (d, _, _) = run(
            "alice",
            Method::POST,
            "/v1.41/volumes/create",
            Some(r#"{"Name":"data"}"#),
        );
        assert_eq!(d, Decision::Allow(vec![]));
        let (d, _, _) = run("alice", Method::POST, "/v1.41/build/prune", None);
        assert_eq!(rules(&d), ["PC-1040"]);
    }

    #[test]
    fn lists_carry_the_owner_filter() {
        let (d, up, _) = run("alice", Method::GET, "/v1.41/containers/json?all=1", None);
        assert_eq!(d, Decision::Allow(vec![]));
        assert!(up.contains("filters="), "{up}");
        assert!(up.contains("io.portcullis.owner%3Dalice"), "{up}");
        let (d, _, _) = run("alice", Method::GET, "/v1.41/volumes?filters=%7B", None);
        assert_eq!(rules(&d), ["PC-1040"]);
    }

    #[test]
    fn references_resolve_to_the_tenants_own_objects() {
        for hc in [
            r#"{"Binds":["bobs:/d"]}"#,
            r#"{"Mounts":[{"Type":"volume","Source":"bobs","Target":"/d"}]}"#,
            r#"{"VolumesFrom":["web"]}"#,
            r#"{"NetworkMode":"container:web"}"#,
            r#"{"Links":["web:w"]}"#,
            r#"{"NetworkMode":"admin"}"#,
            r#"{"NetworkMode":"front"}"#,
        ] {
            let who = if hc.contains("bobs") { "alice" } else { "bob" };
            let d = create_with(who, hc);
            assert!(pipeline::hidden(&d).is_some(), "{hc}: {d:?}");
        }
        assert_eq!(
            create_with("alice", r#"{"Binds":["data:/d"],"VolumesFrom":["web"]}"#),
            Decision::Allow(vec![])
        );
        assert_eq!(
            create_with("bob", r#"{"NetworkMode":"infra"}"#),
            Decision::Allow(vec![])
        );
        assert_eq!(
            create_with("bob", r#"{"NetworkMode":"bridge"}"#),
            Decision::Allow(vec![])
        );
        assert_eq!(
            rules(&create_with("alice", r#"{"Binds":["new:/d"]}"#)),
            ["PC-1040"]
        );
        // A missing volume in --mount type=volume is created with the owner stamped
        // into VolumeOptions.Labels.
        let (d, _, body) = run(
            "alice",
            Method::POST,
            "/v1.41/containers/create",
            Some(
                r#"{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"volume","Source":"new","Target":"/d"}]}}"#,
            ),
        );
        assert_eq!(d, Decision::Allow(vec![]));
        let body = body.unwrap();
        assert_eq!(
            body["HostConfig"]["Mounts"][0]["VolumeOptions"]["Labels"][OWNER_LABEL],
            "alice"
        );
    }

    #[test]
    fn service_mounts_name_the_tenants_own_volumes() {
        let service = |cn: &str, source: &str| {
            run(
                cn,
                Method::POST,
                "/v1.41/services/create",
                Some(&format!(
                    r#"{{"Name":"s","TaskTemplate":{{"ContainerSpec":{{"Image":"busybox","Mounts":[{{"Type":"volume","Source":"{source}","Target":"/d"}}]}}}}}}"#
                )),
            )
        };
        let (d, _, _) = service("bob", "data");
        assert_eq!(pipeline::hidden(&d), Some("get data: no such volume"));
        let (d, _, _) = service("alice", "bobs");
        assert!(pipeline::hidden(&d).is_some(), "{d:?}");
        for source in ["data", "new"] {
            let (d, _, body) = service("alice", source);
            assert_eq!(d, Decision::Allow(vec![]), "{source}");
            let m = &body.unwrap()["TaskTemplate"]["ContainerSpec"]["Mounts"][0];
            assert_eq!(m["VolumeOptions"]["Labels"][OWNER_LABEL], "alice");
        }
    }

    #[test]
    fn volumes_from_allowed_sources_are_shared_for_volumes_from_only() {
        // The operator's container the policy allows as a --volumes-from source.
        for hc in [
            r#"{"VolumesFrom":["ops-data"]}"#,
            r#"{"VolumesFrom":["ops-data:ro"]}"#,
        ] {
            assert_eq!(create_with("alice", hc), Decision::Allow(vec![]), "{hc}");
        }
        // Nothing else of it, nor an operator container the policy does not list, nor
        // another tenant's container of a listed name.
        for hc in [
            r#"{"NetworkMode":"container:ops-data"}"#,
            r#"{"PidMode":"container:ops-data"}"#,
            r#"{"Links":["ops-data:d"]}"#,
            r#"{"VolumesFrom":["ops-other"]}"#,
            r#"{"VolumesFrom":["bobs-data"]}"#,
        ] {
            let d = create_with("alice", hc);
            assert!(pipeline::hidden(&d).is_some(), "{hc}: {d:?}");
        }
        assert_eq!(
            create_with("bob", r#"{"VolumesFrom":["bobs-data"]}"#),
            Decision::Allow(vec![])
        );
        for (method, t) in [
            (Method::GET, "/v1.41/containers/ops-data/json"),
            (Method::POST, "/v1.41/containers/ops-data/exec"),
            (Method::POST, "/v1.41/containers/ops-data/stop"),
            (Method::DELETE, "/v1.41/containers/ops-data?force=1"),
        ] {
            let body = t.ends_with("/exec").then_some(r#"{"Cmd":["id"]}"#);
            let (d, _, _) = run("alice", method, t, body);
            assert_eq!(
                pipeline::hidden(&d),
                Some("No such container: ops-data"),
                "{t}"
            );
        }
    }

    #[test]
    fn shared_networks_are_used_not_changed() {
        let (d, up, _) = run(
            "bob",
            Method::POST,
            "/v1.41/networks/infra/connect",
            Some(r#"{"Container":"web"}"#),
        );
        // Joining the shared network is fine; the container is alice's.
        assert_eq!(pipeline::hidden(&d), Some("No such container: web"), "{up}");
        let (d, up, _) = run(
            "alice",
            Method::POST,
            "/v1.41/networks/infra/connect",
            Some(r#"{"Container":"web"}"#),
        );
        assert_eq!(d, Decision::Allow(vec![]));
        assert!(up.starts_with("/v1.41/networks/n1/connect"), "{up}");
        let (d, _, _) = run("alice", Method::DELETE, "/v1.41/networks/infra", None);
        assert_eq!(rules(&d), ["PC-1042"]);
        let (d, _, _) = run("alice", Method::GET, "/v1.41/networks/admin", None);
        assert_eq!(pipeline::hidden(&d), Some("network admin not found"));
    }

    #[test]
    fn creates_beyond_the_quota_are_refused() {
        let set = set_of("name = \"q\"\n[tenants]\nmax_containers = 2\n");
        let decide = |count: usize| {
            let mut f = facts();
            f.counts
                .insert((Kind::Container, "alice".into()), Some(count));
            match pipeline::check(
                &set,
                &client("alice"),
                &Method::POST,
                "/v1.41/containers/create",
                Some(br#"{"Image":"busybox"}"#),
                &f,
            ) {
                Outcome::Decided { decision, .. } => decision,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(decide(1), Decision::Allow(vec![]));
        assert_eq!(rules(&decide(2)), ["PC-1043"]);
        // Without the count the proxy asks the daemon; kinds without a quota are not
        // counted.
        for (target, body, want) in [
            (
                "/v1.41/containers/create",
                r#"{"Image":"busybox"}"#,
                vec![crate::policy::Lookup::Count(
                    Kind::Container,
                    "alice".into(),
                )],
            ),
            ("/v1.41/volumes/create", r#"{"Name":"v"}"#, vec![]),
        ] {
            match pipeline::check(
                &set,
                &client("alice"),
                &Method::POST,
                target,
                Some(body.as_bytes()),
                &Facts::default(),
            ) {
                Outcome::Decided { lookups, .. } => {
                    let counts: Vec<_> = lookups
                        .into_iter()
                        .filter(|l| matches!(l, crate::policy::Lookup::Count(..)))
                        .collect();
                    assert_eq!(counts, want, "{target}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    /// A service's replicas count toward max_containers: a create by its replicas, a
    /// scale by what it adds; a global service or a count beyond i64 is refused.
    #[test]
    fn service_replicas_count_as_containers() {
        let set = set_of("name = \"q\"\n[tenants]\nmax_containers = 10\n");
        let mut f = facts();
        f.counts.insert((Kind::Container, "alice".into()), Some(4));
        f.services.insert(
            "api".into(),
            Some(crate::policy::ServiceFacts {
                id: "s1".into(),
                name: "api".into(),
                labels: owned_by(Some("alice")),
                spec: Some(serde_json::json!({"Name": "api",
                    "Mode": {"Replicated": {"Replicas": 3}}})),
                previous_spec: None,
            }),
        );
        let decide = |target: &str, mode: &str, f: &Facts| {
            let body = format!(
                r#"{{"Name":"api","Mode":{mode},"TaskTemplate":{{"ContainerSpec":{{"Image":"busybox"}}}}}}"#
            );
            match pipeline::check(
                &set,
                &client("alice"),
                &Method::POST,
                target,
                Some(body.as_bytes()),
                f,
            ) {
                Outcome::Decided { decision, .. } => decision,
                other => panic!("{other:?}"),
            }
        };
        let create = "/v1.41/services/create";
        let scale = "/v1.41/services/api/update?version=1";
        assert_eq!(
            decide(create, r#"{"Replicated":{"Replicas":6}}"#, &f),
            Decision::Allow(vec![])
        );
        let d = decide(create, r#"{"Replicated":{"Replicas":7}}"#, &f);
        let Decision::Deny(v) = &d else {
            panic!("{d:?}")
        };
        assert_eq!(rules(&d), ["PC-1043"]);
        assert!(
            v[0].message
                .contains("has 4 containers, its quota is 10 and asks for 7 more"),
            "{v:?}"
        );
        // Scaling api from 3 to 9 adds 6; to 10 adds 7; scaling down always passes.
        assert_eq!(
            decide(scale, r#"{"Replicated":{"Replicas":9}}"#, &f),
            Decision::Allow(vec![])
        );
        assert_eq!(
            rules(&decide(scale, r#"{"Replicated":{"Replicas":10}}"#, &f)),
            ["PC-1043"]
        );
        f.counts.insert((Kind::Container, "alice".into()), Some(20));
        assert_eq!(
            decide(scale, r#"{"Replicated":{"Replicas":1}}"#, &f),
            Decision::Allow(vec![])
        );
        // A replica count the daemon reads as a uint64 beyond i64, and global mode.
        for mode in [
            r#"{"Replicated":{"Replicas":18446744073709551615}}"#,
            r#"{"Global":{}}"#,
        ] {
            let d = decide(create, mode, &f);
            assert!(rules(&d).contains(&"PC-1043"), "{mode}: {d:?}");
        }
        // At the top of usize the sum is refused, not wrapped.
        f.counts
            .insert((Kind::Container, "alice".into()), Some(usize::MAX));
        assert_eq!(
            rules(&decide(create, r#"{"Replicated":{"Replicas":2}}"#, &f)),
            ["PC-1043"]
        );
    }

    /// A container cannot pass itself off as a swarm task with swarm's labels.
    #[test]
    fn containers_cannot_carry_swarm_labels() {
        let (d, _, _) = run(
            "alice",
            Method::POST,
            "/v1.41/containers/create",
            Some(r#"{"Image":"busybox","Labels":{"com.docker.swarm.service.id":"s1"}}"#),
        );
        assert_eq!(rules(&d), ["PC-1040"]);
        let (d, _, _) = run(
            "alice",
            Method::POST,
            "/v1.41/containers/create",
            Some(r#"{"Image":"busybox","Labels":{"com.docker.swarmy":"x"}}"#),
        );
        assert_eq!(d, Decision::Allow(vec![]));
    }

    #[test]
    fn memory_and_cpu_quotas_count_the_tenants_limits() {
        let set = set_of(
            "name = \"q\"\n[tenants]\nmax_memory = \"1g\"\nmax_cpus = 1\nmax_services = 1\n",
        );
        let decide = |target: &str, body: &str, f: &Facts| match pipeline::check(
            &set,
            &client("alice"),
            &Method::POST,
            target,
            Some(body.as_bytes()),
            f,
        ) {
            Outcome::Decided {
                decision, lookups, ..
            } => (decision, lookups),
            other => panic!("{other:?}"),
        };
        let (_, lookups) = decide(
            "/v1.41/containers/create",
            r#"{"Image":"busybox"}"#,
            &Facts::default(),
        );
        assert!(lookups.contains(&crate::policy::Lookup::Usage("alice".into())));
        let mut f = facts();
        f.usage.insert(
            "alice".into(),
            Some(crate::tenant::quota::Usage {
                containers: vec![crate::tenant::quota::Held {
                    id: "c0ffee".into(),
                    memory: Some(512 << 20),
                    nano_cpus: Some(500_000_000),
                    ..Default::default()
                }],
                services: vec![],
            }),
        );
        f.counts.insert((Kind::Service, "alice".into()), Some(1));
        let create = |hc: &str| {
            decide(
                "/v1.41/containers/create",
                &format!(r#"{{"Image":"busybox","HostConfig":{hc}}}"#),
                &f,
            )
            .0
        };
        assert_eq!(
            create(r#"{"Memory":536870912,"NanoCpus":500000000}"#),
            Decision::Allow(vec![])
        );
        let d = create(r#"{"Memory":536870913,"NanoCpus":500000000}"#);
        assert_eq!(rules(&d), ["PC-1043"]);
        let Decision::Deny(v) = &d else { panic!() };
        assert!(
            v[0].message.contains("quota is 1GiB, it uses 512MiB"),
            "{v:?}"
        );
        assert_eq!(rules(&create(r#"{"Memory":0}"#)), ["PC-1043", "PC-1043"]);
        // docker update of web: raising it to the quota passes, beyond does not.
        let (d, _) = decide(
            "/v1.41/containers/web/update",
            r#"{"Memory":1073741824}"#,
            &f,
        );
        assert_eq!(d, Decision::Allow(vec![]));
        let (d, _) = decide(
            "/v1.41/containers/web/update",
            r#"{"NanoCpus":1500000000}"#,
            &f,
        );
        assert_eq!(rules(&d), ["PC-1043"]);
        // The one service alice may have exists.
        let (d, _) = decide(
            "/v1.41/services/create",
            r#"{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"busybox"},"Resources":{"Limits":{"MemoryBytes":1048576,"NanoCPUs":1000000}}}}"#,
            &f,
        );
        let Decision::Deny(v) = &d else {
            panic!("{d:?}")
        };
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message.contains("has 1 services, its quota is 1"),
            "{v:?}"
        );
        // A rollback is counted with the previous spec swarm would run.
        f.services.insert(
            "api".into(),
            Some(crate::policy::ServiceFacts {
                id: "s1".into(),
                name: "api".into(),
                labels: owned_by(Some("alice")),
                spec: None,
                previous_spec: Some(serde_json::json!({"Name": "api",
                    "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}})),
            }),
        );
        let small = r#"{"Name":"api","TaskTemplate":{"ContainerSpec":{"Image":"busybox"},"Resources":{"Limits":{"MemoryBytes":1048576,"NanoCPUs":1000000}}}}"#;
        let (d, _) = decide("/v1.41/services/api/update?version=1", small, &f);
        assert_eq!(d, Decision::Allow(vec![]));
        let (d, _) = decide(
            "/v1.41/services/api/update?version=1&rollback=previous",
            small,
            &f,
        );
        assert_eq!(rules(&d), ["PC-1043", "PC-1043"], "{d:?}");
    }

    #[test]
    fn volumes_a_mount_creates_count_against_the_quota() {
        let set = set_of("name = \"q\"\n[tenants]\nmax_volumes = 2\n");
        let mut f = facts();
        f.owned.insert((Kind::Volume, "new2".into()), None);
        f.counts.insert((Kind::Volume, "alice".into()), Some(1));
        let decide = |mounts: &str| match pipeline::check(
            &set,
            &client("alice"),
            &Method::POST,
            "/v1.41/containers/create",
            Some(format!(r#"{{"Image":"busybox","HostConfig":{{"Mounts":{mounts}}}}}"#).as_bytes()),
            &f,
        ) {
            Outcome::Decided { decision, .. } => decision,
            other => panic!("{other:?}"),
        };
        let m = |src: &str| format!(r#"{{"Type":"volume","Source":"{src}","Target":"/{src}"}}"#);
        // An existing volume of hers creates nothing; one new volume fits, two do not
        // (the same name twice is one).
        assert_eq!(decide(&format!("[{}]", m("data"))), Decision::Allow(vec![]));
        assert_eq!(decide(&format!("[{}]", m("new"))), Decision::Allow(vec![]));
        assert_eq!(
            decide(&format!("[{},{}]", m("new"), m("new"))),
            Decision::Allow(vec![])
        );
        assert_eq!(
            rules(&decide(&format!("[{},{}]", m("new"), m("new2")))),
            ["PC-1043"]
        );
    }

    /// An auditing policy forwards and records what isolation would have refused.
    #[test]
    fn an_auditing_policy_records_hidden_objects() {
        let set = set_of("name = \"a\"\nmode = \"audit\"\n[tenants]\n");
        match pipeline::check(
            &set,
            &client("bob"),
            &Method::GET,
            "/v1.41/containers/web/json",
            None,
            &facts(),
        ) {
            Outcome::Decided { decision, .. } => {
                assert_eq!(rules(&decision), ["PC-1041"]);
                assert!(matches!(decision, Decision::Allow(_)));
                assert_eq!(pipeline::hidden(&decision), None);
            }
            other => panic!("{other:?}"),
        }
    }

    /// The built-in default policy, and any policy without a `[tenants]` table,
    /// isolates tenants by common name.
    #[test]
    fn the_default_policy_isolates_by_common_name() {
        let builtin = PolicySet::builtin();
        let bare = Policy::from_toml("name = \"bare\"\n", Path::new("bare.toml")).unwrap();
        for set in [builtin, PolicySet::new(vec![bare]).unwrap()] {
            assert!(set.policies[0].tenancy.isolate);
            assert_eq!(set.policies[0].tenancy, crate::tenant::Tenancy::default());
            match pipeline::check(
                &set,
                &client("bob"),
                &Method::GET,
                "/v1.41/containers/json",
                None,
                &facts(),
            ) {
                Outcome::Decided { upstream, .. } => {
                    assert!(upstream.contains("io.portcullis.owner%3Dbob"), "{upstream}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn with_isolation_off_nothing_changes() {
        let set = set_of("name = \"single\"\n[tenants]\nisolate = false\n");
        assert!(!set.policies[0].tenancy.isolate);
        match pipeline::check(
            &set,
            &client("bob"),
            &Method::GET,
            "/v1.41/containers/json",
            None,
            &facts(),
        ) {
            Outcome::Decided {
                upstream, decision, ..
            } => {
                assert_eq!(upstream, "/v1.41/containers/json");
                assert_eq!(decision, Decision::Allow(vec![]));
            }
            other => panic!("{other:?}"),
        }
    }
}
