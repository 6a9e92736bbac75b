//! Settings for `portcullis serve`: a TOML file with the same keys as the flags;
//! flags override the file. Validated up front, every problem reported at once.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::docker::path::ApiVersion;
use crate::server::ListenAddr;

/// The config file (all keys optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<Vec<String>>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
    pub insecure_no_tls: Option<bool>,
    pub upstream: Option<String>,
    pub upstream_tls_ca: Option<PathBuf>,
    pub upstream_tls_cert: Option<PathBuf>,
    pub upstream_tls_key: Option<PathBuf>,
    pub policy: Option<Vec<PathBuf>>,
    pub data_dir: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    pub min_api_version: Option<String>,
    pub grace_period_secs: Option<u64>,
    pub connect_timeout_secs: Option<u64>,
    pub response_timeout_secs: Option<u64>,
    pub header_timeout_secs: Option<u64>,
    pub body_timeout_secs: Option<u64>,
    pub handshake_timeout_secs: Option<u64>,
    pub ready_file: Option<PathBuf>,
    pub log_format: Option<String>,
    pub admin_listen: Option<String>,
    pub audit_log: Option<PathBuf>,
    pub max_connections: Option<usize>,
    pub watch_interval_secs: Option<u64>,
    pub workers: Option<usize>,
}

/// Where the daemon is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamUrl {
    Unix(PathBuf),
    /// `tcp://` (TLS when an upstream CA or client certificate is given) or
    /// `https://` (always TLS).
    Tcp {
        host: String,
        port: u16,
        tls: bool,
    },
}

impl UpstreamUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(p) = s.strip_prefix("unix://") {
            if !p.starts_with('/') {
                return Err(format!("upstream {s:?}: expected unix:///absolute/path"));
            }
            return Ok(UpstreamUrl::Unix(PathBuf::from(p)));
        }
        let (rest, tls) = match (s.strip_prefix("tcp://"), s.strip_prefix("https://")) {
            (Some(r), _) => (r, false),
            (_, Some(r)) => (r, true),
            _ => {
                return Err(format!(
                    "upstream {s:?}: expected unix://, tcp:// or https://"
                ))
            }
        };
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("upstream {s:?}: expected HOST:PORT"))?;
        let port = port
            .parse()
            .map_err(|_| format!("upstream {s:?}: invalid port {port:?}"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if host.is_empty() {
            return Err(format!("upstream {s:?}: missing host"));
        }
        Ok(UpstreamUrl::Tcp { host, port, tls })
    }
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Vec<ListenAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
    pub insecure_no_tls: bool,
    pub upstream: UpstreamUrl,
    pub upstream_tls_ca: Option<PathBuf>,
    pub upstream_tls_cert: Option<PathBuf>,
    pub upstream_tls_key: Option<PathBuf>,
    pub policy: Vec<PathBuf>,
    pub data_dir: PathBuf,
    pub max_body_bytes: usize,
    pub min_api_version: ApiVersion,
    pub grace_period: Duration,
    pub connect_timeout: Duration,
    pub response_timeout: Option<Duration>,
    pub header_timeout: Duration,
    /// Time allowed for a client to send a body Portcullis inspects (then 408).
    pub body_timeout: Duration,
    pub handshake_timeout: Duration,
    pub ready_file: Option<PathBuf>,
    pub json_logs: bool,
    /// Admin listener address (`None`: off); `admin_explicit` says whether it was asked for.
    pub admin_listen: Option<String>,
    pub admin_explicit: bool,
    /// Audit records to this file; `None` means standard output.
    pub audit_log: Option<PathBuf>,
    pub max_connections: usize,
    /// How often policy and certificate files are checked for changes (0: never).
    pub watch_interval: Duration,
    /// Threads serving connections (default: one per CPU).
    pub workers: usize,
}

/// The default data directory (dev certificates for the quick start).
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(x).join("portcullis");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".local/share/portcullis"),
        None => PathBuf::from("/var/lib/portcullis"),
    }
}

impl FileConfig {
    /// Overlay `over` (flags) on `self` (file).
    pub fn merge(self, over: FileConfig) -> FileConfig {
        macro_rules! pick { ($($f:ident),*) => { FileConfig { $( $f: over.$f.or(self.$f), )* } } }
        pick!(
            listen,
            tls_cert,
            tls_key,
            tls_client_ca,
            insecure_no_tls,
            upstream,
            upstream_tls_ca,
            upstream_tls_cert,
            upstream_tls_key,
            policy,
            data_dir,
            max_body_bytes,
            min_api_version,
            grace_period_secs,
            connect_timeout_secs,
            response_timeout_secs,
            header_timeout_secs,
            body_timeout_secs,
            handshake_timeout_secs,
            ready_file,
            log_format,
            admin_listen,
            audit_log,
            max_connections,
            watch_interval_secs,
            workers
        )
    }

