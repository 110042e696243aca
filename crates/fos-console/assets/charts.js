// Canvas charts of the console: time trends and spectra with marked frequencies. No library: a few
// hundred points per series and a redraw per update, fast enough for a plant of 200 assets.
"use strict";

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];

function setup(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width;
  const h = canvas.clientHeight || canvas.height;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = "11px system-ui, sans-serif";
  return { ctx, w, h };
}

function niceTicks(lo, hi, n) {
  if (!(hi > lo)) return [lo];
  const step0 = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) || step0;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(v);
  return out;
}

function fmt(v) {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
  return String(Math.round(v * 1000) / 1000);
}

// Axes and frame; returns the plot's mapping functions.
function frame(ctx, w, h, xr, yr, opts) {
  const m = { l: 56, r: 12, t: 10, b: 26 };
  const pw = w - m.l - m.r;
  const ph = h - m.t - m.b;
  const x = (v) => m.l + ((v - xr[0]) / (xr[1] - xr[0] || 1)) * pw;
  const y = (v) => m.t + ph - ((v - yr[0]) / (yr[1] - yr[0] || 1)) * ph;
  ctx.strokeStyle = "#d1d5db";
  ctx.fillStyle = "#374151";
  ctx.lineWidth = 1;
  for (const t of niceTicks(yr[0], yr[1], 4)) {
    ctx.beginPath();
    ctx.moveTo(m.l, y(t));
    ctx.lineTo(w - m.r, y(t));
    ctx.stroke();
    ctx.fillText(fmt(t), 4, y(t) + 4);
  }
  for (const t of niceTicks(xr[0], xr[1], 6)) {
    const label = opts.xLabel ? opts.xLabel(t) : fmt(t);
    ctx.fillText(label, x(t) - ctx.measureText(label).width / 2, h - 8);
  }
  ctx.strokeStyle = "#9ca3af";
  ctx.strokeRect(m.l, m.t, pw, ph);
  if (opts.yTitle) ctx.fillText(opts.yTitle, m.l + 4, m.t + 12);
  return { x, y, m, pw, ph };
}

function extent(values, pad) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (Number.isFinite(v)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (!Number.isFinite(lo)) return [0, 1];
  if (lo === hi) return [lo - 1, hi + 1];
  const p = (hi - lo) * (pad || 0.05);
  return [lo - p, hi + p];
}

// series: [{name, points: [[t_ms, value], ...]}]
function drawTrend(canvas, series, opts = {}) {
  const { ctx, w, h } = setup(canvas);
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) {
    ctx.fillStyle = "#6b7280";
    ctx.fillText("no data yet", w / 2 - 30, h / 2);
    return;
  }
  const xr = extent(all.map((p) => p[0]), 0);
  const yr = extent(all.map((p) => p[1]), 0.08);
  const timeLabel = (t) => new Date(t).toISOString().slice(11, 19);
  const f = frame(ctx, w, h, xr, yr, { xLabel: timeLabel, yTitle: opts.yTitle });
  series.forEach((s, i) => {
    ctx.strokeStyle = COLORS[i % COLORS.length];
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    s.points.forEach((p, k) => (k ? ctx.lineTo(f.x(p[0]), f.y(p[1])) : ctx.moveTo(f.x(p[0]), f.y(p[1]))));
    ctx.stroke();
    ctx.fillStyle = ctx.strokeStyle;
    ctx.fillText(s.name, f.m.l + 8 + i * 150, f.m.t + 26);
  });
}

// freqs/amps: equal-length arrays; markers: [{hz, label, kind}] drawn as dashed lines.
function drawSpectrum(canvas, freqs, amps, markers, opts = {}) {
  const { ctx, w, h } = setup(canvas);
  if (!freqs || freqs.length === 0) {
    ctx.fillStyle = "#6b7280";
    ctx.fillText("no vibration block yet", w / 2 - 50, h / 2);
    return;
  }
  const maxHz = opts.maxHz || freqs[freqs.length - 1];
  let n = freqs.findIndex((f) => f > maxHz);
  if (n < 0) n = freqs.length;
  const xr = [0, maxHz];
  const yr = [0, extent(amps.slice(0, n), 0.05)[1]];
  const f = frame(ctx, w, h, xr, yr, { xLabel: (t) => `${fmt(t)} Hz`, yTitle: opts.yTitle });
  ctx.strokeStyle = "#111827";
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let i = 0; i < n; i++) (i ? ctx.lineTo(f.x(freqs[i]), f.y(amps[i])) : ctx.moveTo(f.x(freqs[i]), f.y(amps[i])));
  ctx.stroke();
  const kindColor = { outer: "#dc2626", inner: "#2563eb", ball: "#16a34a", cage: "#9333ea", shaft: "#6b7280" };
  ctx.setLineDash([4, 3]);
  for (const mk of markers || []) {
    if (mk.hz > maxHz) continue;
    ctx.strokeStyle = kindColor[mk.kind] || "#ea580c";
    ctx.beginPath();
    ctx.moveTo(f.x(mk.hz), f.m.t);
    ctx.lineTo(f.x(mk.hz), f.m.t + f.ph);
    ctx.stroke();
    ctx.fillStyle = ctx.strokeStyle;
    ctx.fillText(mk.label, f.x(mk.hz) + 2, f.m.t + 12 + (markers.indexOf(mk) % 4) * 12);
  }
  ctx.setLineDash([]);
}

window.FosCharts = { drawTrend, drawSpectrum };
