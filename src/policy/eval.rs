//! Rule evaluation over the typed operation and the canonical body.

use crate::docker::json::{Json, Object};

use super::model::{clean_path, host_ranges, normalise_cap, under, Cidr, Mode, Policy};
use super::rules as r;
use super::{Decision, Facts, Lookup, RequestView, Violation};
use crate::docker::route::OpKind;

/// Operations that act on a container named by the path and are refused on
/// protected containers (reads included: inspect shows its environment, logs and top
/// what it prints and runs).
fn touches_container(op: OpKind) -> bool {
    use OpKind::*;
    matches!(
        op,
        ContainerInspect
            | ContainerLogs
            | ContainerTop
            | ContainerChanges
            | ContainerStats
            | ContainerStart
            | ContainerWait
            | ContainerResize
            | ContainerCopy
            | ContainerDelete
            | ContainerKill
            | ContainerStop
            | ContainerRestart
            | ContainerPause
            | ContainerUnpause
            | ContainerRename
            | ContainerUpdate
            | ContainerAttach
            | ContainerAttachWebsocket
            | ExecCreate
            | ContainerArchive
            | ContainerArchiveInfo
            | PutContainerArchive
            | ContainerExport
    )
}

/// Operations that run something inside the container named by the path, or read and
/// write its files through its mounts: refused when that container has host access
/// this policy would not grant.
fn acts_inside(op: OpKind) -> bool {
    use OpKind::*;
    matches!(
        op,
        ExecCreate
            | ContainerAttach
            | ContainerAttachWebsocket
            | ContainerArchive
            | ContainerArchiveInfo
            | PutContainerArchive
            | ContainerCopy
    )
}

/// Log options the json-file and local drivers take, harmless under any default
/// driver: options given without a driver go to the daemon's default one, which may
/// be a driver that dials an address.
const LOG_OPTIONS_WITHOUT_DRIVER: &[&str] = &[
    "max-size",
    "max-file",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
    "mode",
    "max-buffer-size",
    "cache-disabled",
    "cache-max-size",
    "cache-max-file",
    "cache-compress",
];

fn s<'a>(v: &'a Json<'a>, k: &str) -> &'a str {
    v.get(k).and_then(Json::as_str).unwrap_or("")
}
fn b(v: &Json, k: &str) -> bool {
    v.get(k).and_then(Json::as_bool).unwrap_or(false)
}
fn i(v: &Json, k: &str) -> i64 {
    v.get(k).and_then(Json::as_i64).unwrap_or(0)
}
fn strs<'a>(v: &'a Json<'a>, k: &str) -> Vec<&'a str> {
    v.get(k)
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default()
}
fn arr<'a>(v: &'a Json<'a>, k: &str) -> &'a [Json<'a>] {
    v.get(k).and_then(Json::as_array).unwrap_or(&[])
}
fn non_empty(v: &Json, k: &str) -> bool {
    match v.get(k) {
        None | Some(Json::Null) => false,
        Some(Json::Array(a)) => !a.is_empty(),
        Some(Json::Object(o)) => !o.is_empty(),
        Some(Json::String(x)) => !x.is_empty(),
        Some(_) => true,
    }
}

/// Driver options as `key=value` strings, for checks and messages.
fn option_pairs(v: Option<&Json>) -> Vec<String> {
    v.and_then(Json::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default()
}

/// A `Binds` entry as dockerd's Linux parser reads it.
enum Bind<'a> {
    Anonymous,
    Host { src: String, mode: &'a str },
    Named { name: &'a str },
    Relative,
    Invalid,
}

fn parse_bind(spec: &str) -> Bind<'_> {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [_dst] => Bind::Anonymous,
        [src, _dst] | [src, _dst, _] => {
            let mode = if parts.len() == 3 { parts[2] } else { "" };
            if src.starts_with('/') {
                Bind::Host {
                    src: clean_path(src),
                    mode,
                }
            } else if src.is_empty() {
                Bind::Invalid
            } else if src.starts_with('.') {
                // No volume name to dockerd; a host path relative to its working
                // directory (`/` as a system service) to Podman.
                Bind::Relative
            } else {
                Bind::Named { name: src }
            }
        }
        _ => Bind::Invalid,
    }
}

/// `container:<x>` target of a namespace mode.
fn container_ref(mode: &str) -> Option<&str> {
    mode.strip_prefix("container:").filter(|x| !x.is_empty())
}

/// Violations listed in a denial; further ones are counted. A body of 100,000 host
/// binds must not make a 100,000-line answer, nor a quadratic de-duplication.
const MAX_LISTED: usize = 32;

/// Distinct existing containers and volumes one request may name. Each is a lookup at
/// the daemon, so an unbounded list would make one request flood the daemon.
pub const MAX_REFERENCES: usize = 32;

struct Ctx<'a> {
    p: &'a Policy,
    facts: &'a Facts,
    out: Vec<Violation>,
    /// Violations not listed (over [`MAX_LISTED`]), and the rule of the first of them.
    unlisted: usize,
    unlisted_rule: &'static str,
    /// The distinct containers, volumes and services the request names, up to the cap,
    /// each with whether it is still to be looked up (not in `facts`).
    referenced: Vec<(Lookup, bool)>,
    too_many_references: bool,
}

impl<'a> Ctx<'a> {
    fn new(p: &'a Policy, facts: &'a Facts) -> Self {
        Ctx {
            p,
            facts,
            out: Vec::new(),
            unlisted: 0,
            unlisted_rule: "",
            referenced: Vec::new(),
            too_many_references: false,
        }
    }

    fn deny(&mut self, rule: &'static str, message: impl Into<String>) {
        if self.out.len() >= MAX_LISTED {
            if self.unlisted == 0 {
                self.unlisted_rule = rule;
            }
            self.unlisted += 1;
            return;
        }
        let message = message.into();
        if !self
            .out
            .iter()
            .any(|v| v.rule == rule && v.message == message)
        {
            self.out.push(Violation { rule, message });
        }
    }

