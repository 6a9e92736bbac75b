//! Containers: `POST /containers/create` and `/update`, and the HostConfig checks that
//! also define which existing containers have host access (see `host_access`).

use crate::docker::binds::{volumes_from_source, Bind};
use crate::docker::json::Json;
use crate::docker::link::linked_container;
use crate::docker::options::{container_ref, normalise_cap, split_security_opt};
use crate::policy::check::Checker;
use crate::policy::fields::{self as f, container_create, host_config as hc, log_config};
use crate::policy::fields::{networking_config, Field};
use crate::policy::model::Mode;
use crate::policy::rules as r;
use crate::policy::Lookup;

/// Why a HostConfig is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A container to be created: every rule.
    Create,
    /// An existing container someone would work inside: the rules that refuse host
    /// access (the caller checks its actual mounts and follows its joins), reported
    /// under PC-1029 by the caller.
    HostAccess,
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

/// The namespace modes, each with its field and its CLI flag.
const NAMESPACES: [(Field, &str); 7] = [
    (hc::NETWORK_MODE, "--network"),
    (hc::PID_MODE, "--pid"),
    (hc::IPC_MODE, "--ipc"),
    (hc::UTS_MODE, "--uts"),
    (hc::USERNS_MODE, "--userns"),
    (hc::CGROUPNS_MODE, "--cgroupns"),
    (hc::CGROUP, "--cgroup"),
];

/// `POST /containers/create`.
pub(super) fn create(cx: &mut Checker, body: &Json) {
    let what = "the container";
    cx.image(f::text(body, container_create::IMAGE), what);
    cx.workdir(f::text(body, container_create::WORKING_DIR), what);
    let empty = Json::Null;
    let host_config = f::member(body, container_create::HOST_CONFIG).unwrap_or(&empty);
    cx.host_config(host_config, what, Purpose::Create);
    if let Some(endpoints) = f::member(body, container_create::NETWORKING_CONFIG)
        .and_then(|n| f::member(n, networking_config::ENDPOINTS_CONFIG))
        .and_then(Json::as_object)
    {
        for net in endpoints.keys() {
            if net == "host" && !cx.policy.containers.allow_host_namespaces {
                cx.deny(
                    r::HOST_NAMESPACE,
                    "the container joins the network \"host\"",
                );
            }
        }
    }
    // A request denied already needs no lookup of its image (audit records all).
    if f::text(body, container_create::WORKING_DIR).is_empty()
        && (cx.mark() == 0 || cx.policy.mode == Mode::Audit)
    {
        cx.image_workdir(f::text(body, container_create::IMAGE));
    }
}

/// `POST /containers/{id}/update`.
pub(super) fn update(cx: &mut Checker, body: &Json) {
    cx.resources(body, "the update", false);
    cx.kernel_resources(body, "the update");
}

/// Podman's Docker API also takes `ns:<path>` (join any namespace by its path;
/// `/proc/1/ns/…` is the host's) and, for the network, `slirp4netns` with options
/// (`allow_host_loopback` reaches the host's 127.0.0.1) and `pasta`; dockerd reads them
/// as network names that do not exist.
fn podman_namespace_escape(field: Field, mode: &str) -> bool {
    mode.starts_with("ns:")
        || (field == hc::NETWORK_MODE
            && (mode.starts_with("slirp4netns:") || mode.starts_with("pasta")))
}

impl<'a> Checker<'a> {
    /// A HostConfig: every rule for a new container; for an existing one
    /// ([`Purpose::HostAccess`]) the rules that refuse host access.
    pub(crate) fn host_config(&mut self, host_config: &Json, what: &str, purpose: Purpose) {
        let c = &self.policy.containers;
        let creating = purpose == Purpose::Create;
        if f::flag(host_config, hc::PRIVILEGED) && !c.allow_privileged {
            let m = if creating {
                format!("{what} runs privileged (--privileged)")
            } else {
                format!("{what} runs privileged")
            };
            self.deny(r::PRIVILEGED, m);
        }
        let drop = if creating {
            f::texts(host_config, hc::CAP_DROP)
        } else {
            Vec::new()
        };
        self.caps(&f::texts(host_config, hc::CAP_ADD), &drop, what);
        if creating {
            self.binds_and_mounts(host_config);
        }
        if !c.allow_devices {
            if f::is_set(host_config, hc::DEVICES) {
                self.deny(r::DEVICES, format!("{what} maps host devices (--device)"));
            }
            if f::is_set(host_config, hc::DEVICE_CGROUP_RULES) {
                self.deny(
                    r::DEVICES,
                    format!("{what} adds device cgroup rules (--device-cgroup-rule)"),
                );
            }
            if f::is_set(host_config, hc::DEVICE_REQUESTS) {
                self.deny(r::DEVICES, format!("{what} requests devices (--gpus)"));
            }
        }
        for (field, flag) in NAMESPACES {
            let mode = f::text(host_config, field);
            if creating {
                self.namespace(field, mode, flag);
            } else if mode == "host" {
                self.host_namespace(&format!("{what} uses {flag}=host"));
            } else if podman_namespace_escape(field, mode) {
                self.host_namespace(&format!("{what} uses {flag}={mode}"));
            }
        }
        self.security_opts(&f::texts(host_config, hc::SECURITY_OPT), what);
        if !c.allow_masked_paths_override {
            for field in [hc::MASKED_PATHS, hc::READONLY_PATHS] {
                if f::is_present(host_config, field) {
                    self.deny(
                        r::MASKED_PATHS,
                        format!("{what} overrides {} (systempaths=unconfined)", field.name()),
                    );
                }
            }
        }
        self.sysctls(f::member(host_config, hc::SYSCTLS), what);
        let runtime = f::text(host_config, hc::RUNTIME);
        if !runtime.is_empty() && !c.runtimes_allowed.iter().any(|x| x == runtime) {
            self.deny(r::RUNTIME, format!("{what} uses runtime {runtime:?}"));
        }
        if !f::text(host_config, hc::CGROUP_PARENT).is_empty() && !c.allow_cgroup_parent {
            self.deny(r::CGROUP_PARENT, format!("{what} sets --cgroup-parent"));
        }
        if !creating {
            return;
        }
        if let Some(lc) = f::member(host_config, hc::LOG_CONFIG) {
            self.log_config(
                f::text(lc, log_config::TYPE),
                f::member(lc, log_config::CONFIG),
                what,
            );
        }
        self.links(&f::texts(host_config, hc::LINKS));
        self.resources(host_config, what, true);
        if creating {
            self.kernel_resources(host_config, what);
        }
    }

