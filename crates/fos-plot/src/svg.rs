//! Serialises a [`Scene`] as a standalone SVG 1.1 document.
//!
//! Text stays text (`<text>` elements, DejaVu Sans requested with generic
//! fallbacks), so labels remain searchable and selectable.

use std::fmt::Write as _;

use crate::font::SVG_FONT_FAMILY;
use crate::scene::{Anchor, Color, Prim, Scene};

/// Escapes the five XML special characters.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with at most two decimals and no trailing zeros.
fn n(v: f32) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

fn paint(attr: &str, c: Color) -> String {
    if c.a == 255 {
        format!(r#"{attr}="{}""#, c.hex())
    } else {
        format!(
            r#"{attr}="{}" {attr}-opacity="{:.3}""#,
            c.hex(),
            f32::from(c.a) / 255.0
        )
    }
}

/// Renders the scene as an SVG document.
pub(crate) fn to_svg(scene: &Scene) -> String {
    let mut o = String::new();
    let (w, h) = (scene.width, scene.height);
    // Writing into a String cannot fail; results are ignored deliberately.
    let _ = writeln!(
        o,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{SVG_FONT_FAMILY}">"#
    );
    for p in &scene.prims {
        match p {
            Prim::Rect {
                x,
                y,
                w,
                h,
                fill,
                stroke,
            } => {
                let fill = fill.map_or_else(|| r#"fill="none""#.to_string(), |c| paint("fill", c));
                let stroke = stroke.map_or_else(String::new, |(c, sw)| {
                    format!(r#" {} stroke-width="{}""#, paint("stroke", c), n(sw))
                });
                let _ = writeln!(
                    o,
                    r#"<rect x="{}" y="{}" width="{}" height="{}" {fill}{stroke}/>"#,
                    n(*x),
                    n(*y),
                    n(*w),
                    n(*h)
                );
            }
            Prim::Line {
                pts,
                color,
                width,
                dash,
            } => {
                let mut d = String::with_capacity(pts.len() * 12);
                for (i, (x, y)) in pts.iter().enumerate() {
                    d.push_str(if i == 0 { "M" } else { "L" });
                    d.push_str(&n(*x));
                    d.push(' ');
                    d.push_str(&n(*y));
                }
                let dash = dash.map_or_else(String::new, |[on, off]| {
                    format!(r#" stroke-dasharray="{} {}""#, n(on), n(off))
                });
                let _ = writeln!(
                    o,
                    r#"<path d="{d}" fill="none" {} stroke-width="{}" stroke-linejoin="round"{dash}/>"#,
                    paint("stroke", *color),
                    n(*width)
                );
            }
            Prim::Text {
                x,
                y,
                text,
                size,
                color,
                anchor,
                vertical,
            } => {
                let anchor = match anchor {
                    Anchor::Start => "start",
                    Anchor::Middle => "middle",
                    Anchor::End => "end",
                };
                let rot = if *vertical {
                    format!(r#" transform="rotate(-90 {} {})""#, n(*x), n(*y))
                } else {
                    String::new()
                };
                let _ = writeln!(
                    o,
                    r#"<text x="{}" y="{}" font-size="{}" text-anchor="{anchor}" {}{rot}>{}</text>"#,
                    n(*x),
                    n(*y),
                    n(*size),
                    paint("fill", *color),
                    escape(text)
                );
            }
        }
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_numbers() {
        assert_eq!(
            escape(r#"a<b & "c">'"#),
            "a&lt;b &amp; &quot;c&quot;&gt;&apos;"
        );
        assert_eq!(n(1.0), "1");
        assert_eq!(n(1.256), "1.26");
        assert_eq!(n(-0.001), "0");
    }

    #[test]
    fn document_structure() {
        let scene = Scene {
            width: 10,
            height: 20,
            prims: vec![
                Prim::Line {
                    pts: vec![(0.0, 0.0), (1.0, 2.0)],
                    color: Color::rgb(255, 0, 0),
                    width: 1.0,
                    dash: Some([3.0, 2.0]),
                },
                Prim::Text {
                    x: 1.0,
                    y: 2.0,
                    text: "2×BPFO <x>".into(),
                    size: 12.0,
                    color: Color::rgb(0, 0, 0).with_alpha(128),
                    anchor: Anchor::End,
                    vertical: true,
                },
            ],
        };
        let s = to_svg(&scene);
        assert!(s.starts_with("<?xml"));
        assert!(s.contains(r#"width="10" height="20""#));
        assert!(s.contains(r#"d="M0 0L1 2""#));
        assert!(s.contains(r#"stroke-dasharray="3 2""#));
        assert!(s.contains("2×BPFO &lt;x&gt;"));
        assert!(s.contains("rotate(-90 1 2)"));
        assert!(s.contains("fill-opacity=\"0.502\""));
        assert!(s.trim_end().ends_with("</svg>"));
    }
}
