//! Turns a [`Figure`] into a [`Scene`]: validates it, computes margins so
//! that all panels share the same plot-area columns, and emits grid, curve,
//! marker lines and labels, axes, ticks and legends.

use crate::axis::Scale;
use crate::font::{center_to_baseline, text_width};
use crate::scene::{Anchor, Color, Prim, Scene};
use crate::{Figure, Marker, Panel, PlotError};

const MIN_WIDTH: u32 = 200;
const MIN_HEIGHT: u32 = 100;
const MAX_SIDE: u32 = 16_384;
/// Most decades a log y axis shows below its top.
const LOG_MAX_DECADES: f64 = 8.0;

const WHITE: Color = Color::rgb(255, 255, 255);
const TEXT: Color = Color::rgb(0x22, 0x22, 0x22);
const TICK_TEXT: Color = Color::rgb(0x33, 0x33, 0x33);
const GRID: Color = Color::rgb(0xe4, 0xe4, 0xe4);
const FRAME: Color = Color::rgb(0x55, 0x55, 0x55);
const SERIES: Color = Color::rgb(0x20, 0x20, 0x20);
const LEGEND_BORDER: Color = Color::rgb(0xbb, 0xbb, 0xbb);

/// Font sizes and spacings, all proportional to the figure width.
#[derive(Debug, Clone, Copy)]
struct Metrics {
    s: f32,
    title: f32,
    panel_title: f32,
    label: f32,
    tick: f32,
    legend: f32,
    marker: f32,
    tick_len: f32,
}

impl Metrics {
    fn new(width: u32) -> Self {
        let s = (width as f32 / 1000.0).clamp(0.8, 2.0);
        Metrics {
            s,
            title: 20.0 * s,
            panel_title: 15.0 * s,
            label: 13.0 * s,
            tick: 12.0 * s,
            legend: 12.0 * s,
            marker: 11.0 * s,
            tick_len: 5.0 * s,
        }
    }
}

/// Centre of the pixel containing `v`, for crisp 1-px lines.
fn snap(v: f32) -> f32 {
    v.floor() + 0.5
}

fn text(x: f32, y: f32, s: &str, size: f32, color: Color, anchor: Anchor) -> Prim {
    Prim::Text {
        x,
        y,
        text: s.to_string(),
        size,
        color,
        anchor,
        vertical: false,
    }
}

fn line(pts: Vec<(f32, f32)>, color: Color, width: f32, dash: Option<[f32; 2]>) -> Prim {
    Prim::Line {
        pts,
        color,
        width,
        dash,
    }
}

fn validate(fig: &Figure) -> Result<(), PlotError> {
    let bad = |m: String| Err(PlotError::InvalidFigure(m));
    if !(MIN_WIDTH..=MAX_SIDE).contains(&fig.width)
        || !(MIN_HEIGHT..=MAX_SIDE).contains(&fig.height)
    {
        return bad(format!(
            "size {}×{} out of range (width {MIN_WIDTH}..={MAX_SIDE}, height {MIN_HEIGHT}..={MAX_SIDE})",
            fig.width, fig.height
        ));
    }
    if fig.panels.is_empty() {
        return bad("figure has no panels".into());
    }
    for (i, p) in fig.panels.iter().enumerate() {
        let n = i + 1;
        if p.series.freqs_hz.len() != p.series.values.len() {
            return bad(format!(
                "panel {n} ({:?}): {} frequencies but {} values",
                p.title,
                p.series.freqs_hz.len(),
                p.series.values.len()
            ));
        }
        if let Some(x) = p.x_max_hz {
            if !(x.is_finite() && x > 0.0) {
                return bad(format!(
                    "panel {n} ({:?}): x_max_hz must be finite and > 0, got {x}",
                    p.title
                ));
            }
        }
        for m in &p.markers {
            if !(m.hz.is_finite() && m.hz > 0.0) {
                return bad(format!(
                    "panel {n} ({:?}): marker {:?} frequency must be finite and > 0, got {}",
                    p.title, m.label, m.hz
                ));
            }
        }
    }
    Ok(())
}

/// Frequency with about four significant digits, e.g. `107.4`, `12.35`.
fn fmt_hz(f: f64) -> String {
    let decimals = if f >= 1000.0 {
        0
    } else if f >= 100.0 {
        1
    } else if f >= 10.0 {
        2
    } else {
        3
    };
    format!("{f:.decimals$}")
}

