//! Running programs from the tests: commands under a time limit with their output
//! collected, output helpers, signals, temporary directories, free ports.

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Default time limit for one client command (docker CLI, docker-compose).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

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

/// Whether this is CI (`CI=true`), where a missing part fails instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true").unwrap_or(false)
}

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

pub fn describe(cmd: &Command) -> String {
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

pub fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("<cannot read {}: {e}>", path.display()))
}

pub fn send_signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

pub fn wait_exit(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    matches!(child.try_wait(), Ok(Some(_)))
}

pub fn short_tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .expect("create temporary directory in /tmp")
}

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
