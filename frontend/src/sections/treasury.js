// Treasury balance, fee income (chart from Transfer events into the treasury), governed parameters,
// proposals with their state, voting and a simple grant proposal.
import { encodeFunctionData, getAddress, keccak256, toHex } from 'viem';
import { contract, events, has, read, send, state } from '../chain.js';
import { lineChart } from '../charts.js';
import { act, field, h, parseAmount, short, stat, table, tokens } from '../ui.js';

export const id = 'treasury';
const STATES = ['Pending', 'Active', 'Canceled', 'Defeated', 'Succeeded', 'Queued', 'Expired', 'Executed'];
const STATE_PILL = { Active: 'ok', Succeeded: 'ok', Executed: 'ok', Queued: 'warn', Pending: 'warn', Defeated: 'bad', Canceled: 'bad', Expired: 'bad' };
const SKIP = new Set(['name', 'symbol', 'decimals', 'totalSupply', 'clock', 'CLOCK_MODE', 'eip712Domain', 'DOMAIN_SEPARATOR', 'owner', 'pendingOwner', 'version', 'COUNTING_MODE', 'nextTokenId', 'getMinDelay']);
const PARAM_RE = /bps|fee|period|delay|min|max|threshold|quorum|window|duration|share|ratio|reward|validity|stake|slash|royalty|timeout|epoch/i;

export const governorName = () => ['ComputeGovernor', 'Governor'].find(has);
export const treasuryName = () => ['Treasury', 'TimelockController', 'Timelock'].find(has);

async function treasuryAddress() {
  const t = treasuryName();
  if (t) return contract(t).address;
  // no timelock deployed: the fee recipient the escrow pays
  for (const name of ['JobEscrow', 'ModelMarketplace', 'ComputeStaking']) {
    if (has(name) && contract(name).abi.some((x) => x.name === 'treasury')) return getAddress(await read(name, 'treasury'));
  }
  return null;
}

async function parameters() {
  const rows = [];
  for (const [name, c] of Object.entries(state.deployment.contracts)) {
    const fns = c.abi.filter(
      (x) =>
        x.type === 'function' &&
        (x.stateMutability === 'view' || x.stateMutability === 'pure') &&
        x.inputs.length === 0 &&
        x.outputs.length === 1 &&
        /^u?int\d*$/.test(x.outputs[0].type) &&
        !SKIP.has(x.name) &&
        !/^[A-Z0-9_]+$/.test(x.name) && // constants (bounds) are not governed
        !/^total/.test(x.name) &&
        PARAM_RE.test(x.name),
    );
    const values = await Promise.all(fns.map((f) => read(name, f.name).catch(() => null)));
    fns.forEach((f, i) => {
      if (values[i] === null) return;
      const v = values[i];
      const shown = /bps/i.test(f.name) ? `${Number(v) / 100}%` : v >= 10n ** 15n ? tokens(v) : /period|delay|window|duration|validity|timeout/i.test(f.name) ? `${v} s` : v.toString();
      rows.push(h('tr', {}, h('td', {}, name), h('td', { class: 'mono' }, f.name), h('td', { class: 'num' }, shown)));
    });
  }
  return rows;
}

