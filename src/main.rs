//! The `portcullis` command: serve, policy tools, certificates and client set-up.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use portcullis::audit::AuditSink;
use portcullis::config::{default_data_dir, FileConfig, UpstreamUrl};
use portcullis::policy::pipeline::{self, Outcome};
use portcullis::policy::{self, Decision, Facts, PolicySet};
use portcullis::proxy::body::Observers;
use portcullis::proxy::{upstream, Limits, ProxyState};
use portcullis::server::{Server, ServerOptions};
use portcullis::{admin, certs, tls};

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "A Docker Engine API policy proxy: mutual TLS in, every request checked, streaming out."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the proxy. With no flags: dev certificates under the data dir (created on
    /// first run), tcp://127.0.0.1:2376, the local daemon socket, the built-in default policy.
    Serve(Box<ServeArgs>),
    /// Check and explain policies.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Create certificates (a CA, a server certificate, client bundles).
    #[command(subcommand)]
    Certs(CertsCmd),
    /// Print the environment that points the docker CLI at Portcullis for a client.
    Env(EnvArgs),
    /// Print the rule catalogue (Markdown table).
    Rules,
}

#[derive(Args, Default)]
struct ServeArgs {
    /// TOML config file with the same keys as these flags (flags win).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Listen address, tcp://HOST:PORT or unix:///path (repeatable) [default: tcp://127.0.0.1:2376].
    #[arg(long)]
    listen: Vec<String>,
    /// Server certificate (PEM) for TCP listeners.
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// CA (PEM) that signs client certificates: with it, mutual TLS is required and the
    /// client certificate is the identity the policy sees.
    #[arg(long)]
    tls_client_ca: Option<PathBuf>,
    /// Serve plain TCP without TLS (anyone who reaches the port is anonymous). Logs a warning.
    #[arg(long)]
    insecure_no_tls: bool,
    /// The daemon: unix:///path, tcp://HOST:PORT, or https://HOST:PORT (TLS) [default: unix:///var/run/docker.sock].
    #[arg(long)]
    upstream: Option<String>,
    /// CA (PEM) of a TLS upstream daemon; makes tcp:// upstreams use TLS.
    #[arg(long)]
    upstream_tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) presented to a TLS upstream daemon.
    #[arg(long)]
    upstream_tls_cert: Option<PathBuf>,
    /// Client key (PEM) for the TLS upstream.
    #[arg(long)]
    upstream_tls_key: Option<PathBuf>,
    /// Policy file or directory of *.toml policies (repeatable) [default: built-in default policy].
    #[arg(long)]
    policy: Vec<PathBuf>,
    /// Where dev certificates live when no --tls-cert is given [default: ~/.local/share/portcullis].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Largest JSON body inspected; larger ones are refused with 413 [default: 4194304].
    #[arg(long)]
    max_body_bytes: Option<usize>,
    /// Lowest API version accepted in a /vX.Y prefix (>= 1.24) [default: 1.24].
    #[arg(long)]
    min_api_version: Option<String>,
    /// Seconds to let requests and attached sessions finish on SIGINT/SIGTERM [default: 10].
    #[arg(long)]
    grace_period_secs: Option<u64>,
    /// Seconds allowed to connect to the daemon (then 504) [default: 10].
    #[arg(long)]
    connect_timeout_secs: Option<u64>,
    /// Seconds allowed for the daemon's response headers; 0 = no limit [default: 0].
    #[arg(long)]
    response_timeout_secs: Option<u64>,
    /// Seconds allowed for a client to send request headers [default: 30].
    #[arg(long)]
    header_timeout_secs: Option<u64>,
    /// Seconds allowed for a client to send a request body Portcullis inspects (JSON
    /// bodies; streamed ones such as build contexts have no limit), then 408 [default: 60].
    #[arg(long)]
    body_timeout_secs: Option<u64>,
    /// Seconds allowed for a TLS handshake [default: 10].
    #[arg(long)]
    handshake_timeout_secs: Option<u64>,
    /// Write the bound listener URLs, one per line, to this file once listening.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Log format: text or json [default: text]. Filter with RUST_LOG (default info).
    #[arg(long)]
    log_format: Option<String>,
    /// Admin listener for /metrics, /healthz, /readyz: tcp://HOST:PORT or "off" [default: tcp://127.0.0.1:9323].
    #[arg(long)]
    admin_listen: Option<String>,
    /// Append audit records (one JSON line per decision) to this file, reopened on
    /// SIGHUP/SIGUSR1 [default: standard output].
    #[arg(long)]
    audit_log: Option<PathBuf>,
    /// Most concurrent client connections; more are closed at once [default: 4096].
    #[arg(long)]
    max_connections: Option<usize>,
    /// Seconds between checks of policy and certificate files for changes; 0 = only on SIGHUP [default: 2].
    #[arg(long)]
    watch_interval_secs: Option<u64>,
    /// Threads serving connections, each with its own event loop and daemon connection
    /// pool [default: one per CPU].
    #[arg(long)]
    workers: Option<usize>,
}

