//! Which registry a request makes the daemon connect to, read as dockerd reads it:
//! image references by distribution's `splitDockerDomain` (the first path component is
//! a registry host when it has a `.` or a `:`, or is `localhost`), search terms by the
//! registry package's `splitReposSearchTerm`, and login addresses as `registry.Service.
//! Auth` does (`https://` added when there is no scheme, then `url.Parse(…).Host`).
//! A registry host is then split into a host and a port (`[v6]:port` included).

/// Docker Hub, the registry of references without a registry host.
pub const DOCKER_HUB: &str = "docker.io";

/// The registry host (with its port) of an image reference `[host/]path[:tag][@digest]`.
/// A first component with upper-case letters counts as a host too (newer parsers read
/// it so; older ones refuse the reference), so that no reading is left unchecked.
pub fn image_registry(reference: &str) -> &str {
    match reference.split_once('/') {
        Some((first, _))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            first
        }
        _ => DOCKER_HUB,
    }
}

/// The registry a search term is sent to (`127.0.0.1:5000/foo` searches 127.0.0.1:5000).
pub fn search_registry(term: &str) -> &str {
    image_registry(term)
}

/// The registry host of a login's `serveraddress`; empty is Docker Hub. `None` when it
/// has characters Go's URL parser would decode or reject (`%`, spaces, controls).
pub fn auth_registry(address: &str) -> Option<&str> {
    if address.is_empty() {
        return Some(DOCKER_HUB);
    }
    let rest = address
        .strip_prefix("https://")
        .or_else(|| address.strip_prefix("http://"))
        .unwrap_or(address);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let readable = !host.is_empty()
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        });
    readable.then_some(host)
}

/// A registry host split into its host (lower case, trailing dots removed, without the
/// brackets of an IPv6 literal) and port; `None` when it is not `host[:port]` or
/// `[v6][:port]`.
pub fn split_host_port(registry: &str) -> Option<(String, Option<&str>)> {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (v6, port)
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (registry, None),
        }
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_of_references() {
        for (r, want) in [
            ("busybox", DOCKER_HUB),
            ("busybox:latest", DOCKER_HUB),
            ("library/busybox", DOCKER_HUB),
            ("user/app@sha256:abc", DOCKER_HUB),
            ("docker.io/library/busybox", "docker.io"),
            ("localhost/x", "localhost"),
            ("localhost:5000/x", "localhost:5000"),
            ("127.0.0.1:5000/team/app:1", "127.0.0.1:5000"),
            ("[::1]:5000/x", "[::1]:5000"),
            ("registry.example/x", "registry.example"),
            ("LOCALHOST/x", "LOCALHOST"),
            ("localhost:5000", DOCKER_HUB),
        ] {
            assert_eq!(image_registry(r), want, "{r}");
        }
    }

    #[test]
    fn registry_of_logins() {
        for (a, want) in [
            ("", Some(DOCKER_HUB)),
            ("https://index.docker.io/v1/", Some("index.docker.io")),
            ("127.0.0.1:5000", Some("127.0.0.1:5000")),
            ("http://user@[::1]:5000/v2/", Some("[::1]:5000")),
            ("localhost", Some("localhost")),
            ("http://127.0.0.1%2e:5000", None),
            ("a b", None),
        ] {
            assert_eq!(auth_registry(a), want, "{a}");
        }
    }

    #[test]
    fn host_and_port() {
        assert_eq!(
            split_host_port("127.0.0.1:5000"),
            Some(("127.0.0.1".into(), Some("5000")))
        );
        assert_eq!(
            split_host_port("[::ffff:127.0.0.1]:1"),
            Some(("::ffff:127.0.0.1".into(), Some("1")))
        );
        assert_eq!(
            split_host_port("LocalHost."),
            Some(("localhost".into(), None))
        );
        assert_eq!(split_host_port("::1:5000"), None);
        assert_eq!(split_host_port("h:"), None);
        assert_eq!(split_host_port("[::1]x"), None);
    }
}
