//! End-to-end: the real docker CLI through the real `portcullis serve` binary (mutual
//! TLS) to a real Podman (`podman system service`, Debian's podman 4.3) serving the
//! Docker API on a private unix socket, with private storage, run and config dirs.
//!
//! Podman has no authorization plugins, so a proxy is the only place for rules. This
//! suite checks that what works against dockerd works against Podman (run, exec,
//! attach, logs, cp), that the same host escapes are refused with the same rule ids,
//! that the rules which read existing objects (PC-1029, PC-1005, PC-1006, PC-1008 on
//! `container:<x>`) decide alike on Podman's inspect answers, and that Podman's own
//! `/libpod/...` API is refused. Skipped loudly without podman; a failure under
//! `CI=true`.
//!
//! `podman_inspect_shapes_decide_like_dockerd` needs no Podman: it feeds inspect
//! answers recorded from Podman 4.3 to the pure decision path.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::cases::Cases;
use crate::common::certs::TestCerts;
use crate::common::clients::{command_via, docker_via, require_tool};
use crate::common::command::{
    assert_fails, assert_ok, find_program, run_command, show, stderr_of, stdout_of, tail_lines,
    Input, COMMAND_TIMEOUT,
};
use crate::common::daemon::{DaemonTurn, TEST_IMAGE};
use crate::common::processes::Proxy;
use http::Method;
use portcullis::policy::pipeline::{check, Outcome};
use portcullis::policy::{ContainerFacts, Decision, Facts, PolicySet, VolumeFacts};
use portcullis::tls::Identity;

const DEFAULT_POLICY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/default.toml");
/// The owner label of the test client (CN=alice), for containers made straight on Podman.
const OWNED: &str = "--label=io.portcullis.owner=alice";

/// Time limit for Podman to answer `GET /_ping`.
const PODMAN_START_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// Availability
// ---------------------------------------------------------------------------

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether this suite can run: podman, the docker CLI, curl, busybox and root. A
/// missing piece is a loud skip, and a failure when `CI=true`.
fn require_podman() -> bool {
    let missing = if find_program("podman").is_none() {
        Some("`podman` is not on PATH (Debian: apt-get install podman)")
    } else if find_program("docker").is_none() {
        Some("the `docker` CLI is not on PATH")
    } else if find_program("curl").is_none() {
        Some("`curl` is not on PATH")
    } else if find_program("busybox").is_none() {
        Some("`busybox` (busybox-static) is not on PATH")
    } else if !Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    {
        Some("a private rootful Podman service must run as root")
    } else {
        None
    };
    let Some(reason) = missing else {
        return true;
    };
    if in_ci() {
        panic!("the Podman e2e test cannot run with CI=true: {reason}");
    }
    let bar = "!".repeat(78);
    eprintln!(
        "\n{bar}\n!!! SKIPPED: the Podman e2e test needs podman: {reason}\n\
         !!! (set CI=true to make this a failure)\n{bar}\n"
    );
    false
}

// ---------------------------------------------------------------------------
// A private Podman service
// ---------------------------------------------------------------------------

/// `podman system service` on a private socket, with its own storage (vfs), run
/// dir, network config, events log and `containers.conf`. The sandbox this runs in
/// forbids Podman's default rlimits, so the config sets `default_ulimits`.
struct PodmanService {
    dir: tempfile::TempDir,
    socket: PathBuf,
    log_path: PathBuf,
    cli_config: PathBuf,
    child: Child,
    /// The e2e suites' turn to run a private daemon (dropped last).
    _turn: DaemonTurn,
}

