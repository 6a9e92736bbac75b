//! Counters for Prometheus (`GET /metrics` on the admin listener), kept with atomics
//! and small maps; rendered in the Prometheus text exposition format. Per-tenant
//! counters keep at most [`MAX_TENANT_SERIES`] tenants apart ([`TenantCounters`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::audit::Outcome;

const BUCKETS: [f64; 11] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0,
];

/// The phases a request's time is split into on `/metrics` (issue 19: where small
/// requests wait). Sums and counts only, kept with atomics: no lock per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// From the request head to the upstream send: framing, classify, reading an
    /// inspected body, the policy and its facts, the rewrite.
    Decide,
    /// The daemon lookups the policy asked for (part of `Decide`).
    Facts,
    /// From the upstream send to the daemon's response head: taking a pooled
    /// connection (or dialling one), the daemon's work, and the worker's run queue.
    Upstream,
    /// From the response head to the end of the body sent to the client.
    Response,
    /// Reporting the request: these counters and the audit record's write.
    Record,
}

impl Phase {
    const ALL: [Phase; 5] = [
        Phase::Decide,
        Phase::Facts,
        Phase::Upstream,
        Phase::Response,
        Phase::Record,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Decide => "decide",
            Phase::Facts => "facts",
            Phase::Upstream => "upstream",
            Phase::Response => "response",
            Phase::Record => "record",
        }
    }
}

/// Worker threads whose accepted connections are counted one by one; later ones
/// share the last counter.
const WORKER_SLOTS: usize = 32;

/// Connections to the daemon dialled by this process (all pools), for
/// `portcullis_upstream_connects_total`: flat under steady load means every request
/// found a pooled connection.
pub static UPSTREAM_CONNECTS: AtomicU64 = AtomicU64::new(0);

/// One finished request, as the counters see it.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    pub op: &'static str,
    pub decision: Outcome,
    pub rules: &'a [&'static str],
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub secs: f64,
    pub upstream_error: bool,
    /// The client's tenant, when its policy isolates tenants.
    pub tenant: Option<&'a str>,
}

