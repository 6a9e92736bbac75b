//! The Docker Engine API route table: `(method, path)` to a typed operation.
//!
//! Mirrors the routers dockerd registers (moby `daemon/server/router/*`): the same
//! literal paths, the same greedy `{name:.*}` parameters (so `POST
//! /containers/a/exec/b/start` is a *start* of the container `a/exec/b`, as dockerd
//! routes it), `{id}` parameters that stop at `/`, and first-match order. A path that
//! matches no route is [`OpKind::Unknown`], which the policy denies.

use super::schema::{self, Obj};
use http::Method;

/// The endpoint families an operator can switch on or off as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    System,
    Container,
    Exec,
    Image,
    Volume,
    Network,
    Build,
    Swarm,
    Node,
    Service,
    Task,
    Secret,
    Config,
    Plugin,
    Distribution,
    Session,
    Checkpoint,
    Unknown,
}

impl Group {
    pub fn as_str(self) -> &'static str {
        match self {
            Group::System => "system",
            Group::Container => "container",
            Group::Exec => "exec",
            Group::Image => "image",
            Group::Volume => "volume",
            Group::Network => "network",
            Group::Build => "build",
            Group::Swarm => "swarm",
            Group::Node => "node",
            Group::Service => "service",
            Group::Task => "task",
            Group::Secret => "secret",
            Group::Config => "config",
            Group::Plugin => "plugin",
            Group::Distribution => "distribution",
            Group::Session => "session",
            Group::Checkpoint => "checkpoint",
            Group::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|g| g.as_str() == s)
    }

    pub const ALL: [Group; 18] = [
        Group::System,
        Group::Container,
        Group::Exec,
        Group::Image,
        Group::Volume,
        Group::Network,
        Group::Build,
        Group::Swarm,
        Group::Node,
        Group::Service,
        Group::Task,
        Group::Secret,
        Group::Config,
        Group::Plugin,
        Group::Distribution,
        Group::Session,
        Group::Checkpoint,
        Group::Unknown,
    ];
}

/// What the request body of an operation is, and so how Portcullis handles it.
#[derive(Debug, Clone, Copy)]
pub enum BodyKind {
    /// No body is expected; a non-empty one is refused.
    None,
    /// JSON, read in full (bounded), checked and re-serialised. With a schema, keys
    /// must be canonical and typed; without, any JSON value (the policy does not read it).
    Json(Option<&'static Obj>),
    /// Binary (tar, build context): streamed unparsed after headers and query are checked.
    Binary,
}

macro_rules! ops {
    ($( $kind:ident => $name:literal, $group:ident, $body:expr, $hijack:literal; )*) => {
        /// Every Docker Engine API operation Portcullis knows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum OpKind { $( $kind, )* Unknown }

        impl OpKind {
            /// Every known operation, in table order (`Unknown` excluded): lets tests
            /// and tools walk the whole route table.
            pub const ALL: &'static [OpKind] = &[$( OpKind::$kind, )*];

            /// Stable name used in logs, audit records and policy files.
            pub fn name(self) -> &'static str {
                match self { $( OpKind::$kind => $name, )* OpKind::Unknown => "Unknown" }
            }
            pub fn group(self) -> Group {
                match self { $( OpKind::$kind => Group::$group, )* OpKind::Unknown => Group::Unknown }
            }
            pub fn body(self) -> BodyKind {
                match self { $( OpKind::$kind => $body, )* OpKind::Unknown => BodyKind::None }
            }
            /// Whether the daemon hijacks the connection for this operation when the
            /// request carries `Upgrade`.
            pub fn hijacks(self) -> bool {
                match self { $( OpKind::$kind => $hijack, )* OpKind::Unknown => false }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $( $name => Some(OpKind::$kind), )* "Unknown" => Some(OpKind::Unknown), _ => None }
            }
        }
    };
}

const NONE: BodyKind = BodyKind::None;
const BIN: BodyKind = BodyKind::Binary;
const ANY_JSON: BodyKind = BodyKind::Json(None);
const fn json(o: &'static schema::Obj) -> BodyKind {
    BodyKind::Json(Some(o))
}

