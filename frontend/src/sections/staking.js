import { h } from '../ui.js';
export const id = 'staking';
export function mount(body) {
  body.append(h('p', { class: 'muted' }, 'loading'));
  return async () => {};
}
