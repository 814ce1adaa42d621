//! Error types of other crates, captured with what they carry: `anyhow::Error` (feature
//! `anyhow`) and `eyre::Report` (feature `eyre`).

#[cfg(feature = "anyhow")]
pub(crate) mod anyhow;
#[cfg(feature = "eyre")]
pub(crate) mod eyre;
