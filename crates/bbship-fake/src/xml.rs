//! The fake Canada Post's own reading of request bodies: an element tree by local name,
//! built with quick-xml directly. It shares no code with the client's answer parser, so
//! a bug there cannot hide here too.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

/// One element: its local name, attributes (by local name, `xmlns` left out), text, and
/// children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|child| child.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |child| child.name == name)
    }
}

/// Parses a whole request body into its root element; a body that is not one
/// well-formed element is refused, as Canada Post refuses it.
pub(crate) fn parse(body: &[u8]) -> Result<Element, String> {
    let text = std::str::from_utf8(body).map_err(|_| "not UTF-8".to_owned())?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut open: Vec<Element> = Vec::new();
    let mut done: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|error| format!("not well-formed: {error}"))?;
        let finished = match event {
            Event::Start(_) | Event::Empty(_) if done.is_some() => {
                return Err("more than one root element".to_owned());
            }
            Event::Start(start) => {
                open.push(element(&start)?);
                None
            }
            Event::Empty(start) => Some(element(&start)?),
            Event::End(_) => Some(open.pop().ok_or("an unmatched end tag")?),
            Event::Text(text) => {
                let content = text.xml_content(XmlVersion::Implicit1_0);
                match open.last_mut() {
                    Some(current) => current.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err("text outside the root element".to_owned()),
                }
                None
            }
            Event::CData(data) => {
                if let Some(current) = open.last_mut() {
                    current
                        .text
                        .push_str(&data.xml_content(XmlVersion::Implicit1_0));
                }
                None
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(character)) => character.to_string(),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&reference)
                        .ok_or("an unknown entity")?
                        .to_owned(),
                    Err(error) => return Err(format!("a bad character reference: {error}")),
                };
                if let Some(current) = open.last_mut() {
                    current.text.push_str(&resolved);
                }
                None
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => None,
        };
        if let Some(element) = finished {
            match open.last_mut() {
                Some(parent) => parent.children.push(element),
                None => done = Some(element),
            }
        }
    }
    if !open.is_empty() {
        return Err("the body ends inside an element".to_owned());
    }
    done.ok_or_else(|| "no root element".to_owned())
}

fn element(start: &BytesStart) -> Result<Element, String> {
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|error| format!("a bad attribute: {error}"))?;
        if attribute.key.as_ref().starts_with("xmlns") {
            continue;
        }
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|error| format!("a bad attribute value: {error}"))?;
        let key = attribute.key.local_name().into_inner().to_owned();
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
    fn reads_local_names_text_entities_and_attributes() {
        let root = parse(
            br#"<?xml version="1.0"?><p:a xmlns:p="urn:x" k="v"><b>x &amp; &#233;</b><b/><![CDATA[<c>]]></p:a>"#,
        )
        .unwrap();
        assert_eq!(root.name, "a");
        assert_eq!(root.attributes, [("k".to_owned(), "v".to_owned())]);
        assert_eq!(root.child("b").unwrap().text, "x & é");
        assert_eq!(root.children_named("b").count(), 2);
        assert_eq!(root.text, "<c>");
    }

    #[test]
    fn refuses_what_is_not_one_element() {
        for broken in ["", "<a>", "<a/><b/>", "text", "<a></b>", "<a>&nope;</a>"] {
            assert!(parse(broken.as_bytes()).is_err(), "{broken}");
        }
    }
}
