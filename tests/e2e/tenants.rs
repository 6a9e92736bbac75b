//! End-to-end tenant isolation (issue #17): two client certificates, CN=alice and
//! CN=bob, through one Portcullis with `[tenants] isolate = true` to one private
//! dockerd. Each tenant sees and touches only its own containers, volumes and
//! networks; the other's are answered like missing ones (404, the daemon's message);
//! a forged owner label is refused. Services (on a swarm the test makes of the daemon),
//! their secrets, networks and volume mounts, and the quotas (objects, memory, CPUs)
//! are checked too. What the daemon holds is checked through its own socket.

use std::fs;

use crate::common::{cases::*, certs::*, clients::*, command::*, daemon::*, processes::*};

const OWNER: &str = "io.portcullis.owner";

/// The owner label of an object on the daemon, read through its own socket.
fn owner_on_daemon(d: &DockerDaemon, object: &str) -> String {
    d.direct_ok(&[
        "inspect",
        "-f",
        &format!("{{{{index .Config.Labels \"{OWNER}\"}}}}"),
        object,
    ])
    .trim()
    .to_string()
}

/// A docker command failed as for a missing object (the daemon's 404 wording).
fn assert_missing(out: &std::process::Output, what: &str) {
    assert!(
        !out.status.success(),
        "{what}: expected a failure, got success\n{}",
        show(out)
    );
    let err = stderr_of(out).to_lowercase();
    assert!(
        err.contains("no such") || err.contains("not found"),
        "{what}: expected a missing-object error\n{}",
        show(out)
    );
    assert!(
        !err.contains("pc-10") && !err.contains("policy"),
        "{what}: the refusal must not read as a policy denial\n{}",
        show(out)
    );
}

fn lines(out: &str) -> Vec<&str> {
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// One Engine API request through the proxy with curl, as the client of `client_dir`:
/// the HTTP status and the answer body.
fn api(
    proxy: &Proxy,
    client_dir: &std::path::Path,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (String, String) {
    let pem = |f: &str| client_dir.join(f).to_str().expect("utf-8").to_string();
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method])
        .args(["--cacert", &pem("ca.pem"), "--cert", &pem("cert.pem")])
        .args([
            "--key",
            &pem("key.pem"),
            "-H",
            "Content-Type: application/json",
        ]);
    if let Some(b) = body {
        cmd.args(["--data-binary", b]);
    }
    cmd.arg(format!("https://{}/v1.41{path}", proxy.addr));
    let out = cmd.output().expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.to_string(), body.to_string())
}

/// A docker command refused by rule PC-1043 with `message` in its error.
fn assert_quota(out: &std::process::Output, message: &str) {
    assert!(!out.status.success(), "expected PC-1043\n{}", show(out));
    let err = stderr_of(out);
    assert!(
        err.contains("PC-1043") && err.contains(message),
        "expected PC-1043 with {message:?}\n{}",
        show(out)
    );
}

/// Bob's view through the Docker SDK for Python (`python3 -c SDK_AS_BOB ALICE_ID IMAGE`):
/// alice's and the operator's objects are missing by name and by id, lists hold only
/// his, his prunes leave hers, and his own workflow works.
const SDK_AS_BOB: &str = r#"
import sys
import docker
from docker.errors import NotFound
alice_id, image = sys.argv[1], sys.argv[2]
c = docker.from_env()
names = [x.name for x in c.containers.list(all=True)]
assert "bob-web" in names and "alice-web" not in names and "operator-web" not in names, names
for ref in ["alice-web", alice_id, alice_id[:12], "operator-web"]:
    try:
        c.containers.get(ref)
        raise SystemExit("VISIBLE: container " + ref)
    except NotFound:
        pass
for get, ref in [(c.volumes.get, "alice-vol"), (c.networks.get, "alice-net")]:
    try:
        get(ref)
        raise SystemExit("VISIBLE: " + ref)
    except NotFound:
        pass
try:
    c.api.exec_create(alice_id, "true")
    raise SystemExit("EXEC CREATED in alice's container")
except NotFound:
    pass
assert "alice-vol" not in [v.name for v in c.volumes.list()]
assert "alice-net" not in [n.name for n in c.networks.list()]
c.containers.prune()
c.volumes.prune()
out = c.containers.run(image, ["echo", "hi from bob"], remove=True)
assert out == b"hi from bob\n", out
v = c.volumes.create("bob-sdk-vol")
assert v.attrs["Labels"]["io.portcullis.owner"] == "bob", v.attrs
v.remove()
print("sdk-ok", flush=True)
"#;

