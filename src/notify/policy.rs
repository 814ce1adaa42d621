//! When to notify: a function of the stored error and what was already notified about it.

use std::time::Duration;

use time::OffsetDateTime;

use super::Reason;
use crate::config::EmailConfig;
use crate::store::{ErrorGroup, NotificationState, Status};

/// When errors are notified; every part is configurable (see `docs/notifications.md`).
///
/// A notification is *due* for an unresolved error that was never notified (new), that
/// regressed more often than was notified, or whose count reached a milestone above the
/// highest notified. Ignored and resolved errors are never due. A due notification waits
/// while the error is in its cooldown, and is held back for the window's digest when the
/// cap is reached. Every notification covers everything up to the error's count when it is
/// sent: a new error first notified at 15 occurrences does not notify milestone 10 later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyPolicy {
    /// Notify new errors (default true).
    pub on_new: bool,
    /// Notify regressions: resolved errors seen again (default true).
    pub on_regression: bool,
    /// Occurrence counts worth a notification (default 10, 100, 1,000, 10,000).
    pub milestones: Vec<u64>,
    /// Least time between two notifications about one error (default 1 hour). A notification
    /// due sooner is sent when the cooldown ends, for the error as it is then (the highest
    /// milestone reached, not one per milestone).
    pub cooldown: Duration,
    /// Most notifications about single errors per window (default 60); what is due beyond
    /// it goes into one digest at the end of the window. At least 1.
    pub max_per_window: u32,
    /// The window the cap counts in (default 1 hour).
    pub window: Duration,
    /// Most tickets filed per window (default 10). A burst of new errors (a bad deploy, a
    /// dependency down) would otherwise open one ticket each in the issue tracker; the errors
    /// beyond the cap get theirs in the windows that follow. At least 1.
    pub max_tickets_per_window: u32,
    /// First wait after a failed send (default 1 s); doubled on each failure in a row.
    pub retry_initial: Duration,
    /// Longest wait between two attempts to send (default 5 minutes).
    pub retry_max: Duration,
    /// At start, and after dropped hand-offs, unresolved errors seen within this long are
    /// checked for notifications that are due (default 24 hours).
    pub recovery_window: Duration,
    /// Most errors the check at start reads, the most recently seen (default 1,000); the
    /// check after dropped hand-offs reads every error within the window.
    pub recovery_limit: usize,
}

impl Default for NotifyPolicy {
    fn default() -> Self {
        NotifyPolicy {
            on_new: true,
            on_regression: true,
            milestones: vec![10, 100, 1_000, 10_000],
            cooldown: Duration::from_secs(3600),
            max_per_window: 60,
            window: Duration::from_secs(3600),
            max_tickets_per_window: 10,
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            recovery_window: Duration::from_secs(24 * 3600),
            recovery_limit: 1_000,
        }
    }
}

/// What to do about one error now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Nothing is due.
    Nothing,
    /// Due, but the error is in its cooldown until then.
    Wait(Reason, OffsetDateTime),
    /// Due now.
    Send(Reason),
}

impl NotifyPolicy {
    /// The policy the `[email]` settings describe (the retry and recovery parts keep their
    /// defaults).
    pub fn from_config(email: &EmailConfig) -> Self {
        NotifyPolicy {
            on_new: email.notify_new,
            on_regression: email.notify_regressions,
            milestones: email.milestones.clone(),
            cooldown: Duration::from_secs(email.cooldown_secs),
            max_per_window: email.max_per_hour,
            ..NotifyPolicy::default()
        }
    }

