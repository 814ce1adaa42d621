//! Reads inside one read transaction: listing pages, one group with its samples, histograms.

use ::redb::{ReadOnlyTable, ReadTransaction, ReadableTable, StorageError};
use time::OffsetDateTime;

use super::error::Fail;
use super::layout::{
    BY_RECENT, BY_STATUS, COUNTERS, Counters, CountersRow, GROUPS, GroupInfo, HOURLY, META,
    SAMPLES, TOTAL_KEY, hour_of, hour_start, status_code, status_key, to_nanos,
};
use crate::occurrence::Occurrence;
use crate::store::{ErrorGroup, ErrorSummary, ListQuery, Page, StoreError};

/// The tables readers use, opened once per read transaction.
pub(super) struct Reader {
    meta: ReadOnlyTable<&'static str, u64>,
    groups: ReadOnlyTable<&'static str, &'static [u8]>,
    counters: ReadOnlyTable<&'static str, CountersRow>,
    by_recent: ReadOnlyTable<(u64, &'static str), ()>,
    by_status: ReadOnlyTable<(u8, u64, &'static str), ()>,
    samples: ReadOnlyTable<(&'static str, i64, u128), &'static [u8]>,
    hourly: ReadOnlyTable<(&'static str, u32), u64>,
}

fn corrupt(message: String) -> Fail {
    Fail::Store(StoreError::Corrupt(message))
}

type Fingerprints<'a> = Box<dyn Iterator<Item = Result<String, StorageError>> + 'a>;

impl Reader {
    pub fn open(txn: &ReadTransaction) -> Result<Self, Fail> {
        Ok(Reader {
            meta: txn.open_table(META)?,
            groups: txn.open_table(GROUPS)?,
            counters: txn.open_table(COUNTERS)?,
            by_recent: txn.open_table(BY_RECENT)?,
            by_status: txn.open_table(BY_STATUS)?,
            samples: txn.open_table(SAMPLES)?,
            hourly: txn.open_table(HOURLY)?,
        })
    }

    fn load_counters(&self, fp: &str) -> Result<Option<Counters>, Fail> {
        match self.counters.get(fp)? {
            None => Ok(None),
            Some(row) => Counters::from_row(row.value())
                .map(Some)
                .ok_or_else(|| corrupt(format!("the counters of {fp} hold an unknown status"))),
        }
    }

    fn summary(&self, fp: &str) -> Result<Option<ErrorSummary>, Fail> {
        let Some(counters) = self.load_counters(fp)? else {
            return Ok(None);
        };
        let Some(json) = self.groups.get(fp)? else {
            return Err(corrupt(format!("{fp} has counters but no group")));
        };
        let info: GroupInfo = serde_json::from_slice(json.value())
            .map_err(|err| corrupt(format!("the group {fp} cannot be read: {err}")))?;
        Ok(Some(info.into_summary(fp, counters)))
    }

    /// Like [`Self::summary`], for a fingerprint an index names: it must exist.
    fn indexed_summary(&self, fp: &str) -> Result<ErrorSummary, Fail> {
        self.summary(fp)?
            .ok_or_else(|| corrupt(format!("an index names {fp}, which has no counters")))
    }

    /// The fingerprints matching `query`'s status filter, newest first.
    fn fingerprints(&self, query: &ListQuery) -> Result<Fingerprints<'_>, Fail> {
        Ok(match query.status {
            None => Box::new(
                self.by_recent
                    .iter()?
                    .map(|entry| entry.map(|(key, _)| key.value().1.to_owned())),
            ),
            Some(status) => {
                let code = status_code(status);
                Box::new(
                    self.by_status
                        .range::<(u8, u64, &str)>((code, 0, "")..(code + 1, 0, ""))?
                        .map(|entry| entry.map(|(key, _)| key.value().2.to_owned())),
                )
            }
        })
    }

    /// One page of `query`. Without a search text this walks the index only as far as the
    /// page and reads the total from `meta`; a search reads every group the status filter
    /// lets through, since a substring cannot be indexed.
    pub fn list(&self, query: &ListQuery) -> Result<Page<ErrorSummary>, Fail> {
        let offset = query.offset();
        let searching = query
            .search
            .as_deref()
            .is_some_and(|text| !text.trim().is_empty());
        let mut items = Vec::with_capacity(query.page_size.min(1024));
        let total = if searching {
            let mut matches = 0usize;
            for fp in self.fingerprints(query)? {
                let summary = self.indexed_summary(&fp?)?;
                if query.matches(&summary) {
                    if matches >= offset && items.len() < query.page_size {
                        items.push(summary);
                    }
                    matches += 1;
                }
            }
            matches as u64
        } else {
            for fp in self.fingerprints(query)?.skip(offset).take(query.page_size) {
                items.push(self.indexed_summary(&fp?)?);
            }
            let key = query.status.map_or(TOTAL_KEY, status_key);
            self.meta.get(key)?.map_or(0, |v| v.value())
        };
        Ok(Page {
            items,
            page: query.page,
            page_size: query.page_size,
            total,
        })
    }

    pub fn get(&self, fp: &str) -> Result<Option<ErrorGroup>, Fail> {
        let Some(summary) = self.summary(fp)? else {
            return Ok(None);
        };
        let dropped_samples = self.load_counters(fp)?.map_or(0, |c| c.dropped_samples);
        let mut samples = Vec::new();
        for entry in self
            .samples
            .range((fp, i64::MIN, 0)..=(fp, i64::MAX, u128::MAX))?
        {
            let (_, json) = entry?;
            let sample: Occurrence = serde_json::from_slice(json.value())
                .map_err(|err| corrupt(format!("a sample of {fp} cannot be read: {err}")))?;
            samples.push(sample);
        }
        Ok(Some(ErrorGroup {
            summary,
            samples,
            dropped_samples,
        }))
    }

    pub fn hourly_counts(
        &self,
        fp: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<(OffsetDateTime, u64)>, Fail> {
        let first = hour_of(to_nanos(since));
        let mut counts = Vec::new();
        for entry in self.hourly.range((fp, first)..=(fp, u32::MAX))? {
            let (key, count) = entry?;
            let count = count.value();
            if count > 0 {
                counts.push((hour_start(key.value().1), count));
            }
        }
        Ok(counts)
    }
}
