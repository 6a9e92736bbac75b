//! The policy suites, one binary: table-driven tests of the shipped policies through the
//! pure request path (canonicalise, classify, Go-exact body view, decide).
//!
//! * `rules`: the default policy's rules, disguised JSON included;
//! * `depth`: the second-wave rules, each class over every route and field that carries it;
//! * `profiles`: the consumer profiles in `policies/profiles/` over the whole route table.

mod depth;
mod profiles;
mod rules;
