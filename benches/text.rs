//! The text functions on ordinary and on adversarial input of the same size: parameterising
//! a message, scrubbing values, and the default masking's whole text scrub (values, then
//! `key=value` pairs). Throughput in bytes; the adversarial inputs are the repeated units
//! that made these functions quadratic or close to it, so a ratio near 1 between the two
//! columns of one function is what linear means in practice.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use error_tracker::fingerprint::parameterize;
use error_tracker::{DefaultMasking, Masking, scrub_sensitive_values};

const SIZE: usize = 16 * 1024;

/// Inputs of [`SIZE`] bytes: a realistic log message and payload, and the hostile ones.
fn inputs() -> Vec<(&'static str, String)> {
    let fill = |unit: &str| unit.repeat(SIZE / unit.len());
    vec![
        (
            "ordinary",
            fill(
                "user 42 failed to load order 7f3a9c1e from 10.0.0.7:5432 after 12.5ms: \
                 connection reset by peer (attempt 3 of 5) ",
            ),
        ),
        ("1- repeated", fill("1-")),
        ("a-1- repeated", fill("a-1-")),
        ("1.1- repeated", fill("1.1-")),
        ("password= repeated", fill("password=")),
        ("\"token\":\" repeated", fill("\"token\":\"")),
        ("4242 repeated", fill("4242 ")),
        ("x://u:p repeated", fill("x://u:p")),
    ]
}

/// One function under measurement, by reference.
type TextFunction<'a> = &'a dyn Fn(&str);

fn text(c: &mut Criterion) {
    let masking = DefaultMasking::default();
    let functions: [(&str, TextFunction<'_>); 3] = [
        ("parameterize", &|s| {
            black_box(parameterize(s));
        }),
        ("scrub_sensitive_values", &|s| {
            black_box(scrub_sensitive_values(s, DefaultMasking::DEFAULT_MASK));
        }),
        ("DefaultMasking::scrub_text", &|s| {
            black_box(masking.scrub_text(s));
        }),
    ];
    for (name, function) in functions {
        let mut group = c.benchmark_group(format!("text_{name}"));
        group.throughput(Throughput::Bytes(SIZE as u64));
        for (input_name, input) in inputs() {
            group.bench_with_input(BenchmarkId::from_parameter(input_name), &input, |b, s| {
                b.iter(|| function(black_box(s)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, text);
criterion_main!(benches);
