//! The record phase: what is kept of one request (never its body) and the one place
//! it is reported when the request is over: the metrics, the audit record and the log
//! line.

use std::sync::Arc;
use std::time::Instant;

use http::{Method, Uri};

use super::ConnInfo;
use crate::audit::{self, AuditSink, Outcome};
use crate::error::{Fault, ProxyError};
use crate::metrics::{Metrics, Phase};
use crate::policy::{Decision, Policy};

/// Where finished requests are reported besides the log line.
#[derive(Default)]
pub struct Observers {
    pub metrics: Metrics,
    pub audit: Option<AuditSink>,
}

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observers")
    }
}

/// What is logged for one request (never its body).
#[derive(Debug, Clone)]
pub struct RequestLog {
    pub identity: String,
    /// Unix-socket clients' peer credentials (`SO_PEERCRED`).
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub pid: Option<i32>,
    pub remote: String,
    pub method: String,
    pub path: String,
    pub op: &'static str,
    pub policy: String,
    /// The client's tenant when the policy isolates tenants.
    pub tenant: Option<String>,
    pub decision: Outcome,
    pub mode: &'static str,
    pub rules: Vec<&'static str>,
    pub upstream_error: bool,
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub error: Option<String>,
    pub start: Instant,
    /// When the request was sent upstream, and when the daemon's response head came
    /// back (the phase timings on `/metrics`).
    pub forwarded: Option<Instant>,
    pub answered: Option<Instant>,
    /// Time spent fetching the facts the policy asked for.
    pub facts: std::time::Duration,
    observers: Arc<Observers>,
    done: bool,
}

impl RequestLog {
    pub fn new(conn: &ConnInfo, method: &Method, uri: &Uri, observers: Arc<Observers>) -> Self {
        RequestLog {
            identity: conn.identity.name().to_string(),
            uid: conn.identity.uid,
            gid: conn.identity.gid,
            pid: conn.identity.pid,
            remote: conn.remote.clone(),
            method: method.to_string(),
            path: uri.path().to_string(),
            op: "-",
            policy: String::new(),
            tenant: None,
            decision: Outcome::Undecided,
            mode: "-",
            rules: Vec::new(),
            upstream_error: false,
            status: 0,
            bytes_in: 0,
            bytes_out: 0,
            error: None,
            start: Instant::now(),
            forwarded: None,
            answered: None,
            facts: std::time::Duration::ZERO,
            observers,
            done: false,
        }
    }

    /// The decide phase's result.
    pub fn decided(&mut self, decision: &Decision, policy: &Policy) {
        self.decision = Outcome::of(decision);
        self.mode = policy.mode_name();
        let (Decision::Allow(violations) | Decision::Deny(violations)) = decision;
        self.rules = violations.iter().map(|v| v.rule).collect();
    }

    /// The request failed with `e` (a denial was recorded as decided).
    pub fn failed(&mut self, e: &ProxyError) {
        self.error = Some(e.message());
        self.upstream_error = e.fault() == Fault::Daemon;
        if self.decision == Outcome::Undecided && e.fault() != Fault::Policy {
            self.decision = Outcome::Refused;
        }
    }

    /// Move the record out (the original will not log again).
    pub fn take(&mut self) -> RequestLog {
        let out = self.clone();
        self.done = true;
        out
    }

