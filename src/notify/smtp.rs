//! The SMTP notifier: lettre's blocking transport, run on the notifier thread.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use serde::{Deserialize, Serialize};

use super::message::render;
use super::{Notification, Notifier, NotifyError};
use crate::config::EmailConfig;

/// How the connection to the SMTP server is secured (`email.tls`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text, for a relay on the same machine (default port 25). Refused with
    /// credentials unless the host is a loopback address or `localhost`, so that a password
    /// never crosses a network in clear.
    None,
    /// Plain connection upgraded with STARTTLS, which is required (default port 587).
    #[default]
    StartTls,
    /// TLS from the first byte, "SMTPS" (default port 465).
    Tls,
}

impl SmtpTls {
    /// The usual port for this mode.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

/// Everything the SMTP notifier needs; see the `[email]` settings.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// The SMTP server (default `localhost`).
    pub host: String,
    /// Its port; `None` for the usual port of `tls`.
    pub port: Option<u16>,
    /// How the connection is secured (default STARTTLS).
    pub tls: SmtpTls,
    /// User name for SMTP authentication, if the server wants one.
    pub username: Option<String>,
    /// Password for SMTP authentication.
    pub password: Option<String>,
    /// A PEM file of certificate authorities trusted besides the usual public ones: for a
    /// mail server with a certificate of a private authority.
    pub tls_ca_file: Option<PathBuf>,
    /// Longest wait for the server at each step (default 10 s).
    pub timeout: Duration,
    /// The sender address (the seed's "email sender's email id").
    pub from: String,
    /// The recipients (the seed's "whom email should be sent to").
    pub to: Vec<String>,
    /// Put in front of every subject (the seed's "exception email subject prefix").
    pub subject_prefix: String,
    /// The dashboard's address: when set, messages link to the error's page (see
    /// [`super::message::error_link`]).
    pub base_url: Option<String>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("timeout", &self.timeout)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("subject_prefix", &self.subject_prefix)
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl SmtpSettings {
    /// Settings for `host`, sending from `from` to `to`, with the other defaults.
    pub fn new<I, S>(host: impl Into<String>, from: impl Into<String>, to: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        SmtpSettings {
            host: host.into(),
            port: None,
            tls: SmtpTls::default(),
            tls_ca_file: None,
            username: None,
            password: None,
            timeout: Duration::from_secs(10),
            from: from.into(),
            to: to.into_iter().map(Into::into).collect(),
            subject_prefix: "[error-tracker]".to_owned(),
            base_url: None,
        }
    }

    /// The settings of the `[email]` section; `None` when it sets no sender (notifications
    /// off).
    pub fn from_config(email: &EmailConfig) -> Option<Self> {
        let from = email.from.clone()?;
        Some(SmtpSettings {
            host: email.smtp_host.clone(),
            port: email.smtp_port,
            tls: email.tls,
            tls_ca_file: email.tls_ca_file.clone(),
            username: email.smtp_username.clone(),
            password: email.smtp_password.clone(),
            timeout: Duration::from_millis(email.timeout_ms),
            from,
            to: email.to.clone(),
            subject_prefix: email.subject_prefix.clone(),
            base_url: email.base_url.clone(),
        })
    }
}

/// Sends notifications by email over SMTP (lettre), one message per notification with a
/// text and an HTML part.
///
/// All messages about one error share a thread: the first has the Message-ID
/// `<error-FINGERPRINT@DOMAIN>` (the sender's domain) and every later one refers to it
/// (`In-Reply-To`, `References`), so mail clients show them together.
pub struct SmtpNotifier {
    transport: SmtpTransport,
    from: Mailbox,
    to: Vec<Mailbox>,
    domain: String,
    subject_prefix: String,
    base_url: Option<String>,
}

impl std::fmt::Debug for SmtpNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpNotifier")
            .field("from", &self.from.to_string())
            .field("to", &self.to.len())
            .finish_non_exhaustive()
    }
}

