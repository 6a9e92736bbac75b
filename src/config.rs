//! Settings for `portcullis serve`: a TOML file with the same keys as the flags; flags
//! override the file. Validated up front into typed values, every problem reported at once.
//!
//! Every setting is written once, as one entry of the `settings!` list below: its doc
//! comment is the `--help` text, its name is the config-file key (and, with `-` for `_`,
//! the flag), its type is what both the flag and the key parse, and its default text is
//! built from the constants in [`defaults`] (which [`Settings::validate`] and
//! [`crate::proxy::Limits::default`] use). The macro expands to one struct, [`Settings`],
//! deriving both `clap::Args` and `serde::Deserialize` with an `Option` per setting ("not
//! given"), plus [`Settings::overlay`] (flags over file) and [`Settings::table`] (the keys
//! and default texts, which the README test and `--help` read). A macro rather than a
//! hand-written struct because the overlay and the table must name every field: written
//! by hand they are the copies that drift. [`Settings::validate`] is the one place that
//! checks the settings and turns them into a typed [`Config`]; a unit test holds the
//! README's flags table to [`Settings::table`].

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::certs;
use crate::docker::path::ApiVersion;
use crate::proxy::upstream::UpstreamAddr;
use crate::proxy::Limits;
use crate::server::Listen;
use crate::tls;

/// The default of every setting that has a fixed one.
pub mod defaults {
    use crate::docker::path::ApiVersion;

    pub const LISTEN: &str = "tcp://127.0.0.1:2376";
    pub const UPSTREAM: &str = "unix:///var/run/docker.sock";
    pub const MAX_BODY_BYTES: usize = 4 << 20;
    /// Below 1.24, `start` takes a HostConfig, which the policy cannot see at create.
    pub const MIN_API_VERSION: ApiVersion = crate::policy::pipeline::MIN_API;
    pub const GRACE_PERIOD_SECS: u64 = 10;
    pub const CONNECT_TIMEOUT_SECS: u64 = 10;
    /// 0: no limit (`wait`, builds and pulls may take long).
    pub const RESPONSE_TIMEOUT_SECS: u64 = 0;
    pub const HEADER_TIMEOUT_SECS: u64 = 30;
    pub const BODY_TIMEOUT_SECS: u64 = 60;
    pub const HANDSHAKE_TIMEOUT_SECS: u64 = 10;
    pub const LOG_FORMAT: &str = "text";
    pub const ADMIN_LISTEN: &str = "tcp://127.0.0.1:9323";
    pub const MAX_CONNECTIONS: usize = 4096;
    pub const WATCH_INTERVAL_SECS: u64 = 2;
}

/// One setting as `--help` and the README show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingInfo {
    /// The config-file key; the flag is `--` and the key with `-` for `_`.
    pub key: &'static str,
    /// What applies when the setting is not given, as `--help` shows it (`None`: shown
    /// by no `[default: …]`, such as optional files).
    pub default: Option<String>,
}

impl SettingInfo {
    pub fn flag(&self) -> String {
        format!("--{}", self.key.replace('_', "-"))
    }
}

fn shown(v: impl Display) -> Option<String> {
    Some(v.to_string())
}

/// The help text clap would make of a doc comment (lines joined, the trailing period
/// dropped), with the default appended.
fn help_text(doc: &[&str], default: Option<String>) -> String {
    let text = doc.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
    let text = text.strip_suffix('.').unwrap_or(&text);
    match default {
        Some(d) => format!("{text} [default: {d}]"),
        None => text.to_string(),
    }
}

macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])+
        $(#[arg($($arg:tt)*)])?
        $key:ident: $ty:ty = $default:expr;
    )*) => {
        /// Every `serve` setting, as given by flags or by the config file (`None`: not
        /// given). See the module documentation.
        #[derive(Debug, Clone, Default, clap::Args, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Settings {
            $(
                $(#[doc = $doc])+
                #[arg(long, help = help_text(&[$($doc),+], $default) $(, $($arg)*)?)]
                pub $key: Option<$ty>,
            )*
        }

        impl Settings {
            /// `over` (the flags) wins over `self` (the file), setting by setting.
            pub fn overlay(self, over: Settings) -> Settings {
                Settings { $( $key: over.$key.or(self.$key), )* }
            }

            /// Every setting in definition order.
            pub fn table() -> Vec<SettingInfo> {
                vec![$( SettingInfo { key: stringify!($key), default: $default }, )*]
            }
        }
    };
}

settings! {
    /// Listen address, tcp://HOST:PORT or unix:///path (repeatable); append ?policy=NAME
    /// to apply that policy to every client of the listener.
    listen: Vec<String> = shown(defaults::LISTEN);
    /// Server certificate (PEM) for TCP listeners.
    tls_cert: PathBuf = None;
    /// Server private key (PEM).
    tls_key: PathBuf = None;
    /// CA (PEM) that signs client certificates: with it, mutual TLS is required and the
    /// client certificate is the identity the policy sees.
    tls_client_ca: PathBuf = None;
    /// Serve plain TCP without TLS (anyone who reaches the port is anonymous). Logs a warning.
    #[arg(num_args = 0, default_missing_value = "true")]
    insecure_no_tls: bool = None;
    /// The daemon: unix:///path, tcp://HOST:PORT, or https://HOST:PORT (TLS).
    upstream: String = shown(defaults::UPSTREAM);
    /// CA (PEM) of a TLS upstream daemon; makes tcp:// upstreams use TLS.
    upstream_tls_ca: PathBuf = None;
    /// Client certificate (PEM) presented to a TLS upstream daemon.
    upstream_tls_cert: PathBuf = None;
    /// Client key (PEM) for the TLS upstream.
    upstream_tls_key: PathBuf = None;
    /// Policy file or directory of *.toml policies (repeatable).
    policy: Vec<PathBuf> = shown("built-in default policy");
    /// Where dev certificates live when no --tls-cert is given.
    data_dir: PathBuf = shown("~/.local/share/portcullis");
    /// Largest JSON body inspected; larger ones are refused with 413.
    max_body_bytes: usize = shown(defaults::MAX_BODY_BYTES);
    /// Lowest API version accepted in a /vX.Y prefix (>= 1.24).
    min_api_version: String = shown(defaults::MIN_API_VERSION);
    /// Seconds to let requests and attached sessions finish on SIGINT/SIGTERM.
    grace_period_secs: u64 = shown(defaults::GRACE_PERIOD_SECS);
    /// Seconds allowed to connect to the daemon (then 504).
    connect_timeout_secs: u64 = shown(defaults::CONNECT_TIMEOUT_SECS);
    /// Seconds allowed for the daemon's response headers; 0 = no limit.
    response_timeout_secs: u64 = shown(defaults::RESPONSE_TIMEOUT_SECS);
    /// Seconds allowed for a client to send request headers.
    header_timeout_secs: u64 = shown(defaults::HEADER_TIMEOUT_SECS);
    /// Seconds allowed for a client to send a request body Portcullis inspects (JSON
    /// bodies; streamed ones such as build contexts have no limit), then 408.
    body_timeout_secs: u64 = shown(defaults::BODY_TIMEOUT_SECS);
    /// Seconds allowed for a TLS handshake.
    handshake_timeout_secs: u64 = shown(defaults::HANDSHAKE_TIMEOUT_SECS);
    /// Write the bound listener URLs, one per line, to this file once listening.
    ready_file: PathBuf = None;
    /// Log format: text or json; filter with RUST_LOG (default info).
    log_format: String = shown(defaults::LOG_FORMAT);
    /// Admin listener for /metrics, /healthz, /readyz: tcp://HOST:PORT or "off".
    admin_listen: String = shown(defaults::ADMIN_LISTEN);
    /// Append audit records (one JSON line per decision) to this file, reopened on
    /// SIGHUP/SIGUSR1.
    audit_log: PathBuf = shown("standard output");
    /// Most concurrent client connections; more are closed at once.
    max_connections: usize = shown(defaults::MAX_CONNECTIONS);
    /// Seconds between checks of policy and certificate files for changes; 0 = only on SIGHUP.
    watch_interval_secs: u64 = shown(defaults::WATCH_INTERVAL_SECS);
    /// Threads serving connections, each with its own event loop and daemon connection
    /// pool.
    workers: usize = shown("one per CPU");
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

/// The daemon and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    Unix(PathBuf),
    Tcp {
        host: String,
        port: u16,
    },
    /// `https://`, or `tcp://` with an upstream CA: the daemon's CA, and the client
    /// certificate and key Portcullis presents (both or neither).
    Tls {
        host: String,
        port: u16,
        ca: PathBuf,
        client: Option<(PathBuf, PathBuf)>,
    },
}

