//! Running at scale: several stateless Portcullis replicas in front of one Swarm
//! manager, with REAL parts only.
//!
//! * The stack file `examples/swarm/portcullis-stack.yml` is validated with the
//!   docker CLI (`docker stack config`) and docker-compose v1 (`config`), so
//!   the example cannot rot.
//! * No registry is reachable, so the Portcullis image is made here with
//!   `docker import` of a rootfs holding the built binary plus every shared
//!   library `ldd` lists for it (at the same absolute paths).
//! * A private dockerd becomes a one-node swarm; the stack is deployed straight
//!   against the daemon socket (deploying is operator work, and the default
//!   policy denies the swarm endpoints to tenants), which gives one replica
//!   (`mode: global` on the single manager, port published in `mode: host`).
//! * Two more replicas run as plain `portcullis serve` processes with the same
//!   certificates, policy and upstream socket. One container's life is then
//!   driven through all three in turn, and each replica denies `--privileged`.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{cases::*, certs::*, clients::*, command::*, daemon::*, processes::*};

/// Tag of the locally imported Portcullis image.
const IMAGE: &str = "portcullis-scale:test";
/// Stack name; the service is `<STACK>_portcullis`.
const STACK: &str = "pcscale";
/// How long the swarm replica may take to answer.
const REPLICA_START_TIMEOUT: Duration = Duration::from_secs(60);

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn stack_file() -> PathBuf {
    repo_path("examples/swarm/portcullis-stack.yml")
}

/// One Portcullis replica as a docker client sees it.
struct Replica {
    name: &'static str,
    /// `tcp://127.0.0.1:PORT`
    host: String,
    /// Private docker CLI configuration directory.
    cli_config: PathBuf,
}

impl Replica {
    fn command(&self, client: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker");
        for var in [
            "DOCKER_HOST",
            "DOCKER_TLS",
            "DOCKER_CONTEXT",
            "DOCKER_API_VERSION",
            "DOCKER_DEFAULT_PLATFORM",
            "DOCKER_CONTENT_TRUST",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("DOCKER_HOST", &self.host)
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", client)
            .env("DOCKER_CONFIG", &self.cli_config)
            .env("DOCKER_CLI_HINTS", "false")
            .args(args);
        cmd
    }

    fn docker(&self, client: &Path, args: &[&str]) -> Output {
        run_command(self.command(client, args), Input::Null, COMMAND_TIMEOUT)
    }

    fn docker_ok(&self, client: &Path, args: &[&str]) -> String {
        let out = self.docker(client, args);
        assert_ok(
            &out,
            &format!("via replica {}: docker {}", self.name, args.join(" ")),
        );
        stdout_of(&out)
    }
}

/// `GET path` on a plain-HTTP admin listener; the status code, if any.
fn http_status(addr: &str, path: &str) -> Option<u16> {
    let mut stream =
        TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.split_whitespace().nth(1)?.parse().ok()
}

/// Validate the stack file offline with two independent parsers; both must see
/// the variables substituted.
fn validate_stack_file(d: &DockerDaemon, sock: &str, port: &str) {
    let file = stack_file();
    let file = file.to_str().expect("utf-8 path");
    let mut cmd = d.direct_command(&["stack", "config", "-c", file]);
    cmd.env("DOCKER_SOCK", sock)
        .env("PORTCULLIS_PORT", port)
        .env("PORTCULLIS_IMAGE", IMAGE);
    let out = run_command(cmd, Input::Null, COMMAND_TIMEOUT);
    assert_ok(&out, "docker stack config");
    let text = stdout_of(&out);
    for needle in [
        "mode: global",
        "node.role == manager",
        "mode: host",
        &format!("published: {port}"),
        &format!("source: {sock}"),
        "target: /var/run/docker.sock",
        "/run/secrets/portcullis-server-key",
        "target: /etc/portcullis/default.toml",
        IMAGE,
    ] {
        assert!(
            text.contains(needle),
            "docker stack config lacks {needle:?}:\n{text}"
        );
    }
    // The defaults, without any variable set.
    let out = d.direct(&["stack", "config", "-c", file]);
    assert_ok(&out, "docker stack config (defaults)");
    let text = stdout_of(&out);
    for needle in [
        "published: 2376",
        "published: 9323",
        "source: /var/run/docker.sock",
        "image: portcullis:latest",
    ] {
        assert!(
            text.contains(needle),
            "docker stack config (defaults) lacks {needle:?}:\n{text}"
        );
    }
    if require_tool("docker-compose") {
        let mut cmd = Command::new("docker-compose");
        cmd.args(["-f", file, "config", "-q"]);
        let out = run_command(cmd, Input::Null, COMMAND_TIMEOUT);
        assert_ok(&out, "docker-compose config -q");
    }
}

/// `docker import` a rootfs holding the built binary and the shared libraries
/// it needs, as [`IMAGE`] with the binary as entrypoint.
fn import_portcullis_image(d: &DockerDaemon, work: &Path) {
    let binary = Path::new(env!("CARGO_BIN_EXE_portcullis"));
    let rootfs = work.join("rootfs");
    let place = |src: &Path, dst: &str| {
        let target = rootfs.join(dst.trim_start_matches('/'));
        fs::create_dir_all(target.parent().expect("parent")).expect("create rootfs dir");
        fs::copy(src, &target)
            .unwrap_or_else(|e| panic!("copy {} into rootfs: {e}", src.display()));
    };
    place(binary, "/usr/local/bin/portcullis");
    let mut ldd = Command::new("ldd");
    ldd.arg(binary);
    let out = run_command(ldd, Input::Null, COMMAND_TIMEOUT);
    assert_ok(&out, "ldd portcullis");
    let mut libs = 0;
    for line in stdout_of(&out).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or
        // "/lib64/ld-linux-x86-64.so.2 (0x…)"; vdso has no path.
        let path = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(str::to_string);
        if let Some(path) = path {
            place(Path::new(&path), &path);
            libs += 1;
        }
    }
    assert!(libs > 0, "ldd listed no libraries:\n{}", show(&out));
    for dir in ["tmp", "etc/portcullis", "run/secrets", "var/run"] {
        fs::create_dir_all(rootfs.join(dir)).expect("create rootfs dir");
    }
    let tarball = work.join("rootfs.tar");
    let mut tar = Command::new("tar");
    tar.arg("-C").arg(&rootfs).arg("-cf").arg(&tarball).arg(".");
    assert_ok(
        &run_command(tar, Input::Null, COMMAND_TIMEOUT),
        "tar the image rootfs",
    );
    d.direct_ok(&[
        "import",
        "-c",
        r#"ENTRYPOINT ["/usr/local/bin/portcullis"]"#,
        tarball.to_str().expect("utf-8 path"),
        IMAGE,
    ]);
    let _ = fs::remove_file(&tarball);
}

