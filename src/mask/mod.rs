//! Masking of sensitive data: hides secrets before an occurrence is stored, shown or sent.
//!
//! Two mechanisms work together:
//!
//! - **Keys**: a value stored under a sensitive key (`password`, `api_key`, `Set-Cookie`, ...)
//!   is replaced as a whole, whatever its type, in fields, span fields, extras, tags and the user.
//! - **Values**: every string the walk visits (the message and error chain included) is scrubbed
//!   of credit card numbers, `Bearer`/`Basic` credentials and passwords in URLs, see
//!   [`scrub_sensitive_values`].
//!
//! [`DefaultMasking`] implements both with a configurable key list and replacement text; any
//! other [`Masking`] implementation gets the same walk for free through [`mask_occurrence`].

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use regex::{Regex, RegexSet};
use serde_json::Value;

use crate::occurrence::{FieldMap, Occurrence};
use crate::record::TRUNCATION_MARKER;

mod pairs;

/// How deep the walk goes into nested objects and arrays. Anything deeper is replaced by the
/// mask as a whole: hiding is the safe side, and the bound keeps the recursion off the end of
/// the (background thread's) stack whatever the input.
const MAX_DEPTH: usize = 64;

/// Decides what is sensitive in an occurrence and hides it.
///
/// Only [`is_sensitive_key`](Masking::is_sensitive_key) and [`mask_with`](Masking::mask_with)
/// are required; the provided methods apply them to a whole occurrence the way
/// [`DefaultMasking`] does.
pub trait Masking: Send + Sync + 'static {
    /// True when a value stored under `key` must be hidden.
    fn is_sensitive_key(&self, key: &str) -> bool;

    /// The replacement text for hidden values.
    fn mask_with(&self) -> &str;

    /// Hides sensitive values inside free text (message, string values...).
    ///
    /// Default: [`scrub_sensitive_values`]`(text, self.mask_with())`, then the value of
    /// every `key=value`, `key: value` and `"key": value` pair in the text whose key
    /// [`is_sensitive_key`](Masking::is_sensitive_key) names (query strings, JSON no parser
    /// accepts, `logfmt`, headers quoted in a message). Return [`Cow::Borrowed`] when nothing
    /// was hidden so the walk can skip the write.
    fn scrub_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let is_sensitive = |key: &str| self.is_sensitive_key(key);
        let round = |text: &str| -> Option<String> {
            let scrubbed = scrub_round(text, self.mask_with());
            match pairs::mask_pairs(&scrubbed, self.mask_with(), &is_sensitive) {
                Some(masked) => Some(masked),
                None => match scrubbed {
                    Cow::Owned(scrubbed) => Some(scrubbed),
                    Cow::Borrowed(_) => None,
                },
            }
        };
        // Round after round until nothing changes, as for the values (see `MAX_ROUNDS`).
        until_unchanged(text, round)
    }

    /// Masks a whole occurrence in place.
    ///
    /// Default: [`mask_occurrence`]`(self, occurrence)`.
    fn mask(&self, occurrence: &mut Occurrence) {
        mask_occurrence(self, occurrence);
    }
}

/// The built-in [`Masking`]: a list of sensitive key fragments and a replacement text.
///
/// A key is sensitive when, lower-cased and with `-`, `_` and `.` removed, it *contains* one of
/// the configured keys normalised the same way. So with the default list `api_key`, `API-KEY`,
/// `x.apikey`, `Set-Cookie`, `sessionid`, `user_password` and `tags.secret` are all sensitive,
/// while `username`, `email` and `id` are not. Being a substring rule, `auth` also matches
/// `authorization` (wanted) and `author` (accepted: hiding too much is the safe side).
///
/// Configured keys of three characters or fewer (`pin`, `otp`, `cvv`, `pwd`, `jwt`) match
/// whole words of a key only, where words are separated by `-`, `_`, `.`, blanks, a change
/// from lower to upper case or between letters and digits: `pin`, `user_pin`, `pinCode` and
/// `PIN2` are sensitive, `shipping` and `spinner` are not.
///
/// An empty key list turns key masking off; values are still scrubbed.
#[derive(Clone, Debug)]
pub struct DefaultMasking {
    keys: Vec<String>,
    /// `keys` normalised once here rather than on every lookup; empty results are dropped
    /// because an empty fragment would make every key sensitive.
    normalized: Vec<String>,
    /// The short keys, lower-cased, matched against whole words only.
    words: Vec<String>,
    mask_with: String,
}

impl DefaultMasking {
    /// The keys hidden by [`DefaultMasking::default`].
    pub const DEFAULT_KEYS: &'static [&'static str] = &[
        "password",
        "secret",
        "passwd",
        "token",
        "api_key",
        "apikey",
        "auth",
        "credentials",
        "private_key",
        "privatekey",
        "session",
        "cookie",
        "pwd",
        "pass",
        "pin",
        "cvv",
        "otp",
        "jwt",
        "bearer",
        "access_key",
        "signature",
    ];

    /// The replacement text used by [`DefaultMasking::default`] (13 asterisks).
    pub const DEFAULT_MASK: &'static str = "*************";

    /// A masking hiding values under any of `keys` (see the type's documentation for the
    /// matching rule) and replacing hidden values with `mask_with`.
    pub fn new<I, S>(keys: I, mask_with: impl Into<String>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let keys: Vec<String> = keys.into_iter().map(|k| k.as_ref().to_owned()).collect();
        let (mut normalized, mut words) = (Vec::new(), Vec::new());
        for key in &keys {
            let key = normalize_key(key);
            match key.chars().count() {
                0 => {}
                1..=MAX_WORD_KEY_LEN => words.push(key),
                _ => normalized.push(key),
            }
        }
        DefaultMasking {
            keys,
            normalized,
            words,
            mask_with: mask_with.into(),
        }
    }

    /// The configured keys, as given to [`DefaultMasking::new`].
    pub fn keys(&self) -> &[String] {
        &self.keys
    }
}

