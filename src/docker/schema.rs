//! Typed schemas of the Docker Engine API request bodies that the policy reads.
//!
//! dockerd decodes bodies with Go's `encoding/json`: keys match struct fields
//! case-insensitively with Unicode simple folding ([`go_fold_eq`]), repeated keys
//! merge, `null` is a no-op for scalars. Portcullis reads every spelling Go matches as
//! the canonical Go field name listed here, merges repeats as Go does (`merge`), and
//! forwards the canonical names, so the object we evaluate is the object the daemon
//! decodes. Keys of maps (`Ty::Map`: Labels, DriverOpts, …) are data, never folded.
//! Field lists follow moby's `api/types` (container, mount, network, swarm, volume).

use serde_json::{Map, Value};

/// The expected JSON type of a field.
#[derive(Debug)]
pub enum Ty {
    /// JSON `true`/`false`.
    Bool,
    /// JSON string.
    Str,
    /// JSON number written as an integer literal (Go int/uint fields).
    Int,
    /// Any JSON number (Go float fields).
    Float,
    /// Any JSON value, not inspected: only for subtrees no policy rule reads.
    Any,
    /// JSON array of the element type.
    List(&'static Ty),
    /// JSON object whose keys are data (Labels, Sysctls, DriverOpts): case-sensitive,
    /// any key allowed, values of the given type.
    Map(&'static Ty),
    /// JSON object decoded into a Go struct: only the listed keys, spelled exactly.
    Obj(&'static Obj),
}

/// A Go struct as the daemon decodes it.
#[derive(Debug)]
pub struct Obj {
    /// Name used in error messages (e.g. `HostConfig`).
    pub name: &'static str,
    /// Canonical field names (exact Go JSON names) and their types.
    pub fields: &'static [(&'static str, Ty)],
}

// ---------------------------------------------------------------------------
// Schema tables.
//
// Sources: moby/moby `api/types/**` at HEAD (b985e231, Aug 2026), plus fields that
// v28.5.2 and v20.10.24 still have in the struct and clients still marshal
// (`Config.MacAddress`, `Resources.KernelMemory`/`KernelMemoryTCP`,
// `ExecOptions.Detach`, `NetworkCreateRequest.CheckDuplicate`,
// `ServiceSpec.Networks`). Embedded Go structs are flattened, as `encoding/json`
// flattens them.
// ---------------------------------------------------------------------------

/// Fields of `container.Config` (create and commit bodies).
macro_rules! container_config_fields {
    ($($extra:tt)*) => {
        &[
            ("Hostname", Ty::Str),
            ("Domainname", Ty::Str),
            ("User", Ty::Str),
            ("AttachStdin", Ty::Bool),
            ("AttachStdout", Ty::Bool),
            ("AttachStderr", Ty::Bool),
            // nat.PortSet / network.PortSet: map[port]struct{}
            ("ExposedPorts", Ty::Map(&Ty::Any)),
            ("Tty", Ty::Bool),
            ("OpenStdin", Ty::Bool),
            ("StdinOnce", Ty::Bool),
            ("Env", Ty::List(&Ty::Str)),
            // strslice.StrSlice: a string or an array of strings.
            ("Cmd", Ty::Any),
            ("Healthcheck", Ty::Any),
            ("ArgsEscaped", Ty::Bool),
            ("Image", Ty::Str),
            ("Volumes", Ty::Map(&Ty::Any)),
            ("WorkingDir", Ty::Str),
            ("Entrypoint", Ty::Any),
            ("NetworkDisabled", Ty::Bool),
            // Deprecated in API 1.44 and gone at HEAD; v28 and docker-py still send it.
            ("MacAddress", Ty::Str),
            ("OnBuild", Ty::List(&Ty::Str)),
            ("Labels", Ty::Map(&Ty::Str)),
            ("StopSignal", Ty::Str),
            ("StopTimeout", Ty::Int),
            ("Shell", Ty::Any),
            $($extra)*
        ]
    };
}

/// Fields of `container.Resources` (embedded in HostConfig and UpdateConfig).
macro_rules! resources_fields {
    ($($extra:tt)*) => {
        &[
            ("CpuShares", Ty::Int),
            ("Memory", Ty::Int),
            ("NanoCpus", Ty::Int),
            ("CgroupParent", Ty::Str),
            ("BlkioWeight", Ty::Int),
            ("BlkioWeightDevice", Ty::List(&Ty::Obj(&WEIGHT_DEVICE))),
            ("BlkioDeviceReadBps", Ty::List(&Ty::Obj(&THROTTLE_DEVICE))),
            ("BlkioDeviceWriteBps", Ty::List(&Ty::Obj(&THROTTLE_DEVICE))),
            ("BlkioDeviceReadIOps", Ty::List(&Ty::Obj(&THROTTLE_DEVICE))),
            ("BlkioDeviceWriteIOps", Ty::List(&Ty::Obj(&THROTTLE_DEVICE))),
            ("CpuPeriod", Ty::Int),
            ("CpuQuota", Ty::Int),
            ("CpuRealtimePeriod", Ty::Int),
            ("CpuRealtimeRuntime", Ty::Int),
            ("CpusetCpus", Ty::Str),
            ("CpusetMems", Ty::Str),
            ("Devices", Ty::List(&Ty::Obj(&DEVICE_MAPPING))),
            ("DeviceCgroupRules", Ty::List(&Ty::Str)),
            ("DeviceRequests", Ty::List(&Ty::Obj(&DEVICE_REQUEST))),
            // Removed at HEAD; present in v20.10..v28 (omitempty).
            ("KernelMemory", Ty::Int),
            ("KernelMemoryTCP", Ty::Int),
            ("MemoryReservation", Ty::Int),
            ("MemorySwap", Ty::Int),
            ("MemorySwappiness", Ty::Int),
            ("OomKillDisable", Ty::Bool),
            ("PidsLimit", Ty::Int),
            ("Ulimits", Ty::List(&Ty::Obj(&ULIMIT))),
            ("CpuCount", Ty::Int),
            ("CpuPercent", Ty::Int),
            ("IOMaximumIOps", Ty::Int),
            ("IOMaximumBandwidth", Ty::Int),
            $($extra)*
        ]
    };
}

/// `blkiodev.WeightDevice`.
pub static WEIGHT_DEVICE: Obj = Obj {
    name: "WeightDevice",
    fields: &[("Path", Ty::Str), ("Weight", Ty::Int)],
};

/// `blkiodev.ThrottleDevice`.
pub static THROTTLE_DEVICE: Obj = Obj {
    name: "ThrottleDevice",
    fields: &[("Path", Ty::Str), ("Rate", Ty::Int)],
};

/// `container.DeviceMapping` (`HostConfig.Devices[]`).
pub static DEVICE_MAPPING: Obj = Obj {
    name: "DeviceMapping",
    fields: &[
        ("PathOnHost", Ty::Str),
        ("PathInContainer", Ty::Str),
        ("CgroupPermissions", Ty::Str),
    ],
};

/// `container.DeviceRequest` (`HostConfig.DeviceRequests[]`).
pub static DEVICE_REQUEST: Obj = Obj {
    name: "DeviceRequest",
    fields: &[
        ("Driver", Ty::Str),
        ("Count", Ty::Int),
        ("DeviceIDs", Ty::List(&Ty::Str)),
        ("Capabilities", Ty::List(&Ty::List(&Ty::Str))),
        ("Options", Ty::Map(&Ty::Str)),
    ],
};

/// `units.Ulimit` (go-units; no JSON tags).
pub static ULIMIT: Obj = Obj {
    name: "Ulimit",
    fields: &[("Name", Ty::Str), ("Hard", Ty::Int), ("Soft", Ty::Int)],
};

/// `container.LogConfig`.
pub static LOG_CONFIG: Obj = Obj {
    name: "LogConfig",
    fields: &[("Type", Ty::Str), ("Config", Ty::Map(&Ty::Str))],
};

/// `container.RestartPolicy`.
pub static RESTART_POLICY: Obj = Obj {
    name: "RestartPolicy",
    fields: &[("Name", Ty::Str), ("MaximumRetryCount", Ty::Int)],
};

/// `network.PortBinding` (`HostIP` is tagged `HostIp`).
pub static PORT_BINDING: Obj = Obj {
    name: "PortBinding",
    fields: &[("HostIp", Ty::Str), ("HostPort", Ty::Str)],
};

/// `mount.BindOptions`.
pub static BIND_OPTIONS: Obj = Obj {
    name: "BindOptions",
    fields: &[
        ("Propagation", Ty::Str),
        ("NonRecursive", Ty::Bool),
        ("CreateMountpoint", Ty::Bool),
        ("ReadOnlyNonRecursive", Ty::Bool),
        ("ReadOnlyForceRecursive", Ty::Bool),
    ],
};

/// `mount.Driver` (`VolumeOptions.DriverConfig`).
pub static MOUNT_DRIVER: Obj = Obj {
    name: "DriverConfig",
    fields: &[("Name", Ty::Str), ("Options", Ty::Map(&Ty::Str))],
};

/// `mount.VolumeOptions`.
pub static VOLUME_OPTIONS: Obj = Obj {
    name: "VolumeOptions",
    fields: &[
        ("NoCopy", Ty::Bool),
        ("Labels", Ty::Map(&Ty::Str)),
        ("Subpath", Ty::Str),
        ("DriverConfig", Ty::Obj(&MOUNT_DRIVER)),
    ],
};

/// `mount.ImageOptions`.
pub static IMAGE_OPTIONS: Obj = Obj {
    name: "ImageOptions",
    fields: &[("Subpath", Ty::Str)],
};

/// `mount.TmpfsOptions` (`Mode` is an `os.FileMode`, a uint32).
pub static TMPFS_OPTIONS: Obj = Obj {
    name: "TmpfsOptions",
    fields: &[
        ("SizeBytes", Ty::Int),
        ("Mode", Ty::Int),
        ("Options", Ty::List(&Ty::List(&Ty::Str))),
    ],
};

/// `mount.ClusterOptions`: an empty struct (reserved for future use).
pub static CLUSTER_OPTIONS: Obj = Obj {
    name: "ClusterOptions",
    fields: &[],
};

/// `mount.Mount` (`HostConfig.Mounts[]`, `ContainerSpec.Mounts[]`).
pub static MOUNT: Obj = Obj {
    name: "Mount",
    fields: &[
        ("Type", Ty::Str),
        ("Source", Ty::Str),
        ("Target", Ty::Str),
        ("ReadOnly", Ty::Bool),
        ("Consistency", Ty::Str),
        ("BindOptions", Ty::Obj(&BIND_OPTIONS)),
        ("VolumeOptions", Ty::Obj(&VOLUME_OPTIONS)),
        ("ImageOptions", Ty::Obj(&IMAGE_OPTIONS)),
        ("TmpfsOptions", Ty::Obj(&TMPFS_OPTIONS)),
        ("ClusterOptions", Ty::Obj(&CLUSTER_OPTIONS)),
    ],
};

/// `container.HostConfig` with `Resources` flattened.
pub static HOST_CONFIG: Obj = Obj {
    name: "HostConfig",
    fields: resources_fields![
        ("Binds", Ty::List(&Ty::Str)),
        ("ContainerIDFile", Ty::Str),
        ("LogConfig", Ty::Obj(&LOG_CONFIG)),
        ("NetworkMode", Ty::Str),
        ("PortBindings", Ty::Map(&Ty::List(&Ty::Obj(&PORT_BINDING)))),
        ("RestartPolicy", Ty::Obj(&RESTART_POLICY)),
        ("AutoRemove", Ty::Bool),
        ("VolumeDriver", Ty::Str),
        ("VolumesFrom", Ty::List(&Ty::Str)),
        ("ConsoleSize", Ty::List(&Ty::Int)),
        ("Annotations", Ty::Map(&Ty::Str)),
        ("CapAdd", Ty::List(&Ty::Str)),
        ("CapDrop", Ty::List(&Ty::Str)),
        ("CgroupnsMode", Ty::Str),
        ("Dns", Ty::List(&Ty::Str)),
        ("DnsOptions", Ty::List(&Ty::Str)),
        ("DnsSearch", Ty::List(&Ty::Str)),
        ("ExtraHosts", Ty::List(&Ty::Str)),
        ("GroupAdd", Ty::List(&Ty::Str)),
        ("IpcMode", Ty::Str),
        ("Cgroup", Ty::Str),
        ("Links", Ty::List(&Ty::Str)),
        ("OomScoreAdj", Ty::Int),
        ("PidMode", Ty::Str),
        ("Privileged", Ty::Bool),
        ("PublishAllPorts", Ty::Bool),
        ("ReadonlyRootfs", Ty::Bool),
        ("SecurityOpt", Ty::List(&Ty::Str)),
        ("StorageOpt", Ty::Map(&Ty::Str)),
        ("Tmpfs", Ty::Map(&Ty::Str)),
        ("UTSMode", Ty::Str),
        ("UsernsMode", Ty::Str),
        ("ShmSize", Ty::Int),
        ("Sysctls", Ty::Map(&Ty::Str)),
        ("Runtime", Ty::Str),
        ("Isolation", Ty::Str),
        ("Mounts", Ty::List(&Ty::Obj(&MOUNT))),
        ("MaskedPaths", Ty::List(&Ty::Str)),
        ("ReadonlyPaths", Ty::List(&Ty::Str)),
        ("Init", Ty::Bool),
    ],
};

/// `network.EndpointIPAMConfig`.
pub static ENDPOINT_IPAM_CONFIG: Obj = Obj {
    name: "IPAMConfig",
    fields: &[
        ("IPv4Address", Ty::Str),
        ("IPv6Address", Ty::Str),
        ("LinkLocalIPs", Ty::List(&Ty::Str)),
    ],
};

/// `network.EndpointSettings` (`NetworkingConfig.EndpointsConfig{}`,
/// `POST /networks/{id}/connect` `EndpointConfig`).
pub static ENDPOINT_SETTINGS: Obj = Obj {
    name: "EndpointSettings",
    fields: &[
        ("IPAMConfig", Ty::Obj(&ENDPOINT_IPAM_CONFIG)),
        ("Links", Ty::List(&Ty::Str)),
        ("Aliases", Ty::List(&Ty::Str)),
        ("MacAddress", Ty::Str),
        ("DriverOpts", Ty::Map(&Ty::Str)),
        ("GwPriority", Ty::Int),
        ("NetworkID", Ty::Str),
        ("EndpointID", Ty::Str),
        ("Gateway", Ty::Str),
        ("IPAddress", Ty::Str),
        ("IPPrefixLen", Ty::Int),
        ("IPv6Gateway", Ty::Str),
        ("GlobalIPv6Address", Ty::Str),
        ("GlobalIPv6PrefixLen", Ty::Int),
        ("DNSNames", Ty::List(&Ty::Str)),
    ],
};

/// `network.NetworkingConfig`.
pub static NETWORKING_CONFIG: Obj = Obj {
    name: "NetworkingConfig",
    fields: &[("EndpointsConfig", Ty::Map(&Ty::Obj(&ENDPOINT_SETTINGS)))],
};

/// `container.Config` alone.
pub static CONTAINER_CONFIG: Obj = Obj {
    name: "Config",
    fields: container_config_fields![],
};

/// Body of `POST /commit`: a `container.Config`.
pub static COMMIT_CONFIG: Obj = Obj {
    name: "Config",
    fields: container_config_fields![],
};

/// Body of `POST /containers/create`: dockerd's `ContainerConfigWrapper`, i.e.
/// `Config` flattened plus `HostConfig`, `NetworkingConfig`, the deprecated `Cpuset`
/// and, through [`spill_of`], the fields of an embedded HostConfig at the top level
/// (read by daemons up to v28; see `merge::apply_create_wrapper`).
pub static CONTAINER_CREATE: Obj = Obj {
    name: "ContainerCreate",
    fields: container_config_fields![
        ("HostConfig", Ty::Obj(&HOST_CONFIG)),
        ("NetworkingConfig", Ty::Obj(&NETWORKING_CONFIG)),
        ("Cpuset", Ty::Str),
    ],
};

/// The struct embedded at the top level of `obj`, whose fields a body may also carry
/// there: the HostConfig of a create body.
pub fn spill_of(obj: &Obj) -> Option<&'static Obj> {
    std::ptr::eq(obj, &CONTAINER_CREATE).then_some(&HOST_CONFIG)
}

