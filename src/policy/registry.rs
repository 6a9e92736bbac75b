//! Registries the daemon would connect to (PC-1031): a pull (`images/create
//! ?fromImage=`), a push, a tag into a registry (what a later push sends), a search, a
//! login (`/auth`'s `serveraddress`), a distribution inspect, a plugin's `remote` and a
//! service's image make
//! dockerd dial the registry from the host's network, and a loopback registry is even
//! spoken to over plain HTTP. So, unless `registries.allowlist` names it, a registry
//! host that is the host's own or a private address (loopback, link-local with the
//! metadata address, RFC 1918, CGNAT, unique-local, IPv4-mapped forms of these),
//! `localhost` and `*.localhost`, metadata and `*.internal` names, a single-label name
//! (resolved through the host's own `/etc/hosts` and search domains) or a numeric
//! form a C resolver reads as an IPv4 address (`2130706433`, `0x7f.1`, `127.1`) is
//! refused. A name that resolves to such an address is beyond a proxy that does not
//! resolve names: `registries.allowlist` closes that.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use super::model::Policy;
use super::RequestView;
use crate::docker::cidr::{host_ranges, Cidr};
use crate::docker::json::Json;
use crate::docker::reference::{auth_registry, image_registry, search_registry, split_host_port};
use crate::docker::route::OpKind;
use crate::docker::schema::go_fold_eq;

/// Private and shared address space a registry host must not be in (besides the host's
/// own ranges): RFC 1918, CGNAT, benchmarking, unique-local IPv6, NAT64.
const PRIVATE_RANGES: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "198.18.0.0/15",
    "fc00::/7",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
];

/// Names of the host itself and of cloud metadata services.
const HOST_NAMES: &[&str] = &[
    "localhost",
    "localhost.localdomain",
    "ip6-localhost",
    "ip6-loopback",
    "metadata",
    "metadata.goog",
    "instance-data",
];

/// Suffixes of names that are the host's or a cloud platform's internal ones
/// (`metadata.google.internal`, `instance-data.ec2.internal`, `host.docker.internal`).
const HOST_SUFFIXES: &[&str] = &[".localhost", ".internal", ".localdomain"];

fn private_ranges() -> &'static [(Cidr, &'static str)] {
    static PARSED: OnceLock<Vec<(Cidr, &'static str)>> = OnceLock::new();
    PARSED.get_or_init(|| {
        PRIVATE_RANGES
            .iter()
            .map(|r| (Cidr::parse(r).expect("a valid built-in range"), *r))
            .collect()
    })
}

/// Docker Hub's other names, all one registry for the allowlist.
fn canonical_hub(host: &str) -> &str {
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io",
        h => h,
    }
}

/// Why the registry host `registry` (as named, `host[:port]`) is refused, if it is.
pub fn refusal(p: &Policy, registry: &str) -> Option<String> {
    let Some((host, _port)) = split_host_port(registry) else {
        return Some("is not a registry host Portcullis can read".into());
    };
    let host = canonical_hub(&host).to_string();
    let allow = &p.registries.allowlist;
    if !allow.is_empty() {
        // An entry with a port names exactly that registry; one without, any port.
        let named = registry.to_ascii_lowercase();
        let listed = allow.iter().any(|a| {
            *a == named
                || split_host_port(a).is_some_and(|(h, pt)| {
                    pt.is_none() && canonical_hub(h.as_str()) == host.as_str()
                })
        });
        return (!listed).then(|| "is not in registries.allowlist".into());
    }
    host_refusal(&host)
}

