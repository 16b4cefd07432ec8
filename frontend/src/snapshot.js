// The page's one view of the chain: a snapshot of nodes, models, jobs, proposals, fees, the
// governed parameters and the connected account, made once per block and rendered by every section.
//
// Each new block costs one eth_getLogs over every watched contract, from the block after the last
// one seen to the new one, and then view calls only for what those logs touched (a node, a model,
// a job, a proposal's votes, a parameter), all at the new block so the snapshot is consistent.
// A failed update leaves the previous snapshot in place (it is built on a copy and swapped in).
import { getAddress, parseEventLogs } from 'viem';
import { contract, has, read, state } from './chain.js';
import { readParameters } from './params.js';

const JOB_WINDOW = 50; // jobs whose stored state is kept read (the newest ones, as the list shows)
// JobEscrow.Status; a Closed job's outcome is told by its closing event.
export const JOB_STATUS = ['None', 'Open', 'Accepted', 'Submitted', 'Disputed', 'Closed'];
const JOB_CLOSING = { JobSettled: 'Settled', JobCancelled: 'Cancelled', JobTimedOut: 'TimedOut', DisputeResolved: 'Resolved', DisputeExpired: 'Expired' };
// Governor ProposalState; proposals in a final state are not read again.
export const PROPOSAL_STATES = ['Pending', 'Active', 'Canceled', 'Defeated', 'Succeeded', 'Queued', 'Expired', 'Executed'];
const FINAL = new Set(['Canceled', 'Defeated', 'Expired', 'Executed']);

export const governorName = () => ['ComputeGovernor', 'Governor'].find(has);
export const registryName = () => ['AttestationRegistry'].find(has);
export const treasuryName = () => ['Treasury', 'TimelockController', 'Timelock'].find(has);

/**
 * Extra watchers (sections of work still being added, e.g. payment channels) register here:
 * {contract: name, clone(state) -> copy, apply(draft, log, dirty), read(draft, blockNumber, dirty, first) -> Promise}.
 * Their state lives in draft.extra[contract] (cloned for each update, so a failed one changes nothing).
 */
const extraWatchers = [];
export function watch(watcher) {
  extraWatchers.push(watcher);
}

function empty() {
  return {
    block: -1n, // the block this snapshot shows
    time: 0, // that block's timestamp (chain time, unix seconds)
    nodes: new Map(), // nodeId -> {nodeId, provider, owner, gpuModel, vramMiB, metadataURI, active, stake, record}
    attestations: new Map(), // `${nodeId}:${epoch}` -> the attestation (figures) from AttestationRecorded
    models: new Map(), // modelId (bigint) -> {modelId, weightsHash, creator, uri, owner, royalty, listing, valid, quote}
    jobs: new Map(), // jobId (bigint) -> {jobId, posted, accepted, settled, outcome, terms, stored}
    proposals: new Map(), // proposalId -> {created, state, votes}
    fees: [], // {blockNumber, fee, source}: protocol fees paid to the treasury
    blockTimes: new Map(), // blockNumber -> timestamp of blocks that carried a fee or posted a recent job
    params: [], // readParameters()
    totals: { staked: 0n, treasury: null, treasuryBalance: 0n },
    account: null, // {address, token, eth, provider, free, votes, voted: Set, power: Map proposalId -> votes at its snapshot}
    extra: {},
  };
}

function copy(snap) {
  return {
    ...snap,
    nodes: new Map(snap.nodes),
    attestations: new Map(snap.attestations),
    models: new Map(snap.models),
    jobs: new Map(snap.jobs),
    proposals: new Map(snap.proposals),
    fees: [...snap.fees],
    blockTimes: new Map(snap.blockTimes),
    totals: { ...snap.totals },
    extra: Object.fromEntries(Object.entries(snap.extra).map(([name, v]) => [name, extraWatchers.find((w) => w.contract === name)?.clone?.(v) ?? v])),
  };
}

