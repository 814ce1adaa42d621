//! Settings from a TOML file and `ERROR_TRACKER_*` environment variables (the seed's
//! "configured using settings file").
//!
//! File and environment fill one [`Config`]; the environment wins. Every key is listed with
//! its default in `docs/configuration.md`. Unknown keys and bad values are errors that name
//! the key and where it came from.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::mask::DefaultMasking;
use crate::store::{Durability, RedbOptions};

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read settings file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file, or a value from the environment, does not fit the settings.
    #[error("invalid settings in {origin}: {message}")]
    Parse {
        /// The file, or "the environment".
        origin: String,
        /// What is wrong, naming the key.
        message: String,
    },
    /// An `ERROR_TRACKER_*` variable names no setting.
    #[error(
        "unknown environment variable {name}: no setting is called that (see docs/configuration.md)"
    )]
    UnknownVariable {
        /// The variable.
        name: String,
    },
    /// A value is well-formed but cannot work.
    #[error("invalid setting `{key}`: {reason}")]
    Invalid {
        /// The setting's key.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// The least severe level that is captured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptureLevel {
    /// Errors only.
    #[default]
    Error,
    /// Warnings and errors.
    Warn,
    /// Info and above.
    Info,
    /// Debug and above.
    Debug,
    /// Everything.
    Trace,
}

impl From<CaptureLevel> for tracing::Level {
    fn from(level: CaptureLevel) -> Self {
        match level {
            CaptureLevel::Error => tracing::Level::ERROR,
            CaptureLevel::Warn => tracing::Level::WARN,
            CaptureLevel::Info => tracing::Level::INFO,
            CaptureLevel::Debug => tracing::Level::DEBUG,
            CaptureLevel::Trace => tracing::Level::TRACE,
        }
    }
}

/// Which store keeps the errors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// The embedded redb file at `store.path`.
    #[default]
    Redb,
    /// In memory, gone when the process ends.
    Memory,
}

/// The `[store]` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `redb` (default) or `memory` (the seed's `APP_ERROR_DB_MODEL`; a custom store is set
    /// in code with [`crate::Builder::store`]).
    pub backend: StoreBackend,
    /// The database file (default `error_tracker.redb` in the working directory).
    pub path: PathBuf,
    /// `immediate` (default) or `eventual`.
    pub durability: Durability,
    /// Errors not seen for this many days are purged (default 90).
    pub retention_days: u32,
    /// At most this many errors are kept; the least recently seen go first (default 100,000).
    pub max_errors: u64,
    /// Days of hourly occurrence counts kept per error (default 30).
    pub histogram_days: u32,
}

impl StoreConfig {
    /// The options of the redb store these settings describe.
    pub fn redb_options(&self) -> RedbOptions {
        RedbOptions {
            durability: self.durability,
            retention: time::Duration::days(i64::from(self.retention_days)),
            max_errors: self.max_errors,
            histogram_window: time::Duration::days(i64::from(self.histogram_days)),
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: StoreBackend::Redb,
            path: PathBuf::from("error_tracker.redb"),
            durability: Durability::Immediate,
            retention_days: 90,
            max_errors: 100_000,
            histogram_days: 30,
        }
    }
}

/// The `[email]` section: who is notified, through which SMTP server, and when (see
/// `docs/notifications.md`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// Sender address; notifications are on only when it and `to` are set.
    pub from: Option<String>,
    /// Recipient addresses.
    pub to: Vec<String>,
    /// Put in front of every subject (default `[error-tracker]`).
    pub subject_prefix: String,
    /// The SMTP server (default `localhost`).
    pub smtp_host: String,
    /// Its port (default: 25, 587 or 465 for `tls` = `none`, `starttls` or `tls`).
    pub smtp_port: Option<u16>,
    /// User name for SMTP authentication.
    pub smtp_username: Option<String>,
    /// Password for SMTP authentication (better set through the environment).
    pub smtp_password: Option<String>,
    /// `none` (plain, for a relay on this machine), `starttls` (default) or `tls`.
    pub tls: crate::notify::SmtpTls,
    /// A PEM file of certificate authorities to trust besides the public ones.
    pub tls_ca_file: Option<PathBuf>,
    /// Longest wait for the SMTP server at each step, in ms (default 10,000).
    pub timeout_ms: u64,
    /// The dashboard's address; messages link to `{base_url}/error/{fingerprint}` (or replace a
    /// `{fingerprint}` placeholder in it).
    pub base_url: Option<String>,
    /// Notify new errors (default true).
    pub notify_new: bool,
    /// Notify regressions: resolved errors seen again (default true).
    pub notify_regressions: bool,
    /// Occurrence counts that are notified (default `[10, 100, 1000, 10000]`).
    pub milestones: Vec<u64>,
    /// Least time between two notifications about one error, in seconds (default 3,600).
    pub cooldown_secs: u64,
    /// Most notifications about single errors per hour; the rest go into one digest
    /// (default 60).
    pub max_per_hour: u32,
}

