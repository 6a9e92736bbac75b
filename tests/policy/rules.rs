//! Table-driven tests of the default policy through the pure request path
//! (canonicalise, classify, Go-exact body view, decide), including disguised JSON.

use http::Method;
use portcullis::policy::pipeline::{check, Outcome};
use portcullis::policy::{ContainerFacts, Decision, Facts, Policy, PolicySet, VolumeFacts};
use portcullis::tls::Identity;
use std::path::Path;

#[derive(Debug, PartialEq)]
enum Want {
    Allow,
    /// Denied with (at least) these rule ids.
    Deny(&'static [&'static str]),
    /// Refused as malformed/ambiguous (400) with this text in the reason.
    Refused(&'static str),
}

fn default_set() -> PolicySet {
    PolicySet::load(&[concat!(env!("CARGO_MANIFEST_DIR"), "/policies/default.toml").into()])
        .expect("default policy loads")
}

fn run<'b>(
    set: &PolicySet,
    method: Method,
    target: &str,
    body: Option<&'b str>,
    facts: &Facts,
) -> Outcome<'b> {
    crate::check_as_owner(set, &method, target, body.map(str::as_bytes), facts)
}

fn assert_case(
    set: &PolicySet,
    name: &str,
    method: Method,
    target: &str,
    body: Option<&str>,
    facts: &Facts,
    want: &Want,
) {
    let out = run(set, method.clone(), target, body, facts);
    match (&out, want) {
        (
            Outcome::Decided {
                decision: Decision::Allow(v),
                ..
            },
            Want::Allow,
        ) if v.is_empty() => {}
        (
            Outcome::Decided {
                decision: Decision::Deny(v),
                ..
            },
            Want::Deny(ids),
        ) => {
            let got: Vec<&str> = v.iter().map(|x| x.rule).collect();
            for id in *ids {
                assert!(
                    got.contains(id),
                    "{name}: expected {id} among {got:?} for {method} {target}"
                );
            }
        }
        (Outcome::Refused(why), Want::Refused(needle)) => {
            assert!(
                why.contains(needle),
                "{name}: refused with {why:?}, expected {needle:?}"
            );
        }
        _ => panic!("{name}: {method} {target} {body:?}\n  got {out:?}\n  want {want:?}"),
    }
}

