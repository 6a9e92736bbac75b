//! The end-to-end suites, one binary: the real docker CLI, docker-compose and the
//! Docker SDK for Python through the real `portcullis serve` binary to a private
//! dockerd each suite starts itself.
//!
//! The suites are threads of this one process, but they run one at a time: a private
//! dockerd holds a process-wide lock while it lives (see `common::daemon`), as the
//! daemons would otherwise share the default bridge, iptables chains and the two
//! cores. The printed names are `MODULE::TEST` (`cli::docker_cli_through_portcullis`);
//! `.ci/run` checks that each of them ran.

#[path = "../common/mod.rs"]
pub mod common;

mod cli;
mod ops;
mod podman;
mod policy;
mod profiles;
mod scale;
mod sdk;
mod soak;
mod tenants;
