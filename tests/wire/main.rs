//! The wire-level suites, one binary: raw HTTP/1.x and TLS against Portcullis in front
//! of a scripted fake daemon (no dockerd needed).
//!
//! * `transparency`: pipelining, re-serialised bodies, upgrades and half-close,
//!   an upstream dying mid-stream, graceful shutdown;
//! * `abuse`: malformed, ambiguous and hostile HTTP/1.x;
//! * `identity`: mutual TLS against the real `portcullis serve` binary;
//! * `listeners`: per-listener policies and unix peer credentials (no TLS);
//! * `parity`: the served path and the pure path (`policy explain`) decide alike.

#[path = "../common/mod.rs"]
pub mod common;

mod abuse;
mod identity;
mod listeners;
mod parity;
mod transparency;