/// The field of `obj` that `key` names as Go's `encoding/json` matches it: the exact
/// name, else the field whose name folds equal ([`go_fold_eq`]).
pub fn fold_index(obj: &Obj, key: &str) -> Option<usize> {
    obj.fields
        .iter()
        .position(|(n, _)| *n == key)
        .or_else(|| obj.fields.iter().position(|(n, _)| go_fold_eq(n, key)))
}

/// Body of `POST /containers/{id}/update`: `container.UpdateConfig`.
pub static CONTAINER_UPDATE: Obj = Obj {
    name: "UpdateConfig",
    fields: resources_fields![("RestartPolicy", Ty::Obj(&RESTART_POLICY)),],
};

/// Body of `POST /containers/{id}/exec`: `container.ExecOptions` /
/// `ExecCreateRequest` (`Detach` is gone at HEAD, still marshalled by v28 and 20.10).
pub static EXEC_CREATE: Obj = Obj {
    name: "ExecConfig",
    fields: &[
        ("User", Ty::Str),
        ("Privileged", Ty::Bool),
        ("Tty", Ty::Bool),
        ("ConsoleSize", Ty::List(&Ty::Int)),
        ("AttachStdin", Ty::Bool),
        ("AttachStderr", Ty::Bool),
        ("AttachStdout", Ty::Bool),
        ("Detach", Ty::Bool),
        ("DetachKeys", Ty::Str),
        ("Env", Ty::List(&Ty::Str)),
        ("WorkingDir", Ty::Str),
        ("Cmd", Ty::List(&Ty::Str)),
        // docker-py sends the target container again; dockerd takes it from the path
        // and ignores this key.
        ("Container", Ty::Str),
    ],
};

