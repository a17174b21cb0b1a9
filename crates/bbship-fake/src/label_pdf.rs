//! Writes a stand-in 4x6 shipping label as a real PDF, so that dry runs and
//! tests produce a file a person can open, print and eyeball exactly like a
//! label bought from Canada Post, without pulling in a PDF library.
//!
//! The document is deliberately tiny: one page, one content stream and the
//! standard Helvetica font, which every viewer must provide, so nothing is
//! embedded. Text is reduced to printable ASCII because the font is used with
//! WinAnsiEncoding and no font program is shipped; anything fancier would need
//! a real text-encoding layer that a placeholder label does not justify.

/// Page size in points: 4 x 6 inches at 72 points per inch.
const PAGE_WIDTH: u32 = 288;
const PAGE_HEIGHT: u32 = 432;
const MARGIN: u32 = 18;
const FONT_SIZE: u32 = 11;
const LEADING: u32 = 14;
/// Limit from the label's spec; the width check below is what actually keeps
/// upper-case heavy lines inside the border.
const MAX_LINE_CHARS: usize = 45;
/// Room between the margins, in 1/1000 text-space units at `FONT_SIZE`, so the
/// width test stays in integers.
const MAX_LINE_WIDTH_UNITS: u32 = (PAGE_WIDTH - 2 * MARGIN) * 1000;
/// The barcode band occupies the bottom of the page; text lines that would
/// dip into it are dropped rather than drawn over the bars.
const BARCODE_BOTTOM: u32 = 36;
const BARCODE_HEIGHT: u32 = 50;
const BARCODE_TEXT_SIZE: u32 = 9;
const TEXT_FLOOR: u32 = BARCODE_BOTTOM + BARCODE_HEIGHT + 10;

/// Helvetica advance widths (1/1000 em) for bytes 32..=126 under
/// WinAnsiEncoding, from Adobe's core-font metrics. Needed only to decide
/// where to truncate a line so it does not run past the right margin.
const HELVETICA_WIDTHS: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // ' '..'/'
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584,
    556, // '0'..'?'
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722,
    778, // '@'..'O'
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
    556, // 'P'..'_'
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556,
    556, // '`'..'o'
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // 'p'..'~'
];

/// A one-page 4x6 PDF label. Non-ASCII characters are written as '?'; `(`, `)` and `\` are escaped.
///
/// Lines are cut at 45 characters (or earlier if they would cross the right
/// margin), and lines that would reach the barcode band are left off.
pub fn four_by_six_label_pdf(lines: &[String], barcode: &str) -> Vec<u8> {
    label_pdf(lines, barcode, (PAGE_WIDTH, PAGE_HEIGHT), (0, 0))
}

/// The same label on a letter page (8.5x11 inches, 612 x 792 points), in its upper
/// right quarter: how a non-contract label comes, whose request cannot ask for 4x6.
pub fn letter_page_label_pdf(lines: &[String], barcode: &str) -> Vec<u8> {
    label_pdf(lines, barcode, (612, 792), (310, 263))
}

/// The label drawn at `origin` (points from the bottom left) on a page of `page` size.
fn label_pdf(lines: &[String], barcode: &str, page: (u32, u32), origin: (u32, u32)) -> Vec<u8> {
    let (page_width, page_height) = page;
    let mut content = format!("q 1 0 0 1 {} {} cm\n", origin.0, origin.1).into_bytes();
    content.extend(page_content(lines, barcode));
    content.extend_from_slice(b"\nQ");

    let objects: [Vec<u8>; 5] = [
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {page_width} {page_height}] \
             /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>"
        )
        .into_bytes(),
        stream_object(&content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    ];

    // The high-bit comment tells transfer tools the file is binary, so they
    // do not "fix" line endings and break the xref offsets.
    let mut out: Vec<u8> = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (index, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", index + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }

    let xref_offset = out.len();
    let size = objects.len() + 1;
    out.extend_from_slice(format!("xref\n0 {size}\n").as_bytes());
    // Each entry must be exactly 20 bytes, hence the space before "\n".
    out.extend_from_slice(b"0000000000 65535 f \n");
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref_offset}\n%%EOF\n")
            .as_bytes(),
    );
    out
}

