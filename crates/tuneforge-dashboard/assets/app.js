// tuneforge dashboard: routes (#/, #/study/NAME, #/study/NAME/trial/N), a client for the
// server's JSON API (or, in a report, for the answers embedded in the page), and plots drawn
// on canvases. Every plot records how many marks it drew in data-points.
'use strict';

const REPORT = (() => {
  const el = document.getElementById('tuneforge-report');
  return el ? JSON.parse(el.textContent) : null;
})();

const COLORS = { blue: '#3b6fd4', red: '#d43b3b', orange: '#e08a1e', gray: '#9aa3b5', green: '#2e9d5b' };
const PALETTE = ['#3b6fd4', '#d43b3b', '#2e9d5b', '#e08a1e', '#7b4fd4', '#1aa3b8', '#b8841a', '#d43b9a'];

// ---------------------------------------------------------------- API

function key(path, params) {
  const q = Object.keys(params || {}).filter(k => params[k] !== undefined && params[k] !== null && params[k] !== '')
    .sort().map(k => k + '=' + encodeURIComponent(params[k])).join('&');
  return q ? path + '?' + q : path;
}

async function api(path, params) {
  const k = key(path, params);
  if (REPORT) {
    if (k in REPORT.answers) return REPORT.answers[k];
    throw new Error('not included in this report (open the live dashboard for it)');
  }
  const r = await fetch(k, { headers: { 'Accept': 'application/json' } });
  let body = null;
  try { body = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) throw new Error((body && body.error) || ('HTTP ' + r.status));
  return body;
}

const studyPath = name => '/api/studies/' + encodeURIComponent(name);

// ---------------------------------------------------------------- DOM helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function fmt(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') {
    if (!isFinite(v)) return String(v);
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(3).replace(/\.?0+e/, 'e');
    return String(+v.toPrecision(5));
  }
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function duration(s) {
  if (s === null || s === undefined) return '—';
  if (s < 60) return s.toFixed(1) + ' s';
  if (s < 3600) return (s / 60).toFixed(1) + ' min';
  return (s / 3600).toFixed(1) + ' h';
}

const stateTag = s => h('span', { class: 'state ' + s }, s);

function card(title, opts) {
  const note = h('span', { class: 'note' });
  const controls = h('span', { class: 'controls' });
  const body = h('div');
  const el = h('section', { class: 'card' + (opts && opts.wide ? ' wide' : ''), id: opts && opts.id },
    h('header', null, h('h2', null, title), controls, note), body);
  return { el, body, note, controls };
}

function showError(box, e) {
  box.replaceChildren(h('p', { class: 'error' }, String(e.message || e)));
}

function select(options, value, onchange) {
  const s = h('select', { onchange: () => onchange(s.value) },
    options.map(o => h('option', { value: o.value, ...(String(o.value) === String(value) ? { selected: '' } : {}) }, o.label)));
  return s;
}

// ---------------------------------------------------------------- plotting

const tooltip = h('div', { class: 'tooltip' });
document.body.append(tooltip);

function niceTicks(lo, hi, n) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw) || 10 * mag;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
  return out;
}

function extent(values, pad) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) if (v !== null && isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo === Infinity) return [0, 1];
  if (hi === lo) return [lo - 0.5, hi + 0.5];
  const p = (hi - lo) * (pad === undefined ? 0.04 : pad);
  return [lo - p, hi + p];
}

