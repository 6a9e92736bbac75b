//! Exec: `POST /containers/{id}/exec` (the target is checked by `host_access`).

use crate::docker::json::Json;
use crate::policy::check::Checker;
use crate::policy::fields::{self as f, exec_create};
use crate::policy::rules as r;

/// `POST /containers/{id}/exec`.
pub(super) fn create(cx: &mut Checker, body: &Json, target: Option<&str>) {
    if f::flag(body, exec_create::PRIVILEGED) && !cx.policy.containers.allow_exec_privileged {
        cx.deny(
            r::EXEC_PRIVILEGED,
            "docker exec --privileged gives the process every capability",
        );
    }
    let wd = f::text(body, exec_create::WORKING_DIR);
    cx.workdir(wd, "the exec");
    // Without one, the exec runs in its container's working directory.
    if wd.is_empty() {
        if let Some(Some(c)) = target.and_then(|t| cx.container(t)) {
            let what = format!("the exec inherits from container {:?}; it", c.name);
            cx.workdir(&c.working_dir, &what);
        }
    }
}
