// A batch job from the page (issue 14): choose a minted ONNX model's file and an input file; the
// page checks both (the file's SHA-256 is the model id, the inputs fit the model's input), builds
// the manifest, puts the model, the inputs and the manifest on a blob endpoint (the one given, else
// the job agent a node names in GET <metadataURI>/services, else its metadataURI), posts the job with
// specHash = sha256(manifest) (with the optional energy terms: max mJ per item, min GFLOP/s per W,
// "prefer efficient providers", which the providers' agents honour at acceptance), then shows the outputs once the provider submits, checked against
// its resultHash first (for a digits model, each predicted label next to its input).
import { contract, send, state } from '../chain.js';
import { checkOnnx, sha256 } from '../content.js';
import { act, field, h, parseAmount, short } from '../ui.js';
import { blobRef, buildManifest, checkOutputs, energyTerms, inputTensor, itemValues } from '../work.js';
import { ensureAllowance } from './staking.js';

// Where files go and where outputs come from (the provider agent's blob endpoint, oracle/work/blobs.py).
export const BLOB_PATH = (digestHex) => `/blobs/${digestHex.slice(2)}`;
export const OUTPUTS_PATH = (jobId) => `/jobs/${jobId}/outputs`;
export const SERVICES_PATH = '/services'; // a node's discovery document (oracle/services.py)
const NODES_ASKED = 8; // nodes whose /services the form asks for a job agent, at most
const SHOWN = 24; // items drawn next to their outputs
const MANIFESTS = 'gpu-compute:manifest:'; // localStorage: specHash -> manifest JSON (<= 16 KiB)

const inputsBySpec = new Map(); // specHash -> input tensor of this visit (else fetched by its address)

async function putBlob(endpoint, bytes, digestHex) {
  const url = `${endpoint}${BLOB_PATH(digestHex)}`;
  let res;
  try {
    res = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
  } catch {
    throw new Error(`Cannot reach the blob endpoint ${endpoint}: is the provider agent (or your compute client) serving blobs there?`);
  }
  if (!res.ok) {
    const why = await res
      .json()
      .then((j) => j.error)
      .catch(() => '');
    throw new Error(`The blob endpoint refused ${short(digestHex)} (HTTP ${res.status}${why ? `: ${why}` : ''}).`);
  }
  return url;
}