/** The latest complete snapshot (empty until the first update). */
export let snapshot = empty();
/** What each update read, for the browser tests and the curious: {fromBlock, toBlock, logs}. */
export const updates = [];

function watchedNames() {
  return ['ComputeStaking', registryName(), 'JobEscrow', 'ModelNFT', 'ModelMarketplace', governorName(), treasuryName(), ...extraWatchers.map((w) => w.contract)].filter(
    (n, i, all) => n && has(n) && all.indexOf(n) === i,
  );
}

/** Route one decoded log into the draft; returns nothing, marks what must be read in `dirty`. */
function apply(draft, dirty, name, log) {
  const a = log.args || {};
  const ev = log.eventName;
  if (name === 'ComputeStaking') {
    if (ev === 'NodeRegistered') {
      const prev = draft.nodes.get(a.nodeId);
      draft.nodes.set(a.nodeId, { ...(prev || {}), nodeId: a.nodeId, provider: a.provider });
    }
    if (a.nodeId !== undefined) dirty.nodes.add(a.nodeId);
    if (a.provider !== undefined) dirty.providers.add(getAddress(a.provider));
    if (a.nodeId === undefined && a.provider === undefined) dirty.params = true;
    dirty.totals = true;
  } else if (name === registryName()) {
    if (ev === 'AttestationRecorded') draft.attestations.set(`${a.nodeId}:${a.attestation.epoch}`, a.attestation);
    if (a.nodeId !== undefined) dirty.nodes.add(a.nodeId);
    else if (ev !== 'BatchSubmitted') dirty.params = true;
  } else if (name === 'JobEscrow') {
    if (a.jobId === undefined) {
      dirty.params = true;
      return;
    }
    const job = { ...(draft.jobs.get(a.jobId) || { jobId: a.jobId }) };
    if (ev === 'JobPosted') {
      job.posted = a;
      job.postedBlock = log.blockNumber;
    }
    // royalty terms fixed when the job was posted, by whichever event carries them (issue 11 #2)
    if (a.royaltyBps !== undefined && a.royaltyReceiver !== undefined) job.terms = { receiver: a.royaltyReceiver, bps: Number(a.royaltyBps), fixed: true };
    else if (ev === 'JobAccepted') job.accepted = a;
    else if (ev === 'ResultSubmitted') job.submitted = a;
    else if (ev === 'JobSettled') {
      job.settled = a;
      if (a.fee > 0n) draft.fees.push({ blockNumber: log.blockNumber, fee: a.fee, source: 'job' });
    }
    // a resolved or expired dispute also emits JobSettled (the provider's share): that one names the outcome
    if (JOB_CLOSING[ev] && (ev !== 'JobSettled' || !job.outcome)) job.outcome = JOB_CLOSING[ev];
    draft.jobs.set(a.jobId, job);
    dirty.jobs.add(a.jobId);
  } else if (name === 'ModelNFT') {
    if (ev === 'ModelMinted') {
      const modelId = BigInt(a.weightsHash);
      draft.models.set(modelId, { modelId, weightsHash: a.weightsHash, creator: a.creator, uri: a.metadataURI });
      dirty.models.add(modelId);
    } else if (a.tokenId !== undefined) dirty.models.add(a.tokenId);
    else if (ev === 'ApprovalForAll') dirty.owners.add(getAddress(a.owner));
    else dirty.params = true;
  } else if (name === 'ModelMarketplace') {
    if (ev === 'Sold' && a.fee > 0n) draft.fees.push({ blockNumber: log.blockNumber, fee: a.fee, source: 'sale' });
    if (a.tokenId !== undefined) dirty.models.add(a.tokenId);
    else dirty.params = true;
  } else if (name === governorName()) {
    if (ev === 'ProposalCreated') draft.proposals.set(a.proposalId, { created: a, state: null, votes: [0n, 0n, 0n] });
    if (a.proposalId !== undefined) dirty.proposals.add(a.proposalId);
    else dirty.params = true;
  } else if (name === treasuryName()) {
    if (ev === 'MinDelayChange' || ev === 'SurplusRoutingSet') dirty.params = true;
  }
  for (const w of extraWatchers) if (w.contract === name) w.apply(draft, log, dirty);
}

