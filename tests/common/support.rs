//! Test support for Portcullis end-to-end tests: REAL parts only.
//!
//! * [`DockerDaemon`] runs a private `dockerd` on a unix socket in a temporary
//!   directory and imports a tiny busybox image (`portcullis-test:latest`).
//! * [`TestCerts`] issues a throw-away CA, a server certificate for
//!   `localhost`/`127.0.0.1` and client certificates (docker `DOCKER_CERT_PATH`
//!   layout) with rcgen.
//! * [`Proxy`] runs the real `portcullis serve` binary on an ephemeral port.
//! * [`docker_via`] / [`compose_via`] run the real docker CLI and docker-compose
//!   through the proxy with mutual TLS, always under a timeout.
//! * [`Cases`] runs many named cases against one shared daemon and reports each
//!   one separately.
//!
//! Nothing here fakes the Docker daemon or the clients: when `dockerd` is not
//! installed the e2e tests are skipped loudly (or fail when `CI=true`).

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// Default time limit for one client command (docker CLI, docker-compose).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// Time limit for the private dockerd to answer `GET /_ping`.
const DAEMON_START_TIMEOUT: Duration = Duration::from_secs(60);
/// Time limit for the proxy to write its ready file.
const PROXY_START_TIMEOUT: Duration = Duration::from_secs(20);

/// Environment variables that could make a client talk to something other than
/// what the test chose, or read the developer's own configuration.
const LEAKY_ENV: &[&str] = &[
    "DOCKER_HOST",
    "DOCKER_TLS",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "DOCKER_CONTEXT",
    "DOCKER_CONFIG",
    "DOCKER_API_VERSION",
    "DOCKER_BUILDKIT",
    "DOCKER_DEFAULT_PLATFORM",
    "DOCKER_CONTENT_TRUST",
    "BUILDKIT_PROGRESS",
    "COMPOSE_FILE",
    "COMPOSE_PROJECT_NAME",
    "COMPOSE_API_VERSION",
    "COMPOSE_TLS_VERSION",
    "COMPOSE_DOCKER_CLI_BUILD",
    // python-requests (docker-compose v1) lets these override the CA that
    // docker-py passes, so the test CA would be ignored.
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    // The clients must reach 127.0.0.1 directly.
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

// ---------------------------------------------------------------------------
// Availability
// ---------------------------------------------------------------------------

/// Full path of an executable found on `PATH` (or in the usual sbin
/// directories, which a non-login `PATH` sometimes lacks).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ]
    .iter()
    .map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(extra)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            fs::metadata(candidate)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// True when both the docker CLI and dockerd are installed.
pub fn docker_available() -> bool {
    find_program("dockerd").is_some() && find_program("docker").is_some()
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true").unwrap_or(false)
}

fn skip_or_fail(reason: &str) -> bool {
    if in_ci() {
        panic!("e2e tests cannot run with CI=true: {reason}");
    }
    let bar = "!".repeat(78);
    eprintln!("\n{bar}\n!!! SKIPPED: e2e tests need dockerd: {reason}\n!!! (set CI=true to make this a failure)\n{bar}\n");
    false
}

/// Whether the end-to-end tests can run here. Missing dockerd/docker or not
/// being root is a loud skip, and a failure when `CI=true`.
pub fn require_daemon() -> bool {
    if find_program("dockerd").is_none() {
        return skip_or_fail("`dockerd` is not on PATH (Debian: apt-get install docker.io)");
    }
    if find_program("docker").is_none() {
        return skip_or_fail("the `docker` CLI is not on PATH");
    }
    if !running_as_root() {
        return skip_or_fail("a private dockerd must run as root");
    }
    true
}

/// Whether an extra client tool (docker-compose, script, …) is installed. A
/// missing tool is reported loudly; under `CI=true` it is a failure.
pub fn require_tool(name: &str) -> bool {
    if find_program(name).is_some() {
        return true;
    }
    if in_ci() {
        panic!("`{name}` is not on PATH, and CI=true forbids skipping");
    }
    eprintln!("!!! SKIPPED PART: `{name}` is not on PATH");
    false
}

// ---------------------------------------------------------------------------
// Running commands with a time limit
// ---------------------------------------------------------------------------

/// What to feed a command on stdin.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// stdin is /dev/null.
    Null,
    /// Write the bytes, then close stdin (EOF).
    Bytes(&'a [u8]),
    /// Write the bytes and keep stdin open until the command exits.
    BytesThenHold(&'a [u8]),
}

fn spawn_collector(
    mut source: impl Read + Send + 'static,
) -> (Arc<Mutex<Vec<u8>>>, mpsc::Receiver<()>) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&buf);
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match source.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .expect("collector lock")
                    .extend_from_slice(&chunk[..n]),
            }
        }
        let _ = done_tx.send(());
    });
    (buf, done_rx)
}