    /// Emit the one line for this request.
    pub fn emit(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let end = Instant::now();
        let secs = end.duration_since(self.start).as_secs_f64();
        let ms = secs * 1000.0;
        let metrics = &self.observers.metrics;
        if let Some(forwarded) = self.forwarded {
            metrics.phase(Phase::Decide, forwarded.duration_since(self.start));
            // A hijacked session's time is the session's, not a response's.
            if let (Some(answered), false) = (self.answered, self.status == 101) {
                metrics.phase(Phase::Upstream, answered.duration_since(forwarded));
                metrics.phase(Phase::Response, end.duration_since(answered));
            }
        }
        if !self.facts.is_zero() {
            metrics.phase(Phase::Facts, self.facts);
        }
        metrics.request(&crate::metrics::Sample {
            op: self.op,
            decision: self.decision,
            rules: &self.rules,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            secs,
            upstream_error: self.upstream_error,
            tenant: self.tenant.as_deref(),
        });
        if let Some(sink) = &self.observers.audit {
            sink.write(&audit::Record {
                ts: audit::now_rfc3339(),
                identity: &self.identity,
                uid: self.uid,
                gid: self.gid,
                pid: self.pid,
                remote: &self.remote,
                method: &self.method,
                path: &self.path,
                operation: self.op,
                policy: &self.policy,
                tenant: self.tenant.as_deref(),
                mode: self.mode,
                decision: self.decision,
                rules: &self.rules,
                status: self.status,
                bytes_in: self.bytes_in,
                bytes_out: self.bytes_out,
                duration_ms: ms,
                error: self.error.as_deref(),
            });
        }
        // Every decision is in the audit record above; the diagnostic log repeats the
        // ones worth a look (denials, audit-mode findings, failures) at info, and the
        // rest only at debug: one write per request instead of two on the hot path.
        let notable = self.decision != Outcome::Allow
            || !self.rules.is_empty()
            || self.error.is_some()
            || self.upstream_error
            || self.status >= 500;
        if notable {
            self.log_line(ms, tracing::Level::INFO);
        } else if tracing::enabled!(tracing::Level::DEBUG) {
            self.log_line(ms, tracing::Level::DEBUG);
        }
        metrics.phase(Phase::Record, end.elapsed());
    }
}

impl RequestLog {
    fn log_line(&self, ms: f64, level: tracing::Level) {
        let rules = self.rules.join(",");
        let tenant = self.tenant.as_deref().unwrap_or("-");
        macro_rules! line {
            ($lvl:expr $(, $err:expr)?) => {
                tracing::event!(
                    $lvl,
                    identity = %self.identity, uid = self.uid, gid = self.gid, pid = self.pid,
                    remote = %self.remote, method = %self.method,
                    path = %self.path, op = %self.op, policy = %self.policy, tenant = %tenant,
                    decision = %self.decision,
                    rules = %rules, status = self.status, bytes_in = self.bytes_in,
                    bytes_out = self.bytes_out, duration_ms = format_args!("{ms:.2}"),
                    $(error = %$err,)? "request"
                )
            };
        }
        match (level == tracing::Level::INFO, &self.error) {
            (true, Some(e)) => line!(tracing::Level::INFO, e),
            (true, None) => line!(tracing::Level::INFO),
            (false, Some(e)) => line!(tracing::Level::DEBUG, e),
            (false, None) => line!(tracing::Level::DEBUG),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ClientError, DaemonError, Denial};
    use crate::tls::Identity;

    fn log() -> RequestLog {
        let conn = ConnInfo {
            identity: Arc::new(Identity::transport("mtls")),
            remote: "test".into(),
            slot: None,
        };
        let uri: Uri = "/_ping".parse().unwrap();
        RequestLog::new(&conn, &Method::GET, &uri, Arc::default())
    }

    /// The outcome and blame recorded for each kind of failure.
    #[test]
    fn failures_are_recorded_by_fault() {
        let mut l = log();
        l.failed(&ClientError::BadRequest("bad".into()).into());
        assert_eq!((l.decision, l.upstream_error), (Outcome::Refused, false));

        // A daemon failure after an allow keeps the decision and counts as upstream.
        let mut l = log();
        l.decision = Outcome::Allow;
        l.failed(&DaemonError::Unreachable("down".into()).into());
        assert_eq!((l.decision, l.upstream_error), (Outcome::Allow, true));

        // The daemon failing a lookup before the decision: refused, upstream.
        let mut l = log();
        l.failed(&DaemonError::Timeout("slow".into()).into());
        assert_eq!((l.decision, l.upstream_error), (Outcome::Refused, true));

        let mut l = log();
        l.decision = Outcome::Deny;
        l.failed(
            &Denial {
                message: "PC-1001: no".into(),
            }
            .into(),
        );
        assert_eq!(l.decision, Outcome::Deny);
        assert_eq!(l.error.as_deref(), Some("PC-1001: no"));
    }

    #[test]
    fn outcomes_keep_their_audit_names() {
        let names: Vec<String> = [
            Outcome::Undecided,
            Outcome::Allow,
            Outcome::AuditDeny,
            Outcome::Deny,
            Outcome::Refused,
        ]
        .iter()
        .map(|o| serde_json::to_string(o).unwrap())
        .collect();
        assert_eq!(
            names,
            [
                r#""-""#,
                r#""allow""#,
                r#""audit-deny""#,
                r#""deny""#,
                r#""refused""#
            ]
        );
    }
}
