//! The [`ErrorTracker`] handle, its [`Builder`] and its [`TrackerStats`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;

use crate::BacktraceMode;
use crate::buffer::Buffer;
use crate::config::{Config, EmailConfig, HttpConfig, StoreBackend, StoreConfig};
use crate::context::ContextBuilder;
use crate::layer::ErrorTrackerLayer;
use crate::mask::{DefaultMasking, Masking};
use crate::notify::{
    Dispatcher, NotificationStats, Notifier, NotifyPolicy, NotifyThread, SmtpNotifier, SmtpSettings,
};
use crate::shared::{Counters, Progress, Settings, Shared};
use crate::store::{
    ErrorGroup, ErrorSummary, ListQuery, MemoryStore, Page, RedbStore, Store, StoreError,
};
use crate::ticket::Ticketing;
use crate::{panic, worker};

/// Why a tracker could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A setting has a value that cannot work.
    #[error("invalid setting `{key}`: {reason}")]
    InvalidSetting {
        /// The setting's name, as in the configuration file.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The worker thread could not be started.
    #[error("cannot start the error-tracker worker thread: {0}")]
    Worker(#[source] std::io::Error),
}

/// Configures an [`ErrorTracker`]; every setting has a working default.
#[must_use]
pub struct Builder {
    settings: Settings,
    masked_keys: Vec<String>,
    mask_with: String,
    masking: Option<Arc<dyn Masking>>,
    store: Option<Arc<dyn Store>>,
    store_config: StoreConfig,
    notifier: Option<Arc<dyn Notifier>>,
    webhook: crate::config::WebhookConfig,
    ticketing: Option<Arc<dyn Ticketing>>,
    context: Option<Arc<dyn ContextBuilder>>,
    event_filter: Option<Box<crate::filter::EventFilter>>,
    event_mapper: Option<Box<crate::filter::EventMapper>>,
    notify_policy: NotifyPolicy,
    email: EmailConfig,
    http: HttpConfig,
}

/// A [`BuildError::InvalidSetting`] for `key`.
fn invalid(key: &'static str, reason: String) -> BuildError {
    BuildError::InvalidSetting { key, reason }
}

/// The notifier the `[webhook]` settings describe.
#[cfg(feature = "webhook")]
fn webhook_notifier(
    config: &crate::config::WebhookConfig,
) -> Result<Arc<dyn Notifier>, BuildError> {
    use crate::notify::{WebhookFormat, WebhookNotifier};
    let format = match config.format.as_str() {
        "json" => WebhookFormat::Json,
        "slack" => WebhookFormat::Slack,
        other => {
            return Err(invalid(
                "webhook.format",
                format!("`{other}` is not a format: `json` or `slack`"),
            ));
        }
    };
    let url = config.url.clone().unwrap_or_default();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(invalid(
            "webhook.url",
            "a webhook URL starts with http:// or https://".to_owned(),
        ));
    }
    let mut notifier = WebhookNotifier::new(url)
        .format(format)
        .timeout(Duration::from_millis(config.timeout_ms))
        .subject_prefix(config.subject_prefix.clone());
    if let Some(base) = &config.base_url {
        notifier = notifier.base_url(base.clone());
    }
    Ok(Arc::new(notifier))
}

/// Without feature `webhook`, a `[webhook]` URL cannot be served.
#[cfg(not(feature = "webhook"))]
fn webhook_notifier(_: &crate::config::WebhookConfig) -> Result<Arc<dyn Notifier>, BuildError> {
    Err(invalid(
        "webhook.url",
        "webhooks need the crate's `webhook` feature".to_owned(),
    ))
}

/// How long a callsite goes without another backtrace under
/// [`BacktraceMode::NewCallsites`], by default.
const DEFAULT_BACKTRACE_INTERVAL: Duration = Duration::from_secs(3600);

