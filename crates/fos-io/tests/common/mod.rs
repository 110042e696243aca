//! A small MATLAB level-5 MAT-file *writer* for tests: builds files with numeric arrays stored in
//! any type, structs (nested, arrays), char/cell/sparse arrays, compressed elements, either byte
//! order.

#![allow(dead_code, unreachable_pub)]

use flate2::write::ZlibEncoder;
use flate2::Compression;
use std::io::Write;

pub const MI_INT8: u32 = 1;
pub const MI_UINT8: u32 = 2;
pub const MI_INT16: u32 = 3;
pub const MI_UINT16: u32 = 4;
pub const MI_INT32: u32 = 5;
pub const MI_UINT32: u32 = 6;
pub const MI_SINGLE: u32 = 7;
pub const MI_DOUBLE: u32 = 9;
pub const MI_INT64: u32 = 12;
pub const MI_UINT64: u32 = 13;
pub const MI_MATRIX: u32 = 14;
pub const MI_COMPRESSED: u32 = 15;

pub const C_CELL: u8 = 1;
pub const C_STRUCT: u8 = 2;
pub const C_CHAR: u8 = 4;
pub const C_SPARSE: u8 = 5;
pub const C_DOUBLE: u8 = 6;
pub const C_SINGLE: u8 = 7;
pub const C_INT8: u8 = 8;
pub const C_UINT8: u8 = 9;
pub const C_INT16: u8 = 10;
pub const C_UINT16: u8 = 11;
pub const C_INT32: u8 = 12;
pub const C_UINT32: u8 = 13;
pub const C_INT64: u8 = 14;
pub const C_UINT64: u8 = 15;