impl std::fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailConfig")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("subject_prefix", &self.subject_prefix)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_username", &self.smtp_username)
            // Never printed: settings end up in logs.
            .field(
                "smtp_password",
                &self.smtp_password.as_ref().map(|_| "<hidden>"),
            )
            .field("tls", &self.tls)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("timeout_ms", &self.timeout_ms)
            .field("base_url", &self.base_url)
            .field("notify_new", &self.notify_new)
            .field("notify_regressions", &self.notify_regressions)
            .field("milestones", &self.milestones)
            .field("cooldown_secs", &self.cooldown_secs)
            .field("max_per_hour", &self.max_per_hour)
            .finish()
    }
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            from: None,
            to: Vec::new(),
            subject_prefix: "[error-tracker]".to_owned(),
            smtp_host: "localhost".to_owned(),
            smtp_port: None,
            smtp_username: None,
            smtp_password: None,
            tls: crate::notify::SmtpTls::default(),
            tls_ca_file: None,
            timeout_ms: 10_000,
            base_url: None,
            notify_new: true,
            notify_regressions: true,
            milestones: vec![10, 100, 1_000, 10_000],
            cooldown_secs: 3_600,
            max_per_hour: 60,
        }
    }
}

/// A response status or an inclusive range of them: `500`, or `"500-599"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StatusSpec", into = "StatusSpec")]
pub struct StatusRange {
    /// The first status in the range.
    pub first: u16,
    /// The last status in the range.
    pub last: u16,
}

impl StatusRange {
    /// True when `status` is in the range.
    pub fn contains(&self, status: u16) -> bool {
        (self.first..=self.last).contains(&status)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StatusSpec {
    Code(u16),
    Text(String),
}

impl TryFrom<StatusSpec> for StatusRange {
    type Error = String;

    fn try_from(spec: StatusSpec) -> Result<Self, Self::Error> {
        let parse = |s: &str| {
            s.trim()
                .parse::<u16>()
                .map_err(|_| format!("{s:?} is not an HTTP status"))
        };
        let (first, last) = match &spec {
            StatusSpec::Code(code) => (*code, *code),
            StatusSpec::Text(text) => match text.split_once('-') {
                Some((a, b)) => (parse(a)?, parse(b)?),
                None => {
                    let code = parse(text)?;
                    (code, code)
                }
            },
        };
        if !(100..=599).contains(&first) || !(100..=599).contains(&last) || first > last {
            return Err(format!(
                "{first}-{last} is not a range of HTTP statuses (100 to 599)"
            ));
        }
        Ok(StatusRange { first, last })
    }
}

impl From<StatusRange> for StatusSpec {
    fn from(range: StatusRange) -> Self {
        if range.first == range.last {
            StatusSpec::Code(range.first)
        } else {
            StatusSpec::Text(format!("{}-{}", range.first, range.last))
        }
    }
}

/// The `[webhook]` section: notifications posted to a URL (feature `webhook`), under the
/// same policy as email (the policy keys of `[email]`: `notify_new`, `notify_regressions`,
/// `milestones`, `cooldown_secs`, `max_per_hour`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct WebhookConfig {
    /// Where to post (`http://` or `https://`); unset: no webhook.
    pub url: Option<String>,
    /// `json` (default) or `slack`.
    pub format: String,
    /// How long one attempt may take, in ms (default 10,000).
    pub timeout_ms: u64,
    /// The dashboard's address, for links to the errors' pages.
    pub base_url: Option<String>,
    /// Starts the text of `slack` messages (default `[error-tracker]`).
    pub subject_prefix: String,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            url: None,
            format: "json".to_owned(),
            timeout_ms: 10_000,
            base_url: None,
            subject_prefix: "[error-tracker]".to_owned(),
        }
    }
}

/// The `[http]` section, read by the HTTP middleware.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Response statuses recorded as errors (default `["500-599"]`; the seed: "by default
    /// only 500 errors are tracked but HTTP 404, 401 etc can be tracked as well").
    pub capture_statuses: Vec<StatusRange>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            capture_statuses: vec![StatusRange {
                first: 500,
                last: 599,
            }],
        }
    }
}