fn stream_object(data: &[u8]) -> Vec<u8> {
    // /Length counts only the data: the EOL before "endstream" is not part of it.
    let mut body = format!("<< /Length {} >>\nstream\n", data.len()).into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(b"\nendstream");
    body
}

fn page_content(lines: &[String], barcode: &str) -> Vec<u8> {
    let mut c = String::new();

    // Border, inset half the margin so it survives printers' unprintable edge.
    let inset = MARGIN / 2;
    c.push_str(&format!(
        "1 w {inset} {inset} {} {} re S\n",
        PAGE_WIDTH - 2 * inset,
        PAGE_HEIGHT - 2 * inset
    ));

    let first_baseline = PAGE_HEIGHT - MARGIN - FONT_SIZE;
    let max_lines = ((first_baseline - TEXT_FLOOR) / LEADING + 1) as usize;
    c.push_str(&format!(
        "BT /F1 {FONT_SIZE} Tf {LEADING} TL {MARGIN} {first_baseline} Td\n"
    ));
    for (index, line) in lines.iter().take(max_lines).enumerate() {
        if index > 0 {
            c.push_str("T*\n");
        }
        c.push_str(&format!("({}) Tj\n", escape(&fit_line(line))));
    }
    c.push_str("ET\n");

    push_barcode(&mut c, barcode);
    c.into_bytes()
}

/// Fake bars: each character picks two bar widths so different tracking numbers
/// look visibly different. Widths are kept in tenths of a point so the layout
/// math stays integral.
fn push_barcode(c: &mut String, barcode: &str) {
    let left = MARGIN * 10;
    let right = (PAGE_WIDTH - MARGIN) * 10;
    let gap = 15;
    let mut x = left;
    let mut bars = String::new();
    let mut add_bar = |x: &mut u32, width: u32| {
        if *x + width > right {
            return;
        }
        bars.push_str(&format!(
            "{} {BARCODE_BOTTOM} {} {BARCODE_HEIGHT} re\n",
            tenths(*x),
            tenths(width)
        ));
        *x += width + gap;
    };
    // Guard bars at both ends, as on real linear barcodes.
    add_bar(&mut x, 10);
    add_bar(&mut x, 10);
    // Keep room for the closing guard bars however long the barcode is.
    let data_right = right - 2 * (10 + gap);
    for ch in barcode.chars() {
        let value = match ch.to_digit(10) {
            Some(digit) => digit,
            None => u32::from(ch) % 10,
        };
        // Two bars per character fill the band better than one.
        let widths = [10 + (value % 4) * 10, 10 + (value / 4) * 5];
        if x + widths[0] + widths[1] + gap > data_right {
            break;
        }
        add_bar(&mut x, widths[0]);
        add_bar(&mut x, widths[1]);
    }
    add_bar(&mut x, 10);
    add_bar(&mut x, 10);
    c.push_str(&bars);
    c.push_str("f\n");

    let caption = escape(&fit_line(barcode));
    c.push_str(&format!(
        "BT /F1 {BARCODE_TEXT_SIZE} Tf {MARGIN} {} Td ({caption}) Tj ET\n",
        BARCODE_BOTTOM - BARCODE_TEXT_SIZE - 3
    ));
}

fn tenths(value: u32) -> String {
    format!("{}.{}", value / 10, value % 10)
}