impl Upstream {
    /// The connector's address; reads the TLS files.
    pub fn resolve(&self) -> Result<UpstreamAddr, String> {
        Ok(match self {
            Upstream::Unix(p) => UpstreamAddr::Unix(p.clone()),
            Upstream::Tcp { host, port } => UpstreamAddr::Tcp(format!("{host}:{port}")),
            Upstream::Tls {
                host,
                port,
                ca,
                client,
            } => {
                let (cert, key) = client.as_ref().map_or((None, None), |(c, k)| {
                    (Some(c.as_path()), Some(k.as_path()))
                });
                UpstreamAddr::Tls {
                    addr: format!("{host}:{port}"),
                    server_name: tls::server_name(host).map_err(|e| e.to_string())?,
                    config: tls::client_config(Some(ca), cert, key).map_err(|e| e.to_string())?,
                }
            }
        })
    }
}

/// The server certificate, key and (for mutual TLS) client CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// With it, client certificates are required and are the identity the policy sees.
    pub client_ca: Option<PathBuf>,
}

/// How TCP listeners are secured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// `--tls-cert`/`--tls-key` (and, for mutual TLS, `--tls-client-ca`).
    Files(TlsFiles),
    /// The quick start: mutual TLS with dev certificates under `DIR/certs` (created on
    /// first run, with a client bundle named `dev`).
    Dev { data_dir: PathBuf },
    /// `--insecure-no-tls`: plain TCP, every client anonymous.
    Insecure,
}

/// A resolved [`TlsMode`]: the files to serve with, and the dev client bundle if the
/// dev certificates are in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingTls {
    pub files: Option<TlsFiles>,
    pub dev_client: Option<PathBuf>,
}

