//! Route classification: canonicalise + classify + query parsing never panic, and the
//! path sent upstream canonicalises back to the same route (what is checked is what
//! the daemon routes).
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::docker::{path, query, route};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (method, target) = s.split_once(' ').unwrap_or(("GET", s));
    let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let (p, q) = target.split_once('?').unwrap_or((target, ""));
    if let Ok(c) = path::canonicalise(p) {
        let op = route::classify(&method, &c.path);
        let again = path::canonicalise(&c.to_upstream()).expect("upstream form is canonical");
        assert_eq!(again, c);
        assert_eq!(route::classify(&method, &again.path), op);
    }
    if let Ok(parsed) = query::Query::parse(q) {
        let re = query::Query::parse(&parsed.encode()).expect("re-encoded query parses");
        assert_eq!(re, parsed);
    }
});