async function readNode(node, n) {
  const [info, pinfo, stored] = await Promise.all([
    read('ComputeStaking', 'nodeInfo', [node.nodeId], n),
    read('ComputeStaking', 'providerInfo', [node.provider], n),
    registryName() ? read(registryName(), 'recordOf', [node.nodeId], n).catch(() => null) : null,
  ]);
  const [owner, gpuModel, vramMiB, metadataURI, active] = info;
  return { ...node, owner, gpuModel, vramMiB, metadataURI, active, stake: pinfo[0], stored };
}

async function readModel(m, n) {
  const nft = contract('ModelNFT').address;
  const market = has('ModelMarketplace');
  const [owner, royalty, listing, valid] = await Promise.all([
    read('ModelNFT', 'ownerOf', [m.modelId], n),
    read('ModelNFT', 'royaltyOf', [m.modelId], n),
    market ? read('ModelMarketplace', 'getListing', [nft, m.modelId], n) : [null, 0n],
    market ? read('ModelMarketplace', 'isListingValid', [nft, m.modelId], n) : false,
  ]);
  const quote = market && valid ? await read('ModelMarketplace', 'quote', [nft, m.modelId, listing[1]], n) : null;
  return { ...m, owner, royalty, listing, valid, quote };
}

async function readProposal(gov, id, p, readVotes, n) {
  const [st, votes] = await Promise.all([
    read(gov, 'state', [id], n),
    readVotes ? read(gov, 'proposalVotes', [id], n).catch(() => p.votes) : p.votes,
  ]);
  const name = PROPOSAL_STATES[Number(st)] || String(st);
  const started = name !== 'Pending';
  const [eta, quorum] = await Promise.all([
    name === 'Queued' ? read(gov, 'proposalEta', [id], n).catch(() => 0n) : 0n,
    started && p.quorum === undefined ? read(gov, 'quorum', [p.created.voteStart], n).catch(() => undefined) : p.quorum,
  ]);
  return { ...p, state: name, votes, eta, quorum };
}

async function readAccount(draft, address, n) {
  const gov = governorName();
  const open = gov ? [...draft.proposals].filter(([, p]) => p.state === 'Active').map(([id]) => id) : [];
  const [token, eth, provider, free, votes, voted, power] = await Promise.all([
    has('ComputeToken') ? read('ComputeToken', 'balanceOf', [address], n) : null,
    state.publicClient.getBalance({ address, blockNumber: n }),
    has('ComputeStaking') ? read('ComputeStaking', 'providerInfo', [address], n) : null,
    has('ComputeStaking') ? read('ComputeStaking', 'freeStake', [address], n) : null,
    has('ComputeToken') ? read('ComputeToken', 'getVotes', [address], n).catch(() => 0n) : 0n,
    Promise.all(open.map((id) => read(gov, 'hasVoted', [id, address], n).catch(() => false))),
    // voting power counts at the proposal's snapshot (its vote start), not today's delegation
    Promise.all(open.map((id) => read(gov, 'getVotes', [address, draft.proposals.get(id).created.voteStart], n).catch(() => 0n))),
  ]);
  return { address, token, eth, provider, free, votes, voted: new Set(open.filter((_, i) => voted[i])), power: new Map(open.map((id, i) => [id, power[i]])) };
}