/// Body of `POST /exec/{id}/start`: `container.ExecStartRequest`.
pub static EXEC_START: Obj = Obj {
    name: "ExecStartConfig",
    fields: &[
        ("Detach", Ty::Bool),
        ("Tty", Ty::Bool),
        ("ConsoleSize", Ty::List(&Ty::Int)),
    ],
};

/// Body of `POST /volumes/create`: `volume.CreateRequest`.
pub static VOLUME_CREATE: Obj = Obj {
    name: "VolumeCreate",
    fields: &[
        ("ClusterVolumeSpec", Ty::Any),
        ("Driver", Ty::Str),
        ("DriverOpts", Ty::Map(&Ty::Str)),
        ("Labels", Ty::Map(&Ty::Str)),
        ("Name", Ty::Str),
    ],
};

/// `network.IPAMConfig` (`AuxAddress` is tagged `AuxiliaryAddresses`).
pub static IPAM_CONFIG: Obj = Obj {
    name: "IPAMConfig",
    fields: &[
        ("Subnet", Ty::Str),
        ("IPRange", Ty::Str),
        ("Gateway", Ty::Str),
        ("AuxiliaryAddresses", Ty::Map(&Ty::Str)),
    ],
};

/// `network.IPAM`.
pub static IPAM: Obj = Obj {
    name: "IPAM",
    fields: &[
        ("Driver", Ty::Str),
        ("Options", Ty::Map(&Ty::Str)),
        ("Config", Ty::List(&Ty::Obj(&IPAM_CONFIG))),
    ],
};

/// `network.ConfigReference`.
pub static NETWORK_CONFIG_REFERENCE: Obj = Obj {
    name: "ConfigFrom",
    fields: &[("Network", Ty::Str)],
};

/// Body of `POST /networks/create`: `network.CreateRequest` (with the v28
/// `CreateOptions` flattened and the deprecated `CheckDuplicate`).
pub static NETWORK_CREATE: Obj = Obj {
    name: "NetworkCreate",
    fields: &[
        ("Name", Ty::Str),
        ("CheckDuplicate", Ty::Bool),
        ("Driver", Ty::Str),
        ("Scope", Ty::Str),
        ("EnableIPv4", Ty::Bool),
        ("EnableIPv6", Ty::Bool),
        ("IPAM", Ty::Obj(&IPAM)),
        ("Internal", Ty::Bool),
        ("Attachable", Ty::Bool),
        ("Ingress", Ty::Bool),
        ("ConfigOnly", Ty::Bool),
        ("ConfigFrom", Ty::Obj(&NETWORK_CONFIG_REFERENCE)),
        ("Options", Ty::Map(&Ty::Str)),
        ("Labels", Ty::Map(&Ty::Str)),
    ],
};

/// Body of `POST /networks/{id}/connect`: `network.ConnectRequest`.
pub static NETWORK_CONNECT: Obj = Obj {
    name: "NetworkConnect",
    fields: &[
        ("Container", Ty::Str),
        ("EndpointConfig", Ty::Obj(&ENDPOINT_SETTINGS)),
    ],
};

/// Body of `POST /networks/{id}/disconnect`: `network.DisconnectRequest`.
pub static NETWORK_DISCONNECT: Obj = Obj {
    name: "NetworkDisconnect",
    fields: &[("Container", Ty::Str), ("Force", Ty::Bool)],
};

// --- Swarm -----------------------------------------------------------------

/// `swarm.SELinuxContext`.
pub static SELINUX_CONTEXT: Obj = Obj {
    name: "SELinuxContext",
    fields: &[
        ("Disable", Ty::Bool),
        ("User", Ty::Str),
        ("Role", Ty::Str),
        ("Type", Ty::Str),
        ("Level", Ty::Str),
    ],
};

/// `swarm.SeccompOpts` (`Profile` is a `[]byte`, base64 in JSON).
pub static SECCOMP_OPTS: Obj = Obj {
    name: "Seccomp",
    fields: &[("Mode", Ty::Str), ("Profile", Ty::Str)],
};

/// `swarm.AppArmorOpts`.
pub static APPARMOR_OPTS: Obj = Obj {
    name: "AppArmor",
    fields: &[("Mode", Ty::Str)],
};