impl Default for DefaultMasking {
    /// [`DefaultMasking::DEFAULT_KEYS`] replaced with [`DefaultMasking::DEFAULT_MASK`].
    fn default() -> Self {
        DefaultMasking::new(Self::DEFAULT_KEYS, Self::DEFAULT_MASK)
    }
}

impl Masking for DefaultMasking {
    fn is_sensitive_key(&self, key: &str) -> bool {
        if !self.words.is_empty() && self.has_word(key) {
            return true;
        }
        if self.normalized.is_empty() {
            return false;
        }
        // Keys are nearly always short ASCII identifiers: normalise those on the stack so a
        // lookup allocates nothing.
        let mut buf = [0u8; 128];
        if key.is_ascii() && key.len() <= buf.len() {
            let mut len = 0;
            for b in key.bytes().filter(|b| !is_key_separator(char::from(*b))) {
                buf[len] = b.to_ascii_lowercase();
                len += 1;
            }
            self.contains_any(&buf[..len])
        } else {
            self.contains_any(normalize_key(key).as_bytes())
        }
    }

    fn mask_with(&self) -> &str {
        &self.mask_with
    }
}

/// Configured keys up to this many characters match whole words only (see [`DefaultMasking`]).
const MAX_WORD_KEY_LEN: usize = 3;

impl DefaultMasking {
    /// True when a word of `key` (see [`DefaultMasking`]) is one of the short keys.
    fn has_word(&self, key: &str) -> bool {
        let mut start = 0;
        let mut previous: Option<char> = None;
        for (at, c) in key.char_indices() {
            let boundary = match previous {
                None => false,
                Some(p) => {
                    is_key_separator(c)
                        || c.is_whitespace()
                        || (p.is_lowercase() && c.is_uppercase())
                        || (p.is_alphabetic() != c.is_alphabetic() && !is_key_separator(p))
                }
            };
            if boundary {
                if self.is_word(&key[start..at]) {
                    return true;
                }
                start = at;
            }
            previous = Some(c);
        }
        self.is_word(&key[start..])
    }

    fn is_word(&self, word: &str) -> bool {
        let word = word.trim_matches(|c: char| is_key_separator(c) || c.is_whitespace());
        // Longer words cannot equal a short key: no lower-casing for them.
        word.chars().count() <= MAX_WORD_KEY_LEN
            && self
                .words
                .iter()
                .any(|w| word.chars().flat_map(char::to_lowercase).eq(w.chars()))
    }

    fn contains_any(&self, haystack: &[u8]) -> bool {
        self.normalized.iter().any(|needle| {
            let needle = needle.as_bytes();
            // Byte-wise search is sound on UTF-8: a valid needle can only match at char
            // boundaries of a valid haystack.
            needle.len() <= haystack.len() && haystack.windows(needle.len()).any(|w| w == needle)
        })
    }
}

fn is_key_separator(c: char) -> bool {
    matches!(c, '-' | '_' | '.')
}

/// Char-wise lowercasing (not `str::to_lowercase`, which special-cases a final sigma) so the
/// configured keys and the looked-up keys are normalised exactly alike.
fn normalize_key(key: &str) -> String {
    key.chars()
        .filter(|c| !is_key_separator(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Value scrubbing

/// `scheme://user:password@host`: group 3 is the password. People paste unencoded passwords,
/// so it may hold any of `@ # / ?`: it runs up to the first `@` that a host name (and an
/// optional port) follows, up to the end of the authority. At most 256 characters, which
/// bounds how far the search looks ahead.
const URL_PATTERN: &str = r#"([A-Za-z][A-Za-z0-9+.\-]*://)([^\s:/?#@]*):(\S{1,256}?)@(?:[^\s/?#@:\[\]"'<>,;()=&*]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?(?:[/?#\s"'<>)\],;]|$)"#;
/// `Bearer <token>` / `Basic <credentials>`: group 1 is the scheme, group 3 the credentials.
/// The scheme may be followed by blanks, `:` or `=` (`bearer:T`, `bearer=T`), an encoded
/// blank (`Bearer%20T`, `Bearer+T`), and the credentials may be quoted (`Bearer "T"`).
const AUTH_PATTERN: &str =
    r#"(?i)\b(bearer|basic)((?:[ \t]+|[ \t]*[:=][ \t]*|%20|\+)"?)([A-Za-z0-9\-._~+/]+=*)"#;
/// A maximal run of digit groups separated by single spaces or dashes.
const DIGIT_RUN_PATTERN: &str = r"[0-9]+(?:[ -][0-9]+)*";
/// At least 13 digits in one run: the shortest card number.
const CARD_PRECHECK_PATTERN: &str = r"[0-9](?:[ -]?[0-9]){12}";

const URL_INDEX: usize = 0;
const AUTH_INDEX: usize = 1;
const CARD_INDEX: usize = 2;

const MIN_CARD_DIGITS: usize = 13;
const MAX_CARD_DIGITS: usize = 19;

// The patterns below are constant literals exercised by the unit tests, so compiling them
// cannot fail at run time.
static PRECHECK: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new([URL_PATTERN, AUTH_PATTERN, CARD_PRECHECK_PATTERN])
        .expect("constant masking patterns compile")
});
static URL_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(URL_PATTERN).expect("constant URL pattern compiles"));
static AUTH_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(AUTH_PATTERN).expect("constant auth pattern compiles"));
static DIGIT_RUN_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(DIGIT_RUN_PATTERN).expect("constant digit pattern compiles"));

