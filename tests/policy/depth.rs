//! Table-driven tests of the default policy's second-wave depth rules through the pure
//! request path (canonicalise, classify, Go-exact body view, decide): working
//! directories that reach /proc through runc's /dev links or are inherited (PC-1021),
//! network subnets outside the daemon's default pools (PC-1030), registries of the
//! host (PC-1031), negative OOM score adjustments (PC-1032) and blkio device paths
//! (PC-1033). Each class is covered over every route and body field that carries it.

use http::Method;
use portcullis::policy::pipeline::Outcome;
use portcullis::policy::{ContainerFacts, Decision, Facts, ImageFacts, Lookup, Policy, PolicySet};
use std::path::Path;

fn default_set() -> PolicySet {
    PolicySet::load(&[concat!(env!("CARGO_MANIFEST_DIR"), "/policies/default.toml").into()])
        .expect("default policy loads")
}

fn set_of(toml: &str) -> PolicySet {
    PolicySet::new(vec![Policy::from_toml(toml, Path::new("t.toml")).unwrap()]).unwrap()
}

fn decide<'b>(
    set: &PolicySet,
    method: &Method,
    target: &str,
    body: Option<&'b str>,
    facts: &Facts,
) -> Outcome<'b> {
    crate::check_as_owner(set, method, target, body.map(str::as_bytes), facts)
}

/// `Some(rule)`: denied with that rule among the violations; `None`: allowed clean.
fn expect(
    set: &PolicySet,
    method: Method,
    target: &str,
    body: Option<&str>,
    facts: &Facts,
    want: Option<&str>,
) {
    let out = decide(set, &method, target, body, facts);
    match (&out, want) {
        (
            Outcome::Decided {
                decision: Decision::Allow(v),
                ..
            },
            None,
        ) if v.is_empty() => {}
        (
            Outcome::Decided {
                decision: Decision::Deny(v),
                ..
            },
            Some(rule),
        ) if v.iter().any(|x| x.rule == rule) => {}
        _ => panic!("{method} {target} {body:?}\n  got {out:?}\n  want {want:?}"),
    }
}

/// Working directories that reach /proc, spelled every way the kernel would resolve
/// to it inside a runc container.
const PROC_DIRS: &[&str] = &[
    "/proc/self/fd/8",
    "/dev/fd/7",
    "/dev/fd",
    "/dev/fd/",
    "/dev/./fd/7",
    "//dev/fd/7",
    "/dev//fd/7",
    "/dev/../dev/fd/7",
    "/tmp/../dev/fd/7",
    "/dev/stdin",
    "/dev/stdout",
    "/dev/stderr/..",
    "/dev/fd/7/../../../..",
    "/dev/fd/../../self/fd/7",
    "/tmp/../proc/1/cwd",
];

const FINE_DIRS: &[&str] = &[
    "/tmp", "/srv/app", "/dev", "/dev/shm", "/dev/fdx", "/procfs",
];

