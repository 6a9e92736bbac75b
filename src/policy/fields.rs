//! The body fields the rules read, named once and checked against the body schema
//! (`docker::schema`): each module below lists the fields of one Go struct, and a
//! unit test per module fails when a name is not a field of that struct, so a
//! misspelt key fails a test instead of silently disabling a rule. The accessors take
//! only a [`Field`], so every key a rule reads is declared here.

use crate::docker::json::Json;
#[cfg(test)]
use crate::docker::schema::Obj;

/// A field of a body struct, by its canonical (Go JSON) name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field(pub &'static str);

impl Field {
    pub fn name(self) -> &'static str {
        self.0
    }
}

macro_rules! fields {
    ($( $(#[$doc:meta])* $module:ident of $schema:path { $( $c:ident = $name:literal ),* $(,)? } )*) => {
        $(
            $(#[$doc])*
            pub mod $module {
                use super::Field;
                $( pub const $c: Field = Field($name); )*

                #[cfg(test)]
                #[test]
                fn names_are_fields_of_the_schema() {
                    super::assert_in_schema(&[ $( $c ),* ], &$schema);
                }
            }
        )*
    };
}

fields! {
    /// `POST /containers/create` (`container.CreateRequest`).
    container_create of crate::docker::schema::CONTAINER_CREATE {
        IMAGE = "Image", WORKING_DIR = "WorkingDir", HOST_CONFIG = "HostConfig",
        NETWORKING_CONFIG = "NetworkingConfig",
    }
    /// `network.NetworkingConfig`.
    networking_config of crate::docker::schema::NETWORKING_CONFIG { ENDPOINTS_CONFIG = "EndpointsConfig" }
    /// `container.HostConfig` (create bodies and the `HostConfig` of an inspect answer).
    host_config of crate::docker::schema::HOST_CONFIG {
        PRIVILEGED = "Privileged", CAP_ADD = "CapAdd", CAP_DROP = "CapDrop", BINDS = "Binds",
        VOLUME_DRIVER = "VolumeDriver", MOUNTS = "Mounts", VOLUMES_FROM = "VolumesFrom",
        DEVICES = "Devices", DEVICE_CGROUP_RULES = "DeviceCgroupRules",
        DEVICE_REQUESTS = "DeviceRequests", NETWORK_MODE = "NetworkMode", PID_MODE = "PidMode",
        IPC_MODE = "IpcMode", UTS_MODE = "UTSMode", USERNS_MODE = "UsernsMode",
        CGROUPNS_MODE = "CgroupnsMode", CGROUP = "Cgroup", SECURITY_OPT = "SecurityOpt",
        MASKED_PATHS = "MaskedPaths", READONLY_PATHS = "ReadonlyPaths", SYSCTLS = "Sysctls",
        RUNTIME = "Runtime", CGROUP_PARENT = "CgroupParent", LOG_CONFIG = "LogConfig",
        LINKS = "Links", MEMORY = "Memory", NANO_CPUS = "NanoCpus", PIDS_LIMIT = "PidsLimit",
    }
    /// `POST /containers/{id}/update` (`container.UpdateConfig`): the same resources.
    container_update of crate::docker::schema::CONTAINER_UPDATE {
        MEMORY = "Memory", NANO_CPUS = "NanoCpus", PIDS_LIMIT = "PidsLimit",
    }
    /// `mount.Mount` (container and service mounts).
    mount of crate::docker::schema::MOUNT {
        TYPE = "Type", SOURCE = "Source", BIND_OPTIONS = "BindOptions",
        VOLUME_OPTIONS = "VolumeOptions",
    }
    /// `mount.BindOptions`.
    bind_options of crate::docker::schema::BIND_OPTIONS { PROPAGATION = "Propagation" }
    /// `mount.VolumeOptions`.
    volume_options of crate::docker::schema::VOLUME_OPTIONS { DRIVER_CONFIG = "DriverConfig" }
    /// `mount.Driver`.
    mount_driver of crate::docker::schema::MOUNT_DRIVER { NAME = "Name", OPTIONS = "Options" }
    /// `container.LogConfig`.
    log_config of crate::docker::schema::LOG_CONFIG { TYPE = "Type", CONFIG = "Config" }
    /// `POST /containers/{id}/exec`.
    exec_create of crate::docker::schema::EXEC_CREATE { PRIVILEGED = "Privileged", WORKING_DIR = "WorkingDir" }
    /// `POST /commit` (a `container.Config`).
    commit of crate::docker::schema::COMMIT_CONFIG { WORKING_DIR = "WorkingDir" }
    /// `POST /volumes/create`.
    volume_create of crate::docker::schema::VOLUME_CREATE { DRIVER = "Driver", DRIVER_OPTS = "DriverOpts" }
    /// `POST /networks/create`.
    network_create of crate::docker::schema::NETWORK_CREATE {
        DRIVER = "Driver", OPTIONS = "Options", INGRESS = "Ingress", IPAM = "IPAM",
        CONFIG_FROM = "ConfigFrom",
    }
    /// `network.IPAM`.
    ipam of crate::docker::schema::IPAM { CONFIG = "Config" }
    /// `network.IPAMConfig`.
    ipam_config of crate::docker::schema::IPAM_CONFIG {
        SUBNET = "Subnet", IP_RANGE = "IPRange", GATEWAY = "Gateway",
        AUXILIARY_ADDRESSES = "AuxiliaryAddresses",
    }
    /// `POST /networks/{id}/connect`.
    network_connect of crate::docker::schema::NETWORK_CONNECT { CONTAINER = "Container" }
    /// `POST /networks/{id}/disconnect`.
    network_disconnect of crate::docker::schema::NETWORK_DISCONNECT { CONTAINER = "Container" }
    /// `swarm.ServiceSpec`.
    service_spec of crate::docker::schema::SERVICE_SPEC {
        TASK_TEMPLATE = "TaskTemplate", NETWORKS = "Networks", UPDATE_CONFIG = "UpdateConfig",
    }
    /// `swarm.TaskSpec`.
    task_spec of crate::docker::schema::TASK_SPEC {
        PLUGIN_SPEC = "PluginSpec", RUNTIME = "Runtime", LOG_DRIVER = "LogDriver",
        NETWORKS = "Networks", CONTAINER_SPEC = "ContainerSpec", RESOURCES = "Resources",
    }
    /// `swarm.Driver` (`TaskTemplate.LogDriver`).
    log_driver of crate::docker::schema::LOG_DRIVER { NAME = "Name", OPTIONS = "Options" }
    /// `swarm.NetworkAttachmentConfig`.
    network_attachment of crate::docker::schema::NETWORK_ATTACHMENT_CONFIG { TARGET = "Target" }
    /// `swarm.ContainerSpec`.
    container_spec of crate::docker::schema::CONTAINER_SPEC {
        IMAGE = "Image", DIR = "Dir", MOUNTS = "Mounts", CAPABILITY_ADD = "CapabilityAdd",
        CAPABILITY_DROP = "CapabilityDrop", SYSCTLS = "Sysctls", PRIVILEGES = "Privileges",
    }
    /// `swarm.Privileges`.
    privileges of crate::docker::schema::PRIVILEGES {
        SELINUX_CONTEXT = "SELinuxContext", SECCOMP = "Seccomp", APPARMOR = "AppArmor",
    }
    /// `swarm.SELinuxContext`.
    selinux_context of crate::docker::schema::SELINUX_CONTEXT {
        DISABLE = "Disable", TYPE = "Type", USER = "User", ROLE = "Role", LEVEL = "Level",
    }
    /// `swarm.SeccompOpts`.
    seccomp of crate::docker::schema::SECCOMP_OPTS { MODE = "Mode" }
    /// `swarm.AppArmorOpts`.
    apparmor of crate::docker::schema::APPARMOR_OPTS { MODE = "Mode" }
    /// `swarm.ResourceRequirements`.
    resource_requirements of crate::docker::schema::RESOURCE_REQUIREMENTS { LIMITS = "Limits" }
    /// `swarm.Limit`.
    task_limit of crate::docker::schema::TASK_LIMIT {
        MEMORY_BYTES = "MemoryBytes", NANO_CPUS = "NanoCPUs", PIDS = "Pids",
    }
    /// `swarm.UpdateConfig`.
    update_config of crate::docker::schema::UPDATE_CONFIG { FAILURE_ACTION = "FailureAction" }
}

#[cfg(test)]
fn assert_in_schema(names: &[Field], obj: &Obj) {
    for f in names {
        assert!(
            obj.fields.iter().any(|(name, _)| *name == f.0),
            "{:?} is not a field of {} in docker::schema",
            f.0,
            obj.name
        );
    }
}

/// The member `field` of an object, if set.
pub fn member<'v, 'a>(v: &'v Json<'a>, field: Field) -> Option<&'v Json<'a>> {
    v.get(field.0)
}

/// A string field; "" when missing or not a string.
pub fn text<'v>(v: &'v Json<'_>, field: Field) -> &'v str {
    v.get(field.0).and_then(Json::as_str).unwrap_or("")
}

/// A boolean field; false when missing.
pub fn flag(v: &Json, field: Field) -> bool {
    v.get(field.0).and_then(Json::as_bool).unwrap_or(false)
}

/// An integer field; 0 when missing.
pub fn integer(v: &Json, field: Field) -> i64 {
    v.get(field.0).and_then(Json::as_i64).unwrap_or(0)
}

/// The strings of a list field.
pub fn texts<'v>(v: &'v Json<'_>, field: Field) -> Vec<&'v str> {
    list(v, field).iter().filter_map(Json::as_str).collect()
}

/// The elements of a list field; empty when missing.
pub fn list<'v, 'a>(v: &'v Json<'a>, field: Field) -> &'v [Json<'a>] {
    v.get(field.0).and_then(Json::as_array).unwrap_or(&[])
}

/// Whether a field is set to something (not missing, null, empty list, map or string).
pub fn is_set(v: &Json, field: Field) -> bool {
    match v.get(field.0) {
        None | Some(Json::Null) => false,
        Some(Json::Array(a)) => !a.is_empty(),
        Some(Json::Object(o)) => !o.is_empty(),
        Some(Json::String(x)) => !x.is_empty(),
        Some(_) => true,
    }
}

/// Whether a field is present and not null (an empty list counts).
pub fn is_present(v: &Json, field: Field) -> bool {
    v.get(field.0).is_some_and(|x| !x.is_null())
}

/// Driver options as `key=value` strings, for checks and messages.
pub fn option_pairs(v: Option<&Json>) -> Vec<String> {
    v.and_then(Json::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default()
}