    /// Count a named object (`unknown`: not in `facts`); false once the request names
    /// too many.
    fn refer(&mut self, what: Lookup, unknown: bool) -> bool {
        if self.too_many_references {
            return false;
        }
        if !self.referenced.iter().any(|(l, _)| *l == what) {
            if self.referenced.len() >= MAX_REFERENCES {
                self.too_many_references = true;
                return false;
            }
            self.referenced.push((what, unknown));
        }
        true
    }

    /// The violations and the lookups still needed.
    fn finish(mut self) -> (Vec<Violation>, Vec<Lookup>) {
        let need = if self.too_many_references {
            // Refuse without looking anything up.
            Vec::new()
        } else {
            std::mem::take(&mut self.referenced)
                .into_iter()
                .filter_map(|(l, unknown)| unknown.then_some(l))
                .collect()
        };
        if self.too_many_references {
            let message = format!(
                "the request names or reaches more than {MAX_REFERENCES} existing \
                 containers and volumes (volumes, --volumes-from, --link, container:<name> \
                 namespaces, the mounts of a container it works in); each is a lookup at \
                 the daemon"
            );
            self.out.truncate(MAX_LISTED - 1);
            self.out.push(Violation {
                rule: r::TOO_MANY_REFERENCES,
                message,
            });
        }
        if self.unlisted > 0 {
            let message = format!(
                "and {} more violations, not listed (the first under {})",
                self.unlisted, self.unlisted_rule
            );
            self.out.push(Violation {
                rule: self.unlisted_rule,
                message,
            });
        }
        (self.out, need)
    }

