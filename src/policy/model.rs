//! Policy files: TOML, strict (unknown keys are errors), validated up front with every
//! problem reported, regexes compiled and anchored at load.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;

use crate::docker::cidr::Cidr;
use crate::docker::host_path::clean_path;
use crate::docker::options::normalise_cap;
use crate::docker::route::{Group, OpKind};

/// `enforce` denies; `audit` allows and records what would have been denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Audit,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityMatch {
    pub common_names: Vec<String>,
    pub organizations: Vec<String>,
    pub org_units: Vec<String>,
    pub sans: Vec<String>,
    /// Unix-socket clients whose connecting process runs as one of these users
    /// (`SO_PEERCRED`).
    pub uids: Vec<u32>,
    /// Unix-socket clients whose connecting process runs with one of these primary groups.
    pub gids: Vec<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Endpoints {
    pub deny_groups: Vec<String>,
    pub deny_operations: Vec<String>,
    pub allow_operations: Vec<String>,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            deny_groups: ["plugin", "swarm", "node", "checkpoint", "session"]
                .map(String::from)
                .to_vec(),
            deny_operations: vec![],
            allow_operations: ["NodeList", "NodeInspect"].map(String::from).to_vec(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Containers {
    pub allow_privileged: bool,
    pub cap_add_allowed: Vec<String>,
    pub allow_cap_drop: bool,
    pub allow_host_binds: bool,
    pub host_path_allowlist: Vec<String>,
    pub allow_bind_propagation: bool,
    pub volume_drivers_allowed: Vec<String>,
    pub allow_volume_driver_options: bool,
    pub volumes_from_allowed: Vec<String>,
    pub allow_devices: bool,
    pub allow_host_namespaces: bool,
    pub allow_unconfined_security: bool,
    pub allow_custom_seccomp: bool,
    pub allow_masked_paths_override: bool,
    pub sysctls_allowed: Vec<String>,
    pub runtimes_allowed: Vec<String>,
    pub allow_cgroup_parent: bool,
    pub log_drivers_allowed: Vec<String>,
    pub image_allowlist: Vec<String>,
    pub allow_exec_privileged: bool,
    pub allow_proc_workdir: bool,
    pub allow_negative_oom_score_adj: bool,
    pub max_memory_bytes: i64,
    pub max_nano_cpus: i64,
    pub max_pids: i64,
}

impl Default for Containers {
    fn default() -> Self {
        Containers {
            allow_privileged: false,
            cap_add_allowed: vec![],
            allow_cap_drop: false,
            allow_host_binds: false,
            host_path_allowlist: vec![],
            allow_bind_propagation: false,
            volume_drivers_allowed: vec!["local".into()],
            allow_volume_driver_options: false,
            volumes_from_allowed: vec![],
            allow_devices: false,
            allow_host_namespaces: false,
            allow_unconfined_security: false,
            allow_custom_seccomp: false,
            allow_masked_paths_override: false,
            sysctls_allowed: vec![],
            runtimes_allowed: vec!["runc".into()],
            allow_cgroup_parent: false,
            log_drivers_allowed: ["json-file", "local", "none"].map(String::from).to_vec(),
            image_allowlist: vec![],
            allow_exec_privileged: false,
            allow_proc_workdir: false,
            allow_negative_oom_score_adj: false,
            max_memory_bytes: 0,
            max_nano_cpus: 0,
            max_pids: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Protected {
    pub name_patterns: Vec<String>,
    pub labels: Vec<String>,
}

impl Default for Protected {
    fn default() -> Self {
        Protected {
            name_patterns: vec!["swarm-(manager|agent|data)".into()],
            labels: vec!["io.portcullis.protected".into()],
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Networks {
    pub drivers_allowed: Vec<String>,
    pub allow_driver_options: bool,
    pub allow_ingress: bool,
    /// CIDRs every explicit subnet, range, gateway and auxiliary address of a new
    /// network must lie in; empty: the daemon's own default address pools
    /// ([`DEFAULT_LOCAL_POOLS`], [`DEFAULT_GLOBAL_POOLS`] for overlay). The host's own
    /// ranges (loopback, link-local, multicast, unspecified) are refused either way.
    pub subnet_allowlist: Vec<String>,
}

impl Default for Networks {
    fn default() -> Self {
        Networks {
            drivers_allowed: ["bridge", "overlay"].map(String::from).to_vec(),
            allow_driver_options: false,
            allow_ingress: false,
            subnet_allowlist: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Build {
    pub allow_host_network: bool,
    pub allow_remote: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Images {
    pub allow_import_from_url: bool,
}

/// PC-1031: the registries the daemon may be made to connect to.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Registries {
    /// Registry hosts (`host` or `host:port`, lower case; `docker.io` for Docker Hub)
    /// that are the only ones allowed when not empty, whatever their address. Empty:
    /// any registry except the host's own, private, metadata and single-label ones.
    pub allowlist: Vec<String>,
}

/// A policy file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub mode: Mode,
    /// The policy for clients no other policy's `identities` match.
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub identities: IdentityMatch,
    #[serde(default)]
    pub endpoints: Endpoints,
    #[serde(default)]
    pub containers: Containers,
    #[serde(default)]
    pub protected: Protected,
    #[serde(default)]
    pub networks: Networks,
    #[serde(default)]
    pub build: Build,
    #[serde(default)]
    pub images: Images,
    #[serde(default)]
    pub registries: Registries,
    /// Tenant isolation; like every other table, an omitted `[tenants]` takes the
    /// built-in defaults: tenants isolated by common name. `isolate = false` turns it off.
    #[serde(default)]
    pub tenants: crate::tenant::TenancyFile,
}

/// A validated, ready-to-evaluate policy: the file's settings compiled (operation
/// names to operations, regexes anchored, capabilities normalised, CIDRs parsed); the
/// file struct itself is dropped once compiled.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub mode: Mode,
    pub default: bool,
    pub source: PathBuf,
    pub identities: IdentityMatch,
    pub endpoints: EndpointRules,
    pub containers: ContainerRules,
    pub protected: ProtectedRules,
    pub networks: NetworkRules,
    pub build: Build,
    pub images: Images,
    pub registries: Registries,
    pub tenancy: crate::tenant::Tenancy,
}

/// Which operations are refused whole (PC-0002).
#[derive(Debug, Clone, Default)]
pub struct EndpointRules {
    pub deny_groups: BTreeSet<Group>,
    pub deny_operations: HashSet<OpKind>,
    /// Operations allowed although their group is denied.
    pub allow_operations: HashSet<OpKind>,
}

impl EndpointRules {
    /// Whether the policy refuses this operation whole.
    pub fn denies(&self, op: OpKind) -> bool {
        let group_denied =
            self.deny_groups.contains(&op.group()) && !self.allow_operations.contains(&op);
        group_denied || self.deny_operations.contains(&op)
    }
}

/// `[containers]`, compiled.
#[derive(Debug, Clone)]
pub struct ContainerRules {
    pub allow_privileged: bool,
    /// Normalised (`CAP_…`, upper case) capability allowlist.
    pub cap_add_allowed: BTreeSet<String>,
    pub allow_cap_drop: bool,
    pub allow_host_binds: bool,
    pub host_path_allowlist: Vec<String>,
    pub allow_bind_propagation: bool,
    pub volume_drivers_allowed: Vec<String>,
    pub allow_volume_driver_options: bool,
    pub volumes_from_allowed: Vec<String>,
    pub allow_devices: bool,
    pub allow_host_namespaces: bool,
    pub allow_unconfined_security: bool,
    pub allow_custom_seccomp: bool,
    pub allow_masked_paths_override: bool,
    pub sysctls_allowed: Vec<String>,
    pub runtimes_allowed: Vec<String>,
    pub allow_cgroup_parent: bool,
    pub log_drivers_allowed: Vec<String>,
    /// Anchored image regexes; empty: any image.
    pub image_allowlist: Vec<Regex>,
    pub allow_exec_privileged: bool,
    pub allow_proc_workdir: bool,
    pub max_memory_bytes: i64,
    pub max_nano_cpus: i64,
    pub max_pids: i64,
    pub allow_negative_oom_score_adj: bool,
}

/// `[protected]`, compiled.
#[derive(Debug, Clone)]
pub struct ProtectedRules {
    /// Anchored container and service name regexes.
    pub name_patterns: Vec<Regex>,
    pub labels: Vec<String>,
}

/// `[networks]`, compiled.
#[derive(Debug, Clone)]
pub struct NetworkRules {
    pub drivers_allowed: Vec<String>,
    pub allow_driver_options: bool,
    pub allow_ingress: bool,
    /// `subnet_allowlist`, parsed.
    pub subnet_allowlist: Vec<Cidr>,
}

/// One problem found in a policy file.
#[derive(Debug, Clone)]
pub struct PolicyError {
    pub file: String,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

fn anchored(re: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{re})$"))
}

impl Policy {
    /// Parse and validate one policy document; every problem is returned.
    pub fn from_toml(text: &str, source: &Path) -> Result<Policy, Vec<PolicyError>> {
        let file = source.display().to_string();
        let err = |message: String| PolicyError {
            file: file.clone(),
            message,
        };
        let raw: PolicyFile = toml::from_str(text).map_err(|e| vec![err(e.to_string())])?;
        let mut errors = Vec::new();
        if raw.name.trim().is_empty() {
            errors.push(err("name: must not be empty".into()));
        }
        let mut deny_groups = BTreeSet::new();
        for g in &raw.endpoints.deny_groups {
            match Group::parse(g) {
                Some(g) => {
                    deny_groups.insert(g);
                }
                None => errors.push(err(format!(
                    "endpoints.deny_groups: unknown group {g:?} (known: {})",
                    Group::ALL.map(|g| g.as_str()).join(", ")
                ))),
            }
        }
        let mut ops = |list: &[String], key: &str| {
            let mut out = HashSet::new();
            for o in list {
                match OpKind::parse(o) {
                    Some(k) => {
                        out.insert(k);
                    }
                    None => errors.push(err(format!("{key}: unknown operation {o:?}"))),
                }
            }
            out
        };
        let deny_operations = ops(&raw.endpoints.deny_operations, "endpoints.deny_operations");
        let allow_operations = ops(
            &raw.endpoints.allow_operations,
            "endpoints.allow_operations",
        );
        let mut regexes = |list: &[String], key: &str| {
            let mut out = Vec::new();
            for (i, r) in list.iter().enumerate() {
                match anchored(r) {
                    Ok(re) => out.push(re),
                    Err(e) => errors.push(err(format!("{key}[{i}]: invalid regex: {e}"))),
                }
            }
            out
        };
        let image_allowlist = regexes(
            &raw.containers.image_allowlist,
            "containers.image_allowlist",
        );
        let protected_names = regexes(&raw.protected.name_patterns, "protected.name_patterns");
        for (i, p) in raw.containers.host_path_allowlist.iter().enumerate() {
            if !p.starts_with('/') {
                errors.push(err(format!(
                    "containers.host_path_allowlist[{i}]: {p:?} must be an absolute path"
                )));
            } else if clean_path(p) != *p && clean_path(p) != p.trim_end_matches('/') {
                errors.push(err(format!(
                    "containers.host_path_allowlist[{i}]: {p:?} is not a clean path (write {:?})",
                    clean_path(p)
                )));
            }
        }
        let mut cap_add_allowed = BTreeSet::new();
        for c in &raw.containers.cap_add_allowed {
            if c.is_empty() || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                errors.push(err(format!(
                    "containers.cap_add_allowed: invalid capability {c:?}"
                )));
            }
            cap_add_allowed.insert(normalise_cap(c));
        }
        for (key, v) in [
            (
                "containers.max_memory_bytes",
                raw.containers.max_memory_bytes,
            ),
            ("containers.max_nano_cpus", raw.containers.max_nano_cpus),
            ("containers.max_pids", raw.containers.max_pids),
        ] {
            if v < 0 {
                errors.push(err(format!("{key}: must be 0 (no ceiling) or positive")));
            }
        }
        let mut subnet_allowlist = Vec::new();
        for c in &raw.networks.subnet_allowlist {
            match Cidr::parse(c).filter(|_| c.contains('/')) {
                Some(block) => subnet_allowlist.push(block),
                None => errors.push(err(format!(
                    "networks.subnet_allowlist: {c:?} is not a CIDR block (e.g. 10.128.0.0/9)"
                ))),
            }
        }
        for (i, r) in raw.registries.allowlist.iter().enumerate() {
            let readable = crate::docker::reference::split_host_port(r).is_some()
                && !r.contains('/')
                && r.to_ascii_lowercase() == *r;
            if !readable {
                errors.push(err(format!(
                    "registries.allowlist[{i}]: {r:?} is not a registry host (host or host:port, lower case)"
                )));
            }
        }
        let tenancy = raw.tenants.validate().unwrap_or_else(|problems| {
            errors.extend(problems.into_iter().map(&err));
            crate::tenant::Tenancy::off()
        });
        if !errors.is_empty() {
            return Err(errors);
        }
        let c = raw.containers;
        // An operator container the policy allows as a --volumes-from source is shared
        // with tenants for that use only.
        let tenancy = crate::tenant::Tenancy {
            shared_volumes_from: c.volumes_from_allowed.clone(),
            ..tenancy
        };
        Ok(Policy {
            name: raw.name,
            mode: raw.mode,
            default: raw.default,
            source: source.to_path_buf(),
            identities: raw.identities,
            endpoints: EndpointRules {
                deny_groups,
                deny_operations,
                allow_operations,
            },
            containers: ContainerRules {
                allow_privileged: c.allow_privileged,
                cap_add_allowed,
                allow_cap_drop: c.allow_cap_drop,
                allow_host_binds: c.allow_host_binds,
                host_path_allowlist: c.host_path_allowlist,
                allow_bind_propagation: c.allow_bind_propagation,
                volume_drivers_allowed: c.volume_drivers_allowed,
                allow_volume_driver_options: c.allow_volume_driver_options,
                volumes_from_allowed: c.volumes_from_allowed,
                allow_devices: c.allow_devices,
                allow_host_namespaces: c.allow_host_namespaces,
                allow_unconfined_security: c.allow_unconfined_security,
                allow_custom_seccomp: c.allow_custom_seccomp,
                allow_masked_paths_override: c.allow_masked_paths_override,
                sysctls_allowed: c.sysctls_allowed,
                runtimes_allowed: c.runtimes_allowed,
                allow_cgroup_parent: c.allow_cgroup_parent,
                log_drivers_allowed: c.log_drivers_allowed,
                image_allowlist,
                allow_exec_privileged: c.allow_exec_privileged,
                allow_proc_workdir: c.allow_proc_workdir,
                max_memory_bytes: c.max_memory_bytes,
                max_nano_cpus: c.max_nano_cpus,
                max_pids: c.max_pids,
                allow_negative_oom_score_adj: c.allow_negative_oom_score_adj,
            },
            protected: ProtectedRules {
                name_patterns: protected_names,
                labels: raw.protected.labels,
            },
            networks: NetworkRules {
                drivers_allowed: raw.networks.drivers_allowed,
                allow_driver_options: raw.networks.allow_driver_options,
                allow_ingress: raw.networks.allow_ingress,
                subnet_allowlist,
            },
            build: raw.build,
            images: raw.images,
            registries: raw.registries,
            tenancy,
        })
    }

    pub fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn every_error_is_reported() {
        let text = r#"
            name = "x"
            [endpoints]
            deny_groups = ["plugins", "swarm"]
            deny_operations = ["ContainerCreat"]
            [containers]
            image_allowlist = ["(unclosed"]
            host_path_allowlist = ["relative", "/srv/../etc"]
            max_pids = -1
        "#;
        let errs = Policy::from_toml(text, Path::new("p.toml")).unwrap_err();
        let all = errs
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        for needle in [
            "unknown group \"plugins\"",
            "unknown operation \"ContainerCreat\"",
            "invalid regex",
            "\"relative\" must be an absolute path",
            "not a clean path",
            "max_pids",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        assert!(errs.iter().all(|e| e.file == "p.toml"));
    }

    #[test]
    fn unknown_keys_are_refused_with_position() {
        let errs = Policy::from_toml(
            "name = \"x\"\n[containers]\nallow_privilegd = true\n",
            Path::new("p.toml"),
        )
        .unwrap_err();
        let msg = errs[0].to_string();
        assert!(
            msg.contains("allow_privilegd") && msg.contains("line 3"),
            "{msg}"
        );
    }
}
