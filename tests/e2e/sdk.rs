//! End-to-end: the Docker SDK for Python (PyPI `docker`), the third kind of client
//! tenants use, through `portcullis serve` with mutual TLS to a private dockerd under
//! the default policy. A normal SDK workflow must work unchanged; host access must be
//! refused with the rule id in the SDK's `APIError`, and leave nothing on the daemon.
//! Skipped loudly when dockerd or the SDK is missing (a failure under `CI=true`).

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::common::certs::TestCerts;
use crate::common::command::{run_command, show, stdout_of, tail_lines, Input};
use crate::common::daemon::{require_daemon, DockerDaemon, TEST_IMAGE};
use crate::common::processes::Proxy;

/// The workflow, in the SDK's own terms. Each step prints `ok <name>` or raises.
const SCRIPT: &str = r#"
import io, sys, tarfile, docker
from docker.errors import APIError

host, certs, image = sys.argv[1], sys.argv[2], sys.argv[3]
tls = docker.tls.TLSConfig(client_cert=(certs + "/cert.pem", certs + "/key.pem"),
                           ca_cert=certs + "/ca.pem", verify=True)
c = docker.DockerClient(base_url=host, tls=tls, version="auto", timeout=60)

def ok(name):
    print("ok", name, flush=True)

assert c.ping(); ok("ping")
assert c.version()["ApiVersion"]; ok("version")
assert any(image in (i.tags or []) for i in c.images.list()); ok("images.list")

net = c.networks.create("sdk-net", driver="bridge", labels={"t": "sdk"}); ok("networks.create")
vol = c.volumes.create("sdk-vol", labels={"t": "sdk"}); ok("volumes.create")
box = c.containers.run(image, ["sleep", "300"], detach=True, name="sdk-box",
                       network="sdk-net", volumes={"sdk-vol": {"bind": "/data", "mode": "rw"}},
                       environment={"GREETING": "hello"}, labels={"t": "sdk"},
                       tmpfs={"/scratch": "size=1m"}, cap_drop=None, read_only=False,
                       mem_limit="64m", restart_policy={"Name": "no"})
ok("containers.run(network, volume, env, tmpfs)")
code, out = box.exec_run(["sh", "-c", "echo $GREETING > /data/f && cat /data/f"])
assert code == 0 and out == b"hello\n", (code, out); ok("exec_run")
code, out = box.exec_run(["sh", "-c", "cat >/dev/null; echo in"], stdin=False, environment={"X": "1"})
assert code == 0, (code, out); ok("exec_run(environment)")

buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    data = b"x" * 100000
    info = tarfile.TarInfo("blob"); info.size = len(data)
    t.addfile(info, io.BytesIO(data))
assert box.put_archive("/data", buf.getvalue()); ok("put_archive")
stream, stat = box.get_archive("/data/blob")
assert stat["size"] == 100000, stat
raw = b"".join(stream)
assert len(raw) >= 100000; ok("get_archive")

once = c.containers.run(image, ["sh", "-c", "echo out; echo err >&2"], remove=False,
                        name="sdk-once", stdout=True, stderr=True)
assert b"out" in once, once; ok("containers.run(attached output)")
assert b"out" in c.containers.get("sdk-once").logs(); ok("logs")
box.reload(); assert box.status == "running"; ok("reload")
box.update(mem_limit="96m", memswap_limit="-1"); ok("update")
box.stop(timeout=1); box.remove(); c.containers.get("sdk-once").remove(); ok("stop/remove")
vol.remove(); net.remove(); ok("volume/network remove")

denied = [
    ("privileged", dict(privileged=True), "PC-1001"),
    ("network_mode=host", dict(network_mode="host"), "PC-1008"),
    ("host bind", dict(volumes={"/": {"bind": "/host", "mode": "ro"}}), "PC-1004"),
    ("cap_add", dict(cap_add=["SYS_ADMIN"]), "PC-1002"),
]
for what, kwargs, rule in denied:
    try:
        c.containers.create(image, ["true"], name="sdk-denied", **kwargs)
    except APIError as e:
        assert e.status_code == 403, (what, e.status_code, str(e))
        assert rule in str(e.explanation), (what, rule, e.explanation)
        print("denied", what, rule, "::", e.explanation, flush=True)
    else:
        raise SystemExit("NOT DENIED: " + what)