    /// Checks the values that cannot work; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_per_window == 0 {
            return Err("max_per_window must be at least 1".to_owned());
        }
        if self.max_tickets_per_window == 0 {
            return Err("max_tickets_per_window must be at least 1".to_owned());
        }
        if self.window.is_zero() {
            return Err("window must be above zero".to_owned());
        }
        if self.retry_initial.is_zero() || self.retry_max < self.retry_initial {
            return Err("retry_initial must be above zero and at most retry_max".to_owned());
        }
        if self.milestones.contains(&0) {
            return Err("milestones start at 1".to_owned());
        }
        Ok(())
    }

    /// The highest milestone `count` has reached.
    fn milestone(&self, count: u64) -> u64 {
        self.milestones
            .iter()
            .copied()
            .filter(|&m| m <= count)
            .max()
            .unwrap_or(0)
    }

    /// True when going from `previous` to `count` occurrences crosses a milestone: the
    /// worker's cheap filter for what is worth handing to the notifier thread.
    pub(crate) fn crosses_milestone(&self, previous: u64, count: u64) -> bool {
        self.milestones.iter().any(|&m| previous < m && m <= count)
    }

    /// The notification due for `error`, given what was notified (`state`), ignoring the
    /// cooldown.
    pub fn due(&self, error: &ErrorGroup, state: &NotificationState) -> Option<Reason> {
        if error.summary.status != Status::Unresolved {
            return None;
        }
        if self.on_new && !state.new_notified {
            return Some(Reason::New);
        }
        if self.on_regression && error.regressions > state.regressions_notified {
            return Some(Reason::Regression {
                regressions: error.regressions,
            });
        }
        let milestone = self.milestone(error.summary.count);
        if milestone > state.milestone_notified {
            return Some(Reason::Milestone { milestone });
        }
        None
    }

    /// [`NotifyPolicy::due`], with the cooldown.
    pub(crate) fn decide(
        &self,
        error: &ErrorGroup,
        state: &NotificationState,
        now: OffsetDateTime,
    ) -> Decision {
        let Some(reason) = self.due(error, state) else {
            return Decision::Nothing;
        };
        // Saturating: a cooldown too long to represent lasts for ever, it does not wrap
        // round to none at all.
        let cooldown_end = state.last_sent.map(|last| {
            time::Duration::try_from(self.cooldown)
                .ok()
                .and_then(|cooldown| last.checked_add(cooldown))
                .unwrap_or(time::PrimitiveDateTime::MAX.assume_utc())
        });
        match cooldown_end {
            Some(end) if end > now => Decision::Wait(reason, end),
            _ => Decision::Send(reason),
        }
    }

    /// The state once a notification about `error` was sent at `now`: it covers everything
    /// up to the error's current count.
    pub fn after_send(
        &self,
        error: &ErrorGroup,
        state: &NotificationState,
        now: OffsetDateTime,
    ) -> NotificationState {
        NotificationState {
            new_notified: true,
            milestone_notified: state
                .milestone_notified
                .max(self.milestone(error.summary.count)),
            regressions_notified: state.regressions_notified.max(error.regressions),
            sent: state.sent.saturating_add(1),
            last_sent: Some(state.last_sent.map_or(now, |last| last.max(now))),
        }
    }

    /// The wait before attempt `failures + 1` after `failures` failures in a row.
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        self.retry_initial
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(20)))
            .min(self.retry_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Occurrence;
    use crate::store::ErrorSummary;

    fn error(count: u64, status: Status, regressions: u64) -> ErrorGroup {
        let sample = Occurrence::new("E", "boom");
        ErrorGroup {
            summary: ErrorSummary {
                fingerprint: "f".into(),
                grouping_version: 1,
                kind: "E".into(),
                message: "boom".into(),
                level: sample.level,
                location: Default::default(),
                count,
                first_seen: sample.time,
                last_seen: sample.time,
                status,
                regressed: regressions > 0,
                first_release: None,
                last_release: None,
                resolved_in: None,
            },
            samples: vec![sample],
            dropped_samples: 0,
            regressions,
            notification: NotificationState::default(),
            ticket: None,
        }
    }

    #[test]
    fn new_then_milestones_then_regressions() {
        let policy = NotifyPolicy::default();
        let now = OffsetDateTime::now_utc();
        let mut state = NotificationState::default();
        let e = error(15, Status::Unresolved, 0);
        assert_eq!(policy.due(&e, &state), Some(Reason::New));
        state = policy.after_send(&e, &state, now);
        // Milestone 10 was reached before the first notice: covered by it.
        assert_eq!(policy.due(&e, &state), None);
        assert_eq!(
            policy.due(&error(150, Status::Unresolved, 0), &state),
            Some(Reason::Milestone { milestone: 100 })
        );
        assert_eq!(
            policy.due(&error(15, Status::Unresolved, 1), &state),
            Some(Reason::Regression { regressions: 1 })
        );
        assert_eq!(policy.due(&error(5000, Status::Ignored, 3), &state), None);
        assert_eq!(policy.due(&error(5000, Status::Resolved, 3), &state), None);
    }

    #[test]
    fn cooldown_defers_and_backoff_is_bounded() {
        let policy = NotifyPolicy::default();
        let now = OffsetDateTime::now_utc();
        let e = error(1, Status::Unresolved, 0);
        let state = policy.after_send(&e, &NotificationState::default(), now);
        let later = error(120, Status::Unresolved, 0);
        let reason = Reason::Milestone { milestone: 100 };
        assert_eq!(
            policy.decide(&later, &state, now + time::Duration::minutes(5)),
            Decision::Wait(reason, now + time::Duration::hours(1))
        );
        assert_eq!(
            policy.decide(&later, &state, now + time::Duration::hours(2)),
            Decision::Send(reason)
        );
        for huge in [Duration::MAX, Duration::from_secs(u64::MAX / 2)] {
            let policy = NotifyPolicy {
                cooldown: huge,
                ..NotifyPolicy::default()
            };
            assert!(
                matches!(
                    policy.decide(&later, &state, now + time::Duration::days(365 * 100)),
                    Decision::Wait(..)
                ),
                "a cooldown of {huge:?} is not disabled by an overflow"
            );
        }
        assert_eq!(policy.backoff(1), Duration::from_secs(1));
        assert_eq!(policy.backoff(3), Duration::from_secs(4));
        assert_eq!(policy.backoff(100), Duration::from_secs(300));
        assert!(policy.crosses_milestone(9, 10));
        assert!(!policy.crosses_milestone(10, 99));
    }
}