    fn container(&mut self, name: &str) -> Option<Option<&'a ContainerFactsRef>> {
        let known = self.facts.containers.get(name);
        if !self.refer(Lookup::Container(name.to_string()), known.is_none()) {
            return None;
        }
        known.map(Option::as_ref)
    }

    fn volume_checked(&mut self, name: &str, what: &str) {
        let known = self.facts.volumes.get(name);
        if !self.refer(Lookup::Volume(name.to_string()), known.is_none()) {
            return;
        }
        match known {
            None | Some(None) => {}
            Some(Some(v)) => {
                let driver = v.driver.clone();
                let opts: Vec<String> = ["type", "o", "device"]
                    .iter()
                    .filter(|k| v.options.contains_key(**k))
                    .map(|k| format!("{k}={}", v.options[*k]))
                    .collect();
                self.check_volume_driver(
                    &driver,
                    &opts,
                    &format!("{what}: existing volume {name:?}"),
                );
            }
        }
    }

    fn check_volume_driver(&mut self, driver: &str, opts: &[String], what: &str) {
        let c = &self.p.containers;
        let driver_name = if driver.is_empty() { "local" } else { driver };
        if !c.volume_drivers_allowed.iter().any(|d| d == driver_name) {
            self.deny(
                r::VOLUME_OPTIONS,
                format!("{what} uses volume driver {driver_name:?}, which is not allowed"),
            );
        }
        if !opts.is_empty() && !c.allow_volume_driver_options {
            self.deny(
                r::VOLUME_OPTIONS,
                format!(
                    "{what} has driver options {} that mount a host path or device",
                    opts.join(",")
                ),
            );
        }
    }

    fn is_protected(&self, f: &ContainerFactsRef) -> bool {
        self.p.protected_names.iter().any(|re| re.is_match(&f.name))
            || self
                .p
                .protected_labels
                .iter()
                .any(|l| f.labels.contains_key(l))
    }

    fn host_path(&mut self, src: &str, what: &str) {
        let c = &self.p.containers;
        let allowed = c.allow_host_binds
            || c.host_path_allowlist
                .iter()
                .any(|prefix| under(src, prefix));
        if !allowed {
            self.deny(r::HOST_BIND, format!("{what} mounts the host path {src:?}"));
        }
    }

    fn propagation(&mut self, prop: &str, what: &str) {
        if !self.p.containers.allow_bind_propagation
            && matches!(prop, "shared" | "rshared" | "slave" | "rslave")
        {
            self.deny(
                r::HOST_BIND,
                format!("{what} uses {prop} mount propagation with the host"),
            );
        }
    }

    /// A `Mounts[]` entry of a container or service.
    fn mount(&mut self, m: &Json, what: &str) {
        let ty = s(m, "Type");
        let src = s(m, "Source");
        match ty {
            "bind" => {
                let src = clean_path(src);
                self.host_path(&src, what);
                if let Some(bo) = m.get("BindOptions") {
                    self.propagation(s(bo, "Propagation"), what);
                }
            }
            "volume" => {
                if let Some(dc) = m.get("VolumeOptions").and_then(|v| v.get("DriverConfig")) {
                    let opts = option_pairs(dc.get("Options"));
                    self.check_volume_driver(s(dc, "Name"), &opts, what);
                }
                if !src.is_empty() {
                    self.volume_checked(src, what);
                }
            }
            "tmpfs" => {}
            other => self.deny(
                r::MOUNT_TYPE,
                format!(
                    "{what} has mount type {other:?}; only volume, tmpfs and bind are accepted"
                ),
            ),
        }
    }

    fn caps(&mut self, add: &[&str], drop: &[&str], what: &str) {
        for cap in add {
            let n = normalise_cap(cap);
            if !self.p.cap_add_allowed.contains(&n) {
                self.deny(r::CAP_ADD, format!("{what} adds capability {n}"));
            }
        }
        if !drop.is_empty() && !self.p.containers.allow_cap_drop {
            self.deny(
                r::CAP_DROP,
                format!("{what} drops capabilities {}", drop.join(",")),
            );
        }
    }

    fn sysctls(&mut self, v: Option<&Json>, what: &str) {
        let Some(map) = v.and_then(Json::as_object) else {
            return;
        };
        for k in map.keys() {
            let ok = self
                .p
                .containers
                .sysctls_allowed
                .iter()
                .any(|a| match a.strip_suffix('*') {
                    Some(prefix) => k.starts_with(prefix),
                    None => a == k,
                });
            if !ok {
                self.deny(r::SYSCTLS, format!("{what} sets sysctl {k}"));
            }
        }
    }

    fn image(&mut self, image: &str, what: &str) {
        if !self.p.image_allowlist.is_empty()
            && !self.p.image_allowlist.iter().any(|re| re.is_match(image))
        {
            self.deny(
                r::IMAGE,
                format!("{what} uses image {image:?}, not in the allowlist"),
            );
        }
    }

    fn log_driver(&mut self, driver: &str, what: &str) {
        if !driver.is_empty()
            && !self
                .p
                .containers
                .log_drivers_allowed
                .iter()
                .any(|d| d == driver)
        {
            self.deny(r::LOG_DRIVER, format!("{what} uses log driver {driver:?}"));
        }
    }

    /// The `changes` of a commit or import: dockerd joins them into one Dockerfile and
    /// parses it (directives, line continuations, quotes, variables), so only plain
    /// instructions are read here and anything that could hide a `WORKDIR` from a
    /// line-by-line reading is refused (PC-1021): a parser directive, a line
    /// continuation, quotes, backticks or variables in a WORKDIR, a relative WORKDIR
    /// (relative to a directory Portcullis does not know).
    fn changes<'c>(&mut self, changes: impl Iterator<Item = &'c str>, what: &str) {
        if self.p.containers.allow_proc_workdir {
            return;
        }
        let joined: Vec<&str> = changes.collect();
        let joined = joined.join("\n");
        let refuse = |why: &str| format!("{what} changes {joined:?}: {why}");
        if joined.trim_start().starts_with('#') {
            let m = refuse("parser directives are not accepted");
            self.deny(r::PROC_WORKDIR, m);
            return;
        }
        for line in joined.lines() {
            let t = line.trim_end();
            if t.ends_with('\\') || t.ends_with('`') {
                let m = refuse("line continuations are not accepted");
                self.deny(r::PROC_WORKDIR, m);
                return;
            }
            // The instruction, after an ONBUILD (which runs it in a later build). Go
            // lowercases it with Unicode folding (a Kelvin sign is a k), so a keyword
            // that is not ASCII is refused rather than compared.
            let mut rest = t.trim_start();
            let mut keyword = rest.split_whitespace().next().unwrap_or("");
            if keyword.eq_ignore_ascii_case("onbuild") {
                rest = rest[keyword.len()..].trim_start();
                keyword = rest.split_whitespace().next().unwrap_or("");
            }
            if !keyword.is_ascii() {
                let m = refuse("instructions must be spelled in ASCII");
                self.deny(r::PROC_WORKDIR, m);
                continue;
            }
            if !keyword.eq_ignore_ascii_case("workdir") {
                continue;
            }
            let wd = rest[keyword.len()..].trim();
            let plain = !wd.is_empty()
                && wd.bytes().all(|b| {
                    (0x20..0x7f).contains(&b) && !matches!(b, b'$' | b'\\' | b'`' | b'\'' | b'"')
                });
            if !plain || !wd.starts_with('/') {
                let m = refuse("WORKDIR takes a plain absolute path here");
                self.deny(r::PROC_WORKDIR, m);
                continue;
            }
            self.workdir(wd, what);
        }
    }

    fn workdir(&mut self, wd: &str, what: &str) {
        if !self.p.containers.allow_proc_workdir
            && under(&clean_path(wd), "/proc")
            && wd.starts_with('/')
        {
            self.deny(
                r::PROC_WORKDIR,
                format!("{what} sets working directory {wd:?}"),
            );
        }
    }

    /// Namespace modes: `host`, or `container:<x>` resolved to x.
    fn namespace(&mut self, field: &str, mode: &str, flag: &str) {
        if mode == "host" {
            if !self.p.containers.allow_host_namespaces {
                self.deny(
                    r::HOST_NAMESPACE,
                    format!("{flag}=host ({field}) shares the host's namespace"),
                );
            }
            return;
        }
        // Podman's Docker API also takes `ns:<path>` (join any namespace by its path,
        // /proc/1/ns/… is the host's) and, for the network, slirp4netns with options
        // (allow_host_loopback reaches the host's 127.0.0.1) and pasta; dockerd reads
        // them as network names that do not exist.
        let podman_escape = mode.starts_with("ns:")
            || (field == "NetworkMode"
                && (mode.starts_with("slirp4netns:") || mode.starts_with("pasta")));
        if podman_escape {
            if !self.p.containers.allow_host_namespaces {
                self.deny(
                    r::HOST_NAMESPACE,
                    format!("{flag}={mode} ({field}) may join the host's namespace (Podman)"),
                );
            }
            return;
        }
        if let Some(target) = container_ref(mode) {
            let target = target.to_string();
            let found = self.container(&target);
            if let Some(None) = found {
                // dockerd keeps the name and resolves it again at start: whatever
                // carries it then would be joined unchecked.
                self.deny(
                    r::PROTECTED_JOIN,
                    format!("{flag}=container:{target} names no existing container"),
                );
            }
            if let Some(Some(f)) = found {
                if self.is_protected(f) {
                    self.deny(
                        r::PROTECTED_JOIN,
                        format!(
                            "{flag}=container:{target} joins the protected container {:?}",
                            f.name
                        ),
                    );
                }
                let target_mode = match field {
                    "NetworkMode" => &f.network_mode,
                    "PidMode" => &f.pid_mode,
                    "IpcMode" => &f.ipc_mode,
                    _ => "",
                };
                if container_ref(target_mode).is_some() {
                    // A chain: what x joins is not checked here, so it is refused.
                    self.deny(
                        r::HOST_NAMESPACE,
                        format!("{flag}=container:{target} joins a container that itself joins another's namespace"),
                    );
                }
                if target_mode == "host" && !self.p.containers.allow_host_namespaces {
                    self.deny(
                        r::HOST_NAMESPACE,
                        format!("{flag}=container:{target} joins a container that uses the host's namespace"),
                    );
                }
                if f.privileged && !self.p.containers.allow_privileged {
                    self.deny(
                        r::PRIVILEGED,
                        format!("{flag}=container:{target} joins a privileged container"),
                    );
                }
                if field == "PidMode" {
                    // Its processes' files, mounts included, are under /proc/<pid>/root.
                    self.host_access(f, &format!("{flag}=container:{target} joins the processes"));
                }
            }
        }
    }

    fn security_opts(&mut self, opts: &[&str], what: &str) {
        let c = &self.p.containers;
        for opt in opts {
            let (key, value) = match opt.split_once('=') {
                Some(kv) => kv,
                None => opt.split_once(':').unwrap_or((opt, "")),
            };
            let bad = match key {
                "no-new-privileges" => None,
                "seccomp" if value == "unconfined" => {
                    (!c.allow_unconfined_security).then_some("disables seccomp")
                }
                "seccomp" if value == "builtin" => None,
                "seccomp" => (!c.allow_custom_seccomp).then_some("sets a custom seccomp profile"),
                "apparmor" => {
                    (!c.allow_unconfined_security).then_some("overrides the AppArmor profile")
                }
                "label" | "disable" => {
                    (!c.allow_unconfined_security).then_some("overrides or disables SELinux labels")
                }
                _ => Some("is not a security option Portcullis accepts"),
            };
            if let Some(why) = bad {
                self.deny(
                    r::SECURITY_OPT,
                    format!("{what} --security-opt {opt:?} {why}"),
                );
            }
        }
    }

    fn resources(&mut self, res: &Json, what: &str, creating: bool) {
        let c = &self.p.containers;
        for (field, ceiling, flag) in [
            ("Memory", c.max_memory_bytes, "--memory"),
            ("NanoCpus", c.max_nano_cpus, "--cpus"),
            ("PidsLimit", c.max_pids, "--pids-limit"),
        ] {
            if ceiling <= 0 {
                continue;
            }
            let present = res.get(field).is_some();
            let v = i(res, field);
            if (creating || present) && (v <= 0 || v > ceiling) {
                self.deny(
                    r::RESOURCES,
                    format!("{what} {flag} ({field}={v}) must be between 1 and {ceiling}"),
                );
            }
        }
    }

    fn protected_target(&mut self, name: &str, what: &str) {
        if let Some(Some(f)) = self.container(name) {
            if self.is_protected(f) {
                self.deny(
                    r::PROTECTED_CONTAINER,
                    format!("{what} on the protected container {:?}", f.name),
                );
            }
        }
    }

    /// Refuse working inside (exec, attach, cp) or joining the processes of a container
    /// that has host access this policy would not grant a new container: whoever runs
    /// there has it too. Reported under PC-1029.
    fn host_access(&mut self, f: &'a ContainerFactsRef, what: &str) {
        self.host_access_at(f, what, 0);
    }

    /// [`host_access`](Self::host_access), following a `container:<x>` PID or network
    /// namespace one step (what runs in `f` also sees x's processes and their files).
    fn host_access_at(&mut self, f: &'a ContainerFactsRef, what: &str, depth: usize) {
        let c = &self.p.containers;
        let who = format!("{what} in container {:?}, which", f.name);
        let before = self.out.len();
        // Mounts inherited from an allowed --volumes-from source were accepted at create.
        // dockerd lists inherited mounts among the container's own; Podman's inspect
        // leaves inherited bind mounts out, so any other source is checked itself, and
        // a source that no longer exists leaves them unknown.
        let mut inherited: Vec<&'a (String, String)> = Vec::new();
        let mut sources: Vec<&'a ContainerFactsRef> = Vec::new();
        let mut gone: Vec<&'a str> = Vec::new();
        for spec in &f.volumes_from {
            let name = spec.split(':').next().unwrap_or("");
            let allowed = c.volumes_from_allowed.iter().any(|a| a == name);
            match self.container(name) {
                Some(Some(src)) if allowed => inherited.extend(src.mounts.iter()),
                Some(Some(src)) => sources.push(src),
                Some(None) if !allowed => gone.push(name),
                _ => {}
            }
        }
        if depth == 0 {
            for mode in [&f.pid_mode, &f.network_mode] {
                if let Some(Some(joined)) = container_ref(mode).and_then(|x| self.container(x)) {
                    self.host_access_at(joined, &format!("{what} (joining {:?})", joined.name), 1);
                }
            }
        }
        if f.privileged && !c.allow_privileged {
            self.deny(r::PRIVILEGED, format!("{who} runs privileged"));
        }
        if !c.allow_host_namespaces {
            for (mode, flag) in [
                (&f.network_mode, "--network"),
                (&f.pid_mode, "--pid"),
                (&f.ipc_mode, "--ipc"),
                (&f.uts_mode, "--uts"),
                (&f.userns_mode, "--userns"),
            ] {
                if mode == "host" {
                    self.deny(r::HOST_NAMESPACE, format!("{who} uses {flag}=host"));
                } else if ["ns:", "slirp4netns:", "pasta"]
                    .iter()
                    .any(|p| mode.starts_with(p))
                {
                    // Podman: a namespace joined by path, or host loopback access.
                    self.deny(r::HOST_NAMESPACE, format!("{who} uses {flag}={mode}"));
                }
            }
        }
        let add: Vec<&str> = f.cap_add.iter().map(String::as_str).collect();
        self.caps(&add, &[], &who);
        if f.devices && !c.allow_devices {
            self.deny(r::DEVICES, format!("{who} maps host devices"));
        }
        let own = f.mounts.iter().filter(|m| !inherited.contains(m));
        self.existing_mounts(own, &who, &format!("{who} mounts the volume"));
        for src in sources {
            let from = format!("{who} inherits the volumes of {:?}, which", src.name);
            let more = src.mounts.iter().filter(|m| !f.mounts.contains(m));
            self.existing_mounts(more, &from, &format!("{from} mounts the volume"));
        }
        for name in gone {
            self.deny(
                r::VOLUMES_FROM,
                format!(
                    "{who} inherits the volumes of {name:?}, which no longer exists, so what \
                     it inherited cannot be checked (Podman does not list inherited bind mounts)"
                ),
            );
        }
        self.retag(before, r::HOST_ACCESS_TARGET);
    }

    /// The mounts of an existing container (from its inspect): host binds and volumes
    /// checked as a new container's would be.
    fn existing_mounts<'m>(
        &mut self,
        mounts: impl Iterator<Item = &'m (String, String)>,
        bind_what: &str,
        volume_what: &str,
    ) {
        for (ty, src) in mounts {
            match ty.as_str() {
                "bind" => self.host_path(&clean_path(src), bind_what),
                "volume" => self.volume_checked(src, volume_what),
                _ => {}
            }
        }
    }

    /// Report the violations found since `before` under `rule` (what a request brings
    /// in through another object, under the rule for that route).
    fn retag(&mut self, before: usize, rule: &'static str) {
        for v in self.out.iter_mut().skip(before) {
            v.rule = rule;
        }
    }

    /// A log driver and its options: options without a driver go to the daemon's
    /// default driver, so only those every local driver takes are accepted there.
    fn log_config(&mut self, driver: &str, opts: Option<&Json>, what: &str) {
        self.log_driver(driver, what);
        if !driver.is_empty() {
            return;
        }
        if let Some(opts) = opts.and_then(Json::as_object) {
            for k in opts.keys() {
                if !LOG_OPTIONS_WITHOUT_DRIVER.contains(&k) {
                    self.deny(
                        r::LOG_DRIVER,
                        format!(
                            "{what} sets log option {k:?} without a log driver (it would go \
                             to the daemon's default driver); name the driver (--log-driver)"
                        ),
                    );
                }
            }
        }
    }

    /// A service spec the daemon holds and may run again (a rollback): checked as if
    /// it were sent now. One the body schema cannot read is refused.
    fn stored_spec(&mut self, spec: &serde_json::Value, label: &str) {
        let bytes = serde_json::to_vec(spec).unwrap_or_default();
        match crate::docker::json::read_body(&bytes, Some(&crate::docker::schema::SERVICE_SPEC)) {
            Ok(v) => {
                let before = self.out.len();
                self.service(&v);
                for v in self.out.iter_mut().skip(before) {
                    v.message = format!("{label}: {}", v.message);
                }
            }
            Err(e) => self.deny(
                r::BODY_UNREADABLE,
                format!("{label} of the service cannot be checked: {e}"),
            ),
        }
    }

    /// The address blocks a new network's IPAM configuration names.
    fn subnets(&mut self, ipam: Option<&Json>) {
        let allowlist = &self.p.subnet_allowlist;
        let host = host_ranges();
        for (n, cfg) in ipam
            .map(|i| arr(i, "Config"))
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            let mut blocks: Vec<(&str, &str)> = ["Subnet", "IPRange", "Gateway"]
                .iter()
                .map(|f| (*f, s(cfg, f)))
                .collect();
            if let Some(aux) = cfg.get("AuxiliaryAddresses").and_then(Json::as_object) {
                blocks.extend(
                    aux.iter()
                        .map(|(_, v)| ("AuxiliaryAddresses", v.as_str().unwrap_or(""))),
                );
            }
            for (field, value) in blocks {
                if value.is_empty() {
                    continue;
                }
                let what = format!("IPAM config #{} {field} {value:?}", n + 1);
                let Some(block) = Cidr::parse(value) else {
                    self.deny(
                        r::NETWORK_SUBNET,
                        format!("{what} is not an address Portcullis can read"),
                    );
                    continue;
                };
                if !allowlist.is_empty() && !allowlist.iter().any(|a| block.within(a)) {
                    self.deny(
                        r::NETWORK_SUBNET,
                        format!("{what} is outside networks.subnet_allowlist"),
                    );
                }
                if let Some((_, range)) = host.iter().find(|(h, _)| block.overlaps(h)) {
                    self.deny(
                        r::NETWORK_SUBNET,
                        format!("{what} overlaps the host's own range {range}"),
                    );
                }
            }
        }
    }

    fn container_create(&mut self, body: &Json) {
        let what = "the container";
        self.image(s(body, "Image"), what);
        self.workdir(s(body, "WorkingDir"), what);
        let empty = Json::Null;
        let hc = body.get("HostConfig").unwrap_or(&empty);
        self.host_config(hc, what);
        if let Some(eps) = body
            .get("NetworkingConfig")
            .and_then(|n| n.get("EndpointsConfig"))
            .and_then(Json::as_object)
        {
            for net in eps.keys() {
                if net == "host" && !self.p.containers.allow_host_namespaces {
                    self.deny(
                        r::HOST_NAMESPACE,
                        "the container joins the network \"host\"",
                    );
                }
            }
        }
    }

    fn host_config(&mut self, hc: &Json, what: &str) {
        let p = self.p;
        let c = &p.containers;
        if b(hc, "Privileged") && !c.allow_privileged {
            self.deny(
                r::PRIVILEGED,
                format!("{what} runs privileged (--privileged)"),
            );
        }
        self.caps(&strs(hc, "CapAdd"), &strs(hc, "CapDrop"), what);
        for spec in strs(hc, "Binds") {
            match parse_bind(spec) {
                Bind::Anonymous => {}
                Bind::Host { src, mode } => {
                    self.host_path(&src, &format!("-v {spec}"));
                    for m in mode.split(',') {
                        self.propagation(m, &format!("-v {spec}"));
                    }
                }
                Bind::Named { name, .. } => {
                    self.volume_checked(name, &format!("-v {spec}"));
                }
                Bind::Relative => self.deny(
                    r::HOST_BIND,
                    format!(
                        "-v {spec} has a relative source: Podman mounts it as a host path \
                         relative to its working directory"
                    ),
                ),
                Bind::Invalid => self.deny(
                    r::HOST_BIND,
                    format!("-v {spec:?} is not a volume specification Portcullis can read"),
                ),
            }
        }
        // The driver of every volume the container creates: named ones in Binds and
        // anonymous ones (Binds without a source, the image's and Config.Volumes).
        let volume_driver = s(hc, "VolumeDriver");
        if !volume_driver.is_empty() {
            self.check_volume_driver(
                volume_driver,
                &[],
                &format!("--volume-driver {volume_driver}"),
            );
        }
        for (n, m) in arr(hc, "Mounts").iter().enumerate() {
            self.mount(m, &format!("--mount #{} ({})", n + 1, s(m, "Type")));
        }
        for spec in strs(hc, "VolumesFrom") {
            let name = spec.split(':').next().unwrap_or("").to_string();
            if c.volumes_from_allowed.contains(&name) {
                continue;
            }
            if let Some(Some(f)) = self.container(&name) {
                if self.is_protected(f) {
                    self.deny(
                        r::VOLUMES_FROM,
                        format!("--volumes-from {name} is a protected container"),
                    );
                }
                let before = self.out.len();
                let what = format!("--volumes-from {name}");
                self.existing_mounts(f.mounts.iter(), &what, &what);
                // Report what the source container would bring in under PC-1006.
                self.retag(before, r::VOLUMES_FROM);
            }
        }
        if !c.allow_devices {
            if non_empty(hc, "Devices") {
                self.deny(r::DEVICES, format!("{what} maps host devices (--device)"));
            }
            if non_empty(hc, "DeviceCgroupRules") {
                self.deny(
                    r::DEVICES,
                    format!("{what} adds device cgroup rules (--device-cgroup-rule)"),
                );
            }
            if non_empty(hc, "DeviceRequests") {
                self.deny(r::DEVICES, format!("{what} requests devices (--gpus)"));
            }
        }
        self.namespace("NetworkMode", s(hc, "NetworkMode"), "--network");
        self.namespace("PidMode", s(hc, "PidMode"), "--pid");
        self.namespace("IpcMode", s(hc, "IpcMode"), "--ipc");
        self.namespace("UTSMode", s(hc, "UTSMode"), "--uts");
        self.namespace("UsernsMode", s(hc, "UsernsMode"), "--userns");
        self.namespace("CgroupnsMode", s(hc, "CgroupnsMode"), "--cgroupns");
        self.namespace("Cgroup", s(hc, "Cgroup"), "--cgroup");
        self.security_opts(&strs(hc, "SecurityOpt"), what);
        if !c.allow_masked_paths_override {
            for f in ["MaskedPaths", "ReadonlyPaths"] {
                if hc.get(f).is_some_and(|v| !v.is_null()) {
                    self.deny(
                        r::MASKED_PATHS,
                        format!("{what} overrides {f} (systempaths=unconfined)"),
                    );
                }
            }
        }
        self.sysctls(hc.get("Sysctls"), what);
        let runtime = s(hc, "Runtime");
        if !runtime.is_empty() && !c.runtimes_allowed.iter().any(|x| x == runtime) {
            self.deny(r::RUNTIME, format!("{what} uses runtime {runtime:?}"));
        }
        if !s(hc, "CgroupParent").is_empty() && !c.allow_cgroup_parent {
            self.deny(r::CGROUP_PARENT, format!("{what} sets --cgroup-parent"));
        }
        if let Some(lc) = hc.get("LogConfig") {
            self.log_config(s(lc, "Type"), lc.get("Config"), what);
        }
        for link in strs(hc, "Links") {
            // A name with a `/` is another container's link (`parent/alias`), which
            // dockerd resolves to the linked container: refused rather than followed.
            let name = match super::pin::link_parts(link) {
                Some((name, _)) if !name.trim_start_matches('/').contains('/') => {
                    name.trim_start_matches('/').to_string()
                }
                _ => {
                    self.deny(
                        r::PROTECTED_JOIN,
                        format!(
                            "--link {link:?} is not a container name and alias Portcullis accepts"
                        ),
                    );
                    continue;
                }
            };
            if let Some(Some(f)) = self.container(&name) {
                if self.is_protected(f) {
                    self.deny(
                        r::PROTECTED_JOIN,
                        format!("--link {name} reads the protected container's environment"),
                    );
                }
            }
        }
        self.resources(hc, what, true);
    }

    fn service(&mut self, spec: &Json) {
        let what = "the service";
        let empty = Json::Null;
        let tt = spec.get("TaskTemplate").unwrap_or(&empty);
        if tt.get("PluginSpec").is_some_and(|v| !v.is_null()) || s(tt, "Runtime") == "plugin" {
            self.deny(r::SERVICE_PLUGIN, "the service runs a plugin (PluginSpec)");
        }
        if let Some(ld) = tt.get("LogDriver") {
            self.log_config(s(ld, "Name"), ld.get("Options"), what);
        }
        // Swarm resolves a target by name, id or id prefix, so the network is looked up.
        let nets = arr(tt, "Networks").iter().chain(arr(spec, "Networks"));
        for n in nets {
            let target = s(n, "Target");
            if self.p.containers.allow_host_namespaces || target.is_empty() {
                continue;
            }
            if target == "host" {
                self.deny(
                    r::HOST_NAMESPACE,
                    "the service attaches to the network \"host\"",
                );
                continue;
            }
            let known = self.facts.networks.get(target);
            if !self.refer(Lookup::Network(target.to_string()), known.is_none()) {
                continue;
            }
            if let Some(Some(f)) = known {
                if f.driver == "host" || f.name == "host" {
                    self.deny(
                        r::HOST_NAMESPACE,
                        format!(
                            "the service attaches to the network {target:?}, which is the host network"
                        ),
                    );
                }
            }
        }
        let cs = tt.get("ContainerSpec").unwrap_or(&empty);
        self.image(s(cs, "Image"), what);
        self.workdir(s(cs, "Dir"), what);
        for (n, m) in arr(cs, "Mounts").iter().enumerate() {
            self.mount(m, &format!("service mount #{} ({})", n + 1, s(m, "Type")));
        }
        self.caps(
            &strs(cs, "CapabilityAdd"),
            &strs(cs, "CapabilityDrop"),
            what,
        );
        self.sysctls(cs.get("Sysctls"), what);
        let c = &self.p.containers;
        if let Some(pr) = cs.get("Privileges") {
            let mut bad = Vec::new();
            if let Some(se) = pr.get("SELinuxContext") {
                if b(se, "Disable")
                    || ["Type", "User", "Role", "Level"]
                        .iter()
                        .any(|f| non_empty(se, f))
                {
                    bad.push("SELinux context");
                }
            }
            if let Some(sc) = pr.get("Seccomp") {
                match s(sc, "Mode") {
                    "" | "default" => {}
                    "custom" if c.allow_custom_seccomp => {}
                    _ => bad.push("seccomp mode"),
                }
            }
            if let Some(aa) = pr.get("AppArmor") {
                if !matches!(s(aa, "Mode"), "" | "default") {
                    bad.push("AppArmor mode");
                }
            }
            if !bad.is_empty() && !c.allow_unconfined_security {
                self.deny(
                    r::SECURITY_OPT,
                    format!("the service overrides {}", bad.join(", ")),
                );
            }
        }
        if let Some(limits) = tt.get("Resources").and_then(|r| r.get("Limits")) {
            let mut res = Object::new();
            if let Some(m) = limits.get("MemoryBytes") {
                res.insert("Memory", m.clone());
            }
            if let Some(m) = limits.get("NanoCPUs") {
                res.insert("NanoCpus", m.clone());
            }
            if let Some(m) = limits.get("Pids") {
                res.insert("PidsLimit", m.clone());
            }
            self.resources(&Json::Object(res), what, false);
        }
    }
}

