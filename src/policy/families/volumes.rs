//! Volumes and mounts: `POST /volumes/create`, and the host paths, volume drivers and
//! existing volumes a container's or service's mounts reach (PC-1004, PC-1005, PC-1020).

use crate::docker::binds::propagates_with_host;
use crate::docker::host_path::{clean_path, under};
use crate::docker::json::Json;
use crate::policy::check::Checker;
use crate::policy::fields::{
    self as f, bind_options, mount, mount_driver, volume_create, volume_options,
};
use crate::policy::rules as r;
use crate::policy::Lookup;

/// `POST /volumes/create`.
pub(super) fn create(cx: &mut Checker, body: &Json) {
    let opts = f::option_pairs(f::member(body, volume_create::DRIVER_OPTS));
    cx.volume_driver(f::text(body, volume_create::DRIVER), &opts, "the volume");
}

impl Checker<'_> {
    /// An existing named volume: checked as if its driver and options were given now.
    pub(super) fn existing_volume(&mut self, name: &str, what: &str) {
        let known = self.facts.volumes.get(name);
        if !self.refer(Lookup::Volume(name.to_string()), known.is_none()) {
            return;
        }
        if let Some(Some(v)) = known {
            let opts: Vec<String> = ["type", "o", "device"]
                .iter()
                .filter(|k| v.options.contains_key(**k))
                .map(|k| format!("{k}={}", v.options[*k]))
                .collect();
            self.volume_driver(
                &v.driver,
                &opts,
                &format!("{what}: existing volume {name:?}"),
            );
        }
    }

    pub(super) fn volume_driver(&mut self, driver: &str, opts: &[String], what: &str) {
        let c = &self.policy.containers;
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

    /// A host path (cleaned) mounted into a container.
    pub(super) fn host_path(&mut self, src: &str, what: &str) {
        let c = &self.policy.containers;
        let allowed = c.allow_host_binds
            || c.host_path_allowlist
                .iter()
                .any(|prefix| under(src, prefix));
        if !allowed {
            self.deny(r::HOST_BIND, format!("{what} mounts the host path {src:?}"));
        }
    }

    pub(super) fn propagation(&mut self, mode: &str, what: &str) {
        if !self.policy.containers.allow_bind_propagation && propagates_with_host(mode) {
            self.deny(
                r::HOST_BIND,
                format!("{what} uses {mode} mount propagation with the host"),
            );
        }
    }

    /// A `Mounts[]` entry of a container or service.
    pub(super) fn mount(&mut self, m: &Json, what: &str) {
        let src = f::text(m, mount::SOURCE);
        match f::text(m, mount::TYPE) {
            "bind" => {
                self.host_path(&clean_path(src), what);
                if let Some(bo) = f::member(m, mount::BIND_OPTIONS) {
                    self.propagation(f::text(bo, bind_options::PROPAGATION), what);
                }
            }
            "volume" => {
                if let Some(dc) = f::member(m, mount::VOLUME_OPTIONS)
                    .and_then(|v| f::member(v, volume_options::DRIVER_CONFIG))
                {
                    let opts = f::option_pairs(f::member(dc, mount_driver::OPTIONS));
                    self.volume_driver(f::text(dc, mount_driver::NAME), &opts, what);
                }
                if !src.is_empty() {
                    self.existing_volume(src, what);
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

    /// The mounts of an existing container (from its inspect): host binds and volumes
    /// checked as a new container's would be.
    pub(super) fn existing_mounts<'m>(
        &mut self,
        mounts: impl Iterator<Item = &'m (String, String)>,
        bind_what: &str,
        volume_what: &str,
    ) {
        for (ty, src) in mounts {
            match ty.as_str() {
                "bind" => self.host_path(&clean_path(src), bind_what),
                "volume" => self.existing_volume(src, volume_what),
                _ => {}
            }
        }
    }
}
