// Providers: every registered GPU with its verified figures (latest attestation), performance per
// watt, what the validators' anomaly check said of it, epoch and stake; sorted by score, perf/W or
// stake and filtered by a minimum perf/W; plus a chart of measured throughput per precision.
import { nodeRecord } from '../snapshot.js';
import { barChart } from '../charts.js';
import { anomalyKey, anomalyProblems, lowers, multiplierText, nodeAnomaly, reasonSentence, refreshAnomaly, validatorEndpoints } from '../anomaly.js';
import { h, keyOf, renderIfChanged, short, table, tokens } from '../ui.js';

export const id = 'providers';
const PRECISIONS = ['fp32', 'tf32', 'fp16', 'bf16'];
const PERF_W = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const SORTS = { score: 'score', perfW: 'perf/W (fp32 GFLOPS per W)', stake: 'stake' };

/**
 * Attested fp32 per watt: {value (GFLOPS/W) or null, text, estimate}. fp32 is TFLOPS x 100, so
 * GFLOP/s = fp32 x 10; powerW 0 means the attestation carries no power reading.
 */
export function perfPerWatt(node, record) {
  if (!record || !(record.epoch > 0n)) return { value: null, text: 'not attested yet', estimate: false };
  if (record.fp32 === undefined) return { value: null, text: 'figures not found', estimate: false };
  const watts = Number(record.powerW || 0);
  if (!watts) return { value: null, text: 'no power reading', estimate: false };
  const value = (Number(record.fp32) * 10) / watts;
  // a CPU node's power is the process's CPU time x an assumed draw per core (oracle/energy.py)
  const estimate = /^cpu\b/i.test(node.gpuModel || '');
  return { value, text: `${PERF_W.format(value)} GFLOPS/W${estimate ? ' (CPU estimate)' : ''}`, estimate };
}

