//! `key = value` and `"key": value` pairs inside free text, hidden by their keys.
//!
//! Structured values are masked by key when they are structured (fields, parsed JSON); this
//! finds the same pairs in text that no parser accepts: a query string inside a `referer`,
//! NDJSON, JSON after a log prefix or a byte-order mark, double-encoded JSON (`{\"password\":
//! \"x\"}`), JSON cut at the length limit, `logfmt` lines and `Authorization: token T`
//! headers in a message.
//!
//! The scan is linear: it visits each `=` and `:` once, looks back at most a bounded key's
//! length, and reads a value forward only for a sensitive key, after which it goes on past
//! that value.

use std::ops::Range;

use super::Rewriter;

/// Longest key looked back for, in bytes.
const MAX_KEY_LEN: usize = 128;
/// Most blanks allowed between a key, its separator and its value.
const MAX_GAP: usize = 8;

/// Hides the value of every pair in `text` whose key `is_sensitive` says so, replacing it with
/// `mask` (quotes kept). `None` when nothing changed.
pub(crate) fn mask_pairs(
    text: &str,
    mask: &str,
    is_sensitive: &dyn Fn(&str) -> bool,
) -> Option<String> {
    let bytes = text.as_bytes();
    let mut rewriter = Rewriter::new(text);
    let mut at = 0;
    while let Some(offset) = memchr_sep(&bytes[at..]) {
        let sep = at + offset;
        at = sep + 1;
        let Some(key) = key_before(bytes, sep) else {
            continue;
        };
        if !is_sensitive(&text[key]) {
            continue;
        }
        let (value, end, bracketed) = value_after(bytes, sep);
        at = end;
        // Empty, or hidden already (a hidden value is never extended to what follows it).
        if value.is_empty() || text[value.start..].starts_with(mask) {
            continue;
        }
        // Every delimiter the value search stops at is ASCII, so the range is on char
        // boundaries. A JSON object or array becomes a string, so the text stays JSON.
        if bracketed {
            rewriter.replace(value, &format!("\"{mask}\""));
        } else {
            rewriter.replace(value, mask);
        }
    }
    rewriter.finish()
}

/// The offset of the next `=` or `:`.
fn memchr_sep(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'=' || b == b':')
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']')
}

/// The key that ends just before the separator at `sep`: blanks, then an optional closing
/// quote (`"`, `\"`, `'`), then key characters.
fn key_before(bytes: &[u8], sep: usize) -> Option<Range<usize>> {
    let mut end = sep;
    let mut gap = 0;
    while end > 0 && bytes[end - 1].is_ascii_whitespace() && gap < MAX_GAP {
        end -= 1;
        gap += 1;
    }
    if end > 0 && matches!(bytes[end - 1], b'"' | b'\'') {
        end -= 1;
        if end > 0 && bytes[end - 1] == b'\\' {
            end -= 1;
        }
    }
    let floor = end.saturating_sub(MAX_KEY_LEN);
    let mut start = end;
    while start > floor && is_key_byte(bytes[start - 1]) {
        start -= 1;
    }
    (start < end).then_some(start..end)
}