impl PodmanService {
    fn start() -> PodmanService {
        let turn = DaemonTurn::take();
        let dir = tempfile::Builder::new()
            .prefix("pcpm")
            .tempdir_in("/tmp")
            .expect("create temporary directory in /tmp");
        let d = dir.path();
        for sub in ["root", "runroot", "xdg", "tmp", "netconf", "cli-config"] {
            fs::create_dir_all(d.join(sub)).expect("create podman dirs");
        }
        let conf = d.join("containers.conf");
        fs::write(
            &conf,
            format!(
                "[containers]\n\
                 default_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\
                 log_driver = \"k8s-file\"\n\
                 [engine]\n\
                 cgroup_manager = \"cgroupfs\"\n\
                 events_logger = \"file\"\n\
                 events_logfile_path = \"{d}/events.log\"\n\
                 tmp_dir = \"{d}/tmp\"\n\
                 volume_path = \"{d}/root/volumes\"\n\
                 [network]\n\
                 network_config_dir = \"{d}/netconf\"\n",
                d = d.display()
            ),
        )
        .expect("write containers.conf");
        let storage = d.join("storage.conf");
        fs::write(
            &storage,
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{d}/root\"\nrunroot = \"{d}/runroot\"\n",
                d = d.display()
            ),
        )
        .expect("write storage.conf");
        let socket = d.join("podman.sock");
        let log_path = d.join("podman.log");
        let log = fs::File::create(&log_path).expect("create podman log");
        let child = Command::new(find_program("podman").expect("podman on PATH"))
            .env("CONTAINERS_CONF", &conf)
            .env("CONTAINERS_STORAGE_CONF", &storage)
            .env("XDG_RUNTIME_DIR", d.join("xdg"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn podman system service");
        let mut podman = PodmanService {
            cli_config: d.join("cli-config"),
            dir,
            socket,
            log_path,
            child,
            _turn: turn,
        };
        podman.wait_ready();
        podman.import_test_image();
        podman
    }

    fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + PODMAN_START_TIMEOUT;
        loop {
            let ping = run_command(
                self.curl(&["-o", "/dev/null", "-w", "%{http_code}", "http://d/_ping"]),
                Input::Null,
                Duration::from_secs(10),
            );
            if stdout_of(&ping) == "200" {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "podman system service exited early with {status}; log tail:\n{}",
                    tail_lines(&self.log(), 40)
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "podman did not answer /_ping within {}s; log tail:\n{}",
                    PODMAN_START_TIMEOUT.as_secs(),
                    tail_lines(&self.log(), 40)
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// `curl` aimed straight at Podman's socket (no proxy).
    fn curl(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "--unix-socket"])
            .arg(&self.socket)
            .args(args);
        cmd
    }

    /// The docker CLI straight at Podman's socket (no proxy).
    fn direct(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("docker");
        for var in [
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
            "DOCKER_CONTEXT",
            "DOCKER_API_VERSION",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", &self.cli_config)
            .env("DOCKER_CLI_HINTS", "false")
            .args(args);
        run_command(cmd, Input::Null, COMMAND_TIMEOUT)
    }

    fn direct_ok(&self, args: &[&str]) -> String {
        let out = self.direct(args);
        assert_ok(&out, &format!("direct (podman): docker {}", args.join(" ")));
        stdout_of(&out)
    }

    /// A static-busybox image, imported through Podman's Docker API.
    fn import_test_image(&self) {
        let busybox = find_program("busybox").expect("busybox on PATH");
        let rootfs = self.dir.path().join("rootfs");
        let bin = rootfs.join("bin");
        fs::create_dir_all(&bin).expect("create rootfs/bin");
        fs::create_dir_all(rootfs.join("tmp")).expect("create rootfs/tmp");
        fs::copy(&busybox, bin.join("busybox")).expect("copy busybox");
        let list = Command::new(&busybox)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
            if applet != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
            }
        }
        let mut tar = Command::new("tar");
        tar.arg("-C").arg(&rootfs).args(["-cf", "-", "."]);
        let tarball = run_command(tar, Input::Null, COMMAND_TIMEOUT);
        assert_ok(&tarball, "tar of the test rootfs");
        let mut import = Command::new("docker");
        import
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", &self.cli_config)
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .args(["import", "-c", r#"CMD ["/bin/sh"]"#, "-", TEST_IMAGE]);
        let out = run_command(import, Input::Bytes(&tarball.stdout), COMMAND_TIMEOUT);
        assert_ok(&out, "docker import of the test image into podman");
    }

    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let ids = stdout_of(&self.direct(&["ps", "-aq"]));
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f", "-v"];
                args.extend(ids);
                let _ = self.direct(&args);
            }
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let dir = self.dir.path().to_string_lossy().into_owned();
        // conmon keeps an exec session's monitor for a while after the exec ends
        // (`--exit-delay`); end those of this service, found by its private dir.
        kill_processes_naming(&dir);
        // Whatever Podman left mounted under the temp dir (volumes, shm).
        let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            .filter(|p| p.starts_with(&dir))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = Command::new("umount")
                .args(["-l", p])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// SIGKILL every process whose command line names `dir` (one by one, by pid).
fn kill_processes_naming(dir: &str) {
    let Ok(entries) = fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(dir) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for PodmanService {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "[podman] service log tail:\n{}",
                tail_lines(&self.log(), 40)
            );
        }
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------

struct World<'a> {
    podman: &'a PodmanService,
    proxy: &'a Proxy,
    certs: &'a TestCerts,
}

impl World<'_> {
    fn docker(&self, args: &[&str]) -> Output {
        docker_via(self.proxy, &self.certs.client_dir, args, None)
    }