impl ServeArgs {
    fn as_file_config(&self) -> FileConfig {
        let vec_opt = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        FileConfig {
            listen: vec_opt(&self.listen),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            tls_client_ca: self.tls_client_ca.clone(),
            insecure_no_tls: self.insecure_no_tls.then_some(true),
            upstream: self.upstream.clone(),
            upstream_tls_ca: self.upstream_tls_ca.clone(),
            upstream_tls_cert: self.upstream_tls_cert.clone(),
            upstream_tls_key: self.upstream_tls_key.clone(),
            policy: (!self.policy.is_empty()).then(|| self.policy.clone()),
            data_dir: self.data_dir.clone(),
            max_body_bytes: self.max_body_bytes,
            min_api_version: self.min_api_version.clone(),
            grace_period_secs: self.grace_period_secs,
            connect_timeout_secs: self.connect_timeout_secs,
            response_timeout_secs: self.response_timeout_secs,
            header_timeout_secs: self.header_timeout_secs,
            body_timeout_secs: self.body_timeout_secs,
            handshake_timeout_secs: self.handshake_timeout_secs,
            ready_file: self.ready_file.clone(),
            log_format: self.log_format.clone(),
            admin_listen: self.admin_listen.clone(),
            audit_log: self.audit_log.clone(),
            max_connections: self.max_connections,
            watch_interval_secs: self.watch_interval_secs,
            workers: self.workers,
        }
    }
}

#[derive(Subcommand)]
enum PolicyCmd {
    /// Validate policy files or directories; every error is printed; exit 1 on any.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show how a request is classified and decided (daemon facts are taken as absent).
    Explain {
        /// Policy file or directory [default: built-in default policy].
        #[arg(long)]
        policy: Vec<PathBuf>,
        /// Client certificate CN to decide for.
        #[arg(long)]
        identity: Option<String>,
        /// File holding the JSON request body.
        #[arg(long)]
        body: Option<PathBuf>,
        method: String,
        /// Request target, e.g. /v1.41/containers/create?name=x
        path: String,
    },
}

