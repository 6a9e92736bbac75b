//! Memory and CPU quotas: how much a tenant's containers and services may reserve in
//! total, and how much a create or update would add.
//!
//! What counts is the *limit* each container or service sets (`HostConfig.Memory`,
//! `NanoCpus` or `CpuQuota`/`CpuPeriod`; a service's `Resources.Limits` times its
//! replicas), never the momentary use: a limit is what the daemon enforces. A container
//! or service without a limit is unlimited, so under a quota it cannot be created, and an
//! existing one (made before the quota) uses the whole quota. Stopped containers count
//! too: starting one is not checked. Containers that are swarm tasks are counted through
//! their service.
//!
//! Pure: the daemon's answers come in as a [`Usage`].

use std::collections::HashSet;

use serde::Deserialize;

use crate::docker::json::Json;

/// CPUs are counted in billionths (the daemon's `NanoCpus`).
pub const NANO: i64 = 1_000_000_000;

/// The daemon's CFS period when a container sets a `CpuQuota` without a `CpuPeriod`.
const DEFAULT_CPU_PERIOD: i64 = 100_000;

/// A memory size in the policy: bytes, or a string with a binary unit as the docker CLI
/// reads `--memory` (`"512m"`, `"8g"`, `"1.5GiB"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MemorySize {
    Bytes(u64),
    Text(String),
}

impl MemorySize {
    pub fn bytes(&self) -> Result<i64, String> {
        match self {
            MemorySize::Bytes(b) => i64::try_from(*b).map_err(|_| format!("{b} is too large")),
            MemorySize::Text(t) => parse_size(t),
        }
    }
}

/// Parse `<number>[ ][kmgtp][i][b]` (case-insensitive, binary units) into bytes.
pub fn parse_size(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a size (like 512m, 8g or 8589934592)");
    let t = text.trim();
    let digits = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let num: f64 = num.parse().map_err(|_| bad())?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(bad()),
    };
    let bytes = num * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes >= i64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as i64)
}

/// What one container or service holds; `None`: unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    pub id: String,
    pub name: String,
    pub memory: Option<i64>,
    pub nano_cpus: Option<i64>,
    /// A container's `CpuQuota` and `CpuPeriod` as stored (0: unset), which an update
    /// setting only one of them keeps.
    pub cpu_quota: i64,
    pub cpu_period: i64,
}

/// What a tenant's containers (not swarm tasks) and services hold now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub containers: Vec<Held>,
    pub services: Vec<Held>,
}

impl Usage {
    /// The total of `what` without the container or service with id `except`; `None`
    /// when one of them is unlimited.
    fn total(&self, what: fn(&Held) -> Option<i64>, except: &str) -> Option<i64> {
        self.containers
            .iter()
            .chain(&self.services)
            .filter(|h| except.is_empty() || h.id != except)
            .try_fold(0i64, |sum, h| what(h).map(|v| sum.saturating_add(v)))
    }

    fn held(&self, id: &str) -> Option<&Held> {
        self.containers
            .iter()
            .chain(&self.services)
            .find(|h| !id.is_empty() && h.id == id)
    }
}

fn positive(v: Option<i64>) -> Option<i64> {
    v.filter(|&v| v > 0)
}

/// CPUs as `NanoCpus`, from `NanoCpus` or `CpuQuota`/`CpuPeriod` (0 or absent: unset).
fn cpus_of(nano: Option<i64>, quota: Option<i64>, period: Option<i64>) -> Option<i64> {
    if let Some(n) = positive(nano) {
        return Some(n);
    }
    let quota = positive(quota)?;
    let period = positive(period).unwrap_or(DEFAULT_CPU_PERIOD);
    Some((quota as i128 * NANO as i128 / period as i128).min(i64::MAX as i128) as i64)
}

