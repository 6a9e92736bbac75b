//! The policy: which Docker operations a client may perform, decided from the typed
//! operation, the Go-exact body view and facts about existing objects. No I/O here:
//! [`Policy::assess`] gives the decision and the facts still needed; the proxy fetches
//! those and assesses again.

mod check;
mod families;
pub mod fields;
pub mod model;
pub mod pin;
pub mod pipeline;
pub mod registry;
mod resources;
pub mod rules;
mod workdir;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use http::{HeaderMap, Method};
use serde_json::Value;

use std::borrow::Cow;

use crate::docker::json::{Json, Object};
use crate::docker::path::ApiVersion;
use crate::docker::query::Query;
use crate::docker::route::Operation;
use crate::tls::Identity;
pub use model::{Mode, Policy, PolicyError};

use fields::host_config;

/// The built-in default policy (the shipped `policies/default.toml`).
pub const BUILTIN_DEFAULT: &str = include_str!("../../policies/default.toml");

/// What the policy sees of a request.
pub struct RequestView<'a> {
    pub identity: &'a Identity,
    pub method: &'a Method,
    pub version: Option<ApiVersion>,
    pub op: &'a Operation,
    pub query: &'a Query,
    /// The checked, canonical JSON body (the exact value forwarded).
    pub body: Option<&'a Json<'a>>,
    pub headers: &'a HeaderMap,
}

/// A broken rule: its stable id and what is wrong and how to comply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: &'static str,
    pub message: String,
}

/// The outcome. `Allow` may carry violations in audit mode (allowed but recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(Vec<Violation>),
    Deny(Vec<Violation>),
}

/// Something the policy needs to know from the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Lookup {
    Container(String),
    Volume(String),
    Service(String),
    /// A network by name, id or id prefix (service network targets).
    Network(String),
    /// An exec instance by id, for the container it runs in.
    Exec(String),
    /// An image by reference or id, for the working directory it gives a container.
    Image(String),
    /// A volume, network, task, secret or config, for its owner (tenants).
    Owned(crate::tenant::access::Kind, String),
    /// How many containers, volumes or networks a tenant has (quotas).
    Count(crate::tenant::access::Kind, String),
    /// The memory and CPU limits a tenant's containers and services hold (quotas).
    Usage(String),
    /// The owners of the containers (stopped ones included) that run an image (by id)
    /// or an image built on it (tenants' image removals).
    ImageUsers(String),
}

/// An existing object a tenant may own: its id, name and labels.
#[derive(Debug, Clone, Default)]
pub struct OwnedFacts {
    pub id: String,
    pub name: String,
    pub labels: HashMap<String, String>,
}

impl OwnedFacts {
    /// Read from the daemon's inspect answer for an object of `kind`.
    pub fn from_inspect(kind: crate::tenant::access::Kind, v: &Value) -> Self {
        use crate::tenant::access::Kind;
        let s = |v: &Value| v.as_str().unwrap_or("").to_string();
        let (id, name, labels) = match kind {
            Kind::Volume => (s(&v["Name"]), s(&v["Name"]), &v["Labels"]),
            Kind::Network => (s(&v["Id"]), s(&v["Name"]), &v["Labels"]),
            // A task's owner is its container spec's (the task's own labels are empty).
            Kind::Task => (
                s(&v["ID"]),
                s(&v["Name"]),
                &v["Spec"]["ContainerSpec"]["Labels"],
            ),
            _ => (s(&v["ID"]), s(&v["Spec"]["Name"]), &v["Spec"]["Labels"]),
        };
        OwnedFacts {
            id,
            name,
            labels: string_map(labels),
        }
    }
}

/// An existing swarm service.
#[derive(Debug, Clone, Default)]
pub struct ServiceFacts {
    pub id: String,
    pub name: String,
    /// Service labels and its containers' labels.
    pub labels: HashMap<String, String>,
    /// The spec it runs now: what an update that fails rolls back to.
    pub spec: Option<Value>,
    /// The spec before the last update: what `rollback=previous` puts back.
    pub previous_spec: Option<Value>,
}

