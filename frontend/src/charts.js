// Two tiny hand-written SVG charts (no chart library): grouped bars and a step line.
const NS = 'http://www.w3.org/2000/svg';
const COLORS = ['#4f8cff', '#36c28b', '#f5a524', '#e5484d', '#a78bfa', '#14b8a6'];

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export function compact(n) {
  if (!Number.isFinite(n)) return '0';
  const abs = Math.abs(n);
  if (abs >= 1e12) return `${(n / 1e12).toFixed(1)}T`;
  if (abs >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (abs >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (abs >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  if (abs >= 10 || n === 0) return n.toFixed(0);
  return abs >= 1 ? n.toFixed(2) : Number(n.toPrecision(2)).toString();
}

/**
 * Grouped bars: groups = [{label, values: {series: number}}], series = ['fp32', ...].
 * Returns an <svg> element sized by viewBox (scales to its container).
 */
export function barChart({ groups, series, unit = '', title = '' }) {
  const W = 480, H = 220, L = 48, B = 36, T = 22, R = 8;
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title, class: 'chart' });
  // scale to the data (CPU nodes measure hundredths of a TFLOPS, GPUs hundreds)
  const max = Math.max(1e-6, ...groups.flatMap((g) => series.map((s) => g.values[s] || 0))) * 1.1;
  const plotW = W - L - R, plotH = H - T - B;
  for (let i = 0; i <= 4; i++) {
    const y = T + plotH - (plotH * i) / 4;
    svg.append(el('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'grid' }));
    svg.append(el('text', { x: L - 4, y: y + 4, 'text-anchor': 'end', class: 'tick' }, compact((max * i) / 4)));
  }
  if (!groups.length) {
    svg.append(el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, 'no data yet'));
  }
  const gw = plotW / Math.max(groups.length, 1);
  const bw = Math.max(4, (gw * 0.8) / Math.max(series.length, 1));
  groups.forEach((g, gi) => {
    series.forEach((s, si) => {
      const v = g.values[s] || 0;
      const h = (plotH * v) / max;
      const x = L + gi * gw + gw * 0.1 + si * bw;
      const rect = el('rect', { x, y: T + plotH - h, width: bw - 2, height: h, fill: COLORS[si % COLORS.length], class: 'bar' });
      rect.append(el('title', {}, `${g.label} ${s}: ${compact(v)} ${unit}`));
      svg.append(rect);
    });
    svg.append(el('text', { x: L + gi * gw + gw / 2, y: H - B + 16, 'text-anchor': 'middle', class: 'tick' }, g.label));
  });
  series.forEach((s, si) => {
    const x = L + si * 70;
    svg.append(el('rect', { x, y: 4, width: 10, height: 10, fill: COLORS[si % COLORS.length] }));
    svg.append(el('text', { x: x + 14, y: 13, class: 'tick' }, s));
  });
  if (unit) svg.append(el('text', { x: W - R, y: 13, 'text-anchor': 'end', class: 'tick' }, unit));
  return svg;
}

/** Cumulative step line: points = [{t: unix seconds, v: number}] (v = amount at that time). */
export function lineChart({ points, unit = '', title = '' }) {
  const W = 480, H = 200, L = 52, B = 30, T = 14, R = 10;
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title, class: 'chart' });
  const plotW = W - L - R, plotH = H - T - B;
  const sorted = [...points].sort((a, b) => a.t - b.t);
  let acc = 0;
  const cum = sorted.map((p) => ({ t: p.t, v: (acc += p.v) }));
  const max = Math.max(1e-9, ...cum.map((p) => p.v));
  for (let i = 0; i <= 4; i++) {
    const y = T + plotH - (plotH * i) / 4;
    svg.append(el('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'grid' }));
    svg.append(el('text', { x: L - 4, y: y + 4, 'text-anchor': 'end', class: 'tick' }, compact((max * i) / 4)));
  }
  if (!cum.length) {
    svg.append(el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, 'no fees yet'));
    return svg;
  }
  // one point (or all at one time): an hour around it, so the axis reads as time, not as one instant twice
  const single = cum[cum.length - 1].t === cum[0].t;
  const t0 = single ? cum[0].t - 1800 : cum[0].t, t1 = single ? cum[0].t + 1800 : cum[cum.length - 1].t;
  const x = (t) => L + (plotW * (t - t0)) / (t1 - t0);
  const y = (v) => T + plotH - (plotH * v) / max;
  let d = `M ${x(single ? cum[0].t : t0)} ${y(0)}`;
  for (const p of cum) d += ` H ${x(p.t)} V ${y(p.v)}`;
  d += ` H ${x(t1)}`;
  svg.append(el('path', { d, class: 'line' }));
  for (const p of cum) {
    const dot = el('circle', { cx: x(p.t), cy: y(p.v), r: 3, class: 'dot' });
    dot.append(el('title', {}, `${new Date(p.t * 1000).toLocaleString()}: ${compact(p.v)} ${unit}`));
    svg.append(dot);
  }
  const fmt = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (single) svg.append(el('text', { x: x(cum[0].t), y: H - 8, 'text-anchor': 'middle', class: 'tick' }, fmt(cum[0].t)));
  else {
    svg.append(el('text', { x: L, y: H - 8, class: 'tick' }, fmt(t0)));
    svg.append(el('text', { x: W - R, y: H - 8, 'text-anchor': 'end', class: 'tick' }, fmt(t1)));
  }
  if (unit) svg.append(el('text', { x: L + 4, y: T + 10, class: 'tick' }, unit));
  return svg;
}