/// Every setting, with the defaults of [`crate::Builder`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The least severe level captured: `error` (default), `warn`, `info`, `debug`, `trace`.
    pub level: CaptureLevel,
    /// Errors per listing page (default 10).
    pub page_size: usize,
    /// Field names containing one of these are masked (case-insensitive, ignoring `-_.`).
    pub masked_keys: Vec<String>,
    /// What masked values are replaced with (default 13 asterisks).
    pub mask_with: String,
    /// Occurrences kept with full context per error (default 10).
    pub samples_per_error: usize,
    /// Longest text kept for one value, in bytes (default 16,384).
    pub max_value_len: usize,
    /// Most spans kept in a span trace (default 128).
    pub max_span_depth: usize,
    /// Most distinct errors held in memory between writes (default 65,536).
    pub max_pending_errors: usize,
    /// About how many bytes of errors are held in memory before the store has them
    /// (default 67,108,864: 64 MiB); see `Builder::max_pending_bytes`.
    pub max_pending_bytes: usize,
    /// How often the worker writes while errors keep coming, in ms (default 50).
    pub flush_interval_ms: u64,
    /// How long shutdown waits for pending errors, in ms (default 5,000).
    pub shutdown_timeout_ms: u64,
    /// How long the panic hook waits for a panic to be stored, in ms (default 2,000).
    pub panic_flush_timeout_ms: u64,
    /// Whether panics take a backtrace (default `true`).
    pub panic_backtraces: bool,
    /// When `error!` events and `capture_*` calls take a backtrace: `off` (default),
    /// `new_callsites` or `always`.
    pub backtraces: crate::BacktraceMode,
    /// With `backtraces = "new_callsites"`, seconds a callsite goes without another
    /// backtrace (default 3,600).
    pub backtrace_interval_secs: u64,
    /// Breadcrumbs kept per span tree and sent with the next error (default 0: off).
    pub breadcrumbs: usize,
    /// The least severe level kept as a breadcrumb (default `info`).
    pub breadcrumb_level: CaptureLevel,
    /// A link template for OpenTelemetry trace ids in the dashboard made by
    /// `ErrorTracker::dashboard` (`https://.../trace/{trace_id}`); unset: no link.
    pub trace_url: Option<String>,
    /// The release every occurrence says it came from (`name@1.2.3`); unset: the one set in
    /// code (`Builder::release`), if any.
    pub release: Option<String>,
    /// The environment every occurrence says it came from (default `production`).
    pub environment: String,
    /// The `[store]` section.
    pub store: StoreConfig,
    /// The `[email]` section.
    pub email: EmailConfig,
    /// The `[http]` section.
    pub http: HttpConfig,
    /// The `[webhook]` section.
    pub webhook: WebhookConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            level: CaptureLevel::Error,
            page_size: 10,
            masked_keys: DefaultMasking::DEFAULT_KEYS
                .iter()
                .map(|k| (*k).to_owned())
                .collect(),
            mask_with: DefaultMasking::DEFAULT_MASK.to_owned(),
            samples_per_error: 10,
            max_value_len: 16 * 1024,
            max_span_depth: 128,
            max_pending_errors: 65_536,
            max_pending_bytes: 64 * 1024 * 1024,
            flush_interval_ms: 50,
            shutdown_timeout_ms: 5_000,
            panic_flush_timeout_ms: 2_000,
            panic_backtraces: true,
            backtraces: crate::BacktraceMode::Off,
            backtrace_interval_secs: 3_600,
            breadcrumbs: 0,
            breadcrumb_level: CaptureLevel::Info,
            trace_url: None,
            release: None,
            environment: "production".to_owned(),
            store: StoreConfig::default(),
            email: EmailConfig::default(),
            http: HttpConfig::default(),
            webhook: WebhookConfig::default(),
        }
    }
}

/// How an environment value is turned into a TOML value.
#[derive(Clone, Copy)]
enum ValueKind {
    Text,
    Integer,
    List,
    /// `true` or `false`.
    Bool,
    /// Comma-separated integers.
    IntegerList,
}