/// A container's limits from its inspect answer (`HostConfig`).
pub fn container_held(v: &serde_json::Value) -> Held {
    let hc = &v["HostConfig"];
    let int = |k: &str| hc[k].as_i64();
    Held {
        id: v["Id"].as_str().unwrap_or("").to_string(),
        name: v["Name"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches('/')
            .to_string(),
        memory: positive(int("Memory")),
        nano_cpus: cpus_of(int("NanoCpus"), int("CpuQuota"), int("CpuPeriod")),
        cpu_quota: int("CpuQuota").unwrap_or(0),
        cpu_period: int("CpuPeriod").unwrap_or(0),
    }
}

/// How many tasks of a service run at once: `Err` (why) for global services (one per
/// node, so its total cannot be known from the spec) and for a count that does not fit
/// an `i64` (the daemon reads a `uint64`: counting it as anything else would let it by).
/// An absent or `null` count is one task, as the daemon defaults it.
pub fn service_tasks(spec: &serde_json::Value) -> Result<i64, &'static str> {
    let mode = &spec["Mode"];
    if mode.get("Global").is_some() || mode.get("GlobalJob").is_some() {
        return Err("a global service runs one task per node, so its tasks cannot be counted: use replicated mode");
    }
    let n = if let Some(job) = mode.get("ReplicatedJob") {
        &job["MaxConcurrent"]
    } else {
        &mode["Replicated"]["Replicas"]
    };
    if n.is_null() {
        return Ok(1);
    }
    match n.as_i64() {
        Some(n) => Ok(n.max(0)),
        None => Err("the service's replica count is not a number up to 9223372036854775807"),
    }
}

/// The containers of the `tasks` (the daemon's task list) of the services `ids`, as
/// swarm reports them in each task's status. Only this proves a container is a task:
/// its `com.docker.swarm.service.id` label can come from the client or from the
/// labels of the image it runs.
pub fn task_containers<'a>(
    tasks: &'a [serde_json::Value],
    ids: &HashSet<&str>,
) -> HashSet<&'a str> {
    tasks
        .iter()
        .filter(|t| t["ServiceID"].as_str().is_some_and(|id| ids.contains(id)))
        .filter_map(|t| t["Status"]["ContainerStatus"]["ContainerID"].as_str())
        .filter(|id| !id.is_empty())
        .collect()
}

/// Whether the container `c` (an entry of the daemon's container list) is one of the
/// task containers `tasks` ([`task_containers`]).
pub fn task_of(c: &serde_json::Value, tasks: &HashSet<&str>) -> bool {
    c["Id"].as_str().is_some_and(|id| tasks.contains(id))
}

/// The tenant's replicated services, by id (those [`container_count`] counts by their
/// replicas).
pub fn replicated(services: &[serde_json::Value]) -> HashSet<&str> {
    services
        .iter()
        .filter(|s| {
            let mode = &s["Spec"]["Mode"];
            mode.get("Global").is_none() && mode.get("GlobalJob").is_none()
        })
        .filter_map(|s| s["ID"].as_str())
        .collect()
}

/// The containers a tenant holds for `max_containers`: each container it has (stopped
/// ones too) that is not a task of one of its replicated services, plus the replica
/// count of each of these services (what swarm will keep running, whether its tasks
/// have started yet or not). Tasks of a global service count as the containers they
/// are; `tasks`: the daemon's task list of the tenant's services. Saturates at
/// `usize::MAX` (more than any quota) rather than wrapping, and a service whose count
/// cannot be read holds `usize::MAX`.
pub fn container_count(
    containers: &[serde_json::Value],
    services: &[serde_json::Value],
    tasks: &[serde_json::Value],
) -> usize {
    let ids = replicated(services);
    let mut total: usize = 0;
    for s in services {
        if s["ID"].as_str().is_some_and(|id| ids.contains(id)) {
            let n = service_tasks(&s["Spec"])
                .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
            total = total.saturating_add(n);
        }
    }
    let of_tasks = task_containers(tasks, &ids);
    let own = containers.iter().filter(|c| !task_of(c, &of_tasks)).count();
    total.saturating_add(own)
}

/// A service's limits times its tasks, from its spec (as JSON).
pub fn service_held(id: &str, spec: &serde_json::Value) -> Held {
    let limits = &spec["TaskTemplate"]["Resources"]["Limits"];
    let tasks = service_tasks(spec);
    let times = |v: Option<i64>| match (positive(v), tasks) {
        (Some(v), Ok(n)) => Some(v.saturating_mul(n)),
        (_, Ok(0)) => Some(0),
        _ => None,
    };
    Held {
        id: id.to_string(),
        name: spec["Name"].as_str().unwrap_or("").to_string(),
        memory: times(limits["MemoryBytes"].as_i64()),
        nano_cpus: times(limits["NanoCPUs"].as_i64()),
        ..Held::default()
    }
}