// A canvas with a plotting box, scales and hover/click on the nearest registered point.
class Plot {
  constructor(container, height, margin) {
    this.canvas = h('canvas', { class: 'plot' });
    container.append(this.canvas);
    const w = Math.max(container.clientWidth || 520, 200);
    const ratio = window.devicePixelRatio || 1;
    this.w = w; this.h = height;
    this.canvas.width = w * ratio; this.canvas.height = height * ratio;
    this.canvas.style.height = height + 'px';
    this.ctx = this.canvas.getContext('2d');
    this.ctx.scale(ratio, ratio);
    this.m = Object.assign({ l: 62, r: 14, t: 24, b: 36 }, margin || {});
    this.marks = 0;
    this.hits = [];
    this.canvas.addEventListener('mousemove', e => this.hover(e));
    this.canvas.addEventListener('mouseleave', () => { tooltip.style.display = 'none'; });
    this.canvas.addEventListener('click', e => this.click(e));
  }
  scales(xr, yr, xlog, ylog) {
    const { l, r, t, b } = this.m, w = this.w, hgt = this.h;
    const f = (lo, hi, a, z, log) => {
      if (log && lo > 0) { const L = Math.log(lo), H = Math.log(hi); return v => a + (Math.log(v) - L) / (H - L || 1) * (z - a); }
      return v => a + (v - lo) / ((hi - lo) || 1) * (z - a);
    };
    this.xr = xr; this.yr = yr; this.xlog = xlog; this.ylog = ylog;
    this.x = f(xr[0], xr[1], l, w - r, xlog);
    this.y = f(yr[0], yr[1], hgt - b, t, ylog);
  }
  axes(xlabel, ylabel, opts) {
    const c = this.ctx, { l, r, t, b } = this.m, w = this.w, hgt = this.h;
    c.save();
    c.strokeStyle = '#c9ced8'; c.fillStyle = '#5b6375'; c.font = '11px sans-serif'; c.lineWidth = 1;
    c.strokeRect(l, t, w - l - r, hgt - t - b);
    const xt = (opts && opts.xticks) || (this.xlog ? logTicks(this.xr) : niceTicks(this.xr[0], this.xr[1], Math.max(2, Math.floor((w - l - r) / 80))));
    const yt = (opts && opts.yticks) || (this.ylog ? logTicks(this.yr) : niceTicks(this.yr[0], this.yr[1], Math.max(2, Math.floor((hgt - t - b) / 40))));
    c.textAlign = 'center'; c.textBaseline = 'top';
    for (const v of xt) { const x = this.x(typeof v === 'object' ? v.at : v); if (x < l - 1 || x > w - r + 1) continue;
      c.beginPath(); c.moveTo(x, hgt - b); c.lineTo(x, hgt - b + 4); c.stroke();
      c.fillText(typeof v === 'object' ? v.label : fmt(v), x, hgt - b + 6); }
    c.textAlign = 'right'; c.textBaseline = 'middle';
    for (const v of yt) { const y = this.y(typeof v === 'object' ? v.at : v); if (y < t - 1 || y > hgt - b + 1) continue;
      c.strokeStyle = '#eef0f4'; c.beginPath(); c.moveTo(l, y); c.lineTo(w - r, y); c.stroke();
      c.fillText(typeof v === 'object' ? v.label : fmt(v), l - 6, y); }
    c.fillStyle = '#1d2330'; c.font = '12px sans-serif';
    if (xlabel) { c.textAlign = 'center'; c.textBaseline = 'bottom'; c.fillText(xlabel, l + (w - l - r) / 2, hgt - 2); }
    if (ylabel) { c.save(); c.translate(12, t + (hgt - t - b) / 2); c.rotate(-Math.PI / 2); c.textAlign = 'center'; c.textBaseline = 'middle'; c.fillText(ylabel, 0, 0); c.restore(); }
    c.restore();
  }
  clip() { const { l, r, t, b } = this.m; this.ctx.save(); this.ctx.beginPath(); this.ctx.rect(l, t, this.w - l - r, this.h - t - b); this.ctx.clip(); }
  unclip() { this.ctx.restore(); }
  dot(x, y, r, color, hit) {
    const c = this.ctx, px = this.x(x), py = this.y(y);
    c.fillStyle = color; c.beginPath(); c.arc(px, py, r, 0, 2 * Math.PI); c.fill();
    this.marks++;
    if (hit) this.hits.push({ px, py, ...hit });
  }
  line(points, color, width, dash) {
    if (points.length === 0) return;
    const c = this.ctx; c.strokeStyle = color; c.lineWidth = width || 1.5; c.setLineDash(dash || []);
    c.beginPath();
    points.forEach((p, i) => { const px = this.x(p[0]), py = this.y(p[1]); i ? c.lineTo(px, py) : c.moveTo(px, py); });
    c.stroke(); c.setLineDash([]);
    this.marks += points.length;
  }
  nearest(e) {
    const rect = this.canvas.getBoundingClientRect(), mx = e.clientX - rect.left, my = e.clientY - rect.top;
    let best = null, d = 100;
    for (const p of this.hits) { const q = (p.px - mx) ** 2 + (p.py - my) ** 2; if (q < d) { d = q; best = p; } }
    return best;
  }
  hover(e) {
    const p = this.nearest(e);
    if (!p) { tooltip.style.display = 'none'; return; }
    tooltip.textContent = p.text; tooltip.style.display = 'block';
    tooltip.style.left = (e.clientX + 12) + 'px'; tooltip.style.top = (e.clientY + 12) + 'px';
  }
  click(e) { const p = this.nearest(e); if (p && p.href) location.hash = p.href; }
  done() { this.canvas.dataset.points = String(this.marks); return this; }
}

function logTicks(r) {
  const out = [];
  for (let e = Math.floor(Math.log10(r[0])); e <= Math.ceil(Math.log10(r[1])); e++) {
    const v = Math.pow(10, e); if (v >= r[0] && v <= r[1]) out.push(v);
  }
  return out.length >= 2 ? out : niceTicks(r[0], r[1], 4);
}

function legend(p, items) {
  const c = p.ctx; let x = p.m.l; const y = Math.max(8, p.m.t - 12);
  c.font = '11px sans-serif'; c.textBaseline = 'middle'; c.textAlign = 'left';
  for (const [label, color] of items) {
    c.fillStyle = color; c.fillRect(x, y - 4, 10, 8); c.fillStyle = '#1d2330';
    c.fillText(label, x + 14, y); x += 22 + c.measureText(label).width;
  }
}

function empty(box, text) { box.append(h('p', { class: 'muted' }, text)); }

function trialHref(study, n) { return '#/study/' + encodeURIComponent(study) + '/trial/' + n; }

// Axis of a parameter: [lo, hi], log flag, tick labels for categories.
function paramAxis(a) {
  if (a.choices) return { range: [-0.5, a.choices.length - 0.5], log: false,
    ticks: a.choices.map((c, i) => ({ at: i, label: c.length > 10 ? c.slice(0, 9) + '…' : c })) };
  const log = a.log && a.low > 0;
  if (log) return { range: [a.low / 1.1, a.high * 1.1], log: true };
  const pad = (a.high - a.low) * 0.04 || 0.5;
  return { range: [a.low - pad, a.high + pad], log: false };
}

// ---------------------------------------------------------------- panels

