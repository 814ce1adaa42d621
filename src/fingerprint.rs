//! Grouping: how occurrences of "the same error" get the same fingerprint.
//!
//! Every occurrence gets a fingerprint, 16 lower-case hex digits, and the store groups
//! occurrences by it. Stored fingerprints must keep meaning the same thing across runs,
//! builds, machines and Rust versions, so the algorithm below is part of the crate's
//! contract: any change to it that changes a fingerprint also bumps [`GROUPING_VERSION`].
//!
//! # Computed fingerprints
//!
//! An occurrence is identified by
//!
//! 1. its `tracing` target and its module path (when known);
//! 2. its kinds: the occurrence's `kind`, then the `kind` of every link of its error chain,
//!    outermost first. The chain's first link is usually the captured error itself, so when
//!    its kind equals the occurrence's kind it is not repeated;
//! 3. its message after [`parameterize`] has replaced the variable parts (ids, numbers,
//!    quoted strings, addresses, ...) with placeholders.
//!
//! The source file and line are deliberately left out: an edit elsewhere in the file must
//! not split a group.
//!
//! These parts are written into one canonical byte string, which is hashed with XXH3-64
//! (a specified, portable algorithm, unlike `std`'s `Hash`, whose output may change
//! between Rust versions):
//!
//! ```text
//! "computed\0"  u32-le(GROUPING_VERSION)
//! str(target)
//! 0x00 | 0x01 str(module)                       (absent | present)
//! u64-le(number of kinds)  str(kind)...
//! str(parameterised message)
//! ```
//!
//! where `str(s)` is `u64-le(byte length of s)` followed by the bytes of `s`. The length
//! prefixes make the encoding unambiguous whatever bytes the parts contain. The 64-bit
//! hash is written as 16 lower-case hex digits.
//!
//! # Custom fingerprints
//!
//! An event may carry a `fingerprint` field: a grouping key chosen by the user. Its
//! fingerprint is the XXH3-64 of `"custom\0" str(key)`. The different prefix puts custom
//! keys in their own hash domain, so a key never equals a computed fingerprint by
//! construction rather than by luck. It does not include [`GROUPING_VERSION`]: the user
//! chose that grouping, and a change to how messages are parameterised must not split it.
//!
//! # Parameterisation
//!
//! [`parameterize`] scans the message once with a single regular expression whose
//! alternatives are, in order of preference:
//!
//! | placeholder   | matches                                                               |
//! |---------------|-----------------------------------------------------------------------|
//! | `<email>`     | e-mail addresses (local part ≤ 64 characters, up to 9 domain labels) |
//! | `<str>`       | `'...'`, `"..."` and `` `...` `` on one line, at most 200 characters  |
//! | `<timestamp>` | ISO-8601 / RFC-3339 dates and date-times (`2024-01-31T12:00:00Z`)     |
//! | `<uuid>`      | UUIDs in the hyphenated form                                          |
//! | `<ip>`        | IPv4 addresses with an optional `:port`, IPv6 addresses               |
//! | `<hex>`       | `0x`-prefixed hex numbers                                             |
//! | `<float>`     | decimals and exponent forms: `3.14`, `-0.5`, `1e9`                    |
//! | `<hex>`       | runs of 8 or more hex digits with at least one decimal digit          |
//! | `<int>`       | integers                                                              |
//!
//! The regex engine reports the leftmost match, and among matches starting at the same
//! place, the first alternative; the order above settles the overlaps: a timestamp or an IP
//! address is not cut into numbers, a UUID not into hex runs, a mail address's digits are
//! not replaced on their own, and `1234567890.5` is a float rather than a hex run.
//!
//! Details that decide whether two messages group:
//!
//! - Numbers count only when they start a word: `id=42`, `#42`, `order-42` and
//!   `/users/42/` are parameterised, while `user42`, `utf8`, `v2` and `sha256` are kept
//!   because the digits are part of an identifier. A letter-only suffix is treated as a
//!   unit and kept: `12ms` becomes `<int>ms`, `12.5ms` becomes `<float>ms`. A `-` is part
//!   of the number only when it does not follow a word character.
//! - Digits and word boundaries are ASCII ones: a non-ASCII letter next to a number
//!   separates it like a space does (`用户42` becomes `用户<int>`), and non-ASCII digits
//!   (`٤٢`, `４２`) are not numbers.
//! - A single quote opens a string only when it does not follow a word character and closes
//!   it only when no word character follows, so apostrophes (`can't`, `user's`) are no quotes.
//! - A run of 8 or more hex digits without any decimal digit (`deadbeefcafe`, `facade`) is
//!   a word and stays; one with only decimal digits is an `<int>`.
//! - An IPv6 candidate without any decimal digit stays, so Rust paths such as `Cafe::new`
//!   are kept.
//! - Messages without any ASCII digit, quote or `@` are returned unchanged without running
//!   the regex. (So a UUID made only of letters would be missed; the chance is below 10⁻¹³.)

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use xxhash_rust::xxh3::xxh3_64;

