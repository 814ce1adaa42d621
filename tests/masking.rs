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
