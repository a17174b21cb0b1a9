//! The packing slip as a PDF: what goes in the box and where it goes, on a 4x6 page for
//! the label's thermal printer or on letter paper.
//!
//! Text is set in Courier, one of the fonts every PDF reader has, with WinAnsiEncoding,
//! which covers the accents of French (é, è, à, ç, œ…): nothing is embedded, and since
//! every Courier glyph is 0.6 em wide, wrapping by characters is exact, so no line runs
//! off the page. A long title wraps at spaces (a single word longer than a line is the
//! only thing ever broken); an order with more lines than fit goes on to more pages,
//! each one numbered and naming the order. The tracking PIN is drawn as Code 128 bars.

use chrono::{DateTime, Utc};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

use super::code128;
use crate::config::SlipSize;
use crate::ids::OrderId;
use crate::journal::SlipContent;

/// One page size and the type sizes that go with it.
#[derive(Clone, Copy, Debug)]
struct Page {
    width: f32,
    height: f32,
    margin: f32,
    body: f32,
    title: f32,
    barcode_height: f32,
}

impl Page {
    fn of(size: SlipSize) -> Option<Page> {
        match size {
            SlipSize::FourBySix => Some(Page {
                width: 288.0,
                height: 432.0,
                margin: 14.0,
                body: 8.0,
                title: 12.0,
                barcode_height: 36.0,
            }),
            SlipSize::Letter => Some(Page {
                width: 612.0,
                height: 792.0,
                margin: 40.0,
                body: 10.0,
                title: 16.0,
                barcode_height: 48.0,
            }),
            SlipSize::None => None,
        }
    }

    fn leading(&self, size: f32) -> f32 {
        size * 1.25
    }

    /// How many Courier characters of `size` fit between the margins, less `indent`.
    fn columns(&self, size: f32, indent: usize) -> usize {
        let usable = self.width - 2.0 * self.margin;
        ((usable / (COURIER_ADVANCE * size)) as usize)
            .saturating_sub(indent)
            .max(1)
    }

    fn footer_room(&self) -> f32 {
        self.leading(self.body) * 1.5
    }
}

/// Courier's advance width, in em, for every glyph.
const COURIER_ADVANCE: f32 = 0.6;

/// Characters a title is indented under its quantity and SKU.
const TITLE_INDENT: usize = 5;

/// What is laid out, top to bottom.
#[derive(Clone, Debug, PartialEq)]
enum Item {
    Text {
        text: String,
        bold: bool,
        size: f32,
        indent: usize,
        keep_with_next: bool,
    },
    Gap(f32),
    Rule,
    Barcode(Vec<u8>),
}

impl Item {
    fn height(&self, page: &Page) -> f32 {
        match self {
            Item::Text { size, .. } => page.leading(*size),
            Item::Gap(gap) => *gap,
            Item::Rule => page.leading(page.body) * 0.6,
            Item::Barcode(_) => page.barcode_height + 8.0,
        }
    }
}

/// The slip of `order_id` as a PDF; `None` when `size` asks for no slip.
pub fn render(
    order_id: &OrderId,
    content: &SlipContent,
    pin: Option<&str>,
    size: SlipSize,
) -> Option<Vec<u8>> {
    let page = Page::of(size)?;
    let items = layout(order_id, content, pin, &page);
    let pages = paginate(&items, &page);
    Some(write_pdf(order_id, &pages, &page))
}