/// Hides sensitive values inside free text, replacing them with `mask_with`:
///
/// - **credit card numbers**: 13 to 19 digits, optionally separated by single spaces or dashes,
///   that pass the Luhn check. Numbers failing it (order ids...) are kept. Within a longer run
///   of digit groups, a card made of whole groups is still found (`ref 7 4111 1111 1111 1111`).
///   About one random 13–19 digit number in ten passes Luhn too (a millisecond timestamp, say)
///   and is hidden as well: the safe side.
/// - **HTTP credentials**: `Bearer <token>` (any case) becomes `Bearer <mask_with>`; so does
///   `Basic <credentials>` when the credentials decode from base64 to a `user:password` pair,
///   which keeps prose such as "basic idea" intact.
/// - **passwords in URLs**: `scheme://user:password@host` becomes
///   `scheme://user:<mask_with>@host`; the user stays visible.
///
/// Returns [`Cow::Borrowed`] when nothing was hidden, after a single cheap scan in the common
/// case.
pub fn scrub_sensitive_values<'a>(text: &'a str, mask_with: &str) -> Cow<'a, str> {
    until_unchanged(text, |text| match scrub_round(text, mask_with) {
        Cow::Owned(changed) => Some(changed),
        Cow::Borrowed(_) => None,
    })
}

/// Most rounds of a scrub. What one round hides can let a rule see what it could not before:
/// a hidden card number opens the word boundary that `Bearer` needs (`4242...Bearer T`), a
/// hidden pair's value ends a run where a URL's host stands. So a round that hid something is
/// followed by another, until one hides nothing, which makes scrubbing idempotent: masked
/// text masks to itself. Text needing more rounds than this is built to chain the rules into
/// each other; it costs at most this many linear rounds.
const MAX_ROUNDS: usize = 8;

/// Applies `round` (`None`: nothing changed) until it changes nothing, at most
/// [`MAX_ROUNDS`] times.
fn until_unchanged<'a>(text: &'a str, round: impl Fn(&str) -> Option<String>) -> Cow<'a, str> {
    let Some(mut current) = round(text) else {
        return Cow::Borrowed(text);
    };
    for _ in 1..MAX_ROUNDS {
        match round(&current) {
            Some(next) => current = next,
            None => break,
        }
    }
    Cow::Owned(current)
}

/// One round of the three passes. Cards go first: what they hide can only end a word, which
/// the later passes look for, never start a card.
fn scrub_round<'a>(text: &'a str, mask_with: &str) -> Cow<'a, str> {
    let found = PRECHECK.matches(text);
    if !found.matched_any() {
        return Cow::Borrowed(text);
    }
    let passes: [(usize, ScrubPass); 3] = [
        (CARD_INDEX, scrub_cards),
        (URL_INDEX, scrub_urls),
        (AUTH_INDEX, scrub_auth),
    ];
    let mut out = Cow::Borrowed(text);
    for (index, pass) in passes {
        if !found.matched(index) {
            continue;
        }
        if let Some(scrubbed) = pass(&out, mask_with) {
            out = Cow::Owned(scrubbed);
        }
    }
    out
}

/// One kind of scrubbing: `(text, mask_with)` to the rewritten text, `None` when unchanged.
type ScrubPass = fn(&str, &str) -> Option<String>;

/// Builds the rewritten text lazily: nothing is allocated until a replacement actually differs
/// from what it replaces (so already-masked text comes back unchanged).
struct Rewriter<'t> {
    text: &'t str,
    out: String,
    copied: usize,
    changed: bool,
}

impl<'t> Rewriter<'t> {
    fn new(text: &'t str) -> Self {
        Rewriter {
            text,
            out: String::new(),
            copied: 0,
            changed: false,
        }
    }

    /// `range` must be on char boundaries and after every range replaced before.
    fn replace(&mut self, range: Range<usize>, with: &str) {
        if self.text[range.clone()] == *with {
            return;
        }
        if !self.changed {
            self.out.reserve(self.text.len() + with.len());
            self.changed = true;
        }
        self.out.push_str(&self.text[self.copied..range.start]);
        self.out.push_str(with);
        self.copied = range.end;
    }

    fn finish(mut self) -> Option<String> {
        if !self.changed {
            return None;
        }
        self.out.push_str(&self.text[self.copied..]);
        Some(self.out)
    }
}

fn scrub_urls(text: &str, mask_with: &str) -> Option<String> {
    let mut rewriter = Rewriter::new(text);
    let mut from = 0;
    // Each search starts right after the previous password's `@`, not after the whole match:
    // a host can hold the start of another URL (`a://u:p@h://v:q@i`), whose password must be
    // found too.
    while let Some(caps) = URL_RE.captures_at(text, from) {
        let Some(password) = caps.get(3) else {
            break;
        };
        from = password.end() + 1;
        // Hidden already: a hidden password is never extended to a later `@`, which would
        // make each round of scrubbing hide a little more.
        if password.as_str().starts_with(mask_with) {
            continue;
        }
        // `https://host:8080/path?mail=a@b`: a port and a path, not a user and a password.
        // A port: up to five digits, then the path (`/`, `?` or `#`).
        let candidate = password.as_str();
        let head = candidate.split(['/', '?', '#']).next().unwrap_or(candidate);
        let is_port = head.len() < candidate.len()
            && (1..=5).contains(&head.len())
            && head.bytes().all(|b| b.is_ascii_digit());
        if !is_port {
            rewriter.replace(password.range(), mask_with);
        }
    }
    rewriter.finish()
}