fn is_local(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl SmtpNotifier {
    /// A notifier with `settings`; fails with [`NotifyError::Config`] on a bad address, no
    /// recipient, or credentials over a plain connection to another machine. It does not
    /// connect: a server that is down is found (and retried) when sending.
    pub fn new(settings: SmtpSettings) -> Result<Self, NotifyError> {
        let parse = |address: &str| -> Result<Mailbox, NotifyError> {
            address.trim().parse::<Mailbox>().map_err(|err| {
                NotifyError::Config(format!("{address:?} is not an email address: {err}"))
            })
        };
        let from = parse(&settings.from)?;
        let to = settings
            .to
            .iter()
            .map(|a| parse(a))
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err(NotifyError::Config(
                "email notifications need at least one recipient (email.to)".to_owned(),
            ));
        }
        let credentials = match (&settings.username, &settings.password) {
            (Some(user), Some(password)) => Some(Credentials::new(user.clone(), password.clone())),
            (None, None) => None,
            _ => {
                return Err(NotifyError::Config(
                    "SMTP authentication needs both email.smtp_username and email.smtp_password"
                        .to_owned(),
                ));
            }
        };
        if settings.tls == SmtpTls::None && credentials.is_some() && !is_local(&settings.host) {
            return Err(NotifyError::Config(format!(
                "email.tls = \"none\" would send the SMTP password to {} in clear; use \
                 \"starttls\" or \"tls\"",
                settings.host
            )));
        }
        let tls_error =
            |err: lettre::transport::smtp::Error| NotifyError::Config(format!("TLS: {err}"));
        let mut builder = match settings.tls {
            SmtpTls::None => SmtpTransport::builder_dangerous(&settings.host),
            SmtpTls::StartTls => {
                SmtpTransport::starttls_relay(&settings.host).map_err(tls_error)?
            }
            SmtpTls::Tls => SmtpTransport::relay(&settings.host).map_err(tls_error)?,
        };
        if let Some(path) = &settings.tls_ca_file {
            let pem = std::fs::read(path).map_err(|err| {
                NotifyError::Config(format!(
                    "cannot read email.tls_ca_file {}: {err}",
                    path.display()
                ))
            })?;
            let authority = Certificate::from_pem(&pem).map_err(|err| {
                NotifyError::Config(format!("{} is no PEM certificate: {err}", path.display()))
            })?;
            let parameters = TlsParameters::builder(settings.host.clone())
                .add_root_certificate(authority)
                .build_rustls()
                .map_err(tls_error)?;
            builder = match settings.tls {
                SmtpTls::None => builder,
                SmtpTls::StartTls => builder.tls(Tls::Required(parameters)),
                SmtpTls::Tls => builder.tls(Tls::Wrapper(parameters)),
            };
        }
        builder = builder
            .port(settings.port.unwrap_or(settings.tls.default_port()))
            .timeout(Some(settings.timeout));
        if let Some(credentials) = credentials {
            builder = builder.credentials(credentials);
        }
        Ok(SmtpNotifier {
            transport: builder.build(),
            domain: from.email.domain().to_owned(),
            from,
            to,
            subject_prefix: settings.subject_prefix,
            base_url: settings.base_url,
        })
    }

    /// The message for `notification`. Not public, so that lettre's types stay out of this
    /// crate's API; [`super::message::render`] gives the same text.
    fn message(&self, notification: &Notification) -> Result<Message, NotifyError> {
        let rendered = render(notification, &self.subject_prefix, self.base_url.as_deref());
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(rendered.subject)
            .date_now();
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder = match notification {
            Notification::Error(notice) => {
                // Fingerprints are hex digits; anything else is left out of the header.
                let fp: String = notice
                    .error
                    .summary
                    .fingerprint
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect();
                let root = format!("<error-{fp}@{}>", self.domain);
                let sent = notice.error.notification.sent;
                if sent == 0 {
                    builder.message_id(Some(root))
                } else {
                    builder
                        .message_id(Some(format!("<error-{fp}-{sent}@{}>", self.domain)))
                        .in_reply_to(root.clone())
                        .references(root)
                }
            }
            Notification::Digest(_) => builder.message_id(None),
        };
        builder
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|err| NotifyError::Rejected(format!("the message cannot be built: {err}")))
    }
}

impl Notifier for SmtpNotifier {
    fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        let message = self.message(notification)?;
        match self.transport.send(&message) {
            Ok(_) => Ok(()),
            Err(err) if err.is_permanent() => Err(NotifyError::Rejected(err.to_string())),
            Err(err) => Err(NotifyError::Unavailable(err.to_string())),
        }
    }
}