    fn docker_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        docker_via(self.proxy, &self.certs.client_dir, args, Some(stdin))
    }

    fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert_ok(&out, &format!("docker {}", args.join(" ")));
        stdout_of(&out)
    }

    /// The docker CLI through the proxy must fail with every one of `rules` in its
    /// error, and the request must not have reached Podman.
    fn refused(&self, args: &[&str], rules: &[&str]) {
        let out = self.docker(args);
        assert_fails(&out, &format!("docker {}", args.join(" ")));
        let err = stderr_of(&out);
        for rule in rules {
            assert!(
                err.contains(&format!("Error response from daemon: {rule}"))
                    || err.contains(&format!("; {rule}: ")),
                "docker {}: expected {rule} in the error\n{}",
                args.join(" "),
                show(&out)
            );
        }
    }

    /// `curl` through the proxy with the client certificate; returns (status, body).
    fn curl(&self, method: &str, path: &str, body: Option<&str>) -> (String, String) {
        self.curl_with(method, path, body, &[])
    }

    /// A hijack request (`Upgrade: tcp`) through the proxy that must be refused, so
    /// curl reads an ordinary answer.
    fn curl_upgrade(&self, path: &str) -> (String, String) {
        self.curl_with(
            "POST",
            path,
            None,
            &["-H", "Connection: Upgrade", "-H", "Upgrade: tcp"],
        )
    }

    fn curl_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        extra: &[&str],
    ) -> (String, String) {
        let dir = &self.certs.client_dir;
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-X", method, "-w", "\n%{http_code}", "--cacert"])
            .arg(dir.join("ca.pem"))
            .arg("--cert")
            .arg(dir.join("cert.pem"))
            .arg("--key")
            .arg(dir.join("key.pem"));
        if let Some(b) = body {
            cmd.args(["-H", "Content-Type: application/json", "-d", b]);
        }
        cmd.args(extra);
        cmd.arg(format!("https://{}{path}", self.proxy.addr));
        let out = run_command(cmd, Input::Null, COMMAND_TIMEOUT);
        assert_ok(&out, &format!("curl {method} {path} through the proxy"));
        let text = stdout_of(&out);
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        (status.to_string(), body.to_string())
    }

    /// A container created straight on Podman (no proxy): the facts rules must read
    /// what Podman tells about it. It carries the test client's owner label (the
    /// default policy isolates tenants; unlabelled, it would be the operator's and
    /// hidden), so it stands for one of the client's own containers with host access.
    fn direct_container(&self, name: &str, flags: &[&str]) {
        let mut args = vec!["run", "-d", "--name", name, OWNED];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[TEST_IMAGE, "sleep", "600"]);
        self.podman.direct_ok(&args);
    }
}