use crate::occurrence::Occurrence;

/// Version of the grouping algorithm; stored with every error so a future change can be told apart.
pub const GROUPING_VERSION: u32 = 1;

/// Domain prefix of computed fingerprints.
const COMPUTED_DOMAIN: &[u8] = b"computed\0";
/// Domain prefix of custom fingerprints; must differ from [`COMPUTED_DOMAIN`].
const CUSTOM_DOMAIN: &[u8] = b"custom\0";

/// The first alternative of [`parameterize`]'s pattern. The order of the alternatives matters
/// (see the module documentation). `-u` (set in [`pattern`]) makes `\b`, `\B` and the
/// classes ASCII-only, which keeps the whole search in the fast DFA engines even on non-ASCII
/// text; the quoted-string bodies switch Unicode back on so that they match whole characters.
const EMAIL_ALTERNATIVE: &str = r#"
    # Every alternative that can fail after a long run is bounded in length (RFC 5321's
    # limits for addresses): the search for the next match then looks at most that far
    # ahead of it, which keeps the whole scan linear. An unbounded `[...]*@` would rescan
    # the rest of the text from every position of `1-1-1-...` looking for an `@`.
    (?P<email>
        \b [A-Za-z0-9] [A-Za-z0-9._%+\-]{0,63} @
        [A-Za-z0-9\-]{1,63} (?: \.[A-Za-z0-9\-]{1,63} ){0,7} \.[A-Za-z]{2,63} \b
    )
"#;

