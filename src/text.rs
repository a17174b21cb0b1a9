//! How untrusted text — from an API answer, an order, a file — is made safe and short for
//! a log line, a message or a report.
//!
//! Every function here runs one loop (`shown`): registered secrets redacted first (a
//! secret cut in half is no longer recognised, and half of one is still a leak), control
//! characters written as their Rust escapes (`\n`, `\u{1b}`) so a hostile value can
//! neither forge a log line nor drive the reader's terminal, and at most `keep`
//! characters shown, escapes counted as they are shown, never one cut in half. A cut
//! value ends in `…`, followed by its full length where a person may want to know it.

/// How many characters of a value a message shows unless it says otherwise.
const KEEP: usize = 80;

/// How many characters of a response body an excerpt shows.
const EXCERPT_KEEP: usize = 300;

/// A value made fit for one line of a log: control characters escaped, at most 80
/// characters shown, then `… (N characters)`. Everything else, quotes and accents
/// included, is kept as it is.
pub fn printable(value: &str) -> String {
    printable_within(value, KEEP)
}

/// `printable`, showing up to `keep` characters: for a service's own sentence (a Canada
/// Post message quotes a whole URL), which is the news in an error and must be read whole.
pub fn printable_within(value: &str, keep: usize) -> String {
    let shown = shown(value, keep, Escape::Controls, Whitespace::Kept);
    let mut text = shown.text;
    text.push_str(&shown.cut.map(length_note).unwrap_or_default());
    text
}

/// A value in double quotes, escaped as Rust's `{:?}` writes a string (quotes,
/// backslashes and unprintable characters too), so where the value ends is never in
/// doubt: `"K1A 0B"`, or `"xxxx"… (200 characters)` past 80 characters.
pub fn quoted(value: &str) -> String {
    let shown = shown(value, KEEP, Escape::Debug, Whitespace::Kept);
    let note = shown.cut.map(length_note).unwrap_or_default();
    format!("\"{}\"{note}", shown.text)
}

/// A response body for a message, on one line: trimmed, each run of white space (line
/// breaks included) one space, other control characters escaped, at most 300 characters
/// shown and then `…`.
pub fn excerpt(text: &str) -> String {
    let shown = shown(
        text.trim(),
        EXCERPT_KEEP,
        Escape::Controls,
        Whitespace::Collapsed,
    );
    let mut excerpt = shown.text;
    if shown.cut.is_some() {
        excerpt.push('…');
    }
    excerpt
}

/// The first clause of a reason (up to its first `; `), `printable` within `keep`
/// characters: what a run's one-line summary says of each failure, whose full message is
/// on its own error line.
pub fn first_clause(reason: &str, keep: usize) -> String {
    let first = reason.split("; ").next().unwrap_or(reason);
    printable_within(first, keep)
}

