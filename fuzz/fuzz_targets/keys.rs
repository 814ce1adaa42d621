//! The key rule never panics, whatever the key, and does not depend on separators' places
//! in a way that lets `pass_word` through where `password` is caught.
#![no_main]

use error_tracker::{DefaultMasking, Masking};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(key) = std::str::from_utf8(data) else {
        return;
    };
    let masking = DefaultMasking::default();
    let sensitive = masking.is_sensitive_key(key);
    if key.to_lowercase().replace(['-', '_', '.'], "").contains("password") {
        assert!(sensitive, "{key:?}");
    }
    let custom = DefaultMasking::new([key], "#");
    let _ = custom.is_sensitive_key(key);
});
