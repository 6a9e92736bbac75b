//! Decision records: one JSON line per request (never bodies or secrets), to stderr's
//! log or to a file that is reopened on SIGHUP/SIGUSR1 for log rotation.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;

/// How a request ended, as the log line, the metrics and the audit record name it.
/// The variants are in the order of their names, so metrics render in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Not decided (`-`): the request ended before the policy was asked.
    Undecided,
    /// Allowed with no violation (`allow`).
    Allow,
    /// Allowed by an auditing policy despite violations (`audit-deny`).
    AuditDeny,
    /// Denied by the policy (`deny`).
    Deny,
    /// Refused before the decision: malformed, ambiguous, or the daemon's facts were
    /// unavailable (`refused`).
    Refused,
}

impl Outcome {
    /// The name in the audit record, the metrics label and the log line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Undecided => "-",
            Outcome::Allow => "allow",
            Outcome::AuditDeny => "audit-deny",
            Outcome::Deny => "deny",
            Outcome::Refused => "refused",
        }
    }

    /// A policy decision's outcome.
    pub fn of(decision: &crate::policy::Decision) -> Self {
        match decision {
            crate::policy::Decision::Allow(v) if v.is_empty() => Outcome::Allow,
            crate::policy::Decision::Allow(_) => Outcome::AuditDeny,
            crate::policy::Decision::Deny(_) => Outcome::Deny,
        }
    }

    /// Whether the policy found violations (denied, or would have).
    pub fn violated(self) -> bool {
        matches!(self, Outcome::AuditDeny | Outcome::Deny)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One decision record.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    pub ts: String,
    pub identity: &'a str,
    /// Unix-socket clients: the peer credentials (`SO_PEERCRED`) of the connecting
    /// process; absent for TCP clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub remote: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub operation: &'a str,
    pub policy: &'a str,
    /// The client's tenant, when the policy isolates tenants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<&'a str>,
    pub mode: &'a str,
    pub decision: Outcome,
    pub rules: &'a [&'static str],
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

impl Record<'_> {
    /// The record as one JSON object, the same bytes `serde_json` writes for the
    /// derived `Serialize` (the test below holds them equal), without escaping the
    /// constant keys on every request.
    pub fn to_json(&self) -> Vec<u8> {
        fn key(o: &mut Vec<u8>, k: &[u8]) {
            o.extend_from_slice(k);
        }
        fn val<T: Serialize + ?Sized>(o: &mut Vec<u8>, v: &T) {
            // Writing into a Vec cannot fail, and these values always serialise.
            let _ = serde_json::to_writer(&mut *o, v);
        }
        let mut o = Vec::with_capacity(320);
        key(&mut o, b"{\"ts\":");
        val(&mut o, self.ts.as_str());
        key(&mut o, b",\"identity\":");
        val(&mut o, self.identity);
        if let Some(uid) = self.uid {
            key(&mut o, b",\"uid\":");
            val(&mut o, &uid);
        }
        if let Some(gid) = self.gid {
            key(&mut o, b",\"gid\":");
            val(&mut o, &gid);
        }
        if let Some(pid) = self.pid {
            key(&mut o, b",\"pid\":");
            val(&mut o, &pid);
        }
        key(&mut o, b",\"remote\":");
        val(&mut o, self.remote);
        key(&mut o, b",\"method\":");
        val(&mut o, self.method);
        key(&mut o, b",\"path\":");
        val(&mut o, self.path);
        key(&mut o, b",\"operation\":");
        val(&mut o, self.operation);
        key(&mut o, b",\"policy\":");
        val(&mut o, self.policy);
        if let Some(tenant) = self.tenant {
            key(&mut o, b",\"tenant\":");
            val(&mut o, tenant);
        }
        key(&mut o, b",\"mode\":");
        val(&mut o, self.mode);
        key(&mut o, b",\"decision\":");
        val(&mut o, self.decision.as_str());
        key(&mut o, b",\"rules\":");
        val(&mut o, self.rules);
        key(&mut o, b",\"status\":");
        val(&mut o, &self.status);
        key(&mut o, b",\"bytes_in\":");
        val(&mut o, &self.bytes_in);
        key(&mut o, b",\"bytes_out\":");
        val(&mut o, &self.bytes_out);
        key(&mut o, b",\"duration_ms\":");
        val(&mut o, &self.duration_ms);
        if let Some(error) = self.error {
            key(&mut o, b",\"error\":");
            val(&mut o, error);
        }
        o.push(b'}');
        o
    }
}

/// Where records go.
pub struct AuditSink {
    path: Option<PathBuf>,
    /// The open file; the lock only guards swapping it on reopen.
    file: RwLock<Option<Arc<AuditFile>>>,
}

/// An open audit file. On a regular file each record is one `write` on an `O_APPEND`
/// descriptor, which Linux appends whole, so workers write concurrently without a lock
/// held across the system call. A pipe or FIFO only keeps writes up to `PIPE_BUF`
/// whole, so there records are written under a lock.
struct AuditFile {
    file: File,
    serial: Option<Mutex<()>>,
}

impl AuditFile {
    fn open(p: &PathBuf) -> io::Result<Self> {
        let file = open(p)?;
        let regular = file.metadata().map(|m| m.is_file()).unwrap_or(false);
        Ok(AuditFile {
            file,
            serial: (!regular).then(|| Mutex::new(())),
        })
    }

    fn write(&self, line: &[u8]) -> io::Result<()> {
        let _guard = self.serial.as_ref().map(|m| m.lock());
        (&self.file).write_all(line)
    }
}

impl AuditSink {
    /// Records to standard output.
    pub fn stdout() -> Self {
        AuditSink {
            path: None,
            file: RwLock::new(None),
        }
    }

