//! Lower-case hex for hashes, keys, salts and signatures in the JSON files, with serde adapters.

/// Lower-case hex of `bytes`.
pub(crate) fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Decodes hex (either case) into exactly `N` bytes, or says what is wrong (never echoing the content).
pub(crate) fn decode<const N: usize>(s: &str) -> Result<[u8; N], String> {
    if s.len() != 2 * N {
        return Err(format!("expected {} hex characters, found {}", 2 * N, s.len()));
    }
    let mut out = [0u8; N];
    for (i, pair) in s.as_bytes().chunks_exact(2).enumerate() {
        let digit = |c: u8, at: usize| {
            char::from(c).to_digit(16).ok_or_else(|| format!("character {} is not a hex digit", at + 1))
        };
        let hi = digit(pair[0], 2 * i)?;
        let lo = digit(pair[1], 2 * i + 1)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Ok(out)
}

macro_rules! array_serde {
    ($name:ident, $n:expr) => {
        /// Serde adapter: a byte array as lower-case hex.
        pub(crate) mod $name {
            use serde::{Deserialize, Deserializer, Serializer};

            pub(crate) fn serialize<S: Serializer>(bytes: &[u8; $n], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&super::encode(bytes))
            }

            pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; $n], D::Error> {
                let text = String::deserialize(d)?;
                super::decode::<$n>(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

array_serde!(array24, 24);
array_serde!(array32, 32);
array_serde!(array64, 64);

/// Serde adapter: a byte vector as lower-case hex.
pub(crate) mod vec {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd number of hex characters"));
        }
        text.as_bytes()
            .chunks_exact(2)
            .map(|p| {
                std::str::from_utf8(p)
                    .ok()
                    .and_then(|p| u8::from_str_radix(p, 16).ok())
                    .ok_or_else(|| serde::de::Error::custom("not a hex digit"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_and_refuses_bad_input() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(super::encode(&bytes), "0001abff");
        assert_eq!(super::decode::<4>("0001ABff").unwrap(), bytes);
        assert!(super::decode::<4>("0001abf").unwrap_err().contains("expected 8"));
        assert!(super::decode::<4>("0001abfg").unwrap_err().contains("character 8"));
        assert!(super::decode::<2>("é1").is_err());
    }
}