export function mount(body, { refresh }) {
  const statsEl = h('div', { class: 'stats', id: 'treasury-stats' });
  const chartEl = h('div', { id: 'fee-chart' });
  const paramsEl = h('div', { id: 'params' });
  const proposalsEl = h('div', { id: 'proposals' });
  const msg = h('div', { class: 'msg', id: 'gov-msg' });
  const propose = h(
    'form',
    { class: 'row', id: 'propose-form' },
    field('grant to (address)', 'to', { class: 'wide', placeholder: '0x…' }),
    field('amount (GPU)', 'amount', { value: '100' }),
    field('description', 'description', { class: 'wide', value: 'Grant from the treasury' }),
    h('button', { type: 'submit' }, 'Propose grant'),
  );
  propose.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = new FormData(propose);
    act(msg, propose.querySelector('button'), 'Sending the proposal…', async () => {
      const gov = governorName();
      if (!gov) throw new Error('No governor in this deployment.');
      const to = getAddress(String(f.get('to')).trim());
      const amount = parseAmount(f.get('amount'));
      const token = contract('ComputeToken').address;
      const data = encodeFunctionData({ abi: contract('ComputeToken').abi, functionName: 'transfer', args: [to, amount] });
      await send(gov, 'propose', [[token], [0n], [data], String(f.get('description'))]);
      refresh();
      return 'Proposal created.';
    });
  });
  const delegateBtn = h('button', { class: 'secondary', id: 'delegate-self' }, 'Delegate my votes to myself');
  delegateBtn.addEventListener('click', () =>
    act(msg, delegateBtn, 'Delegating…', async () => {
      await send('ComputeToken', 'delegate', [state.account]);
      refresh();
      return 'Your votes now count (delegated to yourself).';
    }),
  );
  body.append(
    statsEl,
    h('div', { class: 'grid2' }, h('div', {}, h('h3', {}, 'Fee income (cumulative)'), chartEl), h('div', {}, h('h3', {}, 'Parameters'), paramsEl)),
    h('h3', {}, 'Proposals'),
    proposalsEl,
    h('div', { class: 'row' }, delegateBtn),
    propose,
    msg,
  );
  let paramsDone = false;

  return async function refreshTreasury() {
    const addr = await treasuryAddress();
    const stats = [];
    let feeEvents = [];
    if (addr && has('ComputeToken')) {
      // protocol fees, from the events that carry them: job settlements and marketplace sales
      const [bal, settled, sold] = await Promise.all([
        read('ComputeToken', 'balanceOf', [addr]),
        has('JobEscrow') ? events('JobEscrow', 'JobSettled') : [],
        has('ModelMarketplace') ? events('ModelMarketplace', 'Sold') : [],
      ]);
      feeEvents = [...settled, ...sold].filter((l) => l.args.fee > 0n).map((l) => ({ blockNumber: l.blockNumber, value: l.args.fee }));
      const income = feeEvents.reduce((a, l) => a + l.value, 0n);
      stats.push(stat('Treasury', h('span', { class: 'mono', title: addr }, short(addr))));
      stats.push(stat('Balance', h('span', { id: 'treasury-balance' }, tokens(bal))));
      stats.push(stat('Fees collected', h('span', { id: 'fees-collected' }, tokens(income))));
    }
    if (state.account && has('ComputeToken')) {
      const votes = await read('ComputeToken', 'getVotes', [state.account]).catch(() => 0n);
      stats.push(stat('Your votes', h('span', { id: 'my-votes' }, tokens(votes))));
    }
    statsEl.replaceChildren(...stats);
    // fee chart: one point per transfer into the treasury, at its block time
    const blocks = new Map();
    await Promise.all(
      [...new Set(feeEvents.map((l) => l.blockNumber))].map(async (n) => blocks.set(n, Number((await state.publicClient.getBlock({ blockNumber: n })).timestamp))),
    );
    const points = feeEvents.map((l) => ({ t: blocks.get(l.blockNumber), v: Number(l.value) / 1e18 }));
    chartEl.replaceChildren(lineChart({ points, unit: 'GPU', title: 'treasury fee income over time' }));
    if (!paramsDone) {
      paramsEl.replaceChildren(table(['contract', 'parameter', 'value'], await parameters(), { id: 'params-table', class: 'compact' }));
      paramsDone = true;
    }
    const gov = governorName();
    if (!gov) {
      proposalsEl.replaceChildren(h('p', { class: 'muted' }, 'No governor in this deployment.'));
      return;
    }
    const created = await events(gov, 'ProposalCreated');
    const rows = await Promise.all(
      created.reverse().map(async (l) => {
        const pid = l.args.proposalId;
        const [st, votes, voted] = await Promise.all([
          read(gov, 'state', [pid]),
          read(gov, 'proposalVotes', [pid]).catch(() => [0n, 0n, 0n]),
          state.account ? read(gov, 'hasVoted', [pid, state.account]).catch(() => false) : false,
        ]);
        const name = STATES[Number(st)] || String(st);
        const voteCell = h('td', {});
        if (name === 'Active' && state.account && !voted) {
          for (const [label, support] of [['For', 1], ['Against', 0], ['Abstain', 2]]) {
            const b = h('button', { class: support === 1 ? '' : 'secondary', 'data-vote': label.toLowerCase() }, label);
            b.addEventListener('click', () =>
              act(msg, b, `Voting ${label}…`, async () => {
                await send(gov, 'castVote', [pid, support]);
                refresh();
                return `Voted ${label}.`;
              }),
            );
            voteCell.append(b, ' ');
          }
        } else if (voted && name === 'Active') voteCell.append(h('span', { class: 'muted' }, 'voted'));
        // after the vote: anyone may queue a succeeded proposal in the timelock, then execute it
        const { targets, calldatas, description } = l.args;
        const values = l.args.values;
        const descriptionHash = keccak256(toHex(description));
        if (name === 'Succeeded' && state.account) {
          const b = h('button', { 'data-action': 'queue' }, 'Queue');
          b.addEventListener('click', () =>
            act(msg, b, 'Queueing in the timelock…', async () => {
              await send(gov, 'queue', [targets, values, calldatas, descriptionHash]);
              refresh();
              return 'Queued: executable once the timelock delay has passed.';
            }),
          );
          voteCell.append(b);
        }
        if (name === 'Queued' && state.account) {
          const eta = await read(gov, 'proposalEta', [pid]).catch(() => 0n);
          const b = h('button', { 'data-action': 'execute' }, 'Execute');
          b.addEventListener('click', () =>
            act(msg, b, 'Executing…', async () => {
              await send(gov, 'execute', [targets, values, calldatas, descriptionHash]);
              refresh();
              return 'Executed by the timelock.';
            }),
          );
          voteCell.append(b, h('div', { class: 'muted' }, `from ${new Date(Number(eta) * 1000).toLocaleTimeString()}`));
        }
        return h(
          'tr',
          { 'data-proposal': pid.toString() },
          h('td', {}, l.args.description.split('\n')[0].slice(0, 80)),
          h('td', {}, h('span', { class: `pill ${STATE_PILL[name] || ''}`, 'data-state': name }, name)),
          h('td', { class: 'num' }, `for ${tokens(votes[1], '')} · against ${tokens(votes[0], '')} · abstain ${tokens(votes[2], '')}`),
          voteCell,
        );
      }),
    );
    proposalsEl.replaceChildren(table(['proposal', 'state', 'votes', 'vote'], rows, { id: 'proposals-table' }));
  };
}
