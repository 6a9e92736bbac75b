//! The shipped consumer profiles (policies/profiles/) over the whole route table,
//! through the pure request path (classify, decide) with no daemon.
//!
//! Every operation Portcullis knows ([`OpKind::ALL`]) is given an access class by an
//! exhaustive `match` below, so a new route does not compile until someone decides
//! what it reads or writes. The read-only profiles may allow only operations whose
//! class they are declared for; the write profiles keep the default policy's
//! host-escape rules.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use http::Method;
use portcullis::docker::route::{classify, OpKind};
use portcullis::policy::pipeline::{check, Outcome};
use portcullis::policy::{Decision, Facts, Policy, PolicySet};
use portcullis::tls::Identity;

/// What an operation gives its caller, as far as the host and other tenants care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Access {
    /// Reads daemon metadata (lists, inspects, versions, events, resource usage);
    /// never a file's contents, a process's output, image layers or a payload.
    Metadata,
    /// Reads what processes print (logs): allowed only by the "with logs" variant.
    ProcessOutput,
    /// Reads contents: container filesystems (archive, export, copy), image layers
    /// (save), swarm join tokens and unlock key, config payloads, secrets.
    Exfiltrates,
    /// Runs or talks to a process in a container (attach, exec).
    Interactive,
    /// Changes state on the daemon, or makes it fetch or send something.
    Writes,
}

use Access::*;