export function mount(body) {
  const sortEl = h(
    'select',
    { name: 'sort', id: 'providers-sort', 'aria-label': 'sort providers by' },
    Object.entries(SORTS).map(([v, label]) => h('option', { value: v }, label)),
  );
  const minEl = h('input', { name: 'min-perf-w', id: 'providers-min-perf-w', type: 'number', min: '0', step: 'any', inputmode: 'decimal', placeholder: '0' });
  const controls = h(
    'form',
    { class: 'row', id: 'providers-controls', onsubmit: (e) => e.preventDefault() },
    h('label', {}, 'Sort by ', sortEl),
    h('label', {}, 'Minimum perf/W (GFLOPS/W) ', minEl),
  );
  const filterNote = h('div', { class: 'muted', id: 'providers-shown' });
  const anomalyNote = h('div', { class: 'muted', id: 'anomaly-note' });
  const tableEl = h('div', { id: 'providers-table-wrap' });
  const chartEl = h('div', { id: 'throughput-chart' });
  body.append(controls, filterNote, tableEl, anomalyNote, h('h3', {}, 'Measured throughput per precision (TFLOPS, verified by validators)'), chartEl);
  let last = null;
  const redraw = () => last && renderProviders(last);
  sortEl.addEventListener('change', redraw);
  minEl.addEventListener('input', redraw);
  return renderProviders;

  function renderProviders(snap) {
    last = snap;
    refreshAnomaly(redraw);
    const nodes = [...snap.nodes.values()]
      .filter((n) => n.owner)
      .map((n) => {
        const record = nodeRecord(snap, n);
        return { ...n, record, perfW: perfPerWatt(n, record) };
      });
    const now = snap.time;
    const min = minimum();
    const sort = sortEl.value;
    const shown = ordered(nodes.filter((n) => !min.value || (n.perfW.value !== null && n.perfW.value >= min.value)), sort);
    filterNote.textContent = min.error || (min.value ? `${shown.length} of ${nodes.length} nodes at or above ${PERF_W.format(min.value)} GFLOPS/W (nodes without a power reading are left out)` : '');
    filterNote.className = min.error ? 'msg error' : 'muted';
    const expired = now > 0 && shown.map((n) => n.record && Number(n.record.expiry) < now);
    renderIfChanged(tableEl, keyOf([shown, expired, anomalyKey(), sort, min.value > 0]), () => providersTable(shown, now, min.value > 0 && nodes.length > 0));
    renderIfChanged(anomalyNote, keyOf(anomalyKey()), anomalySummary);
    renderIfChanged(chartEl, keyOf(nodes.map((n) => n.record)), () => throughputChart(nodes));
  }

  function minimum() {
    const text = minEl.value.trim();
    if (!text) return { value: 0 };
    const v = Number(text);
    if (!Number.isFinite(v) || v < 0) return { value: 0, error: `"${text}" is not a perf/W: type a number of GFLOPS per W like 50, or leave it empty for every node.` };
    return { value: v };
  }

  // Only what was attested: a precision the node does not have (or a CPU's missing fp16) and the
  // memory bandwidth (no longer attested: a challenge cannot bound it) read as absent, not as 0.
  function attestedFigures(r) {
    const shown = PRECISIONS.filter((p) => Number(r[p]) > 0).map((p) => `${p} ${(Number(r[p]) / 100).toFixed(r[p] < 1000 ? 2 : 1)}`);
    const missing = PRECISIONS.filter((p) => !(Number(r[p]) > 0));
    const bw = Number(r.memBandwidth) > 0 ? ` · ${r.memBandwidth} GB/s` : '';
    return `${shown.length ? `${shown.join(' · ')} TFLOPS` : 'no precision attested'}${bw} · score ${r.score}${missing.length ? ` (not attested: ${missing.join(', ')})` : ''}`;
  }

  function providersTable(nodes, now, filtered) {
    const rows = nodes.map((n) => {
      const r = n.record;
      const attested = r && r.epoch > 0n;
      const expired = attested && Number(r.expiry) < now;
      const figures = !attested
        ? 'not attested yet'
        : r.fp32 === undefined
          ? `score ${r.score} (figures not found in the registry's events)`
          : attestedFigures(r);
      return h(
        'tr',
        { 'data-node': n.nodeId },
        h('td', {}, h('div', {}, n.gpuModel), h('div', { class: 'muted mono' }, `${(n.vramMiB / 1024).toFixed(0)} GiB · ${short(n.nodeId)}`)),
        h('td', { class: 'mono', title: n.owner }, short(n.owner), h('div', { class: 'muted' }, n.metadataURI)),
        h('td', { class: 'num' }, figures),
        h(
          'td',
          { class: 'num', 'data-perf-w': n.perfW.value === null ? '' : String(n.perfW.value) },
          n.perfW.value === null ? h('span', { class: 'muted' }, n.perfW.text) : n.perfW.text,
          // power is the provider's own NVML reading (not proven like the TFLOPS), attested only within
          // what its card can draw at the proven load (oracle/validator/figures.py:attestable_power)
          attested && r.powerW
            ? h('div', { class: 'muted', title: 'reported by the provider, bounded by its card: at most its board power, at least what its proven load needs at the spec sheet’s efficiency' }, `at ${PERF_W.format(Number(r.powerW))} W (reported, bounded)`)
            : null,
        ),
        h('td', { class: 'anomaly' }, anomalyCell(n.nodeId)),
        h(
          'td',
          {},
          attested ? h('span', { class: `pill ${expired ? 'bad' : 'ok'}`, 'data-epoch': r.epoch.toString() }, `epoch ${r.epoch}${expired ? ' (expired)' : ''}`) : h('span', { class: 'pill warn' }, 'pending'),
        ),
        h('td', { class: 'num' }, tokens(n.stake)),
        h('td', {}, n.active ? h('span', { class: 'pill ok' }, 'active') : h('span', { class: 'pill bad' }, 'removed')),
      );
    });
    const headers = ['GPU', 'provider', 'verified figures', 'perf/W', 'anomaly check', 'last attestation', 'stake', 'status'];
    return table(headers, rows, { id: 'providers-table' }, filtered ? 'no node at or above this perf/W' : 'none yet');
  }

  function anomalyCell(nodeId) {
    const a = nodeAnomaly(nodeId);
    const wrap = (children) => h('div', { 'data-anomaly': a.status, 'data-anomaly-epoch': a.epoch, 'data-multiplier-ppm': a.multiplierPpm }, children);
    if (a.status === 'no-endpoint') return wrap(h('span', { class: 'muted' }, 'no validator endpoint known'));
    if (a.status === 'asking') return wrap(h('span', { class: 'muted' }, 'asking the validators…'));
    if (a.status === 'unreachable') return wrap(h('span', { class: 'muted' }, 'no validator answered (see below the table)'));
    if (a.status === 'not-assessed') return wrap(h('span', { class: 'muted' }, `not assessed by the validators in epoch ${a.epoch} (registered or attested since)`));
    const signals = a.reasons.filter(lowers);
    const notes = a.reasons.filter((r) => !lowers(r));
    const cls = a.multiplierPpm >= 1_000_000 ? 'ok' : a.multiplierPpm >= 500_000 ? 'warn' : 'bad';
    return wrap([
      h('span', { class: `pill ${cls}` }, `score ${multiplierText(a.multiplierPpm)}`),
      signals.length ? h('ul', { class: 'reasons' }, signals.map((r) => h('li', { 'data-kind': r.kind }, reasonSentence(r)))) : null,
      notes.length
        ? h('details', { class: 'muted' }, h('summary', {}, `not checked (${notes.length})`), h('ul', { class: 'reasons' }, notes.map((r) => h('li', { 'data-kind': r.kind }, reasonSentence(r)))))
        : null,
      h('div', { class: 'muted' }, `epoch ${a.epoch} · ${a.from.length} of ${validatorEndpoints().length} validators`),
      a.disagree.length ? h('div', { class: 'msg error' }, `Validators disagree on this node: ${a.disagree.join(', ')} ${a.disagree.length === 1 ? 'serves' : 'serve'} another multiplier.`) : null,
    ]);
  }

  function anomalySummary() {
    const urls = validatorEndpoints();
    if (!urls.length) return h('span', {}, 'Anomaly check: no validator endpoint known (the deployment file names none in validatorEndpoints).');
    const problems = anomalyProblems();
    return h(
      'span',
      {},
      `Anomaly check: read from ${urls.length} validator${urls.length === 1 ? '' : 's'} (GET /anomaly, every 30 s).`,
      problems.length ? h('ul', { class: 'reasons' }, problems.map((p) => h('li', {}, p))) : null,
    );
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

/** Nodes in the chosen order, best first; nodes without the figure last; ties by node id. */
function ordered(nodes, sort) {
  const value = (n) => {
    if (sort === 'perfW') return n.perfW.value;
    if (sort === 'stake') return n.stake === undefined ? null : n.stake;
    return n.record && n.record.epoch > 0n ? Number(n.record.score) : null;
  };
  return [...nodes].sort((x, y) => {
    const a = value(x);
    const b = value(y);
    if (a === null || b === null) return a === b ? cmp(x.nodeId, y.nodeId) : a === null ? 1 : -1;
    return a === b ? cmp(x.nodeId, y.nodeId) : a > b ? -1 : 1;
  });
}

const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
