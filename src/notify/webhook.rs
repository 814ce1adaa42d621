//! The webhook notifier (feature `webhook`): each notification as a JSON `POST`.
//!
//! It is a [`Notifier`] like the SMTP one, so the same policy decides what is sent (new
//! errors, regressions, milestones, the cooldown, the hourly cap and its digest), on the
//! notifier thread, with the same retries: a failure worth retrying is
//! [`NotifyError::Unavailable`], and the notifier thread tries again with back-off.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use super::message::{error_link, render};
use super::{Notification, Notifier, NotifyError};

/// The shape of the body posted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum WebhookFormat {
    /// The notification as JSON: `type` (`"error"` or `"digest"`), `reason`, `description`,
    /// the error's summary, its newest sample (masked) and its `link` (default).
    #[default]
    Json,
    /// `{"text": ...}` with the email's subject and text: what Slack's incoming webhooks (and
    /// Mattermost's, Rocket.Chat's, Discord's `/slack` ones) take.
    Slack,
}

/// Posts each notification to a URL (`http://` or `https://`, TLS by rustls).
///
/// ```
/// use error_tracker::notify::{WebhookFormat, WebhookNotifier};
///
/// let notifier = WebhookNotifier::new("https://hooks.example.com/services/T0/B0/XYZ")
///     .format(WebhookFormat::Slack)
///     .timeout(std::time::Duration::from_secs(5));
/// let tracker = error_tracker::ErrorTracker::builder()
///     .in_memory()
///     .notifier(notifier)
///     .build()?;
/// # drop(tracker);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct WebhookNotifier {
    url: String,
    format: WebhookFormat,
    headers: Vec<(String, String)>,
    subject_prefix: String,
    base_url: Option<String>,
    agent: ureq::Agent,
}

/// Longest answer read from the server (for the error text of a refusal).
const MAX_ANSWER: u64 = 4096;

impl WebhookNotifier {
    /// A notifier posting JSON to `url`, with a 10 s timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self::build(url.into(), WebhookFormat::Json, Duration::from_secs(10))
    }

    fn build(url: String, format: WebhookFormat, timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // A refusal is an answer to read, not a transport error.
            .http_status_as_error(false)
            // A redirect could carry the notification somewhere else.
            .max_redirects(0)
            .build()
            .new_agent();
        WebhookNotifier {
            url,
            format,
            headers: Vec::new(),
            subject_prefix: "[error-tracker]".to_owned(),
            base_url: None,
            agent,
        }
    }

    /// The body's shape (default [`WebhookFormat::Json`]).
    pub fn format(mut self, format: WebhookFormat) -> Self {
        self.format = format;
        self
    }

    /// How long one attempt may take, connecting included (default 10 s).
    pub fn timeout(self, timeout: Duration) -> Self {
        let WebhookNotifier {
            url,
            format,
            headers,
            subject_prefix,
            base_url,
            ..
        } = self;
        WebhookNotifier {
            headers,
            subject_prefix,
            base_url,
            ..Self::build(url, format, timeout)
        }
    }

    /// Adds a header to every request (`Authorization`, a signature the receiver checks).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Starts the text of Slack-format messages (default `"[error-tracker]"`).
    pub fn subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.subject_prefix = prefix.into();
        self
    }

    /// The dashboard's address, for links to the errors' pages (see
    /// [`super::message::error_link`]).
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// The body posted for `notification`.
    pub fn body(&self, notification: &Notification) -> Value {
        match self.format {
            WebhookFormat::Slack => {
                let rendered = render(notification, &self.subject_prefix, self.base_url.as_deref());
                json!({ "text": format!("{}\n\n{}", rendered.subject, rendered.text) })
            }
            WebhookFormat::Json => self.json_body(notification),
        }
    }

    fn json_body(&self, notification: &Notification) -> Value {
        let link = |fingerprint: &str| {
            self.base_url
                .as_deref()
                .map(|base| error_link(base, fingerprint))
        };
        match notification {
            Notification::Error(notice) => json!({
                "type": "error",
                "reason": notice.reason,
                "description": notice.reason.describe(),
                "error": notice.error.summary,
                "regressions": notice.error.regressions,
                "ticket": notice.error.ticket,
                "sample": notice.error.samples.last(),
                "link": link(&notice.error.summary.fingerprint),
            }),
            Notification::Digest(digest) => json!({
                "type": "digest",
                "held_back": digest.held_back,
                "cap": digest.cap,
                "window_start": digest.window_start
                    .format(&time::format_description::well_known::Rfc3339)
                    .ok(),
                "errors": digest.errors.iter().map(|(reason, summary)| json!({
                    "reason": reason,
                    "error": summary,
                    "link": link(&summary.fingerprint),
                })).collect::<Vec<_>>(),
            }),
        }
    }
}

impl Notifier for WebhookNotifier {
    fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        let body = serde_json::to_vec(&self.body(notification))
            .map_err(|err| NotifyError::Rejected(format!("the body is no JSON: {err}")))?;
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json");
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let mut answer = request.send(&body[..]).map_err(|err| match err {
            ureq::Error::BadUri(_) | ureq::Error::RequireHttpsOnly(_) => {
                NotifyError::Config(format!("webhook URL {}: {err}", self.url))
            }
            // Refused connections, timeouts, TLS failures: the service may come back.
            other => NotifyError::Unavailable(format!("webhook: {other}")),
        })?;
        let status = answer.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let text = answer
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_string()
            .unwrap_or_default();
        let message = format!("webhook answered {status}: {}", text.trim());
        match status {
            // Too many requests, a time-out, or a server error: worth another try.
            408 | 425 | 429 | 500..=599 => Err(NotifyError::Unavailable(message)),
            _ => Err(NotifyError::Rejected(message)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_keeps_the_other_settings() {
        let notifier = WebhookNotifier::new("http://127.0.0.1:9/hook")
            .format(WebhookFormat::Slack)
            .header("Authorization", "Bearer t")
            .base_url("http://errors.example.com")
            .timeout(Duration::from_millis(200));
        assert_eq!(notifier.format, WebhookFormat::Slack);
        assert_eq!(notifier.headers.len(), 1);
        assert_eq!(
            notifier.base_url.as_deref(),
            Some("http://errors.example.com")
        );
    }
}
