// A batch job's files, built and checked in the browser exactly as the oracle builds them
// (oracle/work/items.py, manifest.py, content.py): the input file (C-order little-endian tensor
// [count, *item_shape], from a .npy or a raw file), the Merkle root over its items (leaf j over the
// manifest's tree.leaf_items items from j * leaf_items: sha256(0x00 || uint32_be(j) || their bytes),
// node sha256(0x01 || left || right), an odd last node carried up), the canonical manifest whose SHA-256 is the job's specHash, and the outputs file checked
// against the provider's resultHash before anything is shown.
import { bytesToHex } from 'viem';
import { cidOf, sha256 } from './content.js';

export const DTYPE_BYTES = { float32: 4, float64: 8, int32: 4, int64: 8 };
const NPY_DESCR = { '<f4': 'float32', '<f8': 'float64', '<i4': 'int32', '<i8': 'int64' };
export const DEFAULT_TOLERANCE = '1e-4'; // oracle/work/equality.py DEFAULT_ATOL = DEFAULT_RTOL
export const LEAF_ITEMS = 64; // oracle/work/items.py DEFAULT_LEAF_ITEMS: items per leaf of a job's trees
const MAX_MANIFEST_BYTES = 16 * 1024;

const digest = async (bytes) => new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));

/** Merkle root (0x hex) over fixed-size items of `data`, `group` items a leaf (the last takes the rest). */
export async function itemsRoot(data, itemSize, group = 1) {
  if (!itemSize || data.length % itemSize) throw new Error(`${data.length} bytes is not a whole number of ${itemSize}-byte items.`);
  const count = data.length / itemSize;
  if (!count) throw new Error('A job has at least one item.');
  const span = itemSize * group;
  let level = await Promise.all(
    Array.from({ length: Math.ceil(count / group) }, (_, j) => {
      const members = data.subarray(j * span, Math.min((j + 1) * span, data.length));
      const leaf = new Uint8Array(5 + members.length);
      leaf[0] = 0;
      new DataView(leaf.buffer).setUint32(1, j, false);
      leaf.set(members, 5);
      return digest(leaf);
    }),
  );
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i + 1 < level.length; i += 2) {
      const node = new Uint8Array(65);
      node[0] = 1;
      node.set(level[i], 1);
      node.set(level[i + 1], 33);
      next.push(digest(node));
    }
    const carried = level.length % 2 ? level[level.length - 1] : null;
    level = await Promise.all(next);
    if (carried) level.push(carried);
  }
  return bytesToHex(level[0]);
}

/** The tensor of a .npy file (v1-3, little-endian, C order): {dtype, shape, data}. */
export function parseNpy(bytes) {
  if (bytes.length < 10 || bytes[0] !== 0x93 || String.fromCharCode(...bytes.subarray(1, 6)) !== 'NUMPY') throw new Error('not a .npy file');
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] || '').split(',').map((x) => x.trim()).filter(Boolean).map(Number);
  const dtype = NPY_DESCR[descr];
  if (!dtype) throw new Error(`.npy dtype ${descr} is not one a job takes (float32, float64, int32, int64, little-endian)`);
  if (fortran) throw new Error('.npy in Fortran order: save it with np.save(f, np.ascontiguousarray(x))');
  return { dtype, shape, data: bytes.subarray(start + headerLen) };
}

/**
 * The job's input tensor from a file: a .npy gives dtype and shape; a raw file is read as the
 * model's input dtype with the model's item shape. Checked against the model's input.
 */
export function inputTensor(bytes, modelInput, fileName = '') {
  const itemShape = modelInput.itemShape;
  if (itemShape.some((d) => d === null)) throw new Error(`The model's input ${modelInput.name} has a dynamic item shape; a job needs a fixed one.`);
  let dtype = modelInput.dtype;
  let data = bytes;
  let shape = null;
  if (bytes[0] === 0x93 || /\.npy$/i.test(fileName)) ({ dtype, shape, data } = parseNpy(bytes));
  if (dtype !== modelInput.dtype) throw new Error(`The inputs are ${dtype}, the model takes ${modelInput.dtype}.`);
  const itemSize = itemShape.reduce((a, d) => a * d, 1) * DTYPE_BYTES[dtype];
  if (shape && shape.slice(1).join(',') !== itemShape.join(',')) throw new Error(`The inputs' items are [${shape.slice(1)}], the model takes [${itemShape}].`);
  if (!data.length || data.length % itemSize) throw new Error(`${data.length} bytes is not a whole number of items of [${itemShape}] ${dtype} (${itemSize} bytes each).`);
  return { dtype, itemShape, itemSize, count: data.length / itemSize, data: new Uint8Array(data) };
}

/** A blob reference as the manifest writes it. */
export async function blobRef(bytes, urls = []) {
  const hex = await sha256(bytes);
  return { sha256: hex, cid: cidOf(hex), size: bytes.length, urls };
}

