//! `portcullis serve`: validate the settings, resolve TLS (creating dev certificates on
//! the quick start), load policies, then serve until SIGINT/SIGTERM, reloading on SIGHUP
//! and on file changes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::env::{env_lines, DEFAULT_HOST};
use super::fail;
use super::reload::{reload_on_signals, watch_files, Reloader};
use crate::audit::AuditSink;
use crate::config::{default_data_dir, AdminListen, Config, LogFormat, Settings, TlsMode};
use crate::proxy::body::Observers;
use crate::proxy::splice::Tracker;
use crate::proxy::{upstream, ProxyState};
use crate::server::{Server, ServerOptions};
use crate::{admin, sys, tls};

#[derive(Args, Default)]
pub struct ServeArgs {
    /// TOML config file with the same keys as these flags (flags win).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: Settings,
}

pub fn run(args: ServeArgs) -> ExitCode {
    let file = match &args.config {
        Some(p) => match Settings::from_file(p) {
            Ok(f) => f,
            Err(e) => return fail(&e),
        },
        None => Settings::default(),
    };
    let cfg = match file.overlay(args.settings).validate() {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                eprintln!("portcullis: config: {e}");
            }
            return ExitCode::from(2);
        }
    };
    init_tracing(cfg.log_format);
    raise_open_files_limit(cfg.max_connections);
    serve(cfg)
}

