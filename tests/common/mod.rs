//! Helpers shared by the test binaries (`tests/wire`, `tests/e2e`): each binary
//! compiles this module once, as `pub mod common`, so helpers one binary does not use
//! are not dead code there.

pub mod inproc;
pub mod support;