/// Service state for failure messages.
fn service_state(d: &DockerDaemon) -> String {
    let service = format!("{STACK}_portcullis");
    let ps = d.direct(&[
        "service",
        "ps",
        "--no-trunc",
        "--format",
        "{{.Name}} {{.CurrentState}} {{.Error}} ports={{.Ports}}",
        &service,
    ]);
    let logs = d.direct(&["service", "logs", "--tail", "30", &service]);
    format!(
        "service ps:\n{}\nservice logs:\n{}",
        show(&ps),
        tail_lines(&show(&logs), 40)
    )
}

/// Refused as the daemon refuses a missing object (`needle` in the error, no rule id).
fn assert_missing(out: &Output, needle: &str, what: &str) {
    let err = stderr_of(out);
    assert!(
        !out.status.success() && err.contains(needle) && !err.contains("PC-"),
        "{what}: expected the object to be missing ({needle})\n{}",
        show(out)
    );
}

fn assert_denied(out: &Output, rule: &str, what: &str) {
    assert!(
        !out.status.success() && stderr_of(out).contains(rule),
        "{what}: expected a denial with {rule}\n{}",
        show(out)
    );
}

#[test]
fn replicas_behind_a_swarm_manager() {
    if !require_daemon() {
        return;
    }
    let started = Instant::now();
    let d = DockerDaemon::start();
    let work = tempfile::Builder::new()
        .prefix("pcs")
        .tempdir_in("/tmp")
        .expect("work tempdir");
    let certs = TestCerts::generate(&work.path().join("certs"), "alice");
    let client = certs.client_dir.clone();
    let policy = repo_path("policies/default.toml");
    let sock = d.socket().to_str().expect("utf-8 socket path").to_string();
    let port = free_tcp_port();
    let admin_port = free_tcp_port();
    let mut cases = Cases::new();

    cases.run(
        "stack file validates (docker stack config, docker-compose config)",
        || {
            validate_stack_file(&d, &sock, &port.to_string());
        },
    );

    let image_ok = cases.run(
        "import the Portcullis image (binary + ldd libraries)",
        || {
            import_portcullis_image(&d, work.path());
            // The image runs on its own: the entrypoint is the real binary.
            let out = d.direct_ok(&["run", "--rm", IMAGE, "--version"]);
            assert!(out.contains("portcullis"), "unexpected --version: {out}");
        },
    );

    // The operator's part, straight on the daemon socket.
    let deployed = image_ok
        && cases.run("swarm init, secrets, config, stack deploy", || {
            let listen = format!("127.0.0.1:{}", free_tcp_port());
            let data_port = free_udp_port(7919).to_string();
            d.direct_ok(&[
                "swarm",
                "init",
                "--advertise-addr",
                "127.0.0.1",
                "--listen-addr",
                &listen,
                "--data-path-port",
                &data_port,
            ]);
            for (name, file) in [
                ("portcullis-ca", &certs.ca_pem),
                ("portcullis-server-cert", &certs.server_cert),
                ("portcullis-server-key", &certs.server_key),
            ] {
                d.direct_ok(&["secret", "create", name, file.to_str().expect("utf-8")]);
            }
            d.direct_ok(&[
                "config",
                "create",
                "portcullis-policy",
                policy.to_str().expect("utf-8"),
            ]);
            let file = stack_file();
            let mut cmd = d.direct_command(&[
                "stack",
                "deploy",
                "--resolve-image",
                "never",
                "-c",
                file.to_str().expect("utf-8"),
                STACK,
            ]);
            cmd.env("DOCKER_SOCK", &sock)
                .env("PORTCULLIS_PORT", port.to_string())
                .env("PORTCULLIS_ADMIN_PORT", admin_port.to_string())
                .env("PORTCULLIS_IMAGE", IMAGE);
            let out = run_command(cmd, Input::Null, COMMAND_TIMEOUT);
            assert_ok(&out, "docker stack deploy");
        });

    let service_replica = Replica {
        name: "S (swarm service)",
        host: format!("tcp://127.0.0.1:{port}"),
        cli_config: work.path().join("cli-s"),
    };
    fs::create_dir_all(&service_replica.cli_config).expect("cli config dir");

    let service_up = deployed
        && cases.run(
            "the swarm replica answers (admin /readyz, docker version)",
            || {
                let admin = format!("127.0.0.1:{admin_port}");
                let deadline = Instant::now() + REPLICA_START_TIMEOUT;
                loop {
                    let ready = http_status(&admin, "/readyz") == Some(200);
                    let version = ready
                        && run_command(
                            service_replica
                                .command(&client, &["version", "--format", "{{.Server.Version}}"]),
                            Input::Null,
                            Duration::from_secs(15),
                        )
                        .status
                        .success();
                    if version {
                        break;
                    }
                    if Instant::now() >= deadline {
                        panic!(
                            "the swarm replica did not answer on {} within {}s\n{}",
                            service_replica.host,
                            REPLICA_START_TIMEOUT.as_secs(),
                            service_state(&d)
                        );
                    }
                    thread::sleep(Duration::from_millis(500));
                }
                let tasks = d.direct_ok(&[
                    "service",
                    "ps",
                    "--filter",
                    "desired-state=running",
                    "--format",
                    "{{.Node}} {{.CurrentState}}",
                    &format!("{STACK}_portcullis"),
                ]);
                assert_eq!(
                    tasks.lines().count(),
                    1,
                    "mode: global on one manager gives one task:\n{tasks}"
                );
            },
        );

    // Two more replicas: the same binary, certificates, policy and upstream,
    // on their own ports, sharing nothing with each other or the service.
    let extra = |name: &'static str| {
        let admin = format!("tcp://127.0.0.1:{}", free_tcp_port());
        let proxy = Proxy::start(
            d.socket(),
            &certs,
            Some(&policy),
            &["--admin-listen", &admin],
        );
        let replica = Replica {
            name,
            host: proxy.docker_host(),
            cli_config: proxy.cli_config().to_path_buf(),
        };
        (proxy, replica)
    };
    let (_proxy_a, a) = extra("A");
    let (_proxy_b, b) = extra("B");
    // Without the service replica the exec step still goes through a third,
    // different path (A), and the failure above says why.
    let s = if service_up { &service_replica } else { &a };

    cases.run("one container's life across replicas A, B, S", || {
        let name = "scale-x";
        let id = a.docker_ok(
            &client,
            &[
                "create",
                "--name",
                name,
                TEST_IMAGE,
                "sh",
                "-c",
                "echo started; sleep 300",
            ],
        );
        assert!(!id.trim().is_empty(), "create printed no id");
        b.docker_ok(&client, &["start", name]);
        let running = d.direct_ok(&["inspect", "-f", "{{.State.Running}}", name]);
        assert_eq!(running.trim(), "true", "not running after start via B");

        // A hijacked exec stream (stdin in, stdout out) on one connection to S;
        // it also writes to the container's own stdout for `logs` to see.
        let out = run_command(
            s.command(
                &client,
                &[
                    "exec",
                    "-i",
                    name,
                    "sh",
                    "-c",
                    "cat; echo exec-via-service > /proc/1/fd/1",
                ],
            ),
            Input::Bytes(b"hello through the replica\n"),
            COMMAND_TIMEOUT,
        );
        assert_ok(&out, &format!("exec -i via replica {}", s.name));
        assert_eq!(
            stdout_of(&out).trim(),
            "hello through the replica",
            "exec stdin/stdout via {}",
            s.name
        );

        if service_up {
            // The exec really went through the swarm task: its audit records
            // (standard output) are in the service's logs.
            let svc = format!("{STACK}_portcullis");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let logs = d.direct(&["service", "logs", "--raw", &svc]);
                let text = stdout_of(&logs);
                if text.contains("\"ExecCreate\"") && text.contains("alice") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "no ExecCreate audit record by alice in the service logs\n{}",
                    tail_lines(&show(&logs), 30)
                );
                thread::sleep(Duration::from_millis(300));
            }
        }

        let logs = a.docker(&client, &["logs", name]);
        assert_ok(&logs, "logs via A");
        let text = format!("{}{}", stdout_of(&logs), stderr_of(&logs));
        assert!(
            text.contains("started") && text.contains("exec-via-service"),
            "logs via A lack the container's and the exec's output:\n{}",
            show(&logs)
        );

        b.docker_ok(&client, &["rm", "-f", name]);
        let left = d.direct_ok(&["ps", "-aq", "--filter", &format!("name=^/{name}$")]);
        assert!(left.trim().is_empty(), "{name} still exists after rm via B");
    });

    for replica in [&a, &b, &service_replica] {
        if std::ptr::eq(replica, &service_replica) && !service_up {
            continue;
        }
        cases.run(
            &format!("replica {} denies --privileged (PC-1001)", replica.name),
            || {
                let cname = format!("scale-priv-{}", replica.name.chars().next().unwrap());
                let out = replica.docker(
                    &client,
                    &[
                        "run",
                        "--rm",
                        "--privileged",
                        "--name",
                        &cname,
                        TEST_IMAGE,
                        "true",
                    ],
                );
                assert_denied(
                    &out,
                    "PC-1001",
                    &format!("--privileged via {}", replica.name),
                );
                let left = d.direct_ok(&["ps", "-aq", "--filter", &format!("name=^/{cname}$")]);
                assert!(left.trim().is_empty(), "{cname} exists after a denial");
            },
        );
    }

    if deployed {
        cases.run(
            "tenants cannot touch the swarm through a replica (PC-0002)",
            || {
                let out = a.docker(&client, &["swarm", "leave", "--force"]);
                assert_denied(&out, "PC-0002", "swarm leave via A");
            },
        );

        if service_up {
            cases.run(
                "the replica's own container and service are hidden from tenants (PC-1041)",
                || {
                    let svc = format!("{STACK}_portcullis");
                    let ids = d.direct_ok(&[
                        "ps",
                        "-q",
                        "--filter",
                        &format!("label=com.docker.swarm.service.name={svc}"),
                    ]);
                    let id = ids
                        .split_whitespace()
                        .next()
                        .expect("the replica's container");
                    // It holds the node's docker.sock: a shell in it is root on the node.
                    // The stack is deployed on the daemon directly, so the service and
                    // its containers have no owner label: under the default policy's
                    // tenant isolation they are the operator's, missing to every tenant
                    // (404, the daemon's own message), before any other rule (the
                    // protected label, PC-1019; the socket bind, PC-1004) is reached.
                    let out = b.docker(
                        &client,
                        &["exec", id, "/usr/local/bin/portcullis", "--version"],
                    );
                    assert_missing(&out, "No such container", "exec into the replica via B");
                    let out = a.docker(&client, &["stop", id]);
                    assert_missing(&out, "No such container", "stop the replica via A");
                    let out = a.docker(
                        &client,
                        &["service", "update", "--detach", "--label-add", "x=y", &svc],
                    );
                    assert_missing(&out, "not found", "service update of the replica via A");
                    let out = b.docker(&client, &["service", "rm", &svc]);
                    assert_missing(&out, "not found", "service rm of the replica via B");
                    let still =
                        d.direct_ok(&["service", "ls", "-q", "--filter", &format!("name={svc}")]);
                    assert!(
                        !still.trim().is_empty(),
                        "the Portcullis service was removed"
                    );
                },
            );
        }
        cases.run("stack rm and swarm leave", || {
            d.direct_ok(&["stack", "rm", STACK]);
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let left = d.direct_ok(&[
                    "ps",
                    "-aq",
                    "--filter",
                    &format!("label=com.docker.stack.namespace={STACK}"),
                ]);
                if left.trim().is_empty() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "stack containers still present after 30s: {left}"
                );
                thread::sleep(Duration::from_millis(300));
            }
            d.direct_ok(&["swarm", "leave", "--force"]);
        });
    }

    println!("e2e_scale took {:.1}s", started.elapsed().as_secs_f64());
    cases.finish();
}
