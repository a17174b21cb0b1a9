//! A small element tree read from Canada Post's XML answers, by local name.
//!
//! Canada Post answers in several namespaces (shipment-v8, track, messages, and one old
//! fixture puts `messages` in the track namespace), so the answer parsers match elements
//! by local name and ignore namespaces, prefixes and unknown elements. The tree is
//! bounded (depth and element count) because an answer is untrusted input: a hostile or
//! broken body must give an error, never a panic or a runaway allocation.

use quick_xml::XmlVersion;
use quick_xml::events::Event;

use crate::text::printable;

const MAX_DEPTH: usize = 32;
const MAX_ELEMENTS: usize = 20_000;

/// One element: its local name, attributes (by local name), text, and children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|child| child.name == name)
    }

    /// Every child with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |child| child.name == name)
    }

    /// The trimmed text of the first child with this name, when present and not empty.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|child| child.text.trim())
            .filter(|text| !text.is_empty())
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Parses a whole document into its root element.
pub fn parse(body: &[u8]) -> Result<Element, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8 text".to_owned())?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        // quick-xml quotes the document in its errors: escaped, so a broken answer cannot
        // put a line break or a terminal escape into a log line.
        let event = reader
            .read_event()
            .map_err(|error| format!("not well-formed XML: {}", printable(&error.to_string())))?;
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err("content after the root element".to_owned());
            }
            Event::Start(start) => {
                elements += 1;
                if stack.len() >= MAX_DEPTH || elements > MAX_ELEMENTS {
                    return Err("the document is nested too deeply or is too large".to_owned());
                }
                stack.push(element_from(&start)?);
            }
            Event::Empty(start) => {
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err("the document is too large".to_owned());
                }
                let element = element_from(&start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::End(_) => {
                let Some(element) = stack.pop() else {
                    return Err("an end tag without a start tag".to_owned());
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::Text(text) => {
                if let Some(current) = stack.last_mut() {
                    current
                        .text
                        .push_str(&text.xml_content(XmlVersion::Implicit1_0));
                } else if !text.trim().is_empty() {
                    return Err("text outside the root element".to_owned());
                }
            }
            Event::CData(data) => {
                if let Some(current) = stack.last_mut() {
                    current
                        .text
                        .push_str(&data.xml_content(XmlVersion::Implicit1_0));
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = if reference.is_char_ref() {
                    reference
                        .resolve_char_ref()
                        .ok()
                        .flatten()
                        .map(String::from)
                } else {
                    quick_xml::escape::resolve_predefined_entity(&reference).map(str::to_owned)
                };
                let Some(resolved) = resolved else {
                    return Err(format!("unknown entity `&{};`", printable(&reference)));
                };
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err("the document ends inside an element (truncated?)".to_owned());
    }
    root.ok_or_else(|| "the body holds no XML element".to_owned())
}

fn element_from(start: &quick_xml::events::BytesStart) -> Result<Element, String> {
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute
            .map_err(|error| format!("a malformed attribute: {}", printable(&error.to_string())))?;
        let key = attribute.key.local_name().into_inner().to_owned();
        if attribute.key.as_ref().starts_with("xmlns") {
            continue;
        }
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|error| {
                format!(
                    "a malformed attribute value: {}",
                    printable(&error.to_string())
                )
            })?;
        attributes.push((key, value.into_owned()));
    }
    Ok(Element {
        name: start.local_name().into_inner().to_owned(),
        attributes,
        text: String::new(),
        children: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_matched_by_local_name_whatever_the_prefix() {
        let root = parse(
            br#"<?xml version="1.0"?><t:messages xmlns:t="urn:x"><t:message><t:code>004</t:code></t:message></t:messages>"#,
        )
        .unwrap();
        assert_eq!(root.name, "messages");
        assert_eq!(
            root.child("message").unwrap().child_text("code"),
            Some("004")
        );
    }

    #[test]
    fn entities_and_attributes_are_resolved() {
        let root = parse(br#"<a x="1 &amp; 2"><b>Caf&#233; &lt;3&gt;</b></a>"#).unwrap();
        assert_eq!(root.attribute("x"), Some("1 & 2"));
        assert_eq!(root.child_text("b"), Some("Café <3>"));
    }

    #[test]
    fn broken_documents_are_errors_not_panics() {
        for body in [
            &b""[..],
            b"<a>",
            b"<a></b>",
            b"</a>",
            b"<a/><b/>",
            b"text",
            b"<a>&nope;</a>",
            b"<html><body>Service Unavailable",
            b"\xff\xfe",
            b"<a x='1' x='2'/>",
        ] {
            assert!(parse(body).is_err(), "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn errors_quote_the_document_escaped() {
        for body in [
            &b"<a></b\n\x1b[2Jforged>"[..],
            b"<a>&x\ty;</a>",
            b"<a b='\x07",
        ] {
            let problem = parse(body).unwrap_err();
            assert!(!problem.chars().any(char::is_control), "{problem:?}");
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let body = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(body.as_bytes()).is_err());
    }
}
