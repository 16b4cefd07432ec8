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

/** 18-decimal token amount with at most 4 decimals. */
export function tokens(v, symbol = 'GPU') {
  if (v === undefined || v === null) return '–';
  const s = formatEther(BigInt(v));
  const [i, f = ''] = s.split('.');
  const frac = f.slice(0, 4).replace(/0+$/, '');
  return `${i.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${frac ? `.${frac}` : ''}${symbol ? ` ${symbol}` : ''}`;
}

export function parseAmount(text) {
  const t = String(text || '').trim();
  if (!/^\d+(\.\d+)?$/.test(t)) throw new Error(`"${text}" is not an amount: type a number like 100 or 2.5.`);
  return parseEther(t);
}

export function duration(seconds) {
  let s = Math.max(0, Math.floor(Number(seconds)));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hh = Math.floor(s / 3600);
  s -= hh * 3600;
  const mm = Math.floor(s / 60);
  s -= mm * 60;
  if (d) return `${d}d ${hh}h ${mm}m`;
  if (hh) return `${hh}h ${mm}m ${s}s`;
  if (mm) return `${mm}m ${s}s`;
  return `${s}s`;
}

export function table(headers, rows, attrs = {}) {
  return h(
    'div',
    { class: 'tablewrap' },
    h(
      'table',
      attrs,
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, 'none yet'))),
    ),
  );
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
