//! The `portcullis` command: parses the command line and dispatches to the subcommand's
//! module in [`portcullis::cli`].
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use portcullis::cli::{certs, env, policy, rules, serve};

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "A Docker Engine API policy proxy: mutual TLS in, every request checked, streaming out."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the proxy. With no flags: dev certificates under the data dir (created on
    /// first run), tcp://127.0.0.1:2376, the local daemon socket, the built-in default policy.
    Serve(Box<serve::ServeArgs>),
    /// Check and explain policies.
    #[command(subcommand)]
    Policy(policy::PolicyCmd),
    /// Create certificates (a CA, a server certificate, client bundles).
    #[command(subcommand)]
    Certs(certs::CertsCmd),
    /// Print the environment that points the docker CLI at Portcullis for a client.
    Env(env::EnvArgs),
    /// Print the rule catalogue (Markdown table).
    Rules,
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Serve(args) => serve::run(*args),
        Cmd::Policy(cmd) => policy::run(cmd),
        Cmd::Certs(cmd) => certs::run(cmd),
        Cmd::Env(args) => env::run(args),
        Cmd::Rules => rules::run(),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