/// The access class of each operation, and one request that classifies to it.
/// Exhaustive on purpose: a new `OpKind` must be decided here before this compiles.
fn access(op: OpKind) -> (Access, Method, &'static str) {
    use Method as M;
    match op {
        OpKind::Ping => (Metadata, M::HEAD, "/_ping"),
        OpKind::Info => (Metadata, M::GET, "/info"),
        OpKind::Version => (Metadata, M::GET, "/version"),
        OpKind::Events => (Metadata, M::GET, "/events"),
        OpKind::SystemDf => (Metadata, M::GET, "/system/df"),
        // Checks credentials against a registry: the daemon dials out.
        OpKind::Auth => (Writes, M::POST, "/auth"),
        OpKind::Options => (Metadata, M::OPTIONS, "/containers/json"),

        OpKind::ContainerList => (Metadata, M::GET, "/containers/json"),
        OpKind::ContainerCreate => (Writes, M::POST, "/containers/create"),
        OpKind::ContainerInspect => (Metadata, M::GET, "/containers/c/json"),
        OpKind::ContainerTop => (Metadata, M::GET, "/containers/c/top"),
        OpKind::ContainerLogs => (ProcessOutput, M::GET, "/containers/c/logs"),
        // Paths of changed files, not their contents.
        OpKind::ContainerChanges => (Metadata, M::GET, "/containers/c/changes"),
        OpKind::ContainerExport => (Exfiltrates, M::GET, "/containers/c/export"),
        OpKind::ContainerStats => (Metadata, M::GET, "/containers/c/stats"),
        OpKind::ContainerResize => (Writes, M::POST, "/containers/c/resize"),
        OpKind::ContainerStart => (Writes, M::POST, "/containers/c/start"),
        OpKind::ContainerStop => (Writes, M::POST, "/containers/c/stop"),
        OpKind::ContainerRestart => (Writes, M::POST, "/containers/c/restart"),
        OpKind::ContainerKill => (Writes, M::POST, "/containers/c/kill"),
        OpKind::ContainerUpdate => (Writes, M::POST, "/containers/c/update"),
        OpKind::ContainerRename => (Writes, M::POST, "/containers/c/rename"),
        OpKind::ContainerPause => (Writes, M::POST, "/containers/c/pause"),
        OpKind::ContainerUnpause => (Writes, M::POST, "/containers/c/unpause"),
        OpKind::ContainerAttach => (Interactive, M::POST, "/containers/c/attach"),
        OpKind::ContainerAttachWebsocket => (Interactive, M::GET, "/containers/c/attach/ws"),
        // Blocks until the container stops; with condition=removed it still only
        // waits. Kept out of the read-only profiles all the same (POST).
        OpKind::ContainerWait => (Writes, M::POST, "/containers/c/wait"),
        OpKind::ContainerDelete => (Writes, M::DELETE, "/containers/c"),
        // Stat of a path in the container's filesystem: probes its files.
        OpKind::ContainerArchiveInfo => (Exfiltrates, M::HEAD, "/containers/c/archive"),
        OpKind::ContainerArchive => (Exfiltrates, M::GET, "/containers/c/archive"),
        OpKind::PutContainerArchive => (Writes, M::PUT, "/containers/c/archive"),
        OpKind::ContainerCopy => (Exfiltrates, M::POST, "/containers/c/copy"),
        OpKind::ContainerPrune => (Writes, M::POST, "/containers/prune"),
        OpKind::Commit => (Writes, M::POST, "/commit"),

        OpKind::ExecCreate => (Interactive, M::POST, "/containers/c/exec"),
        OpKind::ExecStart => (Interactive, M::POST, "/exec/e/start"),
        OpKind::ExecResize => (Interactive, M::POST, "/exec/e/resize"),
        OpKind::ExecInspect => (Metadata, M::GET, "/exec/e/json"),

        OpKind::ImageList => (Metadata, M::GET, "/images/json"),
        // The daemon queries a registry: it dials out.
        OpKind::ImageSearch => (Writes, M::GET, "/images/search"),
        OpKind::ImageGetAll => (Exfiltrates, M::GET, "/images/get"),
        OpKind::ImageGet => (Exfiltrates, M::GET, "/images/i/get"),
        OpKind::ImageHistory => (Metadata, M::GET, "/images/i/history"),
        OpKind::ImageInspect => (Metadata, M::GET, "/images/i/json"),
        OpKind::ImageLoad => (Writes, M::POST, "/images/load"),
        OpKind::ImageCreate => (Writes, M::POST, "/images/create"),
        OpKind::ImagePush => (Writes, M::POST, "/images/i/push"),
        OpKind::ImageTag => (Writes, M::POST, "/images/i/tag"),
        OpKind::ImagePrune => (Writes, M::POST, "/images/prune"),
        OpKind::ImageDelete => (Writes, M::DELETE, "/images/i"),

        OpKind::VolumeList => (Metadata, M::GET, "/volumes"),
        OpKind::VolumeInspect => (Metadata, M::GET, "/volumes/v"),
        OpKind::VolumeCreate => (Writes, M::POST, "/volumes/create"),
        OpKind::VolumeUpdate => (Writes, M::PUT, "/volumes/v"),
        OpKind::VolumePrune => (Writes, M::POST, "/volumes/prune"),
        OpKind::VolumeDelete => (Writes, M::DELETE, "/volumes/v"),

        OpKind::NetworkList => (Metadata, M::GET, "/networks"),
        OpKind::NetworkInspect => (Metadata, M::GET, "/networks/n"),
        OpKind::NetworkCreate => (Writes, M::POST, "/networks/create"),
        OpKind::NetworkConnect => (Writes, M::POST, "/networks/n/connect"),
        OpKind::NetworkDisconnect => (Writes, M::POST, "/networks/n/disconnect"),
        OpKind::NetworkPrune => (Writes, M::POST, "/networks/prune"),
        OpKind::NetworkDelete => (Writes, M::DELETE, "/networks/n"),

        OpKind::Build => (Writes, M::POST, "/build"),
        OpKind::BuildPrune => (Writes, M::POST, "/build/prune"),
        OpKind::BuildCancel => (Writes, M::POST, "/build/cancel"),
        OpKind::Session => (Interactive, M::POST, "/session"),
        OpKind::Grpc => (Interactive, M::POST, "/grpc"),

        // GET /swarm returns the worker and manager join tokens.
        OpKind::SwarmInspect => (Exfiltrates, M::GET, "/swarm"),
        OpKind::SwarmInit => (Writes, M::POST, "/swarm/init"),
        OpKind::SwarmJoin => (Writes, M::POST, "/swarm/join"),
        OpKind::SwarmLeave => (Writes, M::POST, "/swarm/leave"),
        OpKind::SwarmUpdate => (Writes, M::POST, "/swarm/update"),
        OpKind::SwarmUnlockKey => (Exfiltrates, M::GET, "/swarm/unlockkey"),
        OpKind::SwarmUnlock => (Writes, M::POST, "/swarm/unlock"),

        OpKind::ServiceList => (Metadata, M::GET, "/services"),
        OpKind::ServiceInspect => (Metadata, M::GET, "/services/s"),
        OpKind::ServiceCreate => (Writes, M::POST, "/services/create"),
        OpKind::ServiceUpdate => (Writes, M::POST, "/services/s/update"),
        OpKind::ServiceDelete => (Writes, M::DELETE, "/services/s"),
        OpKind::ServiceLogs => (ProcessOutput, M::GET, "/services/s/logs"),

        OpKind::NodeList => (Metadata, M::GET, "/nodes"),
        OpKind::NodeInspect => (Metadata, M::GET, "/nodes/n"),
        OpKind::NodeDelete => (Writes, M::DELETE, "/nodes/n"),
        OpKind::NodeUpdate => (Writes, M::POST, "/nodes/n/update"),

        OpKind::TaskList => (Metadata, M::GET, "/tasks"),
        OpKind::TaskInspect => (Metadata, M::GET, "/tasks/t"),
        OpKind::TaskLogs => (ProcessOutput, M::GET, "/tasks/t/logs"),

        // The daemon never returns a secret's data; the names and labels still stay
        // out of the read-only profiles (conservative).
        OpKind::SecretList => (Exfiltrates, M::GET, "/secrets"),
        OpKind::SecretCreate => (Writes, M::POST, "/secrets/create"),
        OpKind::SecretInspect => (Exfiltrates, M::GET, "/secrets/s"),
        OpKind::SecretUpdate => (Writes, M::POST, "/secrets/s/update"),
        OpKind::SecretDelete => (Writes, M::DELETE, "/secrets/s"),

        // Configs are returned with their data (Spec.Data).
        OpKind::ConfigList => (Exfiltrates, M::GET, "/configs"),
        OpKind::ConfigCreate => (Writes, M::POST, "/configs/create"),
        OpKind::ConfigInspect => (Exfiltrates, M::GET, "/configs/c"),
        OpKind::ConfigUpdate => (Writes, M::POST, "/configs/c/update"),
        OpKind::ConfigDelete => (Writes, M::DELETE, "/configs/c"),

        OpKind::PluginList => (Metadata, M::GET, "/plugins"),
        OpKind::PluginInspect => (Metadata, M::GET, "/plugins/p/json"),
        // The daemon fetches the plugin's manifest from a registry.
        OpKind::PluginPrivileges => (Writes, M::GET, "/plugins/privileges"),
        OpKind::PluginPull => (Writes, M::POST, "/plugins/pull"),
        OpKind::PluginPush => (Writes, M::POST, "/plugins/p/push"),
        OpKind::PluginEnable => (Writes, M::POST, "/plugins/p/enable"),
        OpKind::PluginDisable => (Writes, M::POST, "/plugins/p/disable"),
        OpKind::PluginUpgrade => (Writes, M::POST, "/plugins/p/upgrade"),
        OpKind::PluginSet => (Writes, M::POST, "/plugins/p/set"),
        OpKind::PluginCreate => (Writes, M::POST, "/plugins/create"),
        OpKind::PluginDelete => (Writes, M::DELETE, "/plugins/p"),

        // The daemon asks a registry.
        OpKind::DistributionInspect => (Writes, M::GET, "/distribution/i/json"),

        OpKind::CheckpointList => (Metadata, M::GET, "/containers/c/checkpoints"),
        OpKind::CheckpointCreate => (Writes, M::POST, "/containers/c/checkpoints"),
        OpKind::CheckpointDelete => (Writes, M::DELETE, "/containers/c/checkpoints/k"),

        OpKind::Unknown => (Writes, M::GET, "/nowhere"),
    }
}