/** The form; `ctx` = {snap(): latest snapshot, msg, refresh}. */
export function runForm(ctx) {
  const form = h(
    'form',
    { class: 'row', id: 'run-job-form' },
    h('label', {}, 'model file (ONNX, minted)', h('input', { type: 'file', name: 'modelFile', accept: '.onnx', 'aria-label': 'model file' })),
    h('label', {}, 'inputs (.npy or raw)', h('input', { type: 'file', name: 'inputFile', 'aria-label': 'input file' })),
    field('budget (GPU)', 'budget', { value: '20', inputmode: 'decimal' }),
    field('deadline (minutes)', 'minutes', { value: '30', inputmode: 'numeric' }),
    field('blob endpoint', 'blobs', { class: 'wide', placeholder: 'http://… (empty: a node’s job agent, from its /services)' }),
    field('max mJ per item (optional)', 'maxMj', { inputmode: 'numeric', placeholder: 'no cap', title: 'providers whose energy per item is above this decline the job' }),
    field('min GFLOP/s per W (optional)', 'minPerfW', { inputmode: 'numeric', placeholder: 'any', title: 'only nodes attested at least this efficient take the job' }),
    h('label', { title: 'attested nodes with more GFLOP/s per W get the first chance to take the job' }, h('input', { type: 'checkbox', name: 'preferEfficient', 'aria-label': 'prefer efficient providers' }), ' prefer efficient providers'),
    h('button', { type: 'submit' }, 'Post job with these inputs'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = new FormData(form);
    act(ctx.msg, form.querySelector('button'), 'Checking the files and posting the job…', async () => {
      if (!state.account) throw new Error('Connect a wallet first.');
      const modelFile = f.get('modelFile');
      const inputFile = f.get('inputFile');
      if (!modelFile?.size) throw new Error('Choose the model’s ONNX file (its SHA-256 is the model id).');
      if (!inputFile?.size) throw new Error('Choose an input file: a .npy array [count, …] or raw little-endian values.');
      const modelBytes = new Uint8Array(await modelFile.arrayBuffer());
      const model = checkOnnx(modelBytes);
      const modelHex = await sha256(modelBytes);
      const snap = ctx.snap();
      if (!snap.models.has(BigInt(modelHex))) throw new Error(`No model NFT has id ${short(modelHex)} (this file’s SHA-256): mint it first in Models.`);
      if (model.inputs.length !== 1) throw new Error(`The model has ${model.inputs.length} inputs; a job feeds exactly one.`);
      const inputs = inputTensor(new Uint8Array(await inputFile.arrayBuffer()), model.inputs[0], inputFile.name);
      const energy = energyTerms(f.get('maxMj'), f.get('minPerfW'), f.get('preferEfficient') === 'on');
      const endpoint = String(f.get('blobs') || '').trim().replace(/\/+$/, '') || (await defaultEndpoint(snap));
      if (!/^https?:\/\//.test(endpoint)) throw new Error('Give the blob endpoint (http://…) where the provider fetches the files.');
      const budget = parseAmount(f.get('budget'));
      const minutes = Number(f.get('minutes'));
      if (!(minutes > 0)) throw new Error('The deadline must be a positive number of minutes.');
      const deadline = BigInt(snap.time || Math.floor(Date.now() / 1000)) + BigInt(Math.round(minutes * 60));
      const inputHex = await sha256(inputs.data);
      const modelBlob = await blobRef(modelBytes, [`${endpoint}${BLOB_PATH(modelHex)}`]);
      const inputBlob = await blobRef(inputs.data, [`${endpoint}${BLOB_PATH(inputHex)}`]);
      const manifest = await buildManifest({ model, modelBlob, inputs, inputBlob, deadline, energy });
      await putBlob(endpoint, modelBytes, modelHex);
      await putBlob(endpoint, inputs.data, inputHex);
      await putBlob(endpoint, manifest.bytes, manifest.specHash);
      localStorage.setItem(MANIFESTS + manifest.specHash, JSON.stringify(manifest.json));
      inputsBySpec.set(manifest.specHash, inputs);
      await ensureAllowance(contract('JobEscrow').address, budget);
      await send('JobEscrow', 'postJob', [budget, deadline, 0, BigInt(modelHex), manifest.specHash]);
      ctx.refresh();
      const terms = energy ? `, energy terms ${Object.entries(energy).map(([k, v]) => `${k} ${v}`).join(', ')}` : '';
      return `Job posted: ${inputs.count} items for model ${short(modelHex)} (manifest ${short(manifest.specHash)}${terms}).`;
    });
  });
  return form;
}

/** A node's registered URL without its `#key=…` fragment and trailing slash. */
const nodeBase = (uri) => String(uri || '').split('#')[0].replace(/\/+$/, '');

const discovered = new Map(); // node base URL -> promise of its job agent's URL (null: none named)

/** The job agent of the node registered at `uri`: what its GET /services names, else null. */
function jobsService(uri) {
  const base = nodeBase(uri);
  if (!discovered.has(base)) {
    discovered.set(
      base,
      fetch(`${base}${SERVICES_PATH}`, { signal: AbortSignal.timeout(4000) })
        .then((r) => (r.ok ? r.json() : null))
        .then((doc) => (typeof doc?.jobs === 'string' && /^https?:\/\//.test(doc.jobs) ? doc.jobs.replace(/\/+$/, '') : null))
        .catch(() => {
          discovered.delete(base); // unreachable now: ask again next time
          return null;
        }),
    );
  }
  return discovered.get(base);
}

/** Where a node's job outputs and blobs are: its discovered job agent, else its metadataURI. */
async function jobsEndpoint(uri) {
  return (await jobsService(uri)) || nodeBase(uri);
}

/** The blob endpoint when the form leaves it empty: the first active node that names a job agent
 * in its /services, else the first active node's metadataURI. */
async function defaultEndpoint(snap) {
  const nodes = [...snap.nodes.values()].filter((n) => n.active && /^https?:\/\//.test(n.metadataURI || '')).slice(0, NODES_ASKED);
  const agents = await Promise.all(nodes.map((n) => jobsService(n.metadataURI)));
  const i = agents.findIndex(Boolean);
  return i >= 0 ? agents[i] : nodes.length ? nodeBase(nodes[0].metadataURI) : '';
}

export const manifestOf = (specHash) => {
  const text = localStorage.getItem(MANIFESTS + specHash);
  return text ? JSON.parse(text) : null;
};

async function inputsOf(manifest, specHash) {
  if (inputsBySpec.has(specHash)) return inputsBySpec.get(specHash);
  for (const url of manifest.inputs.blob.urls) {
    try {
      const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
      if ((await sha256(bytes)) !== manifest.inputs.blob.sha256) continue; // nothing trusted for where it came from
      const itemSize = bytes.length / manifest.inputs.count;
      const inputs = { dtype: manifest.inputs.dtype, itemShape: manifest.inputs.item_shape, itemSize, count: manifest.inputs.count, data: bytes };
      inputsBySpec.set(specHash, inputs);
      return inputs;
    } catch {
      /* next address */
    }
  }
  return null;
}

function thumbnail(values, shape) {
  const side = Math.round(Math.sqrt(values.length));
  if (shape.length > 2 || side * side !== values.length) return h('span', { class: 'mono' }, `[${values.slice(0, 4).map((v) => +v.toFixed(2)).join(', ')}…]`);
  const c = h('canvas', { width: side, height: side, class: 'thumb' });
  const g = c.getContext('2d');
  const img = g.createImageData(side, side);
  const max = Math.max(1e-9, ...values);
  values.forEach((v, i) => {
    const level = 255 - Math.round((Math.max(0, v) / max) * 255);
    img.data.set([level, level, level, 255], i * 4);
  });
  g.putImageData(img, 0, 0);
  return c;
}

/** The predicted label of item `i`: an integer output, else the argmax of the first float one. */
function labelOf(manifest, outputs, i) {
  const int = manifest.outputs.find((o) => o.dtype.startsWith('int') && o.item_shape.length === 0);
  if (int) return outputs[int.name][i];
  const o = manifest.outputs[0];
  const v = outputs[o.name][i];
  return Array.isArray(v) ? v.indexOf(Math.max(...v)) : v;
}

/** {button, outputs}: "Show outputs" for a job this browser posted once the provider submitted, and where they appear. */
const views = new Map(); // jobId -> its outputs view (kept across redraws of the table)
export function outputsButton(snap, job, msg) {
  const manifest = manifestOf(job.posted.specHash);
  if (!manifest || !job.submitted) return null;
  if (views.has(job.jobId)) return views.get(job.jobId);
  const node = job.accepted && snap.nodes.get(job.accepted.nodeId);
  const uri = node?.metadataURI;
  const out = h('div', { class: 'outputs', 'data-outputs': job.jobId.toString() });
  const b = h('button', { class: 'secondary', 'data-action': 'outputs' }, 'Show outputs');
  b.addEventListener('click', () =>
    act(msg, b, 'Fetching and checking the outputs…', async () => {
      if (!uri) throw new Error('The provider’s node has no endpoint to fetch the outputs from.');
      const endpoint = await jobsEndpoint(uri);
      let res;
      try {
        res = await fetch(`${endpoint}${OUTPUTS_PATH(job.jobId)}`);
      } catch {
        throw new Error(`Cannot reach the provider at ${endpoint} for the outputs.`);
      }
      if (!res.ok) {
        const why = await res
          .json()
          .then((j) => j.error)
          .catch(() => '');
        throw new Error(`The provider has no outputs for job ${job.jobId} (HTTP ${res.status}${why ? `: ${why}` : ''}).`);
      }
      const bytes = new Uint8Array(await res.arrayBuffer());
      const outputs = await checkOutputs(manifest, bytes, job.submitted.resultHash);
      const inputs = await inputsOf(manifest, job.posted.specHash);
      const shown = Math.min(SHOWN, manifest.inputs.count);
      out.replaceChildren(
        ...Array.from({ length: shown }, (_, i) =>
          h('figure', { class: 'item' }, inputs ? thumbnail(itemValues(inputs, i), manifest.inputs.item_shape) : h('span', { class: 'muted' }, `#${i}`), h('figcaption', { 'data-output-label': String(labelOf(manifest, outputs, i)) }, String(labelOf(manifest, outputs, i)))),
        ),
      );
      return `Outputs of job ${job.jobId} match the provider’s commitment (${manifest.inputs.count} items${shown < manifest.inputs.count ? `, first ${shown} shown` : ''}).`;
    }),
  );
  const view = { button: b, outputs: out };
  views.set(job.jobId, view);
  return view;
}
