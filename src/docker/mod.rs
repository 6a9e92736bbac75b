//! Docker Engine API knowledge: the route table, dockerd's path and query semantics,
//! and the Go-exact view of request bodies.

pub mod filters;
pub mod json;
mod merge;
pub mod path;
pub mod query;
pub mod reference;
pub mod route;
pub mod schema;
pub mod value;
pub mod workdir;

// HostConfig and request syntaxes the policy reads, each parsed as dockerd does.
pub mod binds;
pub mod cidr;
pub mod dockerfile;
pub mod host_path;
pub mod link;
pub mod options;
