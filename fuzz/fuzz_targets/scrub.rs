//! Value scrubbing (`scrub_sensitive_values`) and the default masking's whole text scrub
//! never panic and are idempotent: masked text masks to itself.
#![no_main]

use error_tracker::{DefaultMasking, Masking, scrub_sensitive_values};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mask = DefaultMasking::DEFAULT_MASK;
    let once = scrub_sensitive_values(text, mask);
    assert_eq!(scrub_sensitive_values(&once, mask), once, "values: {text:?}");
    let masking = DefaultMasking::default();
    let once = masking.scrub_text(text);
    assert_eq!(masking.scrub_text(&once), once, "text: {text:?}");
});
