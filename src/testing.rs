//! Helpers shared by the unit tests of several modules (compiled only for tests): the
//! schema check with `xmllint`, and a seeded generator and byte mutator for fuzz tests.

/// Validates every document against the vendored `shipment.xsd` with one xmllint run;
/// returns xmllint's complaints.
pub fn xmllint(documents: &[String]) -> Result<(), String> {
    bbship_fake::xsd::validate(documents)
}

/// The same against another schema vendored in the repository.
pub fn xmllint_against(xsd: &std::path::Path, documents: &[String]) -> Result<(), String> {
    bbship_fake::xsd::validate_against(xsd, documents)
}

/// One schema vendored in the repository, by file name.
pub fn vendored_xsd(name: &str) -> std::path::PathBuf {
    bbship_fake::xsd::vendored(name)
}

pub use crate::rng::Rng;

/// How many cases each fuzz target runs: `default`, or `BBSHIP_FUZZ_ITERATIONS` for a
/// longer local run.
pub fn fuzz_iterations(default: usize) -> usize {
    std::env::var("BBSHIP_FUZZ_ITERATIONS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// A fuzz target's generator: its own `seed`, changed by `BBSHIP_FUZZ_SEED` (a number)
/// to explore other cases locally. A failure names the seed to replay it.
pub fn fuzz_rng(seed: u64) -> Rng {
    let extra: u64 = std::env::var("BBSHIP_FUZZ_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    Rng::new(seed ^ extra.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Pieces that break parsers most often: markup, entities, quotes, NUL and other control
/// characters, invalid UTF-8, numbers at the edge of their types.
pub const HOSTILE_PIECES: &[&[u8]] = &[
    b"<",
    b">",
    b"</",
    b"/>",
    b"&",
    b"&amp;",
    b"&#0;",
    b"&#x110000;",
    b"&nope;",
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"<?xml version=\"1.0\"?>",
    b"<!DOCTYPE x [<!ENTITY e \"e\">]>",
    b"xmlns=\"\"",
    b"\"",
    b"'",
    b"\\",
    b"\0",
    b"\x07",
    b"\x1b[31m",
    b"\r\n",
    b"\xff\xfe",
    b"\xc3",
    b"\xf0\x9f\x9a\x9a",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"null",
    b"true",
    b"-1",
    b"1e999",
    b"18446744073709551616",
    b"%PDF-",
    b"/MediaBox [0 0 288 432]",
];

/// Returns `input` changed by one to four random edits: truncation, byte flips and
/// overwrites, deletions, duplications, splices from `donor`, hostile pieces inserted,
/// and long runs of one byte.
pub fn mutate(rng: &mut Rng, input: &[u8], donor: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = if bytes.is_empty() {
            0
        } else {
            rng.below(bytes.len() + 1)
        };
        match rng.below(8) {
            0 => bytes.truncate(at),
            1 if at < bytes.len() => bytes[at] ^= 1 << rng.below(8),
            2 if at < bytes.len() => bytes[at] = rng.next() as u8,
            3 => {
                let end = (at + rng.below(64)).min(bytes.len());
                bytes.drain(at..end);
            }
            4 => {
                let end = (at + 1 + rng.below(256)).min(bytes.len());
                let copy = bytes[at.min(end)..end].to_vec();
                bytes.splice(at..at, copy);
            }
            5 if !donor.is_empty() => {
                let start = rng.below(donor.len());
                let end = (start + 1 + rng.below(512)).min(donor.len());
                bytes.splice(at..at, donor[start..end].iter().copied());
            }
            6 => {
                let piece = *rng.pick(HOSTILE_PIECES);
                bytes.splice(at..at, piece.iter().copied());
            }
            _ => {
                let byte = *rng.pick(&[b'<', b'x', b'9', b'[', b'{', b'&', b' ', 0]);
                let longest = if rng.one_in(8) { 100_000 } else { 200 };
                let run = 1 + rng.below(longest);
                bytes.splice(at..at, std::iter::repeat_n(byte, run));
            }
        }
    }
    bytes
}

/// Whether `text` holds a control character: what an error message shown in a terminal
/// or a cron e-mail must never carry raw.
pub fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// The Create Shipment XML for `destination` under `config`'s defaults (service, sender,
/// parcel, account): what the XML-building tests feed to their checks.
pub fn shipment_xml_for(
    config: &crate::config::Config,
    destination: &crate::canadapost::shipment::Destination,
    request_id: &crate::ids::RequestId,
    order_reference: &crate::address::BoundedText<35>,
) -> String {
    crate::canadapost::shipment::create_shipment_xml(&crate::canadapost::shipment::ShipmentSpec {
        request_id,
        order_reference,
        service: &config.canada_post.service_code,
        sender: &config.sender,
        destination,
        parcel: &config.parcel.default,
        settlement: crate::canadapost::shipment::Settlement::of(&config.canada_post),
    })
    .unwrap_or_else(|error| panic!("the shipment XML builds: {error}"))
}