fn scrub_auth(text: &str, mask_with: &str) -> Option<String> {
    let mut rewriter = Rewriter::new(text);
    for caps in AUTH_RE.captures_iter(text) {
        let (Some(scheme), Some(credentials)) = (caps.get(1), caps.get(3)) else {
            continue;
        };
        if scheme.as_str().eq_ignore_ascii_case("basic")
            && !base64_contains_colon(credentials.as_str())
        {
            continue;
        }
        rewriter.replace(credentials.range(), mask_with);
    }
    rewriter.finish()
}

/// True when `text` decodes from base64 (standard or URL-safe alphabet) to bytes containing a
/// `:`, as Basic credentials (`user:password`) do. Decodes on the fly without storing anything.
fn base64_contains_colon(text: &str) -> bool {
    let mut bits: u32 = 0;
    let mut nbits = 0;
    for b in text.trim_end_matches('=').bytes() {
        let sextet = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return false,
        };
        bits = (bits << 6) | u32::from(sextet);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            if (bits >> nbits) & 0xff == u32::from(b':') {
                return true;
            }
            bits &= (1 << nbits) - 1;
        }
    }
    false
}

fn scrub_cards(text: &str, mask_with: &str) -> Option<String> {
    let mut rewriter = Rewriter::new(text);
    let mut groups: Vec<(usize, usize, usize)> = Vec::new();
    for run in DIGIT_RUN_RE.find_iter(text) {
        let run_str = run.as_str();
        if run_str.bytes().filter(u8::is_ascii_digit).count() < MIN_CARD_DIGITS {
            continue;
        }
        // (start, end, digit count) of each group, as absolute byte offsets into `text`.
        groups.clear();
        let mut start = run.start();
        for part in run_str.split([' ', '-']) {
            groups.push((start, start + part.len(), part.len()));
            start += part.len() + 1;
        }
        // A card is made of whole groups; from each starting group take the longest
        // Luhn-valid card, then carry on after it.
        let mut i = 0;
        while i < groups.len() {
            let mut digits = 0;
            let mut card_end = None;
            for (j, &(_, end, count)) in groups.iter().enumerate().skip(i) {
                digits += count;
                if digits > MAX_CARD_DIGITS {
                    break;
                }
                if digits >= MIN_CARD_DIGITS && luhn_valid(&text[groups[i].0..end]) {
                    card_end = Some(j);
                }
            }
            match card_end {
                Some(j) => {
                    rewriter.replace(groups[i].0..groups[j].1, mask_with);
                    i = j + 1;
                }
                None => i += 1,
            }
        }
    }
    rewriter.finish()
}

/// The Luhn checksum over the ASCII digits of `text` (separators are skipped).
fn luhn_valid(text: &str) -> bool {
    let mut sum = 0u32;
    let mut double = false;
    for b in text.bytes().rev().filter(u8::is_ascii_digit) {
        let mut d = u32::from(b - b'0');
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum = (sum + d) % 10;
        double = !double;
    }
    sum == 0
}

// ---------------------------------------------------------------------------------------------
// The walk

/// Masks `occurrence` in place with `masking`: what [`Masking::mask`] does by default.
///
/// - `message`, each error chain message and `custom_fingerprint` go through
///   [`Masking::scrub_text`].
/// - In `fields`, each span's fields, `extras` and `tags`, a value under a sensitive key is
///   replaced as a whole by [`Masking::mask_with`]; other values are walked: objects by the
///   same key rule, arrays element by element, strings through `scrub_text`. A string holding
///   a JSON object or array is parsed, masked the same way and re-serialised.
/// - `user` is walked the same way.
///
/// Values nested deeper than 64 levels are replaced by the mask as a whole.
pub fn mask_occurrence<M: Masking + ?Sized>(masking: &M, occurrence: &mut Occurrence) {
    scrub_in_place(masking, &mut occurrence.message);
    for link in &mut occurrence.error_chain {
        scrub_in_place(masking, &mut link.message);
    }
    mask_map(masking, &mut occurrence.fields, 0);
    for span in &mut occurrence.spans {
        mask_map(masking, &mut span.fields, 0);
    }
    mask_map(masking, &mut occurrence.extras, 0);
    mask_map(masking, &mut occurrence.tags, 0);
    if let Some(user) = &mut occurrence.user {
        mask_value(masking, user, 0);
    }
    if let Some(fingerprint) = &mut occurrence.custom_fingerprint {
        scrub_in_place(masking, fingerprint);
    }
    for crumb in &mut occurrence.breadcrumbs {
        scrub_in_place(masking, &mut crumb.message);
        mask_map(masking, &mut crumb.fields, 0);
    }
}

/// Returns whether `text` was changed.
fn scrub_in_place<M: Masking + ?Sized>(masking: &M, text: &mut String) -> bool {
    let cut = mask_cut_tail(text, masking.mask_with());
    let scrubbed = match masking.scrub_text(text) {
        Cow::Borrowed(_) => return cut,
        Cow::Owned(scrubbed) => scrubbed,
    };
    *text = scrubbed;
    true
}

