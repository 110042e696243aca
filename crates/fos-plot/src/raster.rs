//! Rasterises a [`Scene`] with `tiny-skia` (anti-aliased, pure Rust) and
//! encodes it as PNG. Text is drawn from the embedded font's glyph outlines.

use tiny_skia::{
    FillRule, LineCap, LineJoin, Paint, PathBuilder, Pixmap, Rect, Stroke, StrokeDash, Transform,
};

use crate::font::{text_path, text_width};
use crate::scene::{Anchor, Color, Prim, Scene};
use crate::PlotError;

fn paint(c: Color) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color_rgba8(c.r, c.g, c.b, c.a);
    p.anti_alias = true;
    p
}

/// Renders the scene and returns PNG bytes.
pub(crate) fn to_png(scene: &Scene) -> Result<Vec<u8>, PlotError> {
    let mut pm = Pixmap::new(scene.width, scene.height).ok_or_else(|| {
        PlotError::InvalidFigure(format!(
            "cannot allocate a {}×{} canvas",
            scene.width, scene.height
        ))
    })?;
    pm.fill(tiny_skia::Color::WHITE);
    for p in &scene.prims {
        draw(&mut pm, p);
    }
    pm.encode_png()
        .map_err(|e| PlotError::Encode(e.to_string()))
}

fn draw(pm: &mut Pixmap, p: &Prim) {
    let id = Transform::identity();
    match p {
        Prim::Rect {
            x,
            y,
            w,
            h,
            fill,
            stroke,
        } => {
            let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) else {
                return;
            };
            if let Some(c) = fill {
                pm.fill_rect(rect, &paint(*c), id, None);
            }
            if let Some((c, width)) = stroke {
                let path = PathBuilder::from_rect(rect);
                let st = Stroke {
                    width: *width,
                    line_join: LineJoin::Miter,
                    ..Stroke::default()
                };
                pm.stroke_path(&path, &paint(*c), &st, id, None);
            }
        }
        Prim::Line {
            pts,
            color,
            width,
            dash,
        } => {
            let mut pb = PathBuilder::new();
            for (i, (x, y)) in pts.iter().enumerate() {
                if i == 0 {
                    pb.move_to(*x, *y);
                } else {
                    pb.line_to(*x, *y);
                }
            }
            let Some(path) = pb.finish() else {
                return;
            };
            let st = Stroke {
                width: *width,
                line_cap: LineCap::Butt,
                line_join: LineJoin::Round,
                dash: dash.and_then(|[on, off]| StrokeDash::new(vec![on, off], 0.0)),
                ..Stroke::default()
            };
            pm.stroke_path(&path, &paint(*color), &st, id, None);
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
            let w = text_width(text, *size);
            let start = match anchor {
                Anchor::Start => *x,
                Anchor::Middle => *x - w / 2.0,
                Anchor::End => *x - w,
            };
            let Some(path) = text_path(text, *size, start, *y) else {
                return;
            };
            let tf = if *vertical {
                Transform::from_rotate_at(-90.0, *x, *y)
            } else {
                id
            };
            pm.fill_path(&path, &paint(*color), FillRule::Winding, tf, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_text_and_lines() {
        let scene = Scene {
            width: 60,
            height: 40,
            prims: vec![
                Prim::Line {
                    pts: vec![(0.0, 5.5), (60.0, 5.5)],
                    color: Color::rgb(255, 0, 0),
                    width: 1.0,
                    dash: None,
                },
                Prim::Text {
                    x: 30.0,
                    y: 30.0,
                    text: "BPFO".into(),
                    size: 14.0,
                    color: Color::rgb(0, 0, 0),
                    anchor: Anchor::Middle,
                    vertical: false,
                },
            ],
        };
        let png = to_png(&scene).unwrap();
        let pm = Pixmap::decode_png(&png).unwrap();
        assert_eq!((pm.width(), pm.height()), (60, 40));
        let px = |x: u32, y: u32| pm.pixel(x, y).unwrap();
        assert_eq!(px(30, 5).red(), 255);
        assert!(px(30, 5).green() < 10);
        // Some dark ink from the text between the line and the bottom.
        let dark = (15..35)
            .flat_map(|y| (0..60).map(move |x| (x, y)))
            .filter(|&(x, y)| px(x, y).red() < 100)
            .count();
        assert!(dark > 20, "{dark}");
    }
}
