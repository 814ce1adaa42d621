//! An in-memory [`Store`]: for tests, short-lived tools, and as the reference for the contract.

use std::collections::{BTreeMap, HashMap};

use parking_lot::RwLock;
use time::OffsetDateTime;

use super::{
    Change, ErrorGroup, ErrorSummary, GroupUpdate, ListQuery, NotificationState, Page,
    RecordOutcome, Status, Store, StoreError, merge_samples,
};

/// Keeps error groups in a hash map. Listing sorts the matching groups, so it costs
/// O(n log n) in the number of groups: fine for thousands, not for a long-lived service
/// with a hundred thousand groups (use the persistent store there).
#[derive(Debug, Default)]
pub struct MemoryStore {
    groups: RwLock<HashMap<String, MemoryGroup>>,
}

#[derive(Debug)]
struct MemoryGroup {
    group: ErrorGroup,
    /// Occurrences per hour since the epoch.
    hourly: BTreeMap<i64, u64>,
}

fn hour_of(time: OffsetDateTime) -> i64 {
    time.unix_timestamp().div_euclid(3600)
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many groups it holds.
    pub fn len(&self) -> usize {
        self.groups.read().len()
    }

    /// True when it holds no group.
    pub fn is_empty(&self) -> bool {
        self.groups.read().is_empty()
    }
}

fn new_group(update: &GroupUpdate) -> Result<MemoryGroup, StoreError> {
    let first = update.samples.first().ok_or_else(|| {
        StoreError::InvalidInput(format!("update for {} has no sample", update.fingerprint))
    })?;
    let group = ErrorGroup {
        summary: ErrorSummary {
            fingerprint: update.fingerprint.clone(),
            grouping_version: update.grouping_version,
            kind: first.kind.clone(),
            message: first.message.clone(),
            level: first.level,
            location: first.location.clone(),
            count: 0,
            first_seen: update.first_seen,
            last_seen: update.last_seen,
            status: Status::Unresolved,
            regressed: false,
            first_release: first.release.clone(),
            last_release: None,
            resolved_in: None,
        },
        samples: Vec::new(),
        dropped_samples: 0,
        regressions: 0,
        notification: NotificationState::default(),
        ticket: None,
    };
    Ok(MemoryGroup {
        group,
        hourly: BTreeMap::new(),
    })
}

/// The release of an update: that of its newest sample (one process has one release).
pub(crate) fn update_release(update: &GroupUpdate) -> Option<&str> {
    update
        .samples
        .last()
        .and_then(|sample| sample.release.as_deref())
}

impl Store for MemoryStore {
    fn record(&self, batch: &[GroupUpdate]) -> Result<Vec<RecordOutcome>, StoreError> {
        let mut groups = self.groups.write();
        // Validate the whole batch first so that a bad update leaves nothing half-applied.
        if let Some(bad) = batch.iter().find(|u| u.samples.is_empty()) {
            return Err(StoreError::InvalidInput(format!(
                "update for {} has no sample",
                bad.fingerprint
            )));
        }
        let mut outcomes = Vec::with_capacity(batch.len());
        for update in batch {
            let (stored, mut change) = match groups.get_mut(&update.fingerprint) {
                Some(stored) => (stored, Change::Repeated),
                None => {
                    let stored = new_group(update)?;
                    (
                        groups.entry(update.fingerprint.clone()).or_insert(stored),
                        Change::New,
                    )
                }
            };
            *stored.hourly.entry(hour_of(update.last_seen)).or_default() += update.count;
            let group = &mut stored.group;
            let summary = &mut group.summary;
            let release = update_release(update);
            let regressed = summary.status == Status::Resolved
                && summary
                    .resolved_in
                    .as_ref()
                    .is_none_or(|resolved| resolved.reopens(release));
            let previous_count = summary.count;
            summary.count = summary.count.saturating_add(update.count);
            summary.first_seen = summary.first_seen.min(update.first_seen);
            summary.last_seen = summary.last_seen.max(update.last_seen);
            summary.last_release = crate::release::latest(summary.last_release.take(), release);
            if regressed {
                summary.status = Status::Unresolved;
                summary.regressed = true;
                summary.resolved_in = None;
                change = Change::Regressed;
            }
            if regressed {
                group.regressions += 1;
            }
            group.dropped_samples += update.dropped_samples
                + merge_samples(
                    &mut group.samples,
                    update.samples.iter().cloned(),
                    update.keep_samples,
                );
            outcomes.push(RecordOutcome {
                fingerprint: update.fingerprint.clone(),
                change,
                previous_count,
                count: group.summary.count,
                status: group.summary.status,
            });
        }
        Ok(outcomes)
    }