/// Printable ASCII only, truncated by character count and by rendered width.
fn fit_line(line: &str) -> String {
    let mut out = String::new();
    let mut width: u32 = 0;
    for ch in line.chars().take(MAX_LINE_CHARS) {
        let ch = if ch.is_control() {
            ' '
        } else if ch.is_ascii() {
            ch
        } else {
            '?'
        };
        let glyph = HELVETICA_WIDTHS
            .get((ch as usize).saturating_sub(32))
            .copied()
            .unwrap_or(556);
        width += u32::from(glyph) * FONT_SIZE;
        if width > MAX_LINE_WIDTH_UNITS {
            break;
        }
        out.push(ch);
    }
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '(' | ')' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        four_by_six_label_pdf(
            &[
                "FROM: Example Shop (Warehouse)".to_string(),
                "123 Rue Saint-Cathérine \\ Suite 4".to_string(),
                "TO: Jane Doe".to_string(),
                "Tab\there".to_string(),
            ],
            "1234567890123456",
        )
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).rposition(|w| w == needle)
    }

    #[test]
    fn starts_and_ends_like_a_pdf() {
        let pdf = sample();
        assert!(pdf.starts_with(b"%PDF-1.4\n%"));
        assert!(pdf[9..14].iter().skip(1).all(|b| *b >= 128));
        assert!(pdf.trim_ascii_end().ends_with(b"%%EOF"));
        assert!(find(&pdf, b"/MediaBox [0 0 288 432]").is_some());
        assert!(find(&pdf, b"trailer\n<< /Size 6 /Root 1 0 R >>").is_some());
    }

    #[test]
    fn xref_offsets_point_at_their_objects() {
        let pdf = sample();
        let tail = &pdf[rfind(&pdf, b"startxref\n").unwrap() + 10..];
        let digits: Vec<u8> = tail
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .copied()
            .collect();
        let xref_at: usize = String::from_utf8(digits).unwrap().parse().unwrap();
        assert!(pdf[xref_at..].starts_with(b"xref\n0 6\n"));

        let table_start = xref_at + b"xref\n0 6\n".len();
        let table = &pdf[table_start..table_start + 6 * 20];
        assert_eq!(&table[..20], b"0000000000 65535 f \n");
        for n in 1..6 {
            let entry = &table[n * 20..(n + 1) * 20];
            assert_eq!(&entry[10..], b" 00000 n \n", "entry {n}");
            let offset: usize = std::str::from_utf8(&entry[..10]).unwrap().parse().unwrap();
            let header = format!("{n} 0 obj\n");
            assert!(
                pdf[offset..].starts_with(header.as_bytes()),
                "xref entry {n} points at {offset}"
            );
            // The byte before an object header must be a line end, or the
            // "N" could be the tail of a longer number.
            assert_eq!(pdf[offset - 1], b'\n');
        }
        assert!(pdf[table_start + 6 * 20..].starts_with(b"trailer\n"));
    }

    #[test]
    fn stream_length_matches_data() {
        let pdf = sample();
        let length_at = find(&pdf, b"/Length ").unwrap() + 8;
        let digits: Vec<u8> = pdf[length_at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .copied()
            .collect();
        let length: usize = String::from_utf8(digits).unwrap().parse().unwrap();
        let data_start = find(&pdf, b"stream\n").unwrap() + 7;
        let data_end = find(&pdf, b"\nendstream").unwrap();
        assert_eq!(length, data_end - data_start);
    }

    #[test]
    fn text_is_sanitised_and_escaped() {
        let pdf = sample();
        assert!(find(&pdf, b"(FROM: Example Shop \\(Warehouse\\)) Tj").is_some());
        assert!(find(&pdf, b"(123 Rue Saint-Cath?rine \\\\ Suite 4) Tj").is_some());
        assert!(find(&pdf, b"(Tab here) Tj").is_some());
        // Everything after the binary marker comment is plain ASCII.
        assert!(pdf[15..].iter().all(|b| b.is_ascii()));
    }

    #[test]
    fn long_lines_are_truncated() {
        assert_eq!(fit_line(&"l".repeat(100)).len(), MAX_LINE_CHARS);
        // Wide capitals run out of room before the character limit.
        let wide = fit_line(&"W".repeat(100));
        assert!(wide.len() < MAX_LINE_CHARS);
        assert!(wide.len() as u32 * 944 * FONT_SIZE <= MAX_LINE_WIDTH_UNITS);
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let many: Vec<String> = (0..500).map(|i| format!("line {i}")).collect();
        let pdf = four_by_six_label_pdf(&many, &"9".repeat(1000));
        assert!(pdf.trim_ascii_end().ends_with(b"%%EOF"));
        let pdf = four_by_six_label_pdf(&[], "");
        assert!(pdf.starts_with(b"%PDF-1.4"));
        let weird = vec!["\u{0}\u{7f}\u{1F4E6}é)(\\".to_string(), String::new()];
        let pdf = four_by_six_label_pdf(&weird, "ünïcödé\n(");
        assert!(find(&pdf, b"(  ??\\)\\(\\\\) Tj").is_some());
    }
}