/// The value after the separator at `sep`, the offset where the scan goes on, and whether
/// the value is bracketed. The value is a quoted string's contents (`"..."`, `\"...\"`,
/// `'...'`, to the closing quote or the end of the text), a JSON object or array (to its
/// matching bracket), or a bare word. After `:` a bare value runs to the end of the line, as
/// a header's does (`Authorization: token T`); after `=` it ends at a blank or a delimiter.
fn value_after(bytes: &[u8], sep: usize) -> (Range<usize>, usize, bool) {
    let mut start = sep + 1;
    let mut gap = 0;
    while start < bytes.len() && matches!(bytes[start], b' ' | b'\t') && gap < MAX_GAP {
        start += 1;
        gap += 1;
    }
    let rest = &bytes[start..];
    let quoted = |open: usize, end: usize, close: usize| {
        let inner_end = if end >= start + open + close && end <= bytes.len() {
            end - close
        } else {
            end
        };
        (start + open..inner_end.max(start + open), end, false)
    };
    match rest {
        [b'\\', b'"', ..] => {
            let end = closing(bytes, start + 2, b"\\\"");
            quoted(
                2,
                end,
                if bytes[..end].ends_with(b"\\\"") {
                    2
                } else {
                    0
                },
            )
        }
        [q @ (b'"' | b'\''), ..] => {
            let end = closing_unescaped(bytes, start + 1, *q);
            let closed = end > start + 1 && bytes[end - 1] == *q;
            quoted(1, end, usize::from(closed))
        }
        [b'{' | b'[', ..] => {
            let end = matching_bracket(bytes, start);
            (start..end, end, true)
        }
        _ => {
            let header = bytes[sep] == b':';
            let len = rest
                .iter()
                .position(|&b| match b {
                    b'\r' | b'\n' | b'"' | b'\'' | b'<' | b'>' | b'}' | b']' => true,
                    b' ' | b'\t' | b'&' | b',' | b';' | b'#' => !header,
                    _ => false,
                })
                .unwrap_or(rest.len());
            // `:` has no special meaning inside a bare value: a URL or a time after a
            // sensitive key is all value.
            (start..start + len, start + len, false)
        }
    }
}

/// The end of a quoted value, its closing `quote` included: at the text's end when none.
fn closing(bytes: &[u8], from: usize, quote: &[u8]) -> usize {
    bytes[from..]
        .windows(quote.len())
        .position(|w| w == quote)
        .map_or(bytes.len(), |n| from + n + quote.len())
}

/// The end of a quoted value whose quote may be escaped by a backslash inside it.
fn closing_unescaped(bytes: &[u8], from: usize, quote: u8) -> usize {
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The end of the JSON object or array starting at `start`, its closing bracket included;
/// strings are skipped so that brackets inside them do not count. At the text's end when the
/// value is cut.
fn matching_bracket(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            b'"' => {
                i = closing_unescaped(bytes, i + 1, b'"');
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sensitive(key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        ["password", "token", "secret", "authorization"]
            .iter()
            .any(|k| key.contains(k))
    }

    fn masked(text: &str) -> String {
        mask_pairs(text, "***", &sensitive).unwrap_or_else(|| text.to_owned())
    }

    #[test]
    fn pairs_in_every_shape() {
        for (text, want) in [
            (
                "GET /cb?access_token=abc&x=1",
                "GET /cb?access_token=***&x=1",
            ),
            ("https://h/r?token=t#frag", "https://h/r?token=***#frag"),
            ("password=hunter2 user=bob", "password=*** user=bob"),
            (r#"{"password":"x","n":1}"#, r#"{"password":"***","n":1}"#),
            (
                r#"{"password": "a\"b", "n": 1}"#,
                r#"{"password": "***", "n": 1}"#,
            ),
            (
                r#"{\"password\":\"x\",\"n\":1}"#,
                r#"{\"password\":\"***\",\"n\":1}"#,
            ),
            ("\u{feff}{\"secret\": 42}", "\u{feff}{\"secret\": ***}"),
            (
                "a {\"token\":\"x\"}\n{\"token\":\"y\"}",
                "a {\"token\":\"***\"}\n{\"token\":\"***\"}",
            ),
            (
                r#"{"secret": {"a": [1, "}"]}, "k": 2}"#,
                r#"{"secret": "***", "k": 2}"#,
            ),
            ("Authorization: token T0k\nnext", "Authorization: ***\nnext"),
            (r#"{"password":"cut off"#, r#"{"password":"***"#),
            ("user='x' password='y'", "user='x' password='***'"),
        ] {
            let got = masked(text);
            assert_eq!(got, want, "{text:?}");
            assert_eq!(masked(&got), got, "masking again changes nothing: {text:?}");
        }
    }

    #[test]
    fn ordinary_pairs_and_text_stay() {
        for text in [
            "error: connection refused",
            "at 12:30:01",
            "a=b c:d",
            "=:=:",
            ":",
        ] {
            assert!(mask_pairs(text, "***", &sensitive).is_none(), "{text}");
        }
    }
}