impl Default for Builder {
    fn default() -> Self {
        Builder {
            settings: Settings {
                level: tracing::Level::ERROR,
                max_value_len: 16 * 1024,
                max_span_depth: 128,
                samples_per_error: 10,
                max_pending_errors: 65_536,
                max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
                page_size: 10,
                flush_interval: Duration::from_millis(50),
                shutdown_timeout: Duration::from_secs(5),
                panic_flush_timeout: Duration::from_secs(2),
                panic_backtraces: true,
                backtraces: BacktraceMode::Off,
                backtrace_interval: DEFAULT_BACKTRACE_INTERVAL,
                breadcrumbs: 0,
                breadcrumb_level: tracing::Level::INFO,
                trace_url: None,
                release: None,
                environment: Some("production".to_owned()),
            },
            masked_keys: DefaultMasking::DEFAULT_KEYS
                .iter()
                .map(|k| (*k).to_owned())
                .collect(),
            mask_with: DefaultMasking::DEFAULT_MASK.to_owned(),
            masking: None,
            store: None,
            store_config: StoreConfig::default(),
            notifier: None,
            webhook: Default::default(),
            ticketing: None,
            context: None,
            event_filter: None,
            event_mapper: None,
            notify_policy: NotifyPolicy::default(),
            email: EmailConfig::default(),
            http: HttpConfig::default(),
        }
    }
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("settings", &self.settings)
            .field("masked_keys", &self.masked_keys)
            .field("custom_masking", &self.masking.is_some())
            .field("custom_store", &self.store.is_some())
            .field("notifier", &self.notifier.is_some())
            .field("ticketing", &self.ticketing.is_some())
            .field("context_builder", &self.context.is_some())
            .field("event_filter", &self.event_filter.is_some())
            .field("event_mapper", &self.event_mapper.is_some())
            .field("notify_policy", &self.notify_policy)
            .field("email", &self.email)
            .field("http", &self.http)
            .finish()
    }
}

impl Builder {
    /// Events at this level or more severe are captured (default `ERROR`; `WARN` captures
    /// warnings too).
    pub fn level(mut self, level: tracing::Level) -> Self {
        self.settings.level = level;
        self
    }

