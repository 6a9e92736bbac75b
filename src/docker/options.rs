//! Small HostConfig option syntaxes as dockerd reads them: capability names
//! (`oci/caps`), namespace modes that name another container (`container:<x>`), and
//! `SecurityOpt` entries (`parseSecurityOpt`).

/// Normalise a capability name as dockerd does (case-insensitive, `CAP_` optional).
pub fn normalise_cap(name: &str) -> String {
    let up = name.to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The container a namespace mode joins (`container:<x>`), if it names one.
pub fn container_ref(mode: &str) -> Option<&str> {
    mode.strip_prefix("container:").filter(|x| !x.is_empty())
}

/// A `SecurityOpt` entry as key and value: split on `=`, or, without one, on the
/// deprecated `:` (`seccomp:unconfined`); a bare word is a key without a value.
pub fn split_security_opt(opt: &str) -> (&str, &str) {
    match opt.split_once('=') {
        Some(kv) => kv,
        None => opt.split_once(':').unwrap_or((opt, "")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_normalise_like_dockerd() {
        assert_eq!(normalise_cap("sys_admin"), "CAP_SYS_ADMIN");
        assert_eq!(normalise_cap("cap_sys_ptrace"), "CAP_SYS_PTRACE");
        assert_eq!(normalise_cap("all"), "ALL");
    }

    #[test]
    fn container_refs_and_security_opts() {
        assert_eq!(container_ref("container:db"), Some("db"));
        assert_eq!(container_ref("container:"), None);
        assert_eq!(container_ref("host"), None);
        assert_eq!(
            split_security_opt("seccomp=unconfined"),
            ("seccomp", "unconfined")
        );
        assert_eq!(
            split_security_opt("seccomp:unconfined"),
            ("seccomp", "unconfined")
        );
        assert_eq!(split_security_opt("label=type:x"), ("label", "type:x"));
        assert_eq!(split_security_opt("disable"), ("disable", ""));
    }
}