fn marker_legend_text(m: &Marker) -> String {
    let h = m.harmonics.max(1);
    let base = format!("{} {} Hz", m.label, fmt_hz(m.hz));
    if h > 1 {
        format!("{base} (×1–{h})")
    } else {
        base
    }
}

fn legend_texts(p: &Panel) -> Vec<String> {
    let mut v = Vec::new();
    if !p.series.label.is_empty() {
        v.push(p.series.label.clone());
    }
    v.extend(p.markers.iter().map(marker_legend_text));
    v
}

/// X and y scales of one panel.
fn scales(p: &Panel) -> (Scale, Scale) {
    let pts = || {
        p.series
            .freqs_hz
            .iter()
            .zip(&p.series.values)
            .filter(|(f, v)| f.is_finite() && v.is_finite())
            .map(|(f, v)| (*f, *v))
    };
    let x_lo = pts().map(|(f, _)| f).fold(f64::INFINITY, f64::min);
    // The axis starts at 0 Hz unless the data has negative frequencies.
    let x_lo = if x_lo.is_finite() { x_lo.min(0.0) } else { 0.0 };
    let x_hi = p
        .x_max_hz
        .unwrap_or_else(|| pts().map(|(f, _)| f).fold(f64::NEG_INFINITY, f64::max));
    let x = Scale::linear(x_lo, if x_hi.is_finite() { x_hi } else { 1.0 });
    // Values inside the visible x range; the DC bin (f <= 0) is left out of
    // autoscaling when other bins exist, since envelope spectra carry a
    // large mean there that would flatten every fault peak.
    let visible = || pts().filter(|(f, _)| *f >= x.lo && *f <= x.hi);
    let has_ac = visible().any(|(f, _)| f > 0.0);
    let ys = move || {
        visible()
            .filter(move |(f, _)| !has_ac || *f > 0.0)
            .map(|(_, v)| v)
    };
    let y = if p.log_y {
        Scale::fit_log(ys(), LOG_MAX_DECADES)
    } else {
        Scale::fit_linear(ys())
    };
    (x, y)
}

/// Reduces a dense polyline (x increasing) to at most four points per pixel
/// column — first, minimum, maximum, last — which draws identically.
fn decimate(pts: impl Iterator<Item = (f32, f32)>) -> Vec<(f32, f32)> {
    let mut out: Vec<(f32, f32)> = Vec::new();
    let mut group: Vec<(f32, f32)> = Vec::new();
    let mut col = i64::MIN;
    let flush = |group: &mut Vec<(f32, f32)>, out: &mut Vec<(f32, f32)>| {
        if group.is_empty() {
            return;
        }
        let (mut imin, mut imax) = (0, 0);
        for (i, p) in group.iter().enumerate() {
            if p.1 < group[imin].1 {
                imin = i;
            }
            if p.1 > group[imax].1 {
                imax = i;
            }
        }
        let mut idx = [0, imin, imax, group.len() - 1];
        idx.sort_unstable();
        let mut last = usize::MAX;
        for i in idx {
            if i != last {
                out.push(group[i]);
                last = i;
            }
        }
        group.clear();
    };
    for p in pts {
        let c = p.0.floor() as i64;
        if c != col {
            flush(&mut group, &mut out);
            col = c;
        }
        group.push(p);
    }
    flush(&mut group, &mut out);
    out
}

/// Plot-area rectangle in pixels.
#[derive(Debug, Clone, Copy)]
struct Area {
    left: f32,
    right: f32,
    top: f32,
    bottom: f32,
}

impl Area {
    fn px(&self, sx: &Scale, f: f64) -> f32 {
        self.left + sx.frac(f) as f32 * (self.right - self.left)
    }
    fn py(&self, sy: &Scale, v: f64) -> f32 {
        self.bottom - sy.frac(v) as f32 * (self.bottom - self.top)
    }
}