/// The read-only profiles and the access classes each may allow.
const READ_ONLY: &[(&str, &[Access])] = &[
    ("traefik", &[Metadata]),
    ("homepage", &[Metadata, ProcessOutput]),
    ("nobody", &[]),
];

/// The write profiles: their container, network, build and image rules must be the
/// default policy's, apart from the named `[containers]` host path allowlist.
const KEEP_DEFAULT_RULES: &[&str] = &["watchtower", "portainer", "gitlab-runner", "github-actions"];

/// Operations no profile may allow: they hand over the host or the cluster.
const HOST_LEVEL: &[OpKind] = &[
    OpKind::SwarmInit,
    OpKind::SwarmJoin,
    OpKind::SwarmLeave,
    OpKind::SwarmUpdate,
    OpKind::SwarmUnlock,
    OpKind::SwarmUnlockKey,
    OpKind::SwarmInspect,
    OpKind::NodeUpdate,
    OpKind::NodeDelete,
    OpKind::PluginPull,
    OpKind::PluginUpgrade,
    OpKind::PluginEnable,
    OpKind::PluginSet,
    OpKind::PluginCreate,
    OpKind::CheckpointCreate,
];

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/profiles")
}

fn profile_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(profiles_dir())
        .expect("policies/profiles exists")
        .map(|e| e.expect("directory entry").path())
        .collect();
    files.sort();
    files
}

