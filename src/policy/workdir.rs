//! PC-1021: working directories that reach `/proc` (CVE-2024-21626), checked on what
//! runs: the directory a request sets, or, when it sets none, the one the process
//! inherits (a container its image's `WorkingDir`, an exec its container's).

use crate::docker::workdir::reaches_proc;

/// Why the working directory `wd` (non-empty) is refused, if it is: it is relative (to
/// a directory Portcullis does not know), or it resolves through `/proc` or runc's
/// `/dev/fd`, `/dev/std*` and `/dev/core` links.
pub fn refusal(wd: &str) -> Option<&'static str> {
    if !wd.starts_with('/') {
        Some("is not an absolute path")
    } else if reaches_proc(wd) {
        Some("reaches /proc (directly, through runc's /dev/fd, /dev/stdin… links, or by ..)")
    } else {
        None
    }
}
