//! One PDF of many: the pages of each input, in order, under a new page tree. Each page
//! takes along what it inherited from its own document's tree (size, resources,
//! rotation), so a 4x6 label and a letter slip keep their own sizes side by side.

use anyhow::{Context, Result, bail};
use lopdf::{Dictionary, Document, Object, ObjectId};

/// What a page may inherit from the page tree above it.
const INHERITED: [&[u8]; 4] = [b"MediaBox", b"CropBox", b"Resources", b"Rotate"];

/// Merges `inputs` (name, bytes) into one PDF, pages in input order.
pub fn merge(inputs: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    if inputs.is_empty() {
        bail!("nothing to merge");
    }
    let mut merged = Document::with_version("1.5");
    let mut next_id = 1;
    let mut kids: Vec<ObjectId> = Vec::new();
    for (name, bytes) in inputs {
        let mut document =
            Document::load_mem(bytes).with_context(|| format!("{name} is not a readable PDF"))?;
        let pages: Vec<ObjectId> = document.get_pages().into_values().collect();
        if pages.is_empty() {
            bail!("{name} has no page");
        }
        for page_id in &pages {
            let page = with_inherited(&document, *page_id)
                .with_context(|| format!("reading a page of {name}"))?;
            document.objects.insert(*page_id, Object::Dictionary(page));
        }
        document.renumber_objects_with(next_id);
        next_id = document.max_id + 1;
        kids.extend(document.get_pages().into_values());
        for (id, object) in document.objects {
            // The old trees and catalogs are replaced by the new ones below.
            match object.type_name().unwrap_or(b"") {
                b"Catalog" | b"Pages" | b"Outlines" | b"Outline" => {}
                _ => {
                    merged.objects.insert(id, object);
                }
            }
        }
    }
    merged.max_id = next_id.saturating_sub(1);
    let tree_id = merged.new_object_id();
    for kid in &kids {
        if let Ok(page) = merged.get_dictionary_mut(*kid) {
            page.set("Parent", tree_id);
        }
    }
    let mut tree = Dictionary::new();
    tree.set("Type", "Pages");
    tree.set("Count", kids.len() as i64);
    tree.set(
        "Kids",
        kids.iter()
            .copied()
            .map(Object::Reference)
            .collect::<Vec<_>>(),
    );
    merged.objects.insert(tree_id, Object::Dictionary(tree));
    let mut catalog = Dictionary::new();
    catalog.set("Type", "Catalog");
    catalog.set("Pages", tree_id);
    let catalog_id = merged.add_object(catalog);
    merged.trailer.set("Root", catalog_id);
    merged.renumber_objects();
    let mut bytes = Vec::new();
    merged
        .save_to(&mut bytes)
        .context("writing the merged PDF")?;
    Ok(bytes)
}

/// The page's dictionary with every inheritable attribute written on it.
fn with_inherited(document: &Document, page_id: ObjectId) -> Result<Dictionary> {
    let mut page = document.get_dictionary(page_id)?.clone();
    for key in INHERITED {
        if let Some(value) = inherited(document, page_id, key)? {
            page.set(key, value);
        }
    }
    if !page.has(b"MediaBox") {
        bail!("a page has no MediaBox");
    }
    Ok(page)
}

/// The nearest value of `key` on the page or the tree above it.
fn inherited(document: &Document, page_id: ObjectId, key: &[u8]) -> Result<Option<Object>> {
    let mut current = page_id;
    // A tree deeper than this is a loop.
    for _ in 0..64 {
        let node = document.get_dictionary(current)?;
        if let Ok(value) = node.get(key) {
            match document.dereference(value) {
                Ok((_, Object::Null)) => {}
                Ok((_, resolved)) => return Ok(Some(resolved.clone())),
                Err(_) => {}
            }
        }
        match node.get(b"Parent") {
            Ok(parent) => current = parent.as_reference()?,
            Err(_) => return Ok(None),
        }
    }
    bail!("the page tree loops")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SlipSize;
    use crate::journal::{SlipContent, SlipLine};

    fn slip(lines: usize) -> Vec<u8> {
        let content = SlipContent {
            commercial_id: None,
            order_date: None,
            ship_by: None,
            ship_to: vec!["A B".into()],
            lines: (0..lines)
                .map(|index| SlipLine {
                    sku: Some(format!("S{index}")),
                    title: Some("Title".into()),
                    quantity: 1,
                })
                .collect(),
            weight_kg: 1.0,
            dimensions_cm: [1.0, 1.0, 1.0],
            service: "DOM.EP".into(),
        };
        super::super::slip::render(
            &"1-A".parse().unwrap(),
            &content,
            Some("123456789012"),
            SlipSize::FourBySix,
        )
        .unwrap()
    }

    #[test]
    fn pages_follow_input_order_and_keep_their_sizes() {
        let label = bbship_fake::label_pdf::four_by_six_label_pdf(&["LABEL".into()], "1234");
        let long = slip(40);
        let pages_of_long = Document::load_mem(&long).unwrap().get_pages().len();
        assert!(pages_of_long > 1);
        let merged = merge(&[
            ("label".into(), label),
            ("slip".into(), long),
            ("short".into(), slip(1)),
        ])
        .unwrap();
        let document = Document::load_mem(&merged).unwrap();
        let pages = document.get_pages();
        assert_eq!(pages.len(), 1 + pages_of_long + 1);
        let first = document.extract_text(&[1]).unwrap();
        assert!(first.contains("LABEL"), "{first}");
        let second = document.extract_text(&[2]).unwrap();
        assert!(second.contains("PACKING SLIP"), "{second}");
    }

    #[test]
    fn a_file_that_is_not_a_pdf_is_named() {
        let error = merge(&[("labels/x.pdf".into(), b"not a pdf".to_vec())]).unwrap_err();
        assert!(format!("{error:#}").contains("labels/x.pdf"), "{error:#}");
        assert!(merge(&[]).is_err());
    }
}