impl ServiceFacts {
    pub fn from_inspect(v: &Value) -> Self {
        let mut labels = string_map(&v["Spec"]["Labels"]);
        labels.extend(string_map(
            &v["Spec"]["TaskTemplate"]["ContainerSpec"]["Labels"],
        ));
        let spec = |k: &str| Some(v[k].clone()).filter(Value::is_object);
        ServiceFacts {
            id: v["ID"].as_str().unwrap_or("").to_string(),
            name: v["Spec"]["Name"].as_str().unwrap_or("").to_string(),
            labels,
            spec: spec("Spec"),
            previous_spec: spec("PreviousSpec"),
        }
    }
}

/// A JSON object of strings (labels, driver options) as a map; other values read as "".
/// The strings of a JSON array (nothing for anything else).
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn string_map(v: &Value) -> HashMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// An existing container, as far as the policy cares.
#[derive(Debug, Clone, Default)]
pub struct ContainerFacts {
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    pub labels: HashMap<String, String>,
    pub privileged: bool,
    pub network_mode: String,
    pub pid_mode: String,
    pub ipc_mode: String,
    pub uts_mode: String,
    pub userns_mode: String,
    /// Capabilities added (`CapAdd`).
    pub cap_add: Vec<String>,
    /// Whether it maps host devices (`Devices`, `DeviceCgroupRules`, `DeviceRequests`).
    pub devices: bool,
    /// `(type, source or volume name)` of each mount.
    pub mounts: Vec<(String, String)>,
    /// `HostConfig.VolumesFrom` as stored (`name[:mode]`).
    pub volumes_from: Vec<String>,
    /// `Config.WorkingDir`: where an exec without a working directory runs.
    pub working_dir: String,
    /// Its stored `HostConfig` without the values the daemon fills in itself (see
    /// [`stored_host_config`]): what the container family's rules judge when someone
    /// would work inside it.
    pub host_config: Option<Json<'static>>,
}

impl ContainerFacts {
    pub fn from_inspect(v: &Value) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or("").to_string();
        let hc = &v["HostConfig"];
        let non_empty = |v: &Value| v.as_array().is_some_and(|a| !a.is_empty());
        ContainerFacts {
            id: text(&v["Id"]),
            name: text(&v["Name"]).trim_start_matches('/').to_string(),
            labels: string_map(&v["Config"]["Labels"]),
            privileged: hc[host_config::PRIVILEGED.name()]
                .as_bool()
                .unwrap_or(false),
            network_mode: text(&hc[host_config::NETWORK_MODE.name()]),
            pid_mode: text(&hc[host_config::PID_MODE.name()]),
            ipc_mode: text(&hc[host_config::IPC_MODE.name()]),
            uts_mode: text(&hc[host_config::UTS_MODE.name()]),
            userns_mode: text(&hc[host_config::USERNS_MODE.name()]),
            cap_add: hc[host_config::CAP_ADD.name()]
                .as_array()
                .map(|a| a.iter().map(text).collect())
                .unwrap_or_default(),
            volumes_from: hc[host_config::VOLUMES_FROM.name()]
                .as_array()
                .map(|a| a.iter().map(text).collect())
                .unwrap_or_default(),
            devices: non_empty(&hc[host_config::DEVICES.name()])
                || non_empty(&hc[host_config::DEVICE_CGROUP_RULES.name()])
                || non_empty(&hc[host_config::DEVICE_REQUESTS.name()]),
            mounts: v["Mounts"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|m| {
                            let ty = text(&m["Type"]);
                            let src = if ty == "volume" {
                                text(&m["Name"])
                            } else {
                                text(&m["Source"])
                            };
                            (ty, src)
                        })
                        .collect()
                })
                .unwrap_or_default(),
            working_dir: text(&v["Config"]["WorkingDir"]),
            host_config: Some(stored_host_config(hc)),
        }
    }

    /// The HostConfig the host-access rules judge: the stored one, with the fields
    /// kept apart above written over it (they are the same when both come from an
    /// inspect answer; facts built by hand may set only those).
    pub fn host_config_to_check(&self) -> Json<'static> {
        let mut hc = match &self.host_config {
            Some(Json::Object(o)) => o.clone(),
            _ => Object::new(),
        };
        let text = |v: &str| Json::String(Cow::Owned(v.to_string()));
        if self.privileged {
            hc.insert(host_config::PRIVILEGED.name(), Json::Bool(true));
        }
        for (field, mode) in [
            (host_config::NETWORK_MODE, &self.network_mode),
            (host_config::PID_MODE, &self.pid_mode),
            (host_config::IPC_MODE, &self.ipc_mode),
            (host_config::UTS_MODE, &self.uts_mode),
            (host_config::USERNS_MODE, &self.userns_mode),
        ] {
            if !mode.is_empty() {
                hc.insert(field.name(), text(mode));
            }
        }
        if !self.cap_add.is_empty() {
            let caps = self.cap_add.iter().map(|c| text(c)).collect();
            hc.insert(host_config::CAP_ADD.name(), Json::Array(caps));
        }
        let devices_set = [
            host_config::DEVICES,
            host_config::DEVICE_CGROUP_RULES,
            host_config::DEVICE_REQUESTS,
        ]
        .into_iter()
        .any(|field| fields::is_set(&Json::Object(hc.clone()), field));
        if self.devices && !devices_set {
            let device = Json::Object(Object::new());
            hc.insert(host_config::DEVICES.name(), Json::Array(vec![device]));
        }
        Json::Object(hc)
    }
}