/// `swarm.Privileges`.
pub static PRIVILEGES: Obj = Obj {
    name: "Privileges",
    fields: &[
        ("CredentialSpec", Ty::Any),
        ("SELinuxContext", Ty::Obj(&SELINUX_CONTEXT)),
        ("Seccomp", Ty::Obj(&SECCOMP_OPTS)),
        ("AppArmor", Ty::Obj(&APPARMOR_OPTS)),
        ("NoNewPrivileges", Ty::Bool),
    ],
};

/// `swarm.DNSConfig`.
pub static DNS_CONFIG: Obj = Obj {
    name: "DNSConfig",
    fields: &[
        ("Nameservers", Ty::List(&Ty::Str)),
        ("Search", Ty::List(&Ty::Str)),
        ("Options", Ty::List(&Ty::Str)),
    ],
};

/// `swarm.SecretReferenceFileTarget` / `ConfigReferenceFileTarget`.
pub static REFERENCE_FILE_TARGET: Obj = Obj {
    name: "File",
    fields: &[
        ("Name", Ty::Str),
        ("UID", Ty::Str),
        ("GID", Ty::Str),
        ("Mode", Ty::Int),
    ],
};

/// `swarm.SecretReference`.
pub static SECRET_REFERENCE: Obj = Obj {
    name: "SecretReference",
    fields: &[
        ("File", Ty::Obj(&REFERENCE_FILE_TARGET)),
        ("SecretID", Ty::Str),
        ("SecretName", Ty::Str),
    ],
};

/// `swarm.ConfigReferenceRuntimeTarget`: an empty struct.
pub static CONFIG_REFERENCE_RUNTIME_TARGET: Obj = Obj {
    name: "Runtime",
    fields: &[],
};

/// `swarm.ConfigReference`.
pub static CONFIG_REFERENCE: Obj = Obj {
    name: "ConfigReference",
    fields: &[
        ("File", Ty::Obj(&REFERENCE_FILE_TARGET)),
        ("Runtime", Ty::Obj(&CONFIG_REFERENCE_RUNTIME_TARGET)),
        ("ConfigID", Ty::Str),
        ("ConfigName", Ty::Str),
    ],
};

/// `swarm.ContainerSpec` (`TaskTemplate.ContainerSpec`).
pub static CONTAINER_SPEC: Obj = Obj {
    name: "ContainerSpec",
    fields: &[
        ("Image", Ty::Str),
        ("Labels", Ty::Map(&Ty::Str)),
        ("Command", Ty::List(&Ty::Str)),
        ("Args", Ty::List(&Ty::Str)),
        ("Hostname", Ty::Str),
        ("Env", Ty::List(&Ty::Str)),
        ("Dir", Ty::Str),
        ("User", Ty::Str),
        ("Groups", Ty::List(&Ty::Str)),
        ("Privileges", Ty::Obj(&PRIVILEGES)),
        ("Init", Ty::Bool),
        ("StopSignal", Ty::Str),
        ("TTY", Ty::Bool),
        ("OpenStdin", Ty::Bool),
        ("ReadOnly", Ty::Bool),
        ("Mounts", Ty::List(&Ty::Obj(&MOUNT))),
        ("StopGracePeriod", Ty::Int),
        ("Healthcheck", Ty::Any),
        ("Hosts", Ty::List(&Ty::Str)),
        ("DNSConfig", Ty::Obj(&DNS_CONFIG)),
        ("Secrets", Ty::List(&Ty::Obj(&SECRET_REFERENCE))),
        ("Configs", Ty::List(&Ty::Obj(&CONFIG_REFERENCE))),
        ("Isolation", Ty::Str),
        ("Sysctls", Ty::Map(&Ty::Str)),
        ("CapabilityAdd", Ty::List(&Ty::Str)),
        ("CapabilityDrop", Ty::List(&Ty::Str)),
        ("Ulimits", Ty::List(&Ty::Obj(&ULIMIT))),
        ("OomScoreAdj", Ty::Int),
    ],
};

/// `swarm.Limit` (`Resources.Limits`).
pub static TASK_LIMIT: Obj = Obj {
    name: "Limits",
    fields: &[
        ("NanoCPUs", Ty::Int),
        ("MemoryBytes", Ty::Int),
        ("Pids", Ty::Int),
    ],
};

/// `swarm.NamedGenericResource`.
pub static NAMED_GENERIC_RESOURCE: Obj = Obj {
    name: "NamedResourceSpec",
    fields: &[("Kind", Ty::Str), ("Value", Ty::Str)],
};

/// `swarm.DiscreteGenericResource`.
pub static DISCRETE_GENERIC_RESOURCE: Obj = Obj {
    name: "DiscreteResourceSpec",
    fields: &[("Kind", Ty::Str), ("Value", Ty::Int)],
};

/// `swarm.GenericResource`.
pub static GENERIC_RESOURCE: Obj = Obj {
    name: "GenericResource",
    fields: &[
        ("NamedResourceSpec", Ty::Obj(&NAMED_GENERIC_RESOURCE)),
        ("DiscreteResourceSpec", Ty::Obj(&DISCRETE_GENERIC_RESOURCE)),
    ],
};

/// `swarm.Resources` (`Resources.Reservations`).
pub static TASK_RESERVATIONS: Obj = Obj {
    name: "Reservations",
    fields: &[
        ("NanoCPUs", Ty::Int),
        ("MemoryBytes", Ty::Int),
        ("GenericResources", Ty::List(&Ty::Obj(&GENERIC_RESOURCE))),
    ],
};

/// `swarm.ResourceRequirements` (`TaskTemplate.Resources`).
pub static RESOURCE_REQUIREMENTS: Obj = Obj {
    name: "Resources",
    fields: &[
        ("Limits", Ty::Obj(&TASK_LIMIT)),
        ("Reservations", Ty::Obj(&TASK_RESERVATIONS)),
        ("SwapBytes", Ty::Int),
        ("MemorySwappiness", Ty::Int),
    ],
};

/// `swarm.SpreadOver`.
pub static SPREAD_OVER: Obj = Obj {
    name: "Spread",
    fields: &[("SpreadDescriptor", Ty::Str)],
};

/// `swarm.PlacementPreference`.
pub static PLACEMENT_PREFERENCE: Obj = Obj {
    name: "PlacementPreference",
    fields: &[("Spread", Ty::Obj(&SPREAD_OVER))],
};

/// `swarm.Platform`.
pub static PLATFORM: Obj = Obj {
    name: "Platform",
    fields: &[("Architecture", Ty::Str), ("OS", Ty::Str)],
};

/// `swarm.Placement` (listed in full: constraints steer tasks onto nodes).
pub static PLACEMENT: Obj = Obj {
    name: "Placement",
    fields: &[
        ("Constraints", Ty::List(&Ty::Str)),
        ("Preferences", Ty::List(&Ty::Obj(&PLACEMENT_PREFERENCE))),
        ("MaxReplicas", Ty::Int),
        ("Platforms", Ty::List(&Ty::Obj(&PLATFORM))),
    ],
};

/// `swarm.NetworkAttachmentConfig` (`TaskTemplate.Networks[]`, `ServiceSpec.Networks[]`).
pub static NETWORK_ATTACHMENT_CONFIG: Obj = Obj {
    name: "NetworkAttachmentConfig",
    fields: &[
        ("Target", Ty::Str),
        ("Aliases", Ty::List(&Ty::Str)),
        ("DriverOpts", Ty::Map(&Ty::Str)),
    ],
};

/// `swarm.Driver` (`TaskTemplate.LogDriver`).
pub static LOG_DRIVER: Obj = Obj {
    name: "LogDriver",
    fields: &[("Name", Ty::Str), ("Options", Ty::Map(&Ty::Str))],
};