/// The alternatives after [`EMAIL_ALTERNATIVE`], in order.
const OTHER_ALTERNATIVES: &str = r#"
    (?P<str>
        " (?u:[^"\r\n]){0,200} "
      | ` (?u:[^`\r\n]){0,200} `
      | \B' (?u:[^'\r\n]){0,200} '\B
    )
  | (?P<timestamp>
        \b [0-9]{4}-[0-9]{2}-[0-9]{2}
        (?:
            [Tt\x20] [0-9]{2}:[0-9]{2} (?: :[0-9]{2} (?: [.,][0-9]+ )? )?
            (?: [Zz] | [+\-][0-9]{2} (?: :?[0-9]{2} )? )?
        )?
        \b
    )
  | (?P<uuid>
        \b [0-9A-Fa-f]{8} - [0-9A-Fa-f]{4} - [0-9A-Fa-f]{4} - [0-9A-Fa-f]{4} - [0-9A-Fa-f]{12} \b
    )
  | (?P<ip>
        \b [0-9]{1,3} (?: \.[0-9]{1,3} ){3} (?: :[0-9]{1,5} )? \b
      | \b [0-9A-Fa-f]{1,4} (?: :[0-9A-Fa-f]{1,4} ){7} \b
      # Compressed IPv6. A bare `::` must neither follow nor precede a word character,
      # otherwise every Rust path (`std::io`) would be a candidate.
      | (?: \b [0-9A-Fa-f]{1,4} (?: :[0-9A-Fa-f]{1,4} ){0,6} | \B )
        ::
        (?: [0-9A-Fa-f]{1,4} (?: :[0-9A-Fa-f]{1,4} ){0,6} \b | \B )
    )
  | (?P<hex>
        \b 0[xX][0-9A-Fa-f]+ \b
    )
  | (?P<float>
        (?: \B- )? \b [0-9]+
        (?: \.[0-9]+ (?: [eE][+\-]?[0-9]+ )?
        # No unit after a bare exponent form, or `1e5abcdef` would not be a hex run.
          | [eE][+\-]?[0-9]+ \b
        )
    )
    (?P<float_unit> [A-Za-z]* ) \b
  | (?P<bare_hex>
        \b [0-9A-Fa-f]{8,} \b
    )
  | (?P<int>
        (?: \B- )? \b [0-9]+
    )
    (?P<int_unit> [A-Za-z]* ) \b
"#;

/// The whole pattern; without the e-mail alternative for text that has no `@`, where it can
/// never match (and where its look-ahead would cost the most).
fn pattern(with_email: bool) -> String {
    if with_email {
        format!("(?x-u){EMAIL_ALTERNATIVE}  | {OTHER_ALTERNATIVES}")
    } else {
        format!("(?x-u){OTHER_ALTERNATIVES}")
    }
}

// The patterns are literals that the tests compile, so this cannot fail at run time.
static PARAMETERS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&pattern(true)).expect("the parameterisation pattern is valid"));
static PARAMETERS_WITHOUT_EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&pattern(false)).expect("the parameterisation pattern is valid"));

/// Replaces the variable parts of a message with placeholders.
///
/// Ids, numbers, quoted strings, timestamps, UUIDs, e-mail and IP addresses and hex
/// values become `<int>`, `<str>`, `<timestamp>`, ... so that messages that differ only
/// in them group together. The module documentation lists the rules.
///
/// Returns [`Cow::Borrowed`] when nothing was replaced.
///
/// ```
/// # use error_tracker::fingerprint::parameterize;
/// assert_eq!(
///     parameterize("user 42 not found in 'eu-west' after 12.5ms"),
///     "user <int> not found in <str> after <float>ms",
/// );
/// assert_eq!(parameterize("utf8 decoding failed"), "utf8 decoding failed");
/// ```
pub fn parameterize(message: &str) -> Cow<'_, str> {
    let (mut may_match, mut has_at) = (false, false);
    for b in message.bytes() {
        may_match |= b.is_ascii_digit() || matches!(b, b'"' | b'\'' | b'`');
        has_at |= b == b'@';
    }
    if !may_match && !has_at {
        return Cow::Borrowed(message);
    }
    let regex: &Regex = if has_at {
        &PARAMETERS
    } else {
        &PARAMETERS_WITHOUT_EMAIL
    };
    let replaced = regex.replace_all(message, |caps: &Captures<'_>| replacement(message, caps));
    match replaced {
        // Matches whose replacement is the matched text itself still produce an owned copy.
        Cow::Owned(text) if text == message => Cow::Borrowed(message),
        other => other,
    }
}

/// What one match of [`PARAMETERS`] in `message` is replaced with.
fn replacement<'h>(message: &'h str, caps: &Captures<'_>) -> Cow<'h, str> {
    let whole = caps.get_match();
    let unchanged = Cow::Borrowed(&message[whole.range()]);
    let has_digit = |s: &str| s.bytes().any(|b| b.is_ascii_digit());
    let with_unit = |placeholder: &str, unit: &str| {
        let unit = caps.name(unit).map_or("", |m| m.as_str());
        Cow::Owned(format!("{placeholder}{unit}"))
    };

    if caps.name("email").is_some() {
        Cow::Borrowed("<email>")
    } else if caps.name("str").is_some() {
        Cow::Borrowed("<str>")
    } else if caps.name("timestamp").is_some() {
        Cow::Borrowed("<timestamp>")
    } else if caps.name("uuid").is_some() {
        Cow::Borrowed("<uuid>")
    } else if caps.name("ip").is_some() {
        if has_digit(whole.as_str()) {
            Cow::Borrowed("<ip>")
        } else {
            unchanged
        }
    } else if caps.name("hex").is_some() {
        Cow::Borrowed("<hex>")
    } else if caps.name("float").is_some() {
        with_unit("<float>", "float_unit")
    } else if caps.name("bare_hex").is_some() {
        let run = whole.as_str();
        if !has_digit(run) {
            unchanged
        } else if run.bytes().all(|b| b.is_ascii_digit()) {
            Cow::Borrowed("<int>")
        } else {
            Cow::Borrowed("<hex>")
        }
    } else if caps.name("int").is_some() {
        with_unit("<int>", "int_unit")
    } else {
        unchanged
    }
}

