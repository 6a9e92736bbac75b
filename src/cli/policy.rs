//! `portcullis policy check|explain`: validate policy files, and show how one request
//! is classified and decided by the same pure pipeline the proxy runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use super::fail;
use crate::policy::pipeline::{self, Outcome};
use crate::policy::{Decision, Facts, PolicyError, PolicySet};
use crate::tls::Identity;

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Validate policy files or directories; every error is printed; exit 1 on any.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show how a request is classified and decided (daemon facts are taken as absent).
    Explain {
        /// Policy file or directory [default: built-in default policy].
        #[arg(long)]
        policy: Vec<PathBuf>,
        /// Client certificate CN to decide for.
        #[arg(long)]
        identity: Option<String>,
        /// File holding the JSON request body.
        #[arg(long)]
        body: Option<PathBuf>,
        method: String,
        /// Request target, e.g. /v1.41/containers/create?name=x
        path: String,
    },
}

pub fn run(cmd: PolicyCmd) -> ExitCode {
    match cmd {
        PolicyCmd::Check { files } => check(&files),
        PolicyCmd::Explain {
            policy,
            identity,
            body,
            method,
            path,
        } => explain(&policy, identity, body.as_deref(), &method, &path),
    }
}

/// The policies in `paths`, or the built-in default policy when there are none.
pub fn load(paths: &[PathBuf]) -> Result<PolicySet, Vec<PolicyError>> {
    if paths.is_empty() {
        Ok(PolicySet::builtin())
    } else {
        PolicySet::load(paths)
    }
}

fn check(files: &[PathBuf]) -> ExitCode {
    match PolicySet::load(files) {
        Ok(set) => {
            for p in &set.policies {
                println!(
                    "ok: {} ({}, mode {})",
                    p.name,
                    p.source.display(),
                    p.mode_name()
                );
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!("{} error(s)", errors.len());
            ExitCode::FAILURE
        }
    }
}

fn explain(
    paths: &[PathBuf],
    identity: Option<String>,
    body: Option<&Path>,
    method: &str,
    target: &str,
) -> ExitCode {
    let set = match load(paths) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            return ExitCode::FAILURE;
        }
    };
    let certified = identity.is_some();
    let id = Identity {
        common_name: identity,
        ..Identity::transport("mtls")
    };
    let body = match body.map(std::fs::read).transpose() {
        Ok(b) => b,
        Err(e) => return fail(&format!("reading the body: {e}")),
    };
    let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
        return fail("invalid method");
    };
    let policy = set.for_identity(&id);
    println!("tenancy: {}", policy.tenancy.describe());
    match policy.tenancy.tenant_of(&id) {
        Ok(Some(t)) if certified => println!("tenant: {t}"),
        Ok(Some(t)) => println!("tenant: {t} (no --identity: a client without a certificate)"),
        Ok(None) => {}
        Err(e) => println!("tenant: none ({e})"),
    }
    let outcome = pipeline::check(
        &set,
        &id,
        &method,
        target,
        body.as_deref(),
        &Facts::default(),
    );
    print_outcome(outcome)
}

/// Print what the pipeline decided; exit 0 for allow, 2 for deny or refusal.
fn print_outcome(outcome: Outcome<'_>) -> ExitCode {
    match outcome {
        Outcome::Refused(why) => {
            println!("decision: refused (400): {why}");
            ExitCode::from(2)
        }
        Outcome::Decided {
            op,
            policy,
            decision,
            lookups,
            upstream,
            ..
        } => {
            println!(
                "operation: {} (group {}), target: {}",
                op.kind.name(),
                op.kind.group().as_str(),
                op.target.as_deref().unwrap_or("-")
            );
            println!("policy: {policy}");
            if !lookups.is_empty() {
                println!(
                    "daemon facts the proxy would look up (taken as absent here): {lookups:?}"
                );
            }
            let hidden = pipeline::hidden(&decision).is_some();
            let (label, violations, code) = match decision {
                Decision::Deny(v) if hidden => (
                    "hidden (404, answered as a missing object)",
                    v,
                    ExitCode::from(2),
                ),
                Decision::Allow(v) if v.is_empty() => ("allow", v, ExitCode::SUCCESS),
                Decision::Allow(v) => ("allow (audit mode: would deny)", v, ExitCode::SUCCESS),
                Decision::Deny(v) => ("deny (403)", v, ExitCode::from(2)),
            };
            println!("decision: {label}");
            for v in violations {
                println!("  {}: {}", v.rule, v.message);
            }
            if code == ExitCode::SUCCESS {
                println!("forwarded: {upstream}");
            }
            code
        }
    }
}
