// Providers: every registered GPU with its verified figures (latest attestation), epoch and stake,
// plus a chart of measured throughput per precision.
import { nodeRecord } from '../snapshot.js';
import { barChart } from '../charts.js';
import { h, keyOf, renderIfChanged, short, table, tokens } from '../ui.js';

export const id = 'providers';
const PRECISIONS = ['fp32', 'tf32', 'fp16', 'bf16'];

export function mount(body) {
  const tableEl = h('div', { id: 'providers-table-wrap' });
  const chartEl = h('div', { id: 'throughput-chart' });
  body.append(tableEl, h('h3', {}, 'Measured throughput per precision (TFLOPS, verified by validators)'), chartEl);
  return function renderProviders(snap) {
    const nodes = [...snap.nodes.values()].filter((n) => n.owner).map((n) => ({ ...n, record: nodeRecord(snap, n) }));
    const now = snap.time;
    renderIfChanged(tableEl, keyOf([nodes, now > 0 && nodes.map((n) => n.record && Number(n.record.expiry) < now)]), () => providersTable(nodes, now));
    renderIfChanged(chartEl, keyOf(nodes.map((n) => n.record)), () => throughputChart(nodes));
  };

  function providersTable(nodes, now) {
    const rows = nodes.map((n) => {
      const r = n.record;
      const attested = r && r.epoch > 0n;
      const expired = attested && Number(r.expiry) < now;
      const figures = !attested
        ? 'not attested yet'
        : r.fp32 === undefined
          ? `score ${r.score} (figures not found in the registry's events)`
          : `${PRECISIONS.map((p) => `${p} ${(r[p] / 100).toFixed(r[p] < 1000 ? 2 : 1)}`).join(' · ')} TFLOPS · ${r.memBandwidth} GB/s · score ${r.score}`;
      return h(
        'tr',
        { 'data-node': n.nodeId },
        h('td', {}, h('div', {}, n.gpuModel), h('div', { class: 'muted mono' }, `${(n.vramMiB / 1024).toFixed(0)} GiB · ${short(n.nodeId)}`)),
        h('td', { class: 'mono', title: n.owner }, short(n.owner), h('div', { class: 'muted' }, n.metadataURI)),
        h('td', { class: 'num' }, figures),
        h(
          'td',
          {},
          attested ? h('span', { class: `pill ${expired ? 'bad' : 'ok'}`, 'data-epoch': r.epoch.toString() }, `epoch ${r.epoch}${expired ? ' (expired)' : ''}`) : h('span', { class: 'pill warn' }, 'pending'),
        ),
        h('td', { class: 'num' }, tokens(n.stake)),
        h('td', {}, n.active ? h('span', { class: 'pill ok' }, 'active') : h('span', { class: 'pill bad' }, 'removed')),
      );
    });
    return table(['GPU', 'provider', 'verified figures', 'last attestation', 'stake', 'status'], rows, { id: 'providers-table' });
  }

  function throughputChart(nodes) {
    const groups = nodes
      .filter((n) => n.record && n.record.epoch > 0n && n.record.fp32 !== undefined)
      .map((n) => ({
        label: `${n.gpuModel.replace(/^NVIDIA\s+/, '').slice(0, 14)} ${short(n.nodeId).slice(2, 6)}`,
        values: Object.fromEntries(PRECISIONS.map((p) => [p, n.record[p] / 100])),
      }));
    return barChart({ groups, series: PRECISIONS, unit: 'TFLOPS', title: 'measured throughput per precision' });
  }
}
