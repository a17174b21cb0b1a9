//! Sanity-checks a label downloaded from Canada Post before we keep it, so a
//! wrong product (e.g. a Letter-size page meant for an office printer) or an
//! error page saved as `.pdf` is caught while the user is still at the
//! terminal, not at the thermal printer.
//!
//! This is a byte scan, not a PDF parser: it looks for `/MediaBox [x0 y0 x1 y1]`
//! arrays and `/Type /Page` dictionaries anywhere in the file. That is enough
//! for the plain, uncompressed label PDFs Canada Post serves, and keeps us free
//! of a PDF dependency. Known limits, all of which fail the check rather than
//! pass it silently:
//!
//! - Compressed object streams (PDF 1.5+) are out of scope. If every MediaBox
//!   lives inside one, none is visible and we report [`LabelProblem::NoPage`],
//!   which the caller treats as a failed check.
//! - A MediaBox given as an indirect reference (`/MediaBox 7 0 R`), or an array
//!   that is truncated or holds non-numbers, is skipped as unreadable; if no
//!   readable MediaBox remains, that is also `NoPage`.

/// What a label that passed the check looks like.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelInspection {
    pub pages: usize,
}

/// Why downloaded bytes are not a usable 4x6 label.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LabelProblem {
    #[error("the label download was empty")]
    Empty,
    /// Does not start with `%PDF-`. No leading junk is tolerated: Canada Post
    /// sends the PDF itself, so anything else is an error body or HTML page.
    #[error("the label download is not a PDF (it does not start with %PDF-)")]
    NotPdf,
    /// No page object or readable MediaBox found.
    #[error(
        "the label PDF has no page size that could be read (no /MediaBox found; it may be \
         compressed, which this check does not support)"
    )]
    NoPage,
    #[error(
        "the label's page is {width_points} x {height_points} points, not 4x6 inches \
         ({FOUR_INCHES} x {SIX_INCHES})"
    )]
    WrongPageSize {
        width_points: f64,
        height_points: f64,
    },
}

impl LabelProblem {
    /// A letter page (8.5x11 inches, either orientation): how a non-contract label
    /// comes, with the 4x6 label on part of the page.
    pub fn is_letter_page(&self) -> bool {
        let near = |a: f64, b: f64| (a - b).abs() <= TOLERANCE_POINTS;
        matches!(self, LabelProblem::WrongPageSize { width_points, height_points }
            if (near(*width_points, 612.0) && near(*height_points, 792.0))
                || (near(*width_points, 792.0) && near(*height_points, 612.0)))
    }
}

const FOUR_INCHES: f64 = 288.0;
const SIX_INCHES: f64 = 432.0;
/// Some generators round inches to millimetres and back, so demand a near
/// match, not an exact one.
const TOLERANCE_POINTS: f64 = 2.0;

/// Checks that `bytes` is a PDF whose every MediaBox is 4x6 inches (either
/// orientation) and counts its pages.
pub fn inspect_label(bytes: &[u8]) -> Result<LabelInspection, LabelProblem> {
    if bytes.is_empty() {
        return Err(LabelProblem::Empty);
    }
    if !bytes.starts_with(b"%PDF-") {
        return Err(LabelProblem::NotPdf);
    }

    let boxes: Vec<(f64, f64)> = occurrences(bytes, b"/MediaBox")
        .filter_map(|at| read_media_box(bytes, at + b"/MediaBox".len()))
        .collect();
    if boxes.is_empty() {
        return Err(LabelProblem::NoPage);
    }
    // Inherited boxes on the Pages tree count too: a page without its own
    // MediaBox would be printed at the inherited size.
    if let Some(&(width, height)) = boxes.iter().find(|(w, h)| !is_four_by_six(*w, *h)) {
        return Err(LabelProblem::WrongPageSize {
            width_points: width,
            height_points: height,
        });
    }

    // A MediaBox proves there is a page even if its /Type was not spotted
    // (e.g. the page dictionary spelled it in a way the scan misses).
    let pages = count_pages(bytes).max(1);
    Ok(LabelInspection { pages })
}

#[cfg(test)]
mod letter_tests {
    use super::*;

    #[test]
    fn only_a_letter_page_is_a_letter_page() {
        let page = |width_points, height_points| LabelProblem::WrongPageSize {
            width_points,
            height_points,
        };
        assert!(page(612.0, 792.0).is_letter_page());
        assert!(page(792.0, 612.0).is_letter_page());
        assert!(page(611.5, 792.0).is_letter_page());
        assert!(!page(595.0, 842.0).is_letter_page(), "A4");
        assert!(!LabelProblem::NoPage.is_letter_page());
    }
}

fn is_four_by_six(width: f64, height: f64) -> bool {
    let near = |a: f64, b: f64| (a - b).abs() <= TOLERANCE_POINTS;
    (near(width, FOUR_INCHES) && near(height, SIX_INCHES))
        || (near(width, SIX_INCHES) && near(height, FOUR_INCHES))
}

fn occurrences<'a>(haystack: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(move |(_, window)| *window == needle)
        .map(|(at, _)| at)
}

