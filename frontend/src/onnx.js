// Just enough of an ONNX file, read in the browser without a runtime: its opset, its graph's input
// and output tensors (name, dtype, shape) and the arithmetic per item, counted the way the job
// manifest counts it (oracle/work/runtime.py flops_per_item: 2 K N per MatMul/Gemm with a constant
// [K, N] weight, one per element of every other node's constant operands).

const DTYPE = { 1: 'float32', 6: 'int32', 7: 'int64', 11: 'float64' };

function varint(b, at) {
  let value = 0n;
  let shift = 0n;
  for (let i = at; i < b.length && i < at + 10; i++) {
    value |= BigInt(b[i] & 0x7f) << shift;
    shift += 7n;
    if (!(b[i] & 0x80)) return [value, i + 1];
  }
  throw new Error('truncated varint');
}

/** Top-level fields of one protobuf message: Map(field -> [value (bigint) | Uint8Array]). */
export function fields(b) {
  const out = new Map();
  let at = 0;
  while (at < b.length) {
    const [key, next] = varint(b, at);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0) throw new Error('field number 0');
    at = next;
    let value;
    if (wire === 0) [value, at] = varint(b, at);
    else if (wire === 2) {
      const [len, n] = varint(b, at);
      if (n + Number(len) > b.length) throw new Error('a field runs past the end');
      value = b.subarray(n, n + Number(len));
      at = n + Number(len);
    } else if (wire === 1) {
      value = b.subarray(at, at + 8);
      at += 8;
    } else if (wire === 5) {
      value = b.subarray(at, at + 4);
      at += 4;
    } else throw new Error(`wire type ${wire}`);
    if (!out.has(field)) out.set(field, []);
    out.get(field).push(value);
  }
  return out;
}

const text = (v) => new TextDecoder().decode(v);
const first = (m, f) => m.get(f)?.[0];

/** Repeated int64 field: packed (one bytes value) or not (several varints). */
function ints(m, f) {
  const out = [];
  for (const v of m.get(f) || []) {
    if (typeof v === 'bigint') out.push(Number(v));
    else for (let at = 0; at < v.length; ) {
      const [x, n] = varint(v, at);
      out.push(Number(x));
      at = n;
    }
  }
  return out;
}

function tensorInfo(valueInfo) {
  const vi = fields(valueInfo);
  const name = text(first(vi, 1) || new Uint8Array());
  const type = first(vi, 2) && fields(first(vi, 2));
  const tensor = type && first(type, 1) && fields(first(type, 1));
  const elem = tensor ? Number(first(tensor, 1) || 0n) : 0;
  const shapeMsg = tensor && first(tensor, 2) && fields(first(tensor, 2));
  const shape = (shapeMsg?.get(1) || []).map((d) => {
    const dim = fields(d);
    return dim.has(1) ? Number(first(dim, 1)) : null;
  });
  return { name, dtype: DTYPE[elem] || `onnx-type-${elem}`, shape, itemShape: shape.slice(1) };
}

/** {opset, inputs, outputs, flopsPerItem} of an ONNX ModelProto's bytes (throws if it is not one). */
export function onnxInfo(bytes) {
  const model = fields(bytes);
  const graphBytes = first(model, 7);
  if (!model.has(1) || !graphBytes) throw new Error('not an ONNX model (no ir_version or no graph)');
  let opset = 0;
  for (const o of model.get(8) || []) {
    const op = fields(o);
    const domain = op.has(1) ? text(first(op, 1)) : '';
    if (domain === '' || domain === 'ai.onnx') opset = Math.max(opset, Number(first(op, 2) || 0n));
  }
  const graph = fields(graphBytes);
  const weights = new Map();
  for (const t of graph.get(5) || []) {
    const tensor = fields(t);
    weights.set(text(first(tensor, 8) || new Uint8Array()), ints(tensor, 1));
  }
  const initializers = new Set(weights.keys());
  let flops = 0;
  for (const n of graph.get(1) || []) {
    const node = fields(n);
    const op = text(first(node, 4) || new Uint8Array());
    const shapes = (node.get(1) || []).map(text).filter((x) => weights.has(x)).map((x) => weights.get(x));
    if ((op === 'MatMul' || op === 'Gemm') && shapes.length && shapes[0].length === 2) flops += 2 * shapes[0][0] * shapes[0][1];
    else flops += shapes.reduce((a, s) => a + s.reduce((p, d) => p * d, 1), 0);
  }
  const inputs = (graph.get(11) || []).map(tensorInfo).filter((t) => !initializers.has(t.name));
  const outputs = (graph.get(12) || []).map(tensorInfo);
  return { opset, inputs, outputs, flopsPerItem: Math.max(flops, 1) };
}