fn create(host_config: &str) -> String {
    format!(r#"{{"Image":"busybox","Cmd":["true"],"HostConfig":{host_config}}}"#)
}

#[test]
fn container_create_rules() {
    let set = default_set();
    let none = Facts::default();
    let cases: Vec<(&str, String, Want)> = vec![
        (
            "plain run",
            create(r#"{"NetworkMode":"default"}"#),
            Want::Allow,
        ),
        (
            "named volume",
            create(r#"{"Binds":["data:/data"]}"#),
            Want::Allow,
        ),
        (
            "anonymous volume",
            create(r#"{"Binds":["/data"]}"#),
            Want::Allow,
        ),
        (
            "tmpfs mount",
            create(r#"{"Mounts":[{"Type":"tmpfs","Target":"/t"}]}"#),
            Want::Allow,
        ),
        (
            "user network",
            create(r#"{"NetworkMode":"mynet"}"#),
            Want::Allow,
        ),
        (
            "published port",
            create(r#"{"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}}"#),
            Want::Allow,
        ),
        (
            "no-new-privileges",
            create(r#"{"SecurityOpt":["no-new-privileges"]}"#),
            Want::Allow,
        ),
        (
            "privileged",
            create(r#"{"Privileged":true}"#),
            Want::Deny(&["PC-1001"]),
        ),
        (
            "cap-add",
            create(r#"{"CapAdd":["NET_ADMIN"]}"#),
            Want::Deny(&["PC-1002"]),
        ),
        (
            "cap-add lower case with prefix",
            create(r#"{"CapAdd":["cap_sys_admin"]}"#),
            Want::Deny(&["PC-1002"]),
        ),
        (
            "cap-add all",
            create(r#"{"CapAdd":["all"]}"#),
            Want::Deny(&["PC-1002"]),
        ),
        (
            "cap-drop",
            create(r#"{"CapDrop":["ALL"]}"#),
            Want::Deny(&["PC-1003"]),
        ),
        (
            "bind root",
            create(r#"{"Binds":["/:/host"]}"#),
            Want::Deny(&["PC-1004"]),
        ),
        (
            "bind socket via dotdot",
            create(r#"{"Binds":["/run/x/../docker.sock:/s:ro"]}"#),
            Want::Deny(&["PC-1004"]),
        ),
        (
            "bind escaped slashes",
            create(r#"{"Binds":["\u002fsrv\u002fdata:\/d"]}"#),
            Want::Deny(&["PC-1004"]),
        ),
        (
            "mount bind",
            create(r#"{"Mounts":[{"Type":"bind","Source":"/etc","Target":"/e"}]}"#),
            Want::Deny(&["PC-1004"]),
        ),
        (
            "mount volume with bind options",
            create(
                r#"{"Mounts":[{"Type":"volume","Source":"v","Target":"/d","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/etc"}}}}]}"#,
            ),
            Want::Deny(&["PC-1005"]),
        ),
        (
            "mount npipe",
            create(r#"{"Mounts":[{"Type":"npipe","Source":"x","Target":"/d"}]}"#),
            Want::Deny(&["PC-1020"]),
        ),
        (
            "device",
            create(
                r#"{"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda","CgroupPermissions":"rwm"}]}"#,
            ),
            Want::Deny(&["PC-1007"]),
        ),
        (
            "device cgroup rule",
            create(r#"{"DeviceCgroupRules":["b *:* rwm"]}"#),
            Want::Deny(&["PC-1007"]),
        ),
        (
            "gpus",
            create(r#"{"DeviceRequests":[{"Driver":"","Count":-1,"Capabilities":[["gpu"]]}]}"#),
            Want::Deny(&["PC-1007"]),
        ),
        (
            "net host",
            create(r#"{"NetworkMode":"host"}"#),
            Want::Deny(&["PC-1008"]),
        ),
        (
            "pid host",
            create(r#"{"PidMode":"host"}"#),
            Want::Deny(&["PC-1008"]),
        ),
        (
            "ipc host",
            create(r#"{"IpcMode":"host"}"#),
            Want::Deny(&["PC-1008"]),
        ),
        (
            "uts host",
            create(r#"{"UTSMode":"host"}"#),
            Want::Deny(&["PC-1008"]),
        ),
        (
            "userns host",
            create(r#"{"UsernsMode":"host"}"#),
            Want::Deny(&["PC-1008"]),
        ),
        (
            "cgroupns host",
            create(r#"{"CgroupnsMode":"host"}"#),
            Want::Deny(&["PC-1008"]),
        ),
        (
            "seccomp unconfined",
            create(r#"{"SecurityOpt":["seccomp=unconfined"]}"#),
            Want::Deny(&["PC-1010"]),
        ),
        (
            "seccomp colon form",
            create(r#"{"SecurityOpt":["seccomp:unconfined"]}"#),
            Want::Deny(&["PC-1010"]),
        ),
        (
            "custom seccomp",
            create(r#"{"SecurityOpt":["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"]}"#),
            Want::Deny(&["PC-1010"]),
        ),
        (
            "apparmor",
            create(r#"{"SecurityOpt":["apparmor=unconfined"]}"#),
            Want::Deny(&["PC-1010"]),
        ),
        (
            "label disable",
            create(r#"{"SecurityOpt":["label:disable"]}"#),
            Want::Deny(&["PC-1010"]),
        ),
        (
            "bare disable",
            create(r#"{"SecurityOpt":["disable"]}"#),
            Want::Deny(&["PC-1010"]),
        ),
        (
            "systempaths unconfined",
            create(r#"{"MaskedPaths":[],"ReadonlyPaths":[]}"#),
            Want::Deny(&["PC-1011"]),
        ),
        (
            "masked paths null is the default",
            create(r#"{"MaskedPaths":null}"#),
            Want::Allow,
        ),
        (
            "sysctl",
            create(r#"{"Sysctls":{"net.ipv4.ip_forward":"1"}}"#),
            Want::Deny(&["PC-1012"]),
        ),
        (
            "runtime",
            create(r#"{"Runtime":"sketchy"}"#),
            Want::Deny(&["PC-1013"]),
        ),
        (
            "cgroup parent",
            create(r#"{"CgroupParent":"/"}"#),
            Want::Deny(&["PC-1014"]),
        ),
        (
            "syslog driver",
            create(
                r#"{"LogConfig":{"Type":"syslog","Config":{"syslog-address":"tcp://127.0.0.1:1"}}}"#,
            ),
            Want::Deny(&["PC-1015"]),
        ),
        (
            "json-file driver",
            create(r#"{"LogConfig":{"Type":"json-file","Config":{}}}"#),
            Want::Allow,
        ),
        (
            "several violations listed",
            create(r#"{"Privileged":true,"NetworkMode":"host","Binds":["/:/h"]}"#),
            Want::Deny(&["PC-1001", "PC-1004", "PC-1008"]),
        ),
        (
            "proc workdir",
            r#"{"Image":"busybox","WorkingDir":"/proc/self/fd/8","HostConfig":{}}"#.into(),
            Want::Deny(&["PC-1021"]),
        ),
        // disguised JSON
        // Every spelling Go's decoder matches is read as the field, merged as Go
        // merges it, and checked.
        (
            "lower-case key",
            create(r#"{"privileged":true}"#),
            Want::Deny(&["PC-1001"]),
        ),
        (
            "lower-case object and key",
            r#"{"Image":"x","hostconfig":{"privileged":true}}"#.into(),
            Want::Deny(&["PC-1001"]),
        ),
        (
            "upper-case key",
            create(r#"{"PRIVILEGED":true}"#),
            Want::Deny(&["PC-1001"]),
        ),
        (
            "unicode folded key",
            r#"{"Image":"x","HoſtConfig":{"Privileged":true}}"#.into(),
            Want::Deny(&["PC-1001"]),
        ),
        (
            "kelvin sign",
            create(r#"{"Networ\u212AMode":"host"}"#),
            Want::Deny(&["PC-1008"]),
        ),
        (
            "escaped key is canonical",
            create(r#"{"Privil\u0065ged":true}"#),
            Want::Deny(&["PC-1001"]),
        ),
        (
            "duplicate HostConfig merged by Go",
            r#"{"Image":"x","HostConfig":{"Privileged":true},"HostConfig":{"CapAdd":[]}}"#.into(),
            Want::Deny(&["PC-1001"]),
        ),
        (
            "duplicate HostConfig, second spelling",
            r#"{"Image":"x","HostConfig":{"CapAdd":[]},"hostConfig":{"privileged":true}}"#.into(),
            Want::Deny(&["PC-1001"]),
        ),
        (
            "case-variant duplicate, later true wins",
            create(r#"{"Privileged":false,"privileged":true}"#),
            Want::Deny(&["PC-1001"]),
        ),
        (
            "later null does not clear",
            create(r#"{"PidMode":"host","PidMode":null}"#),
            Want::Deny(&["PC-1008"]),
        ),
        (
            "later false replaces",
            create(r#"{"Privileged":true,"Privileged":false}"#),
            Want::Allow,
        ),
        (
            "repeated list of mounts is not modelled",
            create(r#"{"Mounts":[{"Type":"volume","Target":"/d"}],"Mounts":[{"Source":"/"}]}"#),
            Want::Refused("cannot model"),
        ),
        (
            "top-level HostConfig field without HostConfig",
            r#"{"Image":"x","Privileged":true}"#.into(),
            Want::Deny(&["PC-1001"]),
        ),
        (
            "top-level binds lower case",
            r#"{"Image":"x","binds":["/:/h"]}"#.into(),
            Want::Deny(&["PC-1004"]),
        ),
        (
            "top-level Privileged beside HostConfig is ignored by dockerd",
            r#"{"Image":"x","Privileged":true,"HostConfig":{}}"#.into(),
            Want::Allow,
        ),
        (
            "unknown top-level field",
            r#"{"Image":"x","Privileges":true}"#.into(),
            Want::Refused("unknown field"),
        ),
        (
            "trailing data",
            format!(
                "{} {{\"HostConfig\":{{\"Privileged\":true}}}}",
                create("{}")
            ),
            Want::Refused("after the JSON value"),
        ),
        (
            "string bool",
            create(r#"{"Privileged":"true"}"#),
            Want::Refused(""),
        ),
        (
            "float int",
            create(r#"{"Memory":1.5e9}"#),
            Want::Refused(""),
        ),
        ("not an object", "[]".into(), Want::Refused("JSON object")),
    ];
    for (name, body, want) in &cases {
        assert_case(
            &set,
            name,
            Method::POST,
            "/v1.41/containers/create?name=x",
            Some(body),
            &none,
            want,
        );
    }
}

#[test]
fn effective_state_from_daemon_facts() {
    let set = default_set();
    let mut facts = Facts::default();
    let mut opts = std::collections::HashMap::new();
    opts.insert("type".to_string(), "none".to_string());
    opts.insert("o".to_string(), "bind".to_string());
    opts.insert("device".to_string(), "/etc".to_string());
    facts.volumes.insert(
        "hostetc".into(),
        Some(VolumeFacts {
            driver: "local".into(),
            options: opts,
        }),
    );
    facts.volumes.insert(
        "plain".into(),
        Some(VolumeFacts {
            driver: "local".into(),
            options: Default::default(),
        }),
    );
    facts.containers.insert(
        "binder".into(),
        Some(ContainerFacts {
            name: "binder".into(),
            mounts: vec![("bind".into(), "/etc".into())],
            ..Default::default()
        }),
    );
    facts.containers.insert(
        "data".into(),
        Some(ContainerFacts {
            name: "data".into(),
            mounts: vec![("volume".into(), "plain".into())],
            ..Default::default()
        }),
    );
    facts.containers.insert(
        "swarm-data".into(),
        Some(ContainerFacts {
            name: "swarm-data".into(),
            ..Default::default()
        }),
    );
    facts.containers.insert(
        "hostnet".into(),
        Some(ContainerFacts {
            name: "hostnet".into(),
            network_mode: "host".into(),
            ..Default::default()
        }),
    );
    facts.containers.insert(
        "friend".into(),
        Some(ContainerFacts {
            name: "friend".into(),
            network_mode: "bridge".into(),
            ..Default::default()
        }),
    );
    let cases: Vec<(&str, String, Want)> = vec![
        (
            "log options without a driver go to the daemon's default driver",
            create(r#"{"LogConfig":{"Type":"","Config":{"fluentd-address":"10.0.0.1:24224"}}}"#),
            Want::Deny(&["PC-1015"]),
        ),
        (
            "json-file options without a driver",
            create(r#"{"LogConfig":{"Type":"","Config":{"max-size":"10m","max-file":"3"}}}"#),
            Want::Allow,
        ),
        (
            "volume driver for anonymous volumes",
            create(r#"{"VolumeDriver":"evil","Binds":["/data"]}"#),
            Want::Deny(&["PC-1005"]),
        ),
        (
            "named volume that is a host bind",
            create(r#"{"Binds":["hostetc:/data:ro"]}"#),
            Want::Deny(&["PC-1005"]),
        ),
        (
            "named plain volume",
            create(r#"{"Binds":["plain:/data"]}"#),
            Want::Allow,
        ),
        (
            "mount of a bind volume by name",
            create(r#"{"Mounts":[{"Type":"volume","Source":"hostetc","Target":"/d"}]}"#),
            Want::Deny(&["PC-1005"]),
        ),
        (
            "volumes-from a host-bind container",
            create(r#"{"VolumesFrom":["binder"]}"#),
            Want::Deny(&["PC-1006"]),
        ),
        (
            "volumes-from a named-volume container",
            create(r#"{"VolumesFrom":["data:ro"]}"#),
            Want::Allow,
        ),
        (
            "volumes-from protected",
            create(r#"{"VolumesFrom":["swarm-data"]}"#),
            Want::Deny(&["PC-1006"]),
        ),
        (
            "net container: host-net container",
            create(r#"{"NetworkMode":"container:hostnet"}"#),
            Want::Deny(&["PC-1008"]),
        ),
        (
            "pid container: protected",
            create(r#"{"PidMode":"container:swarm-data"}"#),
            Want::Deny(&["PC-1009"]),
        ),
        (
            "net container: friend",
            create(r#"{"NetworkMode":"container:friend"}"#),
            Want::Allow,
        ),
        (
            "link to protected",
            create(r#"{"Links":["/swarm-data:db"]}"#),
            Want::Deny(&["PC-1009"]),
        ),
    ];
    for (name, body, want) in &cases {
        assert_case(
            &set,
            name,
            Method::POST,
            "/containers/create",
            Some(body),
            &facts,
            want,
        );
    }
    // Protected containers cannot be touched.
    for (m, p, want) in [
        (
            Method::DELETE,
            "/v1.41/containers/swarm-data",
            Want::Deny(&["PC-1019"]),
        ),
        (
            Method::POST,
            "/v1.41/containers/swarm-data/kill",
            Want::Deny(&["PC-1019"]),
        ),
        (
            Method::POST,
            "/v1.41/containers/swarm-data/stop",
            Want::Deny(&["PC-1019"]),
        ),
        (
            Method::POST,
            "/v1.41/containers/swarm-data/attach?stream=1",
            Want::Deny(&["PC-1019"]),
        ),
        (
            Method::GET,
            "/v1.41/containers/swarm-data/archive?path=/",
            Want::Deny(&["PC-1019"]),
        ),
        (Method::POST, "/v1.41/containers/friend/kill", Want::Allow),
        // Reads too: inspect shows its environment, logs and top what it prints and runs.
        (
            Method::GET,
            "/v1.41/containers/swarm-data/json",
            Want::Deny(&["PC-1019"]),
        ),
        (
            Method::GET,
            "/v1.41/containers/swarm-data/logs?stdout=1",
            Want::Deny(&["PC-1019"]),
        ),
        (
            Method::GET,
            "/v1.41/containers/swarm-data/top",
            Want::Deny(&["PC-1019"]),
        ),
        (
            Method::GET,
            "/v1.41/containers/swarm-data/stats?stream=0",
            Want::Deny(&["PC-1019"]),
        ),
        (
            Method::POST,
            "/v1.41/containers/swarm-data/start",
            Want::Deny(&["PC-1019"]),
        ),
        (
            Method::POST,
            "/v1.41/containers/swarm-data/wait",
            Want::Deny(&["PC-1019"]),
        ),
        (Method::GET, "/v1.41/containers/friend/json", Want::Allow),
        (
            Method::GET,
            "/v1.41/containers/friend/logs?stdout=1",
            Want::Allow,
        ),
    ] {
        assert_case(&set, "protected", m, p, None, &facts, &want);
    }
    assert_case(
        &set,
        "exec into protected",
        Method::POST,
        "/containers/swarm-data/exec",
        Some(r#"{"Cmd":["sh"]}"#),
        &facts,
        &Want::Deny(&["PC-1019"]),
    );
}

/// Whoever works inside a container (exec, attach, cp) or joins its processes has its
/// host access, so that is refused when the policy would not grant that access to a
/// new container; an exec someone else created leads to its container the same way.
#[test]
fn containers_with_host_access_cannot_be_entered() {
    use portcullis::policy::ExecFacts;
    let set = default_set();
    let mut facts = Facts::default();
    let mut add = |name: &str, f: ContainerFacts| {
        facts.containers.insert(
            name.into(),
            Some(ContainerFacts {
                name: name.into(),
                ..f
            }),
        );
    };
    add(
        "portainer",
        ContainerFacts {
            mounts: vec![("bind".into(), "/var/run/docker.sock".into())],
            ..Default::default()
        },
    );
    add(
        "priv",
        ContainerFacts {
            privileged: true,
            ..Default::default()
        },
    );
    add(
        "capper",
        ContainerFacts {
            cap_add: vec!["SYS_ADMIN".into()],
            ..Default::default()
        },
    );
    add(
        "devbox",
        ContainerFacts {
            devices: true,
            ..Default::default()
        },
    );
    add(
        "hostuts",
        ContainerFacts {
            uts_mode: "host".into(),
            ..Default::default()
        },
    );
    add("swarm-data", ContainerFacts::default());
    add(
        "mine",
        ContainerFacts {
            mounts: vec![("volume".into(), "plain".into())],
            ..Default::default()
        },
    );
    facts.volumes.insert(
        "plain".into(),
        Some(VolumeFacts {
            driver: "local".into(),
            options: Default::default(),
        }),
    );
    for (id, container) in [("e1", "portainer"), ("e2", "swarm-data"), ("e3", "mine")] {
        facts.execs.insert(
            id.into(),
            Some(ExecFacts {
                container_id: container.into(),
            }),
        );
    }
    add(
        "joiner",
        ContainerFacts {
            pid_mode: "container:priv".into(),
            ..Default::default()
        },
    );
    facts.containers.insert("ghost".into(), None);
    let exec = Some(r#"{"Cmd":["sh"],"AttachStdout":true}"#);
    let cases: Vec<(Method, &str, Option<&str>, Want)> = vec![
        // Joining a namespace by a name nothing carries yet: dockerd would resolve it
        // again at start.
        (
            Method::POST,
            "/containers/create",
            Some(r#"{"Image":"x","HostConfig":{"NetworkMode":"container:ghost"}}"#),
            Want::Deny(&["PC-1009"]),
        ),
        // Start (and restart) re-check the joins a container was created with.
        (
            Method::POST,
            "/containers/joiner/start",
            None,
            Want::Deny(&["PC-1001"]),
        ),
        (
            Method::POST,
            "/containers/joiner/restart",
            None,
            Want::Deny(&["PC-1001"]),
        ),
        // A join of a join is not followed: refused.
        (
            Method::POST,
            "/containers/create",
            Some(r#"{"Image":"x","HostConfig":{"PidMode":"container:joiner"}}"#),
            Want::Deny(&["PC-1008"]),
        ),
        // Links: another container's link (`parent/alias`) resolves to the linked
        // container; more than one `:` is no link.
        (
            Method::POST,
            "/containers/create",
            Some(r#"{"Image":"x","HostConfig":{"Links":["/app/db:x"]}}"#),
            Want::Deny(&["PC-1009"]),
        ),
        (
            Method::POST,
            "/containers/create",
            Some(r#"{"Image":"x","HostConfig":{"Links":["/app/db"]}}"#),
            Want::Deny(&["PC-1009"]),
        ),
        (
            Method::POST,
            "/containers/create",
            Some(r#"{"Image":"x","HostConfig":{"Links":["mine:a:b"]}}"#),
            Want::Deny(&["PC-1009"]),
        ),
        (
            Method::POST,
            "/containers/create",
            Some(r#"{"Image":"x","HostConfig":{"Links":["mine:db","/mine:/c1/db2"]}}"#),
            Want::Allow,
        ),
        // Exec into a container that shares a privileged container's processes.
        (
            Method::POST,
            "/containers/joiner/exec",
            exec,
            Want::Deny(&["PC-1029"]),
        ),
        (
            Method::POST,
            "/containers/portainer/exec",
            exec,
            Want::Deny(&["PC-1029"]),
        ),
        (
            Method::POST,
            "/containers/priv/exec",
            exec,
            Want::Deny(&["PC-1029"]),
        ),
        (
            Method::POST,
            "/containers/capper/exec",
            exec,
            Want::Deny(&["PC-1029"]),
        ),
        (
            Method::POST,
            "/containers/devbox/exec",
            exec,
            Want::Deny(&["PC-1029"]),
        ),
        (
            Method::POST,
            "/containers/hostuts/exec",
            exec,
            Want::Deny(&["PC-1029"]),
        ),
        (Method::POST, "/containers/mine/exec", exec, Want::Allow),
        (
            Method::POST,
            "/containers/portainer/attach?stream=1&stdin=1",
            None,
            Want::Deny(&["PC-1029"]),
        ),
        (
            Method::GET,
            "/containers/portainer/archive?path=/var/run/docker.sock",
            None,
            Want::Deny(&["PC-1029"]),
        ),
        (
            Method::HEAD,
            "/containers/portainer/archive?path=/",
            None,
            Want::Deny(&["PC-1029"]),
        ),
        (
            Method::GET,
            "/containers/mine/archive?path=/",
            None,
            Want::Allow,
        ),
        // Reading what it prints is not working inside it.
        (
            Method::GET,
            "/containers/portainer/logs?stdout=1",
            None,
            Want::Allow,
        ),
        (
            Method::POST,
            "/containers/create",
            Some(r#"{"Image":"x","HostConfig":{"PidMode":"container:portainer"}}"#),
            Want::Deny(&["PC-1029"]),
        ),
        (
            Method::POST,
            "/containers/create",
            Some(r#"{"Image":"x","HostConfig":{"PidMode":"container:mine"}}"#),
            Want::Allow,
        ),
        (
            Method::POST,
            "/exec/e1/start",
            Some(r#"{"Detach":false,"Tty":false}"#),
            Want::Deny(&["PC-1029"]),
        ),
        (
            Method::POST,
            "/exec/e2/start",
            Some(r#"{"Detach":false,"Tty":false}"#),
            Want::Deny(&["PC-1019"]),
        ),
        (Method::GET, "/exec/e2/json", None, Want::Deny(&["PC-1019"])),
        (
            Method::POST,
            "/exec/e2/resize?h=1&w=1",
            None,
            Want::Deny(&["PC-1019"]),
        ),
        (
            Method::POST,
            "/exec/e3/start",
            Some(r#"{"Detach":false,"Tty":false}"#),
            Want::Allow,
        ),
        (Method::GET, "/exec/e1/json", None, Want::Allow),
    ];
    for (m, p, body, want) in cases {
        assert_case(&set, "host access", m, p, body, &facts, &want);
    }
    // The message names the container and what gives it host access.
    let out = run(
        &set,
        Method::POST,
        "/containers/portainer/exec",
        exec,
        &facts,
    );
    let Outcome::Decided {
        decision: Decision::Deny(v),
        ..
    } = out
    else {
        panic!("not denied: {out:?}")
    };
    assert!(
        v[0].message.contains("\"portainer\"") && v[0].message.contains("/var/run/docker.sock"),
        "{v:?}"
    );
    // An exec leads to its container: first the exec, then the container it names.
    let Outcome::Decided { lookups, .. } = run(
        &set,
        Method::POST,
        "/exec/e9/start",
        Some(r#"{"Detach":false}"#),
        &Facts::default(),
    ) else {
        panic!("refused")
    };
    assert_eq!(format!("{lookups:?}"), "[Exec(\"e9\")]");
    let mut partial = Facts::default();
    partial.execs.insert(
        "e9".into(),
        Some(ExecFacts {
            container_id: "0123abc".into(),
        }),
    );
    let Outcome::Decided { lookups, .. } = run(
        &set,
        Method::POST,
        "/exec/e9/start",
        Some(r#"{"Detach":false}"#),
        &partial,
    ) else {
        panic!("refused")
    };
    assert_eq!(format!("{lookups:?}"), "[Container(\"0123abc\")]");
}

/// Mounts a container inherited from an allowed `--volumes-from` source were accepted
/// when it was created; working inside it later is not refused for them.
#[test]
fn inherited_mounts_of_allowed_sources_do_not_block_exec() {
    let carina =
        PolicySet::load(&[concat!(env!("CARGO_MANIFEST_DIR"), "/policies/carina.toml").into()])
            .expect("carina policy loads");
    let mut facts = Facts::default();
    let certs = ("bind".to_string(), "/etc/swarm-certs".to_string());
    facts.containers.insert(
        "swarm-data".into(),
        Some(ContainerFacts {
            name: "swarm-data".into(),
            mounts: vec![certs.clone()],
            ..Default::default()
        }),
    );
    facts.containers.insert(
        "tenantbox".into(),
        Some(ContainerFacts {
            name: "tenantbox".into(),
            mounts: vec![certs.clone()],
            volumes_from: vec!["swarm-data:ro".into()],
            ..Default::default()
        }),
    );
    facts.containers.insert(
        "sneaky".into(),
        Some(ContainerFacts {
            name: "sneaky".into(),
            mounts: vec![certs, ("bind".into(), "/".into())],
            volumes_from: vec!["swarm-data".into()],
            ..Default::default()
        }),
    );
    let exec = Some(r#"{"Cmd":["sh"]}"#);
    assert_case(
        &carina,
        "carina exec",
        Method::POST,
        "/containers/tenantbox/exec",
        exec,
        &facts,
        &Want::Allow,
    );
    assert_case(
        &carina,
        "carina exec, own bind",
        Method::POST,
        "/containers/sneaky/exec",
        exec,
        &facts,
        &Want::Deny(&["PC-1029"]),
    );
    assert_case(
        &default_set(),
        "default exec",
        Method::POST,
        "/containers/tenantbox/exec",
        exec,
        &facts,
        &Want::Deny(&["PC-1029"]),
    );
}

/// Swarm resolves a service's network target by name, id or id prefix: a target is
/// looked up and refused when it is the host network, whatever it is called.
#[test]
fn service_networks_are_resolved() {
    use portcullis::policy::NetworkFacts;
    let set = default_set();
    let mut facts = Facts::default();
    facts.networks.insert(
        "3f1a".into(),
        Some(NetworkFacts {
            id: "3f1a00".into(),
            name: "host".into(),
            driver: "host".into(),
        }),
    );
    facts.networks.insert(
        "web-net".into(),
        Some(NetworkFacts {
            id: "9e7b00".into(),
            name: "web-net".into(),
            driver: "overlay".into(),
        }),
    );
    let service = |nets: &str| {
        format!(
            r#"{{"Name":"s","TaskTemplate":{{"ContainerSpec":{{"Image":"x"}},"Networks":[{nets}]}}}}"#
        )
    };
    let by_id = service(r#"{"Target":"3f1a"}"#);
    let top_level = r#"{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"x"}},"Networks":[{"Target":"3f1a"}]}"#;
    let overlay = service(r#"{"Target":"web-net"}"#);
    for (body, want) in [
        (by_id.as_str(), Want::Deny(&["PC-1008"][..])),
        (top_level, Want::Deny(&["PC-1008"])),
        (overlay.as_str(), Want::Allow),
    ] {
        assert_case(
            &set,
            "service network",
            Method::POST,
            "/services/create",
            Some(body),
            &facts,
            &want,
        );
    }
    // Any SELinux field of the service's privileges changes its confinement (a Level
    // of s0-s0:c0.c1023 spans every container's categories).
    assert_case(
        &set,
        "service SELinux level",
        Method::POST,
        "/services/create",
        Some(
            r#"{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"x","Privileges":{"SELinuxContext":{"Level":"s0-s0:c0.c1023"}}}}}"#,
        ),
        &facts,
        &Want::Deny(&["PC-1010"]),
    );
    let Outcome::Decided { lookups, .. } = run(
        &set,
        Method::POST,
        "/services/create",
        Some(&service(r#"{"Target":"n0"}"#)),
        &Facts::default(),
    ) else {
        panic!("refused")
    };
    assert_eq!(format!("{lookups:?}"), "[Network(\"n0\")]");
}

#[test]
fn lookups_are_requested_for_unknown_facts() {
    let set = default_set();
    let Outcome::Decided { lookups, .. } = run(
        &set,
        Method::POST,
        "/containers/create",
        Some(&create(
            r#"{"Binds":["v:/d"],"VolumesFrom":["c1"],"PidMode":"container:c2"}"#,
        )),
        &Facts::default(),
    ) else {
        panic!("refused")
    };
    let s = format!("{lookups:?}");
    for needle in ["Volume(\"v\")", "Container(\"c1\")", "Container(\"c2\")"] {
        assert!(s.contains(needle), "{needle} missing in {s}");
    }
}

/// A body with thousands of refused entries gets a bounded answer: the first 32
/// violations and a count of the rest. A body naming more existing objects than the
/// proxy looks up is refused without any lookup.
#[test]
fn huge_bodies_get_bounded_answers() {
    let set = default_set();
    let binds: Vec<String> = (0..5000).map(|i| format!("\"/h{i}:/c{i}\"")).collect();
    let body = create(&format!(r#"{{"Binds":[{}]}}"#, binds.join(",")));
    match run(
        &set,
        Method::POST,
        "/containers/create",
        Some(&body),
        &Facts::default(),
    ) {
        Outcome::Decided {
            decision: Decision::Deny(v),
            ..
        } => {
            assert_eq!(v.len(), 33, "{v:?}");
            assert!(v.iter().all(|x| x.rule == "PC-1004"), "{v:?}");
            assert!(v[0].message.contains("/h0"), "{v:?}");
            assert_eq!(
                v[32].message,
                "and 4968 more violations, not listed (the first under PC-1004)"
            );
        }
        other => panic!("{other:?}"),
    }
    for n in [32, 33] {
        let vols: Vec<String> = (0..n).map(|i| format!("\"v{i}:/c{i}\"")).collect();
        let body = create(&format!(r#"{{"Binds":[{}]}}"#, vols.join(",")));
        let Outcome::Decided {
            decision, lookups, ..
        } = run(
            &set,
            Method::POST,
            "/containers/create",
            Some(&body),
            &Facts::default(),
        )
        else {
            panic!("refused")
        };
        if n == 32 {
            // The 32 volumes, and the image (for the working directory it gives).
            let named = lookups
                .iter()
                .filter(|l| !matches!(l, portcullis::policy::Lookup::Image(_)))
                .count();
            assert_eq!(named, 32, "{lookups:?}");
            assert_eq!(decision, Decision::Allow(vec![]));
        } else {
            assert!(lookups.is_empty(), "{lookups:?}");
            match decision {
                Decision::Deny(v) => assert_eq!(
                    v.iter().map(|x| x.rule).collect::<Vec<_>>(),
                    vec!["PC-1028"]
                ),
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn other_endpoints() {
    let set = default_set();
    let none = Facts::default();
    let cases: Vec<(Method, &str, Option<&str>, Want)> = vec![
        (Method::GET, "/_ping", None, Want::Allow),
        (Method::GET, "/v1.41/containers/json", None, Want::Allow),
        (Method::GET, "/v01.041/%63ontainers/json", None, Want::Allow),
        (
            Method::POST,
            "/containers/abc/exec",
            Some(r#"{"Cmd":["id"],"Privileged":true}"#),
            Want::Deny(&["PC-1018"]),
        ),
        (
            Method::POST,
            "/containers/abc/exec",
            Some(r#"{"Cmd":["id"],"privileged":true}"#),
            Want::Deny(&["PC-1018"]),
        ),
        (
            Method::POST,
            "/containers/abc/exec",
            Some(r#"{"Cmd":["id"],"AttachStdout":true}"#),
            Want::Allow,
        ),
        (
            Method::POST,
            "/volumes/create",
            Some(
                r#"{"Name":"v","Driver":"local","DriverOpts":{"type":"none","o":"bind","device":"/etc"}}"#,
            ),
            Want::Deny(&["PC-1005"]),
        ),
        (
            Method::POST,
            "/volumes/create",
            Some(r#"{"Name":"v","driveropts":{"device":"/"}}"#),
            Want::Deny(&["PC-1005"]),
        ),
        (
            Method::POST,
            "/volumes/create",
            Some(r#"{"Name":"v","Driver":"local","DriverOpts":{}}"#),
            Want::Allow,
        ),
        (
            Method::POST,
            "/volumes/create",
            Some(r#"{"Name":"v","Driver":"evilplugin"}"#),
            Want::Deny(&["PC-1005"]),
        ),
        (
            Method::POST,
            "/networks/create",
            Some(r#"{"Name":"n","Driver":"macvlan","Options":{"parent":"eth0"}}"#),
            Want::Deny(&["PC-1022"]),
        ),
        (
            Method::POST,
            "/networks/create",
            Some(r#"{"Name":"n","Driver":"bridge"}"#),
            Want::Allow,
        ),
        // A bridge for the metadata address (or loopback) shadows the host's route.
        (
            Method::POST,
            "/networks/create",
            Some(
                r#"{"Name":"n","IPAM":{"Config":[{"Subnet":"169.254.169.252/30","Gateway":"169.254.169.253"}]}}"#,
            ),
            Want::Deny(&["PC-1030"]),
        ),
        (
            Method::POST,
            "/networks/create",
            Some(r#"{"Name":"n","IPAM":{"Config":[{"Subnet":"160.0.0.0/4"}]}}"#),
            Want::Deny(&["PC-1030"]),
        ),
        (
            Method::POST,
            "/networks/create",
            Some(
                r#"{"Name":"n","IPAM":{"Config":[{"Subnet":"10.9.0.0/24","AuxiliaryAddresses":{"a":"127.0.0.1"}}]}}"#,
            ),
            Want::Deny(&["PC-1030"]),
        ),
        (
            Method::POST,
            "/networks/create",
            Some(r#"{"Name":"n","IPAM":{"Config":[{"Subnet":"fe80::/64"}]}}"#),
            Want::Deny(&["PC-1030"]),
        ),
        (
            Method::POST,
            "/networks/create",
            Some(r#"{"Name":"n","IPAM":{"Config":[{"Subnet":"10.9/16"}]}}"#),
            Want::Deny(&["PC-1030"]),
        ),
        (
            Method::POST,
            "/networks/create",
            Some(
                r#"{"Name":"n","IPAM":{"Config":[{"Subnet":"172.20.9.0/24","IPRange":"172.20.9.128/25","Gateway":"172.20.9.1"}]}}"#,
            ),
            Want::Allow,
        ),
        (
            Method::POST,
            "/networks/host/connect",
            Some(r#"{"Container":"abc"}"#),
            Want::Deny(&["PC-1023"]),
        ),
        (
            Method::POST,
            "/build?networkmode=host&t=x",
            None,
            Want::Deny(&["PC-1024"]),
        ),
        (
            Method::POST,
            "/build?remote=http://127.0.0.1:1/ctx.tar",
            None,
            Want::Deny(&["PC-1024"]),
        ),
        (Method::POST, "/build?t=a&t=b", None, Want::Allow),
        (
            Method::POST,
            "/images/create?fromSrc=http://169.254.169.254/&repo=x",
            None,
            Want::Deny(&["PC-1025"]),
        ),
        (
            Method::POST,
            "/images/create?fromSrc=-&repo=x",
            None,
            Want::Allow,
        ),
        (
            Method::POST,
            "/images/create?fromImage=busybox&tag=latest",
            None,
            Want::Allow,
        ),
        // WORKDIR in import and commit changes: relative to the image's directory,
        // on any line, and never with variables or escapes.
        (
            Method::POST,
            "/images/create?fromSrc=-&repo=x&changes=WORKDIR%20proc/self/fd/8",
            None,
            Want::Deny(&["PC-1021"]),
        ),
        (
            Method::POST,
            "/images/create?fromSrc=-&repo=x&changes=ENV%20D=/proc/self/fd/8%0AWORKDIR%20$D",
            None,
            Want::Deny(&["PC-1021"]),
        ),
        (
            Method::POST,
            "/images/create?fromSrc=-&repo=x&changes=ENV%20A=1%0AWORKDIR%20/proc/1/cwd",
            None,
            Want::Deny(&["PC-1021"]),
        ),
        // Relative to a directory Portcullis does not know: refused.
        (
            Method::POST,
            "/images/create?fromSrc=-&repo=x&changes=WORKDIR%20srv/app",
            None,
            Want::Deny(&["PC-1021"]),
        ),
        (
            Method::POST,
            "/images/create?fromSrc=-&repo=x&changes=WORKDIR%20/srv/app&changes=ENV%20A=1",
            None,
            Want::Allow,
        ),
        // What dockerd's Dockerfile parser would still make of a WORKDIR: quotes,
        // continuations across changes, a parser directive.
        (
            Method::POST,
            "/commit?container=c1&repo=x&changes=WORKDIR%20%22/proc/self/fd/8%22",
            Some("{}"),
            Want::Deny(&["PC-1021"]),
        ),
        (
            Method::POST,
            "/commit?container=c1&repo=x&changes=WORKDIR%20/pro%22c%22/self/fd/8",
            Some("{}"),
            Want::Deny(&["PC-1021"]),
        ),
        (
            Method::POST,
            "/images/create?fromSrc=-&repo=x&changes=WORK%5C&changes=DIR%20/proc/self/fd/8",
            None,
            Want::Deny(&["PC-1021"]),
        ),
        (
            Method::POST,
            "/images/create?fromSrc=-&repo=x&changes=%23%20escape%3D%60&changes=WORKDIR%20/pro%60c/self",
            None,
            Want::Deny(&["PC-1021"]),
        ),
        // Go lowercases the keyword with Unicode folding: a Kelvin sign is a k.
        (
            Method::POST,
            "/images/create?fromSrc=-&repo=x&changes=WOR%E2%84%AADIR%20/proc/self/fd/8",
            None,
            Want::Deny(&["PC-1021"]),
        ),
        (
            Method::POST,
            "/commit?container=c1&repo=x&changes=ONBUILD%20WORKDIR%20/proc/self/fd/8",
            Some("{}"),
            Want::Deny(&["PC-1021"]),
        ),
        (
            Method::POST,
            "/commit?container=c1&repo=x&changes=WORKDIR%20/opt/app@1&changes=CMD%20%5B%22sh%22%5D",
            Some("{}"),
            Want::Allow,
        ),
        (
            Method::POST,
            "/commit?container=c1&repo=x&changes=WORKDIR%20%5C",
            Some("{}"),
            Want::Deny(&["PC-1021"]),
        ),
        (Method::POST, "/session", None, Want::Deny(&["PC-0002"])),
        (Method::POST, "/grpc", None, Want::Deny(&["PC-0002"])),
        (Method::GET, "/swarm", None, Want::Deny(&["PC-0002"])),
        (
            Method::POST,
            "/swarm/init",
            Some("{}"),
            Want::Deny(&["PC-0002"]),
        ),
        (
            Method::POST,
            "/plugins/pull?remote=x",
            Some("[]"),
            Want::Deny(&["PC-0002"]),
        ),
        (
            Method::POST,
            "/plugins/x/enable",
            None,
            Want::Deny(&["PC-0002"]),
        ),
        (
            Method::POST,
            "/nodes/n1/update?version=1",
            Some("{}"),
            Want::Deny(&["PC-0002"]),
        ),
        (Method::GET, "/nodes", None, Want::Allow),
        (
            Method::GET,
            "/debug/pprof/heap",
            None,
            Want::Deny(&["PC-0001"]),
        ),
        (
            Method::GET,
            "/V1.41/containers/json",
            None,
            Want::Deny(&["PC-0001"]),
        ),
        (
            Method::POST,
            "/containers/x/start",
            Some(r#"{"Binds":["/:/h"]}"#),
            Want::Refused("takes no request body"),
        ),
        (
            Method::GET,
            "/containers//json",
            None,
            Want::Refused("not canonical"),
        ),
        (
            Method::GET,
            "/containers/../json",
            None,
            Want::Refused("not canonical"),
        ),
        (
            Method::GET,
            "/containers/json?a=1;b=2",
            None,
            Want::Refused("semicolon"),
        ),
        (
            Method::POST,
            "/services/create",
            Some(
                r#"{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"x","Mounts":[{"Type":"bind","Source":"/","Target":"/host"}]}}}"#,
            ),
            Want::Deny(&["PC-1004"]),
        ),
        (
            Method::POST,
            "/services/create",
            Some(
                r#"{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"x","CapabilityAdd":["ALL"],"Privileges":{"Seccomp":{"Mode":"unconfined"},"AppArmor":{"Mode":"disabled"}}}}}"#,
            ),
            Want::Deny(&["PC-1002", "PC-1010"]),
        ),
        (
            Method::POST,
            "/services/create",
            Some(
                r#"{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"x"},"Networks":[{"Target":"host"}]}}"#,
            ),
            Want::Deny(&["PC-1008"]),
        ),
        (
            Method::POST,
            "/services/create",
            Some(r#"{"Name":"s","TaskTemplate":{"PluginSpec":{"Name":"p"},"Runtime":"plugin"}}"#),
            Want::Deny(&["PC-1026"]),
        ),
        (
            Method::POST,
            "/services/create",
            Some(
                r#"{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"x","Mounts":[{"Type":"volume","Source":"v","Target":"/d"}]}}}"#,
            ),
            Want::Allow,
        ),
        (
            Method::POST,
            "/services/create",
            Some(
                r#"{"Name":"s","taskTemplate":{"containerSpec":{"Image":"x","mounts":[{"type":"bind","source":"/","target":"/h"}]}}}"#,
            ),
            Want::Deny(&["PC-1004"]),
        ),
    ];
    for (m, p, body, want) in &cases {
        assert_case(&set, p, m.clone(), p, *body, &none, want);
    }
}

#[test]
fn audit_mode_allows_but_records() {
    let p = Policy::from_toml(
        "name = \"audit\"\nmode = \"audit\"\n",
        Path::new("audit.toml"),
    )
    .unwrap();
    let set = PolicySet::new(vec![p]).unwrap();
    match run(
        &set,
        Method::POST,
        "/containers/create",
        Some(&create(r#"{"Privileged":true}"#)),
        &Facts::default(),
    ) {
        Outcome::Decided {
            decision: Decision::Allow(v),
            ..
        } => {
            assert_eq!(
                v.iter().map(|x| x.rule).collect::<Vec<_>>(),
                vec!["PC-1001"]
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn identities_map_to_policies() {
    let strict =
        Policy::from_toml("name = \"strict\"\ndefault = true\n", Path::new("a.toml")).unwrap();
    let ops = Policy::from_toml(
        "name = \"ops\"\n[identities]\norganizations = [\"ops\"]\n[containers]\nallow_privileged = true\n",
        Path::new("b.toml"),
    )
    .unwrap();
    let set = PolicySet::new(vec![strict, ops]).unwrap();
    let alice = Identity {
        common_name: Some("alice".into()),
        ..Identity::transport("mtls")
    };
    let bob = Identity {
        common_name: Some("bob".into()),
        organizations: vec!["ops".into()],
        ..Identity::transport("mtls")
    };
    assert_eq!(set.for_identity(&alice).name, "strict");
    assert_eq!(set.for_identity(&bob).name, "ops");
    let body = create(r#"{"Privileged":true}"#);
    let id = |i: &Identity| {
        check(
            &set,
            i,
            &Method::POST,
            "/containers/create",
            Some(body.as_bytes()),
            &Facts::default(),
        )
    };
    assert!(matches!(
        id(&alice),
        Outcome::Decided {
            decision: Decision::Deny(_),
            ..
        }
    ));
    assert!(matches!(
        id(&bob),
        Outcome::Decided {
            decision: Decision::Allow(_),
            ..
        }
    ));
}

#[test]
fn shipped_policies_load() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            // policies/profiles/: loaded and checked by tests/profiles.rs.
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        Policy::from_toml(&text, &path).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    }
}

#[test]
fn protected_services_cannot_be_removed_or_updated() {
    use portcullis::policy::ServiceFacts;
    let set = default_set();
    let mut facts = Facts::default();
    let mut labels = std::collections::HashMap::new();
    labels.insert("io.portcullis.protected".to_string(), "true".to_string());
    facts.services.insert(
        "pc_portcullis".into(),
        Some(ServiceFacts {
            name: "pc_portcullis".into(),
            labels,
            ..Default::default()
        }),
    );
    facts.services.insert(
        "web".into(),
        Some(ServiceFacts {
            name: "web".into(),
            ..Default::default()
        }),
    );
    assert_case(
        &set,
        "rm protected service",
        Method::DELETE,
        "/v1.41/services/pc_portcullis",
        None,
        &facts,
        &Want::Deny(&["PC-1019"]),
    );
    assert_case(
        &set,
        "rm tenant service",
        Method::DELETE,
        "/v1.41/services/web",
        None,
        &facts,
        &Want::Allow,
    );
    // A rollback runs a stored spec, not the body: that spec is what gets checked.
    let host_bind: serde_json::Value = serde_json::from_str(
        r#"{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"x","Mounts":[{"Type":"bind","Source":"/","Target":"/host"}]}}}"#,
    )
    .unwrap();
    let plain: serde_json::Value =
        serde_json::from_str(r#"{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"x"}}}"#)
            .unwrap();
    facts.services.insert(
        "web".into(),
        Some(ServiceFacts {
            name: "web".into(),
            spec: Some(host_bind.clone()),
            previous_spec: Some(host_bind),
            ..Default::default()
        }),
    );
    facts.services.insert(
        "api".into(),
        Some(ServiceFacts {
            name: "api".into(),
            spec: Some(plain.clone()),
            previous_spec: Some(plain),
            ..Default::default()
        }),
    );
    let update = r#"{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"x"}}}"#;
    let failing_back = r#"{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"x"}},"UpdateConfig":{"FailureAction":"rollback"}}"#;
    for (target, body, want) in [
        (
            "/services/web/update?version=3&rollback=previous",
            "{}",
            Want::Deny(&["PC-1004"][..]),
        ),
        ("/services/web/update?version=3", update, Want::Allow),
        (
            "/services/web/update?version=3",
            failing_back,
            Want::Deny(&["PC-1004"]),
        ),
        // Go matches the key whatever its case, and keeps the last of two spellings.
        (
            "/services/web/update?version=3",
            r#"{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"x"}},"UpdateConfig":{"failureaction":"rollback"}}"#,
            Want::Deny(&["PC-1004"]),
        ),
        (
            "/services/web/update?version=3",
            r#"{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"x"}},"UpdateConfig":{"FailureAction":"pause","failureAction":"rollback"}}"#,
            Want::Deny(&["PC-1004"]),
        ),
        (
            "/services/api/update?version=3&rollback=previous",
            "{}",
            Want::Allow,
        ),
        ("/services/api/update?version=3", failing_back, Want::Allow),
    ] {
        assert_case(
            &set,
            "service rollback",
            Method::POST,
            target,
            Some(body),
            &facts,
            &want,
        );
    }
    let Outcome::Decided { lookups, .. } = run(
        &set,
        Method::DELETE,
        "/services/other",
        None,
        &Facts::default(),
    ) else {
        panic!("refused")
    };
    assert_eq!(format!("{lookups:?}"), "[Service(\"other\")]");
}

/// Host access of an existing container is judged by the same rules that refuse
/// creating it: for every create rule that refuses host access, a container created
/// that way (as its inspect answer shows it) cannot be entered (PC-1029). Every rule of
/// the catalogue is either such a case or listed with why it is not host access, so a
/// new rule fails here until it is placed.
#[test]
fn every_host_access_create_rule_has_a_target_counterpart() {
    use portcullis::policy::rules;
    use serde_json::{json, Value};
    const NOT_HOST_ACCESS: &[(&str, &str)] = &[
        ("PC-0001", "not a container create rule"),
        ("PC-0002", "not a container create rule"),
        ("PC-1003", "dropping capabilities lowers privilege"),
        (
            "PC-1009",
            "joins and links reach another container: checked at create and start, and \
             PID/network joins are followed one step by the host-access check",
        ),
        (
            "PC-1015",
            "the log driver runs in the daemon, not in the container",
        ),
        ("PC-1016", "which image runs is not host access"),
        ("PC-1017", "resource limits are not host access"),
        ("PC-1018", "not a container create rule (exec --privileged)"),
        (
            "PC-1019",
            "not a container create rule (protected containers)",
        ),
        (
            "PC-1020",
            "npipe, cluster and image mounts reach no host path on Linux",
        ),
        (
            "PC-1021",
            "the working directory applies when a process starts; exec checks its own",
        ),
        ("PC-1022", "not a container create rule (networks)"),
        (
            "PC-1031",
            "the registry an image comes from is not host access of the container",
        ),
        ("PC-1040", "tenancy: who owns an object, not host access"),
        ("PC-1041", "tenancy: who owns an object, not host access"),
        ("PC-1042", "tenancy: who owns an object, not host access"),
        ("PC-1043", "tenancy: quotas, not host access"),
        ("PC-1045", "tenancy: image names, not host access"),
        ("PC-1046", "tenancy: image names, not host access"),
        ("PC-1047", "tenancy: image loads, not host access"),
        (
            "PC-1032",
            "a negative OOM score protects the container, it gives no host access",
        ),
        (
            "PC-1033",
            "blkio device paths are stat()ed once at create; the container gets no path",
        ),
        ("PC-1023", "not a container create rule (network connect)"),
        ("PC-1024", "not a container create rule (build)"),
        ("PC-1025", "not a container create rule (import)"),
        ("PC-1026", "not a container create rule (services)"),
        ("PC-1027", "not a container create rule (unreadable bodies)"),
        ("PC-1028", "not a container create rule (reference cap)"),
        ("PC-1029", "the host-access rule itself"),
        ("PC-1030", "not a container create rule (network subnets)"),
    ];
    // (rule, a HostConfig that triggers it at create, the inspect answer's Mounts)
    let cases: Vec<(&str, Value, Value)> = vec![
        ("PC-1001", json!({"Privileged": true}), json!([])),
        ("PC-1002", json!({"CapAdd": ["sys_admin"]}), json!([])),
        (
            "PC-1004",
            json!({"Binds": ["/etc:/host"]}),
            json!([{"Type": "bind", "Source": "/etc"}]),
        ),
        (
            "PC-1005",
            json!({"Binds": ["optvol:/data"]}),
            json!([{"Type": "volume", "Name": "optvol", "Source": "/var/lib/docker/volumes/optvol/_data"}]),
        ),
        (
            "PC-1006",
            json!({"VolumesFrom": ["binder"]}),
            json!([{"Type": "bind", "Source": "/etc"}]),
        ),
        (
            "PC-1007",
            json!({"Devices": [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "rwm"}]}),
            json!([]),
        ),
        ("PC-1008", json!({"PidMode": "host"}), json!([])),
        (
            "PC-1010",
            json!({"SecurityOpt": ["seccomp=unconfined"]}),
            json!([]),
        ),
        (
            "PC-1011",
            json!({"MaskedPaths": [], "ReadonlyPaths": []}),
            json!([]),
        ),
        (
            "PC-1012",
            json!({"Sysctls": {"kernel.shm_rmid_forced": "1"}}),
            json!([]),
        ),
        ("PC-1013", json!({"Runtime": "kata"}), json!([])),
        (
            "PC-1014",
            json!({"CgroupParent": "/system.slice"}),
            json!([]),
        ),
    ];
    for rule in rules::ALL {
        let excused = NOT_HOST_ACCESS.iter().any(|(id, _)| *id == rule.id);
        let covered = cases.iter().any(|(id, _, _)| *id == rule.id);
        assert!(
            excused != covered,
            "{}: add a create case with its host-access counterpart, or list it in \
             NOT_HOST_ACCESS with why it is not host access (listed: {excused}, case: {covered})",
            rule.id
        );
    }

    let set = default_set();
    let mut facts = Facts::default();
    facts.volumes.insert(
        "optvol".into(),
        Some(VolumeFacts {
            driver: "local".into(),
            options: [("type", "none"), ("o", "bind"), ("device", "/etc")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }),
    );
    facts.containers.insert(
        "binder".into(),
        Some(ContainerFacts {
            name: "binder".into(),
            mounts: vec![("bind".into(), "/etc".into())],
            ..Default::default()
        }),
    );
    // What dockerd stores for a container created with the defaults (cgroup v1 host).
    let daemon_defaults = json!({
        "NetworkMode": "bridge", "IpcMode": "private", "PidMode": "", "UTSMode": "",
        "UsernsMode": "", "CgroupnsMode": "host", "Cgroup": "", "Runtime": "runc",
        "CapAdd": null, "CapDrop": null, "Privileged": false, "SecurityOpt": null,
        "Devices": [], "DeviceCgroupRules": null, "DeviceRequests": null,
        "Sysctls": null, "CgroupParent": "", "Binds": null, "Mounts": null,
        "LogConfig": {"Type": "json-file", "Config": {}},
        "MaskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
            "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
            "/sys/devices/virtual/powercap"],
        "ReadonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
            "/proc/sysrq-trigger"]
    });
    let inspect = |name: &str, host_config: &Value, mounts: &Value| {
        let mut hc = daemon_defaults.clone();
        for (k, v) in host_config.as_object().expect("a HostConfig object") {
            hc[k] = v.clone();
        }
        ContainerFacts::from_inspect(&json!({
            "Id": format!("{name}-id"), "Name": format!("/{name}"),
            "Config": {"Labels": {}}, "HostConfig": hc, "Mounts": mounts,
        }))
    };
    let exec = Some(r#"{"Cmd":["sh"]}"#);
    facts.containers.insert(
        "plain".into(),
        Some(inspect("plain", &json!({}), &json!([]))),
    );
    assert_case(
        &set,
        "a container with the daemon's defaults",
        Method::POST,
        "/containers/plain/exec",
        exec,
        &facts,
        &Want::Allow,
    );
    for (rule, host_config, mounts) in &cases {
        let body = create(&host_config.to_string());
        let target = format!("t{}", rule.trim_start_matches("PC-"));
        let out = run(
            &set,
            Method::POST,
            "/containers/create",
            Some(&body),
            &facts,
        );
        let Outcome::Decided {
            decision: Decision::Deny(v),
            ..
        } = &out
        else {
            panic!("{rule}: create not denied: {out:?}");
        };
        assert!(
            v.iter().any(|x| x.rule == *rule),
            "{rule}: create denied with {v:?}"
        );
        let mut facts = facts.clone();
        facts
            .containers
            .insert(target.clone(), Some(inspect(&target, host_config, mounts)));
        let out = run(
            &set,
            Method::POST,
            &format!("/containers/{target}/exec"),
            exec,
            &facts,
        );
        let Outcome::Decided {
            decision: Decision::Deny(v),
            ..
        } = &out
        else {
            panic!("{rule}: exec into a container created that way was not denied: {out:?}");
        };
        assert!(
            v.iter().all(|x| x.rule == "PC-1029"),
            "{rule}: exec denied with {v:?}"
        );
    }
}
