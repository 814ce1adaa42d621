//! An in-memory [`Store`]: for tests, short-lived tools, and as the reference for the contract.

use std::collections::HashMap;

use parking_lot::RwLock;
use time::OffsetDateTime;

use super::{
    Change, ErrorGroup, ErrorSummary, GroupUpdate, ListQuery, Page, RecordOutcome, Status, Store,
    StoreError, merge_samples,
};

/// Keeps error groups in a hash map. Listing sorts the matching groups, so it costs
/// O(n log n) in the number of groups: fine for thousands, not for a long-lived service
/// with a hundred thousand groups (use the persistent store there).
#[derive(Debug, Default)]
pub struct MemoryStore {
    groups: RwLock<HashMap<String, ErrorGroup>>,
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

fn new_group(update: &GroupUpdate) -> Result<ErrorGroup, StoreError> {
    let first = update.samples.first().ok_or_else(|| {
        StoreError::InvalidInput(format!("update for {} has no sample", update.fingerprint))
    })?;
    Ok(ErrorGroup {
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
        },
        samples: Vec::new(),
        dropped_samples: 0,
    })
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
            let (group, mut change) = match groups.get_mut(&update.fingerprint) {
                Some(group) => (group, Change::Repeated),
                None => {
                    let group = new_group(update)?;
                    (
                        groups.entry(update.fingerprint.clone()).or_insert(group),
                        Change::New,
                    )
                }
            };
            let summary = &mut group.summary;
            let previous_count = summary.count;
            summary.count = summary.count.saturating_add(update.count);
            summary.first_seen = summary.first_seen.min(update.first_seen);
            summary.last_seen = summary.last_seen.max(update.last_seen);
            if summary.status == Status::Resolved {
                summary.status = Status::Unresolved;
                summary.regressed = true;
                change = Change::Regressed;
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
            .map(|g| &g.summary)
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
        Ok(self.groups.read().get(fingerprint).cloned())
    }

    fn set_status(&self, fingerprint: &str, status: Status) -> Result<bool, StoreError> {
        Ok(match self.groups.write().get_mut(fingerprint) {
            Some(group) => {
                group.summary.status = status;
                if status == Status::Resolved {
                    group.summary.regressed = false;
                }
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
        groups.retain(|_, g| g.summary.last_seen >= cutoff);
        Ok((before - groups.len()) as u64)
    }
}