    /// Field names containing any of these (case-insensitive, ignoring `-`, `_`, `.`) are
    /// masked (the seed's `APP_ERROR_MASKED_KEY_HAS`). An empty list turns key masking off.
    pub fn masked_keys<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.masked_keys = keys.into_iter().map(Into::into).collect();
        self
    }

    /// The text masked values are replaced with (the seed's `APP_ERROR_MASK_WITH`; default
    /// 13 asterisks).
    pub fn mask_with(mut self, mask: impl Into<String>) -> Self {
        self.mask_with = mask.into();
        self
    }

    /// Replaces the default masking (the seed's `APP_ERROR_MASKING_MODULE`). If it panics,
    /// the default masking is applied instead and the panic is counted.
    pub fn masking(mut self, masking: impl Masking) -> Self {
        self.masking = Some(Arc::new(masking));
        self
    }

    /// Where errors are kept (the seed's `APP_ERROR_DB_MODEL`; default: the redb file
    /// `error_tracker.redb` in the working directory, see [`Builder::database_path`]).
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Keeps errors in the redb file at `path` (created if missing; its directory must exist).
    /// A store set with [`Builder::store`], [`Builder::shared_store`] or
    /// [`Builder::in_memory`] takes precedence.
    pub fn database_path(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.store_config.backend = StoreBackend::Redb;
        self.store_config.path = path.into();
        self
    }

    /// Keeps errors in memory only ([`MemoryStore`]): for tests and short-lived tools.
    pub fn in_memory(self) -> Self {
        self.store(MemoryStore::new())
    }

    /// Like [`Builder::store`], for a store the caller keeps a handle to.
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Errors per listing page (default 10).
    pub fn page_size(mut self, size: usize) -> Self {
        self.settings.page_size = size;
        self
    }

    /// Occurrences kept with full context per error, the newest (default 10).
    pub fn samples_per_error(mut self, samples: usize) -> Self {
        self.settings.samples_per_error = samples;
        self
    }

    /// Longest text kept for one value, in bytes; longer ones are cut and marked
    /// (default 16 KiB).
    pub fn max_value_len(mut self, bytes: usize) -> Self {
        self.settings.max_value_len = bytes;
        self
    }

    /// Most spans kept in a span trace, the innermost (default 128).
    pub fn max_span_depth(mut self, depth: usize) -> Self {
        self.settings.max_span_depth = depth;
        self
    }

    /// Most distinct errors held between two worker cycles, and while the store is
    /// failing (default 65,536); beyond it, occurrences of new errors are counted as lost.
    pub fn max_pending_errors(mut self, errors: usize) -> Self {
        self.settings.max_pending_errors = errors;
        self
    }

    /// About how many bytes of captured errors are held in memory before the store has them,
    /// in the buffer and the worker together (default 64 MiB). Past three quarters of it,
    /// samples are let go first (a repeat is counted without its sample, a new error keeps
    /// only its message, kind and location); past all of it, new errors are refused. Counts
    /// of the errors held stay exact; [`TrackerStats`] counts what was let go.
    pub fn max_pending_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_pending_bytes = bytes;
        self
    }

    /// How often the worker writes while errors keep coming (default 50 ms).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.settings.flush_interval = interval;
        self
    }

    /// How long dropping the last [`ErrorTracker`] waits for pending errors (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.settings.shutdown_timeout = timeout;
        self
    }

    /// How long the panic hook waits for the panic to be stored (default 2 s).
    pub fn panic_flush_timeout(mut self, timeout: Duration) -> Self {
        self.settings.panic_flush_timeout = timeout;
        self
    }

    /// Whether a panic takes a backtrace (default `true`, whatever `RUST_BACKTRACE` says):
    /// the stack is walked on the panicking thread (a few microseconds) and resolved on the
    /// worker.
    pub fn panic_backtraces(mut self, enabled: bool) -> Self {
        self.settings.panic_backtraces = enabled;
        self
    }

    /// When `error!` events and `capture_*` calls take a backtrace (default
    /// [`BacktraceMode::Off`]); see `docs/guide.md`, "Backtraces".
    pub fn backtraces(mut self, mode: BacktraceMode) -> Self {
        self.settings.backtraces = mode;
        self
    }

    /// The release every occurrence says it came from: `error_tracker::release!()` gives the
    /// application's `name@version`; a build id or commit works too. Versions (after an
    /// optional `name@` and `v`) are ordered as semantic versions, for "resolved in release
    /// X" (see [`crate::ResolvedIn`]). Default: none.
    pub fn release(mut self, release: impl Into<String>) -> Self {
        self.settings.release = Some(release.into());
        self
    }

    /// The environment every occurrence says it came from (default `production`).
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.settings.environment = Some(environment.into());
        self
    }

    /// Keeps the last `count` events below the capture level (default 0: off; 20 is a good
    /// number), of [`breadcrumb_level`](Builder::breadcrumb_level) or more severe, and sends
    /// them with the next error as [`Occurrence::breadcrumbs`](crate::Occurrence::breadcrumbs),
    /// masked like fields. They are kept in the root span of the event's span tree (a
    /// request, a task), or for events outside any span on their thread; see `docs/guide.md`,
    /// "Breadcrumbs".
    pub fn breadcrumbs(mut self, count: usize) -> Self {
        self.settings.breadcrumbs = count;
        self
    }

    /// The least severe level kept as a breadcrumb (default `INFO`: `info!` and `warn!`
    /// below an ERROR capture level).
    pub fn breadcrumb_level(mut self, level: tracing::Level) -> Self {
        self.settings.breadcrumb_level = level;
        self
    }

    /// With [`BacktraceMode::NewCallsites`], how long a callsite goes without taking
    /// another backtrace (default one hour).
    pub fn backtrace_interval(mut self, interval: Duration) -> Self {
        self.settings.backtrace_interval = interval;
        self
    }

    /// Sends notifications with `notifier` (the seed's `APP_ERROR_NOTIFICATION_MODULE`)
    /// instead of the SMTP notifier the `[email]` settings describe. It runs on the
    /// notifier thread, guarded; see [`crate::notify`].
    pub fn notifier(mut self, notifier: impl Notifier) -> Self {
        self.notifier = Some(Arc::new(notifier));
        self
    }

    /// When notifications are sent (default: [`NotifyPolicy::default`], or the policy keys
    /// of the `[email]` settings applied with [`Builder::config`] or [`Builder::email`]).
    pub fn notify_policy(mut self, policy: NotifyPolicy) -> Self {
        self.notify_policy = policy;
        self
    }

    /// Email notifications with these settings (the `[email]` section): an SMTP notifier
    /// when a sender and recipients are set, and the policy keys as the
    /// [`Builder::notify_policy`].
    pub fn email(mut self, email: EmailConfig) -> Self {
        self.notify_policy = NotifyPolicy::from_config(&email);
        self.email = email;
        self
    }

    /// Files a ticket for each new error with `ticketing` (the seed's
    /// `APP_ERROR_TICKETING_MODULE`); runs on the notifier thread, guarded.
    pub fn ticketing(mut self, ticketing: impl Ticketing) -> Self {
        self.ticketing = Some(Arc::new(ticketing));
        self
    }

    /// Decides what context occurrences carry (the seed's
    /// `APP_ERROR_CONTEXT_BUILDER_MODULE`; default: everything captured, see
    /// [`crate::DefaultContext`]). Runs on the worker before masking, guarded.
    pub fn context_builder(mut self, builder: impl ContextBuilder) -> Self {
        self.context = Some(Arc::new(builder));
        self
    }

    /// Leaves out the events at the capture level for which `filter` answers
    /// [`EventDecision::Ignore`](crate::EventDecision::Ignore), by their metadata (target, level, name, fields' names),
    /// before anything is recorded: a noisy target without a per-layer filter, which would
    /// hide the tracker's own spans too. Runs on the caller's thread, so keep it cheap;
    /// ignored events are counted in [`TrackerStats::filtered`]. `capture_*` calls and panics
    /// are not events and are not filtered. A filter that panics lets the event in.
    ///
    /// ```
    /// use error_tracker::{ErrorTracker, EventDecision};
    ///
    /// let tracker = ErrorTracker::builder()
    ///     .in_memory()
    ///     .event_filter(|metadata| {
    ///         if metadata.target().starts_with("hyper::") {
    ///             EventDecision::Ignore
    ///         } else {
    ///             EventDecision::Capture
    ///         }
    ///     })
    ///     .build()?;
    /// # Ok::<(), error_tracker::BuildError>(())
    /// ```
    pub fn event_filter(
        mut self,
        filter: impl Fn(&tracing::Metadata<'_>) -> crate::EventDecision + Send + Sync + 'static,
    ) -> Self {
        self.event_filter = Some(Box::new(filter));
        self
    }

    /// Rewrites or drops each occurrence before it is stored: `mapper` gets it masked and
    /// returns it, changed or not, or `None` to drop it. What it returns is masked again,
    /// grouped by what it returns, then shaped by the context builder (which never moves an
    /// error to another group). The newest occurrence
    /// of a burst decides for the others counted with it: dropped, they are all dropped,
    /// counted in [`TrackerStats::filtered`]. Runs on the worker; a mapper that panics keeps
    /// the occurrence as it was, counted in [`TrackerStats::hook_panics`].
    ///
    /// ```
    /// use error_tracker::ErrorTracker;
    ///
    /// let tracker = ErrorTracker::builder()
    ///     .in_memory()
    ///     .event_mapper(|mut occurrence| {
    ///         if occurrence.message.contains("client disconnected") {
    ///             return None;
    ///         }
    ///         occurrence.tags.insert("team".into(), "payments".into());
    ///         Some(occurrence)
    ///     })
    ///     .build()?;
    /// # Ok::<(), error_tracker::BuildError>(())
    /// ```
    pub fn event_mapper(
        mut self,
        mapper: impl Fn(crate::Occurrence) -> Option<crate::Occurrence> + Send + Sync + 'static,
    ) -> Self {
        self.event_mapper = Some(Box::new(mapper));
        self
    }

    /// Applies every setting of `config` (file and environment settings); a custom store or
    /// masking set in code before or after is kept.
    pub fn config(mut self, config: &Config) -> Self {
        self.settings.level = config.level.into();
        self.settings.page_size = config.page_size;
        self.settings.samples_per_error = config.samples_per_error;
        self.settings.max_value_len = config.max_value_len;
        self.settings.max_span_depth = config.max_span_depth;
        self.settings.max_pending_errors = config.max_pending_errors;
        self.settings.max_pending_bytes = config.max_pending_bytes;
        self.settings.flush_interval = Duration::from_millis(config.flush_interval_ms);
        self.settings.shutdown_timeout = Duration::from_millis(config.shutdown_timeout_ms);
        self.settings.panic_flush_timeout = Duration::from_millis(config.panic_flush_timeout_ms);
        self.settings.panic_backtraces = config.panic_backtraces;
        self.settings.backtraces = config.backtraces;
        self.settings.backtrace_interval = Duration::from_secs(config.backtrace_interval_secs);
        self.settings.breadcrumbs = config.breadcrumbs;
        self.settings.breadcrumb_level = config.breadcrumb_level.into();
        self.settings.trace_url.clone_from(&config.trace_url);
        if config.release.is_some() {
            self.settings.release.clone_from(&config.release);
        }
        self.settings.environment = Some(config.environment.clone());
        self.masked_keys.clone_from(&config.masked_keys);
        self.mask_with.clone_from(&config.mask_with);
        self.store_config = config.store.clone();
        self = self.email(config.email.clone());
        self.http.clone_from(&config.http);
        self.webhook.clone_from(&config.webhook);
        self
    }

    /// Response statuses the HTTP middleware (`ErrorTracker::http_layer`, feature `http`)
    /// records as errors (default 500-599; the `[http] capture_statuses` setting).
    pub fn capture_statuses(
        mut self,
        statuses: impl IntoIterator<Item = crate::config::StatusRange>,
    ) -> Self {
        self.http.capture_statuses = statuses.into_iter().collect();
        self
    }

    /// Starts the worker and returns the tracker.
    pub fn build(self) -> Result<ErrorTracker, BuildError> {
        let positive = [
            ("page_size", self.settings.page_size),
            ("samples_per_error", self.settings.samples_per_error),
            ("max_value_len", self.settings.max_value_len),
            ("max_span_depth", self.settings.max_span_depth),
            ("max_pending_errors", self.settings.max_pending_errors),
            ("max_pending_bytes", self.settings.max_pending_bytes),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(BuildError::InvalidSetting {
                key,
                reason: "must be at least 1".to_owned(),
            });
        }
        if self.settings.flush_interval.is_zero() {
            return Err(BuildError::InvalidSetting {
                key: "flush_interval",
                reason: "must be above zero".to_owned(),
            });
        }
        self.notify_policy
            .validate()
            .map_err(|reason| invalid("notify_policy", reason))?;
        if self.email.from.is_some() == self.email.to.is_empty() {
            return Err(invalid(
                "email",
                "email notifications need both a sender (email.from) and recipients (email.to)"
                    .to_owned(),
            ));
        }
        let notifier = match self.notifier {
            Some(notifier) => Some(notifier),
            None if self.webhook.url.is_some() => {
                if self.email.from.is_some() {
                    return Err(invalid(
                        "webhook.url",
                        "email and a webhook are both set: the tracker sends through one \
                         notifier; keep one of them"
                            .to_owned(),
                    ));
                }
                Some(webhook_notifier(&self.webhook)?)
            }
            None => match SmtpSettings::from_config(&self.email) {
                Some(settings) => Some(Arc::new(
                    SmtpNotifier::new(settings).map_err(|err| invalid("email", err.to_string()))?,
                ) as Arc<dyn Notifier>),
                None => None,
            },
        };
        let store = self
            .store
            .unwrap_or_else(|| default_store(&self.store_config));
        let (notify, notify_thread) = if notifier.is_some() || self.ticketing.is_some() {
            let (handoff, thread) =
                Dispatcher::spawn(store.clone(), notifier, self.ticketing, self.notify_policy)
                    .map_err(BuildError::Worker)?;
            (Some(handoff), Some(thread))
        } else {
            (None, None)
        };
        let default_masking: Arc<dyn Masking> =
            Arc::new(DefaultMasking::new(&self.masked_keys, self.mask_with));
        let shared = Arc::new(Shared {
            backtraces: crate::backtrace::Sampler::new(
                self.settings.backtraces,
                self.settings.backtrace_interval,
            ),
            buffer: Buffer::new(
                self.settings.max_pending_errors,
                self.settings.samples_per_error,
                self.settings.max_pending_bytes,
            ),
            store,
            masking: self.masking.unwrap_or_else(|| default_masking.clone()),
            fallback_masking: default_masking,
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            counters: Counters::default(),
            last_store_error: Mutex::new(None),
            progress: Mutex::new(Progress {
                processed: 0,
                worker_running: false,
            }),
            progress_changed: Condvar::new(),
            stopping: Default::default(),
            flush_requested: Default::default(),
            panic_hook_installed: Default::default(),
            context: self.context,
            event_filter: self.event_filter,
            event_mapper: self.event_mapper,
            notify,
            last_hook_error: Mutex::new(None),
            settings: self.settings,
        });
        let worker = match worker::spawn(shared.clone()) {
            Ok(worker) => worker,
            Err(err) => {
                if let Some(thread) = &notify_thread {
                    thread.shutdown(Instant::now());
                }
                return Err(BuildError::Worker(err));
            }
        };
        Ok(ErrorTracker {
            inner: Arc::new(Handle {
                pipeline: Arc::new(Pipeline {
                    shared,
                    worker: Mutex::new(Some(worker)),
                    notify: notify_thread,
                }),
                http: self.http,
            }),
        })
    }
}