fn layout(order_id: &OrderId, content: &SlipContent, pin: Option<&str>, page: &Page) -> Vec<Item> {
    let mut items = Vec::new();
    let body = page.body;
    let text = |items: &mut Vec<Item>, line: &str, bold: bool, size: f32, indent: usize| {
        for wrapped in wrap(line, page.columns(size, indent)) {
            items.push(Item::Text {
                text: wrapped,
                bold,
                size,
                indent,
                keep_with_next: false,
            });
        }
    };
    text(&mut items, "PACKING SLIP", true, page.title, 0);
    text(&mut items, &format!("Order {order_id}"), true, body, 0);
    if let Some(commercial_id) = &content.commercial_id {
        text(
            &mut items,
            &format!("Best Buy commercial id {commercial_id}"),
            false,
            body,
            0,
        );
    }
    text(
        &mut items,
        &format!("Ordered  {}", when(content.order_date)),
        false,
        body,
        0,
    );
    text(
        &mut items,
        &format!("Ship by  {}", when(content.ship_by)),
        false,
        body,
        0,
    );
    items.push(Item::Gap(body * 0.6));
    text(&mut items, "SHIP TO", true, body, 0);
    for line in &content.ship_to {
        text(&mut items, line, false, body, 0);
    }
    items.push(Item::Gap(body * 0.6));
    text(&mut items, "PARCEL", true, body, 0);
    let [length, width, height] = content.dimensions_cm;
    text(
        &mut items,
        &format!(
            "{} kg, {} x {} x {} cm",
            number(content.weight_kg),
            number(length),
            number(width),
            number(height)
        ),
        false,
        body,
        0,
    );
    text(
        &mut items,
        &format!("Service  {}", content.service),
        false,
        body,
        0,
    );
    let pin = pin.filter(|pin| !pin.is_empty());
    text(
        &mut items,
        &format!("Tracking PIN  {}", pin.unwrap_or("none")),
        true,
        body,
        0,
    );
    if let Some(modules) = pin.and_then(|pin| code128::modules(pin).ok()) {
        items.push(Item::Barcode(modules));
    }
    items.push(Item::Rule);
    let units: u64 = content
        .lines
        .iter()
        .map(|line| u64::from(line.quantity))
        .sum();
    text(&mut items, "QTY   SKU / PRODUCT", true, body, 0);
    for line in &content.lines {
        items.push(Item::Gap(body * 0.3));
        let sku = line.sku.as_deref().unwrap_or("(no SKU)");
        text(
            &mut items,
            &format!("{:>3} x {sku}", line.quantity),
            true,
            body,
            0,
        );
        if let Some(title) = line
            .title
            .as_deref()
            .filter(|title| !title.trim().is_empty())
        {
            // A quantity and SKU never end a page without the title under them.
            if let Some(Item::Text { keep_with_next, .. }) = items.last_mut() {
                *keep_with_next = true;
            }
            text(&mut items, title, false, body, TITLE_INDENT);
        }
    }
    items.push(Item::Rule);
    text(
        &mut items,
        &format!(
            "{} line(s), {units} item(s) in this parcel",
            content.lines.len()
        ),
        true,
        body,
        0,
    );
    items
}