function drawHistory(box, study, d) {
  box.replaceChildren();
  if (d.complete === 0 && d.pruned_total === 0) return empty(box, 'No finished trial yet.');
  const p = new Plot(box, 300);
  const all = d.points.concat(d.pruned);
  p.scales([0, Math.max(1, d.trials)], extent(all.map(q => q[1])));
  p.axes('trial', d.objective);
  p.clip();
  for (const [n, v] of d.pruned) p.dot(n, v, 2, 'rgba(224,138,30,0.55)', { text: `trial ${n} (pruned): ${d.pruned_metric} ${fmt(v)}`, href: trialHref(study, n) });
  for (const [n, v] of d.points) p.dot(n, v, 2.4, 'rgba(59,111,212,0.6)', { text: `trial ${n}: ${fmt(v)}`, href: trialHref(study, n) });
  const steps = [];
  d.best.forEach((q, i) => { if (i) steps.push([q[0], d.best[i - 1][1]]); steps.push(q); });
  if (d.best.length) steps.push([d.trials, d.best[d.best.length - 1][1]]);
  p.line(steps, COLORS.red, 2);
  p.unclip();
  legend(p, [['complete', COLORS.blue], ['best so far', COLORS.red]].concat(d.pruned_total ? [['pruned (last ' + d.pruned_metric + ')', COLORS.orange]] : []));
  return p.done();
}

function drawCurves(box, study, d) {
  box.replaceChildren();
  if (!d.metric || d.curves.length === 0) return empty(box, 'No intermediate values reported.');
  const p = new Plot(box, 300);
  const steps = d.bands.map(b => b[0]).concat(d.curves.flatMap(c => c.points.map(q => q[0])));
  const vals = d.bands.flatMap(b => [b[1], b[3]]).concat(d.curves.flatMap(c => c.points.map(q => q[1])));
  p.scales(extent(steps, 0.02), extent(vals));
  p.axes('step', d.metric);
  p.clip();
  // The 10-90 % band over every trial, and the median.
  const c = p.ctx;
  if (d.bands.length > 1) {
    c.fillStyle = 'rgba(59,111,212,0.10)'; c.beginPath();
    d.bands.forEach((b, i) => { const x = p.x(b[0]), y = p.y(b[3]); i ? c.lineTo(x, y) : c.moveTo(x, y); });
    for (let i = d.bands.length - 1; i >= 0; i--) c.lineTo(p.x(d.bands[i][0]), p.y(d.bands[i][1]));
    c.closePath(); c.fill();
  }
  for (const cv of d.curves) {
    const color = cv.state === 'pruned' ? 'rgba(224,138,30,0.55)' : cv.state === 'running' ? 'rgba(46,157,91,0.8)' : 'rgba(59,111,212,0.5)';
    p.line(cv.points, color, 1.2, cv.state === 'pruned' ? [4, 3] : null);
    const last = cv.points[cv.points.length - 1];
    if (last) p.hits.push({ px: p.x(last[0]), py: p.y(last[1]), text: `trial ${cv.number} (${cv.state}): ${fmt(last[1])} at step ${last[0]}`, href: trialHref(study, cv.number) });
  }
  p.line(d.bands.map(b => [b[0], b[2]]), '#1d2330', 1.5, [2, 2]);
  p.unclip();
  legend(p, [['complete', COLORS.blue], ['pruned', COLORS.orange], ['running', COLORS.green], ['median, 10–90 %', '#1d2330']]);
  return p.done();
}

function rowColor(v, lo, hi, maximize) {
  let q = hi > lo ? (v - lo) / (hi - lo) : 0.5;
  if (!maximize) q = 1 - q; // q = 1 is the best
  const r = Math.round(230 - 200 * q), g = Math.round(120 + 40 * q), b = Math.round(80 + 170 * q);
  return `rgba(${r},${g},${b},${0.25 + 0.55 * q})`;
}

function drawParallel(box, study, d) {
  box.replaceChildren();
  if (d.rows.length === 0 || d.axes.length === 0) return empty(box, 'No complete trial yet.');
  const p = new Plot(box, 330, { l: 30, r: 30, t: 24, b: 44 });
  const k = d.axes.length + 1;
  p.scales([-0.05, k - 0.95], [0, 1]);
  const [lo, hi] = extent(d.rows.map(r => r[1]), 0);
  const maximize = d.direction === 'maximize';
  const unit = d.axes.map(a => {
    const ax = paramAxis(a);
    return v => {
      if (v === null) return null;
      if (ax.log) return (Math.log(v) - Math.log(ax.range[0])) / (Math.log(ax.range[1]) - Math.log(ax.range[0]));
      return (v - ax.range[0]) / (ax.range[1] - ax.range[0]);
    };
  });
  const rows = d.rows.slice().sort((a, b) => maximize ? a[1] - b[1] : b[1] - a[1]);
  const c = p.ctx;
  for (const r of rows) {
    const pts = [];
    d.axes.forEach((a, i) => { const u = unit[i](r[i + 2]); if (u !== null) pts.push([i, u]); });
    pts.push([k - 1, hi > lo ? (r[1] - lo) / (hi - lo) : 0.5]);
    p.line(pts, rowColor(r[1], lo, hi, maximize), 1);
  }
  c.font = '11px sans-serif'; c.fillStyle = '#1d2330'; c.textAlign = 'center';
  const names = d.axes.map(a => a.name).concat([d.objective]);
  names.forEach((n, i) => {
    const x = p.x(i);
    c.strokeStyle = '#1d2330'; c.lineWidth = 1.5; c.beginPath(); c.moveTo(x, p.y(0)); c.lineTo(x, p.y(1)); c.stroke();
    c.textBaseline = 'bottom'; c.fillText(n, x, p.h - 2);
    const a = d.axes[i];
    c.textBaseline = 'bottom'; c.fillStyle = '#5b6375';
    const top = a ? (a.choices ? a.choices[a.choices.length - 1] : fmt(a.high)) : fmt(hi);
    const bottom = a ? (a.choices ? a.choices[0] : fmt(a.low)) : fmt(lo);
    c.fillText(String(top), x, p.y(1) - 2); c.textBaseline = 'top'; c.fillText(String(bottom), x, p.y(0) + 2);
    c.fillStyle = '#1d2330';
  });
  return p.done();
}

