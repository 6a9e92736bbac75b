//! The rule catalogue: stable ids, what each blocks, why, the setting, how to comply.
//! The README's rule table is this list.

/// One rule of the catalogue.
pub struct Rule {
    pub id: &'static str,
    pub blocks: &'static str,
    pub why: &'static str,
    pub setting: &'static str,
    pub comply: &'static str,
}

macro_rules! rules {
    ($( $c:ident = $id:literal, $blocks:literal, $why:literal, $setting:literal, $comply:literal; )*) => {
        $( pub const $c: &str = $id; )*
        /// Every rule, in id order.
        pub const ALL: &[Rule] = &[ $( Rule { id: $id, blocks: $blocks, why: $why, setting: $setting, comply: $comply }, )* ];
    };
}

rules! {
    UNKNOWN_ENDPOINT = "PC-0001", "requests that match no Docker API route",
        "what is not understood cannot be checked", "(always on)",
        "use a documented Docker Engine API endpoint";
    ENDPOINT_DENIED = "PC-0002", "whole endpoint groups or operations (plugins, swarm, nodes, checkpoints, BuildKit sessions by default)",
        "cluster and plugin administration is the operator's; BuildKit's h2c streams cannot be inspected",
        "endpoints.deny_groups, deny_operations, allow_operations",
        "ask the operator; for builds use DOCKER_BUILDKIT=0";
    PRIVILEGED = "PC-1001", "--privileged containers",
        "all capabilities, all devices, no seccomp/AppArmor: root on the host",
        "containers.allow_privileged", "remove --privileged; add only the capabilities you need";
    CAP_ADD = "PC-1002", "--cap-add (and service CapabilityAdd) outside the allowlist",
        "SYS_ADMIN, SYS_MODULE, SYS_PTRACE, NET_ADMIN, ALL… break isolation",
        "containers.cap_add_allowed", "drop --cap-add or ask for the capability to be allowlisted";
    CAP_DROP = "PC-1003", "--cap-drop (and service CapabilityDrop)",
        "the operator's default capability set is part of the platform contract",
        "containers.allow_cap_drop", "remove --cap-drop";
    HOST_BIND = "PC-1004", "host bind mounts: -v /host:/ctr, --mount type=bind, service bind mounts",
        "a host path in a container is the host's files, including the docker socket",
        "containers.allow_host_binds, host_path_allowlist, allow_bind_propagation",
        "use a named volume (-v name:/path) or tmpfs";
    VOLUME_OPTIONS = "PC-1005", "volumes whose driver options mount host paths or devices, and non-allowlisted volume drivers",
        "local driver options type/o/device make a named volume a host bind, a disk mount or an NFS/CIFS client of the daemon",
        "containers.allow_volume_driver_options, volume_drivers_allowed",
        "create the volume without driver options";
    VOLUMES_FROM = "PC-1006", "--volumes-from a container whose mounts would be refused, or a protected one",
        "it inherits every mount of the source container, host binds included",
        "containers.volumes_from_allowed", "share a named volume instead";
    DEVICES = "PC-1007", "--device, --device-cgroup-rule, --gpus",
        "raw host devices (disks, /dev/mem) reach around every other control",
        "containers.allow_devices", "remove the device options";
    HOST_NAMESPACE = "PC-1008", "--net=host, --pid=host, --ipc=host, --uts=host, --userns=host, --cgroupns=host, joining a container that uses one, service networks on `host`",
        "the host's network, processes, IPC or user mapping are the host",
        "containers.allow_host_namespaces", "use a user-defined network and the default namespaces";
    PROTECTED_JOIN = "PC-1009", "--net/--pid/--ipc container:<x> (and links) where x is protected",
        "joining a namespace reads the other container's traffic, processes and secrets",
        "protected.name_patterns, protected.labels", "join only your own containers";
    SECURITY_OPT = "PC-1010", "--security-opt seccomp=unconfined, apparmor=…, label=disable / label:…, custom seccomp profiles; service Privileges that do the same",
        "they switch off the confinement that keeps a container in",
        "containers.allow_unconfined_security, allow_custom_seccomp", "keep the default profiles (no-new-privileges is fine)";
    MASKED_PATHS = "PC-1011", "MaskedPaths/ReadonlyPaths overrides (--security-opt systempaths=unconfined)",
        "exposes /proc and /sys paths the runtime masks",
        "containers.allow_masked_paths_override", "remove systempaths=unconfined";
    SYSCTLS = "PC-1012", "--sysctl outside the allowlist",
        "kernel parameters of shared namespaces", "containers.sysctls_allowed (exact names, or prefix*)",
        "remove the --sysctl or ask for it to be allowlisted";
    RUNTIME = "PC-1013", "--runtime outside the allowlist",
        "other runtimes may run without isolation", "containers.runtimes_allowed", "use the default runtime";
    CGROUP_PARENT = "PC-1014", "--cgroup-parent, build cgroupparent",
        "places the container under any host cgroup, escaping limits", "containers.allow_cgroup_parent",
        "remove --cgroup-parent";
    LOG_DRIVER = "PC-1015", "log drivers outside the allowlist (syslog, gelf, fluentd, splunk, awslogs…)",
        "log drivers run in the daemon on the host network and dial any address",
        "containers.log_drivers_allowed", "use json-file or local";
    IMAGE = "PC-1016", "images outside the allowlist",
        "only vetted images run", "containers.image_allowlist (anchored regexes; empty = any)",
        "use an allowlisted image";
    RESOURCES = "PC-1017", "memory, CPU or PIDs limits above the ceiling (or missing when a ceiling is set)",
        "one tenant must not starve the host", "containers.max_memory_bytes, max_nano_cpus, max_pids",
        "set --memory/--cpus/--pids-limit within the ceiling";
    EXEC_PRIVILEGED = "PC-1018", "docker exec --privileged",
        "gives the process every capability", "containers.allow_exec_privileged", "remove --privileged";
    PROTECTED_CONTAINER = "PC-1019", "acting on a protected container: inspecting, reading its logs, processes, changes or stats, starting, waiting on, resizing, removing, stopping, killing, restarting, pausing, renaming, updating, exec'ing into, attaching to, copying from/to, exporting or committing it; removing or updating a protected service",
        "infrastructure containers (swarm-manager, swarm-agent, swarm-data…) hold the platform's secrets",
        "protected.name_patterns, protected.labels", "leave the platform's containers alone";
    MOUNT_TYPE = "PC-1020", "mount types other than volume, tmpfs and (checked) bind: npipe, cluster, image",
        "they reach the host's pipes, cluster volumes or other tenants' images", "(always on)",
        "use volume or tmpfs mounts";
    PROC_WORKDIR = "PC-1021", "a working directory that reaches /proc (also through runc's /dev/fd, /dev/stdin… links or ..), or is relative, on container create, exec, service Dir and commit/import WORKDIR changes; creating a container from an image whose WorkingDir does (and an exec without -w in a container whose WorkingDir does)",
        "WORKDIR /proc/self/fd/N escapes through runc (CVE-2024-21626)", "containers.allow_proc_workdir",
        "use a normal working directory (and images with one)";
    NETWORK_DRIVER = "PC-1022", "network drivers outside the allowlist (macvlan, ipvlan, host…), driver options, ingress networks",
        "they put containers on the host's L2 or change host bridges", "networks.drivers_allowed, allow_driver_options, allow_ingress",
        "create a plain bridge or overlay network";
    NETWORK_HOST = "PC-1023", "connecting a container to the host network",
        "the host network namespace is the host", "containers.allow_host_namespaces",
        "connect to a user-defined network";
    BUILD = "PC-1024", "builds with --network=host or container:…, remote contexts fetched by the daemon",
        "RUN steps on the host network; the daemon fetching URLs is SSRF", "build.allow_host_network, build.allow_remote",
        "build from a local context on the default network";
    IMPORT_URL = "PC-1025", "docker import from a URL (images/create fromSrc=URL)",
        "the daemon fetches any URL from the host: SSRF", "images.allow_import_from_url",
        "import from a local file (docker import file.tar)";
    SERVICE_PLUGIN = "PC-1026", "services with a plugin runtime (TaskTemplate.PluginSpec / Runtime=plugin)",
        "installs a managed plugin with host privileges", "(always on)", "run containers, not plugins";
    BODY_UNREADABLE = "PC-1027", "inspected endpoints without a body the policy can read",
        "nothing is allowed because parsing failed", "(always on)", "send the JSON body the API documents";
    TOO_MANY_REFERENCES = "PC-1028", "requests naming more than 32 existing containers and volumes (named volumes, --volumes-from, --link, container:<name>)",
        "each one is a lookup at the daemon: an unbounded list would let one request flood it", "(always on)",
        "split the work over several containers";
    HOST_ACCESS_TARGET = "PC-1029", "exec, attach, docker cp and --pid container:<x> into a container that has host access the policy would refuse at create (privileged, capabilities, devices, host namespaces, security options, unmasked /proc and /sys paths, sysctls, runtime, cgroup parent, host mounts); starting or inspecting an exec in a protected container",
        "what runs inside such a container, or sees its processes, has its host access: one tenant's (or the operator's) exception must not become everyone's",
        "the setting of the host access in question (containers.allow_privileged, allow_host_binds…)",
        "work in containers created under this policy";
    NETWORK_SUBNET = "PC-1030", "network subnets, IP ranges, gateways and auxiliary addresses in the host's own ranges (loopback, link-local with the metadata address 169.254.169.254, multicast) or outside the subnet allowlist (by default the daemon's own pools: 172.17.0.0/16-172.31.0.0/16 and 192.168.0.0/16, 10.0.0.0/8 for overlay)",
        "a bridge for addresses the host uses (its LAN, its routes) shadows the host's own route to them: the tenant's container receives the host's traffic",
        "networks.subnet_allowlist",
        "let the daemon pick the subnet, or use one from the allowlist";
    REGISTRY = "PC-1031", "pull, push, tag into, search, log in to or inspect at a registry that is the host's own or private (loopback incl. localhost and 127/8, ::1, link-local with 169.254.169.254, RFC 1918, ULA, IPv4-mapped forms, metadata and *.internal names, single-label and numeric hosts), or not in the registry allowlist; service images from such registries",
        "the daemon connects to the registry from the host's network (loopback ones over plain HTTP): SSRF against the host's and its network's services",
        "registries.allowlist",
        "use a public registry, or ask the operator to allowlist yours";
    OOM_SCORE_ADJ = "PC-1032", "--oom-score-adj below 0 (container create, service OomScoreAdj)",
        "under memory pressure the kernel kills the host's processes before the tenant's",
        "containers.allow_negative_oom_score_adj",
        "leave --oom-score-adj at 0 or raise it";
    BLKIO_DEVICE = "PC-1033", "blkio throttle devices (--blkio-weight-device, --device-read-bps/-iops, --device-write-bps/-iops) with a path outside /dev/, with . or .. segments, or reaching /proc",
        "dockerd stat()s each path as root on the host, and its error tells whether a host path exists",
        "(always on)",
        "name the block device by its /dev/ path";
    TENANT_OWNER = "PC-1040", "with tenants isolated: an owner label (io.portcullis.owner) naming another tenant or nobody on a create, build or service; filters or build labels that cannot be narrowed to the tenant; clients without a tenant key; build cache prunes; volume creates naming a volume that is not the tenant's; binding (`-v name:/path`) a named volume that does not exist yet; container creates with `com.docker.swarm.*` labels",
        "ownership is stamped by Portcullis from the verified identity; a forged owner would hand the object to another tenant or hide it from its own",
        "[tenants] isolate, key",
        "leave io.portcullis.owner out (Portcullis sets it); create named volumes first (or use --mount type=volume), under names of your own";
    TENANT_HIDDEN = "PC-1041", "with tenants isolated: any use of another tenant's or the operator's object (inspect, logs, exec, stop, remove, mount, join, update…); answered 404 like a missing object",
        "each tenant sees and touches only its own objects, and cannot learn whether another's exist",
        "[tenants] isolate, shared_networks",
        "use your own objects";
    TENANT_SHARED = "PC-1042", "with tenants isolated: changing or removing an operator network the policy shares",
        "shared networks are the operator's: tenants join them, never change them",
        "[tenants] shared_networks",
        "ask the operator";
    TENANT_QUOTA = "PC-1043", "with tenants isolated: creating a container, volume, network or service beyond the tenant's quota (a service's replicas count as containers), or containers and services whose memory or CPU limits exceed it (or that set none)",
        "one tenant must not exhaust the daemon's objects, memory or CPUs for the others",
        "[tenants] max_containers, max_volumes, max_networks, max_services, max_memory, max_cpus",
        "remove objects you no longer need, or give them lower limits";
    TENANT_IMAGE = "PC-1045", "with tenants isolated: removing, pushing, or moving (tag, build -t, commit, import, pull) an image name held by an image that is not the tenant's (pulled, the operator's, another tenant's); pushing an image the tenant did not build, commit, import or pull from a registry; a build whose BuildKit outputs name or push an image; pulling or pushing every tag of a repository at once",
        "image names are shared: nginx:latest is what every tenant and the operator run, and an operator's private image must not leave for another registry",
        "[tenants] isolate, image_prefix",
        "give your images names of your own (under your prefix when one is set); pull and push one tag at a time";
    TENANT_IMAGE_PREFIX = "PC-1046", "with tenants isolated and [tenants] image_prefix set: tagging, building, committing, importing or pushing an image name outside the tenant's prefix; pulling a name under another tenant's prefix; a tenant key that cannot start an image name (or, with \"{tenant}/\", reads as a registry domain)",
        "each tenant's image names live under a prefix of its own, so tenants cannot collide with each other or the operator",
        "[tenants] image_prefix",
        "name your images under your prefix (for example alice/app:1)";
    TENANT_IMAGE_LOAD = "PC-1047", "with tenants isolated: docker load (POST /images/load)",
        "the names are inside the archive, where Portcullis cannot check them: a load could replace any image name",
        "[tenants] isolate, allow_image_load",
        "push the image to a registry and pull it, or docker import it under a name of your own";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_ordered() {
        let ids: Vec<&str> = ALL.iter().map(|r| r.id).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted);
    }
}