print("done", flush=True)
"#;

fn python_with_sdk() -> Option<String> {
    for py in ["python3", "/usr/bin/python3"] {
        let out = std::process::Command::new(py)
            .args(["-c", "import docker"])
            .output();
        if matches!(out, Ok(ref o) if o.status.success()) {
            return Some(py.to_string());
        }
    }
    None
}

#[test]
fn python_sdk_through_portcullis() {
    if !require_daemon() {
        return;
    }
    let Some(python) = python_with_sdk() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the Docker SDK for Python is not importable (pip install docker), and CI=true forbids skipping");
        }
        eprintln!("!!! SKIPPED: the Docker SDK for Python is not installed (pip install docker)");
        return;
    };
    let daemon = DockerDaemon::start();
    let tmp = tempfile::Builder::new()
        .prefix("sdk")
        .tempdir_in("/tmp")
        .unwrap();
    let certs = TestCerts::generate(&tmp.path().join("certs"), "sdk-tenant");
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.toml");
    let proxy = Proxy::start(
        daemon.socket(),
        &certs,
        Some(&policy),
        &["--admin-listen", "tcp://127.0.0.1:0"],
    );
    let script = tmp.path().join("workflow.py");
    fs::write(&script, SCRIPT).unwrap();
    let cmd = sdk_command(&python, &script, &proxy, &certs);
    let out = run_command(cmd, Input::Null, Duration::from_secs(300));
    println!("{}", stdout_of(&out));
    assert!(
        out.status.success() && stdout_of(&out).contains("\ndone"),
        "SDK workflow through portcullis failed:\n{}",
        show(&out)
    );
    for step in [
        "ok exec_run",
        "ok put_archive",
        "ok get_archive",
        "ok containers.run(network, volume, env, tmpfs)",
        "denied privileged PC-1001",
        "denied network_mode=host PC-1008",
    ] {
        assert!(stdout_of(&out).contains(step), "missing step {step:?}");
    }
    // The denied creates left nothing behind.
    let left = daemon.direct_ok(&["ps", "-a", "--filter", "name=sdk-denied", "-q"]);
    assert!(left.trim().is_empty(), "a denied container exists: {left}");
}

/// Requests real SDK calls send in spellings and shapes Portcullis once refused
/// (issue 15): `exec_create(detach_keys=…)` sends `detachKeys`;
/// `create_container(runtime=…)` sends a top-level `Runtime` beside `HostConfig`
/// (dockerd ignores it there); a top-level `Privileged` with no inner HostConfig is
/// still the HostConfig, and still denied.
const COMPAT_SCRIPT: &str = r#"
import sys, docker
from docker.errors import APIError

host, certs, image = sys.argv[1], sys.argv[2], sys.argv[3]
tls = docker.tls.TLSConfig(client_cert=(certs + "/cert.pem", certs + "/key.pem"),
                           ca_cert=certs + "/ca.pem", verify=True)
api = docker.APIClient(base_url=host, tls=tls, version="auto", timeout=60)

def ok(name):
    print("ok", name, flush=True)

box = api.create_container(image, ["sleep", "300"], name="compat-box",
                           host_config=api.create_host_config(), runtime="runc")
api.start(box)
assert api.inspect_container(box)["HostConfig"]["Runtime"] == "runc"
ok("create_container(runtime)")
ex = api.exec_create(box, ["true"], detach_keys="ctrl-x,x")
assert api.exec_inspect(ex)["ID"]; ok("exec_create(detach_keys)")
out = api.exec_start(ex)
ok("exec_start")
# The SDK's low-level request, as older SDKs sent it: HostConfig fields at the top.
res = api._post_json(api._url("/containers/create"), data={"Image": image, "Privileged": True})
print("top-level Privileged:", res.status_code, res.text.strip(), flush=True)
assert res.status_code == 403 and "PC-1001" in res.text
ok("top-level Privileged denied")
api.remove_container(box, force=True)
print("done", flush=True)
"#;

