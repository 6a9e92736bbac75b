//! The real `portcullis serve` binary as a child process: [`Proxy`] starts it on an
//! ephemeral port with mutual TLS in front of a daemon socket and waits for its ready
//! file ([`Proxy::spawn`] takes any flags); dropping it stops it with SIGTERM.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::certs::TestCerts;
use super::command::{describe, read_lossy, send_signal, short_tempdir, tail_lines, wait_exit};

/// Time limit for the proxy to write its ready file.
const PROXY_START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `portcullis serve` child process.
pub struct Proxy {
    child: Child,
    /// `127.0.0.1:PORT` of the first TCP listener.
    pub addr: String,
    pub log_path: PathBuf,
    ready: PathBuf,
    dir: tempfile::TempDir,
    cli_config: PathBuf,
}

impl Proxy {
    /// Spawn `portcullis serve` on an ephemeral port in front of `daemon_socket`
    /// and wait for its ready file.
    pub fn start(
        daemon_socket: &Path,
        certs: &TestCerts,
        policy: Option<&Path>,
        extra_args: &[&str],
    ) -> Proxy {
        Proxy::start_env(daemon_socket, certs, policy, extra_args, &[])
    }

    /// [`start`](Self::start) with extra environment variables.
    pub fn start_env(
        daemon_socket: &Path,
        certs: &TestCerts,
        policy: Option<&Path>,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Proxy {
        let mut args: Vec<OsString> = vec!["--listen".into(), "tcp://127.0.0.1:0".into()];
        args.extend([
            "--tls-cert".into(),
            certs.server_cert.clone().into(),
            "--tls-key".into(),
            certs.server_key.clone().into(),
            "--tls-client-ca".into(),
            certs.ca_pem.clone().into(),
            "--upstream".into(),
            format!("unix://{}", daemon_socket.display()).into(),
        ]);
        if let Some(policy) = policy {
            args.extend(["--policy".into(), policy.into()]);
        }
        args.extend(extra_args.iter().map(OsString::from));
        Proxy::spawn_env(&args, env)
    }

    /// `portcullis serve ARGS… --ready-file …`, with no flags of its own, once its
    /// ready file names a TCP listener.
    pub fn spawn<A: AsRef<OsStr>>(args: &[A]) -> Proxy {
        Proxy::spawn_env(args, &[])
    }

    /// [`spawn`](Self::spawn) with extra environment variables (`RUST_LOG` is `info`
    /// unless the test's environment or `env` says otherwise).
    pub fn spawn_env<A: AsRef<OsStr>>(args: &[A], env: &[(&str, &str)]) -> Proxy {
        let dir = short_tempdir("pcp");
        let ready = dir.path().join("ready");
        let log_path = dir.path().join("portcullis.log");
        let cli_config = dir.path().join("docker-config");
        fs::create_dir_all(&cli_config).expect("create docker config dir");
        let log = fs::File::create(&log_path).expect("create proxy log");

        let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        cmd.arg("serve").args(args).arg("--ready-file").arg(&ready);
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        // Plain text logs, so excerpts printed on failure are readable.
        cmd.env("NO_COLOR", "1");
        cmd.envs(env.iter().copied());
        let desc = describe(&cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn `{desc}`: {e}"));
        let mut proxy = Proxy {
            child,
            addr: String::new(),
            log_path,
            ready,
            dir,
            cli_config,
        };

        let deadline = Instant::now() + PROXY_START_TIMEOUT;
        let mut last_seen = String::new();
        loop {
            let content = fs::read_to_string(&proxy.ready).unwrap_or_default();
            if let Some(addr) = ready_addr(&content, content == last_seen) {
                proxy.addr = addr;
                return proxy;
            }
            last_seen = content;
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!(
                    "`{desc}` exited early with {status}; log:\n{}",
                    tail_lines(&proxy.log(), 60)
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "`{desc}` wrote no usable ready file ({}) within {}s (content: {last_seen:?}); log:\n{}",
                    proxy.ready.display(),
                    PROXY_START_TIMEOUT.as_secs(),
                    tail_lines(&proxy.log(), 60)
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT` of the admin listener, from the ready file (`None` without one).
    pub fn admin(&self) -> Option<String> {
        let ready = fs::read_to_string(&self.ready).unwrap_or_default();
        ready.lines().find_map(|line| {
            let addr = line.trim().strip_prefix("admin http://")?;
            Some(addr.trim_end_matches('/').to_string())
        })
    }

    /// The port of [`addr`](Self::addr).
    pub fn port(&self) -> &str {
        self.addr.rsplit_once(':').expect("host:port").1
    }

    /// The whole proxy log so far.
    pub fn log(&self) -> String {
        read_lossy(&self.log_path)
    }

    /// Current size of the log, to pass to [`log_since`](Self::log_since).
    pub fn log_len(&self) -> u64 {
        fs::metadata(&self.log_path).map(|m| m.len()).unwrap_or(0)
    }

    /// The part of the log written after `offset`.
    pub fn log_since(&self, offset: u64) -> String {
        let bytes = fs::read(&self.log_path).unwrap_or_default();
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }

    /// Wait up to `limit` for `needle` in the log written after `offset`.
    pub fn wait_log(&self, offset: u64, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.log_since(offset).contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// `tcp://127.0.0.1:PORT`
    pub fn docker_host(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    /// A private docker CLI config directory for clients of this proxy.
    pub fn cli_config(&self) -> &Path {
        &self.cli_config
    }

    /// Send `signal` (e.g. `-HUP`) to the proxy; panics unless `kill` succeeds.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal}");
    }

    /// The proxy's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the proxy process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// First `tcp://HOST:PORT` line of a ready file. A line counts when it ends in
/// a newline, or when the file has stopped changing (`stable`).
fn ready_addr(content: &str, stable: bool) -> Option<String> {
    content
        .split_inclusive('\n')
        .filter(|line| line.ends_with('\n') || stable)
        .filter_map(|line| line.trim().strip_prefix("tcp://"))
        .find(|addr| {
            addr.rsplit_once(':')
                .and_then(|(_, port)| port.parse::<u16>().ok())
                .is_some_and(|port| port != 0)
        })
        .map(str::to_string)
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "[support] portcullis log tail ({}):\n{}",
                self.log_path.display(),
                tail_lines(&self.log(), 60)
            );
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            send_signal(self.child.id(), "-TERM");
            if !wait_exit(&mut self.child, Duration::from_secs(5)) {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}