/// `/Type /Page` or `/Type/Page`, but not `/Type /Pages` (the page tree root)
/// nor any other name that merely starts with `Page`.
fn count_pages(bytes: &[u8]) -> usize {
    occurrences(bytes, b"/Type")
        .filter(|&at| {
            let value = skip_whitespace(bytes, at + b"/Type".len());
            let after = value + b"/Page".len();
            bytes.get(value..after) == Some(b"/Page".as_slice())
                && bytes.get(after).is_none_or(|&b| !is_regular(b))
        })
        .count()
}

/// Reads `[x0 y0 x1 y1]` starting at `at` (just past the key) and returns
/// (width, height), or `None` if it is not a complete array of four numbers.
fn read_media_box(bytes: &[u8], at: usize) -> Option<(f64, f64)> {
    let mut at = skip_whitespace(bytes, at);
    if bytes.get(at) != Some(&b'[') {
        return None;
    }
    at += 1;
    let mut numbers = [0.0_f64; 4];
    for slot in &mut numbers {
        let (value, next) = read_number(bytes, skip_whitespace(bytes, at))?;
        *slot = value;
        at = next;
    }
    if bytes.get(skip_whitespace(bytes, at)) != Some(&b']') {
        return None;
    }
    let [x0, y0, x1, y1] = numbers;
    let (width, height) = ((x1 - x0).abs(), (y1 - y0).abs());
    // Finite inputs can still overflow when subtracted.
    (width.is_finite() && height.is_finite()).then_some((width, height))
}

/// A PDF number: optional sign, digits with at most one `.`, and at least one
/// digit (`288`, `288.0`, `-.5`, `+3.`). Exponents are not PDF syntax.
fn read_number(bytes: &[u8], start: usize) -> Option<(f64, usize)> {
    let rest = bytes.get(start..)?;
    let len = rest
        .iter()
        .take_while(|b| matches!(b, b'0'..=b'9' | b'.' | b'+' | b'-'))
        .count();
    let token = &rest[..len];
    let unsigned = match token.first() {
        Some(b'+' | b'-') => &token[1..],
        _ => token,
    };
    let well_formed = unsigned.iter().any(u8::is_ascii_digit)
        && unsigned.iter().filter(|&&b| b == b'.').count() <= 1
        && unsigned.iter().all(|&b| b.is_ascii_digit() || b == b'.');
    // The number must end at a token boundary, or "288R" would read as 288.
    let ends_cleanly = rest.get(len).is_none_or(|&b| !is_regular(b));
    if !well_formed || !ends_cleanly {
        return None;
    }
    let value: f64 = std::str::from_utf8(token).ok()?.parse().ok()?;
    value.is_finite().then_some((value, start + len))
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(|&b| is_whitespace(b)) {
        at += 1;
    }
    at
}

/// PDF white-space characters (ISO 32000-1, table 1).
fn is_whitespace(b: u8) -> bool {
    matches!(b, b'\0' | b'\t' | b'\n' | b'\x0C' | b'\r' | b' ')
}