/// The store the settings describe. The redb file is opened lazily: a locked, missing or
/// corrupt file never stops the application; the worker keeps what it could not write in a
/// bounded buffer and retries.
fn default_store(config: &StoreConfig) -> Arc<dyn Store> {
    match config.backend {
        StoreBackend::Redb => Arc::new(RedbStore::open_lazy(&config.path, config.redb_options())),
        StoreBackend::Memory => Arc::new(MemoryStore::new()),
    }
}

/// Counters that show what the tracker did and what it could not do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackerStats {
    /// Occurrences accepted from callers.
    pub captured: u64,
    /// Occurrences written to the store.
    pub stored: u64,
    /// Occurrences lost, `refused + unsaved`. A healthy store loses none unless new distinct
    /// errors arrive faster than it writes them for long enough to fill the buffer.
    pub lost: u64,
    /// New errors refused because pending work was at its limit: `max_pending_errors`
    /// distinct errors, or the whole `max_pending_bytes`, were held. This happens while the
    /// store fails or stalls, or while new distinct errors arrive faster than it writes.
    /// Repeats of errors the buffer holds are never refused (once half the byte budget is
    /// held, the worker stops taking work from the buffer while it holds a batch for the
    /// store and one more).
    pub refused: u64,
    /// Occurrences accepted but never written: captured after shutdown began, let go while
    /// the store kept failing (beyond what the worker holds for a retry), or still pending
    /// when the store had not recovered by shutdown.
    pub unsaved: u64,
    /// Occurrences counted but let go before reaching the store as samples (each error
    /// keeps only its newest samples; the store may let go of older ones too).
    pub dropped_samples: u64,
    /// Of `dropped_samples`, those let go for the byte budget (`max_pending_bytes`); each
    /// is still counted in its error's count.
    pub budget_dropped_samples: u64,
    /// Bytes held now against `max_pending_bytes` (an estimate of the heap they use).
    pub pending_bytes: u64,
    /// Failed attempts to write to the store (each is retried).
    pub store_failures: u64,
    /// The last store failure, if any.
    pub last_store_error: Option<String>,
    /// Panics caught in user-supplied parts (masking, store, context builder, notifier,
    /// ticketing).
    pub hook_panics: u64,
    /// The last failure of a user hook run on the worker (the context builder); failures on
    /// the notifier thread are in `notifications.last_error`.
    pub last_hook_error: Option<String>,
    /// What the notifier thread did (all zero without notifier or ticketing).
    pub notifications: NotificationStats,
    /// Panics caught inside the tracker itself (a bug, or a panicking `Debug` or `Display`
    /// impl of an event's or a span's field).
    pub internal_panics: u64,
    /// Captures dropped because they were raised while the same thread was capturing: an
    /// `error!` or `capture_*` call inside the `Display` or `Debug` of a captured value.
    pub reentrant_captures: u64,
    /// Events left out by [`Builder::event_filter`], and occurrences dropped by
    /// [`Builder::event_mapper`].
    pub filtered: u64,
}