/// What is done with a character that must not reach a log line as it is.
#[derive(Clone, Copy)]
enum Escape {
    /// Control characters only: the text stays as a person wrote it.
    Controls,
    /// Everything `{:?}` escapes in a string: for a value between double quotes.
    Debug,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Whitespace {
    Kept,
    /// Each run of white space becomes one space.
    Collapsed,
}

/// The text to show, and the full length in characters of the (redacted) value when it
/// was cut.
struct Shown {
    text: String,
    cut: Option<usize>,
}

/// `… (N characters)`: how a cut value ends where its length is worth knowing.
fn length_note(length: usize) -> String {
    format!("… ({length} characters)")
}

/// The one loop every function above shares.
fn shown(value: &str, keep: usize, escape: Escape, whitespace: Whitespace) -> Shown {
    let value = crate::secret::redact(value);
    let mut text = String::with_capacity(value.len().min(keep));
    let mut length = 0;
    let mut characters = value.chars().peekable();
    while let Some(c) = characters.next() {
        let piece: String = if whitespace == Whitespace::Collapsed && c.is_whitespace() {
            while characters.next_if(|next| next.is_whitespace()).is_some() {}
            " ".to_owned()
        } else {
            match escape {
                Escape::Controls if c.is_control() => c.escape_debug().collect(),
                // `{:?}` of a string leaves single quotes alone; `char::escape_debug`
                // escapes them, and is otherwise the same.
                Escape::Debug if c != '\'' => c.escape_debug().collect(),
                Escape::Controls | Escape::Debug => c.to_string(),
            }
        };
        let piece_length = piece.chars().count();
        if length + piece_length > keep {
            return Shown {
                text,
                cut: Some(value.chars().count()),
            };
        }
        length += piece_length;
        text.push_str(&piece);
    }
    Shown { text, cut: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    // From `ids` (`printable_escapes_control_characters_only`).
    #[test]
    fn printable_escapes_control_characters_only() {
        assert_eq!(printable("Côté \"& Sons\""), "Côté \"& Sons\"");
        assert_eq!(printable("a\nb\0c\u{1b}[2J\t"), "a\\nb\\0c\\u{1b}[2J\\t");
        assert_eq!(printable("\u{85}"), "\\u{85}");
        let long = printable(&"\n".repeat(500));
        assert!(
            long.ends_with("(500 characters)") && !long.contains('\n'),
            "{long}"
        );
    }

    // From `ids` (`shorten_keeps_short_values_and_cuts_long_ones`): `ids::shorten` is
    // now `quoted` in every message that used it.
    #[test]
    fn quoted_keeps_short_values_and_cuts_long_ones() {
        assert_eq!(quoted("abc"), "\"abc\"");
        let cut = quoted(&"x".repeat(1000));
        assert!(cut.len() < 120 && cut.contains("1000 characters"), "{cut}");
        assert_eq!(cut, format!("\"{}\"… (1000 characters)", "x".repeat(80)));
    }

    #[test]
    fn quoted_escapes_like_debug_formatting() {
        for value in [
            "K1A 0B",
            "O'Brien \"Jr\" \\ C:",
            "26\u{1b}[2J\nbbship: error: forged",
            "e\u{301}te\u{301}\u{202e}",
            "261300005-🚚",
        ] {
            assert_eq!(quoted(value), format!("{value:?}"));
        }
    }

    // From `phase::preflight` (`the_error_display_names_the_field_and_shortens_the_value`),
    // as far as it is about the value.
    #[test]
    fn quoted_cuts_outside_the_quotes_and_escapes_line_breaks() {
        let shown = quoted(&"x\n".repeat(100));
        assert!(shown.ends_with("\"… (200 characters)"), "{shown}");
        assert!(!shown.contains('\n'), "{shown}");
    }

    // From `http` (`excerpts_are_one_short_line_without_control_characters`).
    #[test]
    fn excerpts_are_one_short_line_without_control_characters() {
        assert_eq!(
            excerpt("  <html>\r\n  <body>\tDown\u{1b}[2J\0</body>\n"),
            "<html> <body> Down\\u{1b}[2J\\0</body>"
        );
        let long = excerpt(&"x\n".repeat(1000));
        assert_eq!(long.chars().count(), 301, "{long}");
        assert!(long.ends_with('…') && !long.contains('\n'));
        assert_eq!(excerpt("short"), "short");
        let escapes = excerpt(&"\0".repeat(1000));
        assert!(escapes.chars().count() <= 302, "{escapes}");
    }

    #[test]
    fn an_escape_is_never_cut_in_half_and_counts_as_shown() {
        let shown = printable_within(&"\u{1b}".repeat(10), 20);
        assert_eq!(shown, format!("{}… (10 characters)", "\\u{1b}".repeat(3)));
        assert_eq!(printable_within("abc", 3), "abc");
        assert_eq!(printable_within("abcd", 3), "abc… (4 characters)");
    }

    // From `phase` (`brief`, through the run summary's tests): the first clause only,
    // cut with its own length.
    #[test]
    fn first_clause_keeps_the_first_clause_and_cuts_it() {
        assert_eq!(
            first_clause("no answer; retried 3 times; gave up", 80),
            "no answer"
        );
        assert_eq!(first_clause("one\nclause", 80), "one\\nclause");
        let long = first_clause(&format!("{}; more", "r".repeat(150)), 80);
        assert_eq!(long, format!("{}… (150 characters)", "r".repeat(80)));
    }

    #[test]
    fn secrets_are_redacted_before_the_cut() {
        crate::secret::register_for_redaction("text-rs-secret-value-0123456789");
        let value = format!("{}text-rs-secret-value-0123456789", "a".repeat(70));
        for shown in [printable(&value), quoted(&value), excerpt(&value)] {
            assert!(!shown.contains("text-rs-se"), "{shown}");
        }
    }
}
