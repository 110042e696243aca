//! A hand-written reader for MATLAB level-5 MAT-files (the format of `save -v6` and `save -v7`).
//!
//! Why hand-written: the Rust crates for MAT-files either read only plain numeric arrays, or do
//! not read structs, or do not read `miCOMPRESSED` elements, and none promises not to panic or
//! not to allocate what a lying header claims. FOS needs all of these, so this module reads the
//! format itself (about the size of one crate's worth of bugs, covered by round-trip tests, tests
//! on the CWRU files and a fuzz target).
//!
//! What is read:
//! - the 128-byte header ("MATLAB 5.0 MAT-file" text, version 0x0100, endian indicator `IM` for
//!   little-endian or `MI` for big-endian files: both byte orders are read);
//! - data elements with normal and small (packed 4-byte) tags, and `miCOMPRESSED` (zlib) elements;
//! - `miMATRIX` arrays of class double, single, int8..uint64 and logical, with data stored in any
//!   numeric `miXXX` type (MATLAB stores doubles as smaller integer types when they fit; they are
//!   converted back), flattened in column-major order;
//! - structs (`mxSTRUCT_CLASS`), nested to any depth up to [`MAX_DEPTH`], reached by a dotted path
//!   (`rec.accel`). Struct *arrays* (more than one element) are refused with a clear error: FOS
//!   cannot know which element holds the recording.
//!
//! What is recognised but not read as a signal: complex arrays (refused, because silently taking
//! the real part of an analytic or demodulated signal would be wrong: save `real(x)`), char,
//! cell, sparse, object, function-handle and opaque arrays. Their presence does not stop the other
//! variables of a file from being read. MAT v7.3 files (HDF5) and level-4 files are refused with
//! an error that says how to re-save them.
//!
//! Memory: [`MatFile`] keeps each numeric variable's data once, in the type it is stored in (an
//! int16-stored signal takes 2 bytes a sample), and converts to `f64` on [`MatFile::get`]. No
//! allocation is larger than the data actually present: sizes claimed by headers are checked
//! against the bytes that remain, and data from zlib streams is read in bounded chunks. For
//! constant-memory reading of one variable, see [`crate::open_stream`].

use crate::error::{Error, Result};
use flate2::read::ZlibDecoder;
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// How deeply structs may nest before the reader refuses the file (protects the stack).
pub const MAX_DEPTH: usize = 32;

pub(crate) const MI_INT8: u32 = 1;
pub(crate) const MI_UINT8: u32 = 2;
pub(crate) const MI_INT16: u32 = 3;
pub(crate) const MI_UINT16: u32 = 4;
pub(crate) const MI_INT32: u32 = 5;
pub(crate) const MI_UINT32: u32 = 6;
pub(crate) const MI_SINGLE: u32 = 7;
pub(crate) const MI_DOUBLE: u32 = 9;
pub(crate) const MI_INT64: u32 = 12;
pub(crate) const MI_UINT64: u32 = 13;
pub(crate) const MI_MATRIX: u32 = 14;
pub(crate) const MI_COMPRESSED: u32 = 15;
pub(crate) const MI_UTF8: u32 = 16;

const MX_CELL: u8 = 1;
const MX_STRUCT: u8 = 2;
const MX_OBJECT: u8 = 3;
const MX_CHAR: u8 = 4;
const MX_SPARSE: u8 = 5;

const FLAG_COMPLEX: u32 = 0x0800;
const FLAG_LOGICAL: u32 = 0x0200;

/// The byte order of a MAT-file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Little,
    Big,
}

impl Order {
    pub(crate) fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Order::Little => u32::from_le_bytes(b),
            Order::Big => u32::from_be_bytes(b),
        }
    }
    fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Order::Little => u16::from_le_bytes(b),
            Order::Big => u16::from_be_bytes(b),
        }
    }
}

/// Size in bytes of one value of a numeric `miXXX` type, `None` for other types.
pub(crate) fn type_size(ty: u32) -> Option<usize> {
    match ty {
        MI_INT8 | MI_UINT8 => Some(1),
        MI_INT16 | MI_UINT16 => Some(2),
        MI_INT32 | MI_UINT32 | MI_SINGLE => Some(4),
        MI_DOUBLE | MI_INT64 | MI_UINT64 => Some(8),
        _ => None,
    }
}

