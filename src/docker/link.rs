//! Legacy container links (`HostConfig.Links`) as dockerd's `ParseLink` reads them.

/// A link's container name and alias exactly as dockerd's `ParseLink` reads them:
/// `name` alone is `name:name`; `/a:/b/c` (inspect's form) is `a` with alias `c`;
/// `a:b` is `a` with alias `b`; more than one `:` is not a link (`None`).
pub fn link_parts(spec: &str) -> Option<(&str, &str)> {
    let mut parts = spec.split(':');
    let (name, alias) = (parts.next()?, parts.next());
    if parts.next().is_some() {
        return None;
    }
    Some(match alias {
        None => (spec, spec),
        Some(alias) => match name.strip_prefix('/') {
            Some(name) => (name, alias.rsplit('/').next().unwrap_or(alias)),
            None => (name, alias),
        },
    })
}

/// The container a link names, when it names one directly. A name with a `/` inside
/// is another container's link (`parent/alias`), which dockerd resolves to the linked
/// container: `None`, as for a spec that is not a link.
pub fn linked_container(spec: &str) -> Option<&str> {
    let (name, _) = link_parts(spec)?;
    let name = name.trim_start_matches('/');
    (!name.contains('/')).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_parse_as_parse_link() {
        assert_eq!(link_parts("/app/db"), Some(("/app/db", "/app/db")));
        assert_eq!(link_parts("/app:/c1/db"), Some(("app", "db")));
        assert_eq!(link_parts("a:/b/c"), Some(("a", "/b/c")));
        assert_eq!(link_parts("a:b:c"), None);
        assert_eq!(linked_container("db:alias"), Some("db"));
        assert_eq!(linked_container("/db"), Some("db"));
        assert_eq!(linked_container("/app/db"), None);
        assert_eq!(linked_container("a:b:c"), None);
    }
}
