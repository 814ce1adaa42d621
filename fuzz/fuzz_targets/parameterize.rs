//! `parameterize` never panics and stays linear (the run's `-timeout` catches a slow input at
//! `-max_len`); fingerprints are always 16 hex digits. (It is not idempotent, nor needs to
//! be: a placeholder can end a word that kept a quote from opening a string.)
#![no_main]

use error_tracker::fingerprint::{fingerprint_of, parameterize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let once = parameterize(text);
    assert!(once.len() <= text.len().max(1) * 12, "{text:?}");
    let fingerprint = fingerprint_of("t", None, &[], text);
    assert_eq!(fingerprint.len(), 16);
});
