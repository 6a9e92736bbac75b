//! Operations on an existing container named by the path (or reached through an exec
//! id): protected containers are left alone (PC-1019), and working inside a container
//! that has host access this policy would not grant a new one is refused (PC-1029).
//! "Has host access" is the container family's own HostConfig rules run on the
//! container's stored HostConfig, plus its actual mounts, so every create rule that
//! refuses host access has its counterpart here.

use crate::docker::binds::volumes_from_source;
use crate::docker::options::container_ref;
use crate::docker::route::OpKind;
use crate::policy::check::Checker;
use crate::policy::fields::host_config as hc;
use crate::policy::rules as r;
use crate::policy::{ContainerFacts, Lookup, RequestView};

use super::containers::Purpose;

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

/// The container named by the path: protected, host access, and the joins a start
/// resolves again.
pub(super) fn check(cx: &mut Checker, req: &RequestView) {
    let op = req.op.kind;
    let name = op.name();
    let Some(target) = req.op.target.as_deref() else {
        return;
    };
    if touches_container(op) || acts_inside(op) {
        cx.protected_target(target, name);
        if acts_inside(op) {
            if let Some(Some(f)) = cx.container(target) {
                cx.host_access(f, name);
            }
        }
    }
    if matches!(op, OpKind::ContainerStart | OpKind::ContainerRestart) {
        // dockerd resolves `container:<x>` modes again at start: check what they
        // name now.
        if let Some(Some(f)) = cx.container(target) {
            for (field, mode, flag) in [
                (hc::NETWORK_MODE, &f.network_mode, "--network"),
                (hc::PID_MODE, &f.pid_mode, "--pid"),
                (hc::IPC_MODE, &f.ipc_mode, "--ipc"),
            ] {
                if container_ref(mode).is_some() {
                    cx.namespace(field, mode, flag);
                }
            }
        }
    }
}

/// An exec id (visible in /events) leads to its container: the same checks as creating
/// it there, so nobody starts an exec someone else prepared.
pub(super) fn check_exec_target(cx: &mut Checker, req: &RequestView) {
    let op = req.op.kind;
    let Some(id) = &req.op.target else {
        return;
    };
    let known = cx.facts.execs.get(id.as_str());
    if !cx.refer(Lookup::Exec(id.clone()), known.is_none()) {
        return;
    }
    let Some(Some(exec)) = known else {
        return;
    };
    if exec.container_id.is_empty() {
        return;
    }
    cx.protected_target(&exec.container_id, op.name());
    if op == OpKind::ExecStart {
        if let Some(Some(f)) = cx.container(&exec.container_id) {
            cx.host_access(f, op.name());
        }
    }
}

impl<'a> Checker<'a> {
    pub(super) fn protected_target(&mut self, name: &str, what: &str) {
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
    pub(super) fn host_access(&mut self, f: &'a ContainerFacts, what: &str) {
        self.host_access_at(f, what, 0);
    }

    /// [`host_access`](Self::host_access), following a `container:<x>` PID or network
    /// namespace one step (what runs in `f` also sees x's processes and their files).
    fn host_access_at(&mut self, f: &'a ContainerFacts, what: &str, depth: usize) {
        let who = format!("{what} in container {:?}, which", f.name);
        let mark = self.mark();
        // Mounts inherited from an allowed --volumes-from source were accepted at create.
        // dockerd lists inherited mounts among the container's own; Podman's inspect
        // leaves inherited bind mounts out, so any other source is checked itself, and a
        // source that no longer exists leaves them unknown.
        let mut inherited: Vec<&'a (String, String)> = Vec::new();
        let mut sources: Vec<&'a ContainerFacts> = Vec::new();
        let mut gone: Vec<&'a str> = Vec::new();
        for spec in &f.volumes_from {
            let name = volumes_from_source(spec);
            let allowed = self
                .policy
                .containers
                .volumes_from_allowed
                .iter()
                .any(|a| a == name);
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
        self.host_config(&f.host_config_to_check(), &who, Purpose::HostAccess);
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
        self.retag(mark, r::HOST_ACCESS_TARGET);
    }
}
