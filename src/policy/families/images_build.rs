//! Images and builds: `docker build` (network mode, remote contexts, cgroup parent),
//! `docker import` from a URL, and the `changes` and working directory of a commit or
//! an import.

use crate::docker::dockerfile::{workdir_changes, WorkdirChange};
use crate::docker::route::OpKind;
use crate::policy::check::Checker;
use crate::policy::fields::{self as f, commit};
use crate::policy::rules as r;
use crate::policy::RequestView;

/// `POST /build`, `/images/create` and `/commit`.
pub(super) fn check(cx: &mut Checker, req: &RequestView) {
    let q = req.query;
    let policy = cx.policy;
    match req.op.kind {
        OpKind::Commit => {
            if let Some(c) = q.get("container") {
                cx.protected_target(c, "Commit");
            }
            if let Some(b) = req.body {
                cx.workdir(f::text(b, commit::WORKING_DIR), "the commit");
            }
            cx.changes(q.all("changes"), "the commit");
        }
        OpKind::Build => {
            let nm = q.get("networkmode").unwrap_or("");
            if (nm == "host" || nm.starts_with("container:")) && !policy.build.allow_host_network {
                cx.deny(
                    r::BUILD,
                    format!("build with --network={nm} is not allowed"),
                );
            }
            let remote = q.get("remote").unwrap_or("");
            if !remote.is_empty() && !policy.build.allow_remote {
                cx.deny(
                    r::BUILD,
                    format!("the daemon would fetch the build context {remote:?}"),
                );
            }
            if !q.get("cgroupparent").unwrap_or("").is_empty()
                && !policy.containers.allow_cgroup_parent
            {
                cx.deny(
                    r::CGROUP_PARENT,
                    "build with --cgroup-parent is not allowed",
                );
            }
        }
        OpKind::ImageCreate => {
            let src = q.get("fromSrc").unwrap_or("");
            if !src.is_empty() && src != "-" && !policy.images.allow_import_from_url {
                cx.deny(r::IMPORT_URL, format!("the daemon would fetch {src:?}"));
            }
            cx.changes(q.all("changes"), "the import");
        }
        _ => {}
    }
}

impl Checker<'_> {
    /// The `changes` of a commit or import: the working directories they set, and
    /// anything that could hide one, refused under PC-1021.
    fn changes<'c>(&mut self, changes: impl Iterator<Item = &'c str>, what: &str) {
        if self.policy.containers.allow_proc_workdir {
            return;
        }
        let joined: Vec<&str> = changes.collect();
        let joined = joined.join("\n");
        for found in workdir_changes(&joined) {
            match found {
                WorkdirChange::Path(wd) => self.workdir(wd, what),
                WorkdirChange::Unreadable(why) => {
                    self.deny(r::PROC_WORKDIR, format!("{what} changes {joined:?}: {why}"))
                }
            }
        }
    }
}
