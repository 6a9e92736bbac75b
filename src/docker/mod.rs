//! Docker Engine API knowledge: the route table, dockerd's path and query semantics,
//! and the Go-exact view of request bodies.

pub mod json;
mod merge;
pub mod path;
pub mod query;
pub mod route;
pub mod schema;
pub mod value;
