//! Backend-neutral drawing primitives produced by the layout and consumed by
//! the SVG writer and the rasteriser.
//!
//! Coordinates are in pixels, origin top-left, y pointing down.

/// An sRGB colour with straight (non-premultiplied) alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Color {
    pub(crate) r: u8,
    pub(crate) g: u8,
    pub(crate) b: u8,
    pub(crate) a: u8,
}

impl Color {
    pub(crate) const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Color { r, g, b, a: 255 }
    }

    pub(crate) const fn with_alpha(self, a: u8) -> Self {
        Color { a, ..self }
    }

    /// Parses `#rrggbb`; anything else yields black.
    pub(crate) fn from_hex(hex: &str) -> Self {
        let h = hex.trim_start_matches('#');
        let byte = |i: usize| {
            h.get(i..i + 2)
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .unwrap_or(0)
        };
        Color::rgb(byte(0), byte(2), byte(4))
    }

    /// `#rrggbb` (alpha is written separately as an opacity).
    pub(crate) fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }
}

/// Horizontal alignment of a text run relative to its anchor point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

/// One drawing operation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Prim {
    /// Axis-aligned rectangle, optionally filled and/or outlined.
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Option<Color>,
        stroke: Option<(Color, f32)>,
    },
    /// Open polyline, optionally dashed (`[on, off]` lengths).
    Line {
        pts: Vec<(f32, f32)>,
        color: Color,
        width: f32,
        dash: Option<[f32; 2]>,
    },
    /// Text whose baseline starts/centres/ends at `(x, y)`; `vertical`
    /// rotates it by −90° about that point (reads bottom to top).
    Text {
        x: f32,
        y: f32,
        text: String,
        size: f32,
        color: Color,
        anchor: Anchor,
        vertical: bool,
    },
}

/// A complete picture: canvas size and primitives in painting order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scene {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) prims: Vec<Prim>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let c = Color::from_hex("#d62728");
        assert_eq!(c, Color::rgb(0xd6, 0x27, 0x28));
        assert_eq!(c.hex(), "#d62728");
        assert_eq!(Color::from_hex("zz"), Color::rgb(0, 0, 0));
    }
}
