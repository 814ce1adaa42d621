//! Error types of other crates, captured with what they carry: `anyhow::Error` (feature
//! `anyhow`) and `eyre::Report` (feature `eyre`).

/// Defines `$trait`, the `result.track()` / `track_silent()` extension of
/// `Result<T, $error>`, capturing with `$capture`.
#[cfg_attr(not(any(feature = "anyhow", feature = "eyre")), allow(unused_macros))]
macro_rules! track_trait {
    ($(#[$doc:meta])* $trait:ident, $error:ty, $capture:path) => {
        $(#[$doc])*
        pub trait $trait<T> {
            /// Captures the error, if any, and returns the result unchanged.
            #[track_caller]
            fn track(self) -> Self;

            /// Captures the error, if any, and turns the result into an `Option`.
            #[track_caller]
            fn track_silent(self) -> Option<T>;
        }

        impl<T> $trait<T> for Result<T, $error> {
            #[track_caller]
            fn track(self) -> Self {
                if let Err(error) = &self {
                    $capture(error);
                }
                self
            }

            #[track_caller]
            fn track_silent(self) -> Option<T> {
                match self {
                    Ok(value) => Some(value),
                    Err(error) => {
                        $capture(&error);
                        None
                    }
                }
            }
        }
    };
}

#[cfg(feature = "anyhow")]
pub(crate) mod anyhow;
#[cfg(feature = "eyre")]
pub(crate) mod eyre;