/// Paths every supported dockerd masks (`MaskedPaths`) or makes read-only
/// (`ReadonlyPaths`) by default; a stored list holding all of them is the daemon's
/// default, one without them an override (`systempaths=unconfined` stores `[]`).
const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/sys/firmware",
];
const DEFAULT_READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"];

/// A container's `HostConfig` from its inspect answer, without what the daemon fills in
/// itself at create, so that only what its creator asked for is judged:
/// - `CgroupnsMode`: the daemon's default is `host` on cgroup v1 and `private` on v2,
///   so the stored value does not tell a request from the default (not judged);
/// - `MaskedPaths` / `ReadonlyPaths`: the daemon stores its default lists; a list that
///   keeps every default path is dropped, a shorter one (`[]`) is an override;
/// - `SecurityOpt` `label=disable`: added by the daemon for privileged containers and
///   host PID or IPC namespaces (judged through those);
/// - `Runtime` `oci`: Podman's name for whatever OCI runtime it is configured with.
pub fn stored_host_config(hc: &Value) -> Json<'static> {
    let Json::Object(stored) = owned_json(hc) else {
        return Json::Object(Object::new());
    };
    let str_list = |v: &Json| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Json::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let daemon_disables_labels = hc[host_config::PRIVILEGED.name()].as_bool() == Some(true)
        || hc[host_config::PID_MODE.name()] == "host"
        || hc[host_config::IPC_MODE.name()] == "host";
    let mut out = Object::new();
    for (key, value) in stored.iter() {
        let keep = if key == host_config::CGROUPNS_MODE.name() {
            None
        } else if key == host_config::RUNTIME.name() && value.as_str() == Some("oci") {
            // Podman's inspect names its configured OCI runtime "oci" whatever it is.
            None
        } else if key == host_config::MASKED_PATHS.name()
            || key == host_config::READONLY_PATHS.name()
        {
            let defaults = if key == host_config::MASKED_PATHS.name() {
                DEFAULT_MASKED_PATHS
            } else {
                DEFAULT_READONLY_PATHS
            };
            let list = str_list(value);
            let default = value.is_null() || defaults.iter().all(|d| list.iter().any(|p| p == d));
            (!default).then(|| value.clone())
        } else if key == host_config::SECURITY_OPT.name() && daemon_disables_labels {
            let opts: Vec<Json<'static>> = str_list(value)
                .into_iter()
                .filter(|o| !matches!(o.as_str(), "label=disable" | "label:disable" | "disable"))
                .map(|o| Json::String(Cow::Owned(o)))
                .collect();
            Some(Json::Array(opts))
        } else {
            Some(value.clone())
        };
        if let Some(v) = keep {
            out.insert(key.to_string(), v);
        }
    }
    Json::Object(out)
}