impl TlsMode {
    /// The files to serve with; in dev mode, creates the dev CA, server certificate and
    /// client bundle where missing.
    pub fn resolve(&self) -> Result<ServingTls, String> {
        match self {
            TlsMode::Files(files) => Ok(ServingTls {
                files: Some(files.clone()),
                dev_client: None,
            }),
            TlsMode::Insecure => Ok(ServingTls {
                files: None,
                dev_client: None,
            }),
            TlsMode::Dev { data_dir } => {
                let dir = data_dir.join("certs");
                if !dir.join(certs::SERVER_CERT).exists() {
                    certs::init(&dir, &certs::default_hosts(), false)
                        .map_err(|e| format!("creating dev certificates: {e}"))?;
                    tracing::info!(dir = %dir.display(), "created dev certificates");
                }
                let client = certs::client_dir(&dir, "dev");
                if !client.join("cert.pem").exists() {
                    certs::client(&dir, "dev", Some("dev"), false)
                        .map_err(|e| format!("creating the dev client bundle: {e}"))?;
                }
                Ok(ServingTls {
                    files: Some(TlsFiles {
                        cert: dir.join(certs::SERVER_CERT),
                        key: dir.join(certs::SERVER_KEY),
                        client_ca: Some(dir.join(certs::CA_CERT)),
                    }),
                    dev_client: Some(client),
                })
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The admin listener (/metrics, /healthz, /readyz).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminListen {
    Off,
    /// `HOST:PORT`; `required` when it was asked for (failing to bind is then fatal;
    /// the default address only warns).
    Tcp {
        addr: String,
        required: bool,
    },
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listeners, each with the policy bound to it, if any.
    pub listen: Vec<Listen>,
    pub tls: TlsMode,
    pub upstream: Upstream,
    /// Policy files and directories (empty: the built-in default policy).
    pub policy: Vec<PathBuf>,
    pub limits: Limits,
    pub grace_period: Duration,
    pub connect_timeout: Duration,
    pub header_timeout: Duration,
    pub handshake_timeout: Duration,
    pub ready_file: Option<PathBuf>,
    pub log_format: LogFormat,
    pub admin: AdminListen,
    /// Audit records to this file; `None` means standard output.
    pub audit_log: Option<PathBuf>,
    pub max_connections: usize,
    /// How often policy and certificate files are checked for changes (`None`: only on
    /// SIGHUP).
    pub watch_interval: Option<Duration>,
    /// Threads serving connections.
    pub workers: usize,
}

impl Config {
    /// The policy names the listeners bind (checked against the loaded policies).
    pub fn listener_policies(&self) -> Vec<String> {
        self.listen
            .iter()
            .filter_map(|l| l.policy.clone())
            .collect()
    }
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

impl Settings {
    /// Read a config file.
    pub fn from_file(path: &Path) -> Result<Settings, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Validate; every problem is reported.
    pub fn validate(self) -> Result<Config, Vec<String>> {
        let mut errors = Vec::new();
        let listen: Vec<Listen> = self
            .listen
            .unwrap_or_else(|| vec![defaults::LISTEN.into()])
            .iter()
            .filter_map(|l| Listen::parse(l).map_err(|e| errors.push(e)).ok())
            .collect();
        if listen.is_empty() && errors.is_empty() {
            errors.push("at least one --listen address is needed".into());
        }

        let tls = match (
            self.insecure_no_tls.unwrap_or(false),
            self.tls_cert,
            self.tls_key,
            self.tls_client_ca,
        ) {
            (false, Some(cert), Some(key), client_ca) => Some(TlsMode::Files(TlsFiles {
                cert,
                key,
                client_ca,
            })),
            (false, None, None, None) => Some(TlsMode::Dev {
                data_dir: self.data_dir.unwrap_or_else(default_data_dir),
            }),
            (true, None, None, None) => Some(TlsMode::Insecure),
            (insecure, cert, key, client_ca) => {
                if cert.is_some() != key.is_some() {
                    errors.push("--tls-cert and --tls-key must be given together".into());
                }
                if insecure && cert.is_some() {
                    errors.push("--insecure-no-tls contradicts --tls-cert".into());
                }
                if client_ca.is_some() && cert.is_none() {
                    errors.push("--tls-client-ca needs --tls-cert and --tls-key".into());
                }
                None
            }
        };

        let upstream = upstream(
            self.upstream.as_deref().unwrap_or(defaults::UPSTREAM),
            self.upstream_tls_ca,
            self.upstream_tls_cert,
            self.upstream_tls_key,
            &mut errors,
        );

        let min_api = match &self.min_api_version {
            None => defaults::MIN_API_VERSION,
            Some(v) => match ApiVersion::parse(v) {
                Some(v) if v >= defaults::MIN_API_VERSION => v,
                Some(v) => {
                    errors.push(format!(
                        "min_api_version {v}: versions below {} accept HostConfig on start and cannot be policed",
                        defaults::MIN_API_VERSION
                    ));
                    defaults::MIN_API_VERSION
                }
                None => {
                    errors.push(format!("min_api_version {v:?}: expected MAJOR.MINOR"));
                    defaults::MIN_API_VERSION
                }
            },
        };
        let log_format = match self.log_format.as_deref().unwrap_or(defaults::LOG_FORMAT) {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            f => {
                errors.push(format!("log_format {f:?}: expected text or json"));
                LogFormat::Text
            }
        };
        let required = self.admin_listen.is_some();
        let admin = match self
            .admin_listen
            .as_deref()
            .unwrap_or(defaults::ADMIN_LISTEN)
        {
            "off" | "" => AdminListen::Off,
            a => match a.strip_prefix("tcp://") {
                Some(hp) if hp.contains(':') => AdminListen::Tcp {
                    addr: hp.to_string(),
                    required,
                },
                _ => {
                    errors.push(format!(
                        "admin_listen {a:?}: expected tcp://HOST:PORT or off"
                    ));
                    AdminListen::Off
                }
            },
        };
        let mut positive = |key: &str, given: Option<u64>| {
            if given == Some(0) {
                errors.push(format!("{key} must be positive"));
            }
        };
        positive("max_connections", self.max_connections.map(|n| n as u64));
        positive("workers", self.workers.map(|n| n as u64));
        positive("body_timeout_secs", self.body_timeout_secs);
        positive("max_body_bytes", self.max_body_bytes.map(|n| n as u64));

        if !errors.is_empty() {
            return Err(errors);
        }
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d));
        Ok(Config {
            listen,
            tls: tls.expect("contradictory TLS settings are reported as errors"),
            upstream: upstream.expect("an invalid upstream is reported as an error"),
            policy: self.policy.unwrap_or_default(),
            limits: Limits {
                max_body: self.max_body_bytes.unwrap_or(defaults::MAX_BODY_BYTES),
                min_api,
                response_timeout: Some(secs(
                    self.response_timeout_secs,
                    defaults::RESPONSE_TIMEOUT_SECS,
                ))
                .filter(|d| !d.is_zero()),
                body_timeout: secs(self.body_timeout_secs, defaults::BODY_TIMEOUT_SECS),
            },
            grace_period: secs(self.grace_period_secs, defaults::GRACE_PERIOD_SECS),
            connect_timeout: secs(self.connect_timeout_secs, defaults::CONNECT_TIMEOUT_SECS),
            header_timeout: secs(self.header_timeout_secs, defaults::HEADER_TIMEOUT_SECS),
            handshake_timeout: secs(
                self.handshake_timeout_secs,
                defaults::HANDSHAKE_TIMEOUT_SECS,
            ),
            ready_file: self.ready_file,
            log_format,
            admin,
            audit_log: self.audit_log,
            max_connections: self.max_connections.unwrap_or(defaults::MAX_CONNECTIONS),
            watch_interval: Some(secs(
                self.watch_interval_secs,
                defaults::WATCH_INTERVAL_SECS,
            ))
            .filter(|d| !d.is_zero()),
            workers: self
                .workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        })
    }
}

/// The upstream URL and its TLS files, checked together.
fn upstream(
    url: &str,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    errors: &mut Vec<String>,
) -> Option<Upstream> {
    let url = UpstreamUrl::parse(url).map_err(|e| errors.push(e)).ok()?;
    let client = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => {
            errors.push("--upstream-tls-cert and --upstream-tls-key must be given together".into());
            None
        }
    };
    match url {
        UpstreamUrl::Unix(p) => {
            if ca.is_some() || client.is_some() {
                errors.push("--upstream-tls-* apply to tcp:// and https:// upstreams".into());
            }
            Some(Upstream::Unix(p))
        }
        UpstreamUrl::Tcp { host, port, tls } => {
            if !tls && ca.is_none() && client.is_none() {
                return Some(Upstream::Tcp { host, port });
            }
            let Some(ca) = ca else {
                errors.push(if tls {
                    "an https:// upstream needs --upstream-tls-ca".into()
                } else {
                    "an upstream client certificate needs --upstream-tls-ca".into()
                });
                return None;
            };
            Some(Upstream::Tls {
                host,
                port,
                ca,
                client,
            })
        }
    }
}

#[cfg(test)]
mod tests;
