//! Tag listing: Get Instance Attribute List (service 0x55) on the Symbol object (class 0x6B),
//! as Logix controllers implement it (Rockwell 1756-PM020, "Symbol Object"). Each request asks
//! for attributes 1 (name), 2 (symbol type) and 8 (array dimensions) of the instances from a
//! start instance on; the reply lists instance id and those attributes per symbol, with general
//! status 0x06 when more symbols follow (the next request starts after the last instance).

use super::address::push_symbol;
use super::codec::{encode_request, AtomicType, SERVICE_GET_INSTANCE_ATTRIBUTE_LIST};
use crate::driver::BrowseEntry;
use crate::error::FrameError;
use crate::frame::FrameReader;

/// The Symbol object's class id.
pub(crate) const SYMBOL_CLASS: u8 = 0x6B;
/// Attributes asked for: name (1), type (2), dimensions (8).
const ATTRIBUTES: [u16; 3] = [1, 2, 8];

/// The request listing symbols from instance `start` on, in the controller scope or, with
/// `program` (e.g. "Program:Main"), in that program's scope.
pub fn encode_symbol_list_request(program: Option<&str>, start: u32) -> Vec<u8> {
    let mut path = Vec::new();
    if let Some(p) = program {
        push_symbol(&mut path, p);
    }
    path.extend_from_slice(&[0x20, SYMBOL_CLASS]);
    match u16::try_from(start) {
        Ok(i) => {
            path.extend_from_slice(&[0x25, 0]);
            path.extend_from_slice(&i.to_le_bytes());
        }
        Err(_) => {
            path.extend_from_slice(&[0x26, 0]);
            path.extend_from_slice(&start.to_le_bytes());
        }
    }
    let mut data = Vec::new();
    data.extend_from_slice(&(ATTRIBUTES.len() as u16).to_le_bytes());
    for a in ATTRIBUTES {
        data.extend_from_slice(&a.to_le_bytes());
    }
    encode_request(SERVICE_GET_INSTANCE_ATTRIBUTE_LIST, &path, &data)
}

/// One entry of the symbol list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub instance: u32,
    pub name: String,
    /// Symbol type word: bit 15 structure, bits 13-14 number of dimensions, bits 0-11 the
    /// atomic type code or the structure's template instance (bits 8-10: a BOOL's bit number).
    pub type_code: u16,
    pub dims: [u32; 3],
}

impl Symbol {
    pub fn is_struct(&self) -> bool {
        self.type_code & 0x8000 != 0
    }

    pub fn rank(&self) -> usize {
        usize::from((self.type_code >> 13) & 0x3)
    }

    pub fn atomic(&self) -> Option<AtomicType> {
        if self.is_struct() {
            None
        } else {
            AtomicType::from_code(self.type_code & 0x00FF)
        }
    }

    /// A program scope (`Program:Main`): its tags are listed separately.
    pub fn is_program(&self) -> bool {
        self.name.starts_with("Program:")
    }

    /// Controller-internal symbols: `__`-prefixed names and the `Map:`, `Task:`, `Cxn:`, ...
    /// objects (anything with a colon that is not a program).
    pub fn is_system(&self) -> bool {
        self.name.starts_with("__") || (self.name.contains(':') && !self.is_program())
    }

    /// The browse entry for this symbol; `scope` is "" or "Program:Main.".
    pub fn entry(&self, scope: &str) -> BrowseEntry {
        let full = format!("{scope}{}", self.name);
        if self.is_program() {
            return BrowseEntry {
                address: full.clone(),
                name: full.clone(),
                dtype: None,
                kind: "program".into(),
                detail: Some(format!("program scope: its tags are read as {full}.Tag")),
            };
        }
        let rank = self.rank();
        let dims: Vec<u32> = self.dims.iter().take(rank).copied().collect();
        let dims_text = dims.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let first = vec!["0"; dims.len()].join(",");
        let (address, kind) = if rank == 0 { (full.clone(), "tag") } else { (format!("{full}[{first}]"), "array") };
        let (dtype, type_text) = match self.atomic() {
            Some(t) => (Some(t.data_type()), t.name().to_string()),
            None if self.is_struct() => (None, format!("structure (template 0x{:03x})", self.type_code & 0x0FFF)),
            None => (None, format!("type 0x{:04x}", self.type_code)),
        };
        let mut detail = if rank == 0 { type_text } else { format!("{type_text}[{dims_text}]") };
        if rank > 0 {
            let last: Vec<String> = dims.iter().map(|d| d.saturating_sub(1).to_string()).collect();
            detail.push_str(&format!(": elements {full}[{first}] .. {full}[{}]", last.join(",")));
        }
        if self.is_struct() {
            detail.push_str("; read its atomic members, e.g. Tag.Member");
        } else if self.atomic().is_none() {
            detail.push_str("; not a type FOS reads");
        }
        BrowseEntry { address, name: full, dtype, kind: kind.into(), detail: Some(detail) }
    }
}