function drawSlices(box, study, d) {
  box.replaceChildren();
  if (d.rows.length === 0) return empty(box, 'No complete trial yet.');
  const grid = h('div', { class: 'slices' });
  box.append(grid);
  const yr = extent(d.rows.map(r => r[1]));
  let marks = 0;
  d.axes.forEach((a, i) => {
    const cell = h('div');
    grid.append(cell);
    const ax = paramAxis(a);
    const p = new Plot(cell, 190, { l: 52, b: 34, t: 10 });
    p.scales(ax.range, yr, ax.log);
    p.axes(a.name, i === 0 ? d.objective : '', { xticks: ax.ticks });
    p.clip();
    for (const r of d.rows) {
      const v = r[i + 2];
      if (v === null) continue;
      const jitter = a.choices ? ((r[0] * 7919) % 100 / 100 - 0.5) * 0.4 : 0;
      p.dot(v + jitter, r[1], 2, 'rgba(59,111,212,0.5)', { text: `trial ${r[0]}: ${a.name}=${a.choices ? a.choices[v] : fmt(v)} → ${fmt(r[1])}`, href: trialHref(study, r[0]) });
    }
    p.unclip();
    p.done();
    marks += p.marks;
  });
  box.dataset.points = String(marks);
}

function drawContour(box, study, d) {
  box.replaceChildren();
  const p = new Plot(box, 340, { l: 70, b: 40, r: 70, t: 10 });
  p.scales([0, d.nx], [0, d.ny]);
  const vals = d.mean.filter(v => v !== null);
  if (vals.length === 0) { box.replaceChildren(); return empty(box, 'No complete trial has both parameters.'); }
  const [lo, hi] = extent(vals, 0);
  const maximize = d.direction === 'maximize';
  const c = p.ctx;
  for (let j = 0; j < d.ny; j++) for (let i = 0; i < d.nx; i++) {
    const v = d.mean[j * d.nx + i];
    if (v === null) continue;
    let q = hi > lo ? (v - lo) / (hi - lo) : 0.5; if (!maximize) q = 1 - q;
    c.fillStyle = `rgb(${Math.round(250 - 200 * q)},${Math.round(235 - 120 * q)},${Math.round(210 - 10 * q)})`;
    const x0 = p.x(i), x1 = p.x(i + 1), y0 = p.y(j + 1), y1 = p.y(j);
    c.fillRect(x0, y0, x1 - x0 + 0.5, y1 - y0 + 0.5);
    p.marks++;
    p.hits.push({ px: (x0 + x1) / 2, py: (y0 + y1) / 2, text: `mean ${fmt(v)}, best ${fmt(d.best[j * d.nx + i])}, ${d.count[j * d.nx + i]} trials` });
  }
  const ticks = (a, n) => {
    if (a.choices) return a.choices.map((ch, i) => ({ at: i + 0.5, label: ch }));
    return [0, 0.25, 0.5, 0.75, 1].map(u => ({ at: u * n, label: fmt(a.log && a.low > 0 ? Math.exp(Math.log(a.low) + u * (Math.log(a.high) - Math.log(a.low))) : a.low + u * (a.high - a.low)) }));
  };
  p.axes(d.x.name, d.y.name, { xticks: ticks(d.x, d.nx), yticks: ticks(d.y, d.ny) });
  // Colour key.
  const kx = p.w - p.m.r + 14, top = p.m.t, bottom = p.h - p.m.b;
  for (let s = 0; s < 50; s++) {
    const q = s / 49; const qq = maximize ? q : 1 - q;
    c.fillStyle = `rgb(${Math.round(250 - 200 * qq)},${Math.round(235 - 120 * qq)},${Math.round(210 - 10 * qq)})`;
    c.fillRect(kx, bottom - (s + 1) * (bottom - top) / 50, 12, (bottom - top) / 50 + 0.5);
  }
  c.fillStyle = '#5b6375'; c.font = '10px sans-serif'; c.textAlign = 'left';
  c.fillText(fmt(hi), kx + 15, top + 6); c.fillText(fmt(lo), kx + 15, bottom - 4);
  return p.done();
}

function drawImportance(box, study, d) {
  box.replaceChildren();
  if (!d.params || d.params.length === 0) return empty(box, d.message || 'Not enough complete trials.');
  const n = d.params.length;
  const p = new Plot(box, Math.max(120, 30 * n + 50), { l: 130, b: 34, t: 10 });
  p.scales([0, 1], [0, n]);
  p.axes('share of the variance explained', '', { yticks: d.params.map((q, i) => ({ at: n - i - 0.5, label: q.param })) });
  const c = p.ctx;
  d.params.forEach((q, i) => {
    const y0 = p.y(n - i - 0.15), y1 = p.y(n - i - 0.85);
    c.fillStyle = COLORS.blue; c.fillRect(p.x(0), y0, p.x(q.importance) - p.x(0), y1 - y0);
    c.fillStyle = '#1d2330'; c.font = '11px sans-serif'; c.textBaseline = 'middle'; c.textAlign = 'left';
    c.fillText((100 * q.importance).toFixed(1) + ' %', p.x(q.importance) + 4, (y0 + y1) / 2);
    p.marks++;
    p.hits.push({ px: p.x(q.importance), py: (y0 + y1) / 2, text: `${q.param}: ${(100 * q.raw).toFixed(1)} % of the variance alone` });
  });
  return p.done();
}