/// The memory and CPU limits a tenant has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub memory: Option<i64>,
    pub nano_cpus: Option<i64>,
}

impl Limits {
    pub fn any(&self) -> bool {
        self.memory.is_some() || self.nano_cpus.is_some()
    }
}

/// What a request asks to hold, and in place of which existing object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The container or service it replaces (update), or empty.
    pub replaces: String,
    /// `None` when the request does not change the value (update) — then nothing is
    /// checked for it; `Some(None)` when it asks for no limit.
    pub memory: Option<Option<i64>>,
    pub nano_cpus: Option<Option<i64>>,
    /// Why the request's total cannot be known (a global service, a huge count).
    pub uncountable: Option<&'static str>,
}

fn int(v: Option<&Json>) -> Option<i64> {
    v.and_then(Json::as_i64)
}

/// A container create: its `HostConfig` limits (absent or 0: none).
pub fn ask_create(body: &Json) -> Ask {
    let hc = body.get("HostConfig");
    let f = |k: &str| int(hc.and_then(|h| h.get(k)));
    Ask {
        replaces: String::new(),
        memory: Some(positive(f("Memory"))),
        nano_cpus: Some(cpus_of(f("NanoCpus"), f("CpuQuota"), f("CpuPeriod"))),
        uncountable: None,
    }
}

/// A container update of the container with id `id` (`held`: what it holds now, when
/// the usage lists it): fields absent or 0 keep their value; negative ones lift it.
pub fn ask_update(body: &Json, id: &str, held: Option<&Held>) -> Ask {
    let f = |k: &str| int(body.get(k)).filter(|&v| v != 0);
    let memory = f("Memory").map(|m| positive(Some(m)));
    let cpu_fields = [f("NanoCpus"), f("CpuQuota"), f("CpuPeriod")];
    let nano_cpus = if cpu_fields.iter().all(Option::is_none) {
        None
    } else if cpu_fields.iter().flatten().any(|&v| v < 0) {
        Some(None)
    } else {
        // The daemon keeps the CPU fields the update leaves out.
        let [n, q, p] = cpu_fields;
        let kept = |v: Option<i64>, old: fn(&Held) -> i64| v.or(held.map(old));
        Some(cpus_of(
            n,
            kept(q, |h| h.cpu_quota),
            kept(p, |h| h.cpu_period),
        ))
    };
    Ask {
        replaces: id.to_string(),
        memory,
        nano_cpus,
        uncountable: None,
    }
}

/// A service create or update (`id`: the service it replaces, or empty).
pub fn ask_service(spec: &serde_json::Value, id: &str) -> Ask {
    let h = service_held(id, spec);
    Ask {
        replaces: id.to_string(),
        memory: Some(h.memory),
        nano_cpus: Some(h.nano_cpus),
        uncountable: service_tasks(spec).err(),
    }
}

/// Every way `ask` would take the tenant beyond `limits`, as messages naming the limit
/// and the current use.
pub fn exceeded(limits: Limits, usage: &Usage, ask: &Ask) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(why), true) = (ask.uncountable, limits.any()) {
        out.push(format!(
            "{why} (the tenant's memory and CPU quotas count every task)"
        ));
        return out;
    }
    let held = usage.held(&ask.replaces);
    for (limit, asked, what, field, now) in [
        (
            limits.memory,
            ask.memory,
            (|h: &Held| h.memory) as fn(&Held) -> Option<i64>,
            "memory",
            held.and_then(|h| h.memory),
        ),
        (
            limits.nano_cpus,
            ask.nano_cpus,
            |h: &Held| h.nano_cpus,
            "CPU",
            held.and_then(|h| h.nano_cpus),
        ),
    ] {
        let (Some(limit), Some(asked)) = (limit, asked) else {
            continue;
        };
        let show = |v: i64| {
            if field == "memory" {
                show_bytes(v)
            } else {
                show_cpus(v)
            }
        };
        let Some(asked) = asked else {
            out.push(format!(
                "the tenant's {field} quota is {}: set a {field} limit ({})",
                show(limit),
                if field == "memory" {
                    "--memory, or --limit-memory for a service"
                } else {
                    "--cpus, or --limit-cpu for a service"
                }
            ));
            continue;
        };
        // Lowering a limit is always allowed, even above the quota.
        if now.is_some_and(|n| asked <= n) {
            continue;
        }
        match usage.total(what, &ask.replaces) {
            None => out.push(format!(
                "the tenant's {field} quota is {} and it has containers or services without a {field} limit: give them one or remove them",
                show(limit)
            )),
            Some(used) if used.saturating_add(asked) > limit => out.push(format!(
                "the tenant's {field} quota is {}, it uses {} and asks for {} more",
                show(limit),
                show(used),
                show(asked)
            )),
            Some(_) => {}
        }
    }
    out
}