/// Lays the figure out into drawing primitives.
pub(crate) fn layout(fig: &Figure) -> Result<Scene, PlotError> {
    validate(fig)?;
    let m = Metrics::new(fig.width);
    let s = m.s;
    let (w, h) = (fig.width as f32, fig.height as f32);
    let mut prims = vec![Prim::Rect {
        x: 0.0,
        y: 0.0,
        w,
        h,
        fill: Some(WHITE),
        stroke: None,
    }];

    // Vertical bands.
    let top = if fig.title.is_empty() {
        6.0 * s
    } else {
        m.title * 2.0
    };
    let n = fig.panels.len();
    let band = (h - top - 4.0 * s) / n as f32;
    let areas_v: Vec<(f32, f32)> = fig
        .panels
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let y0 = top + i as f32 * band;
            let pt = y0
                + if p.title.is_empty() {
                    10.0 * s
                } else {
                    m.panel_title * 1.8
                };
            let reserve = m.tick_len
                + 3.0 * s
                + m.tick * 1.2
                + if p.x_label.is_empty() {
                    0.0
                } else {
                    4.0 * s + m.label * 1.3
                }
                + 6.0 * s;
            (pt, y0 + band - reserve)
        })
        .collect();
    if areas_v.iter().any(|(t, b)| b - t < 20.0) {
        return Err(PlotError::InvalidFigure(format!(
            "height {} is too small for {n} panel(s)",
            fig.height
        )));
    }

    // Scales and y ticks (depend on plot heights only).
    let scales: Vec<(Scale, Scale)> = fig.panels.iter().map(scales).collect();
    let y_ticks: Vec<Vec<(f64, String)>> = scales
        .iter()
        .zip(&areas_v)
        .map(|((_, sy), (t, b))| sy.ticks(((b - t) / (42.0 * s)).round().clamp(2.0, 8.0) as usize))
        .collect();

    // Shared horizontal margins.
    let max_tick_w = y_ticks
        .iter()
        .flatten()
        .map(|(_, l)| text_width(l, m.tick))
        .fold(0.0, f32::max);
    let any_ylabel = fig.panels.iter().any(|p| !p.y_label.is_empty());
    let left =
        8.0 * s + if any_ylabel { m.label * 1.5 } else { 0.0 } + max_tick_w + m.tick_len + 4.0 * s;
    let sample_w = 28.0 * s;
    let max_legend_text = fig
        .panels
        .iter()
        .flat_map(legend_texts)
        .map(|t| text_width(&t, m.legend))
        .fold(0.0, f32::max);
    let legend_w = if max_legend_text > 0.0 {
        8.0 * s + sample_w + 6.0 * s + max_legend_text + 8.0 * s
    } else {
        0.0
    };
    let right = w - if legend_w > 0.0 {
        legend_w + 20.0 * s
    } else {
        16.0 * s
    };
    if right - left < 50.0 {
        return Err(PlotError::InvalidFigure(format!(
            "width {} is too small for the axis labels and legend",
            fig.width
        )));
    }

    if !fig.title.is_empty() {
        prims.push(text(
            w / 2.0,
            top * 0.68,
            &fig.title,
            m.title,
            TEXT,
            Anchor::Middle,
        ));
    }

    for (((p, (sx, sy)), (pt, pb)), yt) in
        fig.panels.iter().zip(&scales).zip(&areas_v).zip(&y_ticks)
    {
        let a = Area {
            left: left.round(),
            right: right.round(),
            top: pt.round(),
            bottom: pb.round(),
        };
        draw_panel(&mut prims, p, sx, sy, &a, yt, &m, legend_w);
    }

    Ok(Scene {
        width: fig.width,
        height: fig.height,
        prims,
    })
}