pub(crate) fn type_name(ty: u32) -> String {
    let s = match ty {
        MI_INT8 => "miINT8",
        MI_UINT8 => "miUINT8",
        MI_INT16 => "miINT16",
        MI_UINT16 => "miUINT16",
        MI_INT32 => "miINT32",
        MI_UINT32 => "miUINT32",
        MI_SINGLE => "miSINGLE",
        MI_DOUBLE => "miDOUBLE",
        MI_INT64 => "miINT64",
        MI_UINT64 => "miUINT64",
        MI_MATRIX => "miMATRIX",
        MI_COMPRESSED => "miCOMPRESSED",
        MI_UTF8 => "miUTF8",
        17 => "miUTF16",
        18 => "miUTF32",
        other => return format!("unknown data type {other}"),
    };
    s.to_string()
}

fn class_name(class: u8) -> String {
    let s = match class {
        MX_CELL => "a cell array",
        MX_STRUCT => "a struct",
        MX_OBJECT => "an object",
        MX_CHAR => "a char array",
        MX_SPARSE => "a sparse matrix",
        6 => "double",
        7 => "single",
        8 => "int8",
        9 => "uint8",
        10 => "int16",
        11 => "uint16",
        12 => "int32",
        13 => "uint32",
        14 => "int64",
        15 => "uint64",
        16 => "a function handle",
        17 => "an opaque object",
        other => return format!("an array of unknown class {other}"),
    };
    s.to_string()
}

fn is_numeric_class(class: u8) -> bool {
    (6..=15).contains(&class)
}

/// Converts `bytes` holding values of numeric type `ty` in byte order `order` to `f64`,
/// appending to `out`. `bytes.len()` must be a multiple of the type's size (extra bytes ignored).
pub(crate) fn decode_into(ty: u32, order: Order, bytes: &[u8], out: &mut Vec<f64>) {
    macro_rules! conv {
        ($t:ty, $n:expr) => {{
            for c in bytes.chunks_exact($n) {
                let mut a = [0u8; $n];
                a.copy_from_slice(c);
                let v = match order {
                    Order::Little => <$t>::from_le_bytes(a),
                    Order::Big => <$t>::from_be_bytes(a),
                };
                out.push(v as f64);
            }
        }};
    }
    match ty {
        MI_INT8 => conv!(i8, 1),
        MI_UINT8 => conv!(u8, 1),
        MI_INT16 => conv!(i16, 2),
        MI_UINT16 => conv!(u16, 2),
        MI_INT32 => conv!(i32, 4),
        MI_UINT32 => conv!(u32, 4),
        MI_SINGLE => conv!(f32, 4),
        MI_DOUBLE => conv!(f64, 8),
        MI_INT64 => conv!(i64, 8),
        MI_UINT64 => conv!(u64, 8),
        _ => {}
    }
}

/// Rounds up to a multiple of 8.
pub(crate) fn pad8(n: u64) -> u64 {
    n.div_ceil(8).saturating_mul(8)
}

