// The governed parameters, named once: the contract, its getter, what a person calls it and the unit
// to show it in. Only entries whose contract (and getter) the deployment has are read.
import { hasFunction, read } from './chain.js';
import { count, percentOfBps, seconds, tokens } from './ui.js';

/** unit: 'bps' (basis points), 'percent' (0..100), 'seconds', 'tokens' (18 decimals), 'count'. */
export const PARAMETERS = [
  { contract: 'JobEscrow', fn: 'feeBps', name: 'Protocol fee on jobs', unit: 'bps' },
  { contract: 'JobEscrow', fn: 'collateralBps', name: 'Provider collateral per job (of the budget)', unit: 'bps' },
  { contract: 'JobEscrow', fn: 'challengeWindow', name: 'Time to dispute a result', unit: 'seconds' },
  { contract: 'ComputeStaking', fn: 'minStakePerGpu', name: 'Stake per GPU', unit: 'tokens' },
  { contract: 'ComputeStaking', fn: 'unbondingPeriod', name: 'Unbonding period', unit: 'seconds' },
  { contract: 'ComputeStaking', fn: 'finderShareBps', name: "Finder's share of a slash", unit: 'bps' },
  { contract: 'ComputeStaking', fn: 'harmedShareBps', name: "Harmed party's share of a slash", unit: 'bps' },
  { contract: 'AttestationRegistry', fn: 'threshold', name: 'Validator signatures per attestation', unit: 'count' },
  { contract: 'AttestationRegistry', fn: 'oracleCount', name: 'Validators', unit: 'count' },
  { contract: 'AttestationRegistry', fn: 'maxValidity', name: 'Longest validity of an attestation', unit: 'seconds' },
  { contract: 'AttestationRegistry', fn: 'maxSlash', name: 'Largest slash for a fault', unit: 'tokens' },
  { contract: 'ModelMarketplace', fn: 'feeBps', name: 'Protocol fee on model sales', unit: 'bps' },
  { contract: 'ModelNFT', fn: 'maxRoyaltyBps', name: 'Highest model royalty', unit: 'bps' },
  { contract: 'ComputeGovernor', fn: 'votingDelay', name: 'Delay before a vote opens', unit: 'seconds' },
  { contract: 'ComputeGovernor', fn: 'votingPeriod', name: 'Voting period', unit: 'seconds' },
  { contract: 'ComputeGovernor', fn: 'proposalThreshold', name: 'Votes needed to propose', unit: 'tokens' },
  { contract: 'ComputeGovernor', fn: 'quorumNumerator', name: 'Quorum (of the supply)', unit: 'percent' },
  { contract: 'Treasury', fn: 'getMinDelay', name: 'Timelock delay before execution', unit: 'seconds' },
  { contract: 'Treasury', fn: 'surplusShareBps', name: 'Share of surplus routed to stakers', unit: 'bps' },
  { contract: 'Treasury', fn: 'balanceCeiling', name: 'Treasury balance ceiling', unit: 'tokens' },
  { contract: 'PaymentChannels', fn: 'feeBps', name: 'Protocol fee on paid requests', unit: 'bps' },
  { contract: 'PaymentChannels', fn: 'closeDelay', name: 'Channel close delay (last redemption window)', unit: 'seconds' },
];

export function showParameter(unit, v) {
  if (unit === 'bps') return percentOfBps(v);
  if (unit === 'percent') return percentOfBps(BigInt(v) * 100n);
  if (unit === 'seconds') return seconds(v);
  if (unit === 'tokens') return tokens(v);
  return count(v);
}

/** The present parameters with their values at `blockNumber`: [{contract, fn, name, unit, value}]. */
export async function readParameters(blockNumber) {
  const present = PARAMETERS.filter((p) => hasFunction(p.contract, p.fn));
  const values = await Promise.all(present.map((p) => read(p.contract, p.fn, [], blockNumber).catch(() => null)));
  return present.map((p, i) => ({ ...p, value: values[i] })).filter((p) => p.value !== null);
}