fn exec_body(wd: &str) -> String {
    format!(r#"{{"Cmd":["id"],"WorkingDir":{wd:?}}}"#)
}

fn service_body(dir: &str, extra: &str) -> String {
    format!(
        r#"{{"Name":"s","TaskTemplate":{{"ContainerSpec":{{"Image":"busybox","Dir":{dir:?}{extra}}}}}}}"#
    )
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn working_directories_reaching_proc_on_every_route() {
    let set = default_set();
    let none = Facts::default();
    let post = Method::POST;
    for (dirs, want) in [(PROC_DIRS, Some("PC-1021")), (FINE_DIRS, None)] {
        for wd in dirs {
            let create = format!(r#"{{"Image":"busybox","WorkingDir":{wd:?},"HostConfig":{{}}}}"#);
            expect(
                &set,
                post.clone(),
                "/containers/create",
                Some(&create),
                &none,
                want,
            );
            let exec = exec_body(wd);
            expect(
                &set,
                post.clone(),
                "/containers/c1/exec",
                Some(&exec),
                &none,
                want,
            );
            let service = service_body(wd, "");
            expect(
                &set,
                post.clone(),
                "/services/create",
                Some(&service),
                &none,
                want,
            );
            let commit = format!(r#"{{"WorkingDir":{wd:?}}}"#);
            expect(
                &set,
                post.clone(),
                "/commit?container=c1&repo=x",
                Some(&commit),
                &none,
                want,
            );
            for change in [format!("WORKDIR {wd}"), format!("ONBUILD WORKDIR {wd}")] {
                let c = enc(&change);
                expect(
                    &set,
                    post.clone(),
                    &format!("/commit?container=c1&changes={c}"),
                    None,
                    &none,
                    want,
                );
                expect(
                    &set,
                    post.clone(),
                    &format!("/images/create?fromSrc=-&repo=x&changes={c}"),
                    None,
                    &none,
                    want,
                );
            }
        }
    }
    // Relative working directories are relative to a directory Portcullis does not know.
    for body in [exec_body("fd/7"), service_body("dev/fd/7", "")] {
        let target = if body.contains("TaskTemplate") {
            "/services/create"
        } else {
            "/containers/c1/exec"
        };
        expect(
            &set,
            post.clone(),
            target,
            Some(&body),
            &none,
            Some("PC-1021"),
        );
    }
    // The operator's exception.
    let lax = set_of("name = \"lax\"\n[containers]\nallow_proc_workdir = true\n");
    expect(
        &lax,
        post,
        "/containers/c1/exec",
        Some(&exec_body("/dev/fd/7")),
        &none,
        None,
    );
}

#[test]
fn inherited_working_directories_are_checked() {
    let set = default_set();
    let post = Method::POST;
    let mut facts = Facts::default();
    for (image, wd) in [("procwd", "/dev/fd/7"), ("plain", "/srv"), ("nowd", "")] {
        facts.images.insert(
            image.into(),
            Some(ImageFacts {
                id: format!("sha256:{image}"),
                working_dir: wd.into(),
                ..Default::default()
            }),
        );
    }
    facts.images.insert("missing".into(), None);
    let create = |image: &str, wd: &str| {
        format!(r#"{{"Image":"{image}","WorkingDir":"{wd}","HostConfig":{{}}}}"#)
    };
    // A container without a working directory takes its image's.
    expect(
        &set,
        post.clone(),
        "/containers/create",
        Some(&create("procwd", "")),
        &facts,
        Some("PC-1021"),
    );
    for image in ["plain", "nowd", "missing"] {
        expect(
            &set,
            post.clone(),
            "/containers/create",
            Some(&create(image, "")),
            &facts,
            None,
        );
    }
    // Its own working directory overrides the image's.
    expect(
        &set,
        post.clone(),
        "/containers/create",
        Some(&create("procwd", "/srv")),
        &facts,
        None,
    );
    // The image is looked up when it is not known yet, and only then.
    for (body, wants_image) in [
        (create("unknown", ""), true),
        (create("unknown", "/srv"), false),
        (create("procwd", ""), false),
    ] {
        let Outcome::Decided { lookups, .. } =
            decide(&set, &post, "/containers/create", Some(&body), &facts)
        else {
            panic!("refused")
        };
        assert_eq!(
            lookups.contains(&Lookup::Image("unknown".into())),
            wants_image,
            "{body}: {lookups:?}"
        );
    }
    // A create refused already asks nothing about its image; an auditing policy does,
    // to record everything.
    let privileged = r#"{"Image":"unknown","HostConfig":{"Privileged":true}}"#;
    let audit = set_of("name = \"a\"\nmode = \"audit\"\n");
    for (set, wants_image) in [(&set, false), (&audit, true)] {
        let Outcome::Decided { lookups, .. } =
            decide(set, &post, "/containers/create", Some(privileged), &facts)
        else {
            panic!("refused")
        };
        assert_eq!(
            lookups.contains(&Lookup::Image("unknown".into())),
            wants_image,
            "{lookups:?}"
        );
    }
    // An exec without a working directory runs in its container's.
    for (name, wd) in [
        ("inproc", "/proc/self/fd/7"),
        ("indevfd", "//dev/fd/9"),
        ("fine", "/srv"),
    ] {
        facts.containers.insert(
            name.into(),
            Some(ContainerFacts {
                id: format!("{name}-id"),
                name: name.into(),
                working_dir: wd.into(),
                ..Default::default()
            }),
        );
    }
    let exec = r#"{"Cmd":["id"]}"#;
    for (name, want) in [
        ("inproc", Some("PC-1021")),
        ("indevfd", Some("PC-1021")),
        ("fine", None),
    ] {
        expect(
            &set,
            post.clone(),
            &format!("/containers/{name}/exec"),
            Some(exec),
            &facts,
            want,
        );
    }
    // ... unless the exec sets its own.
    expect(
        &set,
        post,
        "/containers/inproc/exec",
        Some(&exec_body("/tmp")),
        &facts,
        None,
    );
}

fn network(driver: &str, ipam: &str) -> String {
    format!(r#"{{"Name":"n","Driver":"{driver}","IPAM":{{"Config":[{ipam}]}}}}"#)
}

#[test]
fn network_subnets_stay_in_the_daemon_pools() {
    let set = default_set();
    let none = Facts::default();
    let post = Method::POST;
    let cases: &[(&str, &str, Option<&str>)] = &[
        // dockerd's local pools: 172.17.0.0/16 .. 172.31.0.0/16, 192.168.0.0/16 as /20s.
        ("bridge", r#"{"Subnet":"172.17.0.0/16"}"#, None),
        (
            "bridge",
            r#"{"Subnet":"172.31.5.0/24","Gateway":"172.31.5.1"}"#,
            None,
        ),
        ("bridge", r#"{"Subnet":"172.20.0.0/14"}"#, None),
        (
            "bridge",
            r#"{"Subnet":"192.168.16.0/20","IPRange":"192.168.16.0/24"}"#,
            None,
        ),
        ("", r#"{"Subnet":"192.168.240.0/20"}"#, None),
        // The host's LAN or any other range is not a pool.
        ("bridge", r#"{"Subnet":"172.16.0.0/16"}"#, Some("PC-1030")),
        ("bridge", r#"{"Subnet":"172.16.0.0/12"}"#, Some("PC-1030")),
        ("bridge", r#"{"Subnet":"10.0.0.0/24"}"#, Some("PC-1030")),
        ("bridge", r#"{"Subnet":"8.8.8.0/24"}"#, Some("PC-1030")),
        (
            "bridge",
            r#"{"Subnet":"172.20.0.0/24","Gateway":"10.0.0.1"}"#,
            Some("PC-1030"),
        ),
        (
            "bridge",
            r#"{"Subnet":"172.20.0.0/24","AuxiliaryAddresses":{"r":"192.0.2.1"}}"#,
            Some("PC-1030"),
        ),
        ("bridge", r#"{"Subnet":"fd00:1::/64"}"#, Some("PC-1030")),
        (
            "bridge",
            r#"{"Subnet":"::ffff:10.0.0.0/104"}"#,
            Some("PC-1030"),
        ),
        // Swarm's default pool for overlay networks.
        ("overlay", r#"{"Subnet":"10.0.9.0/24"}"#, None),
        ("overlay", r#"{"Subnet":"10.200.0.0/16"}"#, None),
        ("overlay", r#"{"Subnet":"172.20.0.0/16"}"#, Some("PC-1030")),
        ("overlay", r#"{"Subnet":"11.0.0.0/24"}"#, Some("PC-1030")),
    ];
    for (driver, ipam, want) in cases {
        expect(
            &set,
            post.clone(),
            "/networks/create",
            Some(&network(driver, ipam)),
            &none,
            *want,
        );
    }
    // Without a subnet the daemon picks one from its pools.
    expect(
        &set,
        post.clone(),
        "/networks/create",
        Some(r#"{"Name":"n"}"#),
        &none,
        None,
    );
    // An operator widens (or replaces) the pools; the host's ranges stay refused.
    let wide =
        set_of("name = \"w\"\n[networks]\nsubnet_allowlist = [\"10.0.0.0/8\", \"0.0.0.0/0\"]\n");
    for (ipam, want) in [
        (r#"{"Subnet":"10.0.0.0/24"}"#, None),
        (r#"{"Subnet":"8.8.8.0/24"}"#, None),
        (r#"{"Subnet":"127.0.0.0/8"}"#, Some("PC-1030")),
    ] {
        expect(
            &wide,
            post.clone(),
            "/networks/create",
            Some(&network("bridge", ipam)),
            &none,
            want,
        );
    }
}

/// Registry hosts of the host itself, its network and its metadata services, spelled
/// as a client may spell them, with and without a port.
const HOST_REGISTRIES: &[&str] = &[
    "127.0.0.1:5000",
    "127.0.0.1",
    "127.1.2.3:80",
    "localhost:5000",
    "localhost",
    "LOCALHOST:5000",
    "registry.localhost:5000",
    "[::1]:5000",
    "[::1]",
    "[::ffff:127.0.0.1]:5000",
    "[::ffff:7f00:1]:5000",
    "[fe80::1]:5000",
    "169.254.169.254",
    "169.254.169.254:80",
    "[::ffff:169.254.169.254]",
    "metadata.google.internal",
    "metadata.google.internal.:80",
    "host.docker.internal:5000",
    "10.1.2.3:5000",
    "192.168.1.10:5000",
    "172.17.0.1:5000",
    "[fd00::1]:5000",
    "0.0.0.0:5000",
    "2130706433:5000",
    "0x7f000001:5000",
    "0x7f.1:5000",
    "127.1:5000",
    "0177.0.0.1:5000",
    "registry:5000",
];

const PUBLIC_REGISTRIES: &[&str] = &[
    "registry.example:5000",
    "ghcr.io",
    "quay.io",
    "8.8.8.8:5000",
    "[2001:db8::1]:5000",
];

/// Every request that makes the daemon connect to `registry`.
fn registry_requests(registry: &str) -> Vec<(Method, String, Option<String>)> {
    let image = format!("{registry}/team/app");
    let e = enc(&image);
    vec![
        (
            Method::POST,
            format!("/images/create?fromImage={e}&tag=1"),
            None,
        ),
        (Method::POST, format!("/images/{image}/push?tag=1"), None),
        (
            Method::POST,
            format!("/images/busybox/tag?repo={e}&tag=1"),
            None,
        ),
        (Method::GET, format!("/images/search?term={e}"), None),
        (Method::GET, format!("/distribution/{image}:1/json"), None),
        (
            Method::POST,
            "/auth".into(),
            Some(format!(
                r#"{{"username":"u","password":"p","serveraddress":"{registry}"}}"#
            )),
        ),
        (
            Method::POST,
            "/auth".into(),
            Some(format!(r#"{{"ServerAddress":"https://{registry}/v2/"}}"#)),
        ),
        (
            Method::POST,
            "/services/create".into(),
            Some(format!(
                r#"{{"Name":"s","TaskTemplate":{{"ContainerSpec":{{"Image":"{image}:1"}}}}}}"#
            )),
        ),
    ]
}

/// [`expect`] for a registry request (IPv6 registry literals in paths included: a
/// name segment may hold brackets).
fn expect_registry(
    set: &PolicySet,
    m: Method,
    target: &str,
    body: Option<&str>,
    want: Option<&str>,
) {
    expect(set, m, target, body, &Facts::default(), want);
}

#[test]
fn registries_of_the_host_are_refused_on_every_route() {
    let set = default_set();
    let none = Facts::default();
    for (hosts, want) in [
        (HOST_REGISTRIES, Some("PC-1031")),
        (PUBLIC_REGISTRIES, None),
    ] {
        for registry in hosts {
            for (m, target, body) in registry_requests(registry) {
                expect_registry(&set, m, &target, body.as_deref(), want);
            }
        }
    }
    // Docker Hub, named or not.
    for (m, target, body) in [
        (
            Method::POST,
            "/images/create?fromImage=busybox&tag=latest",
            None,
        ),
        (
            Method::POST,
            "/images/create?fromImage=docker.io%2Flibrary%2Fbusybox&tag=1",
            None,
        ),
        // One tag: pushing every tag is refused while tenants are isolated (PC-1045).
        (Method::POST, "/images/user%2Fapp/push?tag=1", None),
        (Method::GET, "/images/search?term=busybox", None),
        (Method::GET, "/distribution/busybox:latest/json", None),
        (
            Method::POST,
            "/auth",
            Some(r#"{"username":"u","password":"p"}"#),
        ),
        (
            Method::POST,
            "/auth",
            Some(r#"{"serveraddress":"https://index.docker.io/v1/"}"#),
        ),
        (Method::POST, "/images/busybox/tag?repo=mine&tag=1", None),
        (
            Method::POST,
            "/images/create?fromSrc=-&repo=127.0.0.1%3A5000%2Fx",
            None,
        ),
    ] {
        expect(&set, m, target, body, &none, None);
    }
    // A login address spelled twice under Go's case folding, or not a string.
    for body in [
        r#"{"serveraddress":"registry.example","ServerAddress":"127.0.0.1:5000"}"#,
        r#"{"ſerveraddress":"127.0.0.1:5000"}"#,
        r#"{"serveraddress":5000}"#,
        r#"{"serveraddress":"http://127.0.0.1%3a5000"}"#,
    ] {
        expect(
            &set,
            Method::POST,
            "/auth",
            Some(body),
            &none,
            Some("PC-1031"),
        );
    }
    // Plugins name registries too (when an operator allows them).
    let plugins = set_of("name = \"p\"\n[endpoints]\ndeny_groups = []\n");
    for target in [
        "/plugins/pull?remote=127.0.0.1%3A5000%2Fp&name=p",
        "/plugins/privileges?remote=localhost%3A5000%2Fp",
        "/plugins/p/upgrade?remote=169.254.169.254%2Fp",
        "/plugins/127.0.0.1:5000%2Fp/push",
    ] {
        let m = if target.starts_with("/plugins/privileges") {
            Method::GET
        } else {
            Method::POST
        };
        let body = target.contains("pull").then_some("[]");
        let body = if target.contains("upgrade") {
            Some("[]")
        } else {
            body
        };
        expect(&plugins, m, target, body, &none, Some("PC-1031"));
    }
}

#[test]
fn the_registry_allowlist_decides_alone() {
    let none = Facts::default();
    let set = set_of(
        "name = \"r\"\n[registries]\nallowlist = [\"docker.io\", \"localhost:5000\", \"registry.example\"]\n",
    );
    for (registry, want) in [
        ("localhost:5000", None),
        ("registry.example", None),
        ("registry.example:443", None),
        ("localhost:5001", Some("PC-1031")),
        ("127.0.0.1:5000", Some("PC-1031")),
        ("ghcr.io", Some("PC-1031")),
    ] {
        for (m, target, body) in registry_requests(registry) {
            expect_registry(&set, m, &target, body.as_deref(), want);
        }
    }
    expect(
        &set,
        Method::POST,
        "/images/create?fromImage=busybox&tag=latest",
        None,
        &none,
        None,
    );
    let hubless = set_of("name = \"r\"\n[registries]\nallowlist = [\"registry.example\"]\n");
    expect(
        &hubless,
        Method::POST,
        "/images/create?fromImage=busybox&tag=latest",
        None,
        &none,
        Some("PC-1031"),
    );
    expect(
        &hubless,
        Method::POST,
        "/auth",
        Some(r#"{"serveraddress":"https://index.docker.io/v1/"}"#),
        &none,
        Some("PC-1031"),
    );
    for bad in ["Registry.Example", "https://r.example", "r.example/x", ""] {
        let toml = format!("name = \"r\"\n[registries]\nallowlist = [{bad:?}]\n");
        assert!(
            Policy::from_toml(&toml, Path::new("r.toml")).is_err(),
            "{bad:?} should not load"
        );
    }
}

fn create_hc(hc: &str) -> String {
    format!(r#"{{"Image":"busybox","Cmd":["true"],"HostConfig":{hc}}}"#)
}

#[test]
fn oom_score_and_blkio_device_paths() {
    let set = default_set();
    let none = Facts::default();
    let post = Method::POST;
    for (hc, want) in [
        (r#"{"OomScoreAdj":-1}"#, Some("PC-1032")),
        (r#"{"OomScoreAdj":-1000}"#, Some("PC-1032")),
        (r#"{"OomScoreAdj":0}"#, None),
        (r#"{"OomScoreAdj":500}"#, None),
    ] {
        expect(
            &set,
            post.clone(),
            "/containers/create",
            Some(&create_hc(hc)),
            &none,
            want,
        );
    }
    let svc = service_body("/srv", r#","OomScoreAdj":-500"#);
    expect(
        &set,
        post.clone(),
        "/services/create",
        Some(&svc),
        &none,
        Some("PC-1032"),
    );
    let svc = service_body("/srv", r#","OomScoreAdj":10"#);
    expect(
        &set,
        post.clone(),
        "/services/create",
        Some(&svc),
        &none,
        None,
    );
    // Update has no OomScoreAdj: an unknown field there is refused before the policy.
    assert!(matches!(
        decide(
            &set,
            &post,
            "/containers/c1/update",
            Some(r#"{"OomScoreAdj":-5}"#),
            &none
        ),
        Outcome::Refused(_)
    ));
    let lax = set_of("name = \"l\"\n[containers]\nallow_negative_oom_score_adj = true\n");
    expect(
        &lax,
        post.clone(),
        "/containers/create",
        Some(&create_hc(r#"{"OomScoreAdj":-500}"#)),
        &none,
        None,
    );

    for field in [
        "BlkioWeightDevice",
        "BlkioDeviceReadBps",
        "BlkioDeviceWriteBps",
        "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps",
    ] {
        let value = if field == "BlkioWeightDevice" {
            "Weight"
        } else {
            "Rate"
        };
        for (path, want) in [
            ("/dev/sda", None),
            ("/dev/disk/by-id/x", None),
            ("/etc/shadow", Some("PC-1033")),
            ("/root/.ssh/id_rsa", Some("PC-1033")),
            ("/dev/../etc/shadow", Some("PC-1033")),
            ("/dev/./sda", Some("PC-1033")),
            ("/dev/", Some("PC-1033")),
            ("/dev/fd/3", Some("PC-1033")),
            ("sda", Some("PC-1033")),
            ("dev/sda", Some("PC-1033")),
            ("", Some("PC-1033")),
        ] {
            let list = format!(r#"{{"{field}":[{{"Path":{path:?},"{value}":100}}]}}"#);
            expect(
                &set,
                post.clone(),
                "/containers/create",
                Some(&create_hc(&list)),
                &none,
                want,
            );
            expect(
                &set,
                post.clone(),
                "/containers/c1/update",
                Some(&list),
                &none,
                want,
            );
        }
    }
}
