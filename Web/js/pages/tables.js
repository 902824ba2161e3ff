// Bits the storage and networks pages share. Table cells carry data-label so that, at a phone's
// width, pages.css can turn each row into a card with the column names inline.
import { h } from '../ui.js';

export function pct(part, whole) {
  if (!whole) return '0%';
  return Math.round((100 * part) / whole) + '%';
}

// cells([['Name', content...], ...]) -> <td data-label="Name">content</td> ...
export function cells(list) {
  return list.map(([label, ...content]) => h('td', { 'data-label': label }, ...content));
}

// A usage bar: a <meter> (high part shown in warning colours by the browser) and its text.
export function usageBar(used, total, text) {
  return h('div', { class: 'pc-usage' },
    h('meter', { min: 0, max: total || 1, value: used || 0, high: (total || 1) * 0.9, optimum: 0, title: text }),
    h('small', {}, text));
}
