//! The subcommands of the `portcullis` command, one module each; `main.rs` parses the
//! command line and dispatches here.

pub mod certs;
pub mod env;
pub mod policy;
mod reload;
pub mod rules;
pub mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::default_data_dir;

/// Print `portcullis: MSG` to standard error; exit status 1.
pub fn fail(msg: &str) -> ExitCode {
    eprintln!("portcullis: {msg}");
    ExitCode::FAILURE
}

/// The certificate directory: `dir`, or the data directory's `certs`.
fn certs_dir(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| default_data_dir().join("certs"))
}