/// Hides the tail of a value that was cut at the length limit (it ends with the truncation
/// marker): the cut may have split a secret so that no rule recognises what is left of it
/// (`postgres://app:hunt`, `4111 1111 1111 11`, a JSON string that no longer parses). The
/// last run of token characters before the marker is replaced by `mask`, together with the
/// digit groups before it. Returns whether `text` was changed.
fn mask_cut_tail(text: &mut String, mask: &str) -> bool {
    let Some(body) = text.strip_suffix(TRUNCATION_MARKER) else {
        return false;
    };
    let bytes = body.as_bytes();
    let is_token = |b: u8| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'+' | b'/'
                    | b'='
                    | b'_'
                    | b'%'
                    | b'.'
                    | b':'
                    | b'@'
                    | b'~'
                    | b'-'
                    | b'#'
                    | b'?'
                    | b'&'
            )
    };
    let mut start = bytes.len();
    // ASCII only: secrets are, and a cut in a word of another script is left as it is.
    while start > 0 && is_token(bytes[start - 1]) {
        start -= 1;
    }
    // Digit groups separated by single blanks or dashes: a card number cut in its middle.
    loop {
        let mut i = start;
        if i >= 2 && bytes[i - 1] == b' ' && bytes[i - 2].is_ascii_digit() {
            i -= 1;
            while i > 0 && bytes[i - 1].is_ascii_digit() {
                i -= 1;
            }
            start = i;
        } else {
            break;
        }
    }
    while start < bytes.len() && !body.is_char_boundary(start) {
        start += 1;
    }
    if start == bytes.len() || body[start..] == *mask {
        return false;
    }
    let mut out = String::with_capacity(start + mask.len() + TRUNCATION_MARKER.len());
    out.push_str(&body[..start]);
    out.push_str(mask);
    out.push_str(TRUNCATION_MARKER);
    *text = out;
    true
}

