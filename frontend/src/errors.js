// Turn any failure of a wallet or contract call into one readable sentence.
import { BaseError, ContractFunctionRevertedError, decodeErrorResult, formatEther } from 'viem';

let errorAbi = [];

/** Every custom error of every deployed contract, so a revert bubbling up from a nested call decodes too. */
export function registerErrorAbis(deployment) {
  const seen = new Set();
  errorAbi = [];
  for (const c of Object.values(deployment.contracts)) {
    for (const item of c.abi) {
      if (item.type !== 'error') continue;
      const key = `${item.name}(${item.inputs.map((i) => i.type).join(',')})`;
      if (!seen.has(key)) {
        seen.add(key);
        errorAbi.push(item);
      }
    }
  }
}

function fmtValue(v, input) {
  if (typeof v === 'bigint') {
    const name = (input?.name || '').toLowerCase();
    const looksLikeAmount = /amount|stake|balance|price|fee|payment|needed|required|have|want|available|min|max/.test(name);
    if (looksLikeAmount && v >= 10n ** 12n) return `${formatEther(v)} GPU (${v})`;
    return v.toString();
  }
  if (Array.isArray(v)) return `[${v.map((x) => fmtValue(x)).join(', ')}]`;
  return String(v);
}

/** "ErrorName(arg=value, ...)" for a decoded custom error. */
export function describeCustomError(errorName, args, abiItem) {
  const inputs = abiItem?.inputs || [];
  const parts = (args || []).map((a, i) => `${inputs[i]?.name || `arg${i}`}=${fmtValue(a, inputs[i])}`);
  return `${errorName}(${parts.join(', ')})`;
}

function findRevertData(err) {
  let e = err;
  for (let i = 0; e && i < 10; i++) {
    const d = e.data;
    if (typeof d === 'string' && d.startsWith('0x') && d.length >= 10) return d;
    if (d && typeof d === 'object' && typeof d.data === 'string' && d.data.startsWith('0x')) return d.data;
    e = e.cause;
  }
  return null;
}

function errorCode(err) {
  let e = err;
  for (let i = 0; e && i < 10; i++) {
    if (typeof e.code === 'number') return e.code;
    e = e.cause;
  }
  return undefined;
}

const OUT_OF_GAS = /out ?of ?gas|gas required exceeds|intrinsic gas/i;
const OUT_OF_GAS_TEXT = 'Out of gas: the transaction needs more gas than the limit allows (the block gas limit, or the limit your wallet set).';

/** A readable message for anything thrown by viem, a wallet, or our own code. */
export function readableError(err) {
  if (!err) return 'Unknown error.';
  const code = errorCode(err);
  if (code === 4001) return 'You rejected the request in your wallet (nothing was sent).';
  if (code === 4902) return 'Your wallet does not know this network yet.';
  if (err instanceof BaseError) {
    // Running out of gas is not the contract refusing: anvil says "EVM error OutOfGas", geth
    // "out of gas" or "gas required exceeds allowance"; check before the revert branch.
    if (OUT_OF_GAS.test(`${err.shortMessage || ''} ${err.details || ''} ${err.message || ''}`)) return OUT_OF_GAS_TEXT;
    const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
    if (reverted instanceof ContractFunctionRevertedError) {
      if (reverted.data?.errorName) {
        const item = errorAbi.find((x) => x.name === reverted.data.errorName) || reverted.data.abiItem;
        return `The contract refused: ${describeCustomError(reverted.data.errorName, reverted.data.args, item)}`;
      }
      if (reverted.reason) return `The contract refused: ${reverted.reason}`;
    }
    const data = findRevertData(err);
    if (data && errorAbi.length) {
      try {
        const d = decodeErrorResult({ abi: errorAbi, data });
        return `The contract refused: ${describeCustomError(d.errorName, d.args, d.abiItem)}`;
      } catch {
        /* not one of ours: fall through */
      }
    }
    const name = err.walk((e) => e?.name === 'InsufficientFundsError');
    if (name) return 'Insufficient funds: this account cannot pay the amount plus gas.';
    const text = `${err.shortMessage || ''} ${err.details || ''}`;
    if (/insufficient funds/i.test(text)) return 'Insufficient funds: this account cannot pay the amount plus gas.';
    if (/user rejected|denied/i.test(text)) return 'You rejected the request in your wallet (nothing was sent).';
    if (/reverted/i.test(text)) return `The contract refused: ${err.shortMessage}`;
    return err.shortMessage || err.message;
  }
  const msg = String(err.message || err);
  if (/insufficient funds/i.test(msg)) return 'Insufficient funds: this account cannot pay the amount plus gas.';
  if (OUT_OF_GAS.test(msg)) return OUT_OF_GAS_TEXT;
  return msg;
}
