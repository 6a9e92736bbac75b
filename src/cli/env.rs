//! `portcullis env NAME`: the environment that points the docker CLI at Portcullis with
//! a client bundle (`DOCKER_HOST`, `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::{certs_dir, fail};
use crate::certs;

/// Where clients reach Portcullis unless told otherwise.
pub const DEFAULT_HOST: &str = "tcp://localhost:2376";

#[derive(Args)]
pub struct EnvArgs {
    /// Client name (its bundle is DIR/clients/NAME).
    name: String,
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Address of Portcullis as clients reach it [default: tcp://localhost:2376].
    #[arg(long)]
    host: Option<String>,
    /// Shell syntax: sh, fish or powershell.
    #[arg(long, default_value = "sh")]
    shell: String,
}

pub fn run(args: EnvArgs) -> ExitCode {
    let cert_path = certs::client_dir(&certs_dir(args.dir), &args.name);
    if !cert_path.join("cert.pem").exists() {
        return fail(&format!(
            "no client bundle at {} (run: portcullis certs client {})",
            cert_path.display(),
            args.name
        ));
    }
    let host = args.host.unwrap_or_else(|| DEFAULT_HOST.into());
    print!("{}", env_lines(&args.shell, &host, &cert_path));
    ExitCode::SUCCESS
}

/// The lines that set the docker CLI's environment in `shell` (sh for any other name).
pub fn env_lines(shell: &str, host: &str, cert_path: &Path) -> String {
    let p = cert_path.display();
    match shell {
        "fish" => format!("set -gx DOCKER_HOST {host};\nset -gx DOCKER_TLS_VERIFY 1;\nset -gx DOCKER_CERT_PATH {p};\n"),
        "powershell" => format!("$Env:DOCKER_HOST = \"{host}\"\n$Env:DOCKER_TLS_VERIFY = \"1\"\n$Env:DOCKER_CERT_PATH = \"{p}\"\n"),
        _ => format!("export DOCKER_HOST={host}\nexport DOCKER_TLS_VERIFY=1\nexport DOCKER_CERT_PATH={p}\n"),
    }
}
