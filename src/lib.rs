//! # Portcullis
//!
//! A Docker Engine API policy proxy. One request travels one way:
//!
//! ```text
//! accept (TCP / unix) -> TLS + client identity -> HTTP/1.1 (hyper)
//!   -> classify (method, path) into a typed operation       [docker::route, docker::path]
//!   -> inspect: bounded read + Go-exact JSON view of bodies  [docker::json, docker::schema]
//!   -> decide: policy(identity, operation, body, facts)      [policy]
//!   -> forward a request Portcullis built (streaming), or splice an upgrade [proxy]
//!   -> log one line per request                              [proxy::body]
//! ```
#![forbid(unsafe_code)]

pub mod admin;
pub mod audit;
pub mod certs;
pub mod config;
pub mod docker;
pub mod error;
pub mod metrics;
pub mod policy;
pub mod proxy;
pub mod server;
pub mod tenant;
pub mod tls;