/// Every key that can be set, with how its environment value reads. Kept next to [`Config`]
/// so that a new field cannot be forgotten: a test checks both agree.
const KEYS: &[(&str, ValueKind)] = &[
    ("level", ValueKind::Text),
    ("page_size", ValueKind::Integer),
    ("masked_keys", ValueKind::List),
    ("mask_with", ValueKind::Text),
    ("samples_per_error", ValueKind::Integer),
    ("max_value_len", ValueKind::Integer),
    ("max_span_depth", ValueKind::Integer),
    ("max_pending_errors", ValueKind::Integer),
    ("max_pending_bytes", ValueKind::Integer),
    ("flush_interval_ms", ValueKind::Integer),
    ("shutdown_timeout_ms", ValueKind::Integer),
    ("panic_flush_timeout_ms", ValueKind::Integer),
    ("panic_backtraces", ValueKind::Bool),
    ("backtraces", ValueKind::Text),
    ("backtrace_interval_secs", ValueKind::Integer),
    ("breadcrumbs", ValueKind::Integer),
    ("breadcrumb_level", ValueKind::Text),
    ("trace_url", ValueKind::Text),
    ("release", ValueKind::Text),
    ("environment", ValueKind::Text),
    ("store.backend", ValueKind::Text),
    ("store.path", ValueKind::Text),
    ("store.durability", ValueKind::Text),
    ("store.retention_days", ValueKind::Integer),
    ("store.max_errors", ValueKind::Integer),
    ("store.histogram_days", ValueKind::Integer),
    ("email.from", ValueKind::Text),
    ("email.to", ValueKind::List),
    ("email.subject_prefix", ValueKind::Text),
    ("email.smtp_host", ValueKind::Text),
    ("email.smtp_port", ValueKind::Integer),
    ("email.smtp_username", ValueKind::Text),
    ("email.smtp_password", ValueKind::Text),
    ("email.tls", ValueKind::Text),
    ("email.tls_ca_file", ValueKind::Text),
    ("email.timeout_ms", ValueKind::Integer),
    ("email.base_url", ValueKind::Text),
    ("email.notify_new", ValueKind::Bool),
    ("email.notify_regressions", ValueKind::Bool),
    ("email.milestones", ValueKind::IntegerList),
    ("email.cooldown_secs", ValueKind::Integer),
    ("email.max_per_hour", ValueKind::Integer),
    ("http.capture_statuses", ValueKind::List),
    ("webhook.url", ValueKind::Text),
    ("webhook.format", ValueKind::Text),
    ("webhook.timeout_ms", ValueKind::Integer),
    ("webhook.base_url", ValueKind::Text),
    ("webhook.subject_prefix", ValueKind::Text),
];

/// The prefix of every environment variable.
pub const ENV_PREFIX: &str = "ERROR_TRACKER_";

/// `ERROR_TRACKER_*` variables that are not settings, and that [`Config::load`] leaves alone:
/// `ERROR_TRACKER_CONFIG` names the settings file; `ERROR_TRACKER_DB`,
/// `ERROR_TRACKER_TOKEN` and `ERROR_TRACKER_BASIC` are the `error-tracker` tool's `--db`,
/// `--token` and `--basic`.
const TOOL_VARIABLES: &[&str] = &["CONFIG", "DB", "TOKEN", "BASIC"];

/// The environment variable for a dotted key: `store.path` is `ERROR_TRACKER_STORE_PATH`.
pub fn env_var_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase().replace('.', "_"))
}