/// The default checks of a registry host (lower case, without port or brackets).
fn host_refusal(host: &str) -> Option<String> {
    let ip = host
        .parse::<Ipv4Addr>()
        .map(|a| a.to_string())
        .or_else(|_| host.parse::<Ipv6Addr>().map(|a| a.to_string()));
    if let Ok(ip) = ip {
        let Some(block) = Cidr::parse(&ip) else {
            return Some("is not an address Portcullis can read".into());
        };
        if let Some((_, range)) = host_ranges()
            .iter()
            .chain(private_ranges())
            .find(|(r, _)| block.within(r))
        {
            return Some(format!(
                "is an address in the host's or a private range ({range})"
            ));
        }
        return None;
    }
    if host.contains(':') {
        return Some("is not a registry host Portcullis can read".into());
    }
    let numeric = host.split('.').all(|label| {
        (!label.is_empty() && label.bytes().all(|b| b.is_ascii_digit()))
            || label
                .strip_prefix("0x")
                .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    if numeric {
        return Some(
            "is a numeric host a resolver reads as an IPv4 address (write the address)".into(),
        );
    }
    if HOST_NAMES.contains(&host) || HOST_SUFFIXES.iter().any(|s| host.ends_with(s)) {
        return Some("names the host itself or a metadata service".into());
    }
    if !host.contains('.') {
        return Some(
            "is a single-label name, resolved through the host's own hosts file and search domains"
                .into(),
        );
    }
    None
}

/// Every registry the request makes the daemon connect to, checked; the messages of
/// the refused ones.
pub fn violations(p: &Policy, req: &RequestView) -> Vec<String> {
    let q = req.query;
    let target = req.op.target.as_deref().unwrap_or("");
    let mut named: Vec<(String, &str)> = Vec::new();
    match req.op.kind {
        OpKind::ImageCreate => {
            if let Some(image) = q.get("fromImage").filter(|i| !i.is_empty()) {
                named.push((format!("pulling {image:?}"), image_registry(image)));
            }
        }
        OpKind::ImagePush | OpKind::PluginPush => {
            named.push((format!("pushing {target:?}"), image_registry(target)))
        }
        OpKind::PluginPull | OpKind::PluginUpgrade | OpKind::PluginPrivileges => {
            if let Some(remote) = q.get("remote").filter(|r| !r.is_empty()) {
                named.push((
                    format!("fetching plugin {remote:?}"),
                    image_registry(remote),
                ));
            }
        }
        OpKind::ImageTag => {
            if let Some(repo) = q.get("repo").filter(|r| !r.is_empty()) {
                named.push((
                    format!("tagging into {repo:?} (a push would send it there)"),
                    image_registry(repo),
                ));
            }
        }
        OpKind::ImageSearch => {
            let term = q.get("term").unwrap_or("");
            named.push((format!("searching {term:?}"), search_registry(term)));
        }
        OpKind::DistributionInspect => named.push((
            format!("inspecting {target:?} at its registry"),
            image_registry(target),
        )),
        OpKind::Auth => {
            let mut addresses = req
                .body
                .and_then(Json::as_object)
                .map(|o| {
                    o.iter()
                        .filter(|(k, _)| go_fold_eq(k, "serveraddress"))
                        .map(|(_, v)| v)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            if addresses.len() > 1 {
                return vec!["the login names serveraddress more than once".into()];
            }
            let address = match addresses.pop() {
                None | Some(Json::Null) => "",
                Some(v) => match v.as_str() {
                    Some(a) => a,
                    None => return vec!["the login's serveraddress is not a string".into()],
                },
            };
            match auth_registry(address) {
                Some(r) => named.push((format!("logging in to {address:?}"), r)),
                None => {
                    return vec![format!(
                        "logging in to {address:?}: not a registry address Portcullis can read"
                    )]
                }
            }
        }
        OpKind::ServiceCreate | OpKind::ServiceUpdate => {
            let image = req
                .body
                .and_then(|b| b.get("TaskTemplate"))
                .and_then(|t| t.get("ContainerSpec"))
                .and_then(|c| c.get("Image"))
                .and_then(Json::as_str)
                .unwrap_or("");
            if !image.is_empty() {
                named.push((
                    format!("the service image {image:?} (its nodes pull it)"),
                    image_registry(image),
                ));
            }
        }
        _ => {}
    }
    named
        .into_iter()
        .filter_map(|(what, registry)| {
            refusal(p, registry).map(|why| {
                format!("{what} names the registry {registry:?}, which {why}; the daemon would connect to it from the host")
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::host_refusal;

    #[test]
    fn hosts_refused_by_default() {
        for h in [
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "169.254.169.254",
            "fe80::1",
            "10.1.2.3",
            "192.168.1.10",
            "172.20.0.1",
            "fd00::1",
            "0.0.0.0",
            "localhost",
            "foo.localhost",
            "metadata.google.internal",
            "metadata",
            "2130706433",
            "0x7f000001",
            "0x7f.1",
            "127.1",
            "0177.0.0.1",
            "registry",
        ] {
            assert!(host_refusal(h).is_some(), "{h} should be refused");
        }
        for h in [
            "docker.io",
            "registry.example",
            "8.8.8.8",
            "2001:db8::1",
            "1a.example",
        ] {
            assert_eq!(host_refusal(h), None, "{h} should be accepted");
        }
    }
}