/// The default of [`Builder::max_pending_bytes`].
const DEFAULT_MAX_PENDING_BYTES: usize = 64 * 1024 * 1024;

/// The threads that store and announce errors, with the state they share. Every
/// [`ErrorTracker`] clone and every layer made from one holds it: the pipeline stops (writing
/// what is pending first) when the last of them is dropped, so a layer installed on its own
/// (`tracker.layer()` with the tracker dropped) keeps capturing.
struct Pipeline {
    shared: Arc<Shared>,
    worker: Mutex<Option<JoinHandle<()>>>,
    notify: Option<NotifyThread>,
}

/// What an [`ErrorTracker`] clone shares: the pipeline and the HTTP settings.
struct Handle {
    pipeline: Arc<Pipeline>,
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    http: HttpConfig,
}

impl std::ops::Deref for Handle {
    type Target = Pipeline;

    fn deref(&self) -> &Pipeline {
        &self.pipeline
    }
}

impl Drop for Handle {
    /// The last tracker handle writes what is pending even when a layer keeps the pipeline
    /// running (as a global subscriber's does): dropping the tracker at the end of `main` is
    /// how such an application stores its last errors before it exits.
    fn drop(&mut self) {
        self.shared.flush(self.shared.settings.shutdown_timeout);
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let deadline = Instant::now() + self.shared.settings.shutdown_timeout;
        self.shared.flush(self.shared.settings.shutdown_timeout);
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.buffer.wake_worker();
        let mut progress = self.shared.progress.lock();
        while progress.worker_running {
            if self
                .shared
                .progress_changed
                .wait_until(&mut progress, deadline)
                .timed_out()
            {
                // The store is stuck: leave the thread behind rather than hang the caller.
                drop(progress);
                if let Some(notify) = &self.notify {
                    notify.shutdown(deadline);
                }
                return;
            }
        }
        drop(progress);
        if let Some(worker) = self.worker.lock().take() {
            let _ = worker.join();
        }
        // After the worker, so that its last batch is handed over first.
        if let Some(notify) = &self.notify {
            notify.shutdown(deadline);
        }
    }
}