/// Reads and checks the 128-byte header, returning the file's byte order.
pub(crate) fn parse_header(h: &[u8]) -> std::result::Result<Order, String> {
    let Some(h) = h.get(..128) else {
        return Err(format!(
            "file is {} bytes long, shorter than the 128-byte MAT-file header (truncated, or not a MAT-file)",
            h.len()
        ));
    };
    let text = String::from_utf8_lossy(h.get(..116).unwrap_or_default());
    if text.starts_with("MATLAB 7.3 MAT-file") {
        return Err(
            "this is a MAT v7.3 file (HDF5), which FOS does not read; re-save it in MATLAB with \
                    `save(name, '-v7')` (or `scipy.io.savemat`)"
                .to_string(),
        );
    }
    if !text.starts_with("MATLAB 5.0 MAT-file") {
        return Err("not a MATLAB level-5 MAT-file: the header does not start with \"MATLAB 5.0 MAT-file\" \
                    (level-4 and v7.3 files are not read; re-save with `save(name, '-v7')`)"
            .to_string());
    }
    let order = match (h.get(126), h.get(127)) {
        (Some(b'I'), Some(b'M')) => Order::Little,
        (Some(b'M'), Some(b'I')) => Order::Big,
        _ => {
            return Err(format!(
                "header endian indicator (bytes 126-127) is {:?}, expected \"IM\" or \"MI\"",
                String::from_utf8_lossy(h.get(126..128).unwrap_or_default())
            ))
        }
    };
    let version = order.u16([
        h.get(124).copied().unwrap_or(0),
        h.get(125).copied().unwrap_or(0),
    ]);
    if version != 0x0100 {
        return Err(format!(
            "header version is {version:#06x}, expected 0x0100 (a level-5 MAT-file); \
             v7.3 (HDF5) files are not read: re-save with `save(name, '-v7')`"
        ));
    }
    Ok(order)
}

/// A data element tag.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tag {
    pub(crate) ty: u32,
    pub(crate) nbytes: u32,
    /// For a small data element, its up to 4 bytes of data.
    pub(crate) small: Option<[u8; 4]>,
}

pub(crate) fn parse_tag(b: [u8; 8], order: Order) -> Tag {
    let [a0, a1, a2, a3, b0, b1, b2, b3] = b;
    let first = order.u32([a0, a1, a2, a3]);
    if first >> 16 != 0 {
        Tag {
            ty: first & 0xffff,
            nbytes: first >> 16,
            small: Some([b0, b1, b2, b3]),
        }
    } else {
        Tag {
            ty: first,
            nbytes: order.u32([b0, b1, b2, b3]),
            small: None,
        }
    }
}

/// Reads exactly `buf.len()` bytes, naming `what` if the data ends first.
pub(crate) fn read_exact<R: Read + ?Sized>(
    r: &mut R,
    buf: &mut [u8],
    what: &str,
) -> std::result::Result<(), String> {
    r.read_exact(buf).map_err(|e| io_detail(e, what))
}

pub(crate) fn io_detail(e: io::Error, what: &str) -> String {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        format!("the data ends inside {what} (file truncated?)")
    } else {
        format!("error while reading {what}: {e} (compressed data corrupt?)")
    }
}

/// Skips `n` bytes of `r`.
pub(crate) fn skip<R: Read + ?Sized>(
    r: &mut R,
    n: u64,
    what: &str,
) -> std::result::Result<(), String> {
    let got = io::copy(&mut r.take(n), &mut io::sink()).map_err(|e| io_detail(e, what))?;
    if got < n {
        return Err(format!("the data ends inside {what} (file truncated?)"));
    }
    Ok(())
}

/// Reads `n` bytes, growing the buffer only as data actually arrives (a lying size cannot
/// allocate more than the input holds).
pub(crate) fn read_bytes<R: Read + ?Sized>(
    r: &mut R,
    n: u64,
    what: &str,
) -> std::result::Result<Vec<u8>, String> {
    const CHUNK: u64 = 1 << 20;
    let mut v: Vec<u8> = Vec::new();
    let mut left = n;
    while left > 0 {
        let step = left.min(CHUNK.max(v.len() as u64));
        let step_us =
            usize::try_from(step).map_err(|_| format!("{what} is too large for this machine"))?;
        v.try_reserve_exact(step_us)
            .map_err(|_| format!("out of memory while reading {what}"))?;
        let got = r
            .take(step)
            .read_to_end(&mut v)
            .map_err(|e| io_detail(e, what))?;
        if (got as u64) < step {
            return Err(format!("the data ends inside {what} (file truncated?)"));
        }
        left -= step;
    }
    Ok(v)
}

/// Reading position inside one `miMATRIX` element: how many of its bytes are left.
pub(crate) struct Budget {
    pub(crate) left: u64,
}

