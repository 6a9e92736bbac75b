//! Policy files: TOML, strict (unknown keys are errors), validated up front with every
//! problem reported, regexes compiled and anchored at load.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;

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

/// An address block: an IPv4 (IPv4-mapped IPv6 included) or IPv6 address and a prefix
/// length; a bare address is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    v4: bool,
    bits: u128,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: std::net::IpAddr = addr.trim().parse().ok()?;
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
            v4 => v4,
        };
        let (v4, bits, width) = match ip {
            std::net::IpAddr::V4(a) => (true, u128::from(u32::from(a)), 32),
            std::net::IpAddr::V6(a) => (false, u128::from(a), 128),
        };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|&n| n <= width)?
            }
            Some(_) => return None,
            None => width,
        };
        Some(Cidr { v4, bits, prefix })
    }

    fn width(&self) -> u8 {
        if self.v4 {
            32
        } else {
            128
        }
    }

    fn masked(&self, prefix: u8) -> u128 {
        let host_bits = u32::from(self.width() - prefix);
        if host_bits >= 128 {
            0
        } else {
            self.bits >> host_bits
        }
    }

    /// Whether the two blocks share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        let p = self.prefix.min(other.prefix);
        self.v4 == other.v4 && self.masked(p) == other.masked(p)
    }

    /// Whether every address of `self` is in `outer`.
    pub fn within(&self, outer: &Cidr) -> bool {
        self.v4 == outer.v4
            && self.prefix >= outer.prefix
            && self.masked(outer.prefix) == outer.masked(outer.prefix)
    }
}

/// dockerd's default address pools for local networks (libnetwork `ipamutils`,
/// 20.10: 172.17.0.0/16 to 172.31.0.0/16 as /16s, 192.168.0.0/16 as /20s), as CIDR
/// blocks: what it hands out when a bridge is created without a subnet.
pub const DEFAULT_LOCAL_POOLS: &[&str] = &[
    "172.17.0.0/16",
    "172.18.0.0/15",
    "172.20.0.0/14",
    "172.24.0.0/13",
    "192.168.0.0/16",
];

/// Swarm's default address pool for overlay networks (`10.0.0.0/8` as /24s).
pub const DEFAULT_GLOBAL_POOLS: &[&str] = &["10.0.0.0/8"];

/// The blocks a new network's explicit addresses must lie in when the policy sets no
/// `networks.subnet_allowlist`: the daemon's default pools for the driver.
pub fn default_pools(driver: &str) -> &'static [Cidr] {
    static LOCAL: std::sync::OnceLock<Vec<Cidr>> = std::sync::OnceLock::new();
    static GLOBAL: std::sync::OnceLock<Vec<Cidr>> = std::sync::OnceLock::new();
    let (cell, list) = if driver == "overlay" {
        (&GLOBAL, DEFAULT_GLOBAL_POOLS)
    } else {
        (&LOCAL, DEFAULT_LOCAL_POOLS)
    };
    cell.get_or_init(|| {
        list.iter()
            .map(|r| Cidr::parse(r).expect("a valid built-in pool"))
            .collect()
    })
}

/// The host's own address ranges, parsed once, each with its text.
pub fn host_ranges() -> &'static [(Cidr, &'static str)] {
    static PARSED: std::sync::OnceLock<Vec<(Cidr, &'static str)>> = std::sync::OnceLock::new();
    PARSED.get_or_init(|| {
        HOST_RANGES
            .iter()
            .map(|r| (Cidr::parse(r).expect("a valid built-in range"), *r))
            .collect()
    })
}

/// The host's own address ranges: a network for one of them shadows the host's route.
pub const HOST_RANGES: &[&str] = &[
    "0.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "224.0.0.0/4",
    "255.255.255.255/32",
    "::/128",
    "::1/128",
    "fe80::/10",
    "ff00::/8",
    // Cloud metadata and platform endpoints outside link-local: Azure's WireServer,
    // Alibaba's metadata service, AWS's IPv6 metadata endpoint.
    "168.63.129.16/32",
    "100.100.100.200/32",
    "fd00:ec2::254/128",
];

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
    /// Tenant isolation; without the table, isolation is off.
    #[serde(default)]
    pub tenants: Option<crate::tenant::TenancyFile>,
}