/// One profile loaded alone, as `--policy policies/profiles/NAME.toml` does.
fn load_alone(name: &str) -> PolicySet {
    let path = profiles_dir().join(format!("{name}.toml"));
    PolicySet::load(&[path]).unwrap_or_else(|e| panic!("{name}.toml: {e:?}"))
}

fn identity(cn: &str) -> Identity {
    Identity {
        common_name: Some(cn.into()),
        ..Identity::transport("mtls")
    }
}

/// Whether the profile lets the operation's endpoint through (no PC-0001/PC-0002);
/// later rules may still refuse a particular request.
fn endpoint_allowed(set: &PolicySet, cn: &str, op: OpKind) -> bool {
    let (_, method, path) = access(op);
    let target = format!("/v1.47{path}");
    match check(
        set,
        &identity(cn),
        &method,
        &target,
        None,
        &Facts::default(),
    ) {
        Outcome::Decided {
            op: got, decision, ..
        } => {
            assert_eq!(got.kind, op, "{method} {path} classifies to {op:?}");
            match decision {
                Decision::Allow(_) => true,
                Decision::Deny(v) => !v.iter().any(|v| v.rule == "PC-0001" || v.rule == "PC-0002"),
            }
        }
        Outcome::Refused(why) => panic!("{method} {path} refused before the policy: {why}"),
    }
}

#[test]
fn every_operation_has_an_access_class_and_a_sample_route() {
    for &op in OpKind::ALL {
        let (_, method, path) = access(op);
        assert_eq!(classify(&method, path).kind, op, "{method} {path}");
    }
    assert_eq!(classify(&Method::GET, "/nowhere").kind, OpKind::Unknown);
}

#[test]
fn every_profile_loads_alone_and_the_directory_loads_as_a_set() {
    let files = profile_files();
    assert!(files.len() >= 6, "profiles: {files:?}");
    for f in &files {
        assert_eq!(
            f.extension().and_then(|e| e.to_str()),
            Some("toml"),
            "{f:?}"
        );
        PolicySet::load(std::slice::from_ref(f)).unwrap_or_else(|e| panic!("{f:?}: {e:?}"));
    }
    let set = PolicySet::load(&[profiles_dir()]).expect("the directory is one valid set");
    // Each profile is bound to the client certificate CN of its name; anyone else
    // gets the `nobody` profile.
    for p in &set.policies {
        assert_eq!(set.for_identity(&identity(&p.name)).name, p.name);
    }
    assert_eq!(set.for_identity(&identity("stranger")).name, "nobody");
    assert_eq!(
        set.for_identity(&Identity::transport("unix")).name,
        "nobody"
    );
}