impl Budget {
    /// Reads one sub-element tag, checking that its data fits in the element.
    pub(crate) fn tag<R: Read + ?Sized>(
        &mut self,
        r: &mut R,
        order: Order,
        what: &str,
    ) -> std::result::Result<Tag, String> {
        if self.left < 8 {
            return Err(format!(
                "the array element ends where its {what} should start"
            ));
        }
        let mut b = [0u8; 8];
        read_exact(r, &mut b, &format!("the tag of the {what}"))?;
        self.left -= 8;
        let t = parse_tag(b, order);
        if t.small.is_some() {
            if t.nbytes > 4 {
                return Err(format!(
                    "the {what} has a small-element tag claiming {} bytes (at most 4 fit)",
                    t.nbytes
                ));
            }
        } else if u64::from(t.nbytes) > self.left {
            return Err(format!(
                "the {what} element claims {} bytes but only {} remain in the array element (file truncated or corrupt)",
                t.nbytes, self.left
            ));
        }
        Ok(t)
    }

    /// Reads the data of a sub-element whose tag was just read, and its padding.
    pub(crate) fn data<R: Read + ?Sized>(
        &mut self,
        r: &mut R,
        t: Tag,
        what: &str,
    ) -> std::result::Result<Vec<u8>, String> {
        if let Some(s) = t.small {
            return Ok(s.get(..t.nbytes as usize).unwrap_or_default().to_vec());
        }
        let v = read_bytes(r, u64::from(t.nbytes), &format!("the {what}"))?;
        self.left -= u64::from(t.nbytes);
        self.pad(r, t, what)?;
        Ok(v)
    }

    /// Skips the padding after a (non-small) sub-element of `t.nbytes` bytes already consumed.
    pub(crate) fn pad<R: Read + ?Sized>(
        &mut self,
        r: &mut R,
        t: Tag,
        what: &str,
    ) -> std::result::Result<(), String> {
        let n = u64::from(t.nbytes);
        let p = (pad8(n) - n).min(self.left);
        skip(r, p, &format!("the padding after the {what}"))?;
        self.left -= p;
        Ok(())
    }
}

/// The leading sub-elements of an array: flags, dimensions, name.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) class: u8,
    pub(crate) complex: bool,
    pub(crate) logical: bool,
    pub(crate) dims: Vec<u64>,
    pub(crate) name: String,
}

impl Header {
    /// Number of elements (product of the dimensions), `None` on overflow.
    pub(crate) fn count(&self) -> Option<u64> {
        self.dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
    }

    pub(crate) fn dims_text(&self) -> String {
        dims_text(&self.dims)
    }
}

fn dims_text(dims: &[u64]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

fn name_from(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned()
}

/// Reads the array flags, dimensions and name of an array element.
pub(crate) fn read_header<R: Read + ?Sized>(
    r: &mut R,
    b: &mut Budget,
    order: Order,
) -> std::result::Result<Header, String> {
    let t = b.tag(r, order, "array flags")?;
    if t.ty != MI_UINT32 && t.ty != MI_INT32 {
        return Err(format!(
            "the array flags are stored as {}, expected miUINT32",
            type_name(t.ty)
        ));
    }
    let flags = b.data(r, t, "array flags")?;
    let Some(&[f0, f1, f2, f3]) = flags.get(..4).and_then(|s| <&[u8; 4]>::try_from(s).ok()) else {
        return Err(format!(
            "the array flags hold {} bytes, expected 8",
            flags.len()
        ));
    };
    let flags = order.u32([f0, f1, f2, f3]);
    let class = (flags & 0xff) as u8;

    let t = b.tag(r, order, "dimensions")?;
    if t.ty != MI_INT32 && t.ty != MI_UINT32 {
        return Err(format!(
            "the dimensions are stored as {}, expected miINT32",
            type_name(t.ty)
        ));
    }
    let raw = b.data(r, t, "dimensions")?;
    if raw.len() % 4 != 0 || raw.is_empty() {
        return Err(format!(
            "the dimensions element holds {} bytes, expected a positive multiple of 4",
            raw.len()
        ));
    }
    let mut dims = Vec::with_capacity(raw.len() / 4);
    for c in raw.chunks_exact(4) {
        let v = order.u32([c[0], c[1], c[2], c[3]]);
        if t.ty == MI_INT32 && (v as i32) < 0 {
            return Err(format!("a dimension is negative ({})", v as i32));
        }
        dims.push(u64::from(v));
    }

    let t = b.tag(r, order, "array name")?;
    if !matches!(t.ty, MI_INT8 | MI_UINT8 | MI_UTF8) {
        return Err(format!(
            "the array name is stored as {}, expected miINT8",
            type_name(t.ty)
        ));
    }
    let name = name_from(&b.data(r, t, "array name")?);
    Ok(Header {
        class,
        complex: flags & FLAG_COMPLEX != 0,
        logical: flags & FLAG_LOGICAL != 0,
        dims,
        name,
    })
}

/// Numeric data as stored in the file.
#[derive(Clone)]
pub(crate) struct NumData {
    ty: u32,
    order: Order,
    bytes: Vec<u8>,
}

impl fmt::Debug for NumData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes of {}", self.bytes.len(), type_name(self.ty))
    }
}

