//! Exec: `POST /containers/{id}/exec` (the target is checked by `host_access`).

use crate::docker::json::Json;
use crate::policy::check::Checker;
use crate::policy::fields::{self as f, exec_create};
use crate::policy::rules as r;

/// `POST /containers/{id}/exec`.
pub(super) fn create(cx: &mut Checker, body: &Json) {
    if f::flag(body, exec_create::PRIVILEGED) && !cx.policy.containers.allow_exec_privileged {
        cx.deny(
            r::EXEC_PRIVILEGED,
            "docker exec --privileged gives the process every capability",
        );
    }
    cx.workdir(f::text(body, exec_create::WORKING_DIR), "the exec");
}
