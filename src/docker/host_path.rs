//! Host filesystem paths as dockerd reads them in bind sources, working directories and
//! allowlists: Go's `path.Clean` (lexical, no symlink resolution) and "is at or below"
//! by whole components.

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
        assert!(under("/anything", "/"));
    }
}