/// A decoded array.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A numeric (or logical) array; for complex arrays only the real part is kept.
    Numeric { header: Header, data: NumData },
    /// A struct (or struct array): `values[element * fields.len() + field]`.
    Struct {
        header: Header,
        fields: Vec<String>,
        values: Vec<Value>,
    },
    /// An array this reader recognises but does not read (char, cell, sparse, ...).
    Other { header: Header },
    /// An empty `miMATRIX` element (0 bytes), as some writers use for empty cells.
    Empty,
}

/// Reads the body of an array whose header was read, then skips what is left of the element.
pub(crate) fn read_body<R: Read + ?Sized>(
    r: &mut R,
    b: &mut Budget,
    order: Order,
    header: Header,
    depth: usize,
) -> std::result::Result<Value, String> {
    let v = if is_numeric_class(header.class) {
        let t = b.tag(r, order, "real part")?;
        check_numeric_data(&header, t)?;
        let bytes = b.data(r, t, "real part")?;
        Value::Numeric {
            header,
            data: NumData {
                ty: t.ty,
                order,
                bytes,
            },
        }
    } else if header.class == MX_STRUCT {
        read_struct(r, b, order, header, depth)?
    } else {
        Value::Other { header }
    };
    skip(r, b.left, "the rest of the array element")?;
    b.left = 0;
    Ok(v)
}

/// Checks that a real-part tag fits the header; returns the stored type's size.
pub(crate) fn check_numeric_data(header: &Header, t: Tag) -> std::result::Result<usize, String> {
    let Some(size) = type_size(t.ty) else {
        return Err(format!(
            "its data is stored as {}, which is not a numeric type",
            type_name(t.ty)
        ));
    };
    let n = u64::from(t.nbytes);
    if n % size as u64 != 0 {
        return Err(format!(
            "its data element holds {n} bytes, not a multiple of the {size}-byte {}",
            type_name(t.ty)
        ));
    }
    let count = n / size as u64;
    match header.count() {
        Some(c) if c == count => Ok(size),
        Some(c) => Err(format!(
            "its dimensions {} make {c} elements but its data holds {count} (corrupt file)",
            header.dims_text()
        )),
        None => Err(format!("its dimensions {} overflow", header.dims_text())),
    }
}