fn kill_group(child: &mut Child) {
    // The child leads its own process group (see `run_command`), so this also
    // ends anything it started.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
}

/// Run `cmd` to completion, feeding `input`, killing it (and its process
/// group) after `timeout`. A timeout shows up as a failed status plus a note
/// on stderr, never as a hang.
pub fn run_command(mut cmd: Command, input: Input<'_>, timeout: Duration) -> Output {
    let desc = describe(&cmd);
    cmd.stdin(match input {
        Input::Null => Stdio::null(),
        _ => Stdio::piped(),
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{desc}`: {e}"));

    let (held_tx, held_rx) = mpsc::channel();
    if let (Some(mut stdin), Input::Bytes(data) | Input::BytesThenHold(data)) =
        (child.stdin.take(), input)
    {
        let data = data.to_vec();
        let hold = matches!(input, Input::BytesThenHold(_));
        thread::spawn(move || {
            let _ = stdin.write_all(&data);
            let _ = stdin.flush();
            if hold {
                // Hand the pipe back so it closes only when the command ends.
                let _ = held_tx.send(stdin);
            }
        });
    }
    let (out, out_done) = spawn_collector(child.stdout.take().expect("piped stdout"));
    let (err, err_done) = spawn_collector(child.stderr.take().expect("piped stderr"));

    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status: ExitStatus = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                kill_group(&mut child);
                break child.wait().expect("wait for killed child");
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for `{desc}`: {e}"),
        }
    };
    drop(held_rx.try_recv());
    // A grandchild in another process group may keep a pipe open; do not wait
    // for it forever.
    let _ = out_done.recv_timeout(Duration::from_secs(10));
    let _ = err_done.recv_timeout(Duration::from_secs(10));
    let stdout = out.lock().expect("stdout lock").clone();
    let mut stderr = err.lock().expect("stderr lock").clone();
    if timed_out {
        stderr.extend_from_slice(
            format!(
                "\n[support] TIMED OUT after {}s and killed: {desc}\n",
                timeout.as_secs()
            )
            .as_bytes(),
        );
    }
    Output {
        status,
        stdout,
        stderr,
    }
}

fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(shell_quote));
    parts.join(" ")
}

fn shell_quote(arg: &OsStr) -> String {
    let s = arg.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Panic with the command's output unless it exited with status 0.
pub fn assert_ok(out: &Output, what: &str) {
    if !out.status.success() {
        panic!("{what}: failed with {}\n{}", out.status, show(out));
    }
}

/// Panic unless the command failed (non-zero status).
pub fn assert_fails(out: &Output, what: &str) {
    if out.status.success() {
        panic!("{what}: succeeded but was expected to fail\n{}", show(out));
    }
}

/// Human-readable stdout + stderr of a command.
pub fn show(out: &Output) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The last `n` lines of `text`.
pub fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("<cannot read {}: {e}>", path.display()))
}

fn clean_env(cmd: &mut Command) {
    for var in LEAKY_ENV {
        cmd.env_remove(var);
    }
    cmd.env("DOCKER_CLI_HINTS", "false");
}

fn send_signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

fn wait_exit(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    matches!(child.try_wait(), Ok(Some(_)))
}

fn short_tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .expect("create temporary directory in /tmp")
}

// ---------------------------------------------------------------------------
// Private dockerd
// ---------------------------------------------------------------------------

/// The test image every case uses: static busybox and nothing else.
pub const TEST_IMAGE: &str = "portcullis-test:latest";

/// A private dockerd on a unix socket in a temporary directory.
pub struct DockerDaemon {
    dir: tempfile::TempDir,
    socket: PathBuf,
    log_path: PathBuf,
    cli_config: PathBuf,
    child: Child,
    pid: u32,
    /// Held until the daemon is stopped and its directory removed (dropped last).
    _turn: DaemonTurn,
}

/// Which thread may run private dockerds now, and how many it runs.
static TURN: Mutex<Option<(thread::ThreadId, usize)>> = Mutex::new(None);
static TURN_FREED: Condvar = Condvar::new();

/// The right to run private dockerds: one test thread at a time in a process (the
/// e2e suites are threads of one binary, and two daemons would share the default
/// bridge, iptables chains and the machine's cores). The thread that holds it may
/// start more daemons; others wait until its last one is gone.
struct DaemonTurn;

impl DaemonTurn {
    fn take() -> DaemonTurn {
        let me = thread::current().id();
        let mut turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match &mut *turn {
                None => {
                    *turn = Some((me, 1));
                    return DaemonTurn;
                }
                Some((owner, count)) if *owner == me => {
                    *count += 1;
                    return DaemonTurn;
                }
                Some(_) => {
                    turn = TURN_FREED
                        .wait(turn)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
    }
}

impl Drop for DaemonTurn {
    fn drop(&mut self) {
        let mut turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, count)) = &mut *turn {
            *count -= 1;
            if *count == 0 {
                *turn = None;
                TURN_FREED.notify_all();
            }
        }
    }
}

impl DockerDaemon {
    /// Start dockerd, wait for `/_ping`, and import [`TEST_IMAGE`].
    pub fn start() -> DockerDaemon {
        let turn = DaemonTurn::take();
        let dockerd = find_program("dockerd").expect("dockerd on PATH (call require_daemon first)");
        let dir = short_tempdir("pc");
        let d = dir.path().to_path_buf();
        let socket = d.join("docker.sock");
        let log_path = d.join("dockerd.log");
        let cli_config = d.join("cli-config");
        fs::create_dir_all(&cli_config).expect("create docker CLI config dir");
        let log = fs::File::create(&log_path).expect("create dockerd log");
        let child = spawn_dockerd(&dockerd, &d, &socket, log);
        let pid = child.id();
        // From here on a panic drops `daemon`, which stops dockerd and cleans up.
        let mut daemon = DockerDaemon {
            dir,
            socket,
            log_path,
            cli_config,
            child,
            pid,
            _turn: turn,
        };
        daemon.wait_ready();
        daemon.import_test_image();
        daemon
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + DAEMON_START_TIMEOUT;
        loop {
            if ping(&self.socket) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "dockerd exited early with {status}; log tail:\n{}",
                    tail_lines(&self.log(), 40)
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "dockerd did not answer /_ping on {} within {}s; log tail:\n{}",
                    self.socket.display(),
                    DAEMON_START_TIMEOUT.as_secs(),
                    tail_lines(&self.log(), 40)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn import_test_image(&self) {
        let busybox = find_program("busybox").expect("busybox (busybox-static) on PATH");
        let rootfs = self.dir.path().join("rootfs");
        let bin = rootfs.join("bin");
        fs::create_dir_all(&bin).expect("create rootfs/bin");
        fs::copy(&busybox, bin.join("busybox")).expect("copy busybox into rootfs");
        fs::create_dir_all(rootfs.join("tmp")).expect("create rootfs/tmp");
        let list = Command::new(&busybox)
            .arg("--list")
            .output()
            .expect("busybox --list");
        assert_ok(&list, "busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
            if applet != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
            }
        }
        let mut tar = Command::new("tar");
        tar.arg("-C").arg(&rootfs).args(["-cf", "-", "."]);
        let tarball = run_command(tar, Input::Null, COMMAND_TIMEOUT);
        assert_ok(&tarball, "tar of the test rootfs");
        let import = run_command(
            self.direct_command(&["import", "-c", r#"CMD ["/bin/sh"]"#, "-", TEST_IMAGE]),
            Input::Bytes(&tarball.stdout),
            COMMAND_TIMEOUT,
        );
        assert_ok(&import, "docker import of the test image");
    }

    /// The daemon's unix socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The daemon's temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The whole dockerd log so far.
    pub fn log(&self) -> String {
        read_lossy(&self.log_path)
    }

    /// A docker CLI command aimed straight at the private socket (no proxy).
    pub fn direct_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker");
        clean_env(&mut cmd);
        cmd.env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", &self.cli_config)
            .args(args);
        cmd
    }

    /// Run the docker CLI straight against the private socket (no proxy).
    pub fn direct(&self, args: &[&str]) -> Output {
        run_command(self.direct_command(args), Input::Null, COMMAND_TIMEOUT)
    }

    /// Like [`direct`](Self::direct) but panics unless it succeeds; returns stdout.
    pub fn direct_ok(&self, args: &[&str]) -> String {
        let out = self.direct(args);
        assert_ok(&out, &format!("direct: docker {}", args.join(" ")));
        stdout_of(&out)
    }

    /// Remove every container, best effort (direct).
    pub fn remove_all_containers(&self) {
        let ids = self.direct(&["ps", "-aq"]);
        let ids = stdout_of(&ids);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = self.direct(&args);
        }
    }

    /// Stop dockerd the way an operator restarts it (SIGTERM, no cleanup first), keep
    /// it down for `down_for`, then start it again on the same socket and data root.
    /// Containers with `--restart always` come back.
    pub fn restart(&mut self, down_for: Duration) {
        send_signal(self.pid, "-TERM");
        if !wait_exit(&mut self.child, Duration::from_secs(30)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        thread::sleep(down_for);
        let dockerd = find_program("dockerd").expect("dockerd on PATH");
        let log = fs::OpenOptions::new()
            .append(true)
            .open(&self.log_path)
            .expect("reopen dockerd log");
        self.child = spawn_dockerd(&dockerd, self.dir.path(), &self.socket, log);
        self.pid = self.child.id();
        self.wait_ready();
    }

    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // Quick cleanup so shutdown does not wait on stop timeouts.
        let _ = run_command(
            self.direct_command(&["swarm", "leave", "--force"]),
            Input::Null,
            Duration::from_secs(30),
        );
        self.remove_all_containers();
        send_signal(self.pid, "-TERM");
        if !wait_exit(&mut self.child, Duration::from_secs(20)) {
            eprintln!(
                "[support] dockerd {} did not exit after SIGTERM; sending SIGKILL",
                self.pid
            );
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn unmount_leftovers(&self) {
        let dir = self.dir.path().to_string_lossy().into_owned();
        let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut points: Vec<String> = mounts
            .lines()
            .filter_map(|line| line.split(' ').nth(1))
            .map(unescape_mount_path)
            .filter(|p| p == &dir || p.starts_with(&format!("{dir}/")))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        points.dedup();
        for point in points {
            let _ = Command::new("umount")
                .args(["-l", &point])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn spawn_dockerd(dockerd: &Path, dir: &Path, socket: &Path, log: fs::File) -> Child {
    Command::new(dockerd)
        .arg("--host")
        .arg(format!("unix://{}", socket.display()))
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--pidfile")
        .arg(dir.join("docker.pid"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log handle"))
        .stderr(log)
        .spawn()
        .expect("spawn dockerd")
}

/// /proc/self/mounts escapes space, tab, newline and backslash as octal.
fn unescape_mount_path(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn ping(socket: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.") && response.contains(" 200 ") && response.ends_with("OK")
}

impl Drop for DockerDaemon {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "[support] dockerd log tail ({}):\n{}",
                self.log_path.display(),
                tail_lines(&self.log(), 40)
            );
        }
        self.stop();
        self.unmount_leftovers();
        // The TempDir field removes the directory (best effort) after this.
    }
}

// ---------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------

/// A throw-away PKI: CA, server certificate and client identities.
pub struct TestCerts {
    pub dir: PathBuf,
    pub ca_pem: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// `<dir>/client-<cn>/{ca.pem,cert.pem,key.pem}` for the first client.
    pub client_dir: PathBuf,
    ca_cert: Certificate,
    ca_key: KeyPair,
}

fn write_file(path: &Path, contents: &str) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn dn(cn: &str, org: Option<&str>) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, cn);
    if let Some(org) = org {
        name.push(DnType::OrganizationName, org);
    }
    name
}

fn new_ca(cn: &str) -> (Certificate, KeyPair) {
    let key = KeyPair::generate().expect("generate CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name = dn(cn, Some("Portcullis tests"));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).expect("self-sign CA");
    (cert, key)
}

fn client_cert(cn: &str, ca_cert: &Certificate, ca_key: &KeyPair) -> (String, String) {
    let key = KeyPair::generate().expect("generate client key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
    params.distinguished_name = dn(cn, Some("tenants"));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params
        .signed_by(&key, ca_cert, ca_key)
        .expect("sign client cert");
    (cert.pem(), key.serialize_pem())
}

impl TestCerts {
    /// Generate a CA, a server certificate (SANs `localhost`, `127.0.0.1`) and
    /// a client identity `client_cn` (O = tenants) into `dir`.
    pub fn generate(dir: &Path, client_cn: &str) -> TestCerts {
        fs::create_dir_all(dir).expect("create certs dir");
        let (ca_cert, ca_key) = new_ca("Portcullis Test CA");
        let ca_pem = dir.join("ca.pem");
        write_file(&ca_pem, &ca_cert.pem());

        let server_key_pair = KeyPair::generate().expect("generate server key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("server params");
        params.distinguished_name = dn("localhost", Some("Portcullis tests"));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = params
            .signed_by(&server_key_pair, &ca_cert, &ca_key)
            .expect("sign server cert");
        let server_cert = dir.join("server-cert.pem");
        let server_key = dir.join("server-key.pem");
        write_file(&server_cert, &server.pem());
        write_file(&server_key, &server_key_pair.serialize_pem());

        let mut certs = TestCerts {
            dir: dir.to_path_buf(),
            ca_pem,
            server_cert,
            server_key,
            client_dir: PathBuf::new(),
            ca_cert,
            ca_key,
        };
        certs.client_dir = certs.add_client(client_cn);
        certs
    }

    /// Issue another client identity; returns its docker-layout directory
    /// `<dir>/client-<cn>/` holding `ca.pem`, `cert.pem`, `key.pem`.
    pub fn add_client(&self, cn: &str) -> PathBuf {
        let (cert, key) = client_cert(cn, &self.ca_cert, &self.ca_key);
        self.write_client_dir(&format!("client-{cn}"), &cert, &key)
    }

    /// A client identity signed by a CA the proxy does NOT trust (the
    /// directory's `ca.pem` is still the real CA, so the client itself accepts
    /// the server and the refusal must come from the proxy). Returns
    /// `<dir>/untrusted-<cn>/`.
    pub fn untrusted_client(&self, cn: &str) -> PathBuf {
        let (rogue_ca, rogue_key) = new_ca("Rogue CA");
        let (cert, key) = client_cert(cn, &rogue_ca, &rogue_key);
        self.write_client_dir(&format!("untrusted-{cn}"), &cert, &key)
    }

    fn write_client_dir(&self, name: &str, cert: &str, key: &str) -> PathBuf {
        let dir = self.dir.join(name);
        fs::create_dir_all(&dir).expect("create client dir");
        write_file(&dir.join("ca.pem"), &self.ca_cert.pem());
        write_file(&dir.join("cert.pem"), cert);
        write_file(&dir.join("key.pem"), key);
        let _ = fs::set_permissions(dir.join("key.pem"), fs::Permissions::from_mode(0o600));
        dir
    }
}

// ---------------------------------------------------------------------------
// The proxy under test
// ---------------------------------------------------------------------------

/// A running `portcullis serve` child process.
pub struct Proxy {
    child: Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub log_path: PathBuf,
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
        let dir = short_tempdir("pcp");
        let ready = dir.path().join("ready");
        let log_path = dir.path().join("portcullis.log");
        let cli_config = dir.path().join("docker-config");
        fs::create_dir_all(&cli_config).expect("create docker config dir");
        let log = fs::File::create(&log_path).expect("create proxy log");

        let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        cmd.arg("serve")
            .args(["--listen", "tcp://127.0.0.1:0"])
            .arg("--tls-cert")
            .arg(&certs.server_cert)
            .arg("--tls-key")
            .arg(&certs.server_key)
            .arg("--tls-client-ca")
            .arg(&certs.ca_pem)
            .arg("--upstream")
            .arg(format!("unix://{}", daemon_socket.display()));
        if let Some(policy) = policy {
            cmd.arg("--policy").arg(policy);
        }
        cmd.arg("--ready-file").arg(&ready).args(extra_args);
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        // Plain text logs, so excerpts printed on failure are readable.
        cmd.env("NO_COLOR", "1");
        let desc = describe(&cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn `{desc}`: {e}"));
        let mut proxy = Proxy {
            child,
            addr: String::new(),
            log_path,
            dir,
            cli_config,
        };

        let deadline = Instant::now() + PROXY_START_TIMEOUT;
        let mut last_seen = String::new();
        loop {
            let content = fs::read_to_string(&ready).unwrap_or_default();
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
                    ready.display(),
                    PROXY_START_TIMEOUT.as_secs(),
                    tail_lines(&proxy.log(), 60)
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
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

    /// `tcp://127.0.0.1:PORT`
    pub fn docker_host(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    /// A private docker CLI config directory for clients of this proxy.
    pub fn cli_config(&self) -> &Path {
        &self.cli_config
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

// ---------------------------------------------------------------------------
// Clients through the proxy
// ---------------------------------------------------------------------------

/// `program args…` with the environment of a docker client that talks to the
/// proxy with mutual TLS as the identity in `client_dir`.
pub fn command_via(proxy: &Proxy, client_dir: &Path, program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    clean_env(&mut cmd);
    cmd.env("DOCKER_HOST", proxy.docker_host())
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", client_dir)
        .env("DOCKER_CONFIG", proxy.cli_config())
        .args(args);
    cmd
}

/// The real docker CLI through the proxy; stdin bytes are followed by EOF.
pub fn docker_via(proxy: &Proxy, client_dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    docker_via_env(proxy, client_dir, &[], args, stdin)
}

/// [`docker_via`] with extra environment variables (e.g. `DOCKER_BUILDKIT=0`).
pub fn docker_via_env(
    proxy: &Proxy,
    client_dir: &Path,
    env: &[(&str, &str)],
    args: &[&str],
    stdin: Option<&[u8]>,
) -> Output {
    let mut cmd = command_via(proxy, client_dir, "docker", args);
    cmd.envs(env.iter().copied());
    let input = stdin.map_or(Input::Null, Input::Bytes);
    run_command(cmd, input, COMMAND_TIMEOUT)
}

/// `docker-compose -f file -p project args…` through the proxy.
pub fn compose_via(
    proxy: &Proxy,
    client_dir: &Path,
    file: &Path,
    project: &str,
    args: &[&str],
) -> Output {
    let file_arg = file.to_string_lossy().into_owned();
    let mut full = vec!["-f", file_arg.as_str(), "-p", project];
    full.extend_from_slice(args);
    let mut cmd = command_via(proxy, client_dir, "docker-compose", &full);
    if let Some(parent) = file.parent() {
        cmd.current_dir(parent);
    }
    run_command(cmd, Input::Null, COMMAND_TIMEOUT)
}

// ---------------------------------------------------------------------------
// A tiny case runner
// ---------------------------------------------------------------------------

/// Runs named cases one after another, catching panics so that every case is
/// reported on its own while they share one daemon and one proxy.
#[derive(Default)]
pub struct Cases {
    failures: Vec<String>,
    passed: usize,
}

impl Cases {
    pub fn new() -> Cases {
        Cases::default()
    }

    /// Run one case; returns whether it passed.
    ///
    /// The closure only borrows shared fixtures for reading, so it is wrapped
    /// in `AssertUnwindSafe` here (as libtest does) rather than asking every
    /// caller to.
    pub fn run(&mut self, name: &str, f: impl FnOnce()) -> bool {
        println!("case {name} ...");
        let started = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        let secs = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                println!("case {name} ... ok ({secs:.1}s)");
                self.passed += 1;
                true
            }
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "<non-string panic>".to_string());
                println!("case {name} ... FAILED ({secs:.1}s)");
                self.failures.push(format!("{name}: {message}"));
                false
            }
        }
    }

    pub fn passed(&self) -> usize {
        self.passed
    }

    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    /// Print the summary and panic if any case failed.
    pub fn finish(self) {
        println!(
            "e2e: {} passed, {} failed",
            self.passed,
            self.failures.len()
        );
        if !self.failures.is_empty() {
            let list: Vec<String> = self
                .failures
                .iter()
                .map(|f| format!("  - {}", tail_lines(f, 60).replace('\n', "\n    ")))
                .collect();
            panic!(
                "{} e2e case(s) failed:\n{}",
                self.failures.len(),
                list.join("\n")
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------

/// A free TCP port on 127.0.0.1.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// A free UDP port in the range dockerd accepts for `--data-path-port`. The search
/// starts at a point derived from the process id and `salt`, so swarms of different
/// suites on this host keep apart.
pub fn free_udp_port(salt: u32) -> u16 {
    let start = 20000 + ((std::process::id() + salt) % 20000) as u16;
    (start..49000)
        .chain(20000..start)
        .find(|port| std::net::UdpSocket::bind(("0.0.0.0", *port)).is_ok())
        .expect("a free UDP port")
}