/// Parse the data of a Get Instance Attribute List reply asking for attributes 1, 2 and 8.
pub fn parse_symbol_list(data: &[u8]) -> Result<Vec<Symbol>, FrameError> {
    let mut r = FrameReader::new(data);
    let mut out = Vec::new();
    while !r.is_empty() {
        let instance = r.u32_le("symbol instance")?;
        let len = r.u16_le("symbol name length")?;
        let name = String::from_utf8_lossy(r.take(usize::from(len), "symbol name")?).into_owned();
        let type_code = r.u16_le("symbol type")?;
        let mut dims = [0u32; 3];
        for d in &mut dims {
            *d = r.u32_le("array dimension")?;
        }
        out.push(Symbol { instance, name, type_code, dims });
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::value::DataType;

    /// One symbol as a Logix controller encodes it (test helper).
    pub(crate) fn encode_symbol(instance: u32, name: &str, type_code: u16, dims: [u32; 3]) -> Vec<u8> {
        let mut out = instance.to_le_bytes().to_vec();
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&type_code.to_le_bytes());
        for d in dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out
    }

    #[test]
    fn request_asks_for_name_type_and_dimensions_from_the_start_instance() {
        assert_eq!(
            encode_symbol_list_request(None, 0),
            [0x55, 0x03, 0x20, 0x6B, 0x25, 0x00, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x02, 0x00, 0x08, 0x00]
        );
        let r = encode_symbol_list_request(Some("Program:Main"), 0x1_0001);
        assert_eq!(r[1], 11);
        assert_eq!(&r[2..16], b"\x91\x0cProgram:Main");
        assert_eq!(&r[16..24], &[0x20, 0x6B, 0x26, 0x00, 0x01, 0x00, 0x01, 0x00]);
    }

    #[test]
    fn reply_lists_symbols_with_types_and_dimensions() {
        let mut data = encode_symbol(0x10, "Counter", 0x00C4, [0; 3]);
        data.extend(encode_symbol(0x11, "Scada", 0x20C3, [100, 0, 0]));
        data.extend(encode_symbol(0x12, "Flag", 0x03C1, [0; 3])); // BOOL at bit 3
        data.extend(encode_symbol(0x13, "Recipe", 0x8FCE, [0; 3]));
        data.extend(encode_symbol(0x14, "Program:Main", 0x1068, [0; 3]));
        data.extend(encode_symbol(0x15, "__Hidden", 0x00C4, [0; 3]));
        data.extend(encode_symbol(0x16, "Map:Local", 0x1069, [0; 3]));
        data.extend(encode_symbol(0x17, "Grid", 0x40CA, [4, 5, 0]));
        let s = parse_symbol_list(&data).unwrap();
        assert_eq!(s.len(), 8);
        assert_eq!(s[1].instance, 0x11);
        let e = s[0].entry("");
        assert_eq!((e.address.as_str(), e.dtype, e.kind.as_str()), ("Counter", Some(DataType::I32), "tag"));
        let e = s[1].entry("Program:Main.");
        assert_eq!(e.address, "Program:Main.Scada[0]");
        assert_eq!(e.dtype, Some(DataType::I16));
        assert!(e.detail.unwrap().contains("INT[100]: elements Program:Main.Scada[0] .. Program:Main.Scada[99]"));
        assert_eq!(s[2].atomic(), Some(AtomicType::Bool));
        assert!(s[3].is_struct() && s[3].entry("").dtype.is_none());
        assert!(s[3].entry("").detail.unwrap().contains("template 0xfce"));
        assert!(s[4].is_program() && !s[4].is_system());
        assert_eq!(s[4].entry("").kind, "program");
        assert!(s[5].is_system() && s[6].is_system());
        assert_eq!(s[7].entry("").address, "Grid[0,0]");
    }

    #[test]
    fn truncated_symbol_is_an_error_naming_the_field() {
        let data = encode_symbol(1, "Counter", 0xC4, [0; 3]);
        let e = parse_symbol_list(&data[..data.len() - 2]).unwrap_err();
        assert!(e.reason.contains("array dimension"), "{e}");
        let e = parse_symbol_list(&[1, 0, 0, 0, 50, 0, b'A']).unwrap_err();
        assert!(e.reason.contains("symbol name"), "{e}");
    }
}
