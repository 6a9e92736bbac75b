//! A private `dockerd` for the end-to-end suites: [`DockerDaemon`] runs one on a unix
//! socket in a temporary directory and imports a tiny busybox image
//! ([`TEST_IMAGE`]). Without dockerd the suites skip loudly ([`require_daemon`]), or
//! fail when `CI=true`.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::clients::clean_env;
use super::command::{
    assert_ok, find_program, free_tcp_port, free_udp_port, in_ci, read_lossy, run_command,
    send_signal, short_tempdir, stdout_of, tail_lines, wait_exit, Input, COMMAND_TIMEOUT,
};

/// Time limit for the private dockerd to answer `GET /_ping`.
const DAEMON_START_TIMEOUT: Duration = Duration::from_secs(60);

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
pub struct DaemonTurn;

impl DaemonTurn {
    /// Wait for the turn (a private Podman takes it too).
    pub fn take() -> DaemonTurn {
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

    /// `docker swarm init` on loopback, with the manager's listen port and the data
    /// path port chosen free: another dockerd on this host may hold the defaults
    /// (2377, 4789).
    pub fn swarm_init(&self) {
        let listen = format!("127.0.0.1:{}", free_tcp_port());
        let data_port = free_udp_port(self.pid).to_string();
        self.direct_ok(&[
            "swarm",
            "init",
            "--advertise-addr",
            "127.0.0.1",
            "--listen-addr",
            &listen,
            "--data-path-port",
            &data_port,
        ]);
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
