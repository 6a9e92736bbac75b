//! # Portcullis
//!
//! A Docker Engine API policy proxy. One request travels one way, through named phases:
//!
//! ```text
//! accept (TCP / unix) -> TLS + client identity -> HTTP/1.1 (hyper)       [server, tls]
//!   -> framing: RFC 9112 checks, hop-by-hop headers, upgrades             [proxy::framing]
//!   -> classify: canonical path, API version, query -> typed Operation    [policy::pipeline, docker]
//!   -> inspect: body plan (Content-Encoding, Content-Type), bounded read,
//!               Go-exact JSON view                                        [policy::pipeline, proxy::body]
//!   -> decide: policy(identity, operation, body, facts), facts loop       [policy::pipeline, proxy::facts]
//!   -> rewrite: pin checked names to ids                                  [policy::pipeline]
//!   -> forward a request Portcullis built (streaming), or splice an upgrade [proxy::forward, proxy::splice]
//!   -> respond: the hook where a response may be filtered (pass-through)  [proxy::forward]
//!   -> record: one audit record, metrics, the log line                    [proxy::record, audit, metrics]
//! ```
//!
//! The pure phases (classify, inspect, decide, rewrite) exist once, in
//! [`policy::pipeline`], and are run by the proxy, `policy explain`, the benches and the
//! fuzz targets alike. Errors say whose fault they are by type ([`error::ProxyError`]:
//! client, policy, daemon, Portcullis); requests end with an [`audit::Outcome`].
//! `portcullis` the command is [`cli`]; `unsafe` code is denied everywhere but in
//! [`sys`] (two libc calls, with their safety argument).
#![deny(unsafe_code)]

pub mod admin;
pub mod audit;
pub mod certs;
pub mod cli;
pub mod config;
pub mod docker;
pub mod error;
pub mod metrics;
pub mod policy;
pub mod proxy;
pub mod server;
pub mod sys;
pub mod tenant;
pub mod tls;
