//! Every text function is linear in its input, on the inputs that made some of them
//! quadratic: each is timed at n and 4n bytes and the ratio is checked, not a wall time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use error_tracker::fingerprint::parameterize;
use error_tracker::{DefaultMasking, Masking, Occurrence, scrub_sensitive_values};

/// Repeated units that drive a regex or a scanner into looking far ahead from many places.
const HOSTILE_UNITS: &[&str] = &[
    "1-",
    "12-",
    "1.1-",
    "a-1-",
    "1 ",
    "-1",
    "4-",
    "1.",
    "1@1.",
    "a@",
    "\"",
    "'a",
    "`",
    "1:",
    "::1:",
    "0x",
    "1e",
    "a://b:",
    "x://u:p",
    "Bearer ",
    "bearer=",
    "a=",
    "password=",
    "\"password\":\"",
    "token:{",
    "{\"a\":",
    "\\\"",
    "4242 ",
    "%20",
    "aaaaaaaa=",
];

/// The best of a few runs: the least disturbed by the rest of the machine.
fn best_time(f: &dyn Fn(&str), input: &str) -> Duration {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            f(black_box(input));
            start.elapsed()
        })
        .min()
        .expect("three runs")
}

/// Asserts that `f` costs about 4x as much on 4x the input, for every hostile unit. A
/// quadratic function costs 16x; the bound leaves room for noise and cache effects.
fn assert_linear(name: &str, n: usize, f: &dyn Fn(&str)) {
    // One function timed at a time: the tests of this file would otherwise share the cores.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for unit in HOSTILE_UNITS {
        let small = unit.repeat(n / unit.len());
        let large = unit.repeat(4 * n / unit.len());
        // Warm-up: lazily compiled regexes and first-touch allocations.
        f(&small);
        let mut ratio = f64::INFINITY;
        // A second measurement before failing: one slow run under load is not a verdict.
        for _ in 0..2 {
            let t_small = best_time(f, &small).max(Duration::from_micros(50));
            let t_large = best_time(f, &large);
            ratio = ratio.min(t_large.as_secs_f64() / t_small.as_secs_f64());
            if ratio < 8.0 {
                break;
            }
        }
        assert!(
            ratio < 8.0,
            "{name} on {unit:?}: {ratio:.1}x for 4x the input"
        );
    }
}

const N: usize = 16 * 1024;

#[test]
fn parameterize_is_linear() {
    assert_linear("parameterize", N, &|s| {
        black_box(parameterize(s));
    });
}

#[test]
fn value_scrubbing_is_linear() {
    assert_linear("scrub_sensitive_values", N, &|s| {
        black_box(scrub_sensitive_values(s, "***"));
    });
    let masking = DefaultMasking::default();
    assert_linear("DefaultMasking::scrub_text", N, &|s| {
        black_box(masking.scrub_text(s));
    });
}

#[test]
fn key_checks_are_linear() {
    let masking = DefaultMasking::default();
    assert_linear("is_sensitive_key", N, &|s| {
        black_box(masking.is_sensitive_key(s));
    });
}

#[test]
fn masking_a_whole_occurrence_is_linear() {
    let masking = DefaultMasking::default();
    assert_linear("mask_occurrence", N, &|s| {
        let mut occurrence = Occurrence::new("kind", s);
        occurrence
            .extras
            .insert("value".into(), serde_json::Value::String(s.to_owned()));
        occurrence.extras.insert(
            "json".into(),
            serde_json::Value::String(format!("{{\"k\":\"{s}\"}}")),
        );
        masking.mask(&mut occurrence);
        black_box(occurrence);
    });
}