/// A validated, ready-to-evaluate policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub mode: Mode,
    pub default: bool,
    pub source: PathBuf,
    pub identities: IdentityMatch,
    pub deny_groups: BTreeSet<Group>,
    pub deny_ops: BTreeSet<&'static str>,
    pub allow_ops: BTreeSet<&'static str>,
    pub containers: Containers,
    /// Normalised (`CAP_…`, upper case) capability allowlist.
    pub cap_add_allowed: BTreeSet<String>,
    pub image_allowlist: Vec<Regex>,
    pub protected_names: Vec<Regex>,
    pub protected_labels: Vec<String>,
    pub networks: Networks,
    /// `networks.subnet_allowlist`, parsed when the policy is loaded.
    pub subnet_allowlist: Vec<Cidr>,
    pub build: Build,
    pub images: Images,
    pub registries: Registries,
    pub tenancy: crate::tenant::Tenancy,
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

/// Normalise a capability name as dockerd does (case-insensitive, `CAP_` optional).
pub fn normalise_cap(name: &str) -> String {
    let up = name.to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
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
            let mut out = BTreeSet::new();
            for o in list {
                match OpKind::parse(o) {
                    Some(k) => {
                        out.insert(k.name());
                    }
                    None => errors.push(err(format!("{key}: unknown operation {o:?}"))),
                }
            }
            out
        };
        let deny_ops = ops(&raw.endpoints.deny_operations, "endpoints.deny_operations");
        let allow_ops = ops(
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
        let tenancy = match raw.tenants {
            None => crate::tenant::Tenancy::off(),
            Some(t) => t.validate().unwrap_or_else(|problems| {
                errors.extend(problems.into_iter().map(&err));
                crate::tenant::Tenancy::off()
            }),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Policy {
            name: raw.name,
            mode: raw.mode,
            default: raw.default,
            source: source.to_path_buf(),
            identities: raw.identities,
            deny_groups,
            deny_ops,
            allow_ops,
            cap_add_allowed,
            image_allowlist,
            protected_names,
            protected_labels: raw.protected.labels,
            containers: raw.containers,
            networks: raw.networks,
            subnet_allowlist,
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

/// Lexical clean of an absolute path, as Go's `path.Clean` (no symlink resolution).
pub fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Whether `path` (clean) is `prefix` or below it, by whole components.
pub fn under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|r| r.starts_with('/'))
}

#[cfg(test)]
mod tests {

    #[test]
    fn cidr_blocks_overlap_and_nest() {
        let c = |s: &str| Cidr::parse(s).unwrap();
        assert!(c("169.254.169.252/30").overlaps(&c("169.254.0.0/16")));
        assert!(c("160.0.0.0/4").overlaps(&c("169.254.0.0/16")));
        assert!(!c("10.0.0.0/8").overlaps(&c("169.254.0.0/16")));
        assert!(c("::ffff:127.0.0.1").overlaps(&c("127.0.0.0/8")));
        assert!(c("0.0.0.0/0").overlaps(&c("127.0.0.0/8")));
        assert!(!c("fe80::1").overlaps(&c("127.0.0.0/8")));
        assert!(c("10.9.0.0/24").within(&c("10.0.0.0/8")));
        assert!(!c("10.0.0.0/7").within(&c("10.0.0.0/8")));
        assert!(c("10.1.2.3").within(&c("10.0.0.0/8")));
        for bad in [
            "10.9/16",
            "10.0.0.0/33",
            "10.0.0.0/",
            "x",
            "10.0.0.0/+8",
            "::/129",
        ] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
    }

    use super::*;

    #[test]
    fn clean_and_under() {
        assert_eq!(clean_path("/run/x/../x/docker.sock"), "/run/x/docker.sock");
        assert_eq!(clean_path("/run//x/./docker.sock"), "/run/x/docker.sock");
        assert_eq!(clean_path("/../../etc"), "/etc");
        assert_eq!(clean_path("/"), "/");
        assert!(under("/srv/data/x", "/srv/data"));
        assert!(under("/srv/data", "/srv/data/"));
        assert!(!under("/srv/database", "/srv/data"));
        assert!(!under("/srv", "/srv/data"));
    }

    #[test]
    fn caps_normalise_like_dockerd() {
        assert_eq!(normalise_cap("sys_admin"), "CAP_SYS_ADMIN");
        assert_eq!(normalise_cap("cap_sys_ptrace"), "CAP_SYS_PTRACE");
        assert_eq!(normalise_cap("all"), "ALL");
    }

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