function drawPareto(box, study, d) {
  box.replaceChildren();
  if (d.front.length === 0) return empty(box, 'No complete trial yet.');
  const p = new Plot(box, 320);
  const all = d.front.concat(d.dominated);
  p.scales(extent(all.map(r => r[1])), extent(all.map(r => r[2])));
  p.axes(d.x, d.y);
  p.clip();
  for (const r of d.dominated) p.dot(r[1], r[2], 2, 'rgba(120,128,145,0.45)', { text: `trial ${r[0]}: ${fmt(r[1])}, ${fmt(r[2])}`, href: trialHref(study, r[0]) });
  p.line(d.front.map(r => [r[1], r[2]]), COLORS.red, 1.5);
  for (const r of d.front) p.dot(r[1], r[2], 4, COLORS.red, { text: `trial ${r[0]} (Pareto): ${fmt(r[1])}, ${fmt(r[2])}`, href: trialHref(study, r[0]) });
  p.unclip();
  legend(p, [['Pareto front (' + d.front.length + ')', COLORS.red], ['dominated (' + d.dominated_total + ')', COLORS.gray]]);
  return p.done();
}

function drawRungs(box, study, d) {
  box.replaceChildren();
  if (d.rungs.length > 0) {
    const p = new Plot(box, 260, { l: 62, b: 40 });
    const n = d.rungs.length;
    p.scales([0, n], [0, Math.max(1, ...d.rungs.map(r => r.reached)) * 1.1]);
    p.axes('rung (' + d.step + ')', 'trials', { xticks: d.rungs.map((r, i) => ({ at: i + 0.5, label: String(r.resource) })) });
    const c = p.ctx;
    d.rungs.forEach((r, i) => {
      const bars = [[r.reached, COLORS.blue], [r.stopped, COLORS.orange], [r.finished, COLORS.green], [r.running, COLORS.gray]];
      const w = 0.8 / bars.length;
      bars.forEach(([v, color], k) => {
        const x0 = p.x(i + 0.1 + k * w), x1 = p.x(i + 0.1 + (k + 1) * w);
        c.fillStyle = color; c.fillRect(x0, p.y(v), x1 - x0 - 1, p.y(0) - p.y(v));
        p.marks++;
      });
      p.hits.push({ px: p.x(i + 0.5), py: p.y(r.reached), text: `rung ${d.step} ${r.resource}: reached ${r.reached}, stopped ${r.stopped}, finished ${r.finished}, running ${r.running}, best ${fmt(r.best)}` });
    });
    legend(p, [['reached', COLORS.blue], ['stopped here', COLORS.orange], ['finished here', COLORS.green], ['running', COLORS.gray]]);
    p.done();
  }
  if (d.stopped_at.length > 0) {
    box.append(h('p', { class: 'muted' }, `Where the ${d.pruned} pruned trials were stopped (last ${d.step} of ${d.metric}):`));
    const p = new Plot(box, 180, { l: 52, b: 34, t: 10 });
    const xs = d.stopped_at.map(b => b[0]);
    const width = xs.length > 1 ? Math.min(...xs.slice(1).map((x, i) => x - xs[i])) : 1;
    p.scales([Math.min(...xs) - width, Math.max(...xs) + width], [0, Math.max(...d.stopped_at.map(b => b[1])) * 1.1]);
    p.axes(d.step, 'pruned trials');
    const c = p.ctx;
    for (const [x, count] of d.stopped_at) {
      c.fillStyle = COLORS.orange;
      const x0 = p.x(x - width * 0.4), x1 = p.x(x + width * 0.4);
      c.fillRect(x0, p.y(count), Math.max(1, x1 - x0), p.y(0) - p.y(count));
      p.marks++;
      p.hits.push({ px: (x0 + x1) / 2, py: p.y(count), text: `${count} trials stopped at ${d.step} ${x}` });
    }
    p.done();
  }
  if (d.rungs.length === 0 && d.stopped_at.length === 0) empty(box, d.rule ? 'No trial has been stopped early yet.' : 'The study has no pruner and no trial was stopped early.');
}

// ---------------------------------------------------------------- trial table