/** Canonical JSON (keys sorted, no whitespace, no floats), as oracle/work/manifest.py canonical_json. */
export function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`)
      .join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isInteger(value)) throw new Error('a manifest holds no floats');
  return JSON.stringify(value);
}

export const ENERGY_MAX = 10 ** 12; // oracle/energy.py POLICY_MAX

/**
 * The manifest's optional energy terms from the form's text (oracle/work/manifest.py: only the terms
 * set, integers 1..10^12; prefer_efficient only when true): {max_mj_per_item?, min_gflops_per_watt?,
 * prefer_efficient?}, or null when none is set.
 */
export function energyTerms(maxMj, minPerfW, preferEfficient = false) {
  const terms = {};
  for (const [key, text, label] of [
    ['max_mj_per_item', maxMj, 'max mJ per item'],
    ['min_gflops_per_watt', minPerfW, 'min GFLOP/s per W'],
  ]) {
    const t = String(text ?? '').trim();
    if (!t) continue;
    const n = Number(t);
    if (!/^[0-9]+$/.test(t) || !Number.isSafeInteger(n) || n < 1 || n > ENERGY_MAX) throw new Error(`${label} must be a whole number from 1 to ${ENERGY_MAX} (or empty: no such term).`);
    terms[key] = n;
  }
  if (preferEfficient) terms.prefer_efficient = true; // only when true, as the manifest wants it
  return Object.keys(terms).length ? terms : null;
}

/** The manifest of running `model` (onnxInfo + its blob ref) on `inputs`: {json, bytes, specHash}. */
export async function buildManifest({ model, modelBlob, inputs, inputBlob, deadline, energy = null }) {
  const input = model.inputs[0];
  const manifest = {
    version: 1,
    kind: 'onnx-batch',
    model: modelBlob,
    runtime: { format: 'onnx', opset: model.opset },
    inputs: { name: input.name, dtype: inputs.dtype, item_shape: inputs.itemShape, count: inputs.count, root: await itemsRoot(inputs.data, inputs.itemSize, LEAF_ITEMS), blob: inputBlob },
    outputs: model.outputs.map((o) => {
      if (o.itemShape.some((d) => d === null)) throw new Error(`The model's output ${o.name} has a dynamic item shape; a job needs a fixed one.`);
      return { name: o.name, dtype: o.dtype, item_shape: o.itemShape, equality: o.dtype.startsWith('int') ? { rule: 'exact' } : { rule: 'close', atol: DEFAULT_TOLERANCE, rtol: DEFAULT_TOLERANCE } };
    }),
    cost: { flops_per_item: model.flopsPerItem },
    deadline: Number(deadline),
    ...(energy ? { energy } : {}),
    tree: { leaf_items: LEAF_ITEMS },
  };
  const bytes = new TextEncoder().encode(canonicalJson(manifest));
  if (bytes.length > MAX_MANIFEST_BYTES) throw new Error(`The manifest is ${bytes.length} bytes, above the limit of ${MAX_MANIFEST_BYTES}.`);
  return { json: manifest, bytes, specHash: await sha256(bytes) };
}

function readValue(view, at, dtype) {
  if (dtype === 'float32') return view.getFloat32(at, true);
  if (dtype === 'float64') return view.getFloat64(at, true);
  if (dtype === 'int32') return view.getInt32(at, true);
  return Number(view.getBigInt64(at, true));
}

/**
 * The outputs file: one record per item, the outputs' slices concatenated in manifest order.
 * Throws unless its Merkle root is `resultHash` (the provider's commitment on chain).
 * Returns [{name: [values per item]}] as {name: array of per-item arrays (or scalars)}.
 */
export async function checkOutputs(manifest, bytes, resultHash) {
  const sizes = manifest.outputs.map((o) => o.item_shape.reduce((a, d) => a * d, 1) * DTYPE_BYTES[o.dtype]);
  const record = sizes.reduce((a, b) => a + b, 0);
  if (bytes.length !== record * manifest.inputs.count) throw new Error(`The outputs file is ${bytes.length} bytes; ${manifest.inputs.count} items of ${record} bytes were expected.`);
  const root = await itemsRoot(bytes, record, manifest.tree?.leaf_items ?? 1);
  if (root.toLowerCase() !== String(resultHash).toLowerCase()) throw new Error(`The outputs do not match the provider's commitment: their root is ${root}, the job's resultHash is ${resultHash}.`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = {};
  manifest.outputs.forEach((o, k) => {
    const offset = sizes.slice(0, k).reduce((a, b) => a + b, 0);
    const n = sizes[k] / DTYPE_BYTES[o.dtype];
    out[o.name] = Array.from({ length: manifest.inputs.count }, (_, i) => {
      const vals = Array.from({ length: n }, (_, j) => readValue(view, i * record + offset + j * DTYPE_BYTES[o.dtype], o.dtype));
      return o.item_shape.length ? vals : vals[0];
    });
  });
  return out;
}

/** Item `i` of the inputs as numbers (for drawing it next to its output). */
export function itemValues(inputs, i) {
  const view = new DataView(inputs.data.buffer, inputs.data.byteOffset + i * inputs.itemSize, inputs.itemSize);
  const w = DTYPE_BYTES[inputs.dtype];
  return Array.from({ length: inputs.itemSize / w }, (_, j) => readValue(view, j * w, inputs.dtype));
}
