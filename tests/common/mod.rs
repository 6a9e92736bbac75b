//! Helpers shared by the test binaries (`tests/wire`, `tests/e2e`): each binary
//! compiles this module once, as `pub mod common`, so helpers one binary does not use
//! are not dead code there.
//!
//! Raw-socket suites:
//! * [`wire`]: the wire-level HTTP/1.1 client and parser;
//! * [`fake_daemon`]: the scripted fake Docker daemon and its record;
//! * [`inproc`]: Portcullis in-process in front of a fake daemon's socket.
//!
//! Real parts (end-to-end suites; nothing here fakes the daemon or the clients):
//! * [`daemon`]: a private dockerd;
//! * [`certs`]: throw-away certificates;
//! * [`processes`]: the real `portcullis serve` binary;
//! * [`clients`]: the docker CLI and docker-compose through it;
//! * [`command`]: running programs under a time limit; [`cases`]: named cases.

pub mod cases;
pub mod certs;
pub mod clients;
pub mod command;
pub mod daemon;
pub mod fake_daemon;
pub mod inproc;
pub mod processes;
pub mod wire;
