//! The classify phase: canonicalise + API version + query parsing + classify never
//! panic, and the target sent upstream classifies back to the same target (what is
//! checked is what the daemon routes).
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::docker::query;
use portcullis::policy::pipeline;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (method, target) = s.split_once(' ').unwrap_or(("GET", s));
    let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let (p, q) = target.split_once('?').unwrap_or((target, ""));
    if let Ok(t) = pipeline::classify(&method, p, q, pipeline::MIN_API) {
        let upstream = t.upstream();
        let (up, uq) = upstream.split_once('?').unwrap_or((&upstream, ""));
        let again = pipeline::classify(&method, up, uq, pipeline::MIN_API)
            .expect("the upstream target classifies");
        assert_eq!(again.canonical, t.canonical);
        assert_eq!(again.query, t.query);
        assert_eq!(again.op, t.op);
    }
    if let Ok(parsed) = query::Query::parse(q) {
        let re = query::Query::parse(&parsed.encode()).expect("re-encoded query parses");
        assert_eq!(re, parsed);
    }
});