    /// Records appended to a file.
    pub fn file(path: PathBuf) -> io::Result<Self> {
        let f = AuditFile::open(&path)?;
        Ok(AuditSink {
            path: Some(path),
            file: RwLock::new(Some(Arc::new(f))),
        })
    }

    /// Reopen the file (after rotation moved it away).
    pub fn reopen(&self) -> io::Result<()> {
        if let Some(p) = &self.path {
            let f = AuditFile::open(p)?;
            if let Ok(mut g) = self.file.write() {
                *g = Some(Arc::new(f));
            }
        }
        Ok(())
    }

    pub fn write(&self, rec: &Record<'_>) {
        let mut line = rec.to_json();
        line.push(b'\n');
        match &self.path {
            None => {
                let _ = io::stdout().lock().write_all(&line);
            }
            Some(_) => {
                let file = self.file.read().ok().and_then(|g| g.clone());
                if let Some(f) = file {
                    if let Err(e) = f.write(&line) {
                        tracing::warn!(error = %e, "cannot write the audit log");
                    }
                }
            }
        }
    }
}

fn open(p: &PathBuf) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(p)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))
}

/// RFC 3339 UTC timestamp with milliseconds, without a date crate.
pub fn now_rfc3339() -> String {
    rfc3339_at(std::time::SystemTime::now())
}

fn rfc3339_at(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    let ms = i64::from(d.subsec_millis());
    if !(0..=9999).contains(&year) {
        return format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z");
    }
    // Written digit by digit: `format!` with padding cost more than the rest of the
    // audit record's serialisation together (one call per request).
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: u32, v: i64| {
        for i in 0..width as usize {
            let digit = (v / 10i64.pow(width - 1 - i as u32)) % 10;
            out[at + i] = b'0' + digit as u8;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, h);
    put(14, 2, m);
    put(17, 2, s);
    put(20, 3, ms);
    out.iter().map(|&b| b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written record is byte for byte what serde_json writes for it.
    #[test]
    fn record_json_is_serde_json() {
        let full = Record {
            ts: now_rfc3339(),
            identity: "CN=\"ci\"\\ünï\u{1}",
            uid: Some(1000),
            gid: Some(0),
            pid: Some(-1),
            remote: "127.0.0.1:1",
            method: "POST",
            path: "/containers/create\n\t",
            operation: "ContainerCreate",
            policy: "default",
            tenant: Some("alice"),
            mode: "enforce",
            decision: Outcome::AuditDeny,
            rules: &["PC-1001", "PC-2002"],
            status: 403,
            bytes_in: u64::MAX,
            bytes_out: 0,
            duration_ms: 0.1 + 0.2,
            error: Some("PC-1001: \"privileged\" is not allowed\u{7f}"),
        };
        let bare = Record {
            uid: None,
            gid: None,
            pid: None,
            tenant: None,
            error: None,
            rules: &[],
            decision: Outcome::Undecided,
            duration_ms: f64::NAN,
            ts: full.ts.clone(),
            ..full
        };
        for r in [&full, &bare] {
            let want = serde_json::to_vec(r).unwrap();
            assert_eq!(
                String::from_utf8(r.to_json()).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
    }

    /// The digit-by-digit timestamp is the one `format!` writes.
    #[test]
    fn timestamp_matches_format() {
        for secs in [
            0u64,
            951_782_400,
            1_764_720_000,
            4_102_444_799,
            253_402_300_799,
        ] {
            let d = std::time::Duration::new(secs, 7_000_000);
            let t = std::time::UNIX_EPOCH + d;
            let got = rfc3339_at(t);
            let days = (secs / 86_400) as i64;
            let (y, mo, da) = civil(days);
            let r = secs % 86_400;
            let want = format!(
                "{y:04}-{mo:02}-{da:02}T{:02}:{:02}:{:02}.007Z",
                r / 3600,
                r % 3600 / 60,
                r % 60
            );
            assert_eq!(got, want);
        }
        assert_eq!(
            rfc3339_at(std::time::UNIX_EPOCH),
            "1970-01-01T00:00:00.000Z"
        );
        let leap = std::time::UNIX_EPOCH + std::time::Duration::from_millis(951_825_599_999);
        assert_eq!(rfc3339_at(leap), "2000-02-29T11:59:59.999Z");
    }

    /// Civil date of a day count (the same algorithm, kept apart as the oracle).
    fn civil(z: i64) -> (i64, i64, i64) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        (yoe + era * 400 + i64::from(m <= 2), m, d)
    }

    #[test]
    fn timestamp_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }

    #[test]
    fn file_sink_writes_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.log");
        let sink = AuditSink::file(p.clone()).unwrap();
        let rec = Record {
            ts: now_rfc3339(),
            identity: "alice",
            uid: None,
            gid: None,
            pid: None,
            remote: "127.0.0.1:1",
            method: "POST",
            path: "/containers/create",
            operation: "ContainerCreate",
            policy: "default",
            tenant: Some("alice"),
            mode: "enforce",
            decision: Outcome::Deny,
            rules: &["PC-1001"],
            status: 403,
            bytes_in: 10,
            bytes_out: 20,
            duration_ms: 1.5,
            error: None,
        };
        sink.write(&rec);
        std::fs::rename(&p, dir.path().join("audit.log.1")).unwrap();
        sink.reopen().unwrap();
        sink.write(&rec);
        let first = std::fs::read_to_string(dir.path().join("audit.log.1")).unwrap();
        let second = std::fs::read_to_string(&p).unwrap();
        let v: serde_json::Value = serde_json::from_str(first.trim()).unwrap();
        assert_eq!(v["rules"][0], "PC-1001");
        assert_eq!(v["tenant"], "alice");
        assert_eq!(second.lines().count(), 1);
    }
}
