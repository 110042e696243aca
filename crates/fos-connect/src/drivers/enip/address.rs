//! Logix tag addresses and their CIP request paths (EPATH).
//!
//! An address names one element: `Counter`, `Scada[3]`, `Matrix[1,2]`, `Motor.Speed`,
//! `Line[2].Motor.Speed`, `Program:Main.Tag`, `Program:Main.Arr[7]`. It is encoded as CIP
//! Vol 1 Appendix C segments: one ANSI extended symbolic segment (0x91, C-1.4.5) per dotted
//! name, and one member/element logical segment (C-1.4.2: 0x28 8-bit, 0x29 16-bit, 0x2A 32-bit
//! element id) per array index. A program-scoped tag, `Program:Main.Tag`, becomes the two
//! symbolic segments `Program:Main` and `Tag`, as Logix expects.

use crate::error::ConnectError;

/// Symbolic segment type: ANSI extended symbol (CIP Vol 1 C-1.4.5).
pub(crate) const SEGMENT_SYMBOLIC: u8 = 0x91;
/// Element (member id) logical segments with an 8-, 16- and 32-bit value (CIP Vol 1 C-1.4.2).
pub(crate) const SEGMENT_ELEMENT_8: u8 = 0x28;
pub(crate) const SEGMENT_ELEMENT_16: u8 = 0x29;
pub(crate) const SEGMENT_ELEMENT_32: u8 = 0x2A;
/// Longest request path an address may encode to, in bytes: every request FOS sends, with its
/// Multiple Service Packet and Unconnected Send wrapping, then stays within the ~504-byte
/// unconnected message limit.
pub const MAX_PATH_BYTES: usize = 200;
/// Longest symbol name: a symbolic segment carries its length in one byte.
pub(crate) const MAX_NAME_BYTES: usize = 255;

const SYNTAX: &str = "expected Tag, Tag[3], Tag[1,2], Tag.Member, Tag[2].Member or Program:Name.Tag";

/// One dotted part of an address: a name and the array indices that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSegment {
    pub name: String,
    /// Up to three indices (`Tag[1,2,3]`); empty for a scalar or a whole member.
    pub indices: Vec<u32>,
}

/// A parsed tag address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagAddress {
    /// The address as given.
    pub text: String,
    pub segments: Vec<TagSegment>,
}

impl TagAddress {
    /// The full request path (EPATH), padded to whole 16-bit words.
    pub fn path(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for seg in &self.segments {
            push_symbol(&mut out, &seg.name);
            for &i in &seg.indices {
                push_element(&mut out, i);
            }
        }
        out
    }

    /// When the address ends in exactly one index (`Scada[3]`, `Line[2].Speed[7]`): the path up
    /// to that index, and the index. Consecutive elements of such addresses can be read as one
    /// range. None for scalars and multi-dimensional indices.
    pub fn range_base(&self) -> Option<(Vec<u8>, u32)> {
        let (last, init) = self.segments.split_last()?;
        let [index] = last.indices.as_slice() else {
            return None;
        };
        let mut out = Vec::new();
        for seg in init {
            push_symbol(&mut out, &seg.name);
            for &i in &seg.indices {
                push_element(&mut out, i);
            }
        }
        push_symbol(&mut out, &last.name);
        Some((out, *index))
    }
}

