//! Working directories as the kernel resolves them inside a runc container: which ones
//! reach `/proc` (CVE-2024-21626, a leaked host directory at `/proc/self/fd/N`).
//!
//! runc gives every container the links `/dev/fd -> /proc/self/fd`, `/dev/stdin`,
//! `/dev/stdout`, `/dev/stderr -> /proc/self/fd/0..2` and `/dev/core -> /proc/kcore`
//! (libcontainer's `defaultSymlinks`), so `/dev/fd/7` is `/proc/self/fd/7`. dockerd
//! cleans a container's working directory lexically (`filepath.Clean`) but passes an
//! exec's to runc as sent, and once a walk is inside `/proc` a `..` may leave it through
//! a magic link onto the host (`/dev/fd/7/..`). So a path is read component by
//! component, following those links, and it reaches `/proc` when any step of the walk
//! is `/proc` or below it.

/// runc's default links in `/dev` (link, target).
const RUNC_DEV_LINKS: &[(&str, &str)] = &[
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
    ("/dev/core", "/proc/kcore"),
];

/// Whether resolving the absolute path `path` in a container passes through `/proc`
/// (through runc's `/dev` links, `..` and `.` included). A relative path is not
/// judged here (callers refuse it: it is relative to a directory they do not know).
pub fn reaches_proc(path: &str) -> bool {
    let mut walk: Vec<String> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => continue,
            ".." => {
                walk.pop();
            }
            s => walk.push(s.to_string()),
        }
        if walk.first().is_some_and(|c| c == "proc") {
            return true;
        }
        // Every link target is under /proc: reaching a link is reaching /proc.
        let here = format!("/{}", walk.join("/"));
        if RUNC_DEV_LINKS.iter().any(|(link, target)| {
            debug_assert!(target.starts_with("/proc/"));
            *link == here
        }) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::reaches_proc;

    #[test]
    fn paths_through_proc_and_runc_links() {
        for p in [
            "/proc",
            "/proc/",
            "/proc/self/fd/7",
            "//proc/self/fd/7",
            "/./proc/1/cwd",
            "/tmp/../proc/self",
            "/dev/fd",
            "/dev/fd/",
            "/dev/fd/7",
            "/dev/./fd/7",
            "//dev//fd/7",
            "/dev/../dev/fd/7",
            "/tmp/../../dev/fd/8",
            "/dev/stdin",
            "/dev/stdout/..",
            "/dev/stderr",
            "/dev/core",
            "/dev/fd/7/../../../..",
            "/dev/fd/../../self/fd/7",
            "/proc/self/fd/7/../../../../..",
        ] {
            assert!(reaches_proc(p), "{p} reaches /proc");
        }
        for p in [
            "/",
            "/tmp",
            "/dev",
            "/dev/null",
            "/dev/shm/x",
            "/dev/fdx",
            "/dev/fd7",
            "/procfs",
            "/app/proc",
            "/srv/dev/fd/7",
            "/dev/pts/0",
        ] {
            assert!(!reaches_proc(p), "{p} does not reach /proc");
        }
    }
}