type ContainerFactsRef = super::ContainerFacts;

impl Policy {
    fn evaluate(&self, req: &RequestView, facts: &Facts) -> (Vec<Violation>, Vec<Lookup>) {
        let mut cx = Ctx::new(self, facts);
        let op = req.op.kind;
        if op == OpKind::Unknown {
            cx.deny(
                r::UNKNOWN_ENDPOINT,
                format!(
                    "{} {} is not a Docker API endpoint Portcullis knows",
                    req.method,
                    req.op.target.as_deref().unwrap_or("this path")
                ),
            );
            return cx.finish();
        }
        let name = op.name();
        let group_denied = self.deny_groups.contains(&op.group()) && !self.allow_ops.contains(name);
        if group_denied || self.deny_ops.contains(name) {
            cx.deny(
                r::ENDPOINT_DENIED,
                format!("{name} ({} endpoints) is not allowed", op.group().as_str()),
            );
            return cx.finish();
        }
        if matches!(op, OpKind::ServiceDelete | OpKind::ServiceUpdate) {
            if let Some(t) = &req.op.target {
                let known = facts.services.get(t.as_str());
                cx.refer(Lookup::Service(t.clone()), known.is_none());
                match known {
                    None | Some(None) => {}
                    Some(Some(f)) => {
                        let protected = self.protected_names.iter().any(|re| re.is_match(&f.name))
                            || self
                                .protected_labels
                                .iter()
                                .any(|l| f.labels.contains_key(l));
                        if protected {
                            cx.deny(
                                r::PROTECTED_CONTAINER,
                                format!("{name} on the protected service {:?}", f.name),
                            );
                        }
                        if op == OpKind::ServiceUpdate {
                            // Swarm runs a stored spec instead of the body on a rollback:
                            // the previous one when asked (the body is then ignored), the
                            // current one when this update fails with FailureAction
                            // "rollback". Check the spec that would run.
                            if req.query.get("rollback") == Some("previous") {
                                if let Some(prev) = &f.previous_spec {
                                    cx.stored_spec(prev, "the previous spec (rollback)");
                                }
                            }
                            let failure_action = req
                                .body
                                .and_then(|b| b.get("UpdateConfig"))
                                .map(|u| s(u, "FailureAction"));
                            if failure_action == Some("rollback") {
                                if let Some(spec) = &f.spec {
                                    cx.stored_spec(
                                        spec,
                                        "the current spec (FailureAction rollback returns to it)",
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        if touches_container(op) || acts_inside(op) {
            if let Some(t) = &req.op.target {
                cx.protected_target(t, name);
                if acts_inside(op) {
                    if let Some(Some(f)) = cx.container(t) {
                        cx.host_access(f, name);
                    }
                }
            }
        }
        if matches!(op, OpKind::ContainerStart | OpKind::ContainerRestart) {
            // dockerd resolves `container:<x>` modes again at start: check what they
            // name now.
            if let Some(Some(f)) = req.op.target.as_deref().and_then(|t| cx.container(t)) {
                for (field, mode, flag) in [
                    ("NetworkMode", &f.network_mode, "--network"),
                    ("PidMode", &f.pid_mode, "--pid"),
                    ("IpcMode", &f.ipc_mode, "--ipc"),
                ] {
                    if container_ref(mode).is_some() {
                        cx.namespace(field, mode, flag);
                    }
                }
            }
        }
        if matches!(
            op,
            OpKind::ExecStart | OpKind::ExecResize | OpKind::ExecInspect
        ) {
            // An exec id (visible in /events) leads to its container: the same checks
            // as creating it there, so nobody starts an exec someone else prepared.
            if let Some(id) = &req.op.target {
                let known = facts.execs.get(id.as_str());
                if cx.refer(Lookup::Exec(id.clone()), known.is_none()) {
                    if let Some(Some(e)) = known {
                        if !e.container_id.is_empty() {
                            cx.protected_target(&e.container_id, name);
                            if op == OpKind::ExecStart {
                                if let Some(Some(f)) = cx.container(&e.container_id) {
                                    cx.host_access(f, name);
                                }
                            }
                        }
                    }
                }
            }
        }
        let body = req.body;
        let q = req.query;
        match op {
            OpKind::ContainerCreate => match body {
                Some(b) => cx.container_create(b),
                None => cx.deny(r::BODY_UNREADABLE, "container create needs a JSON body"),
            },
            OpKind::ContainerUpdate => {
                if let Some(b) = body {
                    cx.resources(b, "the update", false);
                }
            }
            OpKind::ExecCreate => {
                if let Some(b) = body {
                    if super::eval::b(b, "Privileged") && !self.containers.allow_exec_privileged {
                        cx.deny(
                            r::EXEC_PRIVILEGED,
                            "docker exec --privileged gives the process every capability",
                        );
                    }
                    cx.workdir(s(b, "WorkingDir"), "the exec");
                }
            }
            OpKind::Commit => {
                if let Some(c) = q.get("container") {
                    cx.protected_target(c, "Commit");
                }
                if let Some(b) = body {
                    cx.workdir(s(b, "WorkingDir"), "the commit");
                }
                cx.changes(q.all("changes"), "the commit");
            }
            OpKind::ServiceCreate | OpKind::ServiceUpdate => match body {
                Some(b) => cx.service(b),
                None => cx.deny(
                    r::BODY_UNREADABLE,
                    "service create/update needs a JSON body",
                ),
            },
            OpKind::VolumeCreate => {
                if let Some(b) = body {
                    let opts = option_pairs(b.get("DriverOpts"));
                    cx.check_volume_driver(s(b, "Driver"), &opts, "the volume");
                }
            }
            OpKind::NetworkCreate => {
                if let Some(b) = body {
                    let driver = match s(b, "Driver") {
                        "" => "bridge",
                        d => d,
                    };
                    if !self.networks.drivers_allowed.iter().any(|d| d == driver) {
                        cx.deny(
                            r::NETWORK_DRIVER,
                            format!("network driver {driver:?} is not allowed"),
                        );
                    }
                    if non_empty(b, "Options") && !self.networks.allow_driver_options {
                        cx.deny(r::NETWORK_DRIVER, "network driver options are not allowed");
                    }
                    if super::eval::b(b, "Ingress") && !self.networks.allow_ingress {
                        cx.deny(r::NETWORK_DRIVER, "ingress networks are not allowed");
                    }
                    cx.subnets(b.get("IPAM"));
                    if non_empty(b, "ConfigFrom") && !self.networks.allow_driver_options {
                        cx.deny(
                            r::NETWORK_DRIVER,
                            "networks configured from another network (ConfigFrom) are not allowed",
                        );
                    }
                }
            }
            OpKind::NetworkConnect => {
                if req.op.target.as_deref() == Some("host")
                    && !self.containers.allow_host_namespaces
                {
                    cx.deny(
                        r::NETWORK_HOST,
                        "connecting to the network \"host\" is not allowed",
                    );
                }
                if let Some(c) = body.map(|b| s(b, "Container")).filter(|c| !c.is_empty()) {
                    cx.protected_target(c, "NetworkConnect");
                }
            }
            OpKind::NetworkDisconnect => {
                if let Some(c) = body.map(|b| s(b, "Container")).filter(|c| !c.is_empty()) {
                    cx.protected_target(c, "NetworkDisconnect");
                }
            }
            OpKind::Build => {
                let nm = q.get("networkmode").unwrap_or("");
                if (nm == "host" || nm.starts_with("container:")) && !self.build.allow_host_network
                {
                    cx.deny(
                        r::BUILD,
                        format!("build with --network={nm} is not allowed"),
                    );
                }
                let remote = q.get("remote").unwrap_or("");
                if !remote.is_empty() && !self.build.allow_remote {
                    cx.deny(
                        r::BUILD,
                        format!("the daemon would fetch the build context {remote:?}"),
                    );
                }
                if !q.get("cgroupparent").unwrap_or("").is_empty()
                    && !self.containers.allow_cgroup_parent
                {
                    cx.deny(
                        r::CGROUP_PARENT,
                        "build with --cgroup-parent is not allowed",
                    );
                }
            }
            OpKind::ImageCreate => {
                let src = q.get("fromSrc").unwrap_or("");
                if !src.is_empty() && src != "-" && !self.images.allow_import_from_url {
                    cx.deny(r::IMPORT_URL, format!("the daemon would fetch {src:?}"));
                }
                cx.changes(q.all("changes"), "the import");
            }
            _ => {}
        }
        cx.finish()
    }

    /// The decision given what is known, and what else the policy needs to know: one
    /// evaluation for both. When lookups are left, the decision is provisional (facts
    /// not fetched are taken as absent); the proxy fetches them and assesses again.
    pub fn assess(&self, req: &RequestView, facts: &Facts) -> (Decision, Vec<Lookup>) {
        let (violations, need) = self.evaluate(req, facts);
        let decision = if violations.is_empty() || self.mode == Mode::Audit {
            Decision::Allow(violations)
        } else {
            Decision::Deny(violations)
        };
        (decision, need)
    }
}