/// `build(gzip=True)` sends the context with `Content-Encoding: gzip`, which the
/// daemon decodes; the proxy must stream it as it is (needs the proxy change for
/// Content-Encoding on streamed routes).
const BUILD_GZIP_SCRIPT: &str = r#"
import os, sys, tempfile, docker

host, certs, image = sys.argv[1], sys.argv[2], sys.argv[3]
tls = docker.tls.TLSConfig(client_cert=(certs + "/cert.pem", certs + "/key.pem"),
                           ca_cert=certs + "/ca.pem", verify=True)
api = docker.APIClient(base_url=host, tls=tls, version="auto", timeout=120)
# Only a context built from a path is gzipped (and sent with Content-Encoding: gzip).
ctx = tempfile.mkdtemp()
with open(os.path.join(ctx, "Dockerfile"), "w") as f:
    f.write("FROM " + image + "\nADD . /ctx\n")
for line in api.build(path=ctx, tag="compat-gzip:latest", gzip=True, rm=True, decode=True):
    if "error" in line:
        raise SystemExit("build error: " + line["error"])
assert api.inspect_image("compat-gzip:latest")["Id"]
print("ok build(gzip)", flush=True)
print("done", flush=True)
"#;

/// Run `script` with the SDK through a default-policy proxy; its stdout on success.
fn run_sdk_script(script_text: &str, name: &str) -> Option<String> {
    if !require_daemon() {
        return None;
    }
    let Some(python) = python_with_sdk() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the Docker SDK for Python is not importable (pip install docker), and CI=true forbids skipping");
        }
        eprintln!("!!! SKIPPED: the Docker SDK for Python is not installed (pip install docker)");
        return None;
    };
    let daemon = DockerDaemon::start();
    let tmp = tempfile::Builder::new()
        .prefix("sdk")
        .tempdir_in("/tmp")
        .unwrap();
    let certs = TestCerts::generate(&tmp.path().join("certs"), "sdk-tenant");
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.toml");
    let proxy = Proxy::start(daemon.socket(), &certs, Some(&policy), &[]);
    let script = tmp.path().join(format!("{name}.py"));
    fs::write(&script, script_text).unwrap();
    let cmd = sdk_command(&python, &script, &proxy, &certs);
    let out = run_command(cmd, Input::Null, Duration::from_secs(300));
    assert!(
        out.status.success() && stdout_of(&out).contains("\ndone"),
        "SDK script {name} through portcullis failed:\n{}\nproxy log:\n{}",
        show(&out),
        tail_lines(&proxy.log(), 20)
    );
    Some(stdout_of(&out))
}

#[test]
fn python_sdk_compat_spellings_through_portcullis() {
    let Some(out) = run_sdk_script(COMPAT_SCRIPT, "compat") else {
        return;
    };
    for step in [
        "ok create_container(runtime)",
        "ok exec_create(detach_keys)",
        "ok top-level Privileged denied",
    ] {
        assert!(out.contains(step), "missing step {step:?}:\n{out}");
    }
}

#[test]
fn python_sdk_build_gzip_through_portcullis() {
    let Some(out) = run_sdk_script(BUILD_GZIP_SCRIPT, "build_gzip") else {
        return;
    };
    assert!(out.contains("ok build(gzip)"), "{out}");
}

/// `python SCRIPT DOCKER_HOST CERT_DIR IMAGE` for the SDK through `proxy`, with the
/// variables that would redirect its TLS or host cleared: `requests` lets
/// `REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE` override the SDK's own CA (psf/requests#3829),
/// and a tenant's shell would not have them pointing elsewhere.
fn sdk_command(
    python: &str,
    script: &Path,
    proxy: &Proxy,
    certs: &TestCerts,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(python);
    for var in [
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "DOCKER_HOST",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
    ] {
        cmd.env_remove(var);
    }
    cmd.arg(script)
        .arg(format!(
            "tcp://localhost:{}",
            proxy.addr.rsplit(':').next().unwrap()
        ))
        .arg(&certs.client_dir)
        .arg(TEST_IMAGE);
    cmd
}