#[test]
fn read_only_profiles_allow_only_what_reads_nothing_sensitive() {
    for (name, classes) in READ_ONLY {
        let set = load_alone(name);
        let mut allowed = BTreeSet::new();
        for &op in OpKind::ALL {
            if endpoint_allowed(&set, "anyone", op) {
                let (class, ..) = access(op);
                assert!(
                    classes.contains(&class),
                    "{name} allows {} which is {class:?}; a read-only profile may allow only {classes:?}",
                    op.name()
                );
                allowed.insert(op.name());
            }
        }
        assert!(!endpoint_allowed(&set, "anyone", OpKind::Unknown));
        if *name != "nobody" {
            for must in [
                "Ping",
                "Version",
                "ContainerList",
                "ContainerInspect",
                "Events",
            ] {
                assert!(allowed.contains(must), "{name} must allow {must}");
            }
        } else {
            assert!(allowed.is_empty(), "nobody allows {allowed:?}");
        }
    }
}

#[test]
fn read_only_profiles_refuse_each_way_out_by_name() {
    // The whole-table test above is the guarantee; these are the operations users
    // asked about, named so a failure reads plainly.
    for (name, _) in READ_ONLY {
        let set = load_alone(name);
        for op in [
            OpKind::ContainerArchive,
            OpKind::ContainerArchiveInfo,
            OpKind::ContainerExport,
            OpKind::ContainerCopy,
            OpKind::ImageGet,
            OpKind::ImageGetAll,
            OpKind::ExecCreate,
            OpKind::ExecStart,
            OpKind::ContainerAttach,
            OpKind::ContainerAttachWebsocket,
            OpKind::SecretInspect,
            OpKind::ConfigInspect,
            OpKind::SwarmInspect,
            OpKind::ContainerCreate,
            OpKind::ContainerStart,
            OpKind::ContainerDelete,
            OpKind::PutContainerArchive,
            OpKind::Build,
            OpKind::ImageCreate,
        ] {
            assert!(
                !endpoint_allowed(&set, "anyone", op),
                "{name} allows {}",
                op.name()
            );
        }
    }
    let traefik = load_alone("traefik");
    assert!(!endpoint_allowed(
        &traefik,
        "traefik",
        OpKind::ContainerLogs
    ));
    let homepage = load_alone("homepage");
    assert!(endpoint_allowed(
        &homepage,
        "homepage",
        OpKind::ContainerLogs
    ));
    assert!(endpoint_allowed(
        &homepage,
        "homepage",
        OpKind::ContainerStats
    ));
}

#[test]
fn no_profile_allows_host_or_cluster_administration() {
    for f in profile_files() {
        let set = PolicySet::load(std::slice::from_ref(&f)).expect("profile loads");
        for &op in HOST_LEVEL {
            assert!(
                !endpoint_allowed(&set, "anyone", op),
                "{} allows {}",
                f.display(),
                op.name()
            );
        }
        for &op in OpKind::ALL {
            if op.group().as_str() == "plugin" && access(op).0 == Writes {
                assert!(!endpoint_allowed(&set, "anyone", op), "{f:?} {op:?}");
            }
        }
    }
}

fn default_policy() -> Policy {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.toml");
    let text = std::fs::read_to_string(&path).expect("default.toml");
    Policy::from_toml(&text, &path).expect("default policy")
}

#[test]
fn write_profiles_keep_the_default_host_escape_rules() {
    let default = default_policy();
    for name in KEEP_DEFAULT_RULES {
        let set = load_alone(name);
        let p = &set.policies[0];
        let mut containers = p.containers.clone();
        if *name == "github-actions" {
            // The one documented difference: binds of the runner's own directories.
            assert!(!containers.host_path_allowlist.is_empty());
            for dir in &containers.host_path_allowlist {
                assert!(
                    dir.starts_with("/home/runner/actions-runner/"),
                    "github-actions allowlists {dir}"
                );
            }
            containers.host_path_allowlist.clear();
        }
        assert_eq!(
            format!("{containers:?}"),
            format!("{:?}", default.containers),
            "{name}: [containers] differs from default.toml"
        );
        assert_eq!(
            format!("{:?}", p.networks),
            format!("{:?}", default.networks),
            "{name}: [networks]"
        );
        assert_eq!(
            format!(
                "{:?}",
                (&p.build, &p.images, &p.registries, &p.protected.labels)
            ),
            format!(
                "{:?}",
                (
                    &default.build,
                    &default.images,
                    &default.registries,
                    &default.protected.labels
                )
            ),
            "{name}: [build], [images], [registries] or [protected]"
        );
        let names = |p: &Policy| {
            p.protected
                .name_patterns
                .iter()
                .map(|r| r.as_str().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(p), names(&default), "{name}: protected names");
    }
}

/// A request body as the tools send it, checked by the profile.
fn decide(set: &PolicySet, method: Method, target: &str, body: &str) -> Decision {
    match check(
        set,
        &identity("anyone"),
        &method,
        target,
        Some(body.as_bytes()),
        &Facts::default(),
    ) {
        Outcome::Decided { decision, .. } => decision,
        Outcome::Refused(why) => panic!("{target} refused: {why}"),
    }
}

fn rules(d: &Decision) -> Vec<&'static str> {
    match d {
        Decision::Allow(v) | Decision::Deny(v) => v.iter().map(|v| v.rule).collect(),
    }
}

