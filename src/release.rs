//! Releases: which build an occurrence came from, and "resolved in release X" (an occurrence
//! of an older release, during a rolling deploy, does not reopen an error resolved in X).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// The calling crate's `name@version` (its `CARGO_PKG_NAME` and `CARGO_PKG_VERSION`), for
/// [`crate::Builder::release`]:
///
/// ```
/// let tracker = error_tracker::ErrorTracker::builder()
///     .in_memory()
///     .release(error_tracker::release!())
///     .build()?;
/// # drop(tracker);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[macro_export]
macro_rules! release {
    () => {
        concat!(env!("CARGO_PKG_NAME"), "@", env!("CARGO_PKG_VERSION"))
    };
}

/// Which releases reopen a resolved error (see [`crate::Store::resolve_in`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResolvedIn {
    /// Fixed in this release: an occurrence from it or a newer one reopens the error, one
    /// from an older release does not.
    Release(String),
    /// Fixed in the release after this one (the newest seen when it was resolved; `None`
    /// when no release was known): only an occurrence from a newer release reopens it.
    NextAfter(Option<String>),
}

impl ResolvedIn {
    /// Whether an occurrence from `release` reopens an error resolved this way. An
    /// occurrence without a release, or from a release that cannot be compared (not
    /// `major.minor.patch`, after an optional `name@` and `v`), reopens it unless it names the
    /// same release.
    pub fn reopens(&self, release: Option<&str>) -> bool {
        let Some(release) = release else {
            return true;
        };
        match self {
            ResolvedIn::Release(fixed) => compare(release, fixed) != Some(Ordering::Less),
            ResolvedIn::NextAfter(None) => true,
            ResolvedIn::NextAfter(Some(last)) => !matches!(
                compare(release, last),
                Some(Ordering::Less | Ordering::Equal)
            ),
        }
    }

    /// A short text for pages and tools: `"in 1.4.0"`, `"in the release after 1.3.2"`.
    pub fn describe(&self) -> String {
        match self {
            ResolvedIn::Release(release) => format!("in {release}"),
            ResolvedIn::NextAfter(Some(release)) => format!("in the release after {release}"),
            ResolvedIn::NextAfter(None) => "in the next release".to_owned(),
        }
    }
}

/// Orders two releases by their semantic versions; equal texts are equal; `None` when either
/// is no version.
pub(crate) fn compare(a: &str, b: &str) -> Option<Ordering> {
    if a == b {
        return Some(Ordering::Equal);
    }
    let version = |text: &str| {
        let text = text.rsplit_once('@').map_or(text, |(_, version)| version);
        semver::Version::parse(text.strip_prefix('v').unwrap_or(text)).ok()
    };
    Some(version(a)?.cmp(&version(b)?))
}

/// The newer of the last release seen and the one just seen: by version where both are
/// versions, else the one just seen.
pub(crate) fn latest(seen: Option<String>, new: Option<&str>) -> Option<String> {
    match (seen, new) {
        (seen, None) => seen,
        (Some(seen), Some(new)) if compare(new, &seen) == Some(Ordering::Less) => Some(seen),
        (_, Some(new)) => Some(new.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_compare_by_version() {
        assert_eq!(
            compare("shop@1.10.0", "shop@1.9.3"),
            Some(Ordering::Greater)
        );
        assert_eq!(compare("v2.0.0-rc.1", "2.0.0"), Some(Ordering::Less));
        assert_eq!(compare("abc123", "abc123"), Some(Ordering::Equal));
        assert_eq!(compare("abc123", "def456"), None);
    }

    #[test]
    fn a_resolution_in_a_release_is_reopened_by_it_and_newer_ones_only() {
        let fixed = ResolvedIn::Release("1.4.0".into());
        assert!(!fixed.reopens(Some("1.3.9")));
        assert!(fixed.reopens(Some("1.4.0")));
        assert!(fixed.reopens(Some("1.5.0")));
        assert!(fixed.reopens(Some("build-77")), "not comparable: reopens");
        assert!(fixed.reopens(None));
        let next = ResolvedIn::NextAfter(Some("1.3.2".into()));
        assert!(!next.reopens(Some("1.3.2")));
        assert!(!next.reopens(Some("1.3.1")));
        assert!(next.reopens(Some("1.3.3")));
        assert!(!ResolvedIn::NextAfter(Some("abc".into())).reopens(Some("abc")));
        assert!(ResolvedIn::NextAfter(Some("abc".into())).reopens(Some("def")));
    }

    #[test]
    fn the_latest_release_is_the_highest_version() {
        assert_eq!(
            latest(Some("1.2.0".into()), Some("1.1.0")).as_deref(),
            Some("1.2.0")
        );
        assert_eq!(
            latest(Some("1.2.0".into()), Some("1.3.0")).as_deref(),
            Some("1.3.0")
        );
        assert_eq!(latest(Some("x".into()), Some("y")).as_deref(), Some("y"));
        assert_eq!(latest(None, None), None);
    }
}
