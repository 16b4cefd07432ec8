// Providers: every registered GPU with its verified figures (latest attestation), epoch and stake,
// plus a chart of measured throughput per precision.
import { hexToString } from 'viem';
import { events, has, read } from '../chain.js';
import { barChart } from '../charts.js';
import { h, short, table, tokens } from '../ui.js';

export const id = 'providers';
export const registryName = () => ['AttestationRegistry'].find(has);
const PRECISIONS = ['fp32', 'tf32', 'fp16', 'bf16'];

export async function loadNodes() {
  if (!has('ComputeStaking')) return [];
  const regs = await events('ComputeStaking', 'NodeRegistered');
  const latest = new Map();
  for (const l of regs) latest.set(l.args.nodeId, l);
  const reg = registryName();
  // The registry stores only provider, epoch, expiry and score per node; the verified figures are
  // in the AttestationRecorded event of that epoch (the newest one per node wins).
  const attested = new Map();
  for (const l of reg ? await events(reg, 'AttestationRecorded').catch(() => []) : []) {
    attested.set(`${l.args.nodeId}:${l.args.attestation.epoch}`, l.args.attestation);
  }
  return Promise.all(
    [...latest.values()].map(async (l) => {
      const nodeId = l.args.nodeId;
      const [info, pinfo, stored] = await Promise.all([
        read('ComputeStaking', 'nodeInfo', [nodeId]),
        read('ComputeStaking', 'providerInfo', [l.args.provider]),
        reg ? read(reg, 'recordOf', [nodeId]).catch(() => null) : null,
      ]);
      const [owner, gpuModel, vramMiB, metadataURI, active] = info;
      const figures = stored && attested.get(`${nodeId}:${stored.epoch}`);
      const record = stored && { ...(figures || {}), ...stored };
      return { nodeId, owner, gpuModel, vramMiB, metadataURI, active, stake: pinfo[0], record };
    }),
  );
}

export function mount(body) {
  const tableEl = h('div', { id: 'providers-table-wrap' });
  const chartEl = h('div', { id: 'throughput-chart' });
  body.append(tableEl, h('h3', {}, 'Measured throughput per precision (TFLOPS, verified by validators)'), chartEl);
  return async function refreshProviders() {
    const nodes = await loadNodes();
    const now = Date.now() / 1000;
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
    tableEl.replaceChildren(table(['GPU', 'provider', 'verified figures', 'last attestation', 'stake', 'status'], rows, { id: 'providers-table' }));
    const groups = nodes
      .filter((n) => n.record && n.record.epoch > 0n && n.record.fp32 !== undefined)
      .map((n) => ({
        label: `${n.gpuModel.replace(/^NVIDIA\s+/, '').slice(0, 14)} ${short(n.nodeId).slice(2, 6)}`,
        values: Object.fromEntries(PRECISIONS.map((p) => [p, n.record[p] / 100])),
      }));
    chartEl.replaceChildren(barChart({ groups, series: PRECISIONS, unit: 'TFLOPS', title: 'measured throughput per precision' }));
  };
}

export const gpuName = (b32) => {
  try {
    return hexToString(b32, { size: 32 }).replace(/\0+$/, '');
  } catch {
    return b32;
  }
};