/// `swarm.TaskSpec` (`ServiceSpec.TaskTemplate`).
pub static TASK_SPEC: Obj = Obj {
    name: "TaskSpec",
    fields: &[
        ("ContainerSpec", Ty::Obj(&CONTAINER_SPEC)),
        // Any non-null PluginSpec is denied by the policy.
        ("PluginSpec", Ty::Any),
        ("NetworkAttachmentSpec", Ty::Any),
        ("Resources", Ty::Obj(&RESOURCE_REQUIREMENTS)),
        ("RestartPolicy", Ty::Any),
        ("Placement", Ty::Obj(&PLACEMENT)),
        ("Networks", Ty::List(&Ty::Obj(&NETWORK_ATTACHMENT_CONFIG))),
        ("LogDriver", Ty::Obj(&LOG_DRIVER)),
        ("ForceUpdate", Ty::Int),
        ("Runtime", Ty::Str),
    ],
};

/// `swarm.PortConfig`.
pub static PORT_CONFIG: Obj = Obj {
    name: "PortConfig",
    fields: &[
        ("Name", Ty::Str),
        ("Protocol", Ty::Str),
        ("TargetPort", Ty::Int),
        ("PublishedPort", Ty::Int),
        ("PublishMode", Ty::Str),
    ],
};

/// `swarm.EndpointSpec`.
pub static ENDPOINT_SPEC: Obj = Obj {
    name: "EndpointSpec",
    fields: &[
        ("Mode", Ty::Str),
        ("Ports", Ty::List(&Ty::Obj(&PORT_CONFIG))),
    ],
};

/// `swarm.UpdateConfig` (also the type of `RollbackConfig`); `Delay` and `Monitor` are
/// Go durations (integer nanoseconds).
pub static UPDATE_CONFIG: Obj = Obj {
    name: "UpdateConfig",
    fields: &[
        ("Parallelism", Ty::Int),
        ("Delay", Ty::Int),
        ("FailureAction", Ty::Str),
        ("Monitor", Ty::Int),
        ("MaxFailureRatio", Ty::Float),
        ("Order", Ty::Str),
    ],
};

/// Body of `POST /services/create` and `POST /services/{id}/update`:
/// `swarm.ServiceSpec` with `Annotations` flattened (`ServiceSpec.Networks` was
/// removed at HEAD; v28 and docker-py still have it).
pub static SERVICE_SPEC: Obj = Obj {
    name: "ServiceSpec",
    fields: &[
        ("Name", Ty::Str),
        ("Labels", Ty::Map(&Ty::Str)),
        ("TaskTemplate", Ty::Obj(&TASK_SPEC)),
        ("Mode", Ty::Any),
        ("UpdateConfig", Ty::Obj(&UPDATE_CONFIG)),
        ("RollbackConfig", Ty::Obj(&UPDATE_CONFIG)),
        ("Networks", Ty::List(&Ty::Obj(&NETWORK_ATTACHMENT_CONFIG))),
        ("EndpointSpec", Ty::Obj(&ENDPOINT_SPEC)),
    ],
};

// ---------------------------------------------------------------------------
// Validator.
// ---------------------------------------------------------------------------

/// Why a body does not fit its schema; the message names the JSON path (e.g. `HostConfig.Binds[2]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// JSON path of the offending value or key; empty for the body itself.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for SchemaError {}

/// Check `value` against `ty` and return the normalised value to evaluate and forward.
///
/// - Object keys (for [`Ty::Obj`]) name a listed field as Go matches them (exact,
///   else folded) and come out canonical; any other key is refused as unknown. This
///   reference does not merge: a field named twice, and the create wrapper's
///   top-level HostConfig fields, are refused with [`REFERENCE_UNMODELLED`].
/// - `null` is accepted for any struct field, and the field is then removed from the
///   normalised object (Go treats `null` as "leave unset"). Inside map values and
///   list elements, and for the body itself, `null` is kept as is.
/// - Scalars must match exactly: `Bool` only `true`/`false`; `Int` only a number
///   that is an integer literal within i64/u64; `Float` any number; `Str` only strings.
/// - `Any` subtrees are returned unchanged.
///
/// Duplicate keys must already have been refused by
/// the parser that produced `value`.
pub fn normalise(value: Value, ty: &Ty) -> Result<Value, SchemaError> {
    let mut path = String::new();
    check(value, ty, &mut path)
}

fn check(value: Value, ty: &Ty, path: &mut String) -> Result<Value, SchemaError> {
    if value.is_null() {
        return Ok(value);
    }
    match ty {
        Ty::Any => Ok(value),
        Ty::Bool => match value {
            Value::Bool(_) => Ok(value),
            other => Err(mismatch(path, "a boolean", &other)),
        },
        Ty::Int => match value {
            Value::Number(ref n) if n.is_i64() || n.is_u64() => Ok(value),
            other => Err(mismatch(path, "an integer", &other)),
        },
        Ty::Float => match value {
            Value::Number(_) => Ok(value),
            other => Err(mismatch(path, "a number", &other)),
        },
        Ty::Str => match value {
            Value::String(_) => Ok(value),
            other => Err(mismatch(path, "a string", &other)),
        },
        Ty::List(elem) => match value {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    out.push(check(item, elem, path)?);
                    path.truncate(len);
                }
                Ok(Value::Array(out))
            }
            other => Err(mismatch(path, "an array", &other)),
        },
        Ty::Map(elem) => match value {
            Value::Object(entries) => {
                let mut out = Map::new();
                for (key, item) in entries {
                    let len = path.len();
                    path.push('[');
                    path.push_str(&quote(&key));
                    path.push(']');
                    let item = check(item, elem, path)?;
                    path.truncate(len);
                    out.insert(key, item);
                }
                Ok(Value::Object(out))
            }
            other => Err(mismatch(path, "an object", &other)),
        },
        Ty::Obj(obj) => match value {
            Value::Object(entries) => check_obj(entries, obj, path),
            other => Err(mismatch(path, &format!("an object ({})", obj.name), &other)),
        },
    }
}

/// The start of the message with which [`normalise`] refuses what only the one-pass
/// reader models (repeated fields, dockerd's create wrapper).
pub const REFERENCE_UNMODELLED: &str = "not modelled by the reference";

fn check_obj(
    entries: Map<String, Value>,
    obj: &Obj,
    path: &mut String,
) -> Result<Value, SchemaError> {
    let mut out = Map::new();
    for (key, item) in entries {
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(&key);
        if item.is_null() {
            // `null` under any key is a no-op for dockerd (unknown keys are ignored,
            // null leaves a field as it is) and the key is not forwarded: drop it.
            // docker-py sends `"NetworkingConfig": {"<network>": null}`.
            path.truncate(len);
            continue;
        }
        let Some((name, ty)) = fold_index(obj, &key).map(|i| &obj.fields[i]) else {
            let message = match spill_of(obj).and_then(|inner| fold_index(inner, &key)) {
                Some(_) => format!("{REFERENCE_UNMODELLED}: a top-level HostConfig field"),
                None => format!("unknown field {} in {}", quote(&key), obj.name),
            };
            return Err(SchemaError {
                path: path.clone(),
                message,
            });
        };
        if out.contains_key(*name) || (*name == "Cpuset" && spill_of(obj).is_some()) {
            return Err(SchemaError {
                path: path.clone(),
                message: format!("{REFERENCE_UNMODELLED}: a repeated field or Cpuset"),
            });
        }
        if !item.is_null() {
            let item = check(item, ty, path)?;
            out.insert((*name).to_owned(), item);
        }
        path.truncate(len);
    }
    Ok(Value::Object(out))
}