fn when(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(
        || "-".to_owned(),
        |at| at.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// A weight or dimension without trailing zeros.
fn number(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Splits `text` into lines of at most `columns` characters at spaces; a word longer
/// than a line is cut, as the one thing that cannot fit otherwise.
pub fn wrap(text: &str, columns: usize) -> Vec<String> {
    // Leading spaces align a column (a right-aligned quantity); they stay on each line.
    let lead = text.chars().take_while(|c| *c == ' ').count();
    if lead > 0 && lead < columns {
        let pad = " ".repeat(lead);
        return wrap(&text[lead..], columns - lead)
            .into_iter()
            .map(|line| format!("{pad}{line}"))
            .collect();
    }
    let columns = columns.max(1);
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = current.chars().count();
            let needed = if used == 0 {
                word.len()
            } else {
                used + 1 + word.len()
            };
            if needed <= columns {
                if used > 0 {
                    current.push(' ');
                }
                current.extend(word.iter());
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut current));
                continue;
            }
            let rest = word.split_off(columns);
            lines.push(word.into_iter().collect());
            word = rest;
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

/// Each page's items with the baseline (or bottom) each sits at.
fn paginate(items: &[Item], page: &Page) -> Vec<Vec<(Item, f32)>> {
    let top = page.height - page.margin;
    let floor = page.margin + page.footer_room();
    let mut pages = vec![Vec::new()];
    let mut y = top;
    for (index, item) in items.iter().enumerate() {
        let height = item.height(page);
        let kept = match (item, items.get(index + 1)) {
            (
                Item::Text {
                    keep_with_next: true,
                    ..
                },
                Some(next),
            ) => next.height(page),
            _ => 0.0,
        };
        if y - height - kept < floor && pages.last().is_some_and(|last| !last.is_empty()) {
            pages.push(Vec::new());
            y = top;
            if matches!(item, Item::Gap(_) | Item::Rule) {
                continue;
            }
        }
        y -= height;
        if let Some(last) = pages.last_mut() {
            last.push((item.clone(), y));
        }
    }
    pages
}

const FONT: Name<'static> = Name(b"F1");
const FONT_BOLD: Name<'static> = Name(b"F2");

fn write_pdf(order_id: &OrderId, pages: &[Vec<(Item, f32)>], page: &Page) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let catalog_id = Ref::new(1);
    let tree_id = Ref::new(2);
    let font_id = Ref::new(3);
    let bold_id = Ref::new(4);
    let info_id = Ref::new(5);
    let page_ids: Vec<Ref> = (0..pages.len())
        .map(|index| Ref::new(6 + 2 * index as i32))
        .collect();
    pdf.catalog(catalog_id).pages(tree_id);
    pdf.pages(tree_id)
        .kids(page_ids.iter().copied())
        .count(pages.len() as i32);
    for (id, name) in [(font_id, b"Courier".as_slice()), (bold_id, b"Courier-Bold")] {
        pdf.type1_font(id)
            .base_font(Name(name))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    pdf.document_info(info_id)
        .title(pdf_writer::TextStr(&format!("Packing slip {order_id}")))
        .producer(pdf_writer::TextStr("bbship"));
    let count = pages.len();
    for (index, (items, page_id)) in pages.iter().zip(&page_ids).enumerate() {
        let content_id = Ref::new(page_id.get() + 1);
        let mut writer = pdf.page(*page_id);
        writer
            .media_box(Rect::new(0.0, 0.0, page.width, page.height))
            .parent(tree_id)
            .contents(content_id);
        let mut resources = writer.resources();
        resources
            .fonts()
            .pair(FONT, font_id)
            .pair(FONT_BOLD, bold_id);
        resources.finish();
        writer.finish();

        let mut content = Content::new();
        for (item, y) in items {
            draw(&mut content, item, *y, page);
        }
        let footer = format!("Order {order_id}  page {} of {count}", index + 1);
        let footer = wrap(&footer, page.columns(page.body, 0))
            .into_iter()
            .next()
            .unwrap_or_default();
        draw_text(
            &mut content,
            &footer,
            false,
            page.body,
            page.margin,
            page.margin,
        );
        pdf.stream(content_id, &content.finish());
    }
    pdf.finish()
}

fn draw(content: &mut Content, item: &Item, y: f32, page: &Page) {
    match item {
        Item::Text {
            text,
            bold,
            size,
            indent,
            ..
        } => {
            let x = page.margin + *indent as f32 * COURIER_ADVANCE * size;
            // The baseline sits a little above the bottom of the line's leading.
            draw_text(
                content,
                text,
                *bold,
                *size,
                x,
                y + (page.leading(*size) - size),
            );
        }
        Item::Gap(_) => {}
        Item::Rule => {
            let middle = y + item.height(page) / 2.0;
            content
                .set_fill_gray(0.0)
                .rect(page.margin, middle, page.width - 2.0 * page.margin, 0.7)
                .fill_nonzero();
        }
        Item::Barcode(modules) => {
            // Ten modules of quiet zone each side; bars no wider than 1.5 pt so a short
            // PIN does not sprawl.
            let usable = page.width - 2.0 * page.margin;
            let module = (usable / (modules.len() as f32 + 20.0)).min(1.5);
            let left = page.margin + 10.0 * module;
            let bottom = y + 4.0;
            content.set_fill_gray(0.0);
            let mut index = 0;
            while index < modules.len() {
                if modules[index] == 0 {
                    index += 1;
                    continue;
                }
                let start = index;
                while modules.get(index) == Some(&1) {
                    index += 1;
                }
                content.rect(
                    left + start as f32 * module,
                    bottom,
                    (index - start) as f32 * module,
                    page.barcode_height,
                );
            }
            content.fill_nonzero();
        }
    }
}

fn draw_text(content: &mut Content, text: &str, bold: bool, size: f32, x: f32, y: f32) {
    let encoded = win_ansi(text);
    content
        .begin_text()
        .set_font(if bold { FONT_BOLD } else { FONT }, size)
        .next_line(x, y)
        .show(Str(&encoded))
        .end_text();
}

/// `text` in WinAnsiEncoding (Windows-1252): Latin-1 as itself, the typographic marks
/// of 0x80–0x9F by their Unicode names, anything else as `?`, and controls as spaces.
pub fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\u{A0}'..='\u{FF}' => c as u32 as u8,
            '€' => 0x80,
            '‚' => 0x82,
            'ƒ' => 0x83,
            '„' => 0x84,
            '…' => 0x85,
            '†' => 0x86,
            '‡' => 0x87,
            'ˆ' => 0x88,
            '‰' => 0x89,
            'Š' => 0x8A,
            '‹' => 0x8B,
            'Œ' => 0x8C,
            'Ž' => 0x8E,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '˜' => 0x98,
            '™' => 0x99,
            'š' => 0x9A,
            '›' => 0x9B,
            'œ' => 0x9C,
            'ž' => 0x9E,
            'Ÿ' => 0x9F,
            c if c.is_control() => b' ',
            _ => b'?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::SlipLine;

    fn content(lines: usize, title: &str) -> SlipContent {
        SlipContent {
            commercial_id: Some("261300002".into()),
            order_date: "2026-11-25T10:00:00Z".parse().ok(),
            ship_by: "2026-11-27T10:00:00Z".parse().ok(),
            ship_to: vec![
                "Amélie Côté-Ouellette".into(),
                "123 rue Saint-Denis & fils".into(),
                "MONTRÉAL QC H2X 1K4".into(),
            ],
            lines: (0..lines)
                .map(|index| SlipLine {
                    sku: Some(format!("SKU-{index}")),
                    title: Some(title.to_owned()),
                    quantity: 2,
                })
                .collect(),
            weight_kg: 1.25,
            dimensions_cm: [30.0, 20.0, 10.0],
            service: "DOM.EP".into(),
        }
    }

    fn order() -> OrderId {
        "261300002-A".parse().unwrap()
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_cuts_only_an_overlong_word() {
        assert_eq!(
            wrap("Écouteurs sans fil à réduction de bruit", 16),
            ["Écouteurs sans", "fil à réduction", "de bruit"]
        );
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 10), [""]);
        assert_eq!(wrap("  2 x SKU-1", 20), ["  2 x SKU-1"]);
        for line in wrap(&"mot ".repeat(100), 7) {
            assert!(line.chars().count() <= 7, "{line:?}");
            assert!(line.split(' ').all(|word| word == "mot"), "{line:?}");
        }
    }

    #[test]
    fn french_and_typographic_marks_map_to_win_ansi() {
        assert_eq!(win_ansi("é"), [0xE9]);
        assert_eq!(win_ansi("Œuvre’s — €"), b"\x8Cuvre\x92s \x97 \x80");
        assert_eq!(win_ansi("日\n"), b"? ");
    }

    #[test]
    fn every_text_line_stays_inside_the_page() {
        let long = "Casque d'écoute supra-auriculaire Bluetooth à réduction active du bruit \
                    avec microphone intégré, étui de transport & câble";
        for size in [SlipSize::FourBySix, SlipSize::Letter] {
            let page = Page::of(size).unwrap();
            let items = layout(
                &order(),
                &content(30, long),
                Some("7023210039414604"),
                &page,
            );
            let pages = paginate(&items, &page);
            assert!(pages.len() > 1, "30 lines take more than one page");
            for (item, y) in pages.iter().flatten() {
                assert!(
                    *y >= page.margin + page.footer_room() - 0.01,
                    "{item:?} at {y}"
                );
                if let Item::Text {
                    text, size, indent, ..
                } = item
                {
                    let right = page.margin
                        + (*indent + text.chars().count()) as f32 * COURIER_ADVANCE * size;
                    assert!(right <= page.width - page.margin + 0.01, "{text:?}");
                }
            }
        }
    }

    #[test]
    fn no_slip_is_rendered_for_none() {
        assert!(render(&order(), &content(1, "x"), None, SlipSize::None).is_none());
        let pdf = render(&order(), &content(1, "x"), None, SlipSize::FourBySix).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
    }
}