/// A `serde_json` value (a daemon's answer) as the owned body view the rules read.
fn owned_json(v: &Value) -> Json<'static> {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => Json::Number(n.clone()),
        Value::String(s) => Json::String(Cow::Owned(s.clone())),
        Value::Array(a) => Json::Array(a.iter().map(owned_json).collect()),
        Value::Object(o) => {
            let mut out = Object::new();
            for (k, v) in o {
                out.insert(k.clone(), owned_json(v));
            }
            Json::Object(out)
        }
    }
}

/// An existing image.
#[derive(Debug, Clone, Default)]
pub struct ImageFacts {
    pub id: String,
    /// `Config.WorkingDir`: where a container created without one runs.
    pub working_dir: String,
    /// The tenant its owner label (`Config.Labels`) names, if any (tenants' images).
    pub owner: Option<String>,
    /// `RepoTags`, in the daemon's familiar form (`nginx:latest`, `alice/app:1`).
    pub tags: Vec<String>,
    /// `RepoDigests`: the registry names it was pulled from or pushed to.
    pub digests: Vec<String>,
}

impl ImageFacts {
    pub fn from_inspect(v: &Value) -> Self {
        ImageFacts {
            id: v["Id"].as_str().unwrap_or("").to_string(),
            working_dir: v["Config"]["WorkingDir"].as_str().unwrap_or("").to_string(),
            owner: v["Config"]["Labels"][crate::tenant::OWNER_LABEL]
                .as_str()
                .map(str::to_string),
            tags: strings(&v["RepoTags"]),
            digests: strings(&v["RepoDigests"]),
        }
    }
}

/// An existing network.
#[derive(Debug, Clone, Default)]
pub struct NetworkFacts {
    pub id: String,
    pub name: String,
    pub driver: String,
}

impl NetworkFacts {
    pub fn from_inspect(v: &Value) -> Self {
        NetworkFacts {
            id: v["Id"].as_str().unwrap_or("").to_string(),
            name: v["Name"].as_str().unwrap_or("").to_string(),
            driver: v["Driver"].as_str().unwrap_or("").to_string(),
        }
    }
}

/// An existing exec instance.
#[derive(Debug, Clone, Default)]
pub struct ExecFacts {
    /// The full id of the container it runs in.
    pub container_id: String,
}

impl ExecFacts {
    pub fn from_inspect(v: &Value) -> Self {
        ExecFacts {
            container_id: v["ContainerID"].as_str().unwrap_or("").to_string(),
        }
    }
}

/// An existing volume.
#[derive(Debug, Clone, Default)]
pub struct VolumeFacts {
    pub driver: String,
    pub options: HashMap<String, String>,
}

impl VolumeFacts {
    pub fn from_inspect(v: &Value) -> Self {
        VolumeFacts {
            driver: v["Driver"].as_str().unwrap_or("").to_string(),
            options: string_map(&v["Options"]),
        }
    }
}

