//! End-to-end: the real docker CLI (and docker-compose v1) talking to a real
//! private dockerd through the real `portcullis serve` binary with mutual TLS.
//!
//! One `#[test]` shares one daemon and one proxy; every scenario is a separate
//! case of [`Cases`](crate::common::cases::Cases) so each reports on its own. Skipped loudly when
//! dockerd is not installed (a failure under `CI=true`).

use std::fs;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::cases::Cases;
use crate::common::certs::TestCerts;
use crate::common::clients::{command_via, compose_via, docker_via, docker_via_env, require_tool};
use crate::common::command::{
    assert_fails, assert_ok, free_tcp_port, free_udp_port, run_command, show, stderr_of, stdout_of,
    tail_lines, Input,
};
use crate::common::daemon::{require_daemon, DockerDaemon, TEST_IMAGE};
use crate::common::processes::Proxy;
use sha2::{Digest, Sha256};

const DEFAULT_POLICY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/default.toml");

/// Everything a case needs.
struct World<'a> {
    daemon: &'a DockerDaemon,
    proxy: &'a Proxy,
    client: &'a Path,
    work: &'a Path,
}

impl World<'_> {
    /// docker CLI through the proxy.
    fn docker(&self, args: &[&str]) -> Output {
        docker_via(self.proxy, self.client, args, None)
    }

    /// docker CLI through the proxy with stdin bytes (then EOF).
    fn docker_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        docker_via(self.proxy, self.client, args, Some(stdin))
    }

    /// docker CLI through the proxy, asserting success; returns stdout.
    fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert_ok(&out, &format!("docker {}", args.join(" ")));
        stdout_of(&out)
    }

    /// docker CLI through the proxy with a custom time limit.
    fn docker_timeout(&self, args: &[&str], input: Input<'_>, limit: Duration) -> Output {
        run_command(
            command_via(self.proxy, self.client, "docker", args),
            input,
            limit,
        )
    }

    /// Make sure the long-running `sleeper` container exists (created directly
    /// when the case that creates it through the proxy failed), so later cases
    /// report their own problems rather than that one.
    fn ensure_sleeper(&self) {
        let running = self
            .daemon
            .direct(&["inspect", "--format", "{{.State.Running}}", "sleeper"]);
        if stdout_of(&running).trim() != "true" {
            eprintln!("[e2e] sleeper missing: creating it directly so this case can run");
            let _ = self.daemon.direct(&["rm", "-f", "sleeper"]);
            self.daemon
                .direct_ok(&["run", "-d", "--name", "sleeper", TEST_IMAGE, "sleep", "300"]);
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn sha256_file(path: &Path) -> String {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn assert_contains(haystack: &str, needle: &str, what: &str) {
    assert!(
        haystack.contains(needle),
        "{what}: expected to find {needle:?} in:\n{haystack}"
    );
}

/// Run one case; on failure also show what the proxy logged meanwhile.
fn case(cases: &mut Cases, world: &World<'_>, name: &str, f: impl FnOnce(&World<'_>)) {
    let mark = world.proxy.log_len();
    if !cases.run(name, || f(world)) {
        eprintln!(
            "--- portcullis log during case {name} (last 40 lines) ---\n{}\n--- end of log excerpt ---",
            tail_lines(&world.proxy.log_since(mark), 40)
        );
    }
}

#[test]
fn docker_cli_through_portcullis() {
    if !require_daemon() {
        return;
    }
    let daemon = DockerDaemon::start();
    let certs_dir = tempfile::Builder::new()
        .prefix("pcc")
        .tempdir_in("/tmp")
        .expect("certs tempdir");
    let certs = TestCerts::generate(certs_dir.path(), "alice");
    // The default policy, which isolates tenants, with docker load allowed
    // ([tenants] allow_image_load): the save_load case streams an image archive in.
    let default_text = std::fs::read_to_string(DEFAULT_POLICY).expect("read default.toml");
    let with_load = default_text.replace("allow_image_load = false", "allow_image_load = true");
    assert_ne!(
        with_load, default_text,
        "default.toml sets allow_image_load"
    );
    let policy_file = certs_dir.path().join("default-with-load.toml");
    std::fs::write(&policy_file, with_load).expect("write the policy");
    let policy = Some(policy_file.as_path());
    println!(
        "e2e: dockerd at {} (pid {}), policy: {}",
        daemon.socket().display(),
        daemon.pid(),
        policy.map_or("<none>".to_string(), |p| p.display().to_string())
    );
    let proxy = Proxy::start(daemon.socket(), &certs, policy, &[]);
    println!(
        "e2e: portcullis listening on {} (log {})",
        proxy.addr,
        proxy.log_path.display()
    );
    let work = tempfile::Builder::new()
        .prefix("pcw")
        .tempdir_in("/tmp")
        .expect("work tempdir");
    let world = World {
        daemon: &daemon,
        proxy: &proxy,
        client: &certs.client_dir,
        work: work.path(),
    };
    let mut cases = Cases::new();

    // 1.
    case(&mut cases, &world, "version_and_info", |w| {
        let expected = w
            .daemon
            .direct_ok(&["version", "--format", "{{.Server.Version}}"]);
        let expected = expected.trim();
        assert!(
            !expected.is_empty(),
            "direct docker version gave no server version"
        );
        let out = w.docker_ok(&["version"]);
        assert_contains(&out, "Server:", "docker version");
        assert_contains(&out, expected, "docker version (server version)");
        assert_contains(
            &out,
            "20.10",
            "docker version (dockerd 20.10 expected here)",
        );
        let info = w.docker_ok(&["info"]);
        assert_contains(&info, &format!("Server Version: {expected}"), "docker info");
        assert_contains(&info, "Images:", "docker info");
    });

    // 2.
    case(&mut cases, &world, "ps_images_inspect", |w| {
        let ps = w.docker_ok(&["ps"]);
        assert_contains(&ps, "CONTAINER ID", "docker ps header");
        let images = w.docker_ok(&["images"]);
        assert_contains(&images, "portcullis-test", "docker images");
        let inspect = w.docker_ok(&["inspect", TEST_IMAGE]);
        let json: serde_json::Value = serde_json::from_str(&inspect)
            .unwrap_or_else(|e| panic!("docker inspect output is not JSON ({e}):\n{inspect}"));
        let first = &json[0];
        let tags: Vec<&str> = first["RepoTags"]
            .as_array()
            .map(|a| a.iter().filter_map(|t| t.as_str()).collect())
            .unwrap_or_default();
        assert!(
            tags.contains(&TEST_IMAGE),
            "RepoTags {tags:?} lack {TEST_IMAGE}"
        );
        let id = w
            .daemon
            .direct_ok(&["image", "inspect", "--format", "{{.Id}}", TEST_IMAGE]);
        assert_eq!(
            first["Id"].as_str(),
            Some(id.trim()),
            "image id through proxy vs direct"
        );
    });

    let events_since = now_unix().saturating_sub(1);

    // 3.
    case(&mut cases, &world, "run_echo", |w| {
        let out = w.docker_ok(&["run", "--rm", TEST_IMAGE, "echo", "hi"]);
        assert_eq!(out, "hi\n");
    });

    // 4.
    case(&mut cases, &world, "run_stdin_eof", |w| {
        let out = w.docker_stdin(&["run", "-i", "--rm", TEST_IMAGE, "cat"], b"hi\n");
        assert_ok(&out, "echo hi | docker run -i --rm portcullis-test cat");
        assert_eq!(stdout_of(&out), "hi\n", "{}", show(&out));
    });

    // 5.
    case(&mut cases, &world, "logs_follow", |w| {
        let _ = w.daemon.direct(&["rm", "-f", "logger"]);
        w.docker_ok(&[
            "run",
            "-d",
            "--name",
            "logger",
            TEST_IMAGE,
            "sh",
            "-c",
            "for i in 1 2 3; do echo line$i; sleep 0.3; done",
        ]);
        let started = Instant::now();
        let out = w.docker_timeout(
            &["logs", "-f", "logger"],
            Input::Null,
            Duration::from_secs(60),
        );
        assert_ok(
            &out,
            "docker logs -f logger (must end when the container exits)",
        );
        assert_eq!(stdout_of(&out), "line1\nline2\nline3\n", "{}", show(&out));
        println!(
            "  logs -f ended after {:.1}s",
            started.elapsed().as_secs_f64()
        );
        let _ = w.daemon.direct(&["rm", "-f", "logger"]);
    });

    // 6.
    case(&mut cases, &world, "exec", |w| {
        let _ = w.daemon.direct(&["rm", "-f", "sleeper"]);
        w.docker_ok(&["run", "-d", "--name", "sleeper", TEST_IMAGE, "sleep", "300"]);
        assert_eq!(
            w.docker_ok(&["exec", "sleeper", "echo", "exec-ok"]),
            "exec-ok\n"
        );

        let out = w.docker_stdin(&["exec", "-i", "sleeper", "cat"], b"data");
        assert_ok(&out, "printf data | docker exec -i sleeper cat");
        assert_eq!(stdout_of(&out), "data", "{}", show(&out));

        let out = w.docker_stdin(
            &[
                "exec",
                "-i",
                "sleeper",
                "sh",
                "-c",
                "cat; echo after-eof; echo err >&2",
            ],
            b"data",
        );
        assert_ok(
            &out,
            "printf data | docker exec -i sleeper sh -c 'cat; echo after-eof; echo err >&2'",
        );
        assert_eq!(stdout_of(&out), "dataafter-eof\n", "{}", show(&out));
        assert!(
            stderr_of(&out).lines().any(|l| l.trim() == "err"),
            "stderr lacks the line \"err\":\n{}",
            show(&out)
        );

        let out = w.docker(&["exec", "sleeper", "sh", "-c", "exit 3"]);
        assert_eq!(
            out.status.code(),
            Some(3),
            "exec exit code must propagate\n{}",
            show(&out)
        );
    });

    // 7.
    case(&mut cases, &world, "exec_tty", |w| {
        if !require_tool("script") {
            return;
        }
        w.ensure_sleeper();
        let cmd = command_via(
            w.proxy,
            w.client,
            "script",
            &["-qec", "docker exec -t sleeper echo tty-ok", "/dev/null"],
        );
        let out = run_command(cmd, Input::Null, Duration::from_secs(60));
        assert_ok(
            &out,
            "script -qec 'docker exec -t sleeper echo tty-ok' /dev/null",
        );
        assert_contains(&stdout_of(&out), "tty-ok", "docker exec -t under a pty");
    });

    // 8.
    case(&mut cases, &world, "attach", |w| {
        // A container started with -d -i keeps its stdin open after an attach
        // ends (StdinOnce is false), and dockerd closes the attach's output as
        // soon as the client's stdin reaches EOF. So keep the client's stdin
        // open: the container reads one line, answers and exits, which ends
        // the attach by itself.
        let _ = w.daemon.direct(&["rm", "-f", "att"]);
        w.docker_ok(&[
            "run",
            "-d",
            "-i",
            "--name",
            "att",
            TEST_IMAGE,
            "sh",
            "-c",
            "read line; echo \"got:$line\"",
        ]);
        let out = w.docker_timeout(
            &["attach", "att"],
            Input::BytesThenHold(b"via-attach\n"),
            Duration::from_secs(60),
        );
        assert_ok(&out, "printf 'via-attach\\n' | docker attach att");
        assert_eq!(stdout_of(&out), "got:via-attach\n", "{}", show(&out));
        let _ = w.daemon.direct(&["rm", "-f", "att"]);
    });

    // 9.
    case(&mut cases, &world, "cp_both_ways_8MiB", |w| {
        w.ensure_sleeper();
        let src = w.path("random.bin");
        let mut data = vec![0u8; 8 * 1024 * 1024];
        {
            use std::io::Read;
            fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut data))
                .expect("read /dev/urandom");
        }
        fs::write(&src, &data).expect("write random file");
        let md5 = std::process::Command::new("md5sum")
            .arg(&src)
            .output()
            .expect("md5sum");
        let host_md5 = stdout_of(&md5)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        assert_eq!(host_md5.len(), 32, "host md5sum output: {}", show(&md5));

        let src_arg = src.to_string_lossy().into_owned();
        w.docker_ok(&["cp", &src_arg, "sleeper:/tmp/f"]);
        let inside = w.docker_ok(&["exec", "sleeper", "md5sum", "/tmp/f"]);
        assert_eq!(
            inside.split_whitespace().next(),
            Some(host_md5.as_str()),
            "md5 inside: {inside}"
        );

        let back = w.path("back.bin");
        let back_arg = back.to_string_lossy().into_owned();
        w.docker_ok(&["cp", "sleeper:/tmp/f", &back_arg]);
        assert_eq!(
            sha256_file(&back),
            sha256_file(&src),
            "sha256 after docker cp out"
        );
    });

    // 10.
    case(&mut cases, &world, "build_legacy", |w| {
        let ctx = w.path("ctx");
        fs::create_dir_all(&ctx).expect("create build context");
        fs::write(
            ctx.join("Dockerfile"),
            format!("FROM {TEST_IMAGE}\nRUN echo built > /built.txt\n"),
        )
        .expect("write Dockerfile");
        let ctx_arg = ctx.to_string_lossy().into_owned();
        let out = docker_via_env(
            w.proxy,
            w.client,
            &[("DOCKER_BUILDKIT", "0")],
            &["build", "-t", "built:1", &ctx_arg],
            None,
        );
        assert_ok(&out, "DOCKER_BUILDKIT=0 docker build -t built:1");
        assert_contains(
            &stdout_of(&out),
            "Successfully tagged built:1",
            "docker build output",
        );
        assert_eq!(
            w.docker_ok(&["run", "--rm", "built:1", "cat", "/built.txt"]),
            "built\n"
        );
    });

    // 11.
    case(&mut cases, &world, "save_load", |w| {
        let t = w.path("t.tar");
        let t_arg = t.to_string_lossy().into_owned();
        w.docker_ok(&["save", TEST_IMAGE, "-o", &t_arg]);
        let listing = std::process::Command::new("tar")
            .arg("-tf")
            .arg(&t)
            .output()
            .expect("tar -tf");
        assert_ok(&listing, "tar -tf t.tar");
        assert_contains(&stdout_of(&listing), "manifest.json", "saved image tarball");
        let loaded = w.docker_ok(&["load", "-i", &t_arg]);
        assert_contains(&loaded, "portcullis-test:latest", "docker load output");

        // Round trip of a tag: save, remove, load, inspect.
        if w.daemon
            .direct(&["image", "inspect", "built:1"])
            .status
            .success()
        {
        } else {
            eprintln!("[e2e] built:1 missing (build case failed?): tagging it directly");
            w.daemon.direct_ok(&["tag", TEST_IMAGE, "built:1"]);
        }
        let b = w.path("b.tar");
        let b_arg = b.to_string_lossy().into_owned();
        w.docker_ok(&["save", "built:1", "-o", &b_arg]);
        w.docker_ok(&["rmi", "built:1"]);
        assert_fails(
            &w.daemon.direct(&["image", "inspect", "built:1"]),
            "built:1 after rmi",
        );
        let loaded = w.docker_ok(&["load", "-i", &b_arg]);
        assert_contains(&loaded, "built:1", "docker load output");
        w.docker_ok(&["image", "inspect", "built:1"]);
    });

    // 12.
    case(&mut cases, &world, "events_window", |w| {
        let since = events_since.to_string();
        let until = (now_unix() + 1).to_string();
        let out = w.docker_timeout(
            &["events", "--since", &since, "--until", &until],
            Input::Null,
            Duration::from_secs(60),
        );
        assert_ok(&out, "docker events --since … --until … (must terminate)");
        let text = stdout_of(&out);
        assert!(
            text.lines().any(|l| l.contains(" container start ")),
            "no container start event between {since} and {until}:\n{}",
            show(&out)
        );
    });

    // 13.
    case(&mut cases, &world, "stats_no_stream", |w| {
        w.ensure_sleeper();
        let out = w.docker_timeout(
            &["stats", "--no-stream", "sleeper"],
            Input::Null,
            Duration::from_secs(60),
        );
        assert_ok(&out, "docker stats --no-stream sleeper");
        assert!(
            stdout_of(&out)
                .lines()
                .skip(1)
                .any(|l| l.contains("sleeper")),
            "no stats line for sleeper:\n{}",
            show(&out)
        );
    });

    // 14.
    case(&mut cases, &world, "volume_and_network", |w| {
        let _ = w.daemon.direct(&["volume", "rm", "-f", "v1"]);
        let _ = w.daemon.direct(&["network", "rm", "n1"]);
        assert_eq!(w.docker_ok(&["volume", "create", "v1"]).trim(), "v1");
        w.docker_ok(&["network", "create", "n1"]);
        assert_contains(
            &w.docker_ok(&["volume", "ls", "-q"]),
            "v1",
            "docker volume ls",
        );
        assert_contains(&w.docker_ok(&["network", "ls"]), "n1", "docker network ls");
        let out = w.docker_ok(&[
            "run",
            "--rm",
            "-v",
            "v1:/data",
            "--network",
            "n1",
            TEST_IMAGE,
            "sh",
            "-c",
            "echo x > /data/f && cat /data/f",
        ]);
        assert_eq!(out, "x\n");
        w.docker_ok(&["volume", "rm", "v1"]);
        w.docker_ok(&["network", "rm", "n1"]);
        assert_fails(
            &w.daemon.direct(&["volume", "inspect", "v1"]),
            "volume v1 after rm",
        );
        assert_fails(
            &w.daemon.direct(&["network", "inspect", "n1"]),
            "network n1 after rm",
        );
    });

    // 15.
    case(&mut cases, &world, "compose_v1", |w| {
        if !require_tool("docker-compose") {
            return;
        }
        let dir = w.path("compose");
        fs::create_dir_all(&dir).expect("create compose dir");
        let file = dir.join("docker-compose.yml");
        fs::write(
            &file,
            format!(
                "version: \"3\"\nservices:\n  web:\n    image: {TEST_IMAGE}\n    command: sleep 300\n  worker:\n    image: {TEST_IMAGE}\n    command: sh -c \"echo worker-started; sleep 300\"\n"
            ),
        )
        .expect("write compose file");
        let compose = |args: &[&str]| compose_via(w.proxy, w.client, &file, "pc", args);

        let up = compose(&["up", "-d"]);
        assert_ok(&up, "docker-compose -p pc up -d");
        let ps = compose(&["ps"]);
        assert_ok(&ps, "docker-compose ps");
        let ps_text = stdout_of(&ps);
        assert_contains(&ps_text, "pc_web_1", "docker-compose ps");
        assert_contains(&ps_text, "pc_worker_1", "docker-compose ps");

        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let logs = compose(&["logs", "--no-color", "worker"]);
            assert_ok(&logs, "docker-compose logs worker");
            if stdout_of(&logs).contains("worker-started") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "worker never logged worker-started:\n{}",
                show(&logs)
            );
            thread::sleep(Duration::from_millis(300));
        }

        let down = compose(&["down", "-t", "1"]);
        assert_ok(&down, "docker-compose down");
        let left = w.docker_ok(&[
            "ps",
            "-a",
            "--filter",
            "label=com.docker.compose.project=pc",
            "--format",
            "{{.Names}}",
        ]);
        assert!(
            left.trim().is_empty(),
            "project containers left after down: {left}"
        );
        let all = w.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]);
        assert!(
            !all.lines().any(|n| n.starts_with("pc_")),
            "pc_ containers left after down:\n{all}"
        );
    });
    // Whatever happened above, do not leave the project behind.
    let leftovers = daemon.direct(&[
        "ps",
        "-aq",
        "--filter",
        "label=com.docker.compose.project=pc",
    ]);
    for id in stdout_of(&leftovers).split_whitespace() {
        let _ = daemon.direct(&["rm", "-f", id]);
    }
    let _ = daemon.direct(&["network", "rm", "pc_default"]);

    // 16.
    case(&mut cases, &world, "swarm_service", |w| {
        let listen = format!("127.0.0.1:{}", free_tcp_port());
        let data_port = free_udp_port(0).to_string();
        w.daemon.direct_ok(&[
            "swarm",
            "init",
            "--advertise-addr",
            "127.0.0.1",
            "--listen-addr",
            &listen,
            "--data-path-port",
            &data_port,
        ]);
        w.docker_ok(&[
            "service",
            "create",
            "--detach",
            "--no-resolve-image",
            "--name",
            "svc",
            TEST_IMAGE,
            "sleep",
            "300",
        ]);
        let ls = w.docker_ok(&["service", "ls"]);
        assert!(
            ls.lines()
                .skip(1)
                .any(|l| l.split_whitespace().nth(1) == Some("svc")),
            "docker service ls lacks svc:\n{ls}"
        );
        w.docker_ok(&["service", "rm", "svc"]);
        let ls = w.docker_ok(&["service", "ls", "--format", "{{.Name}}"]);
        assert!(
            !ls.lines().any(|l| l == "svc"),
            "svc still listed after rm:\n{ls}"
        );
    });
    let _ = daemon.direct(&["swarm", "leave", "--force"]);

    // 17. A client certificate from a CA the proxy does not trust gets nothing.
    case(&mut cases, &world, "untrusted_client_refused", |w| {
        let rogue = certs.untrusted_client("mallory");
        let out = docker_via(
            w.proxy,
            &rogue,
            &["version", "--format", "{{.Server.Version}}"],
            None,
        );
        assert_fails(&out, "docker version with an untrusted client certificate");
        assert!(
            stdout_of(&out).trim().is_empty(),
            "an untrusted client got a server answer:\n{}",
            show(&out)
        );
        // The trusted identity still works afterwards.
        assert!(!w
            .docker_ok(&["version", "--format", "{{.Server.Version}}"])
            .trim()
            .is_empty());
    });

    daemon.remove_all_containers();
    // Names with characters outside the usual alphabet (issue 15): the daemon creates
    // and removes network "test 01"; the CLI sends `DELETE /networks/test%2001`.
    case(&mut cases, &world, "network_name_with_space", |w| {
        let _ = w.daemon.direct(&["network", "rm", "test 01"]);
        w.docker_ok(&["network", "create", "test 01"]);
        let name = w.docker_ok(&["network", "inspect", "-f", "{{.Name}}", "test 01"]);
        assert_eq!(name.trim(), "test 01");
        w.docker_ok(&["network", "rm", "test 01"]);
        let left = w
            .daemon
            .direct_ok(&["network", "ls", "-q", "--filter", "name=test 01"]);
        assert!(left.trim().is_empty(), "network left behind: {left}");
    });

    cases.finish();
}
