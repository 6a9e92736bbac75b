//! End-to-end operability tests: onboarding with `portcullis certs`/`env`, refused
//! handshakes, the audit log, the admin listener (/metrics, /healthz, /readyz),
//! policy reloads on SIGHUP next to live sessions, and the header timeout against
//! a slowloris client. Real docker CLI, real curl, real private dockerd.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{cases::*, certs::*, clients::*, command::*, daemon::*, processes::*};

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");
const ADMIN_ANY: [&str; 2] = ["--admin-listen", "tcp://127.0.0.1:0"];

fn default_policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.toml")
}

fn tmpdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .expect("temporary directory")
}

fn portcullis(args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    run_command(cmd, Input::Null, Duration::from_secs(30))
}

/// Poll `check` every 100 ms until it returns true or `limit` passes.
fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// `portcullis serve` with arbitrary flags (no test PKI added), logging at `info`.
fn spawn_serve(args: &[String]) -> Proxy {
    Proxy::spawn_env(args, &[("RUST_LOG", "info")])
}

/// The docker CLI with exactly `env` (plus PATH and a private DOCKER_CONFIG).
fn docker_env_cmd(env: &[(String, String)], config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("docker");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DOCKER_CONFIG", config)
        .env("DOCKER_CLI_HINTS", "false")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(args);
    cmd
}

fn docker_env(env: &[(String, String)], config: &Path, args: &[&str]) -> Output {
    run_command(
        docker_env_cmd(env, config, args),
        Input::Null,
        Duration::from_secs(60),
    )
}

/// mTLS client environment for `serve` as the identity in `client_dir`.
fn tls_env(serve: &Proxy, client_dir: &Path) -> Vec<(String, String)> {
    vec![
        (
            "DOCKER_HOST".into(),
            format!("tcp://localhost:{}", serve.port()),
        ),
        ("DOCKER_TLS_VERIFY".into(), "1".into()),
        (
            "DOCKER_CERT_PATH".into(),
            client_dir.to_string_lossy().into_owned(),
        ),
    ]
}

/// A child process killed (with its process group) when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Lines read from `source` by a thread, with the time each arrived.
type Lines = Arc<Mutex<Vec<(Instant, String)>>>;

fn collect_lines(source: impl Read + Send + 'static) -> Lines {
    let lines: Lines = Arc::default();
    let sink = Arc::clone(&lines);
    thread::spawn(move || {
        for line in BufReader::new(source).lines() {
            match line {
                Ok(l) => sink.lock().unwrap().push((Instant::now(), l)),
                Err(_) => break,
            }
        }
    });
    lines
}

fn count_after(lines: &Lines, since: Instant, needle: &str) -> usize {
    lines
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, l)| *t > since && l.contains(needle))
        .count()
}

fn dump(lines: &Lines) -> String {
    let l = lines.lock().unwrap();
    let all: Vec<&str> = l.iter().map(|(_, s)| s.as_str()).collect();
    tail_lines(&all.join("\n"), 20)
}

// ---------------------------------------------------------------------------
// Admin listener
// ---------------------------------------------------------------------------

/// `GET path` on the admin listener: (status, body).
fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect admin {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("read admin {path}: {e}"));
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status from admin {path}: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The admin address of a proxy started with an admin listener.
fn proxy_admin(proxy: &Proxy) -> String {
    proxy
        .admin()
        .unwrap_or_else(|| panic!("no admin line in the ready file of {}", proxy.addr))
}

/// Value of the sample of `name` carrying all `labels` (0 when absent).
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (metric_name, label_part) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if metric_name != name {
            continue;
        }
        if labels
            .iter()
            .all(|(k, v)| label_part.contains(&format!("{k}=\"{v}\"")))
        {
            return value
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        }
    }
    0.0
}

fn metrics(admin: &str) -> String {
    let (status, body) = http_get(admin, "/metrics");
    assert_eq!(status, 200, "/metrics status; body:\n{body}");
    body
}

fn readyz(admin: &str) -> u16 {
    http_get(admin, "/readyz").0
}

/// Point the symlink `link` at `target` atomically.
fn repoint(link: &Path, target: &Path) {
    let tmp = link.with_extension("new");
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).expect("create symlink");
    fs::rename(&tmp, link).expect("rename symlink into place");
}