/// Answers to lookups; `None` means the object does not exist.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub containers: HashMap<String, Option<ContainerFacts>>,
    pub volumes: HashMap<String, Option<VolumeFacts>>,
    pub services: HashMap<String, Option<ServiceFacts>>,
    pub networks: HashMap<String, Option<NetworkFacts>>,
    pub execs: HashMap<String, Option<ExecFacts>>,
    pub images: HashMap<String, Option<ImageFacts>>,
    pub owned: HashMap<(crate::tenant::access::Kind, String), Option<OwnedFacts>>,
    /// Objects of a kind a tenant has; `None` when not counted (taken as none).
    pub counts: HashMap<(crate::tenant::access::Kind, String), Option<usize>>,
    /// What a tenant's containers and services hold; `None` when not looked up (taken
    /// as nothing).
    pub usage: HashMap<String, Option<crate::tenant::quota::Usage>>,
    /// Each container using an image (by id): its owner label (`""` for the
    /// operator's) and the image name it was created with; `None` when there are none.
    pub image_users: HashMap<String, Option<Vec<(String, String)>>>,
}

impl Facts {
    pub fn has(&self, l: &Lookup) -> bool {
        match l {
            Lookup::Container(n) => self.containers.contains_key(n),
            Lookup::Volume(n) => self.volumes.contains_key(n),
            Lookup::Service(n) => self.services.contains_key(n),
            Lookup::Network(n) => self.networks.contains_key(n),
            Lookup::Exec(n) => self.execs.contains_key(n),
            Lookup::Image(n) => self.images.contains_key(n),
            Lookup::Owned(k, n) => self.owned.contains_key(&(*k, n.clone())),
            Lookup::Count(k, t) => self.counts.contains_key(&(*k, t.clone())),
            Lookup::Usage(t) => self.usage.contains_key(t),
            Lookup::ImageUsers(id) => self.image_users.contains_key(id),
        }
    }

    /// Record the answer "no such object" for `l`.
    pub fn set_absent(&mut self, l: &Lookup) {
        match l {
            Lookup::Container(n) => self.containers.insert(n.clone(), None).is_some(),
            Lookup::Volume(n) => self.volumes.insert(n.clone(), None).is_some(),
            Lookup::Service(n) => self.services.insert(n.clone(), None).is_some(),
            Lookup::Network(n) => self.networks.insert(n.clone(), None).is_some(),
            Lookup::Exec(n) => self.execs.insert(n.clone(), None).is_some(),
            Lookup::Image(n) => self.images.insert(n.clone(), None).is_some(),
            Lookup::Owned(k, n) => self.owned.insert((*k, n.clone()), None).is_some(),
            Lookup::Count(k, t) => self.counts.insert((*k, t.clone()), None).is_some(),
            Lookup::Usage(t) => self.usage.insert(t.clone(), None).is_some(),
            Lookup::ImageUsers(id) => self.image_users.insert(id.clone(), None).is_some(),
        };
    }
}