    fn list(&self, query: &ListQuery) -> Result<Page<ErrorSummary>, StoreError> {
        query.validate()?;
        let groups = self.groups.read();
        let mut matching: Vec<&ErrorSummary> = groups
            .values()
            .map(|g| &g.group.summary)
            .filter(|s| query.matches(s))
            .collect();
        matching.sort_by(|a, b| {
            b.last_seen
                .cmp(&a.last_seen)
                .then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        Ok(Page {
            total: matching.len() as u64,
            items: matching
                .into_iter()
                .skip(query.offset())
                .take(query.page_size)
                .cloned()
                .collect(),
            page: query.page,
            page_size: query.page_size,
        })
    }

    fn get(&self, fingerprint: &str) -> Result<Option<ErrorGroup>, StoreError> {
        Ok(self
            .groups
            .read()
            .get(fingerprint)
            .map(|stored| stored.group.clone()))
    }

    fn set_status(&self, fingerprint: &str, status: Status) -> Result<bool, StoreError> {
        Ok(match self.groups.write().get_mut(fingerprint) {
            Some(stored) => {
                let summary = &mut stored.group.summary;
                summary.status = status;
                summary.resolved_in = None;
                if status == Status::Resolved {
                    summary.regressed = false;
                }
                true
            }
            None => false,
        })
    }

    fn resolve_in(
        &self,
        fingerprint: &str,
        resolved_in: crate::ResolvedIn,
    ) -> Result<bool, StoreError> {
        Ok(match self.groups.write().get_mut(fingerprint) {
            Some(stored) => {
                let summary = &mut stored.group.summary;
                summary.status = Status::Resolved;
                summary.regressed = false;
                summary.resolved_in = Some(resolved_in);
                true
            }
            None => false,
        })
    }

    fn set_notification(
        &self,
        fingerprint: &str,
        state: &NotificationState,
    ) -> Result<bool, StoreError> {
        Ok(match self.groups.write().get_mut(fingerprint) {
            Some(stored) => {
                stored.group.notification.merge(state);
                true
            }
            None => false,
        })
    }

    fn set_ticket(&self, fingerprint: &str, ticket: &str) -> Result<bool, StoreError> {
        Ok(match self.groups.write().get_mut(fingerprint) {
            Some(stored) => {
                stored.group.ticket = Some(ticket.to_owned());
                true
            }
            None => false,
        })
    }

    fn delete(&self, fingerprint: &str) -> Result<bool, StoreError> {
        Ok(self.groups.write().remove(fingerprint).is_some())
    }

    fn purge(&self, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
        let mut groups = self.groups.write();
        let before = groups.len();
        groups.retain(|_, g| g.group.summary.last_seen >= cutoff);
        Ok((before - groups.len()) as u64)
    }

    fn hourly_counts(
        &self,
        fingerprint: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<(OffsetDateTime, u64)>, StoreError> {
        let groups = self.groups.read();
        let Some(stored) = groups.get(fingerprint) else {
            return Ok(Vec::new());
        };
        Ok(stored
            .hourly
            .range(hour_of(since)..)
            .filter(|&(_, &count)| count > 0)
            .filter_map(|(&hour, &count)| {
                // Hours come from valid times, so their starts are valid times too.
                let start = OffsetDateTime::from_unix_timestamp(hour.checked_mul(3600)?).ok()?;
                Some((start, count))
            })
            .collect())
    }
}