function tableView(study, summary) {
  const c = card('Trials', { wide: true, id: 'trials' });
  const st = { offset: 0, limit: 50, sort: 'number', desc: false, state: '', filter: '' };
  const info = h('span', { class: 'muted' });
  const filter = h('input', { type: 'text', placeholder: 'filter, e.g. lr<0.01, optimizer=adam' });
  filter.addEventListener('change', () => { st.filter = filter.value; st.offset = 0; load(); });
  const states = select([{ value: '', label: 'all states' }, ...['complete', 'pruned', 'failed', 'running', 'waiting'].map(s => ({ value: s, label: s }))], '', v => { st.state = v; st.offset = 0; load(); });
  const prev = h('button', { onclick: () => { st.offset = Math.max(0, st.offset - st.limit); load(); } }, '‹ previous');
  const next = h('button', { onclick: () => { st.offset += st.limit; load(); } }, 'next ›');
  const wrap = h('div', { class: 'tablewrap' });
  c.body.append(h('div', { class: 'controls' }, states, filter, prev, next, info), wrap);
  let all = null; // a report's rows, sorted and filtered here

  async function page() {
    if (!REPORT) return api(studyPath(study) + '/trials', { offset: st.offset, limit: st.limit, sort: st.sort === 'number' ? '' : st.sort, desc: st.desc ? 1 : '', state: st.state, filter: st.filter });
    if (!all) all = await api(studyPath(study) + '/trials', { all: 1 });
    const conds = st.filter.split(',').map(s => s.trim()).filter(Boolean).map(s => {
      const m = s.match(/^(.+?)(<=|>=|!=|<|>|=)(.+)$/);
      if (!m) throw new Error(`filter '${s}' has no comparison`);
      return { name: m[1].trim(), op: m[2], value: m[3].trim() };
    });
    const cell = (r, name) => {
      if (name === 'number') return r.number; if (name === 'state') return r.state; if (name === 'duration') return r.duration_s;
      const o = all.objectives.indexOf(name); if (o >= 0) return r.values[o];
      return r.params[name];
    };
    const cmp = (a, b) => (a === b ? 0 : a === undefined || a === null ? 1 : b === undefined || b === null ? -1 : a < b ? -1 : 1);
    let rows = all.rows.filter(r => (!st.state || r.state === st.state) && conds.every(q => {
      const v = cell(r, q.name); if (v === undefined || v === null) return q.op === '!=';
      const w = typeof v === 'number' ? Number(q.value) : q.value;
      return { '<': v < w, '<=': v <= w, '>': v > w, '>=': v >= w, '=': v == w, '!=': v != w }[q.op];
    }));
    rows = rows.slice().sort((a, b) => { const x = cell(a, st.sort), y = cell(b, st.sort); const o = cmp(x, y);
      return (x === null || x === undefined || y === null || y === undefined) ? o : (st.desc ? -o : o) || a.number - b.number; });
    return { total: rows.length, offset: st.offset, limit: st.limit, objectives: all.objectives, params: all.params, rows: rows.slice(st.offset, st.offset + st.limit) };
  }

  async function load() {
    let d;
    try { d = await page(); } catch (e) { return showError(wrap, e); }
    const cols = [['number', '#'], ['state', 'state']].concat(d.objectives.map(o => [o, o]), d.params.map(p => [p, p]), [['duration', 'duration']]);
    const head = h('tr', null, cols.map(([k, label]) => {
      const th = h('th', { class: st.sort === k ? ('sorted' + (st.desc ? '' : ' asc')) : '' , 'data-col': k }, label);
      th.addEventListener('click', () => { if (st.sort === k) st.desc = !st.desc; else { st.sort = k; st.desc = false; } st.offset = 0; load(); });
      return th;
    }));
    const body = d.rows.map(r => h('tr', { class: 'link', 'data-trial': r.number, onclick: () => { location.hash = trialHref(study, r.number); } },
      h('td', null, r.number), h('td', null, stateTag(r.state)),
      r.values.map(v => h('td', null, fmt(v))),
      d.params.map(p => h('td', null, fmt(r.params[p]))),
      h('td', null, duration(r.duration_s))));
    wrap.replaceChildren(h('table', null, h('thead', null, head), h('tbody', null, body)));
    wrap.dataset.rows = String(d.rows.length);
    info.textContent = d.total === 0 ? 'no trial matches' : `${d.offset + 1}–${d.offset + d.rows.length} of ${d.total}`;
    prev.disabled = d.offset === 0; next.disabled = d.offset + d.rows.length >= d.total;
  }
  return { el: c.el, load };
}

// ---------------------------------------------------------------- pages

let poller = null;
// Each page shown gets a new generation; a poll of an older page stops itself.
let generation = 0;
function stopPolling() { generation++; if (poller) { clearTimeout(poller); clearInterval(poller); poller = null; } }
// Marks the page as loaded, for scripts and tests: `data-ready` and the route it shows in
// `data-page` (a click changes the hash before the page for it starts loading).
function markReady(app) { app.dataset.ready = '1'; app.dataset.page = location.hash; }
function setLive(text) { document.getElementById('live').textContent = text; }

function crumbs(...items) {
  document.getElementById('crumbs').replaceChildren(...items.flatMap((it, i) => [i ? ' / ' : '', h('a', { href: it[1] }, it[0])]));
}

async function studiesPage(app) {
  crumbs();
  const box = h('div');
  app.replaceChildren(h('h1', null, 'Studies'), box);
  async function load() {
    let d;
    try { d = await api('/api/studies'); } catch (e) { return showError(box, e); }
    if (d.studies.length === 0) return box.replaceChildren(h('p', { class: 'muted' }, 'The storage has no study yet.'));
    box.replaceChildren(h('div', { class: 'tablewrap' }, h('table', { id: 'studies' },
      h('thead', null, h('tr', null, ['study', 'objectives', 'trials', 'complete', 'pruned', 'failed', 'running', 'best', 'last activity'].map(x => h('th', null, x)))),
      h('tbody', null, d.studies.map(s => h('tr', { class: 'link', onclick: () => { location.hash = '#/study/' + encodeURIComponent(s.name); } },
        h('td', null, h('a', { href: '#/study/' + encodeURIComponent(s.name) }, s.name)),
        h('td', null, s.objectives.map((o, i) => o + ' (' + (s.directions[i] === 'maximize' ? 'max' : 'min') + ')').join(', ')),
        h('td', null, s.trials), h('td', null, s.counts.complete), h('td', null, s.counts.pruned), h('td', null, s.counts.failed), h('td', null, s.counts.running),
        h('td', null, s.best ? (s.best.value !== undefined ? fmt(s.best.value) + ' (#' + s.best.number + ')' : s.best.pareto_size + ' on the Pareto front') : '—'),
        h('td', null, s.last_activity_ms ? new Date(s.last_activity_ms).toLocaleString() : '—')))))));
  }
  await load();
  if (!REPORT) { poller = setInterval(load, 5000); setLive('live · refreshes every 5 s'); }
}