/// Numeric data in a storage type.
#[derive(Clone, Debug)]
pub enum Data {
    F64(Vec<f64>),
    F32(Vec<f32>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
}

impl Data {
    pub fn ty(&self) -> u32 {
        match self {
            Data::F64(_) => MI_DOUBLE,
            Data::F32(_) => MI_SINGLE,
            Data::I8(_) => MI_INT8,
            Data::U8(_) => MI_UINT8,
            Data::I16(_) => MI_INT16,
            Data::U16(_) => MI_UINT16,
            Data::I32(_) => MI_INT32,
            Data::U32(_) => MI_UINT32,
            Data::I64(_) => MI_INT64,
            Data::U64(_) => MI_UINT64,
        }
    }
    pub fn len(&self) -> usize {
        match self {
            Data::F64(v) => v.len(),
            Data::F32(v) => v.len(),
            Data::I8(v) => v.len(),
            Data::U8(v) => v.len(),
            Data::I16(v) => v.len(),
            Data::U16(v) => v.len(),
            Data::I32(v) => v.len(),
            Data::U32(v) => v.len(),
            Data::I64(v) => v.len(),
            Data::U64(v) => v.len(),
        }
    }
    pub fn as_f64(&self) -> Vec<f64> {
        match self {
            Data::F64(v) => v.clone(),
            Data::F32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::I8(v) => v.iter().map(|&x| x as f64).collect(),
            Data::U8(v) => v.iter().map(|&x| x as f64).collect(),
            Data::I16(v) => v.iter().map(|&x| x as f64).collect(),
            Data::U16(v) => v.iter().map(|&x| x as f64).collect(),
            Data::I32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::U32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
            Data::U64(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }
    fn bytes(&self, big: bool) -> Vec<u8> {
        macro_rules! enc {
            ($v:expr) => {
                $v.iter()
                    .flat_map(|x| {
                        if big {
                            x.to_be_bytes().to_vec()
                        } else {
                            x.to_le_bytes().to_vec()
                        }
                    })
                    .collect()
            };
        }
        match self {
            Data::F64(v) => enc!(v),
            Data::F32(v) => enc!(v),
            Data::I8(v) => enc!(v),
            Data::U8(v) => enc!(v),
            Data::I16(v) => enc!(v),
            Data::U16(v) => enc!(v),
            Data::I32(v) => enc!(v),
            Data::U32(v) => enc!(v),
            Data::I64(v) => enc!(v),
            Data::U64(v) => enc!(v),
        }
    }
}

/// An array to write.
#[derive(Clone, Debug)]
pub enum Arr {
    Num {
        class: u8,
        dims: Vec<u32>,
        data: Data,
        imag: Option<Data>,
        logical: bool,
    },
    /// A struct array: `elems[i]` holds the values of `fields` for element `i`.
    Struct {
        dims: Vec<u32>,
        fields: Vec<String>,
        elems: Vec<Vec<Arr>>,
    },
    Char(String),
    Cell(Vec<Arr>),
    /// A 2x2 sparse matrix with one nonzero.
    Sparse,
    /// An empty (0-byte) miMATRIX element.
    Empty,
}

/// A double-class row vector stored as doubles.
pub fn doubles(v: &[f64]) -> Arr {
    Arr::Num {
        class: C_DOUBLE,
        dims: vec![1, v.len() as u32],
        data: Data::F64(v.to_vec()),
        imag: None,
        logical: false,
    }
}

/// A double-class column vector stored in `data`'s type (as MATLAB does for integral values).
pub fn stored(class: u8, data: Data) -> Arr {
    Arr::Num {
        class,
        dims: vec![data.len() as u32, 1],
        data,
        imag: None,
        logical: false,
    }
}

/// A scalar struct.
pub fn st(fields: Vec<(&str, Arr)>) -> Arr {
    let (names, vals): (Vec<String>, Vec<Arr>) =
        fields.into_iter().map(|(n, a)| (n.to_string(), a)).unzip();
    Arr::Struct {
        dims: vec![1, 1],
        fields: names,
        elems: vec![vals],
    }
}

pub struct Writer {
    pub big: bool,
}

impl Writer {
    fn u32(&self, v: u32) -> [u8; 4] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// A data element: small when it fits in 4 bytes, else tag + data + padding.
    fn elem(&self, ty: u32, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if data.len() <= 4 && !data.is_empty() {
            out.extend_from_slice(&self.u32(((data.len() as u32) << 16) | ty));
            let mut d = [0u8; 4];
            d[..data.len()].copy_from_slice(data);
            out.extend_from_slice(&d);
            return out;
        }
        out.extend_from_slice(&self.u32(ty));
        out.extend_from_slice(&self.u32(data.len() as u32));
        out.extend_from_slice(data);
        while out.len() % 8 != 0 {
            out.push(0);
        }
        out
    }

    fn header(&self, class: u8, flags: u32, dims: &[u32], name: &str) -> Vec<u8> {
        let mut p = Vec::new();
        let mut f = Vec::new();
        f.extend_from_slice(&self.u32(u32::from(class) | flags));
        f.extend_from_slice(&self.u32(0));
        p.extend(self.elem(MI_UINT32, &f));
        let d: Vec<u8> = dims.iter().flat_map(|&x| self.u32(x)).collect();
        p.extend(self.elem(MI_INT32, &d));
        if name.is_empty() {
            p.extend_from_slice(&self.u32(MI_INT8));
            p.extend_from_slice(&self.u32(0));
        } else {
            p.extend(self.elem(MI_INT8, name.as_bytes()));
        }
        p
    }

    /// A whole miMATRIX element (tag + payload).
    pub fn matrix(&self, name: &str, a: &Arr) -> Vec<u8> {
        let mut p = Vec::new();
        match a {
            Arr::Empty => {}
            Arr::Num {
                class,
                dims,
                data,
                imag,
                logical,
            } => {
                let flags =
                    if imag.is_some() { 0x0800 } else { 0 } | if *logical { 0x0200 } else { 0 };
                p.extend(self.header(*class, flags, dims, name));
                p.extend(self.elem(data.ty(), &data.bytes(self.big)));
                if let Some(im) = imag {
                    p.extend(self.elem(im.ty(), &im.bytes(self.big)));
                }
            }
            Arr::Struct {
                dims,
                fields,
                elems,
            } => {
                p.extend(self.header(C_STRUCT, 0, dims, name));
                p.extend(self.elem(MI_INT32, &self.u32(32)));
                let mut names = Vec::new();
                for f in fields {
                    let mut b = [0u8; 32];
                    b[..f.len()].copy_from_slice(f.as_bytes());
                    names.extend_from_slice(&b);
                }
                p.extend(self.elem(MI_INT8, &names));
                for e in elems {
                    for v in e {
                        p.extend(self.matrix("", v));
                    }
                }
            }
            Arr::Char(s) => {
                p.extend(self.header(C_CHAR, 0, &[1, s.len() as u32], name));
                let d: Vec<u8> = s
                    .encode_utf16()
                    .flat_map(|c| {
                        if self.big {
                            c.to_be_bytes()
                        } else {
                            c.to_le_bytes()
                        }
                    })
                    .collect();
                p.extend(self.elem(MI_UINT16, &d));
            }
            Arr::Cell(items) => {
                p.extend(self.header(C_CELL, 0, &[1, items.len() as u32], name));
                for it in items {
                    p.extend(self.matrix("", it));
                }
            }
            Arr::Sparse => {
                p.extend(self.header(C_SPARSE, 0, &[2, 2], name));
                p.extend(self.elem(MI_INT32, &self.u32(1)));
                let jc: Vec<u8> = [0u32, 0, 1].iter().flat_map(|&x| self.u32(x)).collect();
                p.extend(self.elem(MI_INT32, &jc));
                p.extend(self.elem(MI_DOUBLE, &Data::F64(vec![5.0]).bytes(self.big)));
            }
        }
        let mut out = Vec::new();
        out.extend_from_slice(&self.u32(MI_MATRIX));
        out.extend_from_slice(&self.u32(p.len() as u32));
        out.extend(p);
        out
    }

    pub fn file_header(&self) -> Vec<u8> {
        let mut h = format!(
            "MATLAB 5.0 MAT-file, Platform: fos-test, Created on: test{}",
            ""
        )
        .into_bytes();
        h.resize(116, b' ');
        h.extend_from_slice(&[0u8; 8]);
        if self.big {
            h.extend_from_slice(&[0x01, 0x00, b'M', b'I']);
        } else {
            h.extend_from_slice(&[0x00, 0x01, b'I', b'M']);
        }
        h
    }

    /// A whole file; each variable compressed or not.
    pub fn file(&self, vars: &[(&str, Arr, bool)]) -> Vec<u8> {
        let mut out = self.file_header();
        for (name, a, compressed) in vars {
            let m = self.matrix(name, a);
            if *compressed {
                let mut enc = ZlibEncoder::new(Vec::new(), Compression::default());
                enc.write_all(&m).unwrap();
                let z = enc.finish().unwrap();
                out.extend_from_slice(&self.u32(MI_COMPRESSED));
                out.extend_from_slice(&self.u32(z.len() as u32));
                out.extend(z);
            } else {
                out.extend(m);
            }
        }
        out
    }
}

/// A little-endian file.
pub fn le(vars: &[(&str, Arr, bool)]) -> Vec<u8> {
    Writer { big: false }.file(vars)
}

/// A big-endian file.
pub fn be(vars: &[(&str, Arr, bool)]) -> Vec<u8> {
    Writer { big: true }.file(vars)
}

/// A set of small files covering the reader's features, by name: used by the tests and to seed
/// the fuzz corpus.
pub fn sample_files() -> Vec<(&'static str, Vec<u8>)> {
    let sig: Vec<f64> = (0..40).map(|i| (i as f64 * 0.3).sin()).collect();
    let rec = || {
        st(vec![
            ("accel", doubles(&sig[..10])),
            ("fs", doubles(&[12000.0])),
            (
                "meta",
                st(vec![
                    ("gain", stored(C_DOUBLE, Data::I16(vec![-3, 7]))),
                    ("name", Arr::Char("de".into())),
                ]),
            ),
        ])
    };
    vec![
        (
            "doubles",
            le(&[
                ("x", doubles(&sig), false),
                ("rpm", doubles(&[1797.0]), false),
            ]),
        ),
        (
            "singles",
            le(&[(
                "x",
                stored(C_SINGLE, Data::F32(vec![0.5, -1.25, 3.0])),
                false,
            )]),
        ),
        (
            "int16_stored",
            le(&[(
                "x",
                stored(C_DOUBLE, Data::I16(vec![-32768, -1, 0, 1, 32767])),
                false,
            )]),
        ),
        (
            "small_elem",
            le(&[("x", stored(C_DOUBLE, Data::U8(vec![1, 2, 3])), false)]),
        ),
        ("struct", le(&[("rec", rec(), false)])),
        (
            "compressed",
            le(&[
                ("x", doubles(&sig), true),
                ("rec", rec(), true),
                ("y", doubles(&[1.0, 2.0]), false),
            ]),
        ),
        (
            "big_endian",
            be(&[
                ("x", doubles(&sig), false),
                ("rec", rec(), true),
                ("i", stored(C_INT32, Data::I32(vec![-5, 6])), false),
            ]),
        ),
        (
            "mixed",
            le(&[
                ("s", Arr::Char("hello".into()), false),
                ("c", Arr::Cell(vec![doubles(&[1.0]), Arr::Empty]), false),
                ("sp", Arr::Sparse, false),
                (
                    "z",
                    Arr::Num {
                        class: C_DOUBLE,
                        dims: vec![1, 2],
                        data: Data::F64(vec![1.0, 2.0]),
                        imag: Some(Data::F64(vec![0.0, 1.0])),
                        logical: false,
                    },
                    false,
                ),
                (
                    "b",
                    Arr::Num {
                        class: C_UINT8,
                        dims: vec![1, 3],
                        data: Data::U8(vec![1, 0, 1]),
                        imag: None,
                        logical: true,
                    },
                    false,
                ),
                ("x", doubles(&[4.0, 5.0]), false),
            ]),
        ),
        (
            "struct_array",
            le(&[(
                "arr",
                Arr::Struct {
                    dims: vec![1, 2],
                    fields: vec!["v".into()],
                    elems: vec![vec![doubles(&[1.0])], vec![doubles(&[2.0])]],
                },
                false,
            )]),
        ),
    ]
}
