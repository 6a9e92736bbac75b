//! The real clients through the proxy: the docker CLI and docker-compose with mutual
//! TLS as a chosen identity, in an environment cleaned of anything that could send
//! them elsewhere, always under a time limit.

use std::path::Path;
use std::process::{Command, Output};

use super::command::{find_program, in_ci, run_command, Input, COMMAND_TIMEOUT};
use super::processes::Proxy;

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

/// Remove [`LEAKY_ENV`] from `cmd`'s environment and turn off the CLI's hints.
pub fn clean_env(cmd: &mut Command) {
    for var in LEAKY_ENV {
        cmd.env_remove(var);
    }
    cmd.env("DOCKER_CLI_HINTS", "false");
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
