//! The embedded font (DejaVu Sans, from the `dejavu` crate): text metrics for
//! layout and glyph outlines for rasterisation.
//!
//! DejaVu Sans is distributed under the permissive Bitstream Vera Fonts
//! licence (DejaVu's own changes are public domain); the `dejavu` crate that
//! ships it is MIT/Apache-2.0. The bytes are compiled into
//! the binary, so no system font is ever read.

use std::sync::OnceLock;

use ttf_parser::{Face, GlyphId, OutlineBuilder};

/// Family name written into SVG `<text>` elements (fallbacks follow).
pub(crate) const SVG_FONT_FAMILY: &str = "'DejaVu Sans', Verdana, Arial, sans-serif";

/// The parsed embedded face, or `None` if parsing failed (never expected;
/// layout then falls back to an average-advance estimate and PNG text is
/// omitted rather than panicking).
fn face() -> Option<&'static Face<'static>> {
    static FACE: OnceLock<Option<Face<'static>>> = OnceLock::new();
    FACE.get_or_init(|| Face::parse(dejavu::sans::regular(), 0).ok())
        .as_ref()
}

fn glyph(face: &Face<'_>, c: char) -> GlyphId {
    face.glyph_index(c)
        .or_else(|| face.glyph_index('?'))
        .unwrap_or(GlyphId(0))
}

/// Width in pixels of `text` set at `size` pixels per em.
pub(crate) fn text_width(text: &str, size: f32) -> f32 {
    let Some(face) = face() else {
        return 0.6 * size * text.chars().count() as f32;
    };
    let scale = size / f32::from(face.units_per_em());
    text.chars()
        .map(|c| f32::from(face.glyph_hor_advance(glyph(face, c)).unwrap_or(0)) * scale)
        .sum()
}

/// Offset from a line's vertical centre to its baseline, so that digits and
/// capitals look centred on a given y.
pub(crate) fn center_to_baseline(size: f32) -> f32 {
    // DejaVu Sans cap height is 1493/2048 em ≈ 0.73 em.
    0.365 * size
}

/// Collects glyph outlines into a `tiny_skia::PathBuilder`, mapping font
/// units (y up) to pixels (y down) around a pen position.
struct PathSink<'a> {
    pb: &'a mut tiny_skia::PathBuilder,
    x0: f32,
    y0: f32,
    scale: f32,
}

impl PathSink<'_> {
    fn map(&self, x: f32, y: f32) -> (f32, f32) {
        (self.x0 + x * self.scale, self.y0 - y * self.scale)
    }
}

impl OutlineBuilder for PathSink<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        let (x, y) = self.map(x, y);
        self.pb.move_to(x, y);
    }
    fn line_to(&mut self, x: f32, y: f32) {
        let (x, y) = self.map(x, y);
        self.pb.line_to(x, y);
    }
    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let (x1, y1) = self.map(x1, y1);
        let (x, y) = self.map(x, y);
        self.pb.quad_to(x1, y1, x, y);
    }
    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let (x1, y1) = self.map(x1, y1);
        let (x2, y2) = self.map(x2, y2);
        let (x, y) = self.map(x, y);
        self.pb.cubic_to(x1, y1, x2, y2, x, y);
    }
    fn close(&mut self) {
        self.pb.close();
    }
}

/// The outline of `text` with its baseline starting at `(x, y)`, or `None`
/// for blank text.
pub(crate) fn text_path(text: &str, size: f32, x: f32, y: f32) -> Option<tiny_skia::Path> {
    let face = face()?;
    let scale = size / f32::from(face.units_per_em());
    let mut pb = tiny_skia::PathBuilder::new();
    let mut pen = x;
    for c in text.chars() {
        let g = glyph(face, c);
        let mut sink = PathSink {
            pb: &mut pb,
            x0: pen,
            y0: y,
            scale,
        };
        face.outline_glyph(g, &mut sink);
        pen += f32::from(face.glyph_hor_advance(g).unwrap_or(0)) * scale;
    }
    pb.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_font_parses_and_measures() {
        assert!(face().is_some());
        let w = text_width("BPFO", 12.0);
        assert!(w > 20.0 && w < 50.0, "{w}");
        assert!(text_width("BPFO BPFO", 12.0) > 2.0 * w);
        assert_eq!(text_width("", 12.0), 0.0);
    }

    #[test]
    fn text_path_has_ink_near_baseline() {
        let p = text_path("2×BSF", 20.0, 10.0, 50.0).unwrap();
        let b = p.bounds();
        assert!(
            b.left() >= 9.0 && b.top() > 30.0 && b.bottom() <= 51.0,
            "{b:?}"
        );
        assert!(text_path(" ", 20.0, 0.0, 0.0).is_none());
    }
}