    /// PC-1032 (negative OOM score adjustment) and PC-1033 (blkio device paths).
    pub(super) fn kernel_resources(&mut self, res: &Json, what: &str) {
        for (rule, m) in crate::policy::resources::violations(self.policy, res, what) {
            self.deny(rule, m);
        }
    }

    /// Binds, the volume driver, Mounts and VolumesFrom of a new container.
    fn binds_and_mounts(&mut self, host_config: &Json) {
        for spec in f::texts(host_config, hc::BINDS) {
            let bind = Bind::parse(spec);
            match &bind {
                Bind::Anonymous => {}
                Bind::Host { src, .. } => {
                    let what = format!("-v {spec}");
                    self.host_path(src, &what);
                    for m in bind.modes() {
                        self.propagation(m, &what);
                    }
                }
                Bind::Named { name } => self.existing_volume(name, &format!("-v {spec}")),
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
        let volume_driver = f::text(host_config, hc::VOLUME_DRIVER);
        if !volume_driver.is_empty() {
            self.volume_driver(
                volume_driver,
                &[],
                &format!("--volume-driver {volume_driver}"),
            );
        }
        for (n, m) in f::list(host_config, hc::MOUNTS).iter().enumerate() {
            let ty = f::text(m, crate::policy::fields::mount::TYPE);
            self.mount(m, &format!("--mount #{} ({ty})", n + 1));
        }
        for spec in f::texts(host_config, hc::VOLUMES_FROM) {
            let name = volumes_from_source(spec).to_string();
            if self.policy.containers.volumes_from_allowed.contains(&name) {
                continue;
            }
            if let Some(Some(source)) = self.container(&name) {
                if self.is_protected(source) {
                    self.deny(
                        r::VOLUMES_FROM,
                        format!("--volumes-from {name} is a protected container"),
                    );
                }
                let mark = self.mark();
                let what = format!("--volumes-from {name}");
                self.existing_mounts(source.mounts.iter(), &what, &what);
                // Report what the source container would bring in under PC-1006.
                self.retag(mark, r::VOLUMES_FROM);
            }
        }
    }

    pub(super) fn caps(&mut self, add: &[&str], drop: &[&str], what: &str) {
        for cap in add {
            let n = normalise_cap(cap);
            if !self.policy.containers.cap_add_allowed.contains(&n) {
                self.deny(r::CAP_ADD, format!("{what} adds capability {n}"));
            }
        }
        if !drop.is_empty() && !self.policy.containers.allow_cap_drop {
            self.deny(
                r::CAP_DROP,
                format!("{what} drops capabilities {}", drop.join(",")),
            );
        }
    }

    pub(super) fn sysctls(&mut self, v: Option<&Json>, what: &str) {
        let Some(map) = v.and_then(Json::as_object) else {
            return;
        };
        for k in map.keys() {
            let ok =
                self.policy
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

    pub(super) fn image(&mut self, image: &str, what: &str) {
        let allowlist = &self.policy.containers.image_allowlist;
        if !allowlist.is_empty() && !allowlist.iter().any(|re| re.is_match(image)) {
            self.deny(
                r::IMAGE,
                format!("{what} uses image {image:?}, not in the allowlist"),
            );
        }
    }

    pub(super) fn workdir(&mut self, wd: &str, what: &str) {
        if self.policy.containers.allow_proc_workdir || wd.is_empty() {
            return;
        }
        if let Some(why) = crate::policy::workdir::refusal(wd) {
            self.deny(
                r::PROC_WORKDIR,
                format!("{what} sets working directory {wd:?}, which {why}"),
            );
        }
    }

    /// A container created without a working directory runs in its image's: the image
    /// is looked up (PC-1021 on what it would inherit).
    fn image_workdir(&mut self, image: &str) {
        if self.policy.containers.allow_proc_workdir || image.is_empty() {
            return;
        }
        let known = self.facts.images.get(image);
        self.refer(Lookup::Image(image.to_string()), known.is_none());
        if let Some(Some(img)) = known {
            let what = format!("the container inherits from image {image:?}; the image");
            self.workdir(&img.working_dir, &what);
        }
    }

    /// A `host` namespace mode, refused unless the policy allows host namespaces.
    fn host_namespace(&mut self, message: &str) {
        if !self.policy.containers.allow_host_namespaces {
            self.deny(r::HOST_NAMESPACE, message);
        }
    }

    /// Namespace modes of a new (or starting) container: `host`, or `container:<x>`
    /// resolved to x.
    pub(super) fn namespace(&mut self, field: Field, mode: &str, flag: &str) {
        let name = field.name();
        if mode == "host" {
            let m = format!("{flag}=host ({name}) shares the host's namespace");
            self.host_namespace(&m);
            return;
        }
        if podman_namespace_escape(field, mode) {
            let m = format!("{flag}={mode} ({name}) may join the host's namespace (Podman)");
            self.host_namespace(&m);
            return;
        }
        let Some(target) = container_ref(mode) else {
            return;
        };
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
        let Some(Some(joined)) = found else {
            return;
        };
        if self.is_protected(joined) {
            self.deny(
                r::PROTECTED_JOIN,
                format!(
                    "{flag}=container:{target} joins the protected container {:?}",
                    joined.name
                ),
            );
        }
        let target_mode = if field == hc::NETWORK_MODE {
            joined.network_mode.as_str()
        } else if field == hc::PID_MODE {
            joined.pid_mode.as_str()
        } else if field == hc::IPC_MODE {
            joined.ipc_mode.as_str()
        } else {
            ""
        };
        if container_ref(target_mode).is_some() {
            // A chain: what x joins is not checked here, so it is refused.
            self.deny(
                r::HOST_NAMESPACE,
                format!("{flag}=container:{target} joins a container that itself joins another's namespace"),
            );
        }
        if target_mode == "host" && !self.policy.containers.allow_host_namespaces {
            self.deny(
                r::HOST_NAMESPACE,
                format!(
                    "{flag}=container:{target} joins a container that uses the host's namespace"
                ),
            );
        }
        if joined.privileged && !self.policy.containers.allow_privileged {
            self.deny(
                r::PRIVILEGED,
                format!("{flag}=container:{target} joins a privileged container"),
            );
        }
        if field == hc::PID_MODE {
            // Its processes' files, mounts included, are under /proc/<pid>/root.
            self.host_access(
                joined,
                &format!("{flag}=container:{target} joins the processes"),
            );
        }
    }

    pub(super) fn security_opts(&mut self, opts: &[&str], what: &str) {
        let c = &self.policy.containers;
        for opt in opts {
            let (key, value) = split_security_opt(opt);
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

    /// Memory, CPU and PIDs ceilings (`creating`: a missing limit is refused too).
    pub(super) fn resources(&mut self, res: &Json, what: &str, creating: bool) {
        let c = &self.policy.containers;
        for (field, ceiling, flag) in [
            (hc::MEMORY, c.max_memory_bytes, "--memory"),
            (hc::NANO_CPUS, c.max_nano_cpus, "--cpus"),
            (hc::PIDS_LIMIT, c.max_pids, "--pids-limit"),
        ] {
            if ceiling <= 0 {
                continue;
            }
            let present = f::member(res, field).is_some();
            let v = f::integer(res, field);
            if (creating || present) && (v <= 0 || v > ceiling) {
                self.deny(
                    r::RESOURCES,
                    format!(
                        "{what} {flag} ({}={v}) must be between 1 and {ceiling}",
                        field.name()
                    ),
                );
            }
        }
    }

    /// A log driver and its options: options without a driver go to the daemon's
    /// default driver, so only those every local driver takes are accepted there.
    pub(super) fn log_config(&mut self, driver: &str, opts: Option<&Json>, what: &str) {
        if !driver.is_empty()
            && !self
                .policy
                .containers
                .log_drivers_allowed
                .iter()
                .any(|d| d == driver)
        {
            self.deny(r::LOG_DRIVER, format!("{what} uses log driver {driver:?}"));
        }
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

    /// Legacy links: each reads the linked container's environment.
    fn links(&mut self, links: &[&str]) {
        for link in links {
            let Some(name) = linked_container(link) else {
                self.deny(
                    r::PROTECTED_JOIN,
                    format!("--link {link:?} is not a container name and alias Portcullis accepts"),
                );
                continue;
            };
            if let Some(Some(linked)) = self.container(name) {
                if self.is_protected(linked) {
                    self.deny(
                        r::PROTECTED_JOIN,
                        format!("--link {name} reads the protected container's environment"),
                    );
                }
            }
        }
    }
}