fn read_struct<R: Read + ?Sized>(
    r: &mut R,
    b: &mut Budget,
    order: Order,
    header: Header,
    depth: usize,
) -> std::result::Result<Value, String> {
    if depth >= MAX_DEPTH {
        return Err(format!(
            "structs are nested more than {MAX_DEPTH} deep; FOS refuses such files"
        ));
    }
    let t = b.tag(r, order, "field name length")?;
    if t.ty != MI_INT32 && t.ty != MI_UINT32 {
        return Err(format!(
            "the field name length is stored as {}, expected miINT32",
            type_name(t.ty)
        ));
    }
    let raw = b.data(r, t, "field name length")?;
    let Some(&[a, bb, c, d]) = raw.get(..4).and_then(|s| <&[u8; 4]>::try_from(s).ok()) else {
        return Err(format!(
            "the field name length holds {} bytes, expected 4",
            raw.len()
        ));
    };
    let len = order.u32([a, bb, c, d]) as usize;
    let t = b.tag(r, order, "field names")?;
    if !matches!(t.ty, MI_INT8 | MI_UINT8 | MI_UTF8) {
        return Err(format!(
            "the field names are stored as {}, expected miINT8",
            type_name(t.ty)
        ));
    }
    let raw = b.data(r, t, "field names")?;
    let fields: Vec<String> = if raw.is_empty() {
        Vec::new()
    } else {
        if len == 0 || raw.len() % len != 0 {
            return Err(format!(
                "the field names hold {} bytes, not a multiple of the field name length {len}",
                raw.len()
            ));
        }
        raw.chunks(len).map(name_from).collect()
    };
    let count = header
        .count()
        .ok_or_else(|| format!("its dimensions {} overflow", header.dims_text()))?;
    let mut values = Vec::new();
    if !fields.is_empty() {
        for e in 0..count {
            for f in &fields {
                let what = if count == 1 {
                    format!("field `{f}`")
                } else {
                    format!("field `{f}` of element {}", e + 1)
                };
                let t = b.tag(r, order, &what)?;
                if t.ty != MI_MATRIX || t.small.is_some() {
                    return Err(format!(
                        "the {what} is a {} element, expected miMATRIX",
                        type_name(t.ty)
                    ));
                }
                let n = u64::from(t.nbytes);
                let mut inner = Budget { left: n };
                let v = read_matrix(r, &mut inner, order, depth + 1)
                    .map_err(|e| format!("in {what}: {e}"))?;
                b.left -= n;
                b.pad(r, t, &what)?;
                // Only scalar structs can be walked into: elements of struct arrays are
                // checked but not kept (bounds memory for files of many tiny elements).
                if count == 1 {
                    values.push(v);
                }
            }
        }
    }
    Ok(Value::Struct {
        header,
        fields,
        values,
    })
}

/// Reads a whole `miMATRIX` element body of `b.left` bytes.
pub(crate) fn read_matrix<R: Read + ?Sized>(
    r: &mut R,
    b: &mut Budget,
    order: Order,
    depth: usize,
) -> std::result::Result<Value, String> {
    if b.left == 0 {
        return Ok(Value::Empty);
    }
    let header = read_header(r, b, order)?;
    read_body(r, b, order, header, depth)
}

/// One top-level variable.
#[derive(Debug, Clone)]
struct Var {
    name: String,
    value: Value,
}

/// A parsed MAT-file: its top-level variables, decoded.
///
/// ```
/// # fn main() -> Result<(), fos_io::Error> {
/// use fos_io::mat::MatFile;
/// # let dir = fos_io::testdata::data_dir();
/// # let Some(dir) = dir else { return Ok(()) };
/// let m = MatFile::open(&dir.join("cwru/normal_0_97.mat"))?;
/// assert!(m.names().contains(&"X097_DE_time".to_string()));
/// let de = m.get("X097_DE_time")?;
/// assert!(de.len() > 200_000);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MatFile {
    path: PathBuf,
    vars: Vec<Var>,
}