/// Append an ANSI extended symbolic segment, padded to an even length.
pub(crate) fn push_symbol(out: &mut Vec<u8>, name: &str) {
    let bytes = name.as_bytes();
    out.push(SEGMENT_SYMBOLIC);
    // Names are checked to be at most MAX_NAME_BYTES (255) long when parsed.
    out.push(u8::try_from(bytes.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(bytes.get(..MAX_NAME_BYTES.min(bytes.len())).unwrap_or(bytes));
    if bytes.len() % 2 == 1 {
        out.push(0);
    }
}

/// Append an element segment in its shortest form.
pub(crate) fn push_element(out: &mut Vec<u8>, index: u32) {
    if let Ok(i) = u8::try_from(index) {
        out.extend_from_slice(&[SEGMENT_ELEMENT_8, i]);
    } else if let Ok(i) = u16::try_from(index) {
        out.extend_from_slice(&[SEGMENT_ELEMENT_16, 0]);
        out.extend_from_slice(&i.to_le_bytes());
    } else {
        out.extend_from_slice(&[SEGMENT_ELEMENT_32, 0]);
        out.extend_from_slice(&index.to_le_bytes());
    }
}

/// Parse a Logix tag address (see the module documentation for the syntax).
pub fn parse_address(text: &str) -> Result<TagAddress, ConnectError> {
    let err = |reason: String| ConnectError::Address { protocol: "enip", address: text.to_string(), reason };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(err(format!("empty address ({SYNTAX})")));
    }
    let mut segments = Vec::new();
    for (n, part) in split_dots(trimmed).into_iter().enumerate() {
        let part = part.trim();
        if part.is_empty() {
            return Err(err(format!("empty name between dots ({SYNTAX})")));
        }
        let (name, indices) = match part.find('[') {
            None => (part, Vec::new()),
            Some(open) => {
                let Some(inner) = part.get(open + 1..).and_then(|r| r.strip_suffix(']')) else {
                    return Err(err(format!("{part:?}: an index must end the name, as in Tag[3] ({SYNTAX})")));
                };
                if inner.contains('[') || inner.contains(']') {
                    return Err(err(format!("{part:?}: write several indices as Tag[1,2], not Tag[1][2] ({SYNTAX})")));
                }
                let mut idx = Vec::new();
                for i in inner.split(',') {
                    let i = i.trim();
                    let v = i.parse::<u32>().map_err(|_| {
                        err(format!("{part:?}: index {i:?} is not a whole number from 0 to {}", u32::MAX))
                    })?;
                    idx.push(v);
                }
                if idx.len() > 3 {
                    return Err(err(format!("{part:?}: at most three dimensions (Tag[1,2,3])")));
                }
                (part.get(..open).unwrap_or_default().trim_end(), idx)
            }
        };
        check_name(name, n == 0).map_err(&err)?;
        segments.push(TagSegment { name: name.to_string(), indices });
    }
    let address = TagAddress { text: text.to_string(), segments };
    let len = address.path().len();
    if len > MAX_PATH_BYTES {
        return Err(err(format!("too long: its CIP path is {len} bytes, at most {MAX_PATH_BYTES}")));
    }
    Ok(address)
}

/// Split on dots outside brackets.
fn split_dots(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '.' if depth == 0 => {
                parts.push(text.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(text.get(start..).unwrap_or_default());
    parts
}

/// Logix names: a letter or `_`, then letters, digits and `_`. The first name may hold colons
/// (`Program:Main`, I/O tags such as `Local:1:I`).
fn check_name(name: &str, first: bool) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("missing name before an index ({SYNTAX})"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!("name {name:?} is {} bytes long, at most {MAX_NAME_BYTES}", name.len()));
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "\"{name}\": bit access (Tag.{name}) is not supported; read the integer tag and test the bit"
        ));
    }
    if let Some(c) = name.chars().find(|&c| !(c.is_ascii_alphanumeric() || c == '_' || (first && c == ':'))) {
        let hint = if c == ':' { " (':' is allowed only in the first name, as in Program:Main.Tag)" } else { "" };
        return Err(format!("name {name:?} has the character {c:?}{hint} ({SYNTAX})"));
    }
    if name.split(':').any(|p| p.is_empty()) {
        return Err(format!("name {name:?} has an empty part around ':' ({SYNTAX})"));
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("name {name:?} starts with a digit ({SYNTAX})"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(a: &str) -> Vec<u8> {
        parse_address(a).unwrap().path()
    }

    #[test]
    fn scalar_tag_is_one_padded_symbolic_segment() {
        assert_eq!(path("Counter"), b"\x91\x07Counter\x00");
        assert_eq!(path("Temp"), b"\x91\x04Temp");
    }

    #[test]
    fn array_index_picks_the_shortest_element_segment() {
        assert_eq!(path("Scada[3]"), b"\x91\x05Scada\x00\x28\x03");
        assert_eq!(path("Scada[300]"), b"\x91\x05Scada\x00\x29\x00\x2c\x01");
        assert_eq!(path("Scada[70000]"), b"\x91\x05Scada\x00\x2a\x00\x70\x11\x01\x00");
        assert_eq!(path("M[1, 2]"), b"\x91\x01M\x00\x28\x01\x28\x02");
    }

    #[test]
    fn program_scope_is_two_symbolic_segments() {
        assert_eq!(path("Program:Main.Tag"), b"\x91\x0cProgram:Main\x91\x03Tag\x00");
        assert_eq!(path("Program:Main.Arr[7]"), b"\x91\x0cProgram:Main\x91\x03Arr\x00\x28\x07");
    }

    #[test]
    fn members_and_indexed_members() {
        assert_eq!(path("Line[2].Speed"), b"\x91\x04Line\x28\x02\x91\x05Speed\x00");
        let a = parse_address("Line[2].Speed[9]").unwrap();
        let (base, i) = a.range_base().unwrap();
        assert_eq!(base, b"\x91\x04Line\x28\x02\x91\x05Speed\x00");
        assert_eq!(i, 9);
        assert!(parse_address("Counter").unwrap().range_base().is_none());
        assert!(parse_address("M[1,2]").unwrap().range_base().is_none());
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        let cases = [
            ("", "empty address"),
            ("Scada[x]", "not a whole number"),
            ("Scada[-1]", "not a whole number"),
            ("Scada[1][2]", "Tag[1,2]"),
            ("Scada[1", "must end the name"),
            ("Scada[1]x", "must end the name"),
            ("Tag.5", "bit access"),
            ("a..b", "empty name"),
            ("Bad-Name", "character '-'"),
            ("Tag.Pro:x", "only in the first name"),
            ("1Tag", "starts with a digit"),
            ("[3]", "missing name"),
            ("M[1,2,3,4]", "three dimensions"),
        ];
        for (a, want) in cases {
            let e = parse_address(a).unwrap_err().to_string();
            assert!(e.contains(want), "{a:?}: {e}");
            assert!(e.contains(&format!("{a:?}")), "{a:?} not named: {e}");
        }
        let long = format!("{}.{}", "A".repeat(120), "B".repeat(120));
        assert!(parse_address(&long).unwrap_err().to_string().contains("too long"));
        assert!(parse_address(&"C".repeat(256)).unwrap_err().to_string().contains("at most 255"));
    }
}