/// Anything that is neither white space nor a delimiter continues a token.
fn is_regular(b: u8) -> bool {
    !is_whitespace(b) && !b"()<>[]{}/%".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdf(body: &str) -> Vec<u8> {
        format!("%PDF-1.4\n%\u{e2}\n{body}\n%%EOF\n").into_bytes()
    }

    fn one_page(media_box: &str) -> Vec<u8> {
        pdf(&format!(
            "1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
             2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n\
             3 0 obj << /Type /Page /Parent 2 0 R /MediaBox {media_box} >> endobj"
        ))
    }

    #[test]
    fn four_by_six_is_accepted() {
        let result = inspect_label(&one_page("[0 0 288 432]"));
        assert_eq!(result, Ok(LabelInspection { pages: 1 }));
    }

    #[test]
    fn letter_is_rejected_with_its_size() {
        let result = inspect_label(&one_page("[0 0 612 792]"));
        let problem = result.unwrap_err();
        assert_eq!(
            problem,
            LabelProblem::WrongPageSize {
                width_points: 612.0,
                height_points: 792.0
            }
        );
        assert_eq!(
            problem.to_string(),
            "the label's page is 612 x 792 points, not 4x6 inches (288 x 432)"
        );
    }

    #[test]
    fn rotated_reals_negative_and_tight_spacing_are_accepted() {
        for media_box in [
            "[0 0 432 288]",
            "[0.0 0.0 288.0 432.0]",
            "[-144 -216 144 216]",
            "[+0 0 288. 432.00]",
            "[0\n0\r\n288\t432]",
            "[ 0 0 288 432 ]",
            "[0 0 289.5 430.1]",
        ] {
            let result = inspect_label(&one_page(media_box));
            assert_eq!(result, Ok(LabelInspection { pages: 1 }), "{media_box}");
        }
        let no_space = pdf("<</Type/Page/MediaBox[0 0 288 432]>>");
        assert_eq!(inspect_label(&no_space), Ok(LabelInspection { pages: 1 }));
    }

    #[test]
    fn just_outside_tolerance_is_rejected() {
        assert!(matches!(
            inspect_label(&one_page("[0 0 290.5 432]")),
            Err(LabelProblem::WrongPageSize { .. })
        ));
    }

    #[test]
    fn inherited_media_box_must_also_be_four_by_six() {
        let bytes = pdf(
            "2 0 obj << /Type /Pages /MediaBox [0 0 612 792] /Count 1 >> endobj\n\
             3 0 obj << /Type /Page /MediaBox [0 0 288 432] >> endobj",
        );
        assert!(matches!(
            inspect_label(&bytes),
            Err(LabelProblem::WrongPageSize { width_points, .. }) if width_points == 612.0
        ));
    }

    #[test]
    fn pages_are_counted_but_not_the_page_tree() {
        let bytes = pdf("<< /Type /Pages /Count 2 /MediaBox [0 0 288 432] >>\n\
             << /Type /Page >>\n<</Type/Page>>\n<< /Type /PageLabel >>");
        assert_eq!(inspect_label(&bytes), Ok(LabelInspection { pages: 2 }));
        let untyped = pdf("<< /MediaBox [0 0 288 432] >>");
        assert_eq!(inspect_label(&untyped), Ok(LabelInspection { pages: 1 }));
    }

    #[test]
    fn empty_and_non_pdf() {
        assert_eq!(inspect_label(b""), Err(LabelProblem::Empty));
        assert_eq!(inspect_label(b"hello"), Err(LabelProblem::NotPdf));
        assert_eq!(
            inspect_label(b" %PDF-1.4 /MediaBox [0 0 288 432]"),
            Err(LabelProblem::NotPdf)
        );
        assert_eq!(inspect_label(b"%PDF"), Err(LabelProblem::NotPdf));
    }

    #[test]
    fn unreadable_media_boxes_mean_no_page() {
        assert_eq!(inspect_label(b"%PDF-1.4"), Err(LabelProblem::NoPage));
        for media_box in [
            "7 0 R",
            "[0 0 288",
            "[0 0 288 432",
            "[0 0 288R 432]",
            "[0 0 2.8.8 432]",
            "[0 0 - 432]",
            "[0 0 1e3 432]",
            "[0 0 288 432 0]",
            "[0 0 nan 432]",
        ] {
            assert_eq!(
                inspect_label(&one_page(media_box)),
                Err(LabelProblem::NoPage),
                "{media_box}"
            );
        }
        let huge = one_page(&format!("[0 0 {} 432]", "9".repeat(400)));
        assert_eq!(inspect_label(&huge), Err(LabelProblem::NoPage));
        let truncated = b"%PDF-1.4 /MediaBox [0 0 288 432";
        assert_eq!(inspect_label(truncated), Err(LabelProblem::NoPage));
    }

    #[test]
    fn large_finite_numbers_are_reported_not_crashed_on() {
        // Each number is finite; only the difference overflows.
        let big = format!("{}", f64::MAX);
        let bytes = one_page(&format!("[-{big} 0 {big} 432]"));
        assert_eq!(inspect_label(&bytes), Err(LabelProblem::NoPage));
        let bytes = one_page(&format!("[0 0 {big} 432]"));
        assert!(matches!(
            inspect_label(&bytes),
            Err(LabelProblem::WrongPageSize { .. })
        ));
    }

    #[test]
    fn every_problem_has_a_sentence() {
        for problem in [
            LabelProblem::Empty,
            LabelProblem::NotPdf,
            LabelProblem::NoPage,
            LabelProblem::WrongPageSize {
                width_points: 595.28,
                height_points: 841.89,
            },
        ] {
            assert!(problem.to_string().starts_with("the label"));
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        const FRAGMENTS: &[&[u8]] = &[
            b"%PDF-",
            b"/MediaBox [",
            b"/MediaBox[",
            b"/MediaBox",
            b"/Type /Page",
            b"/Type/Pages",
            b"/Type",
            b"288",
            b"432.0",
            b"-0.5",
            b"999999999999999999999999999999999999",
            b"1e999",
            b"NaN",
            b"[",
            b"]",
            b" ",
            b"\n",
            b".",
            b"-",
            b"+",
        ];
        let mut rng = crate::testing::Rng::new(0x9E37_79B9_7F4A_7C15);
        for round in 0..2000 {
            let mut bytes = Vec::new();
            if round % 2 == 0 {
                bytes.extend_from_slice(b"%PDF-");
            }
            let pieces = rng.below(40);
            for _ in 0..pieces {
                let roll = rng.next();
                if roll.is_multiple_of(3) {
                    bytes.push((roll >> 8) as u8);
                } else {
                    let fragment = FRAGMENTS[(roll >> 8) as usize % FRAGMENTS.len()];
                    bytes.extend_from_slice(fragment);
                }
            }
            match inspect_label(&bytes) {
                Ok(inspection) => assert!(inspection.pages >= 1),
                Err(problem) => assert!(!problem.to_string().is_empty()),
            }
        }
    }
}