/// A JSON number that is a card number (13 to 19 digits passing the Luhn check), as
/// `card = 4242424242424242u64` records one.
fn is_card_number(number: &serde_json::Number) -> bool {
    let Some(n) = number
        .as_u64()
        .or_else(|| number.as_i64().map(i64::unsigned_abs))
    else {
        return false;
    };
    // 13 digits or more: most numbers (ids, counts, sizes) stop here, without a conversion.
    if n < 10u64.pow(MIN_CARD_DIGITS as u32 - 1) {
        return false;
    }
    let mut buffer = [0u8; 20];
    let mut at = buffer.len();
    let mut rest = n;
    while rest > 0 {
        at -= 1;
        buffer[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    let digits = &buffer[at..];
    // ASCII digits only, so this is valid UTF-8.
    let digits = std::str::from_utf8(digits).unwrap_or_default();
    (MIN_CARD_DIGITS..=MAX_CARD_DIGITS).contains(&digits.len()) && luhn_valid(digits)
}

/// Returns whether anything in `map` was changed.
fn mask_map<M: Masking + ?Sized>(masking: &M, map: &mut FieldMap, depth: usize) -> bool {
    let mut changed = false;
    for (key, value) in map.iter_mut() {
        changed |= if masking.is_sensitive_key(key) {
            replace_with_mask(masking, value)
        } else {
            mask_value(masking, value, depth)
        };
    }
    changed
}

/// Returns whether `value` was changed, so a JSON string is only re-serialised when needed.
fn mask_value<M: Masking + ?Sized>(masking: &M, value: &mut Value, depth: usize) -> bool {
    if depth >= MAX_DEPTH {
        return replace_with_mask(masking, value);
    }
    match value {
        Value::Object(map) => mask_map(masking, map, depth + 1),
        Value::Array(items) => items.iter_mut().fold(false, |changed, item| {
            mask_value(masking, item, depth + 1) | changed
        }),
        Value::String(text) => mask_string_value(masking, text, depth),
        Value::Number(number) if is_card_number(number) => replace_with_mask(masking, value),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn mask_string_value<M: Masking + ?Sized>(masking: &M, text: &mut String, depth: usize) -> bool {
    if let Some(changed) = mask_json_text(masking, text, depth) {
        return changed;
    }
    let changed = scrub_in_place(masking, text);
    // What the text rules hid can make the rest parse (a stray quote inside a hidden URL
    // password): then it is masked as JSON too, as a second pass would.
    if changed {
        mask_json_text(masking, text, depth);
    }
    changed
}

/// Masks `text` as JSON when it is a JSON object or array: `Some(changed)`; `None` when it
/// is not JSON. serde_json's own recursion limit bounds the parse.
fn mask_json_text<M: Masking + ?Sized>(
    masking: &M,
    text: &mut String,
    depth: usize,
) -> Option<bool> {
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return None;
    }
    let mut parsed = serde_json::from_str::<Value>(text).ok()?;
    if !mask_value(masking, &mut parsed, depth + 1) {
        // Unchanged: keep the original formatting.
        return Some(false);
    }
    *text = match serde_json::to_string(&parsed) {
        Ok(json) => json,
        // Unreachable for a `Value` (its keys are strings), but if it ever failed, hiding the
        // whole string is the safe side.
        Err(_) => masking.mask_with().to_owned(),
    };
    Some(true)
}

fn replace_with_mask<M: Masking + ?Sized>(masking: &M, value: &mut Value) -> bool {
    let mask = masking.mask_with();
    if matches!(value, Value::String(s) if s == mask) {
        return false;
    }
    *value = Value::String(mask.to_owned());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::occurrence::{ErrorLink, SpanRecord};
    use serde_json::json;

    const MASK: &str = DefaultMasking::DEFAULT_MASK;

    fn scrub(text: &str) -> Cow<'_, str> {
        scrub_sensitive_values(text, MASK)
    }

    fn map(value: Value) -> FieldMap {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn masked_extras(masking: &dyn Masking, extras: Value) -> Value {
        let mut occurrence = Occurrence::new("test", "m");
        occurrence.extras = map(extras);
        masking.mask(&mut occurrence);
        Value::Object(occurrence.extras)
    }

    #[test]
    fn default_mask_is_thirteen_asterisks() {
        assert_eq!(MASK.len(), 13);
        assert!(MASK.chars().all(|c| c == '*'));
        let masking = DefaultMasking::default();
        assert_eq!(masking.mask_with(), MASK);
        assert_eq!(masking.keys().len(), DefaultMasking::DEFAULT_KEYS.len());
    }

    #[test]
    fn default_keys_match_sensitive_names() {
        let masking = DefaultMasking::default();
        for key in [
            "password",
            "db_password",
            "Secret",
            "API-Key",
            "api_key",
            "x.apikey",
            "auth_token",
            "Authorization",
            "sessionid",
            "Cookie",
            "Set-Cookie",
            "user_password",
            "tags.secret",
            "PRIVATE_KEY",
            "pass.wd",
            "pass",
            "pwd",
            "user_pin",
            "pinCode",
            "PIN2",
            "cvv",
            "x-otp",
            "jwt",
            "bearer",
            "aws_access_key",
            "x-hub-signature-256",
        ] {
            assert!(masking.is_sensitive_key(key), "{key} should be sensitive");
        }
    }

    #[test]
    fn default_keys_keep_ordinary_names() {
        let masking = DefaultMasking::default();
        for key in [
            "username",
            "email",
            "user_id",
            "id",
            "",
            "key",
            "shipping",
            "spinner",
            "hotpath",
            "jwtish_name",
            "cvvx",
        ] {
            assert!(!masking.is_sensitive_key(key), "{key} should be kept");
        }
    }

    #[test]
    fn long_and_non_ascii_keys_use_the_same_rule() {
        let masking = DefaultMasking::default();
        let long = format!("{}_PASSWORD", "x".repeat(300));
        assert!(masking.is_sensitive_key(&long));
        assert!(!masking.is_sensitive_key(&"x".repeat(300)));
        assert!(masking.is_sensitive_key("пароль_password"));
        assert!(!masking.is_sensitive_key("пароль"));
        assert!(!masking.is_sensitive_key("🔑"));

        let russian = DefaultMasking::new(["Пароль"], MASK);
        assert!(russian.is_sensitive_key("ПАРОЛЬ"));
        assert!(russian.is_sensitive_key("мой-пароль"));
        assert!(!russian.is_sensitive_key("password"));
    }

    #[test]
    fn custom_keys_replace_the_defaults() {
        let masking = DefaultMasking::new(vec!["ssn".to_string(), "Card-Number".to_string()], "#");
        assert_eq!(masking.keys(), ["ssn", "Card-Number"]);
        assert!(masking.is_sensitive_key("user_ssn"));
        assert!(masking.is_sensitive_key("cardnumber"));
        assert!(masking.is_sensitive_key("CARD_NUMBER"));
        assert!(!masking.is_sensitive_key("password"));
    }

    #[test]
    fn empty_key_list_disables_key_masking() {
        let masking = DefaultMasking::new(Vec::<String>::new(), MASK);
        assert!(!masking.is_sensitive_key("password"));
        let only_separators = DefaultMasking::new(["", "_-."], MASK);
        assert!(!only_separators.is_sensitive_key("password"));
        assert!(!only_separators.is_sensitive_key("anything"));

        let extras = masked_extras(&masking, json!({"password": "hunter2"}));
        assert_eq!(extras, json!({"password": "hunter2"}));
        // Values are still scrubbed.
        let extras = masked_extras(&masking, json!({"url": "postgres://app:hunter2@db/x"}));
        assert_eq!(
            extras,
            json!({"url": format!("postgres://app:{MASK}@db/x")})
        );
    }

    #[test]
    fn custom_mask_with_is_used_literally() {
        let masking = DefaultMasking::new(["password"], "[$1 hidden]");
        let extras = masked_extras(
            &masking,
            json!({"password": "x", "header": "Bearer abc.def"}),
        );
        assert_eq!(
            extras,
            json!({"password": "[$1 hidden]", "header": "Bearer [$1 hidden]"})
        );
    }

    #[test]
    fn sensitive_key_hides_any_value_type() {
        let masking = DefaultMasking::default();
        let extras = masked_extras(
            &masking,
            json!({
                "credentials": {"user": "u", "pass": "p"},
                "tokens": ["a", "b"],
                "session": 42,
                "cookie": null,
                "secret": true,
                "name": "kept",
            }),
        );
        assert_eq!(
            extras,
            json!({
                "credentials": MASK,
                "tokens": MASK,
                "session": MASK,
                "cookie": MASK,
                "secret": MASK,
                "name": "kept",
            })
        );
    }

    #[test]
    fn nested_objects_are_masked_by_key() {
        let extras = masked_extras(
            &DefaultMasking::default(),
            json!({"user": {"password": "x", "name": "n"}}),
        );
        assert_eq!(extras, json!({"user": {"password": MASK, "name": "n"}}));
    }

    #[test]
    fn arrays_of_objects_are_masked() {
        let extras = masked_extras(
            &DefaultMasking::default(),
            json!({"accounts": [
                {"login": "a", "api_key": "k1"},
                {"login": "b", "api_key": "k2"},
                "Bearer t0k3n",
                7
            ]}),
        );
        assert_eq!(
            extras,
            json!({"accounts": [
                {"login": "a", "api_key": MASK},
                {"login": "b", "api_key": MASK},
                format!("Bearer {MASK}"),
                7
            ]})
        );
    }

    #[test]
    fn json_inside_strings_is_masked() {
        let extras = masked_extras(
            &DefaultMasking::default(),
            json!({
                "body": "{\"password\":\"x\",\"name\":\"n\"}",
                "list": " [{\"token\": \"t\"}, \"postgres://app:hunter2@db/x\"]",
                "plain": "{\"name\": \"n\"}",
                "broken": "{password: x",
            }),
        );
        assert_eq!(
            extras["body"],
            json!(format!(r#"{{"password":"{MASK}","name":"n"}}"#))
        );
        let list: Value = serde_json::from_str(extras["list"].as_str().unwrap()).unwrap();
        assert_eq!(
            list,
            json!([{"token": MASK}, format!("postgres://app:{MASK}@db/x")])
        );
        // Unchanged JSON keeps its original formatting.
        assert_eq!(extras["plain"], json!("{\"name\": \"n\"}"));
        // Not JSON, but still a sensitive key with a value.
        assert_eq!(extras["broken"], json!(format!("{{password: {MASK}")));
    }

    #[test]
    fn luhn_valid_cards_are_masked() {
        assert_eq!(scrub("4111 1111 1111 1111"), MASK);
        assert_eq!(scrub("4111-1111-1111-1111"), MASK);
        assert_eq!(scrub("card=4111111111111111;"), format!("card={MASK};"));
        assert_eq!(
            scrub("amex 3782 822463 10005 ok"),
            format!("amex {MASK} ok")
        );
        assert_eq!(
            scrub("paid with 5555555555554444 and 4012888888881881"),
            format!("paid with {MASK} and {MASK}")
        );
        // A card within a longer run of groups is still found.
        assert_eq!(
            scrub("ref 7 4111 1111 1111 1111 2024-01-01"),
            format!("ref 7 {MASK} 2024-01-01")
        );
    }

    #[test]
    fn luhn_invalid_and_other_numbers_are_kept() {
        for text in [
            "4111111111111112",
            "order 4111 1111 1111 1112",
            "123456789012",
            "12345678901234567890123",
            "4111  1111  1111  1111",
            "v1.2.3 at 2024-01-01 12:00:00",
        ] {
            assert!(
                matches!(scrub(text), Cow::Borrowed(_)),
                "{text} should be kept"
            );
        }
    }

    #[test]
    fn bearer_and_basic_credentials_are_masked() {
        assert_eq!(
            scrub("Authorization: Bearer eyJhbGciOi.J9-_~+/x=="),
            format!("Authorization: Bearer {MASK}")
        );
        assert_eq!(scrub("bearer abc, next"), format!("bearer {MASK}, next"));
        assert_eq!(scrub("BEARER\tabc"), format!("BEARER\t{MASK}"));
        // base64("user:pass")
        assert_eq!(
            scrub("Authorization: Basic dXNlcjpwYXNz"),
            format!("Authorization: Basic {MASK}")
        );
        // base64("aladdin:opensesame"), padded
        assert_eq!(
            scrub("basic YWxhZGRpbjpvcGVuc2VzYW1l="),
            format!("basic {MASK}")
        );
        // Prose and non-credentials stay.
        assert!(matches!(scrub("the basic idea"), Cow::Borrowed(_)));
        assert!(matches!(scrub("Basic bm9jb2xvbg=="), Cow::Borrowed(_)));
        assert!(matches!(scrub("unbearable"), Cow::Borrowed(_)));
    }

    #[test]
    fn url_passwords_are_masked_and_users_kept() {
        assert_eq!(
            scrub("postgres://app:hunter2@db/x"),
            format!("postgres://app:{MASK}@db/x")
        );
        assert_eq!(
            scrub("connect to redis://:s3cr3t@cache:6379 failed"),
            format!("connect to redis://:{MASK}@cache:6379 failed")
        );
        assert_eq!(
            scrub("mysql://root:p@ss@db:3306/app"),
            format!("mysql://root:{MASK}@db:3306/app")
        );
        assert_eq!(
            scrub("a https://u:p@h b https://v:q@i"),
            format!("a https://u:{MASK}@h b https://v:{MASK}@i")
        );
        for text in [
            "https://example.com:8080/path?x=a@b",
            "ssh://git@github.com/x",
            "user:password@host",
        ] {
            assert!(
                matches!(scrub(text), Cow::Borrowed(_)),
                "{text} should be kept"
            );
        }
    }

    #[test]
    fn unchanged_and_already_masked_text_is_borrowed() {
        for text in [
            "",
            "nothing to see here",
            "user 42 failed to log in",
            "пароль 🔑 4111",
        ] {
            assert!(matches!(scrub(text), Cow::Borrowed(_)), "{text}");
        }
        let once = scrub("postgres://app:hunter2@db/x Bearer abc 4111111111111111").into_owned();
        assert!(matches!(scrub(&once), Cow::Borrowed(_)), "{once}");
    }

    #[test]
    fn whole_occurrence_is_masked() {
        let mut occurrence =
            Occurrence::new("sqlx::Error", "connect postgres://app:hunter2@db/x failed");
        occurrence.error_chain = vec![
            ErrorLink {
                kind: "sqlx::Error".into(),
                message: "auth failed for Bearer abc".into(),
            },
            ErrorLink {
                kind: "io::Error".into(),
                message: "refused".into(),
            },
        ];
        occurrence.fields = map(json!({"password": "f", "card": "4111 1111 1111 1111"}));
        occurrence.spans = vec![SpanRecord {
            name: "request".into(),
            fields: map(json!({"Set-Cookie": "c", "path": "/login"})),
            ..SpanRecord::default()
        }];
        occurrence.tags = map(json!({"secret": "s", "region": "eu"}));
        occurrence.user = Some(json!({"id": 7, "email": "a@b.c", "session": "xyz"}));
        occurrence.custom_fingerprint = Some("db-4111111111111111".into());

        DefaultMasking::default().mask(&mut occurrence);

        assert_eq!(
            occurrence.message,
            format!("connect postgres://app:{MASK}@db/x failed")
        );
        assert_eq!(
            occurrence.error_chain[0].message,
            format!("auth failed for Bearer {MASK}")
        );
        assert_eq!(occurrence.error_chain[1].message, "refused");
        assert_eq!(
            Value::Object(occurrence.fields),
            json!({"password": MASK, "card": MASK})
        );
        assert_eq!(
            Value::Object(occurrence.spans[0].fields.clone()),
            json!({"Set-Cookie": MASK, "path": "/login"})
        );
        assert_eq!(
            Value::Object(occurrence.tags),
            json!({"secret": MASK, "region": "eu"})
        );
        assert_eq!(
            occurrence.user,
            Some(json!({"id": 7, "email": "a@b.c", "session": MASK}))
        );
        assert_eq!(
            occurrence.custom_fingerprint.as_deref(),
            Some(format!("db-{MASK}").as_str())
        );
    }

    struct OnlyKeys;

    impl Masking for OnlyKeys {
        fn is_sensitive_key(&self, key: &str) -> bool {
            key == "pin"
        }
        fn mask_with(&self) -> &str {
            "<hidden>"
        }
    }

    #[test]
    fn custom_masking_gets_the_default_walk() {
        let mut occurrence = Occurrence::new("e", "token Bearer abc");
        occurrence.extras = map(json!({"pin": 1234, "password": "p", "nested": {"pin": "x"}}));
        let masking: Box<dyn Masking> = Box::new(OnlyKeys);
        masking.mask(&mut occurrence);
        assert_eq!(occurrence.message, "token Bearer <hidden>");
        assert_eq!(
            Value::Object(occurrence.extras),
            json!({"pin": "<hidden>", "password": "p", "nested": {"pin": "<hidden>"}})
        );
    }

    struct UpperCase;

    impl Masking for UpperCase {
        fn is_sensitive_key(&self, _: &str) -> bool {
            false
        }
        fn mask_with(&self) -> &str {
            "?"
        }
        fn scrub_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
            Cow::Owned(text.to_uppercase())
        }
    }

    #[test]
    fn overridden_scrub_text_is_used_by_the_walk() {
        let mut occurrence = Occurrence::new("e", "message");
        occurrence.extras = map(json!({"a": ["x", {"b": "y"}], "j": "[\"z\"]"}));
        mask_occurrence(&UpperCase, &mut occurrence);
        assert_eq!(occurrence.message, "MESSAGE");
        assert_eq!(
            Value::Object(occurrence.extras),
            json!({"a": ["X", {"b": "Y"}], "j": "[\"Z\"]"})
        );
    }

    #[test]
    fn deep_nesting_is_cut_without_overflowing() {
        let mut deep = json!("password");
        for _ in 0..500 {
            deep = Value::Array(vec![deep]);
        }
        let extras = masked_extras(&DefaultMasking::default(), json!({ "deep": deep }));
        let mut value = &extras["deep"];
        let mut levels = 0;
        while let Value::Array(items) = value {
            value = &items[0];
            levels += 1;
        }
        assert_eq!(levels, MAX_DEPTH);
        assert_eq!(value, &json!(MASK));

        // Shallow enough: untouched.
        let mut shallow = json!("kept");
        for _ in 0..10 {
            shallow = json!({ "inner": shallow });
        }
        let extras = masked_extras(&DefaultMasking::default(), json!({ "s": shallow.clone() }));
        assert_eq!(extras["s"], shallow);

        // Deeper than serde_json's parser allows: scrubbed as plain text, no panic.
        let text = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        let extras = masked_extras(&DefaultMasking::default(), json!({ "t": text.clone() }));
        assert_eq!(extras["t"], json!(text));
    }

    #[test]
    fn non_ascii_keys_and_values_do_not_panic() {
        let extras = masked_extras(
            &DefaultMasking::default(),
            json!({
                "пароль": "секрет 🔑 4111 1111 1111 1111 ✓",
                "🔑": "Bearer токен",
                "ключ_password": "x",
                "emoji": "🔑🔑 postgres://ü:пароль@хост/db 🔑",
            }),
        );
        assert_eq!(
            extras,
            json!({
                "пароль": format!("секрет 🔑 {MASK} ✓"),
                "🔑": "Bearer токен",
                "ключ_password": MASK,
                "emoji": format!("🔑🔑 postgres://ü:{MASK}@хост/db 🔑"),
            })
        );
    }

    #[test]
    fn luhn_and_base64_helpers() {
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert!(base64_contains_colon("dXNlcjpwYXNz"));
        assert!(base64_contains_colon("Og=="));
        assert!(!base64_contains_colon("aWRlYQ"));
        assert!(!base64_contains_colon("not base64!"));
    }
}
