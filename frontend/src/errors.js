// Turn any failure of a wallet or contract call into one readable sentence.
import { BaseError, ContractFunctionRevertedError, decodeErrorResult } from 'viem';
import { percentOfBps, relative, seconds, short, tokens, when } from './ui.js';

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

// Contract errors as sentences: "<who> refused: <what>, <arg> <value>, ..." with amounts in tokens,
// times as dates with "in 12 min", rates as percentages and ids shortened; the error's own name
// follows in brackets for developers.
const ENUMS = {
  'enum JobEscrow.Status': ['None', 'Open', 'Accepted', 'Submitted', 'Disputed', 'Closed'],
  'enum IPaymentChannels.Status': ['None', 'Open', 'Closing', 'Closed'],
  'enum IGovernor.ProposalState': ['Pending', 'Active', 'Canceled', 'Defeated', 'Succeeded', 'Queued', 'Expired', 'Executed'],
};
const CONTRACT_WORDS = { ComputeStaking: 'Staking', JobEscrow: 'The job escrow', ModelNFT: 'The model registry', ModelMarketplace: 'The marketplace', AttestationRegistry: 'The attestation registry', PaymentChannels: 'Payment channels', ComputeGovernor: 'Governance', Governor: 'Governance', Treasury: 'The treasury', Timelock: 'The timelock', ERC20: 'The token', ERC721: 'The model registry', ECDSA: 'The signature check', Ownable: 'Access control', ReentrancyGuard: 'The contract' };
const TIME = /time$|^time|timestamp|deadline|until|closesat|resolveby|challengeend|expiry|release|eta|start|end$|latestallowed/i;
const AMOUNT = /amount|stake|balance|price|fee$|payment|needed|required|have|want|available|allowance|deposit|redeemed|budget|collateral|royalty$|refund|cumulative|^value$|ceiling|slash|votes|locked|supply|^cap$/i;
const PERIOD = /period|delay|window|duration|validity/i;
const COUNTS = /^(targets|calldatas|values|payloads|signatures|given|count|index|bits)$|length$/i;
const RELATIVE_NAMES = /^(min|max|expected|actual|limit|ceiling|latest)$/i;
const SHORT_ID = (v) => short(`0x${v.toString(16).padStart(64, '0')}`);
// camelCase to words, an acronym kept as it is written: "NFTNotListed" -> "NFT not listed"
const words = (name) => name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
  .split(' ').map((w) => (/^[A-Z][A-Z0-9]+$/.test(w) ? w : w.toLowerCase())).join(' ');
const nowSeconds = (args, inputs) => {
  const i = inputs.findIndex((x) => /^now/i.test(x.name || ''));
  return i >= 0 ? Number(args[i]) : Date.now() / 1000;
};

// What kind of number an argument is, from its name: `min`, `max`, `expected` and the like take the
// kind of the nearest number they bound (feeBps, max -> a percentage; count, max -> a count; the
// one before them first, ids skipped), and in a ValueOutOfBounds(parameter, value, min, max) the
// parameter's own name says it.
function kindOf(name, inputs = [], index = -1) {
  if (/bps$/i.test(name)) return 'bps';
  if (COUNTS.test(name)) return 'count';
  if (RELATIVE_NAMES.test(name) || name === 'value') {
    const bound = (x) => x && /int/.test(x.type || '') && !RELATIVE_NAMES.test(x.name || '') && x.name !== 'value' && !/id$/i.test(x.name || '');
    const before = inputs.slice(0, Math.max(index, 0)).reverse().find(bound);
    const lead = before || inputs.slice(index + 1).find(bound);
    if (lead) return kindOf(lead.name);
  }
  if (TIME.test(name)) return 'time';
  if (PERIOD.test(name)) return 'period';
  if (AMOUNT.test(name)) return 'amount';
  if (/id$/i.test(name)) return 'id';
  return 'number';
}

function fmtNumber(n, kind, name, now) {
  if (kind === 'bps') return percentOfBps(n);
  if (kind === 'count') return n.toLocaleString();
  if (kind === 'period') return seconds(n);
  if (kind === 'amount') return tokens(n);
  const looksLikeTime = n > 1_000_000_000n && n < 100_000_000_000n;
  if (looksLikeTime && (kind === 'time' || kind === 'number')) return /^now/i.test(name) ? when(n) : `${when(n)} (${relative(n, now)})`;
  // a number of unknown kind: a hash-like id is almost surely above 2^160 (a model id is a SHA-256),
  // a token amount far below it and above 10^15 wei
  if (n >= 2n ** 160n || (kind === 'id' && n >= 2n ** 64n)) return SHORT_ID(n);
  if (kind === 'id') return `#${n}`;
  if (n >= 10n ** 15n) return tokens(n);
  return n.toLocaleString();
}

function fmtValue(v, input, now, inputs = [], index = -1, parameter = null) {
  const name = input?.name || '';
  const type = input?.type || '';
  if (ENUMS[input?.internalType] && typeof v !== 'object') return ENUMS[input.internalType][Number(v)] ?? String(v);
  if (typeof v === 'bigint' || typeof v === 'number') {
    const kind = parameter && /^(value|min|max)$/.test(name) ? kindOf(parameter) : kindOf(name, inputs, index);
    return fmtNumber(BigInt(v), kind, name, now);
  }
  if (typeof v === 'string' && /^0x[0-9a-fA-F]{40}$/.test(v)) return short(v);
  if (typeof v === 'string' && /^0x[0-9a-fA-F]{64}$/.test(v)) return short(v);
  if (Array.isArray(v)) return `[${v.map((x) => fmtValue(x, { type: type.replace(/\[\]$/, '') }, now)).join(', ')}]`;
  return String(v);
}

/** "Staking refused: still unbonding (release time 2 Dec 2026, 00:13, in 12 min, ...) [ComputeStakingStillUnbonding]". */
export function describeCustomError(errorName, args, abiItem) {
  const inputs = abiItem?.inputs || [];
  const owner = Object.keys(CONTRACT_WORDS).find((c) => errorName.startsWith(c) && errorName.length > c.length);
  const who = owner ? CONTRACT_WORDS[owner] : 'The contract';
  const what = words(owner ? errorName.slice(owner.length) : errorName);
  const now = nowSeconds(args || [], inputs);
  const p = inputs.findIndex((x) => x.name === 'parameter');
  const parameter = p >= 0 && typeof args?.[p] === 'string' ? args[p].replace(/\.length$/, 'Length') : null;
  const parts = (args || []).map((a, i) => `${words(inputs[i]?.name || `value ${i + 1}`)} ${fmtValue(a, inputs[i], now, inputs, i, parameter)}`);
  return `${who} refused: ${what}${parts.length ? ` (${parts.join(', ')})` : ''}. [${errorName}]`;
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
        return describeCustomError(reverted.data.errorName, reverted.data.args, item);
      }
      if (reverted.reason) return `The contract refused: ${reverted.reason}`;
    }
    const data = findRevertData(err);
    if (data && errorAbi.length) {
      try {
        const d = decodeErrorResult({ abi: errorAbi, data });
        return describeCustomError(d.errorName, d.args, d.abiItem);
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
