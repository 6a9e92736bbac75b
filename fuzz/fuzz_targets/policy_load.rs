//! Policy-file loading never panics; a policy that loads also loads as part of a set.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::policy::{Policy, PolicySet};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = Policy::from_toml(s, std::path::Path::new("fuzz.toml")) {
        let _ = PolicySet::new(vec![p]);
    }
});