fn mismatch(path: &str, expected: &str, got: &Value) -> SchemaError {
    let got = match got {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(_) => "a string".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    };
    SchemaError {
        path: path.to_owned(),
        message: format!("expected {expected}, got {got}"),
    }
}

/// A key quoted as a JSON string, so control characters cannot garble messages.
pub(crate) fn quote(key: &str) -> String {
    Value::String(key.to_owned()).to_string()
}

/// Key matching as Go's `encoding/json` (`fold.go` `foldName`): each character is
/// mapped to `unicode.ToUpper(unicode.ToLower(r))` (ASCII: upper case) and the results
/// compared. Field names are ASCII, so the only other characters that can match are
/// U+017F (ſ) ≡ S, U+212A (Kelvin sign) ≡ K and U+0130 (İ), U+0131 (ı) ≡ I. (İ and ı
/// match from Go 1.21; an older daemon ignores such a key, while Portcullis forwards it
/// under the canonical name, checked: the daemon then does what the policy allowed.)
pub(crate) fn go_fold_eq(a: &str, b: &str) -> bool {
    fn fold(c: char) -> char {
        match c {
            '\u{017F}' => 'S',
            '\u{212A}' => 'K',
            '\u{0130}' | '\u{0131}' => 'I',
            c => c.to_ascii_uppercase(),
        }
    }
    a.chars().map(fold).eq(b.chars().map(fold))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(body: Value, ty: &Ty) -> SchemaError {
        normalise(body, ty).expect_err("body should be refused")
    }

    /// `docker run -d --name x -p 8080:80 -v vol:/data --tmpfs /t img sh` as the
    /// docker CLI v28 marshals `container.CreateRequest` (API 1.51).
    fn cli_v28_create() -> Value {
        serde_json::from_str(
            r#"{
            "Hostname": "",
            "Domainname": "",
            "User": "",
            "AttachStdin": false,
            "AttachStdout": false,
            "AttachStderr": false,
            "ExposedPorts": {"80/tcp": {}},
            "Tty": false,
            "OpenStdin": false,
            "StdinOnce": false,
            "Env": [],
            "Cmd": ["sh"],
            "Image": "img",
            "Volumes": {},
            "WorkingDir": "",
            "Entrypoint": null,
            "OnBuild": null,
            "Labels": {},
            "HostConfig": {
                "Binds": ["vol:/data"],
                "ContainerIDFile": "",
                "LogConfig": {"Type": "", "Config": {}},
                "NetworkMode": "default",
                "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
                "AutoRemove": false,
                "VolumeDriver": "",
                "VolumesFrom": null,
                "ConsoleSize": [0, 0],
                "CapAdd": null,
                "CapDrop": null,
                "CgroupnsMode": "",
                "Dns": [],
                "DnsOptions": [],
                "DnsSearch": [],
                "ExtraHosts": null,
                "GroupAdd": null,
                "IpcMode": "",
                "Cgroup": "",
                "Links": null,
                "OomScoreAdj": 0,
                "PidMode": "",
                "Privileged": false,
                "PublishAllPorts": false,
                "ReadonlyRootfs": false,
                "SecurityOpt": null,
                "Tmpfs": {"/t": ""},
                "UTSMode": "",
                "UsernsMode": "",
                "ShmSize": 0,
                "Isolation": "",
                "CpuShares": 0,
                "Memory": 0,
                "NanoCpus": 0,
                "CgroupParent": "",
                "BlkioWeight": 0,
                "BlkioWeightDevice": [],
                "BlkioDeviceReadBps": [],
                "BlkioDeviceWriteBps": [],
                "BlkioDeviceReadIOps": [],
                "BlkioDeviceWriteIOps": [],
                "CpuPeriod": 0,
                "CpuQuota": 0,
                "CpuRealtimePeriod": 0,
                "CpuRealtimeRuntime": 0,
                "CpusetCpus": "",
                "CpusetMems": "",
                "Devices": [],
                "DeviceCgroupRules": null,
                "DeviceRequests": null,
                "MemoryReservation": 0,
                "MemorySwap": 0,
                "MemorySwappiness": null,
                "OomKillDisable": false,
                "PidsLimit": null,
                "Ulimits": [],
                "CpuCount": 0,
                "CpuPercent": 0,
                "IOMaximumIOps": 0,
                "IOMaximumBandwidth": 0,
                "MaskedPaths": null,
                "ReadonlyPaths": null
            },
            "NetworkingConfig": {
                "EndpointsConfig": {
                    "default": {
                        "IPAMConfig": null,
                        "Links": null,
                        "Aliases": null,
                        "MacAddress": "",
                        "DriverOpts": null,
                        "GwPriority": 0,
                        "NetworkID": "",
                        "EndpointID": "",
                        "Gateway": "",
                        "IPAddress": "",
                        "IPPrefixLen": 0,
                        "IPv6Gateway": "",
                        "GlobalIPv6Address": "",
                        "GlobalIPv6PrefixLen": 0,
                        "DNSNames": null
                    }
                }
            }
        }"#,
        )
        .unwrap()
    }

    #[test]
    fn docker_cli_v28_create_body_is_accepted() {
        let out = normalise(cli_v28_create(), &Ty::Obj(&CONTAINER_CREATE)).unwrap();
        let hc = &out["HostConfig"];
        assert_eq!(hc["Binds"], json!(["vol:/data"]));
        assert_eq!(hc["Tmpfs"], json!({"/t": ""}));
        assert_eq!(hc["PortBindings"]["80/tcp"][0]["HostPort"], json!("8080"));
        // null fields are removed, others kept.
        assert!(hc.get("VolumesFrom").is_none());
        assert!(hc.get("MaskedPaths").is_none());
        assert!(out.get("Entrypoint").is_none());
        assert_eq!(hc["Dns"], json!([]));
        let ep = &out["NetworkingConfig"]["EndpointsConfig"]["default"];
        assert!(ep.get("IPAMConfig").is_none());
        assert_eq!(ep["MacAddress"], json!(""));
        // every non-null top-level field is kept
        assert_eq!(out["Hostname"], json!(""));
        assert!(out.get("NetworkingConfig").is_some());
    }

    /// docker-py 5.0.3 `containers.run("alpine", "sleep 1", detach=True, name="x",
    /// ports={"80/tcp": 8080}, volumes={"vol": {"bind": "/data", "mode": "rw"}}, ...)`
    /// as compose 1.29 sends it (top-level `None`s are dropped by `_post_json`).
    #[test]
    fn docker_py_5_create_body_is_accepted() {
        let body = json!({
            "Tty": false,
            "OpenStdin": false,
            "StdinOnce": false,
            "AttachStdin": false,
            "AttachStdout": false,
            "AttachStderr": false,
            "Env": ["A=b"],
            "Cmd": ["sleep", "1"],
            "Image": "alpine",
            "Volumes": {"/data": {}},
            "NetworkDisabled": false,
            "Labels": {"com.docker.compose.project": "p"},
            "ExposedPorts": {"80/tcp": {}},
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000},
            "MacAddress": "02:42:ac:11:00:02",
            "StopTimeout": 10,
            "HostConfig": {
                "NetworkMode": "default",
                "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                "Binds": ["vol:/data:rw"],
                "Links": [],
                "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m"}},
                "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
                "Memory": 536870912,
                "KernelMemory": 0,
                "Init": true,
                "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
                "Mounts": [{
                    "Target": "/cache", "Source": "cachevol", "Type": "volume",
                    "ReadOnly": false,
                    "VolumeOptions": {"NoCopy": true, "Labels": {}, "DriverConfig": {"Name": "local", "Options": {}}}
                }],
                "Sysctls": {"net.core.somaxconn": "1024"}
            },
            "NetworkingConfig": {
                "EndpointsConfig": {
                    "p_default": {"Aliases": ["web"], "IPAMConfig": {"IPv4Address": "172.20.0.5"}}
                }
            }
        });
        let out = normalise(body.clone(), &Ty::Obj(&CONTAINER_CREATE)).unwrap();
        assert_eq!(out, body);
    }

    #[test]
    fn folded_spellings_are_read_as_the_field() {
        let create = Ty::Obj(&CONTAINER_CREATE);
        for body in [
            json!({"Image": "x", "HostConfig": {"privileged": true}}),
            json!({"image": "x", "HOSTCONFIG": {"PRIVILEGED": true}}),
            json!({"Image": "x", "Ho\u{017F}tConfig": {"Privileged": true}}),
            json!({"Image": "x", "hostconfig": {"Pr\u{0131}vileged": true}}),
        ] {
            let out = normalise(body.clone(), &create).unwrap();
            assert_eq!(
                out,
                json!({"Image": "x", "HostConfig": {"Privileged": true}}),
                "{body}"
            );
        }
        let out = normalise(json!({"HostConfig": {"Lin\u{212A}s": ["a:b"]}}), &create).unwrap();
        assert_eq!(out, json!({"HostConfig": {"Links": ["a:b"]}}));
        // Two spellings of one field: the reference leaves merging to the reader.
        let e = err(json!({"Image": "x", "image": "y"}), &create);
        assert!(e.message.starts_with(REFERENCE_UNMODELLED), "{e}");
        // Map keys are data: never folded.
        let out = normalise(json!({"Labels": {"a": "1", "A": "2"}}), &create).unwrap();
        assert_eq!(out, json!({"Labels": {"a": "1", "A": "2"}}));
    }

    #[test]
    fn unknown_key_is_refused() {
        let e = err(
            json!({"HostConfig": {"Binds": [], "Bogus": 1}}),
            &Ty::Obj(&CONTAINER_CREATE),
        );
        assert_eq!(e.path, "HostConfig.Bogus");
        assert_eq!(e.message, "unknown field \"Bogus\" in HostConfig");
    }

    #[test]
    fn top_level_host_config_field_is_left_to_the_reader() {
        let e = err(
            json!({"Image": "x", "Privileged": true}),
            &Ty::Obj(&CONTAINER_CREATE),
        );
        assert_eq!(e.path, "Privileged");
        assert!(e.message.starts_with(REFERENCE_UNMODELLED), "{e}");
        let e = err(
            json!({"Image": "x", "Bogus": true}),
            &Ty::Obj(&CONTAINER_CREATE),
        );
        assert_eq!(e.message, "unknown field \"Bogus\" in ContainerCreate");
    }

    #[test]
    fn scalar_types_are_strict() {
        let create = Ty::Obj(&CONTAINER_CREATE);
        let e = err(json!({"HostConfig": {"Privileged": "true"}}), &create);
        assert_eq!(e.path, "HostConfig.Privileged");
        assert_eq!(e.message, "expected a boolean, got a string");
        let e = err(json!({"HostConfig": {"Privileged": 1}}), &create);
        assert_eq!(e.message, "expected a boolean, got the number 1");
        let e = err(json!({"HostConfig": {"Memory": 1.5}}), &create);
        assert_eq!(
            e.to_string(),
            "HostConfig.Memory: expected an integer, got the number 1.5"
        );
        let e = err(json!({"HostConfig": {"Memory": 1e9}}), &create);
        assert_eq!(e.path, "HostConfig.Memory");
        let e = err(json!({"HostConfig": {"Memory": "1000"}}), &create);
        assert_eq!(e.message, "expected an integer, got a string");
        let big: Value =
            serde_json::from_str(r#"{"HostConfig":{"Memory":99999999999999999999}}"#).unwrap();
        assert!(normalise(big, &create).is_err());
        let ok: Value = serde_json::from_str(
            r#"{"HostConfig":{"IOMaximumBandwidth":18446744073709551615,"OomScoreAdj":-500}}"#,
        )
        .unwrap();
        assert!(normalise(ok, &create).is_ok());
        let e = err(
            json!({"HostConfig": {"Binds": ["a:/a", "b:/b", 3]}}),
            &create,
        );
        assert_eq!(e.path, "HostConfig.Binds[2]");
        assert_eq!(e.message, "expected a string, got the number 3");
        let e = err(json!({"HostConfig": {"Sysctls": {"net.x": 1}}}), &create);
        assert_eq!(e.path, "HostConfig.Sysctls[\"net.x\"]");
        let e = err(json!({"HostConfig": []}), &create);
        assert_eq!(e.message, "expected an object (HostConfig), got an array");
        let e = err(
            json!({"HostConfig": {"Mounts": [{"Type": "bind", "bindoptions": 1}]}}),
            &create,
        );
        assert_eq!(e.path, "HostConfig.Mounts[0].bindoptions");
    }

    #[test]
    fn null_fields_are_removed_but_kept_in_maps_and_lists() {
        let body = json!({
            "Image": null,
            "HostConfig": {"PidMode": null, "Privileged": false, "Binds": ["a:/a", null]},
            "Labels": {"k": null},
            "NetworkingConfig": {"EndpointsConfig": {"n": null}}
        });
        let out = normalise(body, &Ty::Obj(&CONTAINER_CREATE)).unwrap();
        assert_eq!(
            out,
            json!({
                "HostConfig": {"Privileged": false, "Binds": ["a:/a", null]},
                "Labels": {"k": null},
                "NetworkingConfig": {"EndpointsConfig": {"n": null}}
            })
        );
        // `HostConfig: null` leaves no HostConfig to evaluate.
        let out = normalise(json!({"HostConfig": null}), &Ty::Obj(&CONTAINER_CREATE)).unwrap();
        assert_eq!(out, json!({}));
        assert_eq!(
            normalise(Value::Null, &Ty::Obj(&COMMIT_CONFIG)).unwrap(),
            Value::Null
        );
        // a null under a key that is no field is a no-op for dockerd: dropped, not
        // forwarded (docker-py sends `"NetworkingConfig": {"net": null}`)
        assert_eq!(
            normalise(
                json!({"Privileged": null, "Image": "x"}),
                &Ty::Obj(&CONTAINER_CREATE)
            )
            .unwrap(),
            json!({"Image": "x"})
        );
        // but a non-null unknown key is still refused
        assert!(normalise(json!({"Privileged": false}), &Ty::Obj(&CONTAINER_CREATE)).is_err());
    }

    #[test]
    fn any_is_returned_unchanged() {
        let body = json!({"Cmd": "sh -c 'x'", "Entrypoint": ["a", null], "Healthcheck": {"whatever": [1.5]}});
        assert_eq!(
            normalise(body.clone(), &Ty::Obj(&CONTAINER_CREATE)).unwrap(),
            body
        );
    }

    /// `docker service create --name s --mount type=volume,src=v,dst=/d img`
    /// as the docker CLI v28 marshals `swarm.ServiceSpec`.
    #[test]
    fn docker_cli_v28_service_create_is_accepted() {
        let body = json!({
            "Name": "s",
            "Labels": {},
            "TaskTemplate": {
                "ContainerSpec": {
                    "Image": "img:latest@sha256:4bcff63911fcb4448bd4fdacec207030997caf25e9bea4045fa6c8c44de311d1",
                    "Init": false,
                    "StopGracePeriod": 10000000000u64,
                    "Mounts": [{
                        "Type": "volume",
                        "Source": "v",
                        "Target": "/d",
                        "VolumeOptions": {}
                    }],
                    "DNSConfig": {},
                    "Isolation": "default"
                },
                "Resources": {"Limits": {}, "Reservations": {}},
                "RestartPolicy": {"Condition": "any", "Delay": 5000000000u64, "MaxAttempts": 0},
                "Placement": {},
                "ForceUpdate": 0,
                "Runtime": "container"
            },
            "Mode": {"Replicated": {"Replicas": 1}},
            "UpdateConfig": {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5000000000u64, "MaxFailureRatio": 0, "Order": "stop-first"},
            "RollbackConfig": {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5000000000u64, "MaxFailureRatio": 0, "Order": "stop-first"},
            "EndpointSpec": {"Mode": "vip"}
        });
        let out = normalise(body.clone(), &Ty::Obj(&SERVICE_SPEC)).unwrap();
        assert_eq!(out, body);

        let hostile = json!({
            "Name": "s",
            "TaskTemplate": {
                "ContainerSpec": {
                    "Image": "img",
                    "CapabilityAdd": ["ALL"],
                    "Privileges": {
                        "CredentialSpec": null,
                        "SELinuxContext": null,
                        "Seccomp": {"Mode": "unconfined"},
                        "AppArmor": {"Mode": "disabled"},
                        "NoNewPrivileges": false
                    },
                    "Mounts": [{"Type": "bind", "Source": "/", "Target": "/host"}]
                },
                "Networks": [{"Target": "host"}],
                "LogDriver": {"Name": "syslog", "Options": {"syslog-address": "tcp://127.0.0.1:1"}}
            },
            "EndpointSpec": {"Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 80, "PublishMode": "host"}]}
        });
        let out = normalise(hostile, &Ty::Obj(&SERVICE_SPEC)).unwrap();
        let privs = &out["TaskTemplate"]["ContainerSpec"]["Privileges"];
        assert!(privs.get("SELinuxContext").is_none());
        assert_eq!(privs["Seccomp"]["Mode"], json!("unconfined"));

        let out = normalise(
            json!({"TaskTemplate": {"ContainerSpec": {"Privileges": {"seccomp": {}}}}}),
            &Ty::Obj(&SERVICE_SPEC),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"TaskTemplate": {"ContainerSpec": {"Privileges": {"Seccomp": {}}}}})
        );
    }

    #[test]
    fn other_bodies() {
        let exec = json!({
            "User": "", "Privileged": false, "Tty": true, "ConsoleSize": [24, 80],
            "AttachStdin": true, "AttachStderr": true, "AttachStdout": true,
            "Detach": false, "DetachKeys": "", "Env": null, "WorkingDir": "", "Cmd": ["sh"]
        });
        assert!(normalise(exec, &Ty::Obj(&EXEC_CREATE)).is_ok());
        let out = normalise(
            json!({"privileged": true, "Cmd": ["sh"], "detachKeys": "ctrl-x"}),
            &Ty::Obj(&EXEC_CREATE),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"Privileged": true, "Cmd": ["sh"], "DetachKeys": "ctrl-x"})
        );
        assert!(normalise(
            json!({"Detach": false, "Tty": true, "ConsoleSize": [24, 80]}),
            &Ty::Obj(&EXEC_START)
        )
        .is_ok());
        assert!(normalise(
            json!({"Name": "v", "Driver": "local", "DriverOpts": {"type": "none", "o": "bind", "device": "/etc"}, "Labels": {}}),
            &Ty::Obj(&VOLUME_CREATE)
        ).is_ok());
        let out = normalise(
            json!({"driveropts": {"Type": "x"}}),
            &Ty::Obj(&VOLUME_CREATE),
        );
        assert_eq!(out.unwrap(), json!({"DriverOpts": {"Type": "x"}}));
        assert!(normalise(
            json!({"Name": "n", "CheckDuplicate": true, "Driver": "bridge", "Scope": "", "EnableIPv6": false,
                   "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"}]},
                   "Internal": false, "Attachable": false, "Ingress": false, "ConfigOnly": false,
                   "ConfigFrom": null, "Options": {}, "Labels": {"com.docker.compose.network": "default"}}),
            &Ty::Obj(&NETWORK_CREATE)
        ).is_ok());
        assert!(normalise(
            json!({"Container": "c", "EndpointConfig": {"Aliases": ["a"], "DriverOpts": {}}}),
            &Ty::Obj(&NETWORK_CONNECT)
        )
        .is_ok());
        assert!(normalise(
            json!({"Container": "c", "Force": false}),
            &Ty::Obj(&NETWORK_DISCONNECT)
        )
        .is_ok());
        assert!(normalise(
            json!({"BlkioWeight": 0, "CpuShares": 512, "Memory": 0, "PidsLimit": null,
                   "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0}}),
            &Ty::Obj(&CONTAINER_UPDATE)
        )
        .is_ok());
        let e = err(json!({"Privileged": true}), &Ty::Obj(&CONTAINER_UPDATE));
        assert_eq!(e.message, "unknown field \"Privileged\" in UpdateConfig");
        assert!(normalise(
            json!({"Cmd": ["sh"], "Env": ["A=1"], "WorkingDir": "/w"}),
            &Ty::Obj(&COMMIT_CONFIG)
        )
        .is_ok());
        let e = err(json!({"HostConfig": {}}), &Ty::Obj(&COMMIT_CONFIG));
        assert_eq!(e.message, "unknown field \"HostConfig\" in Config");
    }

    #[test]
    fn go_folding() {
        assert!(go_fold_eq("HostConfig", "HOSTCONFIG"));
        assert!(go_fold_eq("HostConfig", "Ho\u{017F}tConfig"));
        assert!(go_fold_eq("Links", "Lin\u{212A}s"));
        assert!(go_fold_eq("Privileged", "Pr\u{0131}vileged"));
        assert!(!go_fold_eq("Privileged", "Privilege"));
        assert!(!go_fold_eq("Binds", "Bind\u{00DF}"));
    }

    #[test]
    fn field_names_are_unique_per_object() {
        let all: &[&Obj] = &[
            &CONTAINER_CREATE,
            &HOST_CONFIG,
            &CONTAINER_CONFIG,
            &COMMIT_CONFIG,
            &CONTAINER_UPDATE,
            &MOUNT,
            &ENDPOINT_SETTINGS,
            &EXEC_CREATE,
            &EXEC_START,
            &VOLUME_CREATE,
            &NETWORK_CREATE,
            &NETWORK_CONNECT,
            &NETWORK_DISCONNECT,
            &SERVICE_SPEC,
            &TASK_SPEC,
            &CONTAINER_SPEC,
            &PRIVILEGES,
        ];
        for obj in all {
            for (i, (a, _)) in obj.fields.iter().enumerate() {
                for (b, _) in &obj.fields[i + 1..] {
                    assert!(!go_fold_eq(a, b), "{}: {a} / {b}", obj.name);
                }
            }
        }
        assert_eq!(HOST_CONFIG.fields.len(), 40 + 31);
        assert_eq!(CONTAINER_CREATE.fields.len(), 25 + 3);
        // The top-level HostConfig fields share the create body with Config's: no
        // spelling may name both (Go would hide both).
        for (a, _) in CONTAINER_CREATE.fields {
            for (b, _) in HOST_CONFIG.fields {
                assert!(!go_fold_eq(a, b), "{a} / {b}");
            }
        }
    }
}
