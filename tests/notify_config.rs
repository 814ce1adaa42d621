//! The `[email]` settings: read from a file and the environment, turned into a working SMTP
//! notifier and policy, and refused with a clear error when they cannot work.

mod notify_support;

use std::time::Duration;

use error_tracker::config::Config;
use error_tracker::notify::SmtpTls;
use error_tracker::{BuildError, ErrorTracker, NotifyPolicy, SmtpNotifier, SmtpSettings};
use notify_support::{SmtpServer, settle};
use tracing_subscriber::prelude::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn a_settings_file_and_the_environment_configure_email_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path());
    let path = dir.path().join("error_tracker.toml");
    std::fs::write(
        &path,
        format!(
            r#"
            [store]
            path = "{}"
            [email]
            from = "tracker@example.com"
            to = ["ops@example.com"]
            subject_prefix = "[shop]"
            smtp_host = "127.0.0.1"
            smtp_port = {}
            tls = "none"
            milestones = [2]
            cooldown_secs = 0
            base_url = "https://errors.example.com/e?fp={{fingerprint}}"
            "#,
            dir.path().join("errors.redb").display(),
            server.port
        ),
    )
    .unwrap();
    let config = Config::load_with_env(
        Some(&path),
        env(&[
            ("ERROR_TRACKER_EMAIL_MILESTONES", "3, 30"),
            ("ERROR_TRACKER_EMAIL_NOTIFY_REGRESSIONS", "false"),
            ("ERROR_TRACKER_EMAIL_MAX_PER_HOUR", "7"),
        ]),
    )
    .unwrap();
    assert_eq!(config.email.milestones, [3, 30]);
    assert!(!config.email.notify_regressions);
    let policy = NotifyPolicy::from_config(&config.email);
    assert_eq!(policy.max_per_window, 7);
    assert_eq!(policy.cooldown, Duration::ZERO);

    let tracker = ErrorTracker::builder().config(&config).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
    let raise = |times: usize| {
        tracing::dispatcher::with_default(&dispatch, || {
            for _ in 0..times {
                tracing::error!("cart service timed out");
            }
        })
    };
    raise(1);
    settle(&tracker);
    let mails = server.wait_for(1);
    assert_eq!(mails[0].subject, "[shop] event: cart service timed out");
    assert!(
        mails[0].text.contains("https://errors.example.com/e?fp="),
        "{}",
        mails[0].text
    );
    // The milestones come from the environment (3 and 30, not the file's 2), and a cooldown
    // of 0 lets the third occurrence mail at once, however the two are batched.
    raise(2);
    settle(&tracker);
    let mails = server.wait_for(2);
    assert_eq!(mails.len(), 2, "{mails:#?}");
    assert!(
        mails[1].text.contains("Reached 3 occurrences"),
        "{}",
        mails[1].text
    );
    settle(&tracker);
    assert_eq!(server.messages().len(), 2);
}

#[test]
fn email_settings_that_cannot_work_are_clear_errors() {
    let err = Config::from_toml_str("[email]\nto = [\"ops@example.com\"]").unwrap_err();
    assert!(err.to_string().contains("email.from"), "{err}");
    let err = Config::from_toml_str(
        "[email]\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\nsmtp_username = \"u\"",
    )
    .unwrap_err();
    assert!(err.to_string().contains("smtp_password"), "{err}");
    let err = Config::from_toml_str("[email]\nmilestones = [0, 10]").unwrap_err();
    assert!(err.to_string().contains("milestones"), "{err}");
    let err = Config::from_toml_str("[email]\ntls = \"ssl3\"").unwrap_err();
    assert!(err.to_string().contains("tls"), "{err}");
    let err = Config::load_with_env(None, env(&[("ERROR_TRACKER_EMAIL_NOTIFY_NEW", "maybe")]))
        .unwrap_err();
    assert!(err.to_string().contains("notify_new"), "{err}");

    // A password is never sent in clear to another machine.
    let mut settings = SmtpSettings::new("smtp.example.com", "a@example.com", ["b@example.com"]);
    settings.tls = SmtpTls::None;
    settings.username = Some("user".into());
    settings.password = Some("pa55word".into());
    let err = SmtpNotifier::new(settings.clone()).unwrap_err();
    assert!(err.to_string().contains("in clear"), "{err}");
    assert!(!format!("{settings:?}").contains("pa55word"));
    settings.host = "127.0.0.1".into();
    assert!(SmtpNotifier::new(settings.clone()).is_ok());
    settings.tls = SmtpTls::StartTls;
    settings.host = "smtp.example.com".into();
    assert!(SmtpNotifier::new(settings.clone()).is_ok());
    settings.to = vec!["not an address".into()];
    assert!(SmtpNotifier::new(settings).is_err());

    let config = Config::from_toml_str(
        "[email]\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\nsmtp_password = \"pa55word\"\nsmtp_username = \"u\"",
    )
    .unwrap();
    assert!(!format!("{config:?}").contains("pa55word"));

    // In code: half a setup, or a policy that cannot work, stops the build.
    let half = error_tracker::config::EmailConfig {
        from: Some("a@example.com".into()),
        ..Default::default()
    };
    let err = ErrorTracker::builder()
        .in_memory()
        .email(half)
        .build()
        .unwrap_err();
    assert!(
        matches!(err, BuildError::InvalidSetting { key: "email", .. }),
        "{err}"
    );
    let err = ErrorTracker::builder()
        .in_memory()
        .notify_policy(NotifyPolicy {
            max_per_window: 0,
            ..Default::default()
        })
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("max_per_window"), "{err}");
}