    /// Validate; every problem is reported.
    pub fn validate(self) -> Result<Config, Vec<String>> {
        let mut errors = Vec::new();
        let listen: Vec<ListenAddr> = self
            .listen
            .clone()
            .unwrap_or_else(|| vec!["tcp://127.0.0.1:2376".into()])
            .iter()
            .filter_map(|l| ListenAddr::parse(l).map_err(|e| errors.push(e)).ok())
            .collect();
        if listen.is_empty() && errors.is_empty() {
            errors.push("at least one --listen address is needed".into());
        }
        let upstream = UpstreamUrl::parse(
            self.upstream
                .as_deref()
                .unwrap_or("unix:///var/run/docker.sock"),
        )
        .map_err(|e| errors.push(e))
        .ok();
        let insecure = self.insecure_no_tls.unwrap_or(false);
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            errors.push("--tls-cert and --tls-key must be given together".into());
        }
        if insecure && self.tls_cert.is_some() {
            errors.push("--insecure-no-tls contradicts --tls-cert".into());
        }
        if let Some(UpstreamUrl::Tcp { tls: true, .. }) = &upstream {
            if self.upstream_tls_ca.is_none() {
                errors.push("an https:// upstream needs --upstream-tls-ca".into());
            }
        }
        if self.tls_client_ca.is_some() && self.tls_cert.is_none() {
            errors.push("--tls-client-ca needs --tls-cert and --tls-key".into());
        }
        let min_api = match &self.min_api_version {
            None => Some(ApiVersion::new(1, 24)),
            Some(v) => match ApiVersion::parse(v) {
                Some(v) if v >= ApiVersion::new(1, 24) => Some(v),
                Some(v) => {
                    errors.push(format!(
                        "min_api_version {v}: versions below 1.24 accept HostConfig on start and cannot be policed"
                    ));
                    None
                }
                None => {
                    errors.push(format!("min_api_version {v:?}: expected MAJOR.MINOR"));
                    None
                }
            },
        };
        let log_format = self.log_format.as_deref().unwrap_or("text");
        if !matches!(log_format, "text" | "json") {
            errors.push(format!("log_format {log_format:?}: expected text or json"));
        }
        let admin_explicit = self.admin_listen.is_some();
        let admin_listen = match self
            .admin_listen
            .as_deref()
            .unwrap_or("tcp://127.0.0.1:9323")
        {
            "off" | "" => None,
            a => match a.strip_prefix("tcp://") {
                Some(hp) if hp.contains(':') => Some(hp.to_string()),
                _ => {
                    errors.push(format!(
                        "admin_listen {a:?}: expected tcp://HOST:PORT or off"
                    ));
                    None
                }
            },
        };
        if self.max_connections == Some(0) {
            errors.push("max_connections must be positive".into());
        }
        if self.workers == Some(0) {
            errors.push("workers must be positive".into());
        }
        if self.body_timeout_secs == Some(0) {
            errors.push("body_timeout_secs must be positive".into());
        }
        if self.max_body_bytes == Some(0) {
            errors.push("max_body_bytes must be positive".into());
        }
        let (Some(upstream), Some(min_api)) = (upstream, min_api) else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d));
        Ok(Config {
            listen,
            tls_cert: self.tls_cert,
            tls_key: self.tls_key,
            tls_client_ca: self.tls_client_ca,
            insecure_no_tls: insecure,
            upstream,
            upstream_tls_ca: self.upstream_tls_ca,
            upstream_tls_cert: self.upstream_tls_cert,
            upstream_tls_key: self.upstream_tls_key,
            policy: self.policy.unwrap_or_default(),
            data_dir: self.data_dir.unwrap_or_else(default_data_dir),
            max_body_bytes: self.max_body_bytes.unwrap_or(4 << 20),
            min_api_version: min_api,
            grace_period: secs(self.grace_period_secs, 10),
            connect_timeout: secs(self.connect_timeout_secs, 10),
            response_timeout: self
                .response_timeout_secs
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            header_timeout: secs(self.header_timeout_secs, 30),
            body_timeout: secs(self.body_timeout_secs, 60),
            handshake_timeout: secs(self.handshake_timeout_secs, 10),
            ready_file: self.ready_file,
            json_logs: log_format == "json",
            admin_listen,
            admin_explicit,
            audit_log: self.audit_log,
            max_connections: self.max_connections.unwrap_or(4096),
            watch_interval: secs(self.watch_interval_secs, 2),
            workers: self
                .workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_and_errors_are_collected() {
        let file: FileConfig = toml::from_str(
            "listen = [\"tcp://0.0.0.0:2376\"]\nupstream = \"tcp://10.0.0.1:2375\"\nmax_body_bytes = 100\n",
        )
        .unwrap();
        let flags = FileConfig {
            upstream: Some("unix:///run/d.sock".into()),
            insecure_no_tls: Some(true),
            ..Default::default()
        };
        let c = file.merge(flags).validate().unwrap();
        assert_eq!(c.upstream, UpstreamUrl::Unix("/run/d.sock".into()));
        assert_eq!(c.max_body_bytes, 100);
        assert_eq!(c.body_timeout, Duration::from_secs(60));
        assert_eq!(c.listen, vec![ListenAddr::Tcp("0.0.0.0:2376".into())]);

        let bad = FileConfig {
            listen: Some(vec!["http://x".into()]),
            upstream: Some("ftp://x".into()),
            tls_cert: Some("c".into()),
            min_api_version: Some("1.12".into()),
            log_format: Some("xml".into()),
            body_timeout_secs: Some(0),
            ..Default::default()
        };
        let errs = bad.validate().unwrap_err();
        assert!(errs.len() >= 4, "{errs:?}");
        assert!(
            errs.iter().any(|e| e.contains("body_timeout_secs")),
            "{errs:?}"
        );
    }

    #[test]
    fn unknown_config_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("lisen = []").is_err());
    }
}