#[allow(clippy::too_many_arguments)]
fn draw_panel(
    prims: &mut Vec<Prim>,
    p: &Panel,
    sx: &Scale,
    sy: &Scale,
    a: &Area,
    y_ticks: &[(f64, String)],
    m: &Metrics,
    legend_w: f32,
) {
    let s = m.s;
    let x_ticks = sx.ticks(((a.right - a.left) / (90.0 * s)).round().clamp(2.0, 12.0) as usize);

    // Grid.
    for (v, _) in &x_ticks {
        let x = snap(a.px(sx, *v));
        prims.push(line(vec![(x, a.top), (x, a.bottom)], GRID, 1.0, None));
    }
    for (v, _) in y_ticks {
        let y = snap(a.py(sy, *v));
        prims.push(line(vec![(a.left, y), (a.right, y)], GRID, 1.0, None));
    }

    // Marker lines (under the curve so peaks stay visible).
    let mut labels: Vec<Prim> = Vec::new();
    let row_h = m.marker * 1.3;
    for (row, mk) in p.markers.iter().enumerate() {
        let color = Color::from_hex(mk.kind.color_hex());
        let baseline = a.top + 3.0 * s + m.marker * 0.95 + row as f32 * row_h;
        let mut last_right = f32::NEG_INFINITY;
        for k in 1..=mk.harmonics.max(1) {
            let f = k as f64 * mk.hz;
            if f < sx.lo || f > sx.hi {
                continue;
            }
            let x = snap(a.px(sx, f));
            prims.push(line(
                vec![(x, a.top), (x, a.bottom)],
                color,
                1.4 * s,
                Some([6.0 * s, 4.0 * s]),
            ));
            let label = if k == 1 {
                mk.label.clone()
            } else {
                format!("{k}×{}", mk.label)
            };
            let tw = text_width(&label, m.marker);
            let pad = 3.0 * s;
            // Right of the line if it fits, else left of it.
            let (tx, anchor, l) = if x + pad + tw <= a.right - 2.0 {
                (x + pad, Anchor::Start, x + pad)
            } else {
                (x - pad, Anchor::End, x - pad - tw)
            };
            if l < last_right + 4.0 * s || l < a.left + 1.0 || baseline > a.bottom - 2.0 {
                continue;
            }
            last_right = l + tw;
            labels.push(Prim::Rect {
                x: l - 1.5 * s,
                y: baseline - m.marker * 0.9,
                w: tw + 3.0 * s,
                h: m.marker * 1.15,
                fill: Some(WHITE.with_alpha(215)),
                stroke: None,
            });
            labels.push(text(tx, baseline, &label, m.marker, color, anchor));
        }
    }

    // The curve.
    let pts = p
        .series
        .freqs_hz
        .iter()
        .zip(&p.series.values)
        .filter(|(f, v)| f.is_finite() && v.is_finite() && **f >= sx.lo && **f <= sx.hi)
        .map(|(f, v)| (a.px(sx, *f), a.py(sy, *v)));
    let pts = decimate(pts);
    if pts.len() >= 2 {
        prims.push(line(pts, SERIES, 1.1 * s, None));
    }
    prims.extend(labels);

    // Frame, ticks and tick labels.
    prims.push(Prim::Rect {
        x: a.left + 0.5,
        y: a.top + 0.5,
        w: a.right - a.left - 1.0,
        h: a.bottom - a.top - 1.0,
        fill: None,
        stroke: Some((FRAME, 1.0)),
    });
    let xl_base = a.bottom + m.tick_len + 3.0 * s + m.tick * 0.95;
    for (v, l) in &x_ticks {
        let x = snap(a.px(sx, *v));
        prims.push(line(
            vec![(x, a.bottom), (x, a.bottom + m.tick_len)],
            FRAME,
            1.0,
            None,
        ));
        prims.push(text(x, xl_base, l, m.tick, TICK_TEXT, Anchor::Middle));
    }
    for (v, l) in y_ticks {
        let y = snap(a.py(sy, *v));
        prims.push(line(
            vec![(a.left - m.tick_len, y), (a.left, y)],
            FRAME,
            1.0,
            None,
        ));
        prims.push(text(
            a.left - m.tick_len - 3.0 * s,
            y + center_to_baseline(m.tick),
            l,
            m.tick,
            TICK_TEXT,
            Anchor::End,
        ));
    }

    // Axis labels and panel title.
    let cx = (a.left + a.right) / 2.0;
    if !p.x_label.is_empty() {
        let y = xl_base + 4.0 * s + m.label * 1.15;
        prims.push(text(cx, y, &p.x_label, m.label, TEXT, Anchor::Middle));
    }
    if !p.y_label.is_empty() {
        prims.push(Prim::Text {
            x: 8.0 * s + m.label * 0.95,
            y: (a.top + a.bottom) / 2.0,
            text: p.y_label.clone(),
            size: m.label,
            color: TEXT,
            anchor: Anchor::Middle,
            vertical: true,
        });
    }
    if !p.title.is_empty() {
        prims.push(text(
            cx,
            a.top - m.panel_title * 0.55,
            &p.title,
            m.panel_title,
            TEXT,
            Anchor::Middle,
        ));
    }

    draw_legend(prims, p, a, m, legend_w);
}