#[test]
fn tenants_through_portcullis() {
    if !require_daemon() {
        return;
    }
    let d = DockerDaemon::start();
    let work = tempfile::Builder::new()
        .prefix("pct")
        .tempdir_in("/tmp")
        .unwrap();
    let certs = TestCerts::generate(&work.path().join("certs"), "alice");
    let bob_dir = certs.add_client("bob");
    let policy = work.path().join("tenants.toml");
    fs::write(
        &policy,
        "name = \"tenants\"\ndescription = \"isolated tenants\"\n[containers]\nvolumes_from_allowed = [\"ops-data\"]\n[tenants]\nisolate = true\nmax_volumes = 3\n",
    )
    .unwrap();
    let proxy = Proxy::start(d.socket(), &certs, Some(&policy), &[]);
    let alice_dir = certs.client_dir.clone();
    let alice = |args: &[&str]| docker_via(&proxy, &alice_dir, args, None);
    let bob = |args: &[&str]| docker_via(&proxy, &bob_dir, args, None);
    let mut cases = Cases::new();

    // Alice's objects, and an operator container made on the daemon directly.
    assert_ok(
        &alice(&["volume", "create", "alice-vol"]),
        "alice volume create",
    );
    assert_ok(
        &alice(&["network", "create", "alice-net"]),
        "alice network create",
    );
    assert_ok(
        &alice(&[
            "run",
            "-d",
            "--name",
            "alice-web",
            "-v",
            "alice-vol:/data",
            "--network",
            "alice-net",
            TEST_IMAGE,
            "sleep",
            "300",
        ]),
        "alice run",
    );
    assert_ok(
        &bob(&["run", "-d", "--name", "bob-web", TEST_IMAGE, "sleep", "300"]),
        "bob run",
    );
    d.direct_ok(&[
        "run",
        "-d",
        "--name",
        "operator-web",
        TEST_IMAGE,
        "sleep",
        "300",
    ]);

    cases.run("creates are stamped with their owner", || {
        assert_eq!(owner_on_daemon(&d, "alice-web"), "alice");
        assert_eq!(owner_on_daemon(&d, "bob-web"), "bob");
        let vol = d.direct_ok(&[
            "volume",
            "inspect",
            "-f",
            &format!("{{{{index .Labels \"{OWNER}\"}}}}"),
            "alice-vol",
        ]);
        assert_eq!(vol.trim(), "alice");
        let net = d.direct_ok(&[
            "network",
            "inspect",
            "-f",
            &format!("{{{{index .Labels \"{OWNER}\"}}}}"),
            "alice-net",
        ]);
        assert_eq!(net.trim(), "alice");
    });

    cases.run("lists show only the tenant's own objects", || {
        let out = bob(&["ps", "-a", "--format", "{{.Names}}"]);
        assert_ok(&out, "bob ps -a");
        assert_eq!(lines(&stdout_of(&out)), ["bob-web"]);
        let out = alice(&["ps", "-a", "--format", "{{.Names}}"]);
        assert_ok(&out, "alice ps -a");
        assert_eq!(lines(&stdout_of(&out)), ["alice-web"]);
        let out = bob(&["volume", "ls", "-q"]);
        assert_ok(&out, "bob volume ls");
        assert!(lines(&stdout_of(&out)).is_empty(), "{}", show(&out));
        let out = alice(&["volume", "ls", "-q"]);
        assert_ok(&out, "alice volume ls");
        assert_eq!(lines(&stdout_of(&out)), ["alice-vol"]);
        // Networks: the tenant's own and the daemon's predefined ones, which everyone
        // may name; a type=custom filter leaves the predefined ones out.
        let sorted = |out: &std::process::Output| {
            let text = stdout_of(out);
            let mut names: Vec<String> = lines(&text).into_iter().map(str::to_string).collect();
            names.sort_unstable();
            names
        };
        let out = bob(&["network", "ls", "--format", "{{.Name}}"]);
        assert_ok(&out, "bob network ls");
        assert_eq!(sorted(&out), ["bridge", "host", "none"]);
        let out = alice(&["network", "ls", "--format", "{{.Name}}"]);
        assert_ok(&out, "alice network ls");
        assert_eq!(sorted(&out), ["alice-net", "bridge", "host", "none"]);
        let out = alice(&[
            "network",
            "ls",
            "--format",
            "{{.Name}}",
            "--filter",
            "type=custom",
        ]);
        assert_ok(&out, "alice network ls type=custom");
        assert_eq!(sorted(&out), ["alice-net"]);
        // A client's own filter cannot widen the view.
        let out = bob(&[
            "ps",
            "-a",
            "--format",
            "{{.Names}}",
            "--filter",
            &format!("label={OWNER}=alice"),
        ]);
        assert_ok(&out, "bob ps with alice's owner filter");
        assert_eq!(lines(&stdout_of(&out)), ["bob-web"]);
        // The daemon still has everything.
        let all = d.direct_ok(&["ps", "-a", "--format", "{{.Names}}"]);
        for name in ["alice-web", "bob-web", "operator-web"] {
            assert!(all.lines().any(|l| l == name), "{name} missing: {all}");
        }
    });

    cases.run(
        "an operator container in volumes_from_allowed serves --volumes-from only",
        || {
            // The operator's (no owner label), made on the daemon directly.
            d.direct_ok(&[
                "run", "-d", "--name", "ops-data", "-v", "/certs", TEST_IMAGE, "sleep", "300",
            ]);
            d.direct_ok(&[
                "exec",
                "ops-data",
                "sh",
                "-c",
                "echo operator-cert > /certs/c",
            ]);
            let out = alice(&[
                "run",
                "--rm",
                "--volumes-from",
                "ops-data:ro",
                TEST_IMAGE,
                "cat",
                "/certs/c",
            ]);
            assert_ok(&out, "alice --volumes-from ops-data");
            assert_eq!(stdout_of(&out).trim(), "operator-cert");
            for (what, args) in [
                ("inspect", vec!["container", "inspect", "ops-data"]),
                ("exec", vec!["exec", "ops-data", "true"]),
                ("stop", vec!["stop", "ops-data"]),
                // (rm -f would hide the 404: the CLI ignores missing containers then.)
                ("rm", vec!["rm", "ops-data"]),
            ] {
                assert_missing(&alice(&args), what);
            }
            d.direct_ok(&["exec", "ops-data", "true"]);
            // Not listed: the operator's other containers stay hidden. (--pull never:
            // on a create's 404 the CLI would otherwise try to pull the image.)
            let out = alice(&[
                "run",
                "--rm",
                "--pull",
                "never",
                "--volumes-from",
                "operator-web",
                TEST_IMAGE,
                "true",
            ]);
            assert_missing(&out, "--volumes-from operator-web");
            let _ = d.direct(&["rm", "-f", "ops-data"]);
        },
    );

    cases.run("system df shows only the tenant's containers", || {
        let out = bob(&["system", "df", "-v"]);
        assert_ok(&out, "bob system df -v");
        let text = stdout_of(&out);
        assert!(text.contains("bob-web"), "{text}");
        assert!(
            !text.contains("alice-web") && !text.contains("operator-web"),
            "{text}"
        );
        assert!(!text.contains("alice-vol"), "{text}");
    });

    cases.run("bob cannot reach alice's container", || {
        for (what, args) in [
            ("inspect", vec!["container", "inspect", "alice-web"]),
            ("logs", vec!["logs", "alice-web"]),
            ("exec", vec!["exec", "alice-web", "true"]),
            ("stop", vec!["stop", "-t", "0", "alice-web"]),
            ("kill", vec!["kill", "alice-web"]),
            // Not `rm -f`: the CLI reports success for a missing container then.
            ("rm", vec!["rm", "alice-web"]),
            ("rename", vec!["rename", "alice-web", "mine"]),
            ("operator's", vec!["container", "inspect", "operator-web"]),
            ("operator's rm", vec!["rm", "operator-web"]),
        ] {
            assert_missing(&bob(&args), what);
        }
        let state = d.direct_ok(&["inspect", "-f", "{{.State.Running}}", "alice-web"]);
        assert_eq!(state.trim(), "true", "alice-web was stopped");
        assert_eq!(
            d.direct_ok(&["inspect", "-f", "{{.State.Running}}", "operator-web"])
                .trim(),
            "true"
        );
        // Alice herself reaches it.
        assert_ok(&alice(&["exec", "alice-web", "true"]), "alice exec");
        assert_ok(&alice(&["logs", "alice-web"]), "alice logs");
    });

    cases.run("bob cannot use alice's volume and network", || {
        assert_missing(&bob(&["volume", "inspect", "alice-vol"]), "volume inspect");
        assert_missing(&bob(&["volume", "rm", "alice-vol"]), "volume rm");
        assert_missing(
            &bob(&["network", "inspect", "alice-net"]),
            "network inspect",
        );
        assert_missing(&bob(&["network", "rm", "alice-net"]), "network rm");
        assert_missing(
            &bob(&["network", "connect", "alice-net", "bob-web"]),
            "network connect",
        );
        for (what, extra) in [
            ("mount", ["-v", "alice-vol:/data"]),
            ("volumes-from", ["--volumes-from", "alice-web"]),
            ("network", ["--network", "alice-net"]),
            ("join", ["--network", "container:alice-web"]),
        ] {
            let name = format!("bob-{}", what.replace(' ', "-"));
            let mut args = vec!["run", "--pull", "never", "--name", name.as_str()];
            args.extend_from_slice(&extra);
            args.extend_from_slice(&[TEST_IMAGE, "true"]);
            assert_missing(&bob(&args), what);
            let left = d.direct_ok(&["ps", "-aq", "--filter", &format!("name=^/{name}$")]);
            assert!(left.trim().is_empty(), "{name} was created");
        }
        d.direct_ok(&["volume", "inspect", "alice-vol"]);
        d.direct_ok(&["network", "inspect", "alice-net"]);
    });

    cases.run(
        "the Python SDK as bob sees and touches only bob's objects",
        || {
            assert_ok(
                &alice(&["create", "--name", "alice-idle", TEST_IMAGE, "true"]),
                "alice create",
            );
            let alice_id = d.direct_ok(&["inspect", "-f", "{{.Id}}", "alice-web"]);
            let mut cmd = command_via(&proxy, &bob_dir, "python3", &["-c", SDK_AS_BOB]);
            // The SDK checks the certificate's host name: the test certificate names localhost.
            let port = proxy.addr.rsplit(':').next().unwrap().to_string();
            cmd.env("DOCKER_HOST", format!("tcp://localhost:{port}"))
                .env_remove("REQUESTS_CA_BUNDLE")
                .env_remove("CURL_CA_BUNDLE")
                .arg(alice_id.trim())
                .arg(TEST_IMAGE);
            let out = run_command(cmd, Input::Null, std::time::Duration::from_secs(120));
            assert!(
                out.status.success() && stdout_of(&out).contains("sdk-ok"),
                "SDK as bob:\n{}",
                show(&out)
            );
            // Bob's prunes left alice's stopped container and her volume alone.
            d.direct_ok(&["inspect", "alice-idle"]);
            d.direct_ok(&["volume", "inspect", "alice-vol"]);
            assert_eq!(owner_on_daemon(&d, "alice-idle"), "alice");
            d.direct_ok(&["rm", "alice-idle"]);
        },
    );

    cases.run(
        "id prefixes and exec ids of another tenant are missing",
        || {
            let id = d.direct_ok(&["inspect", "-f", "{{.Id}}", "alice-web"]);
            let id = id.trim();
            for name in [&id[..12], &id[..5], id] {
                assert_missing(&bob(&["container", "inspect", name]), name);
                assert_missing(&bob(&["logs", name]), name);
                assert_missing(&bob(&["stop", "-t", "0", name]), name);
            }
            assert_ok(
                &alice(&["container", "inspect", &id[..12]]),
                "alice by prefix",
            );
            if !require_tool("curl") {
                return;
            }
            let (code, body) = api(
                &proxy,
                &alice_dir,
                "POST",
                "/containers/alice-web/exec",
                Some(r#"{"Cmd":["true"]}"#),
            );
            assert_eq!(code, "201", "alice exec create: {body}");
            let v: serde_json::Value = serde_json::from_str(&body).expect("exec create answer");
            let exec = v["Id"].as_str().expect("exec id").to_string();
            for (method, path, body) in [
                ("GET", format!("/exec/{exec}/json"), None),
                (
                    "POST",
                    format!("/exec/{exec}/start"),
                    Some(r#"{"Detach":true}"#),
                ),
                ("POST", format!("/exec/{exec}/resize?h=20&w=80"), None),
            ] {
                let (code, answer) = api(&proxy, &bob_dir, method, &path, body);
                assert_eq!(code, "404", "bob {method} {path}: {answer}");
                assert!(
                    answer.contains(&format!("No such exec instance: {exec}")),
                    "bob {method} {path}: {answer}"
                );
            }
            // The exec never ran; alice still sees it.
            let (code, answer) = api(
                &proxy,
                &alice_dir,
                "GET",
                &format!("/exec/{exec}/json"),
                None,
            );
            assert_eq!(code, "200", "{answer}");
            assert!(answer.contains("\"Running\":false"), "{answer}");
            assert!(
                answer.contains("\"ExitCode\":null") || answer.contains("\"Pid\":0"),
                "{answer}"
            );
        },
    );

    cases.run(
        "within one tenant, references to its own objects work",
        || {
            // Across tenants they are missing (above); alice's own are fine.
            let out = alice(&[
                "run",
                "--rm",
                "--volumes-from",
                "alice-web",
                TEST_IMAGE,
                "ls",
                "/data",
            ]);
            assert_ok(&out, "alice --volumes-from her own container");
            let out = alice(&[
                "run",
                "--rm",
                "--network",
                "container:alice-web",
                TEST_IMAGE,
                "true",
            ]);
            assert_ok(&out, "alice --network container: her own container");
            // --mount type=volume of a missing volume creates it, owned.
            let out = alice(&[
                "run",
                "--rm",
                "--mount",
                "type=volume,src=alice-mounted,dst=/m",
                TEST_IMAGE,
                "true",
            ]);
            assert_ok(&out, "alice --mount type=volume of a new volume");
            let vol = d.direct_ok(&[
                "volume",
                "inspect",
                "-f",
                &format!("{{{{index .Labels \"{OWNER}\"}}}}"),
                "alice-mounted",
            ]);
            assert_eq!(vol.trim(), "alice");
            // ... while -v of a missing one stays refused (it would be nobody's).
            let out = alice(&["run", "--rm", "-v", "alice-unmade:/m", TEST_IMAGE, "true"]);
            assert!(stderr_of(&out).contains("PC-1040"), "{}", show(&out));
            assert_missing(&bob(&["volume", "inspect", "alice-mounted"]), "bob sees it");
            assert_ok(
                &alice(&["volume", "rm", "alice-mounted"]),
                "alice volume rm",
            );
        },
    );

    cases.run("a forged owner label is refused", || {
        let out = bob(&[
            "run",
            "--name",
            "bob-forged",
            "--label",
            &format!("{OWNER}=alice"),
            TEST_IMAGE,
            "true",
        ]);
        assert!(!out.status.success(), "{}", show(&out));
        assert!(stderr_of(&out).contains("PC-1040"), "{}", show(&out));
        let left = d.direct_ok(&["ps", "-aq", "--filter", "name=^/bob-forged$"]);
        assert!(left.trim().is_empty(), "bob-forged was created");
        let out = bob(&[
            "volume",
            "create",
            "--label",
            &format!("{OWNER}=alice"),
            "v",
        ]);
        assert!(stderr_of(&out).contains("PC-1040"), "{}", show(&out));
        // Naming oneself is harmless.
        let out = bob(&[
            "volume",
            "create",
            "--label",
            &format!("{OWNER}=bob"),
            "bob-vol",
        ]);
        assert_ok(&out, "bob labels his own volume");
    });

    cases.run("names in use are not handed over", || {
        // dockerd answers the create of an existing volume with that volume.
        let out = bob(&["volume", "create", "alice-vol"]);
        assert!(!out.status.success(), "{}", show(&out));
        assert!(stderr_of(&out).contains("PC-1040"), "{}", show(&out));
        let vol = d.direct_ok(&[
            "volume",
            "inspect",
            "-f",
            &format!("{{{{index .Labels \"{OWNER}\"}}}}"),
            "alice-vol",
        ]);
        assert_eq!(vol.trim(), "alice");
    });

    cases.run(
        "volume quota (max_volumes = 3) counted from the daemon",
        || {
            // alice-vol and two more: the fourth is refused; bob's count is his own.
            assert_ok(&alice(&["volume", "create", "q1"]), "q1");
            assert_ok(&alice(&["volume", "create", "q2"]), "q2");
            let out = alice(&["volume", "create", "q3"]);
            assert!(!out.status.success(), "{}", show(&out));
            assert!(stderr_of(&out).contains("PC-1043"), "{}", show(&out));
            assert!(
                !d.direct(&["volume", "inspect", "q3"]).status.success(),
                "q3 exists"
            );
            assert_ok(&bob(&["volume", "create", "bob-q"]), "bob's own quota");
            // Room again once alice removes some.
            assert_ok(&alice(&["volume", "rm", "q1", "q2"]), "alice volume rm");
            assert_ok(&alice(&["volume", "create", "q3"]), "q3 within the quota");
            assert_ok(&alice(&["volume", "rm", "q3"]), "alice volume rm q3");
        },
    );

    cases.run("a prune removes only the tenant's objects", || {
        assert_ok(&alice(&["stop", "-t", "0", "alice-web"]), "alice stop");
        d.direct_ok(&["stop", "-t", "0", "operator-web"]);
        assert_ok(&bob(&["container", "prune", "-f"]), "bob container prune");
        for name in ["alice-web", "operator-web"] {
            let left = d.direct_ok(&["ps", "-aq", "--filter", &format!("name=^/{name}$")]);
            assert!(!left.trim().is_empty(), "bob's prune removed {name}");
        }
        assert_ok(
            &alice(&["container", "prune", "-f"]),
            "alice container prune",
        );
        let left = d.direct_ok(&["ps", "-aq", "--filter", "name=^/alice-web$"]);
        assert!(left.trim().is_empty(), "alice's prune left alice-web");
    });

    cases.run("docker-compose works for a tenant and stays its own", || {
        if !require_tool("docker-compose") {
            return;
        }
        let dir = work.path().join("compose");
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("docker-compose.yml");
        fs::write(
            &file,
            format!(
                "version: \"3\"\nservices:\n  web:\n    image: {TEST_IMAGE}\n    command: sleep 300\n    volumes: [\"data:/data\"]\nvolumes:\n  data: {{}}\n"
            ),
        )
        .unwrap();
        let compose = |args: &[&str]| compose_via(&proxy, &alice_dir, &file, "tc", args);
        assert_ok(&compose(&["up", "-d"]), "alice docker-compose up -d");
        let ps = compose(&["ps"]);
        assert_ok(&ps, "alice docker-compose ps");
        assert!(stdout_of(&ps).contains("tc_web_1"), "{}", show(&ps));
        assert_eq!(owner_on_daemon(&d, "tc_web_1"), "alice");
        let out = bob(&["ps", "-a", "--format", "{{.Names}}"]);
        assert_ok(&out, "bob ps -a");
        assert!(!stdout_of(&out).contains("tc_web_1"), "{}", show(&out));
        assert_ok(&compose(&["down", "-v"]), "alice docker-compose down -v");
        let left = d.direct_ok(&["ps", "-aq", "--filter", "name=tc_web"]);
        assert!(left.trim().is_empty(), "compose down left containers");
        assert!(
            !d.direct(&["volume", "inspect", "tc_data"]).status.success(),
            "compose down -v left tc_data"
        );
    });

    let swarm = cases.run("swarm init on the daemon (operator)", || d.swarm_init());
    let secret_file = work.path().join("secret.txt");
    fs::write(&secret_file, "s3cret\n").unwrap();
    let secret_path = secret_file.to_str().expect("utf-8");
    let service = |client: &dyn Fn(&[&str]) -> std::process::Output, name: &str, extra: &[&str]| {
        let mut args = vec![
            "service",
            "create",
            "--detach",
            "--no-resolve-image",
            "--name",
            name,
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[TEST_IMAGE, "sleep", "300"]);
        client(&args)
    };
    let on_daemon = |format: &str, object: &str| {
        d.direct_ok(&["service", "inspect", "-f", format, object])
            .trim()
            .to_string()
    };

    if swarm {
        cases.run("services are each tenant's own, with secrets, networks, volumes", || {
            assert_ok(&alice(&["secret", "create", "alice-sec", secret_path]), "alice secret");
            assert_ok(
                &alice(&["network", "create", "-d", "overlay", "alice-ov"]),
                "alice overlay network",
            );
            assert_ok(&bob(&["secret", "create", "bob-sec", secret_path]), "bob secret");
            let out = service(
                &alice,
                "alice-svc",
                &[
                    "--secret",
                    "alice-sec",
                    "--network",
                    "alice-ov",
                    "--mount",
                    "type=volume,src=alice-svcvol,dst=/d",
                ],
            );
            assert_ok(&out, "alice service create");
            assert_eq!(on_daemon(&format!("{{{{index .Spec.Labels \"{OWNER}\"}}}}"), "alice-svc"), "alice");
            assert_eq!(
                on_daemon(
                    &format!("{{{{index .Spec.TaskTemplate.ContainerSpec.Labels \"{OWNER}\"}}}}"),
                    "alice-svc"
                ),
                "alice"
            );
            assert_eq!(
                on_daemon(
                    &format!("{{{{range .Spec.TaskTemplate.ContainerSpec.Mounts}}}}{{{{index .VolumeOptions.Labels \"{OWNER}\"}}}}{{{{end}}}}"),
                    "alice-svc"
                ),
                "alice",
                "the volume swarm creates for the mount is alice's"
            );
            assert_ok(&service(&bob, "bob-svc", &["--secret", "bob-sec"]), "bob service create");

            // Lists are narrowed.
            for (client, want_svc, want_sec) in [
                (&alice as &dyn Fn(&[&str]) -> std::process::Output, "alice-svc", "alice-sec"),
                (&bob, "bob-svc", "bob-sec"),
            ] {
                let out = client(&["service", "ls", "--format", "{{.Name}}"]);
                assert_ok(&out, "service ls");
                assert_eq!(lines(&stdout_of(&out)), [want_svc]);
                let out = client(&["secret", "ls", "--format", "{{.Name}}"]);
                assert_ok(&out, "secret ls");
                assert_eq!(lines(&stdout_of(&out)), [want_sec]);
            }
            let out = bob(&["network", "ls", "--format", "{{.Name}}"]);
            assert!(!stdout_of(&out).contains("alice-ov"), "{}", show(&out));

            // Bob cannot reach alice's service or secret...
            for (what, args) in [
                ("service inspect", vec!["service", "inspect", "alice-svc"]),
                (
                    "service update",
                    vec!["service", "update", "--detach", "--replicas", "2", "alice-svc"],
                ),
                ("service rm", vec!["service", "rm", "alice-svc"]),
                ("secret inspect", vec!["secret", "inspect", "alice-sec"]),
                ("secret rm", vec!["secret", "rm", "alice-sec"]),
                ("network inspect", vec!["network", "inspect", "alice-ov"]),
            ] {
                assert_missing(&bob(&args), what);
            }
            // ... nor use her secret, network or volume in his own service.
            for (what, extra) in [
                ("secret", ["--secret", "alice-sec"]),
                ("network", ["--network", "alice-ov"]),
                ("volume", ["--mount", "type=volume,src=alice-vol,dst=/d"]),
            ] {
                let name = format!("bob-uses-{what}");
                assert_missing(&service(&bob, &name, &extra), what);
                let left = d.direct_ok(&["service", "ls", "-q", "--filter", &format!("name={name}")]);
                assert!(left.trim().is_empty(), "{name} was created");
            }
            // Alice's objects are unchanged.
            assert_eq!(on_daemon("{{.Spec.Mode.Replicated.Replicas}}", "alice-svc"), "1");
            d.direct_ok(&["secret", "inspect", "alice-sec"]);
            d.direct_ok(&["network", "inspect", "alice-ov"]);
            assert_ok(&alice(&["service", "rm", "alice-svc"]), "alice service rm");
        });
    }

    // Memory, CPU and service quotas, for a third tenant through a second proxy.
    let carol_dir = certs.add_client("carol");
    let quota_policy = work.path().join("quota.toml");
    fs::write(
        &quota_policy,
        "name = \"quota\"\n[tenants]\nmax_services = 2\nmax_containers = 3\nmax_memory = \"256m\"\nmax_cpus = 1\n",
    )
    .unwrap();
    let quota_proxy = Proxy::start(d.socket(), &certs, Some(&quota_policy), &[]);
    let carol = |args: &[&str]| docker_via(&quota_proxy, &carol_dir, args, None);
    cases.run(
        "memory and CPU quotas (max_memory = 256m, max_cpus = 1)",
        || {
            let out = carol(&[
                "create", "--name", "carol-1", "--memory", "128m", "--cpus", "0.5", TEST_IMAGE,
                "true",
            ]);
            assert_ok(&out, "carol create within the quota");
            let limits = d.direct_ok(&[
                "inspect",
                "-f",
                "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}",
                "carol-1",
            ]);
            assert_eq!(limits.trim(), "134217728 500000000");
            let out = carol(&["create", "--name", "carol-unlimited", TEST_IMAGE, "true"]);
            assert_quota(
                &out,
                "the tenant's memory quota is 256MiB: set a memory limit",
            );
            assert_quota(&out, "the tenant's CPU quota is 1 CPU: set a CPU limit");
            let out = carol(&[
                "create", "--name", "carol-2", "--memory", "192m", "--cpus", "0.25", TEST_IMAGE,
                "true",
            ]);
            assert_quota(
                &out,
                "the tenant's memory quota is 256MiB, it uses 128MiB and asks for 192MiB more",
            );
            // A container cannot pass itself off as a swarm task (left out of the usage).
            let out = carol(&[
                "create",
                "--name",
                "carol-task",
                "--memory",
                "32m",
                "--cpus",
                "0.1",
                "--label",
                "com.docker.swarm.service.id=x",
                TEST_IMAGE,
                "true",
            ]);
            assert!(!out.status.success(), "{}", show(&out));
            assert!(stderr_of(&out).contains("PC-1040"), "{}", show(&out));
            for name in ["carol-unlimited", "carol-2", "carol-task"] {
                let left = d.direct_ok(&["ps", "-aq", "--filter", &format!("name=^/{name}$")]);
                assert!(left.trim().is_empty(), "{name} was created");
            }
            // docker update is counted without the container's old limits.
            let out = carol(&["update", "--cpus", "1.5", "carol-1"]);
            assert_quota(
                &out,
                "the tenant's CPU quota is 1 CPU, it uses 0 CPUs and asks for 1.5 CPUs more",
            );
            assert_ok(
                &carol(&["update", "--cpus", "1", "carol-1"]),
                "carol update to the quota",
            );
            assert_ok(
                &carol(&["update", "--cpus", "0.5", "carol-1"]),
                "carol update back",
            );
            let cpus = d.direct_ok(&["inspect", "-f", "{{.HostConfig.NanoCpus}}", "carol-1"]);
            assert_eq!(cpus.trim(), "500000000");
        },
    );

    if swarm {
        cases.run(
            "service quotas (max_services = 2, max_containers = 3, limits times replicas)",
            || {
                for name in ["carol-s1", "carol-s2"] {
                    let out = service(
                        &carol,
                        name,
                        &["--limit-memory", "64m", "--limit-cpu", "0.25"],
                    );
                    assert_ok(&out, name);
                }
                let out = service(
                    &carol,
                    "carol-s3",
                    &["--limit-memory", "1m", "--limit-cpu", "0.01"],
                );
                assert_quota(&out, "the tenant \"carol\" has 2 services, its quota is 2");
                let out = service(&carol, "carol-s3", &[]);
                assert_quota(&out, "set a memory limit");
                // carol-1 (128m) + carol-s2 (64m) + 3 x 64m > 256m.
                let out = carol(&["service", "scale", "--detach", "carol-s1=3"]);
                assert_quota(
                    &out,
                    "the tenant's memory quota is 256MiB, it uses 192MiB and asks for 192MiB more",
                );
                // carol-1 and one replica of each service (3), and 2 more replicas. (The
                // count is not pinned: a task's container that swarm has not reported in
                // the task's status yet counts once more for a moment, the unit tests
                // pin it.)
                assert_quota(&out, "containers, its quota is 3 and asks for 2 more");
                assert_eq!(
                    on_daemon("{{.Spec.Mode.Replicated.Replicas}}", "carol-s1"),
                    "1"
                );
                let out = service(&bob, "bob-global", &["--mode", "global"]);
                assert_ok(&out, "without a memory quota a global service is fine");
            },
        );
    }

    if swarm {
        let _ = d.direct(&["swarm", "leave", "--force"]);
    }
    // Images (issue #17 point 8) and per-tenant metrics (point 10): names are guarded on
    // this proxy; a second one confines names to the tenant's prefix and serves /metrics.
    let image_id = |name: &str| d.direct_ok(&["image", "inspect", "-f", "{{.Id}}", name]);
    let refused = |out: &std::process::Output, rule: &str, what: &str| {
        assert!(
            !out.status.success(),
            "{what}: expected {rule}\n{}",
            show(out)
        );
        assert!(
            stderr_of(out).contains(rule),
            "{what}: expected {rule}\n{}",
            show(out)
        );
    };
    cases.run(
        "image names another tenant or the operator holds are guarded",
        || {
            let operator_image = image_id(TEST_IMAGE);
            // The operator's image: not retagged over, removed, or pushed by a tenant.
            assert_ok(
                &bob(&["tag", TEST_IMAGE, "bob-evil:1"]),
                "bob tag to a new name",
            );
            refused(
                &bob(&["tag", "bob-evil:1", TEST_IMAGE]),
                "PC-1045",
                "bob tag over the operator's name",
            );
            refused(
                &bob(&["rmi", "-f", TEST_IMAGE]),
                "PC-1045",
                "bob rmi -f the operator's image",
            );
            refused(
                &bob(&["push", "bob-evil:1"]),
                "PC-1045",
                "bob push the operator's content",
            );
            refused(
                &bob(&["commit", "bob-web", TEST_IMAGE]),
                "PC-1045",
                "bob commit over the operator's name",
            );
            assert_eq!(
                image_id(TEST_IMAGE),
                operator_image,
                "the operator's image moved"
            );
            // What bob commits or imports is his: alice cannot take its name or remove it.
            // A $variable in a LABEL change would expand from the container's env.
            refused(
                &bob(&[
                    "commit",
                    "--change",
                    "LABEL io.portcullis.$X=alice",
                    "bob-web",
                    "bob-var:1",
                ]),
                "PC-1040",
                "bob commit with a $variable label",
            );
            assert_ok(&bob(&["commit", "bob-web", "bob-img:1"]), "bob commit");
            assert_eq!(owner_on_daemon(&d, "bob-img:1"), "bob");
            let tar = work.path().join("rootfs.tar");
            d.direct_ok(&["export", "-o", tar.to_str().unwrap(), "operator-web"]);
            assert_ok(
                &bob(&["import", tar.to_str().unwrap(), "bob-imp:1"]),
                "bob import",
            );
            assert_eq!(owner_on_daemon(&d, "bob-imp:1"), "bob");
            refused(
                &alice(&["rmi", "bob-img:1"]),
                "PC-1045",
                "alice rmi bob's image",
            );
            refused(
                &alice(&["tag", TEST_IMAGE, "bob-imp:1"]),
                "PC-1045",
                "alice tag over bob's name",
            );
            assert_eq!(owner_on_daemon(&d, "bob-imp:1"), "bob");
            // A load could carry any name. (The refused archive is read first, so that
            // the CLI, which reads the answer once it has sent the body, shows it.)
            let archive = work.path().join("saved.tar");
            d.direct_ok(&["save", "-o", archive.to_str().unwrap(), TEST_IMAGE]);
            refused(
                &bob(&["load", "-i", archive.to_str().unwrap()]),
                "PC-1047",
                "bob load",
            );
            // Nor is bob's image removed from under alice's container.
            assert_ok(
                &alice(&["create", "--name", "alice-uses-bob", "bob-img:1", "true"]),
                "alice create from bob's image",
            );
            let out = bob(&["rmi", "-f", "bob-img:1"]);
            refused(
                &out,
                "PC-1045",
                "bob rmi -f his image alice's container uses",
            );
            assert!(
                stderr_of(&out).contains("used by containers"),
                "{}",
                show(&out)
            );
            assert_ok(&alice(&["rm", "alice-uses-bob"]), "alice rm");
            assert_ok(&bob(&["rmi", "bob-img:1", "bob-imp:1"]), "bob rmi his own");
            // Without image_prefix a name is the tenant's only through its content: bob's
            // tag of the operator's image stays until the operator removes it.
            refused(
                &bob(&["rmi", "bob-evil:1"]),
                "PC-1045",
                "bob rmi his tag of the operator's image",
            );
            d.direct_ok(&["rmi", "bob-evil:1"]);
        },
    );

    let prefix_policy = work.path().join("prefix.toml");
    fs::write(
        &prefix_policy,
        "name = \"prefixed\"\n[tenants]\nimage_prefix = \"{tenant}/\"\n",
    )
    .unwrap();
    let prefixed = Proxy::start(
        d.socket(),
        &certs,
        Some(&prefix_policy),
        &["--admin-listen", "tcp://127.0.0.1:0"],
    );
    cases.run(
        "image_prefix confines each tenant's names to its own",
        || {
            let alice = |args: &[&str]| docker_via(&prefixed, &alice_dir, args, None);
            let bob = |args: &[&str]| docker_via(&prefixed, &bob_dir, args, None);
            assert_ok(
                &alice(&["tag", TEST_IMAGE, "alice/base:1"]),
                "alice tag under her prefix",
            );
            refused(
                &alice(&["tag", TEST_IMAGE, "base:1"]),
                "PC-1046",
                "alice tag outside her prefix",
            );
            refused(
                &bob(&["tag", TEST_IMAGE, "alice/base:2"]),
                "PC-1046",
                "bob tag under alice's prefix",
            );
            refused(
                &bob(&["rmi", "alice/base:1"]),
                "PC-1045",
                "bob rmi alice's name",
            );
            // Nor plant a name under her prefix by pulling it.
            refused(
                &bob(&["pull", "alice/tool:1"]),
                "PC-1046",
                "bob pull under alice's prefix",
            );
            // Her name, but the operator's content: not pushed anywhere.
            refused(
                &alice(&["push", "alice/base:1"]),
                "PC-1045",
                "alice push the operator's content",
            );
            assert_ok(&alice(&["rmi", "alice/base:1"]), "alice rmi her name");
            assert!(!image_id(TEST_IMAGE).trim().is_empty());
        },
    );

    cases.run("per-tenant request and denial counters", || {
        let admin = prefixed
            .admin()
            .expect("the prefixed proxy has an admin listener");
        // The record (and its counters) is written as the response ends.
        let mut text = admin_get(&admin, "/metrics");
        for _ in 0..50 {
            if text.contains("portcullis_tenant_denials_total{tenant=\"bob\"} 2") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            text = admin_get(&admin, "/metrics");
        }
        for series in [
            "portcullis_tenant_requests_total{tenant=\"alice\"}",
            "portcullis_tenant_denials_total{tenant=\"alice\"}",
            "portcullis_tenant_requests_total{tenant=\"bob\"}",
            "portcullis_tenant_denials_total{tenant=\"bob\"}",
        ] {
            let value: f64 = text
                .lines()
                .find_map(|l| l.strip_prefix(series))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {series} in\n{text}"));
            assert!(value >= 1.0, "{series} = {value}\n{text}");
        }
        assert!(!text.contains("tenant=\"_other\""), "{text}");
    });

    d.remove_all_containers();
    cases.finish();
}

/// `GET path` on an admin listener: the body of a 200 answer.
fn admin_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
    body.to_string()
}