impl MatFile {
    /// Reads and parses the file at `path`.
    pub fn open(path: &Path) -> Result<MatFile> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        MatFile::parse(&bytes, path)
    }

    /// Parses a MAT-file held in memory; `origin` only names the file in error messages.
    pub fn parse(bytes: &[u8], origin: &Path) -> Result<MatFile> {
        let bad = |detail: String| Error::Mat {
            path: origin.to_path_buf(),
            detail,
        };
        let order = parse_header(bytes).map_err(bad)?;
        let mut vars = Vec::new();
        let mut pos: usize = 128;
        let mut after_compressed = false;
        while let Some(rest) = bytes.get(pos..).filter(|r| !r.is_empty()) {
            let Some(&tb) = rest.get(..8).and_then(|s| <&[u8; 8]>::try_from(s).ok()) else {
                if after_compressed && rest.iter().all(|&b| b == 0) {
                    // Padding some writers put after a compressed element.
                    break;
                }
                return Err(bad(format!(
                    "{} stray bytes at byte {pos} after the last variable (file truncated or corrupt)",
                    rest.len()
                )));
            };
            let t = parse_tag(tb, order);
            after_compressed = t.ty == MI_COMPRESSED;
            let at = format!("the element at byte {pos}");
            if t.small.is_some() {
                pos = pos.saturating_add(8);
                continue;
            }
            let n = t.nbytes as usize;
            let Some(body) = rest.get(8..).and_then(|b| b.get(..n)) else {
                return Err(bad(format!(
                    "{at} claims {n} bytes but only {} remain (file truncated)",
                    rest.len().saturating_sub(8)
                )));
            };
            let after_var = |name: &str, e: String| {
                if name.is_empty() {
                    bad(format!("{at}: {e}"))
                } else {
                    bad(format!("variable `{name}` ({at}): {e}"))
                }
            };
            match t.ty {
                MI_MATRIX if n == 0 => pos = pos.saturating_add(8),
                MI_MATRIX => {
                    let mut r = body;
                    let mut b = Budget { left: n as u64 };
                    let header =
                        read_header(&mut r, &mut b, order).map_err(|e| after_var("", e))?;
                    let name = header.name.clone();
                    let value = read_body(&mut r, &mut b, order, header, 0)
                        .map_err(|e| after_var(&name, e))?;
                    vars.push(Var { name, value });
                    pos = pos
                        .saturating_add(8)
                        .saturating_add(pad8(n as u64).min(rest.len() as u64) as usize);
                }
                MI_COMPRESSED => {
                    let mut dec = ZlibDecoder::new(body);
                    let mut tb = [0u8; 8];
                    read_exact(&mut dec, &mut tb, "the first tag of a compressed element")
                        .map_err(|e| after_var("", e))?;
                    let it = parse_tag(tb, order);
                    if it.ty == MI_MATRIX && it.small.is_none() {
                        let mut b = Budget {
                            left: u64::from(it.nbytes),
                        };
                        let header =
                            read_header(&mut dec, &mut b, order).map_err(|e| after_var("", e))?;
                        let name = header.name.clone();
                        let value = read_body(&mut dec, &mut b, order, header, 0)
                            .map_err(|e| after_var(&name, e))?;
                        // Read to the end of the zlib stream: verifies its checksum and that it is whole.
                        finish_zlib(&mut dec).map_err(|e| after_var(&name, e))?;
                        vars.push(Var { name, value });
                    } else {
                        finish_zlib(&mut dec).map_err(|e| after_var("", e))?;
                    }
                    pos = pos.saturating_add(8).saturating_add(n);
                }
                _ => {
                    pos = pos
                        .saturating_add(8)
                        .saturating_add(pad8(n as u64).min(rest.len() as u64) as usize);
                }
            }
        }
        Ok(MatFile {
            path: origin.to_path_buf(),
            vars,
        })
    }

    /// The file this was read from (as given to [`MatFile::open`] or [`MatFile::parse`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The names of the top-level variables, in file order.
    pub fn names(&self) -> Vec<String> {
        self.vars.iter().map(|v| v.name.clone()).collect()
    }

    /// Reads a numeric variable, or a field reached by a dotted path into structs (`rec.accel`),
    /// as a 1-D signal (matrices are flattened column by column). Integer and single data are
    /// converted to `f64`. Values are returned as stored: NaN and infinities are not checked
    /// here (see [`crate::read_signal`]).
    pub fn get(&self, dotted: &str) -> Result<Vec<f64>> {
        let mut parts = dotted.split('.');
        let first = parts.next().unwrap_or_default();
        let Some(var) = self.vars.iter().find(|v| v.name == first) else {
            return Err(Error::MatNotFound {
                path: self.path.clone(),
                name: first.to_string(),
                available: list_names(self.vars.iter().map(|v| v.name.as_str())),
            });
        };
        let rest: Vec<&str> = parts.collect();
        let value = walk(&var.value, first, &rest, &self.path, dotted)?;
        numeric_of(value, &self.path, dotted)
    }
}

/// Reads what is left of a zlib stream, so its checksum is verified and truncation is noticed.
fn finish_zlib<R: Read>(dec: &mut ZlibDecoder<R>) -> std::result::Result<(), String> {
    io::copy(dec, &mut io::sink()).map_err(|e| io_detail(e, "a compressed element"))?;
    Ok(())
}