fn draw_legend(prims: &mut Vec<Prim>, p: &Panel, a: &Area, m: &Metrics, legend_w: f32) {
    let s = m.s;
    let mut entries: Vec<(String, Color, Option<[f32; 2]>)> = Vec::new();
    if !p.series.label.is_empty() {
        entries.push((p.series.label.clone(), SERIES, None));
    }
    for mk in &p.markers {
        entries.push((
            marker_legend_text(mk),
            Color::from_hex(mk.kind.color_hex()),
            Some([6.0 * s, 4.0 * s]),
        ));
    }
    if entries.is_empty() || legend_w <= 0.0 {
        return;
    }
    let x0 = (a.right + 12.0 * s).round() + 0.5;
    let y0 = a.top + 0.5;
    let entry_h = m.legend * 1.6;
    prims.push(Prim::Rect {
        x: x0,
        y: y0,
        w: legend_w,
        h: entries.len() as f32 * entry_h + 8.0 * s,
        fill: Some(WHITE),
        stroke: Some((LEGEND_BORDER, 1.0)),
    });
    for (i, (label, color, dash)) in entries.into_iter().enumerate() {
        let cy = y0 + 4.0 * s + (i as f32 + 0.5) * entry_h;
        let sx0 = x0 + 8.0 * s;
        let width = if dash.is_some() { 1.6 * s } else { 1.5 * s };
        prims.push(line(
            vec![(sx0, cy), (sx0 + 28.0 * s, cy)],
            color,
            width,
            dash,
        ));
        prims.push(text(
            sx0 + 28.0 * s + 6.0 * s,
            cy + center_to_baseline(m.legend),
            &label,
            m.legend,
            TEXT,
            Anchor::Start,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MarkerKind, Series};

    fn panel(n: usize) -> Panel {
        Panel {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: Series {
                label: "s".into(),
                freqs_hz: (0..n).map(|i| i as f64).collect(),
                values: (0..n).map(|i| (i % 7) as f64).collect(),
            },
            markers: vec![Marker {
                label: "BPFO".into(),
                hz: 10.0,
                harmonics: 3,
                kind: MarkerKind::Outer,
            }],
            x_max_hz: None,
            log_y: false,
        }
    }

    fn fig(panels: Vec<Panel>) -> Figure {
        Figure {
            title: "T".into(),
            panels,
            width: 800,
            height: 500,
        }
    }

    #[test]
    fn decimation_keeps_extremes_per_column() {
        let pts = (0..1000).map(|i| (i as f32 / 100.0, if i % 2 == 0 { 0.0 } else { 5.0 }));
        let d = decimate(pts);
        assert!(d.len() <= 40, "{}", d.len());
        assert!(d.iter().any(|p| p.1 == 5.0) && d.iter().any(|p| p.1 == 0.0));
        assert!(d.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn harmonic_labels_and_legend_emitted() {
        let sc = layout(&fig(vec![panel(100)])).unwrap();
        let texts: Vec<&str> = sc
            .prims
            .iter()
            .filter_map(|p| match p {
                Prim::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        for want in [
            "BPFO",
            "2×BPFO",
            "3×BPFO",
            "BPFO 10.00 Hz (×1–3)",
            "T",
            "t",
            "x",
            "y",
            "s",
        ] {
            assert!(texts.contains(&want), "missing {want:?} in {texts:?}");
        }
        let dashed = sc
            .prims
            .iter()
            .filter(|p| matches!(p, Prim::Line { dash: Some(_), .. }))
            .count();
        assert_eq!(dashed, 3 + 1, "three harmonics plus the legend sample");
    }

    #[test]
    fn rejects_inconsistent_figures() {
        let mut p = panel(10);
        p.series.values.pop();
        assert!(matches!(
            layout(&fig(vec![p])),
            Err(PlotError::InvalidFigure(_))
        ));
        assert!(layout(&fig(vec![])).is_err());
        let mut p = panel(10);
        p.markers[0].hz = f64::NAN;
        assert!(layout(&fig(vec![p])).is_err());
        let mut f = fig(vec![panel(10)]);
        f.width = 10;
        assert!(layout(&f).is_err());
        let mut f = fig((0..40).map(|_| panel(10)).collect());
        f.height = 300;
        assert!(layout(&f).is_err());
    }

    #[test]
    fn dc_bin_ignored_for_autoscale_and_x_max_respected() {
        let mut p = panel(100);
        p.series.values[0] = 1e6;
        p.x_max_hz = Some(50.0);
        let (sx, sy) = scales(&p);
        assert_eq!((sx.lo, sx.hi), (0.0, 50.0));
        assert!(sy.hi < 10.0, "{sy:?}");
    }

    #[test]
    fn empty_series_still_draws_axes() {
        let mut p = panel(0);
        p.markers.clear();
        assert!(layout(&fig(vec![p])).is_ok());
    }
}
