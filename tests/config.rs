//! Settings from a TOML file and the environment.

use std::path::PathBuf;

use error_tracker::config::{CaptureLevel, Config, ConfigError, StoreBackend, env_var_name};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("error_tracker.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn defaults_match_the_seed() {
    let config = Config::load_with_env(None, env(&[])).unwrap();
    assert_eq!(config.page_size, 10);
    assert_eq!(config.max_pending_bytes, 64 << 20);
    assert_eq!(config.mask_with, "*************");
    assert!(config.masked_keys.iter().any(|k| k == "password"));
    assert!(config.masked_keys.iter().any(|k| k == "secret"));
    assert_eq!(config.level, CaptureLevel::Error);
    assert_eq!(config.store.backend, StoreBackend::Redb);
    assert_eq!(config.store.path, PathBuf::from("error_tracker.redb"));
    assert!(
        config
            .http
            .capture_statuses
            .iter()
            .all(|r| r.contains(500) && r.contains(599) && !r.contains(404))
    );
}

#[test]
fn a_file_sets_every_section() {
    let (_dir, path) = write(
        r#"
        level = "warn"
        page_size = 25
        masked_keys = ["pin"]
        mask_with = "[redacted]"
        [store]
        backend = "memory"
        path = "/var/lib/app/errors.redb"
        retention_days = 7
        [email]
        from = "app@example.com"
        to = ["ops@example.com", "dev@example.com"]
        subject_prefix = "[shop]"
        [http]
        capture_statuses = ["500-599", 404, "401"]
        "#,
    );
    let config = Config::load_with_env(Some(&path), env(&[])).unwrap();
    assert_eq!(config.level, CaptureLevel::Warn);
    assert_eq!(config.page_size, 25);
    assert_eq!(config.masked_keys, ["pin"]);
    assert_eq!(config.mask_with, "[redacted]");
    assert_eq!(config.store.backend, StoreBackend::Memory);
    assert_eq!(config.store.retention_days, 7);
    assert_eq!(config.email.to.len(), 2);
    let statuses = &config.http.capture_statuses;
    assert!(statuses.iter().any(|r| r.contains(404)));
    assert!(statuses.iter().any(|r| r.contains(401)));
    assert!(!statuses.iter().any(|r| r.contains(403)));
}

#[test]
fn the_environment_wins_over_the_file() {
    let (_dir, path) = write("page_size = 25\n[store]\npath = \"from-file.redb\"\n");
    let config = Config::load_with_env(
        Some(&path),
        env(&[
            ("ERROR_TRACKER_PAGE_SIZE", "50"),
            ("ERROR_TRACKER_STORE_PATH", "from-env.redb"),
            ("ERROR_TRACKER_MASKED_KEYS", "pin, cvv"),
            ("ERROR_TRACKER_MAX_PENDING_BYTES", "1048576"),
            ("ERROR_TRACKER_CONFIG", "ignored: names the file"),
            // The tool's own options share the namespace.
            ("ERROR_TRACKER_DB", "/var/lib/app/errors.redb"),
            ("ERROR_TRACKER_TOKEN", "t0ken"),
            ("ERROR_TRACKER_BASIC", "admin:pw"),
            ("ERROR_TRACKER_EMAIL_NOTIFY_NEW", "No"),
            ("UNRELATED", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(config.page_size, 50);
    assert_eq!(config.store.path, PathBuf::from("from-env.redb"));
    assert_eq!(config.masked_keys, ["pin", "cvv"]);
    assert_eq!(config.max_pending_bytes, 1 << 20);
    assert!(!config.email.notify_new);
    assert_eq!(
        env_var_name("store.retention_days"),
        "ERROR_TRACKER_STORE_RETENTION_DAYS"
    );
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let err = Config::from_toml_str("pag_size = 3").unwrap_err();
    assert!(err.to_string().contains("pag_size"), "{err}");
    let err = Config::from_toml_str("[store]\npth = \"x\"").unwrap_err();
    assert!(err.to_string().contains("pth"), "{err}");
    let err = Config::load_with_env(None, env(&[("ERROR_TRACKER_PAGESIZE", "3")])).unwrap_err();
    assert!(
        matches!(err, ConfigError::UnknownVariable { ref name } if name == "ERROR_TRACKER_PAGESIZE"),
        "{err}"
    );
}

#[test]
fn bad_values_are_errors_naming_the_key() {
    let err = Config::from_toml_str("page_size = \"ten\"").unwrap_err();
    assert!(err.to_string().contains("`page_size`"), "{err}");
    let err = Config::load_with_env(None, env(&[("ERROR_TRACKER_PAGE_SIZE", "ten")])).unwrap_err();
    assert!(
        err.to_string().contains("ERROR_TRACKER_PAGE_SIZE")
            && err.to_string().contains("`page_size`"),
        "{err}"
    );
    let err = Config::from_toml_str("[store]\nretention_days = -1").unwrap_err();
    assert!(err.to_string().contains("`store.retention_days`"), "{err}");
    let err = Config::from_toml_str("page_size = 0").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid setting `page_size`: must be at least 1"
    );
    let err = Config::from_toml_str("level = \"loud\"").unwrap_err();
    assert!(err.to_string().contains("loud"), "{err}");
    let err = Config::from_toml_str("[http]\ncapture_statuses = [\"600-700\"]").unwrap_err();
    assert!(err.to_string().contains("600"), "{err}");
    let err = Config::from_toml_str("[email]\nfrom = \"app@example.com\"").unwrap_err();
    assert!(err.to_string().contains("email.to"), "{err}");
    let err = Config::from_toml_str("[email]\nfrom = \"nobody\"\nto = [\"a@b.c\"]").unwrap_err();
    assert!(err.to_string().contains("nobody"), "{err}");
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let err = Config::load_with_env(Some(std::path::Path::new("/nonexistent/et.toml")), env(&[]))
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/et.toml"), "{err}");
}

#[test]
fn the_builder_takes_the_config() {
    let config = Config::from_toml_str(
        "level = \"warn\"\nmasked_keys = [\"pin\"]\n[store]\nbackend = \"memory\"",
    )
    .unwrap();
    let tracker = error_tracker::ErrorTracker::builder()
        .config(&config)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::layer::SubscriberExt::with(
        tracing_subscriber::registry(),
        tracker.layer(),
    ));
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::warn!(pin = 1234, password = "visible", "low disk")
    });
    assert!(tracker.flush(std::time::Duration::from_secs(5)));
    let page = tracker.errors(1).unwrap();
    let group = tracker.error(&page.items[0].fingerprint).unwrap().unwrap();
    assert_eq!(group.samples[0].fields["pin"], "*************");
    assert_eq!(group.samples[0].fields["password"], "visible");
}
