import { h } from '../ui.js';
export const id = 'providers';
export function mount(body) {
  body.append(h('p', { class: 'muted' }, 'loading'));
  return async () => {};
}