#[test]
fn podman_through_portcullis() {
    if !require_podman() {
        return;
    }
    let podman = PodmanService::start();
    let work = tempfile::Builder::new()
        .prefix("pcpmw")
        .tempdir_in("/tmp")
        .expect("work dir");
    let certs = TestCerts::generate(&work.path().join("certs"), "alice");
    let proxy = Proxy::start(&podman.socket, &certs, Some(Path::new(DEFAULT_POLICY)), &[]);
    let w = World {
        podman: &podman,
        proxy: &proxy,
        certs: &certs,
    };
    let mut cases = Cases::new();

    cases.run("version_and_ping_come_from_podman", || {
        let v = w.docker_ok(&[
            "version",
            "--format",
            "{{.Server.Version}} {{.Server.APIVersion}}",
        ]);
        assert!(v.starts_with("4."), "server version {v:?}");
        assert!(v.trim().ends_with(" 1.41"), "Docker API version {v:?}");
        let (status, body) = w.curl("GET", "/_ping", None);
        assert_eq!((status.as_str(), body.as_str()), ("200", "OK"));
    });

    cases.run("run_exec_attach_logs_cp_work", || {
        let out = w.docker_ok(&["run", "--rm", TEST_IMAGE, "echo", "hello from podman"]);
        assert_eq!(out.trim(), "hello from podman");
        // stdin through the hijacked attach, EOF reaching the container.
        let out = w.docker_stdin(&["run", "--rm", "-i", TEST_IMAGE, "cat"], b"piped\n");
        assert_ok(&out, "docker run -i cat");
        assert_eq!(stdout_of(&out), "piped\n");
        w.docker_ok(&["run", "-d", "--name", "worker", TEST_IMAGE, "sleep", "600"]);
        assert_eq!(
            w.docker_ok(&["exec", "worker", "echo", "in exec"]).trim(),
            "in exec"
        );
        let out = w.docker_stdin(&["exec", "-i", "worker", "cat"], b"exec stdin\n");
        assert_ok(&out, "docker exec -i cat");
        assert_eq!(stdout_of(&out), "exec stdin\n");
        // docker attach to a running container's stdin.
        w.docker_ok(&["run", "-d", "-i", "--name", "catter", TEST_IMAGE, "cat"]);
        let out = w.docker_stdin(&["attach", "--sig-proxy=false", "catter"], b"attached\n");
        assert_ok(&out, "docker attach");
        assert_eq!(stdout_of(&out), "attached\n");
        // logs, both streams.
        w.docker_ok(&[
            "run",
            "--name",
            "logger",
            TEST_IMAGE,
            "sh",
            "-c",
            "echo to-out; echo to-err >&2",
        ]);
        let out = w.docker(&["logs", "logger"]);
        assert_ok(&out, "docker logs");
        assert_eq!(stdout_of(&out), "to-out\n");
        assert_eq!(stderr_of(&out), "to-err\n");
        // docker cp both ways (archive endpoints).
        let file = w.certs.dir.join("cp-in.txt");
        fs::write(&file, "copied\n").expect("write cp file");
        let src = file.to_string_lossy().into_owned();
        w.docker_ok(&["cp", &src, "worker:/tmp/cp.txt"]);
        assert_eq!(
            w.docker_ok(&["exec", "worker", "cat", "/tmp/cp.txt"]),
            "copied\n"
        );
        let back = w.certs.dir.join("cp-out.txt");
        w.docker_ok(&["cp", "worker:/tmp/cp.txt", &back.to_string_lossy()]);
        assert_eq!(fs::read_to_string(&back).expect("cp back"), "copied\n");
        w.docker_ok(&["rm", "-f", "worker", "catter", "logger"]);
    });

    cases.run("run_and_exec_with_a_tty", || {
        if !require_tool("script") {
            return;
        }
        w.docker_ok(&["run", "-d", "--name", "tty-box", TEST_IMAGE, "sleep", "600"]);
        for line in [
            "docker run --rm -it portcullis-test sh -c 'tty; echo tty-ok'",
            "docker exec -it tty-box sh -c 'tty; echo tty-ok'",
        ] {
            let cmd = command_via(
                w.proxy,
                &w.certs.client_dir,
                "script",
                &["-qec", line, "/dev/null"],
            );
            let out = run_command(cmd, Input::Null, COMMAND_TIMEOUT);
            assert_ok(&out, line);
            // Podman writes a NUL before a tty's output (directly too).
            let text = stdout_of(&out);
            assert!(
                text.contains("/dev/pts/") && text.contains("tty-ok"),
                "{line}\n{}",
                show(&out)
            );
        }
        w.docker_ok(&["rm", "-f", "tty-box"]);
    });

    cases.run("host_escapes_refused_with_dockerd_rule_ids", || {
        let table: &[(&[&str], &str)] = &[
            (&["--privileged"], "PC-1001"),
            (&["-v", "/:/host"], "PC-1004"),
            (&["--net=host"], "PC-1008"),
            (&["--pid=host"], "PC-1008"),
            (&["--ipc=host"], "PC-1008"),
            (&["--userns=host"], "PC-1008"),
            (&["--cap-add", "SYS_ADMIN"], "PC-1002"),
            (&["--security-opt", "seccomp=unconfined"], "PC-1010"),
        ];
        for (flags, rule) in table {
            let mut args = vec!["run", "--rm"];
            args.extend_from_slice(flags);
            args.extend_from_slice(&[TEST_IMAGE, "true"]);
            w.refused(&args, &[rule]);
        }
        // Nothing of it reached Podman.
        let left = w.podman.direct_ok(&["ps", "-aq"]);
        assert_eq!(left.trim(), "", "refused containers were created");
    });

    cases.run("facts_rules_read_podman_inspect", || {
        w.direct_container("p-priv", &["--privileged"]);
        let host_dir = w.certs.dir.to_string_lossy().into_owned();
        w.direct_container("p-bind", &["-v", &format!("{host_dir}:/host")]);
        w.direct_container("p-net", &["--net=host"]);
        w.direct_container("p-pid", &["--pid=host"]);
        w.direct_container("p-cap", &["--cap-add", "SYS_ADMIN"]);
        w.podman.direct_ok(&[
            "volume",
            "create",
            "--opt",
            "type=none",
            "--opt",
            "o=bind",
            "--opt",
            "device=/",
            OWNED,
            "p-rootvol",
        ]);
        w.direct_container("p-vol", &["-v", "p-rootvol:/r"]);
        // Podman lists a --volumes-from container's inherited binds nowhere in its
        // inspect (no Mounts, no Binds), only HostConfig.VolumesFrom.
        w.direct_container("p-from", &["--volumes-from", "p-bind"]);
        w.direct_container("p-plain", &[]);
        // The docker CLI cannot send --device to Podman (its _ping has no OSType):
        // create that one through the API.
        let created = run_command(
            w.podman.curl(&[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "-d",
                r#"{"Image":"portcullis-test","Cmd":["sleep","600"],"Labels":{"io.portcullis.owner":"alice"},"HostConfig":{"Devices":[{"PathOnHost":"/dev/null","PathInContainer":"/dev/xnull","CgroupPermissions":"rwm"}]}}"#,
                "-w",
                "%{http_code}",
                "http://d/v1.41/containers/create?name=p-dev",
            ]),
            Input::Null,
            COMMAND_TIMEOUT,
        );
        assert!(stdout_of(&created).ends_with("201"), "{}", show(&created));
        w.podman.direct_ok(&["start", "p-dev"]);
        let inherited = w.podman.direct_ok(&["exec", "p-from", "ls", "/host"]);
        assert!(
            !inherited.trim().is_empty(),
            "p-from sees p-bind's bind mount"
        );

        for target in [
            "p-priv", "p-bind", "p-net", "p-pid", "p-cap", "p-vol", "p-from", "p-dev",
        ] {
            w.refused(&["exec", target, "true"], &["PC-1029"]);
            // The CLI shows only the status of a refused attach upgrade; the
            // message is in the body.
            let out = w.docker(&["attach", "--no-stdin", target]);
            assert_fails(&out, "docker attach");
            assert!(stderr_of(&out).contains("received 403"), "{}", show(&out));
            let (status, body) = w.curl_upgrade(&format!(
                "/v1.41/containers/{target}/attach?stream=1&stdout=1"
            ));
            assert_eq!(status, "403", "attach {target}: {body}");
            assert!(body.contains("PC-1029"), "attach {target}: {body}");
        }
        w.docker_ok(&["exec", "p-plain", "true"]);

        w.refused(
            &[
                "run",
                "--rm",
                "--volumes-from",
                "p-bind",
                TEST_IMAGE,
                "true",
            ],
            &["PC-1006"],
        );
        w.refused(
            &["run", "--rm", "--volumes-from", "p-vol", TEST_IMAGE, "true"],
            &["PC-1006"],
        );
        w.refused(
            &["run", "--rm", "-v", "p-rootvol:/r", TEST_IMAGE, "true"],
            &["PC-1005"],
        );
        // Podman takes option keys in any case; any driver option is refused.
        w.refused(
            &["volume", "create", "--opt", "Device=/", "--opt", "O=bind", "p-v2"],
            &["PC-1005"],
        );
        w.refused(
            &[
                "run",
                "--rm",
                "--net",
                "container:p-net",
                TEST_IMAGE,
                "true",
            ],
            &["PC-1008"],
        );
        w.refused(
            &[
                "run",
                "--rm",
                "--pid",
                "container:p-pid",
                TEST_IMAGE,
                "true",
            ],
            &["PC-1008", "PC-1029"],
        );
        w.docker_ok(&[
            "run",
            "--rm",
            "--net",
            "container:p-plain",
            TEST_IMAGE,
            "true",
        ]);

        // An exec created straight on Podman in the privileged container: starting
        // it through Portcullis is refused (the exec lookup reads Podman's
        // ContainerID).
        let created = run_command(
            w.podman.curl(&[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "-d",
                r#"{"Cmd":["true"]}"#,
                "http://d/v1.41/containers/p-priv/exec",
            ]),
            Input::Null,
            COMMAND_TIMEOUT,
        );
        let created: serde_json::Value =
            serde_json::from_slice(&created.stdout).expect("exec create answer");
        let id = created["Id"].as_str().expect("exec id").to_string();
        let (status, body) = w.curl(
            "POST",
            &format!("/v1.41/exec/{id}/start"),
            Some(r#"{"Detach":true}"#),
        );
        assert_eq!(status, "403", "exec start: {body}");
        assert!(body.contains("PC-1029"), "exec start: {body}");

        // A --volumes-from source that is gone: Podman still gives the container its
        // binds but shows them nowhere, so entering it is refused.
        w.direct_container("p-src", &["-v", &format!("{host_dir}:/host")]);
        w.direct_container("p-orphan", &["--volumes-from", "p-src"]);
        w.podman.direct_ok(&["rm", "-f", "p-src"]);
        w.refused(&["exec", "p-orphan", "true"], &["PC-1029"]);
    });

    cases.run("podman_namespace_paths_refused", || {
        // Podman's Docker API joins a namespace by path (`ns:<path>`); the CLI does
        // not send these, any API client can.
        let pid = w.podman.child.id();
        for (field, mode) in [
            ("PidMode", format!("ns:/proc/{pid}/ns/pid")),
            ("NetworkMode", format!("ns:/proc/{pid}/ns/net")),
            ("IpcMode", format!("ns:/proc/{pid}/ns/ipc")),
            ("UTSMode", format!("ns:/proc/{pid}/ns/uts")),
            ("CgroupnsMode", format!("ns:/proc/{pid}/ns/cgroup")),
            ("NetworkMode", "slirp4netns:allow_host_loopback=true".to_string()),
        ] {
            let body = format!(
                r#"{{"Image":"portcullis-test","Cmd":["true"],"HostConfig":{{"{field}":"{mode}"}}}}"#
            );
            let (status, answer) = w.curl("POST", "/v1.41/containers/create", Some(&body));
            assert_eq!(status, "403", "{field}={mode}: {answer}");
            assert!(answer.contains("PC-1008"), "{field}={mode}: {answer}");
        }
        // Straight on Podman: the container really is in the host's PID namespace
        // (it sees the Podman service), and entering it is refused.
        let created = run_command(
            w.podman.curl(&[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "-d",
                &format!(
                    r#"{{"Image":"portcullis-test","Cmd":["sleep","600"],"Labels":{{"io.portcullis.owner":"alice"}},"HostConfig":{{"PidMode":"ns:/proc/{pid}/ns/pid"}}}}"#
                ),
                "-w",
                "%{http_code}",
                "http://d/v1.41/containers/create?name=p-nspid",
            ]),
            Input::Null,
            COMMAND_TIMEOUT,
        );
        assert!(stdout_of(&created).ends_with("201"), "{}", show(&created));
        w.podman.direct_ok(&["start", "p-nspid"]);
        let seen = w.podman.direct_ok(&["exec", "p-nspid", "cat", &format!("/proc/{pid}/comm")]);
        assert_eq!(seen.trim(), "podman", "p-nspid is in the host's PID namespace");
        w.refused(&["exec", "p-nspid", "true"], &["PC-1029"]);
    });

    cases.run("podman_relative_bind_refused", || {
        // Podman reads a Binds source starting with "." as a host path relative to
        // its working directory ("/" as a system service); dockerd has no such
        // volume name. (The docker CLI makes such paths absolute itself, so these go
        // through the API.)
        for spec in [".:/host", "..:/host", "./etc:/host"] {
            let body = format!(
                r#"{{"Image":"portcullis-test","Cmd":["true"],"HostConfig":{{"Binds":["{spec}"]}}}}"#
            );
            let (status, answer) = w.curl("POST", "/v1.41/containers/create", Some(&body));
            assert_eq!(status, "403", "-v {spec}: {answer}");
            assert!(answer.contains("PC-1004"), "-v {spec}: {answer}");
        }
        // What it would have been: straight on Podman, "." is a host bind.
        let created = run_command(
            w.podman.curl(&[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "-d",
                r#"{"Image":"portcullis-test","Cmd":["sleep","600"],"Labels":{"io.portcullis.owner":"alice"},"HostConfig":{"Binds":[".:/host"]}}"#,
                "-w",
                "%{http_code}",
                "http://d/v1.41/containers/create?name=p-dot",
            ]),
            Input::Null,
            COMMAND_TIMEOUT,
        );
        assert!(stdout_of(&created).ends_with("201"), "{}", show(&created));
        w.podman.direct_ok(&["start", "p-dot"]);
        let mounts = w
            .podman
            .direct_ok(&["inspect", "--format", "{{json .Mounts}}", "p-dot"]);
        assert!(mounts.contains(r#""Type":"bind""#), "{mounts}");
        w.refused(&["exec", "p-dot", "true"], &["PC-1029"]);
    });

    cases.run("libpod_api_is_refused", || {
        for path in [
            "/libpod/_ping",
            "/libpod/containers/json",
            "/v1.41/libpod/containers/json",
            "/v4.0.0/libpod/info",
        ] {
            let (status, body) = w.curl("GET", path, None);
            assert_eq!(status, "403", "GET {path}: {body}");
            assert!(body.contains("PC-0001"), "GET {path}: {body}");
        }
        // A body on an unknown route is refused as unknown before it is read.
        let before = w.podman.direct_ok(&["ps", "-aq"]);
        let (status, body) = w.curl(
            "POST",
            "/libpod/containers/create",
            Some(r#"{"image":"portcullis-test","privileged":true}"#),
        );
        assert_eq!(status, "403", "POST /libpod/containers/create: {body}");
        assert!(body.contains("PC-0001"), "{body}");
        assert_eq!(
            w.podman.direct_ok(&["ps", "-aq"]),
            before,
            "a container was created"
        );
        let (status, body) = w.curl("POST", "/libpod/containers/p-plain/start", None);
        assert_eq!(
            status, "403",
            "POST /libpod/containers/p-plain/start: {body}"
        );
        assert!(body.contains("PC-0001"), "{body}");
        // podman-remote's own prefix is not a Docker API version: refused before
        // classification.
        let (status, body) = w.curl("GET", "/v4.3.1/libpod/containers/json", None);
        assert_eq!(status, "400", "GET /v4.3.1/libpod/...: {body}");
    });

    drop(proxy);
    cases.finish();
}

// ---------------------------------------------------------------------------
// Podman's inspect shapes through the pure decision path (no Podman needed)
// ---------------------------------------------------------------------------

/// `GET /containers/{id}/json` as Podman 4.3 answers it (the fields the policy
/// reads; the rest trimmed): private namespaces read "private"/"shareable", no
/// `DeviceRequests`, and a `--volumes-from` container has empty `Mounts`. Each is
/// labelled as the deciding client's own (CN=alice): the default policy isolates
/// tenants, and these cases are about host access, not ownership.
fn podman_inspect(name: &str, host_config: &str, mounts: &str) -> serde_json::Value {
    let text = format!(
        r#"{{"Id":"{name}0000","Name":"/{name}","Config":{{"Labels":{{"io.portcullis.owner":"alice"}}}},
           "HostConfig":{{"Privileged":false,"NetworkMode":"bridge","PidMode":"private",
             "IpcMode":"shareable","UTSMode":"private","UsernsMode":"","CapAdd":[],
             "VolumesFrom":null,"Devices":[],"DeviceCgroupRules":null,
             "DeviceRequests":null,"Binds":[]{host_config}}},
           "Mounts":{mounts}}}"#
    );
    serde_json::from_str(&text).expect("recorded podman inspect")
}

fn decide(facts: &Facts, method: Method, target: &str, body: Option<&str>) -> Decision {
    let set = PolicySet::load(&[PathBuf::from(DEFAULT_POLICY)]).expect("default policy");
    let id = Identity {
        common_name: Some("alice".into()),
        ..Identity::transport("mtls")
    };
    match check(&set, &id, &method, target, body.map(str::as_bytes), facts) {
        Outcome::Decided { decision, .. } => decision,
        other => panic!("{method} {target}: not decided: {other:?}"),
    }
}

fn rules(d: &Decision) -> Vec<&'static str> {
    match d {
        Decision::Allow(v) | Decision::Deny(v) => v.iter().map(|x| x.rule).collect(),
    }
}

#[test]
fn podman_inspect_shapes_decide_like_dockerd() {
    let mut facts = Facts::default();
    let mut add = |name: &str, v: serde_json::Value| {
        facts
            .containers
            .insert(name.into(), Some(ContainerFacts::from_inspect(&v)));
    };
    add("plain", podman_inspect("plain", "", "[]"));
    add(
        "bind",
        podman_inspect(
            "bind",
            "",
            r#"[{"Type":"bind","Source":"/srv","Destination":"/host","Mode":"","RW":true,"Propagation":"rprivate"}]"#,
        ),
    );
    add(
        "from",
        podman_inspect("from", r#","VolumesFrom":["bind"]"#, "[]"),
    );
    add(
        "orphan",
        podman_inspect("orphan", r#","VolumesFrom":["gone"]"#, "[]"),
    );
    add(
        "vol",
        podman_inspect(
            "vol",
            "",
            r#"[{"Type":"volume","Name":"rootvol","Source":"/x/_data","Destination":"/r","Driver":"local","Mode":"","RW":true,"Propagation":"rprivate"}]"#,
        ),
    );
    add(
        "joiner",
        podman_inspect("joiner", r#","PidMode":"container:bind""#, "[]"),
    );
    add(
        "nspid",
        podman_inspect("nspid", r#","PidMode":"ns:/proc/1/ns/pid""#, "[]"),
    );
    facts.containers.insert("gone".into(), None);
    let rootvol: serde_json::Value = serde_json::from_str(
        r#"{"Driver":"local","Labels":{},"Mountpoint":"/x/_data","Name":"rootvol",
            "Options":{"device":"/","o":"bind","type":"none"},"Scope":"local"}"#,
    )
    .expect("recorded podman volume inspect");
    facts
        .volumes
        .insert("rootvol".into(), Some(VolumeFacts::from_inspect(&rootvol)));

    let exec = Some(r#"{"Cmd":["true"]}"#);
    // "private" and "shareable" namespace modes are not host access.
    let d = decide(&facts, Method::POST, "/v1.41/containers/plain/exec", exec);
    assert!(matches!(d, Decision::Allow(ref v) if v.is_empty()), "{d:?}");
    for target in ["bind", "from", "orphan", "vol", "nspid"] {
        let d = decide(
            &facts,
            Method::POST,
            &format!("/v1.41/containers/{target}/exec"),
            exec,
        );
        assert!(
            matches!(d, Decision::Deny(_)) && rules(&d).contains(&"PC-1029"),
            "exec into {target}: {d:?}"
        );
    }
    // Joining the PID namespace of a container that shares a host bind: the bind
    // is seen through /proc/<pid>/root.
    let body = r#"{"Image":"portcullis-test","HostConfig":{"PidMode":"container:joiner"}}"#;
    let d = decide(&facts, Method::POST, "/v1.41/containers/create", Some(body));
    assert!(
        matches!(d, Decision::Deny(_)),
        "--pid container:joiner: {d:?}"
    );
}