#[derive(Subcommand)]
enum CertsCmd {
    /// Create a CA and a server certificate in DIR.
    Init {
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Host names and IPs for the server certificate (repeatable) [default: localhost, 127.0.0.1, this host's name].
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Issue a client bundle (ca.pem, cert.pem, key.pem) whose CN is NAME.
    Client {
        name: String,
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Organisation (O) of the client certificate.
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args)]
struct EnvArgs {
    /// Client name (its bundle is DIR/clients/NAME).
    name: String,
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Address of Portcullis as clients reach it [default: tcp://localhost:2376].
    #[arg(long)]
    host: Option<String>,
    /// Shell syntax: sh, fish or powershell.
    #[arg(long, default_value = "sh")]
    shell: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Serve(a) => serve(*a),
        Cmd::Policy(PolicyCmd::Check { files }) => policy_check(&files),
        Cmd::Policy(PolicyCmd::Explain {
            policy,
            identity,
            body,
            method,
            path,
        }) => policy_explain(&policy, identity, body.as_deref(), &method, &path),
        Cmd::Certs(CertsCmd::Init { dir, hosts, force }) => {
            let dir = dir.unwrap_or_else(|| default_data_dir().join("certs"));
            let hosts = if hosts.is_empty() {
                default_hosts()
            } else {
                hosts
            };
            match certs::init(&dir, &hosts, force) {
                Ok(()) => {
                    println!(
                        "CA and server certificate for {} written to {}",
                        hosts.join(", "),
                        dir.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e.to_string()),
            }
        }
        Cmd::Certs(CertsCmd::Client {
            name,
            dir,
            org,
            force,
        }) => {
            let dir = dir.unwrap_or_else(|| default_data_dir().join("certs"));
            match certs::client(&dir, &name, org.as_deref(), force) {
                Ok(out) => {
                    println!("client bundle for {name} written to {}", out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e.to_string()),
            }
        }
        Cmd::Env(a) => {
            let dir = a.dir.unwrap_or_else(|| default_data_dir().join("certs"));
            let cert_path = certs::client_dir(&dir, &a.name);
            if !cert_path.join("cert.pem").exists() {
                return fail(&format!(
                    "no client bundle at {} (run: portcullis certs client {})",
                    cert_path.display(),
                    a.name
                ));
            }
            let host = a.host.unwrap_or_else(|| "tcp://localhost:2376".into());
            print!("{}", env_lines(&a.shell, &host, &cert_path));
            ExitCode::SUCCESS
        }
        Cmd::Rules => {
            println!("| id | blocks | why | setting | how to comply |\n|---|---|---|---|---|");
            for r in policy::rules::ALL {
                println!(
                    "| {} | {} | {} | `{}` | {} |",
                    r.id, r.blocks, r.why, r.setting, r.comply
                );
            }
            ExitCode::SUCCESS
        }
    }
}

fn env_lines(shell: &str, host: &str, cert_path: &Path) -> String {
    let p = cert_path.display();
    match shell {
        "fish" => format!("set -gx DOCKER_HOST {host};\nset -gx DOCKER_TLS_VERIFY 1;\nset -gx DOCKER_CERT_PATH {p};\n"),
        "powershell" => format!("$Env:DOCKER_HOST = \"{host}\"\n$Env:DOCKER_TLS_VERIFY = \"1\"\n$Env:DOCKER_CERT_PATH = \"{p}\"\n"),
        _ => format!("export DOCKER_HOST={host}\nexport DOCKER_TLS_VERIFY=1\nexport DOCKER_CERT_PATH={p}\n"),
    }
}

fn default_hosts() -> Vec<String> {
    let mut h = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if let Ok(name) = std::fs::read_to_string("/etc/hostname") {
        let name = name.trim().to_string();
        if !name.is_empty() && !h.contains(&name) {
            h.push(name);
        }
    }
    h
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("portcullis: {msg}");
    ExitCode::FAILURE
}

fn load_policies(paths: &[PathBuf]) -> Result<PolicySet, Vec<policy::PolicyError>> {
    if paths.is_empty() {
        Ok(PolicySet::builtin())
    } else {
        PolicySet::load(paths)
    }
}

fn policy_check(files: &[PathBuf]) -> ExitCode {
    match PolicySet::load(files) {
        Ok(set) => {
            for p in &set.policies {
                println!(
                    "ok: {} ({}, mode {})",
                    p.name,
                    p.source.display(),
                    p.mode_name()
                );
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!("{} error(s)", errors.len());
            ExitCode::FAILURE
        }
    }
}

fn policy_explain(
    paths: &[PathBuf],
    identity: Option<String>,
    body: Option<&Path>,
    method: &str,
    target: &str,
) -> ExitCode {
    let set = match load_policies(paths) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            return ExitCode::FAILURE;
        }
    };
    let id = tls::Identity {
        common_name: identity,
        ..tls::Identity::transport("mtls")
    };
    let body = match body.map(std::fs::read).transpose() {
        Ok(b) => b,
        Err(e) => return fail(&format!("reading the body: {e}")),
    };
    let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
        return fail("invalid method");
    };
    match pipeline::check(
        &set,
        &id,
        &method,
        target,
        body.as_deref(),
        &Facts::default(),
    ) {
        Outcome::Refused(why) => {
            println!("decision: refused (400): {why}");
            ExitCode::from(2)
        }
        Outcome::Decided {
            op,
            policy,
            decision,
            lookups,
            ..
        } => {
            println!(
                "operation: {} (group {}), target: {}",
                op.kind.name(),
                op.kind.group().as_str(),
                op.target.as_deref().unwrap_or("-")
            );
            println!("policy: {policy}");
            if !lookups.is_empty() {
                println!(
                    "daemon facts the proxy would look up (taken as absent here): {lookups:?}"
                );
            }
            let (label, violations, code) = match decision {
                Decision::Allow(v) if v.is_empty() => ("allow", v, ExitCode::SUCCESS),
                Decision::Allow(v) => ("allow (audit mode: would deny)", v, ExitCode::SUCCESS),
                Decision::Deny(v) => ("deny (403)", v, ExitCode::from(2)),
            };
            println!("decision: {label}");
            for v in violations {
                println!("  {}: {}", v.rule, v.message);
            }
            code
        }
    }
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal, and never with NO_COLOR set (https://no-color.org).
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if json {
        b.json().flatten_event(true).init();
    } else {
        b.init();
    }
}

/// Each proxied connection holds two descriptors (client and daemon). Raise the soft
/// open-files limit to the hard limit, as Go programs such as dockerd do, and warn when
/// even that cannot hold `max_connections`.
fn raise_fd_limit(max_connections: usize) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    let before = lim.rlim_cur;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            lim.rlim_cur = before;
        }
    }
    let needed = (max_connections as u64)
        .saturating_mul(2)
        .saturating_add(64);
    if lim.rlim_cur < needed {
        tracing::warn!(
            open_files = lim.rlim_cur,
            max_connections,
            "the open-files limit cannot hold max_connections (two descriptors each); raise `ulimit -n` or LimitNOFILE"
        );
    } else {
        tracing::debug!(from = before, to = lim.rlim_cur, "open-files limit");
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let file = match &args.config {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => match toml::from_str::<FileConfig>(&t) {
                Ok(f) => f,
                Err(e) => return fail(&format!("{}: {e}", p.display())),
            },
            Err(e) => return fail(&format!("{}: {e}", p.display())),
        },
        None => FileConfig::default(),
    };
    let mut cfg = match file.merge(args.as_file_config()).validate() {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                eprintln!("portcullis: config: {e}");
            }
            return ExitCode::from(2);
        }
    };
    init_tracing(cfg.json_logs);
    raise_fd_limit(cfg.max_connections);

    // Quick start: no certificate given and TLS not waived -> dev certificates.
    let mut dev_client: Option<PathBuf> = None;
    if cfg.tls_cert.is_none() && !cfg.insecure_no_tls {
        let dir = cfg.data_dir.join("certs");
        if !dir.join(certs::SERVER_CERT).exists() {
            if let Err(e) = certs::init(&dir, &default_hosts(), false) {
                return fail(&format!("creating dev certificates: {e}"));
            }
            tracing::info!(dir = %dir.display(), "created dev certificates");
        }
        if !certs::client_dir(&dir, "dev").join("cert.pem").exists() {
            if let Err(e) = certs::client(&dir, "dev", Some("dev"), false) {
                return fail(&format!("creating the dev client bundle: {e}"));
            }
        }
        cfg.tls_cert = Some(dir.join(certs::SERVER_CERT));
        cfg.tls_key = Some(dir.join(certs::SERVER_KEY));
        cfg.tls_client_ca = Some(dir.join(certs::CA_CERT));
        dev_client = Some(certs::client_dir(&dir, "dev"));
    }

    let tls_config = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => match tls::server_config(c, k, cfg.tls_client_ca.as_deref()) {
            Ok(t) => Some(Arc::new(tls::ReloadableTls::new(t))),
            Err(e) => return fail(&e.to_string()),
        },
        _ => None,
    };
    if tls_config.is_none() {
        tracing::warn!("serving plain TCP without TLS (--insecure-no-tls): every client is anonymous and traffic is readable");
    } else if cfg.tls_client_ca.is_none() {
        tracing::warn!("TLS without client certificates: clients are not identified");
    }

    let policies = match load_policies(&cfg.policy) {
        Ok(p) => p,
        Err(errors) => {
            for e in &errors {
                eprintln!("portcullis: policy: {e}");
            }
            return ExitCode::from(2);
        }
    };
    for p in &policies.policies {
        tracing::info!(policy = %p.name, source = %p.source.display(), mode = p.mode_name(), default = p.default, "policy loaded");
    }

    let upstream = match &cfg.upstream {
        UpstreamUrl::Unix(p) => upstream::UpstreamAddr::Unix(p.clone()),
        UpstreamUrl::Tcp { host, port, tls } => {
            let addr = format!("{host}:{port}");
            if *tls || cfg.upstream_tls_ca.is_some() || cfg.upstream_tls_cert.is_some() {
                let config = match tls::client_config(
                    cfg.upstream_tls_ca.as_deref(),
                    cfg.upstream_tls_cert.as_deref(),
                    cfg.upstream_tls_key.as_deref(),
                ) {
                    Ok(c) => c,
                    Err(e) => return fail(&e.to_string()),
                };
                let server_name = match tls::server_name(host) {
                    Ok(n) => n,
                    Err(e) => return fail(&e.to_string()),
                };
                upstream::UpstreamAddr::Tls {
                    addr,
                    server_name,
                    config,
                }
            } else {
                upstream::UpstreamAddr::Tcp(addr)
            }
        }
    };

    // The control runtime (signals, reloads, admin endpoint); connections are served by
    // the server's worker threads.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let audit = match &cfg.audit_log {
        Some(p) => match AuditSink::file(p.clone()) {
            Ok(a) => a,
            Err(e) => return fail(&format!("audit log: {e}")),
        },
        None => AuditSink::stdout(),
    };
    rt.block_on(async move {
        let connector = upstream::Connector::new(upstream, cfg.connect_timeout);
        let limits = Limits {
            max_body: cfg.max_body_bytes,
            min_api: cfg.min_api_version,
            response_timeout: cfg.response_timeout,
            body_timeout: cfg.body_timeout,
        };
        let observers = Observers {
            metrics: Default::default(),
            audit: Some(audit),
        };
        let state = Arc::new(
            ProxyState::with_observers(connector, policies, limits, observers).shards(cfg.workers),
        );
        state.observers.metrics.reload(true);
        tokio::spawn(return_memory(state.connections.clone()));
        let opts = ServerOptions {
            mtls: cfg.tls_client_ca.is_some(),
            tls: tls_config.clone(),
            handshake_timeout: cfg.handshake_timeout,
            header_timeout: cfg.header_timeout,
            grace_period: cfg.grace_period,
            max_connections: cfg.max_connections,
            workers: cfg.workers,
        };
        let server = match Server::bind(&cfg.listen, state.clone(), opts).await {
            Ok(s) => s,
            Err(e) => return fail(&e.to_string()),
        };
        let mut urls = server.local_urls();
        if let Some(addr) = &cfg.admin_listen {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => {
                    let a = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
                    tracing::info!(admin = %a, "admin listener: /metrics /healthz /readyz");
                    urls.push(format!("admin http://{a}"));
                    tokio::spawn(admin::serve(l, state.clone()));
                }
                Err(e) if cfg.admin_explicit => return fail(&format!("admin listener {addr}: {e}")),
                Err(e) => tracing::warn!(addr = %addr, error = %e, "admin listener not started"),
            }
        }
        let reloader = Arc::new(Reloader {
            state: state.clone(),
            policy_paths: cfg.policy.clone(),
            tls: tls_config.clone().map(|t| (t, cfg.tls_cert.clone(), cfg.tls_key.clone(), cfg.tls_client_ca.clone())),
        });
        tokio::spawn(reload_on_signals(reloader.clone()));
        if !cfg.watch_interval.is_zero() {
            tokio::spawn(watch_files(reloader, cfg.watch_interval));
        }
        tracing::info!(listen = %urls.join(" "), upstream = ?state.connector.addr(), "portcullis is serving");
        if let Some(dir) = &dev_client {
            let host = urls
                .iter()
                .find(|u| u.starts_with("tcp://"))
                .map(|u| u.replace("127.0.0.1", "localhost"))
                .unwrap_or_else(|| "tcp://localhost:2376".into());
            eprintln!("\nPoint the docker CLI at Portcullis with:\n\n{}", env_lines("sh", &host, dir));
            if host == "tcp://localhost:2376" && cfg.data_dir == default_data_dir() {
                eprintln!("or: eval \"$(portcullis env dev)\"\n");
            }
        }
        if let Some(f) = &cfg.ready_file {
            if let Err(e) = std::fs::write(f, urls.join("\n") + "\n") {
                return fail(&format!("{}: {e}", f.display()));
            }
        }
        server.run(shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Reloads policies and certificates; a reload that fails validation keeps the old.
struct Reloader {
    state: Arc<ProxyState>,
    policy_paths: Vec<PathBuf>,
    #[allow(clippy::type_complexity)]
    tls: Option<(
        Arc<tls::ReloadableTls>,
        Option<PathBuf>,
        Option<PathBuf>,
        Option<PathBuf>,
    )>,
}

impl Reloader {
    fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for p in &self.policy_paths {
            if p.is_dir() {
                if let Ok(rd) = std::fs::read_dir(p) {
                    files.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
                }
            }
            files.push(p.clone());
        }
        if let Some((_, c, k, ca)) = &self.tls {
            files.extend([c, k, ca].into_iter().flatten().cloned());
        }
        files
    }

    fn reload(&self, why: &str) {
        if !self.policy_paths.is_empty() {
            match PolicySet::load(&self.policy_paths) {
                Ok(set) => {
                    let names: Vec<String> = set.policies.iter().map(|p| p.name.clone()).collect();
                    self.state.set_policies(set);
                    self.state.observers.metrics.reload(true);
                    tracing::info!(trigger = why, policies = %names.join(","), "policies reloaded");
                }
                Err(errors) => {
                    self.state.observers.metrics.reload(false);
                    for e in &errors {
                        tracing::error!(trigger = why, error = %e, "policy reload rejected; the previous policies keep serving");
                    }
                }
            }
        }
        if let Some((cell, Some(c), Some(k), ca)) = &self.tls {
            match tls::server_config(c, k, ca.as_deref()) {
                Ok(cfg) => {
                    cell.set(cfg);
                    tracing::info!(trigger = why, "TLS certificates reloaded");
                }
                Err(e) => {
                    tracing::error!(trigger = why, error = %e, "certificate reload rejected; the previous certificates keep serving")
                }
            }
        }
    }
}

fn mtimes(files: &[PathBuf]) -> Vec<Option<std::time::SystemTime>> {
    files
        .iter()
        .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect()
}

async fn watch_files(r: Arc<Reloader>, every: std::time::Duration) {
    let mut files = r.watched_files();
    let mut last = mtimes(&files);
    loop {
        tokio::time::sleep(every).await;
        let now_files = r.watched_files();
        let now = mtimes(&now_files);
        if now_files != files || now != last {
            r.reload("file change");
            files = now_files;
            last = now;
        }
    }
}

async fn reload_on_signals(r: Arc<Reloader>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut hup), Ok(mut usr1)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::user_defined1()),
    ) else {
        return;
    };
    loop {
        tokio::select! {
            _ = hup.recv() => {
                r.reload("SIGHUP");
                reopen_audit(&r.state);
            }
            _ = usr1.recv() => reopen_audit(&r.state),
        }
    }
}

