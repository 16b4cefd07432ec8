// Treasury balance, fee income (chart from Transfer events into the treasury), governed parameters,
// proposals with their state, voting and a simple grant proposal.
import { encodeFunctionData, getAddress, keccak256, toHex } from 'viem';
import { contract, send, state } from '../chain.js';
import { lineChart } from '../charts.js';
import { showParameter } from '../params.js';
import { governorName } from '../snapshot.js';
import { act, field, h, keyOf, parseAmount, relative, renderIfChanged, short, stat, table, tokens, when } from '../ui.js';

export const id = 'treasury';
const STATE_PILL = { Active: 'ok', Succeeded: 'ok', Executed: 'ok', Queued: 'warn', Pending: 'warn', Defeated: 'bad', Canceled: 'bad', Expired: 'bad' };

/** For / against / abstain as bars, against the quorum (for + abstain count towards it). */
function voteBars([against, forVotes, abstain], quorum) {
  const total = against + forVotes + abstain;
  const scale = [total, quorum || 0n].reduce((a, b) => (a > b ? a : b), 1n);
  const pct = (v) => `${Number((v * 10_000n) / scale) / 100}%`;
  const bar = (cls, v) => h('span', { class: `bar ${cls}`, style: `width:${pct(v)}` });
  const counted = forVotes + abstain;
  return h(
    'div',
    { class: 'votes' },
    h('div', { class: 'bars', role: 'img', 'aria-label': 'votes for, against and abstaining' }, bar('for', forVotes), bar('against', against), bar('abstain', abstain), quorum ? h('span', { class: 'quorum', style: `left:${pct(quorum)}` }) : null),
    h('div', {}, `for ${tokens(forVotes, '')} · against ${tokens(against, '')} · abstain ${tokens(abstain, '')}`),
    quorum !== undefined ? h('div', { class: 'muted', 'data-quorum': quorum.toString() }, `quorum ${tokens(quorum)}${counted >= quorum ? ' reached' : `: ${tokens(quorum - counted)} more needed`}`) : null,
  );
}

function parametersTable(params) {
  const rows = params.map((p) =>
    h('tr', { 'data-param': `${p.contract}.${p.fn}` }, h('td', {}, p.name, h('div', { class: 'muted mono' }, `${p.contract}.${p.fn}`)), h('td', { class: 'num' }, showParameter(p.unit, p.value))),
  );
  return table(['parameter', 'value'], rows, { id: 'params-table', class: 'compact' });
}

export function mount(body, { refresh }) {
  const statsEl = h('div', { id: 'treasury-stats' });
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

  return function renderTreasury(snap) {
    const stats = [];
    const addr = snap.totals.treasury;
    const income = snap.fees.reduce((a, f) => a + f.fee, 0n);
    if (addr) {
      stats.push(stat('Treasury', h('span', { class: 'mono', title: addr }, short(addr))));
      stats.push(stat('Balance', h('span', { id: 'treasury-balance' }, tokens(snap.totals.treasuryBalance))));
      stats.push(stat('Fees collected', h('span', { id: 'fees-collected' }, tokens(income))));
    }
    if (snap.account) stats.push(stat('Your votes', h('span', { id: 'my-votes' }, tokens(snap.account.votes))));
    renderIfChanged(statsEl, keyOf([addr, snap.totals.treasuryBalance, income, snap.account?.votes]), () => h('div', { class: 'stats' }, stats));
    // fee chart: one point per fee-paying event, at its block's time
    renderIfChanged(chartEl, keyOf(snap.fees), () =>
      lineChart({ points: snap.fees.map((f) => ({ t: snap.blockTimes.get(f.blockNumber), v: Number(f.fee) / 1e18 })), unit: 'GPU', title: 'treasury fee income over time' }),
    );
    renderIfChanged(paramsEl, keyOf(snap.params), () => parametersTable(snap.params));
    const gov = governorName();
    if (!gov) {
      renderIfChanged(proposalsEl, 'none', () => h('p', { class: 'muted' }, 'No governor in this deployment.'));
      return;
    }
    const proposals = [...snap.proposals].filter(([, p]) => p.state).reverse();
    const voted = snap.account?.voted || new Set();
    const powers = snap.account?.power || new Map();
    renderIfChanged(proposalsEl, keyOf([snap.account?.address, proposals, [...voted], [...powers]]), () => proposalsTable(gov, proposals, voted, powers, snap.time));
  };

  function proposalsTable(gov, proposals, voted, powers, now) {
    const rows = proposals.map(([pid, p]) => {
      const name = p.state;
      const votes = p.votes;
      const voteCell = h('td', {});
      const power = powers.get(pid);
      if (name === 'Active' && state.account && !voted.has(pid) && power !== undefined) {
        voteCell.append(h('div', { class: 'muted', 'data-power': power.toString() }, `your votes: ${tokens(power)}`));
      }
      if (name === 'Active' && state.account && !voted.has(pid) && power === 0n) {
        voteCell.append(
          h('div', { class: 'muted', 'data-no-power': '1' }, `You had no delegated votes when this vote opened (${when(p.created.voteStart)}). Votes count from delegation: delegate to yourself below, and you can vote on proposals that open after that.`),
        );
      } else if (name === 'Active' && state.account && !voted.has(pid)) {
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
      } else if (voted.has(pid) && name === 'Active') voteCell.append(h('span', { class: 'muted' }, 'voted'));
      // after the vote: anyone may queue a succeeded proposal in the timelock, then execute it
      const { targets, calldatas, description } = p.created;
      const values = p.created.values;
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
        const b = h('button', { 'data-action': 'execute' }, 'Execute');
        b.addEventListener('click', () =>
          act(msg, b, 'Executing…', async () => {
            await send(gov, 'execute', [targets, values, calldatas, descriptionHash]);
            refresh();
            return 'Executed by the timelock.';
          }),
        );
        voteCell.append(b, h('div', { class: 'muted' }, `from ${when(p.eta)}`));
      }
      return h(
        'tr',
        { 'data-proposal': pid.toString() },
        h('td', {}, description.split('\n')[0].slice(0, 80)),
        h('td', {}, h('span', { class: `pill ${STATE_PILL[name] || ''}`, 'data-state': name }, name)),
        h('td', { class: 'num' }, voteBars(votes, p.quorum), h('div', { class: 'muted', 'data-vote-end': String(p.created.voteEnd) }, `${name === 'Pending' ? 'vote opens' : now < Number(p.created.voteEnd) ? 'vote ends' : 'vote ended'} ${when(name === 'Pending' ? p.created.voteStart : p.created.voteEnd)} (${relative(name === 'Pending' ? p.created.voteStart : p.created.voteEnd, now)})`)),
        voteCell,
      );
    });
    return table(['proposal', 'state', 'votes', 'vote'], rows, { id: 'proposals-table' });
  }
}