/// The memory and CPU quotas for `policy explain` (empty when there are none).
pub fn describe(limits: Limits) -> String {
    let mut out = String::new();
    if let Some(m) = limits.memory {
        out.push_str(&format!("; at most {} of memory per tenant", show_bytes(m)));
    }
    if let Some(c) = limits.nano_cpus {
        out.push_str(&format!("; at most {} per tenant", show_cpus(c)));
    }
    out
}

fn show_bytes(b: i64) -> String {
    for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        let size = 1i64 << shift;
        if b >= size {
            let v = b as f64 / size as f64;
            return if b % size == 0 {
                format!("{}{unit}", b / size)
            } else {
                format!("{v:.2}{unit}")
            };
        }
    }
    format!("{b}B")
}

fn show_cpus(n: i64) -> String {
    let v = n as f64 / NANO as f64;
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "1" {
        "1 CPU".into()
    } else {
        format!("{s} CPUs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::json::read_body;
    use serde_json::json;

    const G: i64 = 1 << 30;

    /// Only containers swarm reports as tasks of the tenant's replicated services are
    /// counted through their replicas; a swarm label proves nothing.
    #[test]
    fn containers_count_tasks_through_their_service() {
        let svcs = [
            json!({"ID": "s1", "Spec": {"Mode": {"Replicated": {"Replicas": 5}}}}),
            json!({"ID": "g1", "Spec": {"Mode": {"Global": {}}}}),
        ];
        let c =
            |id: &str, sid: &str| json!({"Id": id, "Labels": {"com.docker.swarm.service.id": sid}});
        let task = |sid: &str, cid: &str| json!({"ServiceID": sid, "Status": {"ContainerStatus": {"ContainerID": cid}}});
        let tasks = [
            task("s1", "t1"),
            task("s1", "t2"),
            task("g1", "g"),
            task("s1", ""),
        ];
        let containers = [
            json!({"Id": "plain", "Labels": {}}),
            c("t1", "s1"),
            c("t2", "s1"),
            c("g", "g1"),
            c("forged", "s1"),
        ];
        // 5 replicas of s1, plus the plain, global-task and forged-label containers.
        assert_eq!(container_count(&containers, &svcs, &tasks), 8);
        let ids = ["s1", "g1"].into_iter().collect();
        let of = task_containers(&tasks, &ids);
        assert!(task_of(&c("t1", "s1"), &of));
        assert!(task_of(&c("g", "g1"), &of));
        assert!(!task_of(&c("forged", "s1"), &of));
        let huge = [
            json!({"ID": "h", "Spec": {"Mode": {"Replicated": {"Replicas": u64::MAX}}}}),
            json!({"ID": "i", "Spec": {"Mode": {"Replicated": {"Replicas": i64::MAX}}}}),
            json!({"ID": "j", "Spec": {"Mode": {"Replicated": {"Replicas": i64::MAX}}}}),
        ];
        assert_eq!(container_count(&containers, &huge[..1], &[]), usize::MAX);
        // Two counts of 2^63-1 and 5 containers: saturated, not wrapped.
        assert_eq!(container_count(&containers, &huge[1..], &[]), usize::MAX);
    }

    #[test]
    fn sizes_read_as_the_docker_cli_reads_them() {
        for (text, want) in [
            ("512m", 512 << 20),
            ("8g", 8 * G),
            ("8G", 8 * G),
            ("8gb", 8 * G),
            ("1.5GiB", 3 * G / 2),
            ("1 g", G),
            ("4096", 4096),
            ("2t", 2 << 40),
        ] {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
        for bad in ["", "g", "8x", "-1g", "0", "8gg", "1e3"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(MemorySize::Bytes(10).bytes(), Ok(10));
        assert!(MemorySize::Bytes(u64::MAX).bytes().is_err());
    }

    #[test]
    fn limits_are_read_from_containers_and_services() {
        let c = container_held(&json!({
            "Id": "c1", "Name": "/web",
            "HostConfig": {"Memory": 512 << 20, "NanoCpus": 0, "CpuQuota": 50000, "CpuPeriod": 0}
        }));
        assert_eq!(c.name, "web");
        assert_eq!(c.memory, Some(512 << 20));
        assert_eq!(c.nano_cpus, Some(NANO / 2));
        let c = container_held(&json!({"Id": "c2", "HostConfig": {"Memory": 0}}));
        assert_eq!((c.memory, c.nano_cpus), (None, None));
        let s = service_held(
            "s1",
            &json!({"Name": "api", "Mode": {"Replicated": {"Replicas": 3}},
                    "TaskTemplate": {"Resources": {"Limits": {"MemoryBytes": G, "NanoCPUs": NANO}}}}),
        );
        assert_eq!((s.memory, s.nano_cpus), (Some(3 * G), Some(3 * NANO)));
        // Replicated without a count is one task; scaled to zero holds nothing.
        let s = service_held(
            "s2",
            &json!({"TaskTemplate": {"Resources": {"Limits": {"MemoryBytes": G}}}}),
        );
        assert_eq!((s.memory, s.nano_cpus), (Some(G), None));
        let s = service_held("s3", &json!({"Mode": {"Replicated": {"Replicas": 0}}}));
        assert_eq!((s.memory, s.nano_cpus), (Some(0), Some(0)));
        let s = service_held(
            "s4",
            &json!({"Mode": {"Global": {}}, "TaskTemplate": {"Resources": {"Limits": {"MemoryBytes": G}}}}),
        );
        assert_eq!(s.memory, None);
    }

    fn body(raw: &str) -> Json<'_> {
        read_body(raw.as_bytes(), None).unwrap()
    }

    fn usage() -> Usage {
        Usage {
            containers: vec![Held {
                id: "c1".into(),
                name: "web".into(),
                memory: Some(2 * G),
                nano_cpus: Some(NANO),
                ..Held::default()
            }],
            services: vec![Held {
                id: "s1".into(),
                name: "api".into(),
                memory: Some(4 * G),
                nano_cpus: Some(2 * NANO),
                ..Held::default()
            }],
        }
    }

    const LIMITS: Limits = Limits {
        memory: Some(8 * G),
        nano_cpus: Some(4 * NANO),
    };

    #[test]
    fn creates_within_the_quota_pass_and_beyond_it_are_refused() {
        let ok = ask_create(&body(
            r#"{"HostConfig":{"Memory":2147483648,"NanoCpus":1000000000}}"#,
        ));
        assert!(exceeded(LIMITS, &usage(), &ok).is_empty());
        let big = ask_create(&body(
            r#"{"HostConfig":{"Memory":2147483649,"CpuQuota":150000,"CpuPeriod":100000}}"#,
        ));
        let msgs = exceeded(LIMITS, &usage(), &big);
        assert_eq!(
            msgs,
            [
                "the tenant's memory quota is 8GiB, it uses 6GiB and asks for 2.00GiB more",
                "the tenant's CPU quota is 4 CPUs, it uses 3 CPUs and asks for 1.5 CPUs more"
            ]
        );
        let unlimited = ask_create(&body(r#"{"HostConfig":{"Memory":0}}"#));
        let msgs = exceeded(LIMITS, &usage(), &unlimited);
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(msgs[0].contains("set a memory limit"), "{msgs:?}");
        // Only the quota that is set is checked.
        let mem_only = Limits {
            memory: Some(8 * G),
            nano_cpus: None,
        };
        let ask = ask_create(&body(r#"{"HostConfig":{"Memory":1073741824}}"#));
        assert!(exceeded(mem_only, &usage(), &ask).is_empty());
        // An existing unlimited container uses the whole quota.
        let mut u = usage();
        u.containers[0].memory = None;
        let msgs = exceeded(mem_only, &u, &ask);
        assert!(msgs[0].contains("without a memory limit"), "{msgs:?}");
    }

    #[test]
    fn updates_count_the_change() {
        let u = usage();
        let held = u.containers.first();
        // Raising web from 2g to 4g: 4 + 4 (api) = 8, at the quota.
        let ask = ask_update(&body(r#"{"Memory":4294967296}"#), "c1", held);
        assert!(exceeded(LIMITS, &u, &ask).is_empty());
        let ask = ask_update(&body(r#"{"Memory":4294967297}"#), "c1", held);
        assert_eq!(exceeded(LIMITS, &u, &ask).len(), 1);
        // Lifting a limit, and raising CPUs.
        let ask = ask_update(&body(r#"{"Memory":-1}"#), "c1", held);
        assert!(exceeded(LIMITS, &u, &ask)[0].contains("set a memory limit"));
        let ask = ask_update(&body(r#"{"NanoCpus":3000000000}"#), "c1", held);
        assert_eq!(exceeded(LIMITS, &u, &ask).len(), 1);
        // A shorter period with the kept quota is more CPUs: 150000/50000 = 3.
        let mut q = u.clone();
        q.containers[0].nano_cpus = Some(3 * NANO / 2);
        q.containers[0].cpu_quota = 150_000;
        let ask = ask_update(&body(r#"{"CpuPeriod":50000}"#), "c1", q.containers.first());
        assert_eq!(ask.nano_cpus, Some(Some(3 * NANO)));
        assert_eq!(exceeded(LIMITS, &q, &ask).len(), 1);
        // Lowering, or leaving the limits alone, always passes.
        for raw in [
            r#"{"Memory":1073741824}"#,
            r#"{"RestartPolicy":{"Name":"always"}}"#,
            r#"{"Memory":0,"CpuShares":512}"#,
        ] {
            let ask = ask_update(&body(raw), "c1", held);
            let mut over = u.clone();
            over.services[0].memory = Some(100 * G);
            assert!(exceeded(LIMITS, &over, &ask).is_empty(), "{raw}");
        }
    }

    #[test]
    fn services_count_limits_times_replicas() {
        let u = usage();
        let spec = |replicas: i64, mem: i64| {
            json!({"Name": "api", "Mode": {"Replicated": {"Replicas": replicas}},
                   "TaskTemplate": {"Resources": {"Limits": {"MemoryBytes": mem, "NanoCPUs": NANO / 2}}}})
        };
        // Scaling api from 2 to 3 replicas of 2g: 2 (web) + 6 = 8.
        assert!(exceeded(LIMITS, &u, &ask_service(&spec(3, 2 * G), "s1")).is_empty());
        let msgs = exceeded(LIMITS, &u, &ask_service(&spec(4, 2 * G), "s1"));
        assert_eq!(
            msgs,
            ["the tenant's memory quota is 8GiB, it uses 2GiB and asks for 8GiB more"]
        );
        // A new service adds to the existing one.
        assert_eq!(
            exceeded(LIMITS, &u, &ask_service(&spec(1, 3 * G), "")).len(),
            1
        );
        let global = json!({"Mode": {"Global": {}},
            "TaskTemplate": {"Resources": {"Limits": {"MemoryBytes": G, "NanoCPUs": NANO}}}});
        let msgs = exceeded(LIMITS, &u, &ask_service(&global, ""));
        assert!(msgs[0].contains("global service"), "{msgs:?}");
        assert!(exceeded(Limits::default(), &u, &ask_service(&global, "")).is_empty());
        let unlimited = json!({"Name": "x"});
        assert_eq!(exceeded(LIMITS, &u, &ask_service(&unlimited, "")).len(), 2);
        // A count beyond i64 (the daemon reads a uint64) is refused, not read as 1.
        let huge = json!({"Mode": {"Replicated": {"Replicas": u64::MAX}},
            "TaskTemplate": {"Resources": {"Limits": {"MemoryBytes": 1, "NanoCPUs": 1}}}});
        assert!(service_tasks(&huge).is_err());
        let msgs = exceeded(LIMITS, &u, &ask_service(&huge, ""));
        assert!(msgs[0].contains("replica count"), "{msgs:?}");
        let null = json!({"Mode": {"Replicated": {"Replicas": null}}});
        assert_eq!(service_tasks(&null), Ok(1));
    }
}
