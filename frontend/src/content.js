// Content addresses computed in the browser: SHA-256 (crypto.subtle) of a file's bytes, the same
// digest as a raw CIDv1 (what `ipfs add --cid-version 1 --raw-leaves` prints for a one-block file),
// and a structural check that a file is an ONNX model before it is minted.
import { bytesToHex } from 'viem';
import { fields, onnxInfo } from './onnx.js';

export async function sha256(bytes) {
  return bytesToHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));
}

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** CIDv1, raw codec (0x55), sha2-256 multihash, multibase base32 lower case ("b..."). */
export function cidOf(digestHex) {
  const digest = digestHex.slice(2).match(/../g).map((x) => parseInt(x, 16));
  const bytes = [0x01, 0x55, 0x12, 0x20, ...digest];
  let out = 'b';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

/**
 * {irVersion, opset, inputs, outputs, flopsPerItem} of an ONNX file's bytes, or a sentence saying
 * why the file is not an ONNX model.
 */
export function checkOnnx(bytes) {
  const notOnnx = (why) => new Error(`This file is not an ONNX model (${why}). Export the model with torch.onnx.export or skl2onnx and pick the .onnx file.`);
  if (!bytes.length) throw notOnnx('it is empty');
  let top;
  try {
    top = fields(bytes);
  } catch (err) {
    throw notOnnx(`its bytes are not a protobuf message: ${err.message}`);
  }
  if (!top.has(1) || typeof top.get(1)[0] !== 'bigint') throw notOnnx('no ir_version');
  if (!top.has(7) || !(top.get(7)[0] instanceof Uint8Array)) throw notOnnx('no graph');
  let info;
  try {
    info = onnxInfo(bytes);
  } catch (err) {
    throw notOnnx(`its graph does not parse: ${err.message}`);
  }
  return { irVersion: Number(top.get(1)[0]), ...info };
}
