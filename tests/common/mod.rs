//! Helpers shared by the test binaries (`tests/wire`, `tests/e2e`): each binary
//! compiles this module once, as `pub mod common`, so helpers one binary does not use
//! are not dead code there.
//!
//! * [`wire`]: the wire-level HTTP/1.1 client and parser;
//! * [`fake_daemon`]: the scripted fake Docker daemon and its record;
//! * [`inproc`]: Portcullis in-process in front of a fake daemon's socket;
//! * [`support`]: the real parts of the end-to-end suites.

pub mod fake_daemon;
pub mod inproc;
pub mod support;
pub mod wire;
