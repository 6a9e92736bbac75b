//! `portcullis certs init|client`: a CA and server certificate, and client bundles.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::{certs_dir, fail};
use crate::certs;

#[derive(Subcommand)]
pub enum CertsCmd {
    /// Create a CA and a server certificate in DIR.
    Init {
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Host names and IPs for the server certificate (repeatable) [default: localhost, 127.0.0.1, this host's name].
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Issue a client bundle (ca.pem, cert.pem, key.pem) whose CN is NAME.
    Client {
        name: String,
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Organisation (O) of the client certificate.
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        force: bool,
    },
}

pub fn run(cmd: CertsCmd) -> ExitCode {
    match cmd {
        CertsCmd::Init { dir, hosts, force } => {
            let dir = certs_dir(dir);
            let hosts = if hosts.is_empty() {
                certs::default_hosts()
            } else {
                hosts
            };
            match certs::init(&dir, &hosts, force) {
                Ok(()) => {
                    println!(
                        "CA and server certificate for {} written to {}",
                        hosts.join(", "),
                        dir.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e.to_string()),
            }
        }
        CertsCmd::Client {
            name,
            dir,
            org,
            force,
        } => match certs::client(&certs_dir(dir), &name, org.as_deref(), force) {
            Ok(out) => {
                println!("client bundle for {name} written to {}", out.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e.to_string()),
        },
    }
}