/** Bring the snapshot to block `n` (the latest when omitted); returns the snapshot. */
export async function update(n) {
  if (n === undefined) n = await state.publicClient.getBlockNumber();
  const base = n < snapshot.block ? empty() : snapshot; // the chain went back (a restarted devnet)
  const draft = copy(base);
  const dirty = { nodes: new Set(), providers: new Set(), models: new Set(), owners: new Set(), jobs: new Set(), proposals: new Set(), params: false, totals: false };
  const first = base.block < 0n;
  let logCount = 0;
  let fromBlock = null;
  const newBlock = n > base.block;
  if (newBlock) {
    fromBlock = first ? BigInt(state.deployment.deployBlock || 0) : base.block + 1n;
    const names = watchedNames();
    const byAddress = new Map(names.map((name) => [contract(name).address.toLowerCase(), name]));
    const raw = names.length ? await state.publicClient.getLogs({ address: names.map((x) => contract(x).address), fromBlock, toBlock: n }) : [];
    logCount = raw.length;
    const decoded = [];
    for (const name of names) {
      const mine = raw.filter((l) => byAddress.get(l.address.toLowerCase()) === name);
      if (mine.length) decoded.push(...parseEventLogs({ abi: contract(name).abi, logs: mine }).map((log) => ({ name, log })));
    }
    decoded.sort((x, y) => (x.log.blockNumber === y.log.blockNumber ? x.log.logIndex - y.log.logIndex : x.log.blockNumber < y.log.blockNumber ? -1 : 1));
    for (const { name, log } of decoded) apply(draft, dirty, name, log);
    const block = await state.publicClient.getBlock({ blockNumber: n });
    draft.time = Number(block.timestamp);
  }
  // nodes: the ones named by a log, and every node of a provider whose stake moved
  const nodeIds = new Set(first ? draft.nodes.keys() : dirty.nodes);
  for (const [id, node] of draft.nodes) if (dirty.providers.has(getAddress(node.provider))) nodeIds.add(id);
  // models: named by a log, or owned by someone who changed an operator approval
  const modelIds = new Set([...dirty.models].filter((id) => draft.models.has(id)));
  for (const [id, m] of draft.models) if (m.owner && dirty.owners.has(getAddress(m.owner))) modelIds.add(id);
  // jobs: named by a log, among the newest JOB_WINDOW
  const newest = [...draft.jobs.keys()].sort((x, y) => (x < y ? 1 : -1)).slice(0, JOB_WINDOW);
  const jobIds = newest.filter((id) => dirty.jobs.has(id) || !draft.jobs.get(id).stored);
  // proposals: their state depends on time, so every one not final yet; votes only after a VoteCast
  const gov = governorName();
  const proposalIds = gov ? [...draft.proposals].filter(([id, p]) => newBlock && (!FINAL.has(p.state) || dirty.proposals.has(id))).map(([id]) => id) : [];
  const jobBlocks = newest.map((id) => draft.jobs.get(id).postedBlock).filter((b) => b !== undefined);
  const feeBlocks = [...new Set([...draft.fees.map((f) => f.blockNumber), ...jobBlocks])].filter((b) => !draft.blockTimes.has(b));
  const treasury = treasuryName() ? contract(treasuryName()).address : draft.totals.treasury || (has('JobEscrow') ? getAddress(await read('JobEscrow', 'treasury', [], n)) : null);
  const [nodes, models, jobs, proposals, times, params, staked, treasuryBalance] = await Promise.all([
    Promise.all([...nodeIds].map((id) => readNode(draft.nodes.get(id), n))),
    Promise.all([...modelIds].map((id) => readModel(draft.models.get(id), n))),
    Promise.all(jobIds.map((id) => read('JobEscrow', 'getJob', [id], n))),
    Promise.all(proposalIds.map((id) => readProposal(gov, id, draft.proposals.get(id), first || dirty.proposals.has(id), n))),
    Promise.all(feeBlocks.map((b) => state.publicClient.getBlock({ blockNumber: b }))),
    first || dirty.params ? readParameters(n) : draft.params,
    has('ComputeStaking') && (first || dirty.totals) ? read('ComputeStaking', 'totalStaked', [], n) : draft.totals.staked,
    treasury && has('ComputeToken') && newBlock ? read('ComputeToken', 'balanceOf', [treasury], n) : draft.totals.treasuryBalance,
  ]);
  for (const node of nodes) draft.nodes.set(node.nodeId, node);
  for (const m of models) draft.models.set(m.modelId, m);
  jobs.forEach((stored, i) => draft.jobs.set(jobIds[i], { ...draft.jobs.get(jobIds[i]), stored }));
  proposals.forEach((p, i) => draft.proposals.set(proposalIds[i], p));
  feeBlocks.forEach((b, i) => draft.blockTimes.set(b, Number(times[i].timestamp)));
  draft.params = params;
  draft.totals = { staked, treasury, treasuryBalance };
  await Promise.all(extraWatchers.filter((w) => has(w.contract)).map((w) => w.read(draft, n, dirty, first)));
  const address = state.account ? getAddress(state.account) : null;
  draft.account = address ? await readAccount(draft, address, n) : null;
  draft.block = n;
  snapshot = draft;
  updates.push({ fromBlock: fromBlock === null ? null : Number(fromBlock), toBlock: Number(n), logs: logCount });
  if (updates.length > 200) updates.shift();
  return snapshot;
}