fn reopen_audit(state: &ProxyState) {
    if let Some(a) = &state.observers.audit {
        match a.reopen() {
            Ok(()) => tracing::info!("audit log reopened"),
            Err(e) => tracing::error!(error = %e, "cannot reopen the audit log"),
        }
    }
}

/// Give freed memory back to the system after load drops. glibc keeps what a burst of
/// sessions freed in its per-thread arenas (`free` only ever shrinks the top of a heap);
/// without this, RSS stays near its peak (a soak with 1,000 sessions left ~54 MiB
/// resident of which 1.3 MiB was in use). Every 5 s: if connections ended since the last
/// trim and the live count is at most half of its high since then, trim. Under steady
/// load that never holds; after a burst it fires once the tail has closed. A trim of a
/// small heap costs well under a millisecond.
async fn return_memory(conns: Arc<portcullis::proxy::splice::Tracker>) {
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(5));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut high = 0;
    let mut ended_at_trim = conns.ended();
    loop {
        interval.tick().await;
        let live = conns.live();
        high = high.max(live);
        let ended = conns.ended();
        if ended != ended_at_trim && live <= high / 2 {
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            {
                // SAFETY: malloc_trim only walks and releases glibc's free lists.
                let released = unsafe { libc::malloc_trim(0) };
                tracing::debug!(
                    connections = live,
                    peak = high,
                    released,
                    "returned freed memory"
                );
            }
            high = live;
            ended_at_trim = ended;
        }
    }
}