/// Process-wide counters.
#[derive(Default)]
pub struct Metrics {
    /// Counts by operation and outcome, one map per worker thread (see
    /// [`crate::proxy::shard`]): a worker only ever takes its own lock, so a worker
    /// descheduled while holding it stalls no other worker.
    requests: [Mutex<BTreeMap<(&'static str, Outcome), u64>>; WORKER_SLOTS],
    denials: Mutex<BTreeMap<&'static str, u64>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    upstream_errors: AtomicU64,
    duration_buckets: [AtomicU64; BUCKETS.len()],
    duration_count: AtomicU64,
    duration_sum_us: AtomicU64,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    last_reload_success: AtomicU64,
    phase_count: [AtomicU64; Phase::ALL.len()],
    phase_sum_ns: [AtomicU64; Phase::ALL.len()],
    worker_connections: [AtomicU64; WORKER_SLOTS],
    tenants: TenantCounters,
}

impl Metrics {
    /// Record one finished request.
    pub fn request(&self, r: &Sample<'_>) {
        let Sample {
            op,
            decision,
            rules,
            bytes_in,
            bytes_out,
            secs,
            upstream_error,
            tenant,
        } = *r;
        let shard = crate::proxy::shard() % WORKER_SLOTS;
        if let Some(t) = tenant {
            self.tenants.record(t, decision.violated());
        }
        if let Ok(mut m) = self.requests[shard].lock() {
            *m.entry((op, decision)).or_default() += 1;
        }
        if decision.violated() {
            if let Ok(mut m) = self.denials.lock() {
                for r in rules {
                    *m.entry(r).or_default() += 1;
                }
            }
        }
        self.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes_out, Ordering::Relaxed);
        if upstream_error {
            self.upstream_errors.fetch_add(1, Ordering::Relaxed);
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.duration_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.duration_count.fetch_add(1, Ordering::Relaxed);
        self.duration_sum_us
            .fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
    }

    /// Time one request spent in `phase`.
    pub fn phase(&self, phase: Phase, d: std::time::Duration) {
        let i = phase as usize;
        self.phase_count[i].fetch_add(1, Ordering::Relaxed);
        self.phase_sum_ns[i].fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Worker `worker` accepted a client connection.
    pub fn connection(&self, worker: usize) {
        self.worker_connections[worker.min(WORKER_SLOTS - 1)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn reload(&self, ok: bool) {
        if ok {
            self.reloads.fetch_add(1, Ordering::Relaxed);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            self.last_reload_success.store(now, Ordering::Relaxed);
        } else {
            self.reload_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The text exposition, with the live gauges passed in.
    pub fn render(&self, connections: usize, sessions: usize) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "# HELP portcullis_requests_total Requests by operation and decision."
        );
        let _ = writeln!(o, "# TYPE portcullis_requests_total counter");
        let mut requests = BTreeMap::new();
        for shard in &self.requests {
            if let Ok(m) = shard.lock() {
                for (k, n) in m.iter() {
                    *requests.entry(*k).or_insert(0u64) += n;
                }
            }
        }
        for ((op, d), n) in requests.iter() {
            let _ = writeln!(
                o,
                "portcullis_requests_total{{operation=\"{op}\",decision=\"{d}\"}} {n}"
            );
        }
        let _ = writeln!(
            o,
            "# HELP portcullis_denials_total Denied (or audit-denied) requests by rule id."
        );
        let _ = writeln!(o, "# TYPE portcullis_denials_total counter");
        if let Ok(m) = self.denials.lock() {
            for (r, n) in m.iter() {
                let _ = writeln!(o, "portcullis_denials_total{{rule=\"{r}\"}} {n}");
            }
        }
        self.tenants.render(&mut o);
        let gauge = |o: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let counter = |o: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        gauge(
            &mut o,
            "portcullis_active_connections",
            "Open client connections.",
            connections as u64,
        );
        gauge(
            &mut o,
            "portcullis_active_sessions",
            "Hijacked attach/exec sessions being spliced.",
            sessions as u64,
        );
        counter(
            &mut o,
            "portcullis_bytes_in_total",
            "Bytes streamed from clients to the daemon (hijacked sessions).",
            self.bytes_in.load(Ordering::Relaxed),
        );
        counter(
            &mut o,
            "portcullis_bytes_out_total",
            "Bytes streamed from the daemon to clients.",
            self.bytes_out.load(Ordering::Relaxed),
        );
        counter(
            &mut o,
            "portcullis_upstream_errors_total",
            "Requests that failed to reach the daemon.",
            self.upstream_errors.load(Ordering::Relaxed),
        );
        let _ = writeln!(o, "# HELP portcullis_request_duration_seconds Time from request to the end of the response.");
        let _ = writeln!(o, "# TYPE portcullis_request_duration_seconds histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                o,
                "portcullis_request_duration_seconds_bucket{{le=\"{b}\"}} {}",
                self.duration_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.duration_count.load(Ordering::Relaxed);
        let _ = writeln!(
            o,
            "portcullis_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            o,
            "portcullis_request_duration_seconds_sum {}",
            self.duration_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(o, "portcullis_request_duration_seconds_count {count}");
        let _ = writeln!(
            o,
            "# HELP portcullis_phase_seconds Time requests spent in each phase (decide, facts, upstream, response, record)."
        );
        let _ = writeln!(o, "# TYPE portcullis_phase_seconds summary");
        for p in Phase::ALL {
            let i = p as usize;
            let name = p.as_str();
            let _ = writeln!(
                o,
                "portcullis_phase_seconds_sum{{phase=\"{name}\"}} {}\nportcullis_phase_seconds_count{{phase=\"{name}\"}} {}",
                self.phase_sum_ns[i].load(Ordering::Relaxed) as f64 / 1e9,
                self.phase_count[i].load(Ordering::Relaxed)
            );
        }
        counter(
            &mut o,
            "portcullis_upstream_connects_total",
            "Connections dialled to the daemon (flat under steady load: requests reuse pooled ones).",
            UPSTREAM_CONNECTS.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            o,
            "# HELP portcullis_worker_connections_total Client connections accepted by each worker thread.\n# TYPE portcullis_worker_connections_total counter"
        );
        for (w, n) in self.worker_connections.iter().enumerate() {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                let _ = writeln!(
                    o,
                    "portcullis_worker_connections_total{{worker=\"{w}\"}} {n}"
                );
            }
        }
        counter(
            &mut o,
            "portcullis_policy_reloads_total",
            "Successful policy reloads.",
            self.reloads.load(Ordering::Relaxed),
        );
        counter(
            &mut o,
            "portcullis_policy_reload_failures_total",
            "Rejected policy reloads (the previous policy kept serving).",
            self.reload_failures.load(Ordering::Relaxed),
        );
        gauge(
            &mut o,
            "portcullis_policy_last_reload_success_timestamp_seconds",
            "Unix time of the last successful (re)load.",
            self.last_reload_success.load(Ordering::Relaxed),
        );
        o
    }
}

/// Most tenants counted apart; requests of further tenants are counted under
/// [`OTHER_TENANTS`], so a daemon with many tenants cannot grow the metrics without end.
pub const MAX_TENANT_SERIES: usize = 256;

/// The `tenant` label of the requests of tenants beyond [`MAX_TENANT_SERIES`]. The name
/// is reserved: a tenant literally named `_other` is counted in that series too, so the
/// exposition never holds the series twice.
pub const OTHER_TENANTS: &str = "_other";

/// Requests and denials by tenant. A tenant seen before is counted under a read lock
/// held for one map lookup (atomics do the counting); only a tenant's first request
/// takes the write lock. No lock is held across anything but the map operation.
#[derive(Default)]
pub struct TenantCounters {
    by_tenant: RwLock<HashMap<String, Arc<TenantCount>>>,
    other: TenantCount,
}

#[derive(Default)]
struct TenantCount {
    requests: AtomicU64,
    denials: AtomicU64,
}

impl TenantCount {
    fn bump(&self, denied: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if denied {
            self.denials.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl TenantCounters {
    /// Count one request of `tenant` (denied or audit-denied when `denied`).
    pub fn record(&self, tenant: &str, denied: bool) {
        if tenant == OTHER_TENANTS {
            self.other.bump(denied);
            return;
        }
        if let Ok(m) = self.by_tenant.read() {
            if let Some(c) = m.get(tenant) {
                c.bump(denied);
                return;
            }
        }
        let counted = match self.by_tenant.write() {
            Ok(mut m) if m.len() < MAX_TENANT_SERIES || m.contains_key(tenant) => {
                Some(Arc::clone(m.entry(tenant.to_string()).or_default()))
            }
            _ => None,
        };
        match counted {
            Some(c) => c.bump(denied),
            None => self.other.bump(denied),
        }
    }

    fn render(&self, o: &mut String) {
        let mut rows: Vec<(String, u64, u64)> = match self.by_tenant.read() {
            Ok(m) => m
                .iter()
                .map(|(t, c)| {
                    let r = c.requests.load(Ordering::Relaxed);
                    (label_value(t), r, c.denials.load(Ordering::Relaxed))
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        rows.sort();
        let other = self.other.requests.load(Ordering::Relaxed);
        if other > 0 {
            rows.push((
                OTHER_TENANTS.to_string(),
                other,
                self.other.denials.load(Ordering::Relaxed),
            ));
        }
        for (name, help, denials) in [
            (
                "portcullis_tenant_requests_total",
                "Requests by tenant (at most 256 tenants apart, the rest and a tenant named _other under _other).",
                false,
            ),
            (
                "portcullis_tenant_denials_total",
                "Denied (or audit-denied) requests by tenant (same cap).",
                true,
            ),
        ] {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter");
            for (t, r, d) in &rows {
                let n = if denials { d } else { r };
                let _ = writeln!(o, "{name}{{tenant=\"{t}\"}} {n}");
            }
        }
    }
}

/// A Prometheus label value: `\`, `"` and newlines escaped.
fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Workers count in their own maps; the exposition adds them up.
    #[test]
    fn per_worker_counts_add_up() {
        let m = std::sync::Arc::new(Metrics::default());
        let s = Sample {
            op: "Ping",
            decision: Outcome::Allow,
            rules: &[],
            bytes_in: 0,
            bytes_out: 0,
            secs: 0.001,
            upstream_error: false,
            tenant: None,
        };
        for w in 0..3 {
            let m = m.clone();
            std::thread::spawn(move || {
                crate::proxy::set_shard(w);
                m.request(&s);
                m.request(&s);
            })
            .join()
            .unwrap();
        }
        let t = m.render(0, 0);
        assert!(
            t.contains("portcullis_requests_total{operation=\"Ping\",decision=\"allow\"} 6\n"),
            "{t}"
        );
    }

    #[test]
    fn counters_render() {
        let m = Metrics::default();
        let s = |op, decision, rules, secs| Sample {
            op,
            decision,
            rules,
            bytes_in: 0,
            bytes_out: 10,
            secs,
            upstream_error: false,
            tenant: None,
        };
        m.request(&s("ContainerCreate", Outcome::Deny, &["PC-1001"], 0.002));
        m.request(&s("Ping", Outcome::Allow, &[], 0.0001));
        m.reload(true);
        m.phase(Phase::Upstream, std::time::Duration::from_micros(1500));
        m.phase(Phase::Upstream, std::time::Duration::from_micros(500));
        m.connection(1);
        let t = m.render(3, 1);
        assert!(
            t.contains("portcullis_phase_seconds_sum{phase=\"upstream\"} 0.002\n"),
            "{t}"
        );
        assert!(t.contains("portcullis_phase_seconds_count{phase=\"upstream\"} 2\n"));
        assert!(t.contains("portcullis_phase_seconds_count{phase=\"facts\"} 0\n"));
        assert!(t.contains("portcullis_worker_connections_total{worker=\"1\"} 1\n"));
        assert!(!t.contains("portcullis_worker_connections_total{worker=\"0\"}"));
        assert!(
            t.contains(
                "portcullis_requests_total{operation=\"ContainerCreate\",decision=\"deny\"} 1"
            ),
            "{t}"
        );
        assert!(t.contains("portcullis_denials_total{rule=\"PC-1001\"} 1"));
        assert!(t.contains("portcullis_active_connections 3"));
        assert!(t.contains("portcullis_request_duration_seconds_count 2"));
        assert!(t.contains("portcullis_request_duration_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(t.contains("portcullis_policy_reloads_total 1"));
    }

    #[test]
    fn tenants_are_counted_apart_up_to_the_cap() {
        let m = Metrics::default();
        fn s(tenant: &str, decision: Outcome) -> Sample<'_> {
            Sample {
                op: "ContainerList",
                decision,
                rules: &[],
                bytes_in: 0,
                bytes_out: 0,
                secs: 0.001,
                upstream_error: false,
                tenant: Some(tenant),
            }
        }
        m.request(&s("alice", Outcome::Allow));
        m.request(&s("alice", Outcome::Deny));
        m.request(&s("b\"o\\b", Outcome::Allow));
        let t = m.render(0, 0);
        assert!(
            t.contains("portcullis_tenant_requests_total{tenant=\"alice\"} 2"),
            "{t}"
        );
        assert!(
            t.contains("portcullis_tenant_denials_total{tenant=\"alice\"} 1"),
            "{t}"
        );
        assert!(
            t.contains(r#"portcullis_tenant_requests_total{tenant="b\"o\\b"} 1"#),
            "{t}"
        );
        assert!(
            !t.contains(&format!("{{tenant=\"{OTHER_TENANTS}\"}}")),
            "{t}"
        );
        // Fill the cap, then further tenants share one series; known ones stay apart.
        for i in 0..MAX_TENANT_SERIES * 2 {
            let name = format!("t{i}");
            m.request(&s(&name, Outcome::Deny));
        }
        m.request(&s("alice", Outcome::Allow));
        let t = m.render(0, 0);
        let series = t
            .lines()
            .filter(|l| l.starts_with("portcullis_tenant_requests_total{"))
            .count();
        assert_eq!(series, MAX_TENANT_SERIES + 1, "{t}");
        assert!(
            t.contains("portcullis_tenant_requests_total{tenant=\"alice\"} 3"),
            "{t}"
        );
        let overflow = MAX_TENANT_SERIES * 2 - (MAX_TENANT_SERIES - 2);
        assert!(
            t.contains(&format!(
                "portcullis_tenant_requests_total{{tenant=\"_other\"}} {overflow}"
            )),
            "{t}"
        );
        assert!(
            t.contains(&format!(
                "portcullis_tenant_denials_total{{tenant=\"_other\"}} {overflow}"
            )),
            "{t}"
        );
        // Requests without a tenant are not counted by tenant.
        let before = t.matches("portcullis_tenant_").count();
        m.request(&Sample {
            tenant: None,
            ..s("x", Outcome::Allow)
        });
        assert_eq!(m.render(0, 0).matches("portcullis_tenant_").count(), before);
        // A tenant named _other is counted in the overflow series, not a second one,
        // even when it comes first and the cap is reached later.
        let m = Metrics::default();
        m.request(&s(OTHER_TENANTS, Outcome::Deny));
        for i in 0..MAX_TENANT_SERIES + 1 {
            m.request(&s(&format!("t{i}"), Outcome::Allow));
        }
        let t = m.render(0, 0);
        let other = format!("portcullis_tenant_requests_total{{tenant=\"{OTHER_TENANTS}\"}}");
        assert_eq!(t.matches(&other).count(), 1, "{t}");
        assert!(t.contains(&format!("{other} 2")), "{t}");
    }
}