impl Config {
    /// Settings from TOML text alone (no environment).
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Self::from_sources(Some((text, "settings text".to_owned())), std::iter::empty())
    }

    /// Settings from a TOML file, then `ERROR_TRACKER_*` variables of this process.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// Like [`Config::load`], with the environment given explicitly (for tests and tools).
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let file = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Some((text, path.display().to_string()))
            }
            None => None,
        };
        Self::from_sources(file.as_ref().map(|(t, o)| (t.as_str(), o.clone())), env)
    }

    fn from_sources(
        file: Option<(&str, String)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let file_origin = file
            .as_ref()
            .map_or_else(|| "the defaults".to_owned(), |(_, o)| o.clone());
        let mut table = match &file {
            Some((text, origin)) => {
                toml::from_str::<toml::Table>(text).map_err(|e| ConfigError::Parse {
                    origin: origin.clone(),
                    message: e.to_string(),
                })?
            }
            None => toml::Table::new(),
        };
        // Which keys the environment set, to say where a bad value came from.
        let mut from_env: Vec<(&str, String)> = Vec::new();
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if TOOL_VARIABLES.contains(&rest) {
                // Not settings: the file's name, and the `error-tracker` tool's own options,
                // which share the namespace so that one environment (a `.env` file, a
                // systemd unit, a compose file) serves the application and the tool.
                continue;
            }
            let Some((key, kind)) = KEYS.iter().find(|(key, _)| env_var_name(key) == name) else {
                return Err(ConfigError::UnknownVariable { name });
            };
            set_dotted(&mut table, key, env_value(*kind, &value));
            from_env.push((key, name));
        }
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let path = e.path().to_string();
                let origin = from_env
                    .iter()
                    .find(|(key, _)| path == *key || path.starts_with(&format!("{key}[")))
                    .map_or(file_origin, |(_, name)| format!("the environment ({name})"));
                let message = if path == "." {
                    e.inner().to_string()
                } else {
                    format!("`{path}`: {}", e.inner())
                };
                ConfigError::Parse { origin, message }
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("page_size", self.page_size as u64),
            ("samples_per_error", self.samples_per_error as u64),
            ("max_value_len", self.max_value_len as u64),
            ("max_span_depth", self.max_span_depth as u64),
            ("max_pending_errors", self.max_pending_errors as u64),
            ("max_pending_bytes", self.max_pending_bytes as u64),
            ("flush_interval_ms", self.flush_interval_ms),
            ("store.retention_days", u64::from(self.store.retention_days)),
            ("store.max_errors", self.store.max_errors),
            ("store.histogram_days", u64::from(self.store.histogram_days)),
            ("email.timeout_ms", self.email.timeout_ms),
            ("email.max_per_hour", u64::from(self.email.max_per_hour)),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::Invalid {
                key,
                reason: "must be at least 1".to_owned(),
            });
        }
        // A sender without recipients, or recipients without a sender, is a half-done setup.
        if self.email.from.is_some() == self.email.to.is_empty() {
            return Err(ConfigError::Invalid {
                key: if self.email.from.is_some() {
                    "email.to"
                } else {
                    "email.from"
                },
                reason:
                    "email notifications need both a sender (email.from) and recipients (email.to)"
                        .to_owned(),
            });
        }
        if let Some(bad) = self
            .email
            .from
            .iter()
            .chain(&self.email.to)
            .find(|a| !a.contains('@'))
        {
            return Err(ConfigError::Invalid {
                key: "email",
                reason: format!("{bad:?} is not an email address"),
            });
        }
        if self.email.milestones.contains(&0) {
            return Err(ConfigError::Invalid {
                key: "email.milestones",
                reason: "milestones start at 1".to_owned(),
            });
        }
        if self.email.smtp_username.is_some() != self.email.smtp_password.is_some() {
            return Err(ConfigError::Invalid {
                key: "email.smtp_username",
                reason: "SMTP authentication needs both email.smtp_username and \
                         email.smtp_password"
                    .to_owned(),
            });
        }
        Ok(())
    }
}

fn env_value(kind: ValueKind, text: &str) -> toml::Value {
    match kind {
        ValueKind::Text => toml::Value::String(text.to_owned()),
        // Left as text when it is not a number, so the error names the key.
        ValueKind::Integer => text.trim().parse::<i64>().map_or_else(
            |_| toml::Value::String(text.to_owned()),
            toml::Value::Integer,
        ),
        // Left as text when it is not a boolean, so the error names the key.
        ValueKind::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => toml::Value::Boolean(true),
            "false" | "0" | "no" => toml::Value::Boolean(false),
            _ => toml::Value::String(text.to_owned()),
        },
        ValueKind::IntegerList => toml::Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| env_value(ValueKind::Integer, item))
                .collect(),
        ),
        ValueKind::List => toml::Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| toml::Value::String(item.to_owned()))
                .collect(),
        ),
    }
}

fn set_dotted(table: &mut toml::Table, key: &str, value: toml::Value) {
    match key.split_once('.') {
        Some((section, rest)) => {
            let entry = table
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(inner) = entry {
                set_dotted(inner, rest, value);
            }
        }
        None => {
            table.insert(key.to_owned(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_config_key_has_an_environment_variable() {
        let value = toml::Value::try_from(Config::default()).unwrap();
        let mut keys = Vec::new();
        for (name, value) in value.as_table().unwrap() {
            match value.as_table() {
                Some(section) => keys.extend(section.keys().map(|k| format!("{name}.{k}"))),
                None => keys.push(name.clone()),
            }
        }
        // Settings that are `None` by default are absent and listed by hand.
        for key in [
            "email.from",
            "email.smtp_port",
            "email.smtp_username",
            "email.smtp_password",
            "email.tls_ca_file",
            "email.base_url",
            "webhook.url",
            "webhook.base_url",
            "trace_url",
            "release",
        ] {
            keys.push(key.to_owned());
        }
        keys.sort();
        let mut known: Vec<String> = KEYS.iter().map(|(k, _)| (*k).to_owned()).collect();
        known.sort();
        assert_eq!(keys, known);
    }
}