#[test]
fn write_profiles_refuse_host_escapes_in_their_own_requests() {
    let escapes: &[(&str, &str)] = &[
        (
            "PC-1001",
            r#"{"Image":"busybox","HostConfig":{"Privileged":true}}"#,
        ),
        (
            "PC-1004",
            r#"{"Image":"busybox","HostConfig":{"Binds":["/:/host"]}}"#,
        ),
        (
            "PC-1004",
            r#"{"Image":"busybox","HostConfig":{"Binds":["/var/run/docker.sock:/var/run/docker.sock"]}}"#,
        ),
        (
            "PC-1008",
            r#"{"Image":"busybox","HostConfig":{"NetworkMode":"host"}}"#,
        ),
        (
            "PC-1008",
            r#"{"Image":"busybox","HostConfig":{"PidMode":"host"}}"#,
        ),
    ];
    for name in KEEP_DEFAULT_RULES {
        let set = load_alone(name);
        for (rule, body) in escapes {
            let d = decide(&set, Method::POST, "/v1.47/containers/create", body);
            assert!(
                matches!(d, Decision::Deny(_)) && rules(&d).contains(rule),
                "{name}: {body} gave {d:?}, want {rule}"
            );
        }
    }
    // The runner's own directories are the one bind github-actions allows.
    let actions = load_alone("github-actions");
    let job = r#"{"Image":"busybox","HostConfig":{"Binds":[
        "/home/runner/actions-runner/_work:/__w",
        "/home/runner/actions-runner/externals:/__e:ro",
        "/home/runner/actions-runner/_work/_temp/_github_home:/github/home"]}}"#;
    let d = decide(&actions, Method::POST, "/v1.47/containers/create", job);
    assert!(matches!(d, Decision::Allow(ref v) if v.is_empty()), "{d:?}");
    let outside = r#"{"Image":"busybox","HostConfig":{"Binds":["/home/runner/.ssh:/k"]}}"#;
    let d = decide(&actions, Method::POST, "/v1.47/containers/create", outside);
    assert!(rules(&d).contains(&"PC-1004"), "{d:?}");
}

/// Tenancy per profile: the operator's tools see every object (they exist to show or
/// manage what the operator runs); the CI runners are tenants, one per profile whether
/// they connect on their socket (no certificate) or with their certificate.
#[test]
fn operator_tools_see_everything_and_runners_are_tenants() {
    for (name, isolate) in [
        ("traefik", false),
        ("homepage", false),
        ("watchtower", false),
        ("portainer", false),
        ("gitlab-runner", true),
        ("github-actions", true),
        ("nobody", true),
    ] {
        let set = load_alone(name);
        let tenancy = &set.policies[0].tenancy;
        assert_eq!(tenancy.isolate, isolate, "{name}: isolate");
        if isolate && name != "nobody" {
            assert_eq!(tenancy.anonymous, name, "{name}: the socket's tenant");
            let on_socket = Identity::transport("unix");
            let tenant = tenancy.tenant_of(&on_socket).unwrap().unwrap();
            let certified = tenancy.tenant_of(&identity(name)).unwrap().unwrap();
            assert_eq!(tenant, certified, "{name}: one tenant on both routes");
        }
    }
}