/// The denial message: every violation, each with its rule id first.
pub fn denial_message(policy: &str, violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {} (policy {policy:?})", v.rule, v.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every loaded policy and the identity mapping.
#[derive(Debug, Clone)]
pub struct PolicySet {
    pub policies: Vec<Policy>,
    default_index: usize,
}

impl PolicySet {
    /// Build a set; exactly one default is required when there are several policies.
    pub fn new(policies: Vec<Policy>) -> Result<Self, Vec<PolicyError>> {
        if policies.is_empty() {
            return Err(vec![PolicyError {
                file: "-".into(),
                message: "no policy loaded".into(),
            }]);
        }
        let defaults: Vec<usize> = (0..policies.len())
            .filter(|&i| policies[i].default)
            .collect();
        let default_index = match (policies.len(), defaults.as_slice()) {
            (1, _) => 0,
            (_, [one]) => *one,
            (_, []) => {
                return Err(vec![PolicyError {
                    file: "-".into(),
                    message: "several policies loaded but none has `default = true`".into(),
                }])
            }
            (_, many) => {
                return Err(many
                    .iter()
                    .map(|&i| PolicyError {
                        file: policies[i].source.display().to_string(),
                        message: "more than one policy has `default = true`".into(),
                    })
                    .collect())
            }
        };
        let mut names = std::collections::HashSet::new();
        let mut errors = Vec::new();
        for p in &policies {
            if !names.insert(p.name.clone()) {
                errors.push(PolicyError {
                    file: p.source.display().to_string(),
                    message: format!("policy name {:?} is used twice", p.name),
                });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(PolicySet {
            policies,
            default_index,
        })
    }

    /// The built-in default policy.
    pub fn builtin() -> Self {
        let p = Policy::from_toml(BUILTIN_DEFAULT, Path::new("<built-in default.toml>"))
            .expect("the built-in default policy is valid");
        PolicySet::new(vec![p]).expect("one policy is a valid set")
    }

    /// Load from files and directories (`*.toml` in a directory, in name order).
    pub fn load(paths: &[PathBuf]) -> Result<Self, Vec<PolicyError>> {
        let mut files = Vec::new();
        let mut errors = Vec::new();
        for p in paths {
            if p.is_dir() {
                match std::fs::read_dir(p) {
                    Ok(rd) => {
                        let mut found: Vec<PathBuf> = rd
                            .filter_map(|e| e.ok().map(|e| e.path()))
                            .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                            .collect();
                        found.sort();
                        files.extend(found);
                    }
                    Err(e) => errors.push(PolicyError {
                        file: p.display().to_string(),
                        message: e.to_string(),
                    }),
                }
            } else {
                files.push(p.clone());
            }
        }
        let mut policies = Vec::new();
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(text) => match Policy::from_toml(&text, &f) {
                    Ok(p) => policies.push(p),
                    Err(e) => errors.extend(e),
                },
                Err(e) => errors.push(PolicyError {
                    file: f.display().to_string(),
                    message: e.to_string(),
                }),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        PolicySet::new(policies)
    }

    /// The policy that applies to a client: the one its listener names (`?policy=NAME`,
    /// which takes precedence), else the first whose `identities` match, else the
    /// default. A listener naming a policy the set lacks gets [`refuse_all`]: loading
    /// and reloading check the names ([`PolicySet::check_listener_policies`]), so this
    /// is only the fail-closed backstop.
    pub fn for_identity(&self, id: &Identity) -> &Policy {
        if let Some(name) = id.listener_policy.as_deref() {
            return self
                .policies
                .iter()
                .find(|p| p.name == name)
                .unwrap_or_else(|| refuse_all());
        }
        self.policies
            .iter()
            .find(|p| identity_matches(&p.identities, id))
            .unwrap_or(&self.policies[self.default_index])
    }

    /// Every listener-bound policy name must be a loaded policy; the error lists the
    /// known names.
    pub fn check_listener_policies<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), Vec<PolicyError>> {
        let known: Vec<&str> = self.policies.iter().map(|p| p.name.as_str()).collect();
        let errors: Vec<PolicyError> = names
            .into_iter()
            .filter(|n| !known.contains(n))
            .map(|n| PolicyError {
                file: "--listen".into(),
                message: format!(
                    "a listener names policy {n:?}, which is not loaded (loaded: {})",
                    known.join(", ")
                ),
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// A policy that refuses every operation, for a listener whose policy is missing.
fn refuse_all() -> &'static Policy {
    static P: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        let text = r#"
name = "<missing listener policy>"
[endpoints]
deny_groups = ["system", "container", "exec", "image", "volume", "network", "build",
  "swarm", "node", "service", "task", "secret", "config", "plugin", "distribution",
  "session", "checkpoint", "unknown"]
allow_operations = []
"#;
        Policy::from_toml(text, Path::new("<refuse-all>")).expect("the refuse-all policy is valid")
    })
}

fn identity_matches(m: &model::IdentityMatch, id: &Identity) -> bool {
    let any = |list: &[String], vals: &[String]| list.iter().any(|l| vals.contains(l));
    id.common_name
        .as_ref()
        .is_some_and(|cn| m.common_names.contains(cn))
        || any(&m.organizations, &id.organizations)
        || any(&m.org_units, &id.org_units)
        || any(&m.sans, &id.sans)
        || id.uid.is_some_and(|u| m.uids.contains(&u))
        || id.gid.is_some_and(|g| m.gids.contains(&g))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn two_policies() -> PolicySet {
        let default =
            Policy::from_toml("name = \"default\"\ndefault = true\n", Path::new("d.toml")).unwrap();
        let ops = Policy::from_toml(
            "name = \"ops\"\n[identities]\nuids = [1000]\ngids = [50]\n",
            Path::new("o.toml"),
        )
        .unwrap();
        PolicySet::new(vec![default, ops]).unwrap()
    }

    #[test]
    fn unix_peer_credentials_match_uids_and_gids() {
        let set = two_policies();
        assert_eq!(
            set.for_identity(&Identity::unix_peer(1000, 1, Some(7)))
                .name,
            "ops"
        );
        assert_eq!(
            set.for_identity(&Identity::unix_peer(2, 50, None)).name,
            "ops"
        );
        assert_eq!(
            set.for_identity(&Identity::unix_peer(2, 2, None)).name,
            "default"
        );
        // A TCP client has no uid, whatever the list holds.
        assert_eq!(
            set.for_identity(&Identity::transport("tcp")).name,
            "default"
        );
    }

    #[test]
    fn a_listener_policy_takes_precedence() {
        let set = two_policies();
        let bound = |name: &str| Identity {
            listener_policy: Some(name.into()),
            ..Identity::unix_peer(1000, 50, None)
        };
        assert_eq!(set.for_identity(&bound("default")).name, "default");
        assert_eq!(set.for_identity(&bound("ops")).name, "ops");
        // Unreachable after the load-time check, and then refused, never the default.
        let missing = set.for_identity(&bound("gone"));
        assert_eq!(missing.name, "<missing listener policy>");
        assert!(missing.endpoints.denies(crate::docker::route::OpKind::Ping));
        assert!(set.check_listener_policies(["ops", "default"]).is_ok());
        let errors = set.check_listener_policies(["ops", "traefik"]).unwrap_err();
        assert_eq!(errors.len(), 1);
        let msg = errors[0].to_string();
        assert!(
            msg.contains("\"traefik\"") && msg.contains("loaded: default, ops"),
            "{msg}"
        );
    }

    fn keys(hc: &Json) -> Vec<String> {
        hc.as_object()
            .map(|o| o.keys().map(str::to_string).collect())
            .unwrap_or_default()
    }

    #[test]
    fn stored_host_config_drops_what_the_daemon_fills_in() {
        let defaults = json!({
            "CgroupnsMode": "host",
            "MaskedPaths": ["/proc/asound", "/proc/kcore", "/proc/keys", "/proc/timer_list",
                "/proc/sched_debug", "/sys/firmware"],
            "ReadonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"],
            "Runtime": "runc",
        });
        let hc = stored_host_config(&defaults);
        assert_eq!(keys(&hc), ["Runtime"]);

        // systempaths=unconfined stores empty lists; a list without a default path is
        // an override too.
        let unmasked = json!({"MaskedPaths": [], "ReadonlyPaths": ["/proc/bus"]});
        let hc = stored_host_config(&unmasked);
        assert_eq!(keys(&hc), ["MaskedPaths", "ReadonlyPaths"]);

        // label=disable is the daemon's own for privileged and host PID/IPC containers,
        // and the tenant's request otherwise.
        let privileged =
            json!({"Privileged": true, "SecurityOpt": ["label=disable", "seccomp=unconfined"]});
        let hc = stored_host_config(&privileged);
        let opts: Vec<&str> = hc["SecurityOpt"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Json::as_str)
            .collect();
        assert_eq!(opts, ["seccomp=unconfined"]);
        let plain = json!({"SecurityOpt": ["label=disable"]});
        assert_eq!(
            stored_host_config(&plain)["SecurityOpt"][0].as_str(),
            Some("label=disable")
        );
    }
}