/// The error tracker: owns the worker and the store; cheap to clone.
///
/// Dropping the last clone writes what is pending (waiting at most the shutdown timeout).
/// The worker runs as long as a clone or a layer made from one ([`ErrorTracker::layer`])
/// exists: a layer kept by a subscriber goes on capturing and storing after the tracker is
/// dropped, and the worker stops (writing what is pending) when the last of them goes. An
/// application whose layer is installed for good (`.init()`) drops its tracker, or calls
/// [`ErrorTracker::flush`], at the end of `main` to store its last errors before it exits.
#[derive(Clone)]
pub struct ErrorTracker {
    inner: Arc<Handle>,
}

impl std::fmt::Debug for ErrorTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorTracker")
            .field("settings", &self.inner.shared.settings)
            .finish_non_exhaustive()
    }
}

impl ErrorTracker {
    /// A builder with the default settings.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The `tracing` layer that captures errors for this tracker.
    pub fn layer<S>(&self) -> ErrorTrackerLayer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        ErrorTrackerLayer::new(self.inner.shared.clone(), self.inner.pipeline.clone())
    }

    /// The tower middleware for `http` services (feature `http`), recording the statuses set
    /// with [`Builder::capture_statuses`] or the `[http]` settings; see [`crate::http`].
    #[cfg(feature = "http")]
    pub fn http_layer(&self) -> crate::http::HttpLayer {
        crate::http::HttpLayer::from_config(&self.inner.http)
    }

    /// Captures panics from now on (chained in front of the current panic hook); each is
    /// stored before the hook returns, waiting at most the panic flush timeout.
    /// Calling it again does nothing.
    pub fn install_panic_hook(&self) {
        if self
            .inner
            .shared
            .panic_hook_installed
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        panic::install(self.inner.shared.clone());
    }

    /// Waits until every error captured so far is in the store, at most `timeout`; true
    /// when it is.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.inner.shared.flush(timeout)
    }

    /// Waits until every error captured so far is stored and every notification it made
    /// due was dealt with (sent, found not due, deferred by a cooldown or held back for a
    /// digest), at most `timeout`; true when that is so. Without notifier or ticketing, the
    /// same as [`ErrorTracker::flush`]. False while sends are failing and being retried.
    pub fn flush_notifications(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        if !self.inner.shared.flush(timeout) {
            return false;
        }
        match &self.inner.notify {
            Some(notify) => notify.shared.wait_settled(deadline),
            None => true,
        }
    }

    /// Page `page` (1-based) of all errors, newest first, with the configured page size.
    pub fn errors(&self, page: usize) -> Result<Page<ErrorSummary>, StoreError> {
        self.list(&ListQuery::page(page, self.page_size()))
    }

    /// A filtered page of errors.
    ///
    /// A store that panics (a damaged file can make a storage engine do so) gives
    /// [`StoreError::Corrupt`], counted in [`TrackerStats::hook_panics`].
    pub fn list(&self, query: &ListQuery) -> Result<Page<ErrorSummary>, StoreError> {
        self.guarded_read(|store| store.list(query))
    }

    /// One error with its samples; a panicking store is handled as for [`ErrorTracker::list`].
    pub fn error(&self, fingerprint: &str) -> Result<Option<ErrorGroup>, StoreError> {
        self.guarded_read(|store| store.get(fingerprint))
    }

    fn guarded_read<T>(
        &self,
        read: impl FnOnce(&dyn Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let store = self.store().as_ref();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(store))).unwrap_or_else(
            |_| {
                self.inner
                    .shared
                    .counters
                    .hook_panics
                    .fetch_add(1, Ordering::Relaxed);
                Err(StoreError::Corrupt(
                    "the store panicked while reading; its data is probably damaged".to_owned(),
                ))
            },
        )
    }

    /// The store, for status changes, deletion and purging.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.shared.store
    }

    /// The configured page size.
    pub fn page_size(&self) -> usize {
        self.inner.shared.settings.page_size
    }

    /// What the tracker has done so far.
    pub fn stats(&self) -> TrackerStats {
        let shared = &self.inner.shared;
        let counters = &shared.counters;
        TrackerStats {
            captured: shared.buffer.accepted(),
            stored: counters.stored.load(Ordering::Relaxed),
            lost: shared.buffer.refused() + shared.buffer.unsaved(),
            refused: shared.buffer.refused(),
            unsaved: shared.buffer.unsaved(),
            budget_dropped_samples: shared.buffer.budget_dropped(),
            pending_bytes: shared.buffer.held_bytes() as u64,
            dropped_samples: shared.buffer.dropped_samples()
                + counters.dropped_samples.load(Ordering::Relaxed),
            store_failures: counters.store_failures.load(Ordering::Relaxed),
            last_store_error: shared.last_store_error.lock().clone(),
            hook_panics: counters.hook_panics.load(Ordering::Relaxed)
                + self
                    .inner
                    .notify
                    .as_ref()
                    .map_or(0, |n| n.shared.hook_panics.load(Ordering::Relaxed)),
            last_hook_error: shared.last_hook_error.lock().clone(),
            notifications: self
                .inner
                .notify
                .as_ref()
                .map(|n| n.shared.stats())
                .unwrap_or_default(),
            internal_panics: counters.internal_panics.load(Ordering::Relaxed)
                + self
                    .inner
                    .notify
                    .as_ref()
                    .map_or(0, |n| n.shared.internal_panics.load(Ordering::Relaxed)),
            reentrant_captures: counters.reentrant.load(Ordering::Relaxed),
            filtered: counters.filtered.load(Ordering::Relaxed),
        }
    }
}

#[cfg(feature = "dashboard")]
impl ErrorTracker {
    /// A web dashboard over this tracker's store, with its page size. It denies every request
    /// until given a [`crate::dashboard::ViewPermission`] with
    /// [`crate::dashboard::Dashboard::permission`].
    pub fn dashboard(&self) -> crate::dashboard::Dashboard {
        let dashboard =
            crate::dashboard::Dashboard::new(self.store().clone()).page_size(self.page_size());
        match &self.inner.pipeline.shared.settings.trace_url {
            Some(template) => dashboard.trace_url(template.clone()),
            None => dashboard,
        }
    }
}