fn serve(cfg: Config) -> ExitCode {
    let serving = match cfg.tls.resolve() {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let tls_config = match &serving.files {
        Some(f) => match tls::server_config(&f.cert, &f.key, f.client_ca.as_deref()) {
            Ok(t) => Some(Arc::new(tls::ReloadableTls::new(t))),
            Err(e) => return fail(&e.to_string()),
        },
        None => None,
    };
    let mtls = match &serving.files {
        None => {
            tracing::warn!("serving plain TCP without TLS (--insecure-no-tls): every client is anonymous and traffic is readable");
            false
        }
        Some(f) if f.client_ca.is_none() => {
            tracing::warn!("TLS without client certificates: clients are not identified");
            false
        }
        Some(_) => true,
    };

    let bound_policies = cfg.listener_policies();
    let policies = match super::policy::load(&cfg.policy).and_then(|set| {
        set.check_listener_policies(bound_policies.iter().map(String::as_str))?;
        Ok(set)
    }) {
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
    let upstream = match cfg.upstream.resolve() {
        Ok(u) => u,
        Err(e) => return fail(&e),
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
        let observers = Observers {
            metrics: Default::default(),
            audit: Some(audit),
        };
        let state = Arc::new(
            ProxyState::with_observers(connector, policies, cfg.limits.clone(), observers)
                .shards(cfg.workers),
        );
        state.observers.metrics.reload(true);
        tokio::spawn(return_memory(state.connections.clone()));
        let opts = ServerOptions {
            mtls,
            tls: tls_config.clone(),
            handshake_timeout: cfg.handshake_timeout,
            header_timeout: cfg.header_timeout,
            grace_period: cfg.grace_period,
            max_connections: cfg.max_connections,
            workers: cfg.workers,
        };
        let server = match Server::bind_listeners(&cfg.listen, state.clone(), opts).await {
            Ok(s) => s,
            Err(e) => return fail(&e.to_string()),
        };
        let mut urls = server.local_urls();
        if let AdminListen::Tcp { addr, required } = &cfg.admin {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => {
                    let a = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
                    tracing::info!(admin = %a, "admin listener: /metrics /healthz /readyz");
                    urls.push(format!("admin http://{a}"));
                    tokio::spawn(admin::serve(l, state.clone()));
                }
                Err(e) if *required => return fail(&format!("admin listener {addr}: {e}")),
                Err(e) => tracing::warn!(addr = %addr, error = %e, "admin listener not started"),
            }
        }
        let reloader = Arc::new(Reloader {
            state: state.clone(),
            policy_paths: cfg.policy.clone(),
            listener_policies: bound_policies,
            tls: tls_config.zip(serving.files),
        });
        tokio::spawn(reload_on_signals(reloader.clone()));
        if let Some(every) = cfg.watch_interval {
            tokio::spawn(watch_files(reloader, every));
        }
        tracing::info!(listen = %urls.join(" "), upstream = ?state.connector.addr(), "portcullis is serving");
        if let Some(dir) = &serving.dev_client {
            let host = urls
                .iter()
                .find(|u| u.starts_with("tcp://"))
                .map(|u| u.replace("127.0.0.1", "localhost"))
                .unwrap_or_else(|| DEFAULT_HOST.into());
            eprintln!("\nPoint the docker CLI at Portcullis with:\n\n{}", env_lines("sh", &host, dir));
            let default_dir = matches!(&cfg.tls, TlsMode::Dev { data_dir } if *data_dir == default_data_dir());
            if host == DEFAULT_HOST && default_dir {
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

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal, and never with NO_COLOR set (https://no-color.org).
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => b.json().flatten_event(true).init(),
        LogFormat::Text => b.init(),
    }
}

/// Each proxied connection holds two descriptors (client and daemon): raise the soft
/// open-files limit to the hard one, and warn when even that cannot hold
/// `max_connections`.
fn raise_open_files_limit(max_connections: usize) {
    let Some(limit) = sys::raise_open_files_limit() else {
        return;
    };
    let needed = (max_connections as u64)
        .saturating_mul(2)
        .saturating_add(64);
    if limit.now < needed {
        tracing::warn!(
            open_files = limit.now,
            max_connections,
            "the open-files limit cannot hold max_connections (two descriptors each); raise `ulimit -n` or LimitNOFILE"
        );
    } else {
        tracing::debug!(from = limit.before, to = limit.now, "open-files limit");
    }
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

/// Give freed memory back to the system after load drops. glibc keeps what a burst of
/// sessions freed in its per-thread arenas (`free` only ever shrinks the top of a heap);
/// without this, RSS stays near its peak (a soak with 1,000 sessions left ~54 MiB
/// resident of which 1.3 MiB was in use). Every 5 s: if connections ended since the last
/// trim and the live count is at most half of its high since then, trim. Under steady
/// load that never holds; after a burst it fires once the tail has closed. A trim of a
/// small heap costs well under a millisecond.
async fn return_memory(conns: Arc<Tracker>) {
    let mut interval = tokio::time::interval(Duration::from_secs(5));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut high = 0;
    let mut ended_at_trim = conns.ended();
    loop {
        interval.tick().await;
        let live = conns.live();
        high = high.max(live);
        let ended = conns.ended();
        if ended != ended_at_trim && live <= high / 2 {
            if let Some(released) = sys::release_free_memory() {
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

#[cfg(test)]
mod tests {
    use clap::{Args, Command, FromArgMatches};

    use super::*;
    use crate::config::SettingInfo;

    fn command() -> Command {
        ServeArgs::augment_args(Command::new("serve"))
    }

    fn parse(args: &[&str]) -> ServeArgs {
        let m = command()
            .try_get_matches_from(std::iter::once("serve").chain(args.iter().copied()))
            .unwrap();
        ServeArgs::from_arg_matches(&m).unwrap()
    }

    #[test]
    fn absent_flags_leave_the_file_settings() {
        let file: Settings =
            toml::from_str("insecure_no_tls = true\nlisten = [\"tcp://0.0.0.0:1\"]\nworkers = 3\n")
                .unwrap();
        let none = parse(&[]);
        assert!(none.config.is_none());
        let merged = file.clone().overlay(none.settings);
        assert_eq!(merged.insecure_no_tls, Some(true));
        assert_eq!(merged.listen, Some(vec!["tcp://0.0.0.0:1".to_string()]));
        assert_eq!(merged.workers, Some(3));

        let flags = parse(&[
            "-c",
            "x.toml",
            "--listen",
            "tcp://a:1",
            "--listen",
            "unix:///b",
            "--workers",
            "2",
            "--insecure-no-tls",
        ]);
        assert_eq!(flags.config, Some(PathBuf::from("x.toml")));
        let merged = file.overlay(flags.settings);
        assert_eq!(
            merged.listen,
            Some(vec!["tcp://a:1".to_string(), "unix:///b".to_string()])
        );
        assert_eq!(merged.workers, Some(2));
        assert_eq!(merged.insecure_no_tls, Some(true));
    }

    #[test]
    fn every_setting_is_a_flag_with_its_default_in_the_help() {
        let mut cmd = command();
        let help = cmd.render_help().to_string().replace('\n', " ");
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for SettingInfo { key, default } in Settings::table() {
            let flag = format!("--{}", key.replace('_', "-"));
            assert!(help.contains(&flag), "{flag} missing from --help");
            if let Some(d) = default {
                let d = d.split_whitespace().collect::<Vec<_>>().join(" ");
                assert!(help.contains(&format!("[default: {d}]")), "{flag}: {d}");
            }
        }
        assert!(help.contains("-c, --config"));
        assert!(parse(&["--insecure-no-tls"]).settings.insecure_no_tls == Some(true));
        assert!(command()
            .try_get_matches_from(["serve", "--insecure-no-tls=false"])
            .is_err());
    }
}