ops! {
    Ping => "Ping", System, NONE, false;
    Info => "Info", System, NONE, false;
    Version => "Version", System, NONE, false;
    Events => "Events", System, NONE, false;
    SystemDf => "SystemDf", System, NONE, false;
    Auth => "Auth", System, ANY_JSON, false;
    Options => "Options", System, NONE, false;

    ContainerList => "ContainerList", Container, NONE, false;
    ContainerCreate => "ContainerCreate", Container, json(&schema::CONTAINER_CREATE), false;
    ContainerInspect => "ContainerInspect", Container, NONE, false;
    ContainerTop => "ContainerTop", Container, NONE, false;
    ContainerLogs => "ContainerLogs", Container, NONE, false;
    ContainerChanges => "ContainerChanges", Container, NONE, false;
    ContainerExport => "ContainerExport", Container, NONE, false;
    ContainerStats => "ContainerStats", Container, NONE, false;
    ContainerResize => "ContainerResize", Container, NONE, false;
    ContainerStart => "ContainerStart", Container, NONE, false;
    ContainerStop => "ContainerStop", Container, NONE, false;
    ContainerRestart => "ContainerRestart", Container, NONE, false;
    ContainerKill => "ContainerKill", Container, NONE, false;
    ContainerUpdate => "ContainerUpdate", Container, json(&schema::CONTAINER_UPDATE), false;
    ContainerRename => "ContainerRename", Container, NONE, false;
    ContainerPause => "ContainerPause", Container, NONE, false;
    ContainerUnpause => "ContainerUnpause", Container, NONE, false;
    ContainerAttach => "ContainerAttach", Container, NONE, true;
    ContainerAttachWebsocket => "ContainerAttachWebsocket", Container, NONE, true;
    ContainerWait => "ContainerWait", Container, NONE, false;
    ContainerDelete => "ContainerDelete", Container, NONE, false;
    ContainerArchiveInfo => "ContainerArchiveInfo", Container, NONE, false;
    ContainerArchive => "ContainerArchive", Container, NONE, false;
    PutContainerArchive => "PutContainerArchive", Container, BIN, false;
    ContainerCopy => "ContainerCopy", Container, ANY_JSON, false;
    ContainerPrune => "ContainerPrune", Container, NONE, false;
    Commit => "Commit", Image, json(&schema::COMMIT_CONFIG), false;

    ExecCreate => "ExecCreate", Exec, json(&schema::EXEC_CREATE), false;
    ExecStart => "ExecStart", Exec, json(&schema::EXEC_START), true;
    ExecResize => "ExecResize", Exec, NONE, false;
    ExecInspect => "ExecInspect", Exec, NONE, false;

    ImageList => "ImageList", Image, NONE, false;
    ImageSearch => "ImageSearch", Image, NONE, false;
    ImageGetAll => "ImageGetAll", Image, NONE, false;
    ImageGet => "ImageGet", Image, NONE, false;
    ImageHistory => "ImageHistory", Image, NONE, false;
    ImageInspect => "ImageInspect", Image, NONE, false;
    ImageLoad => "ImageLoad", Image, BIN, false;
    ImageCreate => "ImageCreate", Image, BIN, false;
    ImagePush => "ImagePush", Image, NONE, false;
    ImageTag => "ImageTag", Image, NONE, false;
    ImagePrune => "ImagePrune", Image, NONE, false;
    ImageDelete => "ImageDelete", Image, NONE, false;

    VolumeList => "VolumeList", Volume, NONE, false;
    VolumeInspect => "VolumeInspect", Volume, NONE, false;
    VolumeCreate => "VolumeCreate", Volume, json(&schema::VOLUME_CREATE), false;
    VolumeUpdate => "VolumeUpdate", Volume, ANY_JSON, false;
    VolumePrune => "VolumePrune", Volume, NONE, false;
    VolumeDelete => "VolumeDelete", Volume, NONE, false;

    NetworkList => "NetworkList", Network, NONE, false;
    NetworkInspect => "NetworkInspect", Network, NONE, false;
    NetworkCreate => "NetworkCreate", Network, json(&schema::NETWORK_CREATE), false;
    NetworkConnect => "NetworkConnect", Network, json(&schema::NETWORK_CONNECT), false;
    NetworkDisconnect => "NetworkDisconnect", Network, json(&schema::NETWORK_DISCONNECT), false;
    NetworkPrune => "NetworkPrune", Network, NONE, false;
    NetworkDelete => "NetworkDelete", Network, NONE, false;

    Build => "Build", Build, BIN, false;
    BuildPrune => "BuildPrune", Build, NONE, false;
    BuildCancel => "BuildCancel", Build, NONE, false;
    Session => "Session", Session, NONE, true;
    Grpc => "Grpc", Session, NONE, true;

    SwarmInspect => "SwarmInspect", Swarm, NONE, false;
    SwarmInit => "SwarmInit", Swarm, ANY_JSON, false;
    SwarmJoin => "SwarmJoin", Swarm, ANY_JSON, false;
    SwarmLeave => "SwarmLeave", Swarm, NONE, false;
    SwarmUpdate => "SwarmUpdate", Swarm, ANY_JSON, false;
    SwarmUnlockKey => "SwarmUnlockKey", Swarm, NONE, false;
    SwarmUnlock => "SwarmUnlock", Swarm, ANY_JSON, false;

    ServiceList => "ServiceList", Service, NONE, false;
    ServiceInspect => "ServiceInspect", Service, NONE, false;
    ServiceCreate => "ServiceCreate", Service, json(&schema::SERVICE_SPEC), false;
    ServiceUpdate => "ServiceUpdate", Service, json(&schema::SERVICE_SPEC), false;
    ServiceDelete => "ServiceDelete", Service, NONE, false;
    ServiceLogs => "ServiceLogs", Service, NONE, false;

    NodeList => "NodeList", Node, NONE, false;
    NodeInspect => "NodeInspect", Node, NONE, false;
    NodeDelete => "NodeDelete", Node, NONE, false;
    NodeUpdate => "NodeUpdate", Node, ANY_JSON, false;

    TaskList => "TaskList", Task, NONE, false;
    TaskInspect => "TaskInspect", Task, NONE, false;
    TaskLogs => "TaskLogs", Task, NONE, false;

    SecretList => "SecretList", Secret, NONE, false;
    SecretCreate => "SecretCreate", Secret, ANY_JSON, false;
    SecretInspect => "SecretInspect", Secret, NONE, false;
    SecretUpdate => "SecretUpdate", Secret, ANY_JSON, false;
    SecretDelete => "SecretDelete", Secret, NONE, false;

    ConfigList => "ConfigList", Config, NONE, false;
    ConfigCreate => "ConfigCreate", Config, ANY_JSON, false;
    ConfigInspect => "ConfigInspect", Config, NONE, false;
    ConfigUpdate => "ConfigUpdate", Config, ANY_JSON, false;
    ConfigDelete => "ConfigDelete", Config, NONE, false;

    PluginList => "PluginList", Plugin, NONE, false;
    PluginInspect => "PluginInspect", Plugin, NONE, false;
    PluginPrivileges => "PluginPrivileges", Plugin, NONE, false;
    PluginPull => "PluginPull", Plugin, ANY_JSON, false;
    PluginPush => "PluginPush", Plugin, NONE, false;
    PluginEnable => "PluginEnable", Plugin, NONE, false;
    PluginDisable => "PluginDisable", Plugin, NONE, false;
    PluginUpgrade => "PluginUpgrade", Plugin, ANY_JSON, false;
    PluginSet => "PluginSet", Plugin, ANY_JSON, false;
    PluginCreate => "PluginCreate", Plugin, BIN, false;
    PluginDelete => "PluginDelete", Plugin, NONE, false;

    DistributionInspect => "DistributionInspect", Distribution, NONE, false;

    CheckpointList => "CheckpointList", Checkpoint, NONE, false;
    CheckpointCreate => "CheckpointCreate", Checkpoint, ANY_JSON, false;
    CheckpointDelete => "CheckpointDelete", Checkpoint, NONE, false;
}