/// The fingerprint of an occurrence: 16 lower-case hex digits.
///
/// Its custom fingerprint when it has one (see [`custom_fingerprint`]), otherwise the
/// fingerprint of its target, module, kinds and message (see [`fingerprint_of`]); the
/// kinds are the occurrence's kind followed by those of its error chain, without the
/// chain's first link when that has the same kind. File and line do not count.
pub fn fingerprint(occurrence: &Occurrence) -> String {
    if let Some(key) = &occurrence.custom_fingerprint {
        return custom_fingerprint(key);
    }
    let chain = &occurrence.error_chain;
    let skip = usize::from(
        chain
            .first()
            .is_some_and(|link| link.kind == occurrence.kind),
    );
    let kinds: Vec<&str> = std::iter::once(occurrence.kind.as_str())
        .chain(chain.iter().skip(skip).map(|link| link.kind.as_str()))
        .collect();
    fingerprint_of(
        &occurrence.location.target,
        occurrence.location.module.as_deref(),
        &kinds,
        &occurrence.message,
    )
}

/// The same from its parts (for stores, tests and custom tooling).
///
/// `kinds` are used as given, outermost first; `message` is parameterised here.
pub fn fingerprint_of(target: &str, module: Option<&str>, kinds: &[&str], message: &str) -> String {
    let message = parameterize(message);
    let parts_len = target.len()
        + module.map_or(0, str::len)
        + kinds.iter().map(|kind| kind.len() + 8).sum::<usize>()
        + message.len();
    let mut bytes = Vec::with_capacity(COMPUTED_DOMAIN.len() + 4 + 8 + 1 + 8 + 8 + 8 + parts_len);
    bytes.extend_from_slice(COMPUTED_DOMAIN);
    bytes.extend_from_slice(&GROUPING_VERSION.to_le_bytes());
    push_str(&mut bytes, target);
    match module {
        None => bytes.push(0),
        Some(module) => {
            bytes.push(1);
            push_str(&mut bytes, module);
        }
    }
    push_len(&mut bytes, kinds.len());
    for kind in kinds {
        push_str(&mut bytes, kind);
    }
    push_str(&mut bytes, &message);
    to_hex(xxh3_64(&bytes))
}

/// Fingerprint for a user-given grouping key (the `fingerprint` field).
///
/// Equal keys give equal fingerprints, whatever else differs; a key's fingerprint never
/// collides with a computed one by construction (a different hash domain) and does not
/// change with [`GROUPING_VERSION`].
pub fn custom_fingerprint(key: &str) -> String {
    let mut bytes = Vec::with_capacity(CUSTOM_DOMAIN.len() + 8 + key.len());
    bytes.extend_from_slice(CUSTOM_DOMAIN);
    push_str(&mut bytes, key);
    to_hex(xxh3_64(&bytes))
}

/// Appends a length as 8 little-endian bytes, the same on every platform.
fn push_len(bytes: &mut Vec<u8>, len: usize) {
    // usize is at most 64 bits on every target Rust supports, so this is lossless.
    bytes.extend_from_slice(&(len as u64).to_le_bytes());
}

/// Appends a string with its length prefix, so that no content can imitate a boundary.
fn push_str(bytes: &mut Vec<u8>, s: &str) {
    push_len(bytes, s.len());
    bytes.extend_from_slice(s.as_bytes());
}