fn audit_records(path: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {l}"))
        })
        .collect()
}

#[test]
fn operability_through_portcullis() {
    if !require_daemon() {
        return;
    }
    let started = Instant::now();
    let d = DockerDaemon::start();
    let work = tmpdir("pco");
    let certs = TestCerts::generate(&work.path().join("certs"), "alice");
    let alice = certs.client_dir.clone();
    let audit_path = work.path().join("audit.jsonl");
    let audit_arg = audit_path.to_string_lossy().into_owned();
    let policy = default_policy();
    let proxy = Proxy::start(
        d.socket(),
        &certs,
        Some(&policy),
        &[ADMIN_ANY[0], ADMIN_ANY[1], "--audit-log", &audit_arg],
    );
    let admin = proxy_admin(&proxy);
    let upstream = format!("unix://{}", d.socket().display());
    let mut cases = Cases::new();

    cases.run(
        "onboarding: certs init, certs client, serve, env, docker ps",
        || {
            let pki = work.path().join("onboard");
            let pki_s = pki.to_string_lossy().into_owned();
            let out = portcullis(&[
                "certs",
                "init",
                "--dir",
                &pki_s,
                "--host",
                "localhost",
                "--host",
                "127.0.0.1",
            ]);
            assert_ok(&out, "portcullis certs init");
            for f in ["ca.pem", "ca-key.pem", "server-cert.pem", "server-key.pem"] {
                assert!(pki.join(f).is_file(), "certs init did not write {f}");
            }
            let out = portcullis(&[
                "certs", "client", "bob", "--dir", &pki_s, "--org", "tenants",
            ]);
            assert_ok(&out, "portcullis certs client bob");
            let bundle = pki.join("clients/bob");
            for f in ["ca.pem", "cert.pem", "key.pem"] {
                assert!(bundle.join(f).is_file(), "certs client did not write {f}");
            }
            let serve = spawn_serve(&[
                "--listen".into(),
                "tcp://127.0.0.1:0".into(),
                "--tls-cert".into(),
                format!("{pki_s}/server-cert.pem"),
                "--tls-key".into(),
                format!("{pki_s}/server-key.pem"),
                "--tls-client-ca".into(),
                format!("{pki_s}/ca.pem"),
                "--upstream".into(),
                upstream.clone(),
                "--admin-listen".into(),
                "off".into(),
            ]);
            let host = format!("tcp://localhost:{}", serve.port());
            let out = portcullis(&["env", "bob", "--dir", &pki_s, "--host", &host]);
            assert_ok(&out, "portcullis env bob");
            let mut env = Vec::new();
            for line in stdout_of(&out).lines().filter(|l| !l.trim().is_empty()) {
                let (k, v) = line
                    .strip_prefix("export ")
                    .and_then(|kv| kv.split_once('='))
                    .unwrap_or_else(|| panic!("unexpected env line {line:?}\n{}", show(&out)));
                let v = v.trim_matches(|c| c == '"' || c == '\'');
                env.push((k.to_string(), v.to_string()));
            }
            let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(
                keys,
                ["DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"],
                "env output:\n{}",
                show(&out)
            );
            assert_eq!(env[0].1, host);
            assert_eq!(env[1].1, "1");
            assert_eq!(Path::new(&env[2].1), bundle.as_path());
            let offset = serve.log_len();
            let ps = docker_env(&env, serve.cli_config(), &["ps"]);
            assert_ok(&ps, "docker ps with the printed environment");
            assert!(stdout_of(&ps).contains("CONTAINER ID"), "{}", show(&ps));
            assert!(
                serve.wait_log(offset, "ContainerList", Duration::from_secs(5)),
                "no ContainerList request in the log:\n{}",
                serve.log_since(offset)
            );
            assert!(
                serve.log_since(offset).contains("bob"),
                "the request was not attributed to bob:\n{}",
                serve.log_since(offset)
            );
        },
    );

    cases.run(
        "untrusted client certificate and no certificate are refused",
        || {
            let mallory = certs.untrusted_client("mallory");
            let port = proxy.addr.rsplit_once(':').expect("host:port").1;
            let log_offset = proxy.log_len();
            let audit_before = audit_records(&audit_path).len();
            let out = docker_via(&proxy, &mallory, &["ps"], None);
            assert_fails(&out, "docker ps with a certificate from another CA");
            println!("  untrusted docker ps: {}", stderr_of(&out).trim());
            assert!(
                !stdout_of(&out).contains("CONTAINER ID"),
                "untrusted client got a listing:\n{}",
                show(&out)
            );

            let mut curl = Command::new("curl");
            curl.args(["-sS", "--max-time", "15", "--cacert"])
                .arg(&certs.ca_pem)
                .arg(format!("https://localhost:{port}/_ping"));
            let out = run_command(curl, Input::Null, Duration::from_secs(30));
            assert_fails(&out, "curl without a client certificate");
            println!("  curl without a certificate: {}", stderr_of(&out).trim());
            assert!(
                !stdout_of(&out).contains("OK"),
                "curl without a certificate got an answer:\n{}",
                show(&out)
            );

            // The docker CLI (Go) may withhold a certificate the server's CA list
            // does not name; curl presents it anyway, so the proxy must reject it.
            let mut curl = Command::new("curl");
            curl.args(["-sS", "--max-time", "15", "--cacert"])
                .arg(&certs.ca_pem)
                .arg("--cert")
                .arg(mallory.join("cert.pem"))
                .arg("--key")
                .arg(mallory.join("key.pem"))
                .arg(format!("https://localhost:{port}/_ping"));
            let out = run_command(curl, Input::Null, Duration::from_secs(30));
            assert_fails(&out, "curl with a certificate from another CA");
            println!(
                "  curl with the untrusted certificate: {}",
                stderr_of(&out).trim()
            );
            assert!(
                !stdout_of(&out).contains("OK"),
                "curl with an untrusted certificate got an answer:\n{}",
                show(&out)
            );

            thread::sleep(Duration::from_millis(300));
            let log = proxy.log_since(log_offset);
            assert!(
                !log.contains("op=") && !log.contains("mallory"),
                "the proxy logged a request for a refused client:\n{log}"
            );
            let audit = audit_records(&audit_path);
            assert_eq!(
                audit.len(),
                audit_before,
                "refused clients produced audit records: {:?}",
                &audit[audit_before..]
            );

            // Positive control: the trusted identity still gets through.
            let ok = docker_via(&proxy, &alice, &["ps"], None);
            assert_ok(&ok, "docker ps as alice");
        },
    );

    cases.run("audit log: allow and deny records", || {
        let before = audit_records(&audit_path).len();
        let ps = docker_via(&proxy, &alice, &["ps"], None);
        assert_ok(&ps, "docker ps");
        let run = docker_via(
            &proxy,
            &alice,
            &[
                "run",
                "--rm",
                "--privileged",
                "--name",
                "audit-priv",
                TEST_IMAGE,
                "true",
            ],
            None,
        );
        assert_fails(&run, "docker run --privileged");
        assert!(stderr_of(&run).contains("PC-1001"), "{}", show(&run));

        let mut records = Vec::new();
        let found = wait_until(Duration::from_secs(5), || {
            records = audit_records(&audit_path).split_off(before);
            records.iter().any(|r| r["decision"] == "deny")
        });
        assert!(found, "no deny record in the audit log: {records:#?}");
        for r in &records {
            for field in [
                "ts",
                "identity",
                "remote",
                "method",
                "path",
                "operation",
                "policy",
                "mode",
                "decision",
                "rules",
                "status",
                "bytes_in",
                "bytes_out",
                "duration_ms",
            ] {
                assert!(r.get(field).is_some(), "audit record lacks {field}: {r}");
            }
        }
        let allow = records
            .iter()
            .find(|r| r["operation"] == "ContainerList" && r["decision"] == "allow")
            .unwrap_or_else(|| panic!("no allowed ContainerList record: {records:#?}"));
        assert_eq!(allow["status"], 200, "{allow}");
        assert_eq!(allow["method"], "GET", "{allow}");
        assert!(
            allow["identity"].as_str().unwrap_or("").contains("alice"),
            "identity of {allow}"
        );
        assert_eq!(allow["rules"], serde_json::json!([]), "{allow}");
        for r in &records {
            println!("  audit: {r}");
        }
        let deny = records
            .iter()
            .find(|r| r["decision"] == "deny")
            .expect("deny record");
        assert_eq!(deny["rules"], serde_json::json!(["PC-1001"]), "{deny}");
        assert_eq!(deny["operation"], "ContainerCreate", "{deny}");
        assert_eq!(deny["method"], "POST", "{deny}");
        assert_eq!(deny["status"], 403, "{deny}");
        assert!(
            deny["identity"].as_str().unwrap_or("").contains("alice"),
            "identity of {deny}"
        );
        let ts = deny["ts"].as_str().unwrap_or("");
        assert!(ts.len() == 24 && ts.ends_with('Z'), "timestamp {ts:?}");
    });

    cases.run("metrics counters move; healthz", || {
        let (status, body) = http_get(&admin, "/healthz");
        assert_eq!(status, 200, "/healthz: {body}");
        let labels = [("operation", "ContainerList"), ("decision", "allow")];
        let before_text = metrics(&admin);
        let before = metric(&before_text, "portcullis_requests_total", &labels);
        let denials_before = metric(
            &before_text,
            "portcullis_denials_total",
            &[("rule", "PC-1001")],
        );
        assert_ok(&docker_via(&proxy, &alice, &["ps"], None), "docker ps");
        let denied = docker_via(
            &proxy,
            &alice,
            &["run", "--rm", "--privileged", TEST_IMAGE, "true"],
            None,
        );
        assert_fails(&denied, "docker run --privileged");
        let mut after_text = String::new();
        let moved = wait_until(Duration::from_secs(5), || {
            after_text = metrics(&admin);
            metric(&after_text, "portcullis_requests_total", &labels) > before
        });
        assert!(
            moved,
            "portcullis_requests_total{{ContainerList,allow}} stayed at {before}:\n{after_text}"
        );
        let denials_after = metric(
            &after_text,
            "portcullis_denials_total",
            &[("rule", "PC-1001")],
        );
        assert!(
            denials_after > denials_before,
            "portcullis_denials_total{{rule=PC-1001}} stayed at {denials_before}:\n{after_text}"
        );
        for name in [
            "portcullis_active_connections",
            "portcullis_active_sessions",
            "portcullis_policy_reloads_total",
        ] {
            assert!(after_text.contains(name), "{name} missing:\n{after_text}");
        }
    });

    cases.run("readyz follows the daemon (down and back)", || {
        let d2 = DockerDaemon::start();
        let links = tmpdir("pcl");
        let link = links.path().join("docker.sock");
        repoint(&link, d2.socket());
        let p2 = Proxy::start(&link, &certs, Some(&policy), &ADMIN_ANY);
        let admin2 = proxy_admin(&p2);
        assert_eq!(readyz(&admin2), 200, "readyz with the daemon up");
        assert_ok(&docker_via(&p2, &alice, &["ps"], None), "docker ps (d2)");

        drop(d2);
        let t = Instant::now();
        assert!(
            wait_until(Duration::from_secs(15), || readyz(&admin2) == 503),
            "readyz still {} after the daemon stopped",
            readyz(&admin2)
        );
        println!(
            "  readyz 503 {:.1}s after dockerd stopped",
            t.elapsed().as_secs_f64()
        );
        assert_eq!(http_get(&admin2, "/healthz").0, 200, "healthz stays 200");
        assert_fails(
            &docker_via(&p2, &alice, &["ps"], None),
            "docker ps with the daemon down",
        );

        // A daemon appears on the upstream path again.
        let d3 = DockerDaemon::start();
        repoint(&link, d3.socket());
        assert!(
            wait_until(Duration::from_secs(15), || readyz(&admin2) == 200),
            "readyz still {} after a daemon came back",
            readyz(&admin2)
        );
        assert_ok(
            &docker_via(&p2, &alice, &["ps"], None),
            "docker ps after the daemon came back",
        );
        drop(p2);
        drop(d3);
    });

    cases.run(
        "SIGHUP reload: broken policy rejected, stricter policy live, sessions survive",
        || {
            let pdir = tmpdir("pcr");
            let pfile = pdir.path().join("policy.toml");
            let original = fs::read_to_string(&policy).expect("read default policy");
            fs::write(&pfile, &original).unwrap();
            let serve = spawn_serve(&[
                "--listen".into(),
                "tcp://127.0.0.1:0".into(),
                "--tls-cert".into(),
                certs.server_cert.to_string_lossy().into_owned(),
                "--tls-key".into(),
                certs.server_key.to_string_lossy().into_owned(),
                "--tls-client-ca".into(),
                certs.ca_pem.to_string_lossy().into_owned(),
                "--upstream".into(),
                upstream.clone(),
                "--policy".into(),
                pfile.to_string_lossy().into_owned(),
                "--admin-listen".into(),
                "tcp://127.0.0.1:0".into(),
                "--audit-log".into(),
                pdir.path()
                    .join("audit.jsonl")
                    .to_string_lossy()
                    .into_owned(),
                // Only SIGHUP reloads, so the signal is what is tested.
                "--watch-interval-secs".into(),
                "0".into(),
            ]);
            let admin_s = serve.admin().expect("admin listener");
            let env = tls_env(&serve, &alice);
            let config = serve.cli_config().to_path_buf();
            let docker = |args: &[&str]| docker_env(&env, &config, args);
            assert_ok(&docker(&["ps"]), "docker ps before reloads");

            // 1. A broken policy is rejected; the old one keeps serving.
            let failures_before = metric(
                &metrics(&admin_s),
                "portcullis_policy_reload_failures_total",
                &[],
            );
            fs::write(&pfile, format!("name = 1\n{original}")).unwrap();
            let offset = serve.log_len();
            serve.signal("-HUP");
            assert!(
                serve.wait_log(offset, "policy reload rejected", Duration::from_secs(10)),
                "no 'policy reload rejected' after SIGHUP:\n{}",
                serve.log_since(offset)
            );
            assert!(
                !serve.log_since(offset).contains("policies reloaded"),
                "a broken policy was reloaded:\n{}",
                serve.log_since(offset)
            );
            assert_ok(&docker(&["ps"]), "docker ps after a rejected reload");
            let failures_after = metric(
                &metrics(&admin_s),
                "portcullis_policy_reload_failures_total",
                &[],
            );
            assert!(
                failures_after > failures_before,
                "portcullis_policy_reload_failures_total stayed at {failures_before}"
            );
            let still = docker(&["run", "--rm", "--privileged", TEST_IMAGE, "true"]);
            assert_fails(&still, "privileged run under the kept policy");
            assert!(stderr_of(&still).contains("PC-1001"), "{}", show(&still));

            // 2. Long sessions: a followed log stream and an attached stdin/stdout.
            let run = docker(&[
                "run",
                "-d",
                "--name",
                "sess",
                TEST_IMAGE,
                "sh",
                "-c",
                "while true; do echo tick; sleep 0.2; done",
            ]);
            assert_ok(&run, "docker run -d sess");
            let mut follow = docker_env_cmd(&env, &config, &["logs", "-f", "sess"]);
            follow
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null());
            let mut follow = KillOnDrop(follow.spawn().expect("spawn docker logs -f"));
            let ticks = collect_lines(follow.0.stdout.take().unwrap());

            let mut attach = docker_env_cmd(
                &env,
                &config,
                &["run", "-i", "--rm", "--name", "sess-cat", TEST_IMAGE, "cat"],
            );
            attach
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut attach = KillOnDrop(attach.spawn().expect("spawn docker run -i cat"));
            let mut cat_in: ChildStdin = attach.0.stdin.take().unwrap();
            let echoed = collect_lines(attach.0.stdout.take().unwrap());
            let t0 = Instant::now() - Duration::from_secs(1);
            assert!(
                wait_until(Duration::from_secs(20), || {
                    let _ = writeln!(cat_in, "before-reload");
                    let _ = cat_in.flush();
                    count_after(&echoed, t0, "before-reload") > 0
                }),
                "attached cat never echoed"
            );
            assert!(
                wait_until(Duration::from_secs(20), || count_after(&ticks, t0, "tick")
                    >= 3),
                "logs -f delivered no ticks: {}",
                dump(&ticks)
            );

            // 3. A stricter policy: docker ps is denied from now on.
            let stricter = original.replacen(
                "deny_operations = []",
                r#"deny_operations = ["ContainerList"]"#,
                1,
            );
            assert_ne!(
                stricter, original,
                "default policy has no `deny_operations = []` line"
            );
            fs::write(&pfile, &stricter).unwrap();
            let offset = serve.log_len();
            serve.signal("-HUP");
            assert!(
                serve.wait_log(offset, "policies reloaded", Duration::from_secs(10)),
                "no 'policies reloaded' after SIGHUP:\n{}",
                serve.log_since(offset)
            );
            let reloaded = Instant::now();
            let ps = docker(&["ps"]);
            assert_fails(&ps, "docker ps under the stricter policy");
            assert!(
                stderr_of(&ps).contains("PC-0002"),
                "expected PC-0002:\n{}",
                show(&ps)
            );

            // The sessions that started earlier keep going.
            assert!(
                wait_until(Duration::from_secs(10), || count_after(
                    &ticks, reloaded, "tick"
                ) >= 5),
                "the followed log stopped after the reload (ticks after: {}); last lines:\n{}",
                count_after(&ticks, reloaded, "tick"),
                dump(&ticks)
            );
            assert!(
                matches!(follow.0.try_wait(), Ok(None)),
                "docker logs -f exited after the reload"
            );
            writeln!(cat_in, "after-reload").expect("write to attached cat");
            cat_in.flush().unwrap();
            assert!(
                wait_until(Duration::from_secs(10), || count_after(
                    &echoed,
                    reloaded,
                    "after-reload"
                ) > 0),
                "the attached session stopped echoing after the reload: {}",
                dump(&echoed)
            );
            drop(cat_in);
            let cat_ok = wait_until(Duration::from_secs(20), || {
                matches!(attach.0.try_wait(), Ok(Some(_)))
            });
            assert!(cat_ok, "docker run -i cat did not end after stdin EOF");
            let status = attach.0.wait().unwrap();
            assert!(status.success(), "docker run -i cat exited with {status}");

            drop(follow);
            let _ = d.direct(&["rm", "-f", "sess", "sess-cat"]);
        },
    );

    cases.run(
        "slowloris is cut off by the header timeout; long streams are not",
        || {
            let serve = spawn_serve(&[
                "--listen".into(),
                "tcp://127.0.0.1:0".into(),
                "--insecure-no-tls".into(),
                "--header-timeout-secs".into(),
                "2".into(),
                "--upstream".into(),
                upstream.clone(),
                "--admin-listen".into(),
                "off".into(),
            ]);
            let env = vec![(
                "DOCKER_HOST".to_string(),
                format!("tcp://127.0.0.1:{}", serve.port()),
            )];
            let config = serve.cli_config().to_path_buf();
            let script = "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line$i; sleep 0.5; done";
            let run = docker_env(
                &env,
                &config,
                &[
                    "run", "-d", "--name", "slowlog", TEST_IMAGE, "sh", "-c", script,
                ],
            );
            assert_ok(&run, "docker run -d slowlog (plain TCP)");
            let follow_env = env.clone();
            let follow_config = config.clone();
            let follow = thread::spawn(move || {
                let t = Instant::now();
                let out = docker_env(&follow_env, &follow_config, &["logs", "-f", "slowlog"]);
                (out, t.elapsed())
            });

            let mut s = TcpStream::connect(&serve.addr).expect("connect");
            s.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
            let t = Instant::now();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            let closed = loop {
                match s.read(&mut buf) {
                    Ok(0) => break true,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        break false
                    }
                    Err(_) => break true,
                }
            };
            let waited = t.elapsed();
            println!(
                "  slowloris connection closed={closed} after {:.1}s; got {:?}",
                waited.as_secs_f64(),
                String::from_utf8_lossy(&got)
            );
            assert!(closed, "the half-sent request was kept open for {waited:?}");
            assert!(
                waited < Duration::from_secs(10),
                "the half-sent request was closed only after {waited:?}"
            );
            assert!(
                waited >= Duration::from_millis(1500),
                "closed after {waited:?}, before the 2s header timeout"
            );

            let (out, took) = follow.join().expect("docker logs -f thread");
            assert_ok(&out, "docker logs -f slowlog");
            let text = stdout_of(&out);
            let lines: Vec<&str> = text.lines().collect();
            let want: Vec<String> = (1..=12).map(|i| format!("line{i}")).collect();
            assert_eq!(lines, want, "{}", show(&out));
            assert!(
                took >= Duration::from_secs(4),
                "docker logs -f ended after {took:?}; the stream was not long-lived"
            );
            let _ = d.direct(&["rm", "-f", "slowlog"]);
        },
    );

    println!("e2e_ops total {:.1}s", started.elapsed().as_secs_f64());
    drop(proxy);
    cases.finish();
}