/// A classified request: the operation and its path parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub kind: OpKind,
    /// The `{name}`/`{id}` path parameter (container, exec, image, volume, …).
    pub target: Option<String>,
}

impl Operation {
    pub fn unknown() -> Self {
        Operation {
            kind: OpKind::Unknown,
            target: None,
        }
    }
}

#[derive(Clone, Copy)]
enum Pat {
    Exact(&'static str),
    /// `prefix{name:.*}suffix`: any non-empty name, `/` included.
    Greedy(&'static str, &'static str),
    /// `prefix{id}suffix`: a non-empty name without `/`.
    Segment(&'static str, &'static str),
}

use OpKind as K;
use Pat::{Exact as E, Greedy as G, Segment as S};

#[derive(Clone, Copy, PartialEq, Eq)]
enum M {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
}

/// Registration order follows dockerd's routers.
const ROUTES: &[(M, Pat, OpKind)] = &[
    // checkpoint router (experimental)
    (M::Get, G("/containers/", "/checkpoints"), K::CheckpointList),
    (
        M::Post,
        G("/containers/", "/checkpoints"),
        K::CheckpointCreate,
    ),
    // container router
    (
        M::Head,
        G("/containers/", "/archive"),
        K::ContainerArchiveInfo,
    ),
    (M::Get, E("/containers/json"), K::ContainerList),
    (M::Get, G("/containers/", "/export"), K::ContainerExport),
    (M::Get, G("/containers/", "/changes"), K::ContainerChanges),
    (M::Get, G("/containers/", "/json"), K::ContainerInspect),
    (M::Get, G("/containers/", "/top"), K::ContainerTop),
    (M::Get, G("/containers/", "/logs"), K::ContainerLogs),
    (M::Get, G("/containers/", "/stats"), K::ContainerStats),
    (
        M::Get,
        G("/containers/", "/attach/ws"),
        K::ContainerAttachWebsocket,
    ),
    (M::Get, G("/exec/", "/json"), K::ExecInspect),
    (M::Get, G("/containers/", "/archive"), K::ContainerArchive),
    (M::Post, E("/containers/create"), K::ContainerCreate),
    (M::Post, G("/containers/", "/kill"), K::ContainerKill),
    (M::Post, G("/containers/", "/pause"), K::ContainerPause),
    (M::Post, G("/containers/", "/unpause"), K::ContainerUnpause),
    (M::Post, G("/containers/", "/restart"), K::ContainerRestart),
    (M::Post, G("/containers/", "/start"), K::ContainerStart),
    (M::Post, G("/containers/", "/stop"), K::ContainerStop),
    (M::Post, G("/containers/", "/wait"), K::ContainerWait),
    (M::Post, G("/containers/", "/resize"), K::ContainerResize),
    (M::Post, G("/containers/", "/attach"), K::ContainerAttach),
    (M::Post, G("/containers/", "/copy"), K::ContainerCopy),
    (M::Post, G("/containers/", "/exec"), K::ExecCreate),
    (M::Post, G("/exec/", "/start"), K::ExecStart),
    (M::Post, G("/exec/", "/resize"), K::ExecResize),
    (M::Post, G("/containers/", "/rename"), K::ContainerRename),
    (M::Post, G("/containers/", "/update"), K::ContainerUpdate),
    (M::Post, E("/containers/prune"), K::ContainerPrune),
    (M::Post, E("/commit"), K::Commit),
    (
        M::Put,
        G("/containers/", "/archive"),
        K::PutContainerArchive,
    ),
    (M::Delete, S("/containers/", ""), K::ContainerDelete),
    (
        M::Delete,
        S("/containers/", "/checkpoints/"),
        K::CheckpointDelete,
    ),
    // image router
    (M::Get, E("/images/json"), K::ImageList),
    (M::Get, E("/images/search"), K::ImageSearch),
    (M::Get, E("/images/get"), K::ImageGetAll),
    (M::Get, G("/images/", "/get"), K::ImageGet),
    (M::Get, G("/images/", "/history"), K::ImageHistory),
    (M::Get, G("/images/", "/json"), K::ImageInspect),
    (M::Post, E("/images/load"), K::ImageLoad),
    (M::Post, E("/images/create"), K::ImageCreate),
    (M::Post, G("/images/", "/push"), K::ImagePush),
    (M::Post, G("/images/", "/tag"), K::ImageTag),
    (M::Post, E("/images/prune"), K::ImagePrune),
    (M::Delete, G("/images/", ""), K::ImageDelete),
    // system router
    (M::Get, E("/_ping"), K::Ping),
    (M::Head, E("/_ping"), K::Ping),
    (M::Get, E("/events"), K::Events),
    (M::Get, E("/info"), K::Info),
    (M::Get, E("/version"), K::Version),
    (M::Get, E("/system/df"), K::SystemDf),
    (M::Post, E("/auth"), K::Auth),
    // volume router
    (M::Get, E("/volumes"), K::VolumeList),
    (M::Get, G("/volumes/", ""), K::VolumeInspect),
    (M::Post, E("/volumes/create"), K::VolumeCreate),
    (M::Post, E("/volumes/prune"), K::VolumePrune),
    (M::Put, G("/volumes/", ""), K::VolumeUpdate),
    (M::Delete, G("/volumes/", ""), K::VolumeDelete),
    // build, session and grpc routers
    (M::Post, E("/build"), K::Build),
    (M::Post, E("/build/prune"), K::BuildPrune),
    (M::Post, E("/build/cancel"), K::BuildCancel),
    (M::Post, E("/session"), K::Session),
    (M::Post, E("/grpc"), K::Grpc),
    // swarm router
    (M::Post, E("/swarm/init"), K::SwarmInit),
    (M::Post, E("/swarm/join"), K::SwarmJoin),
    (M::Post, E("/swarm/leave"), K::SwarmLeave),
    (M::Get, E("/swarm"), K::SwarmInspect),
    (M::Get, E("/swarm/unlockkey"), K::SwarmUnlockKey),
    (M::Post, E("/swarm/update"), K::SwarmUpdate),
    (M::Post, E("/swarm/unlock"), K::SwarmUnlock),
    (M::Get, E("/services"), K::ServiceList),
    (M::Get, S("/services/", ""), K::ServiceInspect),
    (M::Post, E("/services/create"), K::ServiceCreate),
    (M::Post, S("/services/", "/update"), K::ServiceUpdate),
    (M::Delete, S("/services/", ""), K::ServiceDelete),
    (M::Get, S("/services/", "/logs"), K::ServiceLogs),
    (M::Get, E("/nodes"), K::NodeList),
    (M::Get, S("/nodes/", ""), K::NodeInspect),
    (M::Delete, S("/nodes/", ""), K::NodeDelete),
    (M::Post, S("/nodes/", "/update"), K::NodeUpdate),
    (M::Get, E("/tasks"), K::TaskList),
    (M::Get, S("/tasks/", ""), K::TaskInspect),
    (M::Get, S("/tasks/", "/logs"), K::TaskLogs),
    (M::Get, E("/secrets"), K::SecretList),
    (M::Post, E("/secrets/create"), K::SecretCreate),
    (M::Delete, S("/secrets/", ""), K::SecretDelete),
    (M::Get, S("/secrets/", ""), K::SecretInspect),
    (M::Post, S("/secrets/", "/update"), K::SecretUpdate),
    (M::Get, E("/configs"), K::ConfigList),
    (M::Post, E("/configs/create"), K::ConfigCreate),
    (M::Delete, S("/configs/", ""), K::ConfigDelete),
    (M::Get, S("/configs/", ""), K::ConfigInspect),
    (M::Post, S("/configs/", "/update"), K::ConfigUpdate),
    // plugin router
    (M::Get, G("/plugins/", "/json"), K::PluginInspect),
    (M::Get, E("/plugins"), K::PluginList),
    (M::Get, E("/plugins/privileges"), K::PluginPrivileges),
    (M::Post, E("/plugins/pull"), K::PluginPull),
    (M::Post, G("/plugins/", "/push"), K::PluginPush),
    (M::Post, G("/plugins/", "/enable"), K::PluginEnable),
    (M::Post, G("/plugins/", "/disable"), K::PluginDisable),
    (M::Post, G("/plugins/", "/upgrade"), K::PluginUpgrade),
    (M::Post, G("/plugins/", "/set"), K::PluginSet),
    (M::Post, E("/plugins/create"), K::PluginCreate),
    (M::Delete, G("/plugins/", ""), K::PluginDelete),
    // distribution router
    (M::Get, G("/distribution/", "/json"), K::DistributionInspect),
    // network router
    (M::Get, E("/networks"), K::NetworkList),
    (M::Get, G("/networks/", ""), K::NetworkInspect),
    (M::Post, E("/networks/create"), K::NetworkCreate),
    (M::Post, G("/networks/", "/connect"), K::NetworkConnect),
    (
        M::Post,
        G("/networks/", "/disconnect"),
        K::NetworkDisconnect,
    ),
    (M::Post, E("/networks/prune"), K::NetworkPrune),
    (M::Delete, G("/networks/", ""), K::NetworkDelete),
];

fn method_of(m: &Method) -> Option<M> {
    Some(match *m {
        Method::GET => M::Get,
        Method::HEAD => M::Head,
        Method::POST => M::Post,
        Method::PUT => M::Put,
        Method::DELETE => M::Delete,
        Method::OPTIONS => M::Options,
        _ => return None,
    })
}

fn match_pat(pat: Pat, path: &str) -> Option<Option<&str>> {
    match pat {
        Pat::Exact(p) => (p == path).then_some(None),
        Pat::Greedy(prefix, suffix) | Pat::Segment(prefix, suffix) => {
            let rest = path.strip_prefix(prefix)?;
            let name = rest.strip_suffix(suffix)?;
            // `DELETE /containers/{name}/checkpoints/{checkpoint}`: the suffix literal is
            // followed by a second segment parameter.
            if name.is_empty() {
                return None;
            }
            if matches!(pat, Pat::Segment(..)) && name.contains('/') {
                return None;
            }
            Some(Some(name))
        }
    }
}

/// Classify a canonical route path (no version prefix, already decoded).
pub fn classify(method: &Method, path: &str) -> Operation {
    let Some(m) = method_of(method) else {
        return Operation::unknown();
    };
    if m == M::Options {
        // dockerd answers every OPTIONS with 200 and an empty body.
        return Operation {
            kind: OpKind::Options,
            target: None,
        };
    }
    // The checkpoint delete route has two segment parameters.
    if m == M::Delete {
        if let Some(rest) = path.strip_prefix("/containers/") {
            if let Some((name, checkpoint)) = rest.split_once("/checkpoints/") {
                if !name.is_empty()
                    && !name.contains('/')
                    && !checkpoint.is_empty()
                    && !checkpoint.contains('/')
                {
                    return Operation {
                        kind: OpKind::CheckpointDelete,
                        target: Some(name.to_string()),
                    };
                }
            }
        }
    }
    for &(rm, pat, kind) in ROUTES {
        if rm != m || kind == OpKind::CheckpointDelete {
            continue;
        }
        if let Some(target) = match_pat(pat, path) {
            return Operation {
                kind,
                target: target.map(str::to_string),
            };
        }
    }
    Operation::unknown()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(m: Method, p: &str) -> (OpKind, Option<String>) {
        let o = classify(&m, p);
        (o.kind, o.target)
    }

    #[test]
    fn route_table() {
        let t = |s: &str| Some(s.to_string());
        let cases: Vec<(Method, &str, OpKind, Option<String>)> = vec![
            (Method::GET, "/_ping", K::Ping, None),
            (Method::HEAD, "/_ping", K::Ping, None),
            (Method::GET, "/version", K::Version, None),
            (Method::GET, "/containers/json", K::ContainerList, None),
            (Method::POST, "/containers/create", K::ContainerCreate, None),
            // a container named `create`: dockerd's `{name:.*}/copy` route, not create
            // (found by the decide fuzz target)
            (
                Method::POST,
                "/containers/create/copy",
                K::ContainerCopy,
                t("create"),
            ),
            (
                Method::GET,
                "/containers/abc/json",
                K::ContainerInspect,
                t("abc"),
            ),
            (
                Method::POST,
                "/containers/abc/start",
                K::ContainerStart,
                t("abc"),
            ),
            // greedy names: the last segment picks the route, as in dockerd
            (
                Method::POST,
                "/containers/a/exec/b/start",
                K::ContainerStart,
                t("a/exec/b"),
            ),
            (Method::POST, "/containers/a/exec", K::ExecCreate, t("a")),
            (Method::POST, "/exec/e1/start", K::ExecStart, t("e1")),
            (
                Method::POST,
                "/containers/x/attach",
                K::ContainerAttach,
                t("x"),
            ),
            (
                Method::GET,
                "/containers/x/attach/ws",
                K::ContainerAttachWebsocket,
                t("x"),
            ),
            (Method::DELETE, "/containers/x", K::ContainerDelete, t("x")),
            (Method::DELETE, "/containers/x/y", K::Unknown, None),
            (
                Method::DELETE,
                "/containers/x/checkpoints/c1",
                K::CheckpointDelete,
                t("x"),
            ),
            (
                Method::PUT,
                "/containers/x/archive",
                K::PutContainerArchive,
                t("x"),
            ),
            (
                Method::HEAD,
                "/containers/x/archive",
                K::ContainerArchiveInfo,
                t("x"),
            ),
            (Method::GET, "/images/json", K::ImageList, None),
            (
                Method::GET,
                "/images/reg:5000/a/b:1/json",
                K::ImageInspect,
                t("reg:5000/a/b:1"),
            ),
            (Method::DELETE, "/images/a/b:c", K::ImageDelete, t("a/b:c")),
            (Method::POST, "/images/create", K::ImageCreate, None),
            (Method::POST, "/build", K::Build, None),
            (Method::POST, "/session", K::Session, None),
            (Method::POST, "/grpc", K::Grpc, None),
            (Method::GET, "/volumes", K::VolumeList, None),
            (Method::GET, "/volumes/v1", K::VolumeInspect, t("v1")),
            (Method::POST, "/volumes/create", K::VolumeCreate, None),
            (Method::POST, "/networks/create", K::NetworkCreate, None),
            (
                Method::POST,
                "/networks/n/connect",
                K::NetworkConnect,
                t("n"),
            ),
            (Method::POST, "/services/create", K::ServiceCreate, None),
            (
                Method::POST,
                "/services/s1/update",
                K::ServiceUpdate,
                t("s1"),
            ),
            (Method::GET, "/services/s1/logs", K::ServiceLogs, t("s1")),
            (Method::GET, "/services/s1/x", K::Unknown, None),
            (Method::GET, "/swarm", K::SwarmInspect, None),
            (Method::POST, "/swarm/init", K::SwarmInit, None),
            (Method::POST, "/plugins/pull", K::PluginPull, None),
            (
                Method::POST,
                "/plugins/p:1/enable",
                K::PluginEnable,
                t("p:1"),
            ),
            (Method::OPTIONS, "/anything", K::Options, None),
            (Method::GET, "/debug/pprof/", K::Unknown, None),
            (Method::GET, "/V1.41/containers/json", K::Unknown, None),
            (Method::GET, "/containers//json", K::Unknown, None),
            (Method::POST, "/containers/json", K::Unknown, None),
            (Method::PATCH, "/containers/json", K::Unknown, None),
            (Method::GET, "", K::Unknown, None),
        ];
        for (m, p, kind, target) in cases {
            assert_eq!(c(m.clone(), p), (kind, target), "{m} {p}");
        }
    }

    #[test]
    fn names_round_trip() {
        for (_, _, k) in ROUTES {
            assert_eq!(OpKind::parse(k.name()), Some(*k));
        }
        for g in Group::ALL {
            assert_eq!(Group::parse(g.as_str()), Some(g));
        }
    }
}
