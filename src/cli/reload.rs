//! Reloading while serving: policies and server certificates are re-read on SIGHUP and
//! when their files change; a reload that fails validation keeps the old ones. SIGHUP
//! and SIGUSR1 also reopen the audit log (rotation).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::TlsFiles;
use crate::policy::PolicySet;
use crate::proxy::ProxyState;
use crate::tls::{self, ReloadableTls};

/// Reloads policies and certificates; a reload that fails validation keeps the old.
pub struct Reloader {
    pub state: Arc<ProxyState>,
    /// Policy files and directories (empty: the built-in policy, never reloaded).
    pub policy_paths: Vec<PathBuf>,
    /// Policy names bound to listeners (`?policy=NAME`): a reload must keep them all.
    pub listener_policies: Vec<String>,
    /// The served TLS configuration and the files it was made of.
    pub tls: Option<(Arc<ReloadableTls>, TlsFiles)>,
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
        if let Some((_, f)) = &self.tls {
            files.extend(
                [Some(&f.cert), Some(&f.key), f.client_ca.as_ref()]
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        }
        files
    }

    fn reload(&self, why: &str) {
        if !self.policy_paths.is_empty() {
            let loaded = PolicySet::load(&self.policy_paths).and_then(|set| {
                set.check_listener_policies(self.listener_policies.iter().map(String::as_str))?;
                Ok(set)
            });
            match loaded {
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
        if let Some((cell, f)) = &self.tls {
            match tls::server_config(&f.cert, &f.key, f.client_ca.as_deref()) {
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

fn mtimes(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files
        .iter()
        .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect()
}

/// Reload when a watched file (or a policy directory's listing) changes.
pub async fn watch_files(r: Arc<Reloader>, every: Duration) {
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

/// SIGHUP: reload and reopen the audit log; SIGUSR1: reopen the audit log.
pub async fn reload_on_signals(r: Arc<Reloader>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::upstream::{Connector, UpstreamAddr};

    fn names(state: &ProxyState) -> Vec<String> {
        state
            .policies()
            .policies
            .iter()
            .map(|p| p.name.clone())
            .collect()
    }

    #[test]
    fn a_reload_that_drops_a_listener_policy_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let write = |file: &str, text: &str| std::fs::write(dir.path().join(file), text).unwrap();
        write("a.toml", "name = \"default\"\ndefault = true\n");
        write("b.toml", "name = \"traefik\"\n");
        let paths = vec![dir.path().to_path_buf()];
        let set = PolicySet::load(&paths).unwrap();
        let connector = Connector::new(
            UpstreamAddr::Unix("/nonexistent".into()),
            Duration::from_secs(1),
        );
        let state = Arc::new(ProxyState::new(connector, set, Default::default()));
        let r = Reloader {
            state: state.clone(),
            policy_paths: paths,
            listener_policies: vec!["traefik".into()],
            tls: None,
        };
        // Renamed away: the listener's policy would be gone, so the old set stays.
        write("b.toml", "name = \"traefik2\"\n");
        r.reload("test");
        assert_eq!(names(&state), ["default", "traefik"]);
        // A reload that keeps the name is taken.
        write("c.toml", "name = \"traefik\"\n");
        r.reload("test");
        assert_eq!(names(&state), ["default", "traefik2", "traefik"]);
    }
}