// ---- what sections ask of a snapshot

/** A node's record with its figures: the stored record joined with the attestation of its epoch. */
export function nodeRecord(snap, node) {
  const stored = node.stored;
  if (!stored) return null;
  const figures = snap.attestations.get(`${node.nodeId}:${stored.epoch}`);
  return { ...(figures || {}), ...stored };
}

/** The active GPUs owned by `address`. */
export function nodesOf(snap, address) {
  if (!address) return [];
  const me = getAddress(address);
  return [...snap.nodes.values()].filter((n) => n.active && n.owner && getAddress(n.owner) === me);
}

/** A job's status as a person reads it: a Closed job says how it closed. */
export function jobStatus(job) {
  const s = job.stored ? JOB_STATUS[Number(job.stored.status)] || String(job.stored.status) : 'Open';
  return s === 'Closed' ? job.outcome || 'Closed' : s;
}

/**
 * The royalty a job pays and the provider's part of its budget: {bps, receiver, fixed, minted, fee,
 * royalty, provider}. `fixed`: the escrow snapshotted the terms when the job was posted (an event or
 * the stored job carries them); otherwise they are the model's terms now, which an escrow that reads
 * them at settlement may still see change. `minted` is false for a model id nobody has minted.
 */
export function jobTerms(snap, job) {
  const budget = BigInt(job.posted.budget);
  const feeBps = BigInt(snap.params.find((p) => p.contract === 'JobEscrow' && p.fn === 'feeBps')?.value ?? 0);
  const fee = (budget * feeBps) / 10_000n;
  const modelId = BigInt(job.posted.modelId || 0);
  const stored = job.stored && job.stored.royaltyBps !== undefined && job.stored.royaltyReceiver !== undefined ? { receiver: job.stored.royaltyReceiver, bps: Number(job.stored.royaltyBps), fixed: true } : null;
  const model = modelId ? snap.models.get(modelId) : null;
  let terms = job.terms || stored;
  if (!terms && model?.royalty) terms = { receiver: model.royalty[0], bps: Number(model.royalty[1]), fixed: false };
  if (!terms) terms = { receiver: null, bps: 0, fixed: !modelId };
  let royalty = (budget * BigInt(terms.bps)) / 10_000n;
  if (royalty > budget - fee) royalty = budget - fee;
  return { ...terms, modelId, minted: !modelId || Boolean(model), fee, royalty, provider: budget - fee - royalty };
}

/** The newest jobs first, at most `limit`, only those whose stored state was read. */
export function recentJobs(snap, limit = 25) {
  return [...snap.jobs.values()]
    .filter((j) => j.posted && j.stored)
    .sort((x, y) => (x.jobId < y.jobId ? 1 : -1))
    .slice(0, limit);
}
