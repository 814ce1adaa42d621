//! Masking a whole occurrence whose values are the input (as text, as JSON if it parses,
//! and cut like the caller cuts) never panics and is idempotent.
#![no_main]

use error_tracker::{DefaultMasking, Masking, Occurrence};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut occurrence = Occurrence::new("kind", text);
    occurrence.extras.insert("text".into(), Value::String(text.to_owned()));
    let cut = &text[..text.floor_char_boundary(text.len() / 2)];
    occurrence
        .extras
        .insert("cut".into(), Value::String(format!("{cut}…[truncated]")));
    if let Ok(json) = serde_json::from_str::<Value>(text) {
        occurrence.extras.insert("json".into(), json);
    }
    let masking = DefaultMasking::default();
    masking.mask(&mut occurrence);
    let once = occurrence.clone();
    masking.mask(&mut occurrence);
    assert_eq!(occurrence, once, "masking twice changes {text:?}");
});