fn to_hex(hash: u64) -> String {
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::occurrence::{ErrorLink, Location, Occurrence};

    fn occurrence(kind: &str, message: &str) -> Occurrence {
        let mut occ = Occurrence::new(kind, message);
        occ.location = Location {
            target: "app::payments".into(),
            module: Some("app::payments".into()),
            file: Some("src/payments.rs".into()),
            line: Some(42),
        };
        occ
    }

    fn link(kind: &str, message: &str) -> ErrorLink {
        ErrorLink {
            kind: kind.into(),
            message: message.into(),
        }
    }

    fn fp(message: &str) -> String {
        fingerprint(&occurrence("std::io::Error", message))
    }

    fn is_fingerprint(s: &str) -> bool {
        s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    #[test]
    fn golden_values() {
        // These guard stability: stored groups depend on them. If a change to the grouping
        // algorithm alters them, bump GROUPING_VERSION and update them together.
        assert_eq!(
            fingerprint_of(
                "app::payments",
                Some("app::payments"),
                &["std::io::Error"],
                "payment 42 failed for user 7",
            ),
            "e6ba989f423cd49a"
        );
        assert_eq!(custom_fingerprint("checkout"), "880db062004eb645");
        assert_eq!(GROUPING_VERSION, 1);
    }

    #[test]
    fn canonical_layout_is_as_documented() {
        // The reference vector of XXH3-64 for empty input, seed 0.
        assert_eq!(xxh3_64(b""), 0x2d06_8005_38d3_94c2);

        let mut computed = b"computed\0".to_vec();
        computed.extend_from_slice(&1u32.to_le_bytes());
        computed.extend_from_slice(&3u64.to_le_bytes());
        computed.extend_from_slice(b"app");
        computed.push(1);
        computed.extend_from_slice(&3u64.to_le_bytes());
        computed.extend_from_slice(b"mod");
        computed.extend_from_slice(&2u64.to_le_bytes());
        computed.extend_from_slice(&1u64.to_le_bytes());
        computed.extend_from_slice(b"A");
        computed.extend_from_slice(&2u64.to_le_bytes());
        computed.extend_from_slice(b"BC");
        computed.extend_from_slice(&10u64.to_le_bytes());
        computed.extend_from_slice(b"user <int>");
        assert_eq!(
            fingerprint_of("app", Some("mod"), &["A", "BC"], "user 7"),
            format!("{:016x}", xxh3_64(&computed))
        );

        let mut custom = b"custom\0".to_vec();
        custom.extend_from_slice(&8u64.to_le_bytes());
        custom.extend_from_slice(b"checkout");
        assert_eq!(
            custom_fingerprint("checkout"),
            format!("{:016x}", xxh3_64(&custom))
        );
    }

    #[test]
    fn pattern_compiles() {
        assert!(Regex::new(&pattern(true)).is_ok());
        assert!(Regex::new(&pattern(false)).is_ok());
        assert!(LazyLock::force(&PARAMETERS).captures_len() > 1);
        assert!(LazyLock::force(&PARAMETERS_WITHOUT_EMAIL).captures_len() > 1);
    }

    #[test]
    fn fingerprint_is_16_lowercase_hex_digits() {
        for f in [
            fp("boom"),
            fp(""),
            fingerprint_of("", None, &[], ""),
            custom_fingerprint(""),
            custom_fingerprint("checkout"),
        ] {
            assert!(is_fingerprint(&f), "{f:?}");
        }
    }

    #[test]
    fn strings() {
        assert_eq!(parameterize(r#"no key "abc" here"#), "no key <str> here");
        assert_eq!(parameterize("file 'a b.txt' missing"), "file <str> missing");
        assert_eq!(
            parameterize("column `name` unknown"),
            "column <str> unknown"
        );
        assert_eq!(
            parameterize(r#"key="v1",other="""#),
            "key=<str>,other=<str>"
        );
        // Apostrophes are no quotes.
        assert_eq!(
            parameterize("can't open user's file"),
            "can't open user's file"
        );
        assert_eq!(
            parameterize("can't open 'x.db': user's"),
            "can't open <str>: user's"
        );
        // No newline inside a string, and not too long.
        assert_eq!(parameterize("\"a\nb\""), "\"a\nb\"");
        let long = format!("\"{}\"", "x".repeat(300));
        assert_eq!(parameterize(&long), long);
        let ok = format!("\"{}\"", "é".repeat(200));
        assert_eq!(parameterize(&ok), "<str>");
    }

    #[test]
    fn timestamps() {
        for ts in [
            "2024-01-31",
            "2024-01-31T12:00:00Z",
            "2024-01-31 12:00:00.123+02:00",
            "2024-01-31T12:00:00,5-0500",
            "2024-01-31T12:00",
        ] {
            assert_eq!(
                parameterize(&format!("at {ts}, retry")),
                "at <timestamp>, retry",
                "{ts}"
            );
        }
        assert_eq!(
            parameterize("2024-01-31 12 items"),
            "<timestamp> <int> items"
        );
    }

    #[test]
    fn uuids() {
        assert_eq!(
            parameterize("order 550e8400-e29b-41d4-a716-446655440000 gone"),
            "order <uuid> gone"
        );
        assert_eq!(
            parameterize("ID 0190A3B4-C5D6-7E8F-9A0B-1C2D3E4F5A6B"),
            "ID <uuid>"
        );
    }

    #[test]
    fn emails() {
        assert_eq!(
            parameterize("mail to alice@example.com bounced"),
            "mail to <email> bounced"
        );
        assert_eq!(parameterize("<bob.smith+42@mail.co.uk>"), "<<email>>");
        assert_eq!(parameterize("user1@x.io"), "<email>");
        assert_eq!(parameterize("foo@bar"), "foo@bar");
    }

    #[test]
    fn ips() {
        assert_eq!(
            parameterize("connect 10.0.0.1 failed"),
            "connect <ip> failed"
        );
        assert_eq!(parameterize("connect 192.168.1.20:8080"), "connect <ip>");
        assert_eq!(parameterize("bind ::1 failed"), "bind <ip> failed");
        assert_eq!(parameterize("bind [::1]:443"), "bind [<ip>]:<int>");
        assert_eq!(parameterize("peer fe80::1 gone"), "peer <ip> gone");
        assert_eq!(parameterize("peer 2001:db8::ff00:42:8329"), "peer <ip>");
        assert_eq!(
            parameterize("peer 2001:0db8:0000:0000:0000:ff00:0042:8329"),
            "peer <ip>"
        );
        // Rust paths are no IPv6 addresses.
        assert_eq!(parameterize("std::io::Error 1"), "std::io::Error <int>");
        assert_eq!(parameterize("Cafe::new(1)"), "Cafe::new(<int>)");
        assert_eq!(parameterize("db2::query 1"), "db2::query <int>");
        // Times are no IPv6 addresses either.
        assert_eq!(parameterize("at 12:30:59"), "at <int>:<int>:<int>");
    }

    #[test]
    fn hex() {
        assert_eq!(parameterize("bad pointer 0xDEADbeef"), "bad pointer <hex>");
        assert_eq!(parameterize("flags 0x1f"), "flags <hex>");
        assert_eq!(parameterize("commit 3f2a9c1e7b"), "commit <hex>");
        assert_eq!(
            parameterize("at da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            "at <hex>"
        );
        assert_eq!(parameterize("1e5abcdef"), "<hex>");
        // Letter-only runs are words, digit-only runs are integers.
        assert_eq!(parameterize("deadbeefcafe 1"), "deadbeefcafe <int>");
        assert_eq!(parameterize("id 12345678901"), "id <int>");
        // Short mixed runs are identifiers.
        assert_eq!(parameterize("key a1b2c3"), "key a1b2c3");
    }

    #[test]
    fn floats() {
        assert_eq!(parameterize("pi is 3.14"), "pi is <float>");
        assert_eq!(
            parameterize("delta -0.5 too small"),
            "delta <float> too small"
        );
        assert_eq!(parameterize("limit 1e9 hit"), "limit <float> hit");
        assert_eq!(parameterize("limit 2.5E-3"), "limit <float>");
        assert_eq!(parameterize("took 12.5ms"), "took <float>ms");
        assert_eq!(parameterize("big 1234567890.5"), "big <float>");
        assert_eq!(parameterize("range 1-0.5"), "range <int>-<float>");
    }

    #[test]
    fn ints() {
        assert_eq!(parameterize("user 42 not found"), "user <int> not found");
        assert_eq!(parameterize("id=42"), "id=<int>");
        assert_eq!(parameterize("issue #42"), "issue #<int>");
        assert_eq!(parameterize("order-42 failed"), "order-<int> failed");
        assert_eq!(parameterize("GET /users/42/"), "GET /users/<int>/");
        assert_eq!(parameterize("offset -7"), "offset <int>");
        assert_eq!(parameterize("took 12ms"), "took <int>ms");
        assert_eq!(parameterize("Größe 42"), "Größe <int>");
        assert_eq!(parameterize("用户42不存在"), "用户<int>不存在");
    }

    #[test]
    fn identifiers_with_digits_are_kept() {
        for message in [
            "utf8 error",
            "user42 missing",
            "sha256 mismatch",
            "api v2",
            "user_42",
        ] {
            assert_eq!(parameterize(message), message);
            assert!(matches!(parameterize(message), Cow::Borrowed(_)));
        }
        assert_ne!(fp("utf8 error"), fp("utf16 error"));
        assert_ne!(fp("user42 missing"), fp("user43 missing"));
    }

    #[test]
    fn unchanged_messages_are_borrowed() {
        assert!(matches!(parameterize("plain message"), Cow::Borrowed(_)));
        assert!(matches!(parameterize("deadbeefcafe"), Cow::Borrowed(_)));
        assert!(matches!(parameterize("can't"), Cow::Borrowed(_)));
        assert!(matches!(parameterize("user 1"), Cow::Owned(_)));
    }

    #[test]
    fn variable_parts_group_together() {
        let pairs = [
            ("user 1 not found", "user 2 not found"),
            (
                "order 550e8400-e29b-41d4-a716-446655440000 gone",
                "order 0190a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b gone",
            ),
            (
                "mail to alice@example.com bounced",
                "mail to bob99@corp.example.org bounced",
            ),
            ("took 12.5ms", "took 3.1ms"),
            ("at 2024-01-31T12:00:00Z", "at 2025-12-01 08:15:00.5+01:00"),
            ("key 'a' missing", "key 'bcd' missing"),
            ("connect 10.0.0.1:80", "connect 172.16.5.4:8443"),
            ("commit 3f2a9c1e", "commit 0a1b2c3d4e5f"),
        ];
        for (a, b) in pairs {
            assert_eq!(fp(a), fp(b), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn different_messages_differ() {
        assert_ne!(fp("user 1 not found"), fp("order 1 not found"));
        assert_ne!(fp("user not found"), fp("user not found!"));
        assert_ne!(fp("took 12ms"), fp("took 12s"));
        assert_ne!(fp(""), fp(" "));
    }

    #[test]
    fn kinds_and_targets_count() {
        let base = fingerprint_of("app", Some("app"), &["A"], "boom");
        assert_ne!(base, fingerprint_of("app", Some("app"), &["B"], "boom"));
        assert_ne!(
            base,
            fingerprint_of("app", Some("app"), &["A", "B"], "boom")
        );
        assert_ne!(base, fingerprint_of("other", Some("app"), &["A"], "boom"));
        assert_ne!(base, fingerprint_of("app", Some("other"), &["A"], "boom"));
        assert_ne!(base, fingerprint_of("app", None, &["A"], "boom"));
        assert_ne!(
            fingerprint_of("app", None, &[], "boom"),
            fingerprint_of("app", Some(""), &[], "boom")
        );
        // Parts cannot bleed into each other.
        assert_ne!(
            fingerprint_of("ab", None, &["c"], "d"),
            fingerprint_of("a", None, &["bc"], "d")
        );
        assert_ne!(
            fingerprint_of("a", None, &["b"], "c"),
            fingerprint_of("a", None, &["b", "c"], "")
        );
        assert_ne!(
            fingerprint_of("a\0b", None, &[], ""),
            fingerprint_of("a", None, &["b"], "")
        );

        let io = occurrence("std::io::Error", "boom");
        let fmt = occurrence("std::fmt::Error", "boom");
        assert_ne!(fingerprint(&io), fingerprint(&fmt));
        let mut elsewhere = occurrence("std::io::Error", "boom");
        elsewhere.location.target = "app::orders".into();
        assert_ne!(fingerprint(&io), fingerprint(&elsewhere));
    }

    #[test]
    fn file_and_line_do_not_count() {
        let a = occurrence("std::io::Error", "boom");
        let mut b = a.clone();
        b.location.file = Some("src/other.rs".into());
        b.location.line = Some(1234);
        let mut c = a.clone();
        c.location.file = None;
        c.location.line = None;
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn fingerprint_matches_fingerprint_of() {
        let occ = occurrence("std::io::Error", "payment 42 failed for user 7");
        assert_eq!(
            fingerprint(&occ),
            fingerprint_of(
                "app::payments",
                Some("app::payments"),
                &["std::io::Error"],
                "payment 42 failed for user 7",
            )
        );
    }

    #[test]
    fn error_chain_dedup() {
        let mut occ = occurrence("app::Error", "boom");
        occ.error_chain = vec![
            link("app::Error", "boom"),
            link("std::io::Error", "disk full"),
        ];
        let expected = fingerprint_of(
            "app::payments",
            Some("app::payments"),
            &["app::Error", "std::io::Error"],
            "boom",
        );
        assert_eq!(fingerprint(&occ), expected);

        // When the first link is something else, it is not dropped.
        occ.kind = "panic".into();
        assert_eq!(
            fingerprint(&occ),
            fingerprint_of(
                "app::payments",
                Some("app::payments"),
                &["panic", "app::Error", "std::io::Error"],
                "boom",
            )
        );

        // Only the first link is compared; later repeats stay.
        occ.kind = "app::Error".into();
        occ.error_chain.push(link("app::Error", "again"));
        assert_eq!(
            fingerprint(&occ),
            fingerprint_of(
                "app::payments",
                Some("app::payments"),
                &["app::Error", "std::io::Error", "app::Error"],
                "boom",
            )
        );

        // Link messages do not count, their kinds do.
        let mut other = occ.clone();
        other.error_chain[1].message = "something else".into();
        assert_eq!(fingerprint(&occ), fingerprint(&other));
        other.error_chain[1].kind = "std::fmt::Error".into();
        assert_ne!(fingerprint(&occ), fingerprint(&other));
    }

    #[test]
    fn custom_keys() {
        let mut a = occurrence("std::io::Error", "user 1 not found");
        let mut b = occurrence("panic", "something unrelated");
        b.location.target = "elsewhere".into();
        a.custom_fingerprint = Some("checkout".into());
        b.custom_fingerprint = Some("checkout".into());
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a), custom_fingerprint("checkout"));
        assert_ne!(
            custom_fingerprint("checkout"),
            custom_fingerprint("payment")
        );

        // A key never reproduces the computed fingerprint of the same text.
        let computed = fingerprint(&occurrence("std::io::Error", "user 1 not found"));
        assert_ne!(fingerprint(&a), computed);
        assert_ne!(custom_fingerprint(""), fingerprint_of("", None, &[], ""));
        // Keys are taken literally, not parameterised.
        assert_ne!(custom_fingerprint("user 1"), custom_fingerprint("user 2"));
    }

    #[test]
    fn non_ascii_and_control_characters_are_kept() {
        let message = "Fehler: Größe 42 überschritten \u{0}\u{7}\t\r\n ✓ 用户 🦀 'ü' \u{202e}";
        let out = parameterize(message);
        assert_eq!(
            out,
            "Fehler: Größe <int> überschritten \u{0}\u{7}\t\r\n ✓ 用户 🦀 <str> \u{202e}"
        );
        assert!(is_fingerprint(&fp(message)));
        assert_eq!(fp(message), fp(&message.replace("42", "7")));
        assert_eq!(parameterize("\u{0}\u{1}"), "\u{0}\u{1}");
        // Non-ASCII digits are not numbers here.
        assert_eq!(parameterize("٤٢ ４２"), "٤٢ ４２");
    }

    #[test]
    fn large_messages_are_handled() {
        let chunk = "user 42 at 10.0.0.1 'q' 3.5ms é 用 deadbeef00 ";
        let message = chunk
            .repeat(1 << 20 >> 5)
            .chars()
            .take(1 << 20)
            .collect::<String>();
        assert!(message.len() >= 1 << 20);
        let out = parameterize(&message);
        assert!(out.contains("user <int> at <ip> <str> <float>ms é 用 <hex> "));
        assert!(is_fingerprint(&fp(&message)));

        // Pathological inputs, smaller to keep debug test runs quick.
        let quotes = "'\"`".repeat(30_000);
        assert!(parameterize(&quotes).contains("<str>"));
        let digits = "9".repeat(100_000);
        assert_eq!(parameterize(&digits), "<int>");
    }
}