pub(crate) fn list_names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = names.collect();
    if v.is_empty() {
        "no variables".to_string()
    } else {
        v.join(", ")
    }
}

/// Follows `rest` (field names) from `value`, which is the array named `at`.
pub(crate) fn walk<'v>(
    value: &'v Value,
    first: &str,
    rest: &[&str],
    path: &Path,
    dotted: &str,
) -> Result<&'v Value> {
    let mut cur = value;
    let mut at = first.to_string();
    for field in rest {
        let err = |detail: String| Error::MatVariable {
            path: path.to_path_buf(),
            name: dotted.to_string(),
            detail,
        };
        let Value::Struct {
            header,
            fields,
            values,
        } = cur
        else {
            return Err(err(format!(
                "`{at}` is {}, not a struct, so it has no field `{field}`",
                describe(cur)
            )));
        };
        let count = header.count().unwrap_or(0);
        if count != 1 {
            return Err(err(format!(
                "`{at}` is a {} struct array; FOS reads fields of scalar (1x1) structs only: \
                 save the element you want as its own variable",
                header.dims_text()
            )));
        }
        let Some(i) = fields.iter().position(|f| f == field) else {
            return Err(err(format!(
                "struct `{at}` has no field `{field}`; its fields: {}",
                if fields.is_empty() {
                    "none".to_string()
                } else {
                    fields.join(", ")
                }
            )));
        };
        let Some(v) = values.get(i) else {
            return Err(err(format!(
                "struct `{at}` is missing the data of field `{field}` (corrupt file)"
            )));
        };
        cur = v;
        at = format!("{at}.{field}");
    }
    Ok(cur)
}

fn describe(v: &Value) -> String {
    match v {
        Value::Numeric { header, .. } | Value::Struct { header, .. } | Value::Other { header } => {
            let class = if header.logical {
                "logical".to_string()
            } else {
                class_name(header.class)
            };
            format!("{} {class}", header.dims_text())
        }
        Value::Empty => "an empty array".to_string(),
    }
}

/// Checks that a header describes a real numeric vector or matrix, naming what to do if not.
pub(crate) fn check_signal_header(header: &Header) -> std::result::Result<(), String> {
    if header.class == MX_STRUCT {
        return Err(format!(
            "it is a {} struct, not a numeric array; name one of its fields with a dotted path (`name.field`)",
            header.dims_text()
        ));
    }
    if header.class == MX_SPARSE {
        return Err(
            "it is a sparse matrix, which FOS does not read as a signal; save `full(x)` instead"
                .to_string(),
        );
    }
    if !is_numeric_class(header.class) {
        return Err(format!(
            "it is {}, not a numeric array",
            class_name(header.class)
        ));
    }
    if header.complex {
        return Err(
            "it is complex; FOS reads real signals only (the real part is not taken silently): \
                    save `real(x)` or `abs(x)`"
                .to_string(),
        );
    }
    let big = header.dims.iter().filter(|&&d| d > 1).count();
    if big > 2 {
        return Err(format!(
            "it is a {} array; FOS reads vectors and matrices (flattened column by column) only",
            header.dims_text()
        ));
    }
    Ok(())
}

pub(crate) fn numeric_of(v: &Value, path: &Path, dotted: &str) -> Result<Vec<f64>> {
    let err = |detail: String| Error::MatVariable {
        path: path.to_path_buf(),
        name: dotted.to_string(),
        detail,
    };
    match v {
        Value::Numeric { header, data } => {
            check_signal_header(header).map_err(err)?;
            let mut out = Vec::with_capacity(data.bytes.len() / type_size(data.ty).unwrap_or(1));
            decode_into(data.ty, data.order, &data.bytes, &mut out);
            Ok(out)
        }
        Value::Struct { header, .. } | Value::Other { header } => {
            Err(err(check_signal_header(header)
                .err()
                .unwrap_or_else(|| "it is not a numeric array".to_string())))
        }
        Value::Empty => Ok(Vec::new()),
    }
}