async function studyPage(app, study) {
  const shown = generation;
  crumbs([study, '#/study/' + encodeURIComponent(study)]);
  let summary;
  try { summary = await api(studyPath(study)); } catch (e) { return showError(app, e); }
  const state = { objective: 0, metric: '', x: '', y: '', px: 0, py: 1 };
  const statsBox = h('div', { class: 'stats' });
  const history = card('Optimisation history', { id: 'history' });
  const curves = card('Learning curves', { id: 'curves' });
  const parallel = card('Parallel coordinates', { wide: true, id: 'parallel' });
  const slices = card('Slices', { wide: true, id: 'slices' });
  const contour = card('Contour', { id: 'contour' });
  const importance = card('Parameter importance', { id: 'importance' });
  const pareto = card('Pareto front', { id: 'pareto' });
  const rungs = card('Early stopping (rungs)', { id: 'rungs' });
  const table = tableView(study, summary);
  const multi = summary.objectives.length > 1;
  const objectiveSelect = () => multi ? select(summary.objectives.map((o, i) => ({ value: i, label: o })), state.objective, v => { state.objective = +v; refresh(true); }) : null;
  const objParam = () => state.objective ? state.objective : '';

  function renderStats(s) {
    const c = s.counts;
    const best = s.best ? (s.best.value !== undefined ? h('span', null, fmt(s.best.value), ' ', h('a', { href: trialHref(study, s.best.number) }, '#' + s.best.number)) : s.best.pareto_size + ' trials') : '—';
    statsBox.replaceChildren(
      ...[['trials', s.trials], ['complete', c.complete], ['pruned', c.pruned], ['failed', c.failed], ['running', c.running]].map(([k, v]) => h('div', { class: 'stat' }, h('b', null, v), k)),
      h('div', { class: 'stat' }, h('b', null, best), multi ? 'Pareto set' : 'best ' + s.objectives[0] + ' (' + s.directions[0] + ')'),
      h('div', { class: 'stat' }, h('b', null, duration(s.mean_duration_s)), 'mean trial time'),
      ...(s.pruner ? [h('div', { class: 'stat' }, h('b', null, s.pruner.rule), 'pruner on ' + s.pruner.metric)] : []));
  }

  const grid = h('div', { class: 'grid' }, history.el, curves.el, importance.el, contour.el, parallel.el, slices.el);
  if (multi) grid.append(pareto.el);
  grid.append(rungs.el, table.el);
  app.replaceChildren(h('h1', null, study), statsBox, grid);
  renderStats(summary);

  async function panel(c, path, params, draw, note) {
    try { const d = await api(studyPath(study) + path, params); draw(c.body, study, d); if (note) c.note.textContent = note(d); return d; }
    catch (e) { showError(c.body, e); }
  }

  async function refresh(all) {
    history.controls.replaceChildren(...[objectiveSelect()].filter(Boolean));
    await Promise.all([
      panel(history, '/history', { objective: objParam() }, drawHistory, d => `${d.complete} complete` + (d.pruned_total ? `, ${d.pruned_total} pruned` : '') + (d.failed ? `, ${d.failed} failed` : '')),
      panel(curves, '/curves', { metric: state.metric }, drawCurves, d => d.metric ? `${d.curves.length} of ${d.trials_with_curves} curves shown` : '').then(d => {
        if (d && d.metrics.length > 1) curves.controls.replaceChildren(select(d.metrics.map(m => ({ value: m, label: m })), d.metric, v => { state.metric = v; refresh(false); }));
      }),
      panel(parallel, '/params', { objective: objParam() }, (box, s, d) => { drawParallel(box, s, d); drawSlices(slices.body, s, d); }, d => `${d.rows.length} of ${d.complete} complete trials (the best tenth and an even sample)`),
      summary.params.length < 2 ? (contour.body.replaceChildren(), empty(contour.body, 'The contour plot needs two parameters.')) :
      panel(contour, '/contour', { objective: objParam(), x: state.x, y: state.y }, drawContour, d => 'mean per cell').then(d => {
        if (d && d.params.length > 1) contour.controls.replaceChildren(
          select(d.params.map(p => ({ value: p, label: p })), d.x.name, v => { state.x = v; refresh(false); }), ' × ',
          select(d.params.map(p => ({ value: p, label: p })), d.y.name, v => { state.y = v; refresh(false); }));
      }),
      all ? panel(importance, '/importance', { objective: objParam() }, drawImportance, d => d.trials ? `fANOVA on ${d.trials} of ${d.complete} complete trials` : '') : null,
      multi ? panel(pareto, '/pareto', {}, drawPareto, d => `${d.front.length} on the front`) : null,
      panel(rungs, '/rungs', {}, drawRungs, d => d.rule ? `${d.rule}${d.promote ? ' (promotions)' : ''} on ${d.metric}` : 'no pruner'),
      table.load(),
    ]);
  }
  await refresh(true);
  // Left while loading: another page owns the app now.
  if (shown !== generation) return;
  markReady(app);
  if (REPORT) { setLive('report generated ' + new Date(REPORT.generated_ms).toLocaleString()); return; }
  // Poll the change counter; after a change, refetch, and wait longer when refetching was
  // slow (a large study that changes all the time must not keep the server busy).
  let seq = summary.seq, rounds = 0, delay = 2000;
  const me = generation;
  setLive('live · up to date');
  const tick = async () => {
    try {
      const v = await api(studyPath(study) + '/version');
      if (v.seq === seq) setLive('live · up to date · ' + new Date().toLocaleTimeString());
      else {
        const started = performance.now();
        seq = v.seq; rounds++;
        const s = await api(studyPath(study));
        if (me !== generation) return;
        renderStats(s);
        await refresh(rounds % 5 === 0);
        delay = Math.max(2000, 5 * (performance.now() - started));
        setLive('live · updated ' + new Date().toLocaleTimeString() + (delay > 2000 ? ' · next check in ' + Math.round(delay / 1000) + ' s' : ''));
      }
    } catch (e) { setLive('live · ' + e.message); }
    if (me === generation) poller = setTimeout(tick, delay);
  };
  poller = setTimeout(tick, delay);
}

