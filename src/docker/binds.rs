//! `HostConfig.Binds` entries (`src:dst[:mode]`) as dockerd's Linux mount parser
//! (`volume/mounts/linux_parser.go`) splits them: an absolute source is a host bind
//! (cleaned as `path.Clean` does), any other source a named volume, a lone destination
//! an anonymous volume, more than two colons invalid.

use super::host_path::clean_path;

/// One `Binds` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind<'a> {
    /// `dst` alone: an anonymous volume.
    Anonymous,
    /// An absolute, cleaned host path and the mode list (`ro,rshared`…).
    Host { src: String, mode: &'a str },
    /// A named volume.
    Named { name: &'a str },
    /// A source starting with `.`: no volume name to dockerd (it refuses it), a host
    /// path relative to its working directory (`/` as a system service) to Podman.
    Relative,
    /// Not a specification dockerd accepts.
    Invalid,
}

impl<'a> Bind<'a> {
    pub fn parse(spec: &'a str) -> Bind<'a> {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.as_slice() {
            [_dst] => Bind::Anonymous,
            [src, _dst] | [src, _dst, _] => {
                let mode = if parts.len() == 3 { parts[2] } else { "" };
                if src.starts_with('/') {
                    Bind::Host {
                        src: clean_path(src),
                        mode,
                    }
                } else if src.is_empty() {
                    Bind::Invalid
                } else if src.starts_with('.') {
                    Bind::Relative
                } else {
                    Bind::Named { name: src }
                }
            }
            _ => Bind::Invalid,
        }
    }

    /// The mode options of a host bind, one by one (`ro`, `rshared`…).
    pub fn modes(&self) -> Vec<&'a str> {
        let mode = match self {
            Bind::Host { mode, .. } => *mode,
            _ => "",
        };
        mode.split(',').filter(|m| !m.is_empty()).collect()
    }
}

/// Whether a mount propagation mode lets mounts flow between the host and the container.
pub fn propagates_with_host(mode: &str) -> bool {
    matches!(mode, "shared" | "rshared" | "slave" | "rslave")
}

/// The container a `VolumesFrom` entry (`name[:ro|rw]`) names.
pub fn volumes_from_source(spec: &str) -> &str {
    spec.split(':').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_split_like_the_linux_parser() {
        assert_eq!(Bind::parse("/data"), Bind::Anonymous);
        assert_eq!(
            Bind::parse("/run/x/../docker.sock:/s:ro,rshared"),
            Bind::Host {
                src: "/run/docker.sock".into(),
                mode: "ro,rshared"
            }
        );
        assert_eq!(Bind::parse("vol:/data"), Bind::Named { name: "vol" });
        assert_eq!(Bind::parse(":/data"), Bind::Invalid);
        assert_eq!(Bind::parse(".:/host"), Bind::Relative);
        assert_eq!(Bind::parse("./x:/host:ro"), Bind::Relative);
        assert_eq!(Bind::parse("/a:/b:ro:x"), Bind::Invalid);
        let modes = Bind::parse("/a:/b:ro,rslave").modes();
        assert_eq!(modes, ["ro", "rslave"]);
        assert!(propagates_with_host("rslave") && !propagates_with_host("rprivate"));
        assert_eq!(volumes_from_source("data:ro"), "data");
    }
}
