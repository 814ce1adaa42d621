//! Masking through the whole pipeline: nothing unmasked reaches the store.

mod common;

use common::{run, single};
use error_tracker::{Masking, Occurrence};
use tracing::{error, info_span};

const MASK: &str = "*************";

#[test]
fn default_masking_hides_sensitive_fields_spans_extras_and_values() {
    let (_tracker, groups) = run(common::builder(), || {
        let _span = info_span!("login", session_id = "s-123", username = "ann").entered();
        let _scope = error_tracker::configure_scope(|s| {
            s.set_extra(
                "profile",
                serde_json::json!({"name": "Ann", "db_password": "pw", "keys": [{"api_key": "k"}]}),
            );
            s.set_extra("raw", r#"{"client_secret":"abc","ok":1}"#);
            s.set_user(serde_json::json!({"id": 7, "auth_token": "t"}));
        });
        error!(
            password = "hunter2",
            Secret = "s",
            card = "4111 1111 1111 1111",
            header = "Bearer abc.def.ghi",
            dsn = "postgres://app:hunter2@db/app",
            "login failed for card 4111-1111-1111-1111"
        );
    });
    let sample = &single(&groups).samples[0];
    let stored = serde_json::to_string(sample).unwrap();
    for secret in [
        "hunter2",
        "abc.def.ghi",
        "4111",
        "\"pw\"",
        "s-123",
        "\"abc\"",
        "\"t\"",
        "\"k\"",
    ] {
        assert!(!stored.contains(secret), "{secret} leaked: {stored}");
    }
    assert_eq!(sample.fields["password"], MASK);
    assert_eq!(sample.fields["Secret"], MASK);
    assert_eq!(
        sample.fields["dsn"],
        format!("postgres://app:{MASK}@db/app")
    );
    assert_eq!(sample.spans[0].fields["session_id"], MASK);
    assert_eq!(sample.spans[0].fields["username"], "ann");
    assert_eq!(sample.extras["profile"]["name"], "Ann");
    assert_eq!(sample.extras["profile"]["db_password"], MASK);
    assert_eq!(sample.user.as_ref().unwrap()["id"], 7);
    assert!(sample.message.starts_with("login failed for card "));
    assert!(single(&groups).summary.message.contains(MASK));
}

#[test]
fn custom_keys_and_mask() {
    let builder = common::builder().masked_keys(["pin"]).mask_with("[hidden]");
    let (_tracker, groups) = run(builder, || {
        error!(pin = 1234, password = "kept", "failed");
    });
    let sample = &single(&groups).samples[0];
    assert_eq!(sample.fields["pin"], "[hidden]");
    assert_eq!(
        sample.fields["password"], "kept",
        "only the configured keys are masked"
    );
}

#[test]
fn an_empty_key_list_turns_key_masking_off() {
    let (_tracker, groups) = run(common::builder().masked_keys(Vec::<String>::new()), || {
        error!(password = "visible", "failed");
    });
    assert_eq!(single(&groups).samples[0].fields["password"], "visible");
}

struct UpperCaseOnly;

impl Masking for UpperCaseOnly {
    fn is_sensitive_key(&self, key: &str) -> bool {
        key.chars().all(|c| c.is_ascii_uppercase())
    }

    fn mask_with(&self) -> &str {
        "#"
    }
}

#[test]
fn a_custom_masking_replaces_the_default() {
    let (_tracker, groups) = run(common::builder().masking(UpperCaseOnly), || {
        error!(PIN = 1, password = "kept by this rule", "failed");
    });
    let sample = &single(&groups).samples[0];
    assert_eq!(sample.fields["PIN"], "#");
    assert_eq!(sample.fields["password"], "kept by this rule");
}

struct Panicking;

impl Masking for Panicking {
    fn is_sensitive_key(&self, _key: &str) -> bool {
        panic!("masking bug")
    }

    fn mask_with(&self) -> &str {
        "?"
    }

    fn mask(&self, _occurrence: &mut Occurrence) {
        panic!("masking bug")
    }
}

#[test]
fn a_panicking_masking_falls_back_to_the_default_and_is_counted() {
    let (tracker, groups) = run(common::builder().masking(Panicking), || {
        error!(password = "hunter2", "failed");
    });
    let sample = &single(&groups).samples[0];
    assert_eq!(sample.fields["password"], MASK);
    assert!(tracker.stats().hook_panics >= 1, "{:?}", tracker.stats());
}

/// Each way a secret reached the store in clear: `(field value, secret it holds)`. Every
/// secret is made of `S3cr3t` so that one search finds any leak.
fn hostile_values(limit: usize) -> Vec<(&'static str, String)> {
    let big_json = format!(
        r#"{{"padding":"{}","password":"S3cr3t-json"}}"#,
        "p".repeat(limit)
    );
    vec![
        // Cut at the limit before masking: JSON that no longer parses, a URL password and a
        // card number straddling the cut.
        ("json_over_limit", big_json),
        (
            "url_at_cut",
            format!(
                "{}postgres://app:S3cr3tS3cr3tS3cr3t@db/x",
                "u".repeat(limit - 20)
            ),
        ),
        (
            "card_at_cut",
            format!("{}4242 4242 4242 4242", "c".repeat(limit - 10)),
        ),
        // Query strings inside any value.
        (
            "referer",
            "https://app.example/cb?access_token=S3cr3t-q1&x=1".into(),
        ),
        ("x-original-url", "/login?next=/&token=S3cr3t-q2".into()),
        ("url", "https://api.example/v1?password=S3cr3t-q3".into()),
        // JSON that a plain parse rejects.
        ("ndjson", "{\"a\":1}\n{\"secret\":\"S3cr3t-nd\"}".into()),
        ("bom", "\u{feff}{\"password\":\"S3cr3t-bom\"}".into()),
        ("double", r#""{\"password\":\"S3cr3t-dbl\"}""#.into()),
        ("prefixed", "payload={\"api_key\":\"S3cr3t-pre\"}".into()),
        // URL credentials with `#`, `/` or `?` in the password.
        ("dsn_hash", "redis://u:S3cr3t#x@cache:6379/0".into()),
        ("dsn_slash", "mysql://u:S3cr3t/x@db/app".into()),
        ("dsn_query", "amqp://u:S3cr3t?x@mq".into()),
        // Bearer variants and other schemes.
        ("b1", "bearer:S3cr3tB1".into()),
        ("b2", "bearer=S3cr3tB2".into()),
        ("b3", "GET /x?h=Bearer%20S3cr3tB3".into()),
        ("b4", "Bearer \"S3cr3tB4\"".into()),
        ("b5", "Authorization: token S3cr3tB5".into()),
    ]
}

#[test]
fn secrets_in_every_known_disguise_are_masked() {
    let limit = 512;
    let values = hostile_values(limit);
    let (_tracker, groups) = run(common::builder().max_value_len(limit), || {
        let span = info_span!("request", url = tracing::field::Empty);
        span.record("url", "/reset?token=S3cr3t-span");
        let _entered = span.enter();
        let _scope = error_tracker::configure_scope(|s| {
            for (name, value) in &values {
                s.set_extra(*name, value);
            }
        });
        error!(
            card = 4242424242424242u64,
            card_i64 = 4111111111111111i64,
            referer = "https://h/?token=S3cr3t-field",
            pwd = "S3cr3t-pwd",
            pin = 1234,
            cvv = 123,
            otp = "S3cr3t-otp",
            jwt = "S3cr3t-jwt",
            x_hub_signature = "sha256=S3cr3t-sig",
            "failed: {}",
            values[0].1
        );
    });
    let sample = &single(&groups).samples[0];
    let stored = serde_json::to_string(sample).unwrap();
    for needle in [
        "S3cr3t",
        "4242424242424242",
        "4111111111111111",
        "4242 4242",
    ] {
        assert!(!stored.contains(needle), "{needle} leaked: {stored}");
    }
    assert_eq!(sample.fields["card"], MASK);
    assert_eq!(sample.fields["pin"], MASK);
    // What is not a secret stays readable.
    assert!(sample.extras["referer"].as_str().unwrap().contains("&x=1"));
    assert!(
        sample.extras["dsn_hash"]
            .as_str()
            .unwrap()
            .ends_with("@cache:6379/0")
    );
}

#[test]
fn masking_twice_changes_nothing() {
    let masking = error_tracker::DefaultMasking::default();
    let mut values = hostile_values(64);
    // Found by fuzzing: a pair's value hidden where a URL's host stands.
    values.push(("fuzzed", "/op\0\0as://u:p#w@a=b&token=c:i<<".into()));
    values.push((
        "fuzzed",
        "4s\u{0}2<2 4242 4240 42442Bearer  U42 +42\u{1}\u{0}".into(),
    ));
    values.push((
        "fuzzed",
        r#"242res://w@db/s://authwu:p"w@@db/s://aupasswd"w@dbp/}://s:"ww@dc/x"#.into(),
    ));
    values.push((
        "fuzzed",
        r#"{"passwordscookiess>>>>>>4es://u::"/du@b22421 4 4242442 ":"x"}"#.into(),
    ));
    values.push((
        "fuzzed",
        r#"+es://u24322//:erw@db/s://auth7:/p"w@d`p/}:/@dbp/}:?u:p"w@dbp/}:u:/p"w@d`p/}:/@dbp/}:?u:@p"pbwd/}:u"w@//:erw@db/s:/apzzzzzzzzz@d`p/}:/@dbp/}:?u:p"w@dbp/}:u:/p":p9@ds/:!"w@d"#.into(),
    ));
    for (_, value) in values {
        let once = masking.scrub_text(&value).into_owned();
        let twice = masking.scrub_text(&once).into_owned();
        assert_eq!(once, twice, "{value:?}");
        // And a whole occurrence holding it, where JSON text is masked as JSON.
        let mut occurrence = Occurrence::new("kind", value.as_str());
        occurrence.extras.insert("v".into(), value.clone().into());
        masking.mask(&mut occurrence);
        let masked_once = occurrence.clone();
        masking.mask(&mut occurrence);
        assert_eq!(occurrence, masked_once, "{value:?}");
        let mask = error_tracker::DefaultMasking::DEFAULT_MASK;
        let values_once = error_tracker::scrub_sensitive_values(&value, mask).into_owned();
        assert_eq!(
            error_tracker::scrub_sensitive_values(&values_once, mask),
            values_once,
            "{value:?}"
        );
        assert!(!once.contains("S3cr3t") || value.len() > 64, "{once:?}");
    }
}