async function trialPage(app, study, number) {
  const shown = generation;
  crumbs([study, '#/study/' + encodeURIComponent(study)], ['trial ' + number, trialHref(study, number)]);
  let t;
  try { t = await api(studyPath(study) + '/trials/' + number); } catch (e) { return showError(app, e); }
  if (shown !== generation) return;
  const kv = obj => h('div', { class: 'kv' }, Object.entries(obj || {}).flatMap(([k, v]) => [h('div', null, k), h('div', null, fmt(v))]));
  const values = card('Result');
  values.body.append(h('div', { class: 'kv' },
    h('div', null, 'state'), h('div', null, stateTag(t.state), t.message ? ' ' + t.message : ''),
    t.values.flatMap(v => [h('div', null, v.name + ' (' + v.direction + ')'), h('div', { class: 'value' }, fmt(v.value))]),
    h('div', null, 'duration'), h('div', null, duration(t.duration_s)),
    h('div', null, 'started'), h('div', null, t.started_ms ? new Date(t.started_ms).toLocaleString() : '—'),
    h('div', null, 'worker'), h('div', null, t.worker || '—')));
  const params = card('Parameters', { id: 'params' });
  params.body.append(h('table', null, h('thead', null, h('tr', null, h('th', null, 'parameter'), h('th', null, 'value'), h('th', null, 'range'))),
    h('tbody', null, t.params.map(p => h('tr', null, h('td', null, p.name), h('td', null, fmt(p.value)), h('td', { class: 'muted' }, p.distribution ? JSON.stringify(p.distribution) : ''))))));
  const curves = card('Intermediate values', { wide: true, id: 'trial-curves' });
  const metrics = Object.entries(t.intermediate);
  const grid = h('div', { class: 'grid' }, values.el, params.el);
  if (metrics.length) grid.append(curves.el);
  if (Object.keys(t.user_attrs || {}).length) { const c = card('User attributes'); c.body.append(kv(t.user_attrs)); grid.append(c.el); }
  const sys = card('System attributes'); sys.body.append(kv(t.system_attrs)); grid.append(sys.el);
  if (t.environment) { const c = card('Environment', { id: 'environment' }); c.body.append(kv(t.environment)); grid.append(c.el); }
  const logs = card('Output', { wide: true, id: 'logs' });
  const names = Object.keys(t.logs || {});
  if (names.length === 0) empty(logs.body, 'No output was captured (the trial did not run a command).');
  for (const n of names) logs.body.append(h('h2', null, n + ' ', h('span', { class: 'muted' }, '(' + t.logs[n].source + ')')), h('pre', null, t.logs[n].text || '(empty)'));
  grid.append(logs.el);
  app.replaceChildren(h('h1', null, 'Trial ' + t.number + ' of ', h('a', { href: '#/study/' + encodeURIComponent(study) }, study)), grid);
  // Drawn once in the page, so the canvas takes the card's real width.
  if (metrics.length) {
    const p = new Plot(curves.body, 280);
    const pts = metrics.flatMap(([, s]) => s);
    p.scales(extent(pts.map(q => q[0]), 0.02), extent(pts.map(q => q[1])));
    p.axes('step', metrics.length === 1 ? metrics[0][0] : 'value');
    p.clip();
    metrics.forEach(([name, s], i) => { p.line(s, PALETTE[i % PALETTE.length], 1.8); s.forEach(q => p.hits.push({ px: p.x(q[0]), py: p.y(q[1]), text: `${name} at step ${q[0]}: ${fmt(q[1])}` })); });
    p.unclip();
    legend(p, metrics.map(([name], i) => [name, PALETTE[i % PALETTE.length]]));
    p.done();
  }
  markReady(app);
  setLive(REPORT ? 'report' : 'live');
}

async function route() {
  stopPolling();
  tooltip.style.display = 'none';
  const app = document.getElementById('app');
  delete app.dataset.ready;
  delete app.dataset.page;
  let hash = location.hash.replace(/^#/, '');
  if ((hash === '' || hash === '/') && REPORT) hash = '/study/' + encodeURIComponent(REPORT.study);
  const parts = hash.split('/').filter(Boolean).map(decodeURIComponent);
  app.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  if (parts[0] === 'study' && parts.length === 2) return studyPage(app, parts[1]);
  if (parts[0] === 'study' && parts[2] === 'trial' && parts.length === 4) return trialPage(app, parts[1], parts[3]);
  return studiesPage(app);
}

window.addEventListener('hashchange', route);
route();
