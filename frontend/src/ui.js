// Small DOM helpers shared by the sections.
import { formatEther, parseEther } from 'viem';
import { readableError } from './errors.js';

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export const short = (a) => (a ? `${a.slice(0, 6)}…${a.slice(-4)}` : '–');

// Numbers, percentages, durations and relative times through the browser's Intl (the reader's locale).
const AMOUNT = new Intl.NumberFormat(undefined, { maximumFractionDigits: 4, roundingMode: 'trunc' });
const COUNT = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const PERCENT = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 2 });
const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' });
const DURATION = typeof Intl.DurationFormat === 'function' ? new Intl.DurationFormat(undefined, { style: 'narrow' }) : null;

/** 18-decimal token amount, at most 4 decimals, never rounded up (the exact decimal string is formatted). */
export function tokens(v, symbol = 'GPU') {
  if (v === undefined || v === null) return '–';
  const text = AMOUNT.format(formatEther(BigInt(v)));
  return symbol ? `${text} ${symbol}` : text;
}

export const count = (v) => COUNT.format(typeof v === 'bigint' ? Number(v) : v);

/** Basis points as a percentage: 250 -> "2.5%". */
export const percentOfBps = (bps) => PERCENT.format(Number(bps) / 10_000);

export function parseAmount(text) {
  const t = String(text || '').trim();
  if (!/^\d+(\.\d+)?$/.test(t)) throw new Error(`"${text}" is not an amount: type a number like 100 or 2.5.`);
  return parseEther(t);
}

function parts(totalSeconds) {
  let s = Math.max(0, Math.floor(Number(totalSeconds)));
  const days = Math.floor(s / 86400);
  s -= days * 86400;
  const hours = Math.floor(s / 3600);
  s -= hours * 3600;
  const minutes = Math.floor(s / 60);
  return { days, hours, minutes, seconds: s - minutes * 60 };
}

/** A live countdown's length down to the second: "1d 2h 3m 4s". */
export function duration(totalSeconds) {
  const p = parts(totalSeconds);
  if (DURATION) return DURATION.format(p) || '0s';
  const { days: d, hours: hh, minutes: mm, seconds: ss } = p;
  if (d) return `${d}d ${hh}h ${mm}m`;
  if (hh) return `${hh}h ${mm}m ${ss}s`;
  if (mm) return `${mm}m ${ss}s`;
  return `${ss}s`;
}

/** A governed period as people say it: 3600 -> "1h", 1209600 -> "14d", 90 -> "1m 30s". */
export function seconds(v) {
  const p = parts(v);
  const shown = Object.fromEntries(Object.entries(p).filter(([, x]) => x));
  if (!Object.keys(shown).length) return DURATION ? DURATION.format({ seconds: 0 }) : '0s';
  return DURATION ? DURATION.format(shown) : duration(v);
}

/** A chain time relative to `now` (both unix seconds): "in 12 min", "3 days ago". */
export function relative(t, now) {
  const d = Number(t) - Number(now);
  const a = Math.abs(d);
  if (a < 60) return RELATIVE.format(Math.round(d), 'second');
  if (a < 3600) return RELATIVE.format(Math.round(d / 60), 'minute');
  if (a < 86400) return RELATIVE.format(Math.round(d / 3600), 'hour');
  return RELATIVE.format(Math.round(d / 86400), 'day');
}

/** A chain time as a date and clock time in the reader's locale. */
export const when = (t) => new Date(Number(t) * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function table(headers, rows, attrs = {}, empty = 'none yet') {
  const wrap = h(
    'div',
    { class: 'tablewrap' },
    h(
      'table',
      attrs,
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, empty))),
    ),
  );
  // each cell names its column, so a phone can show rows as stacked cards (style.css)
  for (const tr of wrap.querySelectorAll('tbody tr')) [...tr.children].forEach((td, i) => headers[i] && !td.hasAttribute('colspan') && td.setAttribute('data-label', headers[i]));
  return wrap;
}

export function stat(k, v, attrs = {}) {
  return h('div', { class: 'stat', ...attrs }, h('div', { class: 'k' }, k), h('div', { class: 'v' }, v));
}

/** Message line of a section. */
export function setMsg(el, kind, text) {
  el.className = `msg ${kind}`;
  el.textContent = text;
}

/**
 * Run an async action from a button: disables it, shows progress, then the result or a readable error
 * in `msgEl`. Returns the action's value (undefined when it failed).
 */
export async function act(msgEl, button, busyText, fn) {
  // the answer appears next to what was clicked: after its form or row, or after the list holding
  // its table (the table itself is redrawn each block; the list container stays)
  const wrap = button?.closest('.tablewrap');
  const anchor = wrap ? wrap.parentElement : button?.closest('form, .row');
  if (anchor && anchor.nextElementSibling !== msgEl) anchor.after(msgEl);
  if (button) button.disabled = true;
  setMsg(msgEl, 'busy', busyText);
  try {
    const out = await fn();
    setMsg(msgEl, 'ok', typeof out === 'string' ? out : 'Done.');
    return out;
  } catch (err) {
    console.error(err);
    setMsg(msgEl, 'error', readableError(err));
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

export function field(label, name, attrs = {}) {
  return h('label', {}, label, h('input', { name, ...attrs }));
}

/** JSON with bigints, as a cheap "did anything change" key. */
export const keyOf = (value) => JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));

/** Replace `el`'s content with build() only when `key` changed (keeps focus and typed text). */
export function renderIfChanged(el, key, build) {
  if (el.dataset.key === key) return;
  el.replaceChildren(build());
  el.dataset.key = key;
}
