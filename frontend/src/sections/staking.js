// Staking: stake (approve + stake), request unbond, withdraw, with a live unbonding countdown;
// register a GPU by its NVML UUID (the contract gives it the node id keccak256(UUID), shown as
// the UUID is typed) with the endpoint validators challenge, and deregister one.
import { getAddress, keccak256, toHex } from 'viem';
import { contract, has, read, send, state } from '../chain.js';
import { nodesOf } from '../snapshot.js';
import { act, duration, field, h, keyOf, parseAmount, relative, renderIfChanged, seconds, short, stat, table, tokens, when } from '../ui.js';

export const id = 'staking';

// ComputeStaking.registerNode's rule (its NatSpec; oracle/inventory.py uuid_index): exactly 40
// characters, GPU- or MIG-, then 32 lower-case hex digits grouped 8-4-4-4-12 by dashes.
const UUID_FORM = 'PPPPhhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh';
const UUID_HELP = 'Copy it as `oracle inventory` or `nvidia-smi -L` prints it: GPU- (or MIG-), then 8-4-4-4-12 lower-case hex digits.';

/** Why `uuid` is not a GPU UUID the contract accepts (a sentence), or null when it is. */
export function uuidProblem(uuid) {
  const prefix = uuid.startsWith('M') ? 'MIG-' : 'GPU-';
  const chars = [...uuid];
  for (let i = 0; i < Math.min(chars.length, UUID_FORM.length); i++) {
    const want = UUID_FORM[i];
    const c = chars[i];
    const bad = want === 'P' ? c !== prefix[i] : want === '-' ? c !== '-' : !/^[0-9a-f]$/.test(c);
    if (bad) {
      const where = want === 'P' ? 'the prefix GPU- or MIG-' : want === '-' ? 'a dash' : 'a lower-case hex digit (0-9, a-f)';
      return `Not a GPU UUID as NVML writes it: character ${i + 1} is “${c}” where ${where} belongs. ${UUID_HELP}`;
    }
  }
  if (chars.length !== UUID_FORM.length) return `Not a GPU UUID as NVML writes it: it has ${chars.length} characters, NVML's have ${UUID_FORM.length}. ${UUID_HELP}`;
  return null;
}

/** Approve `spender` for `amount` of the token if the allowance is short (one extra transaction). */
/** Refuse early when the wallet cannot cover `amount` (an approval or a permit would be wasted). */
export async function checkBalance(amount) {
  const balance = await read('ComputeToken', 'balanceOf', [state.account]);
  if (balance < amount) throw new Error(`Your balance is ${tokens(balance)}; this needs ${tokens(amount)}. Nothing was sent.`);
}

export async function ensureAllowance(spender, amount) {
  await checkBalance(amount);
  const allowance = await read('ComputeToken', 'allowance', [state.account, spender]);
  if (allowance < amount) await send('ComputeToken', 'approve', [spender, amount]);
}

export function mount(body, { refresh }) {
  if (!has('ComputeStaking')) {
    body.append(h('p', { class: 'muted' }, 'No staking contract in this deployment.'));
    return async () => {};
  }
  const statsEl = h('div', { id: 'stake-stats' });
  const countdown = h('div', { class: 'msg', id: 'unbond-countdown' });
  const msg = h('div', { class: 'msg', id: 'stake-msg' });
  const stakeForm = h('form', { class: 'row', id: 'stake-form' }, field('amount (GPU)', 'amount', { value: '1000', inputmode: 'decimal' }), h('button', { type: 'submit' }, 'Stake'));
  const unbondForm = h('form', { class: 'row', id: 'unbond-form' }, field('amount (GPU)', 'amount', { value: '100', inputmode: 'decimal' }), h('button', { type: 'submit', class: 'secondary' }, 'Request unbond'));
  const withdrawBtn = h('button', { id: 'withdraw', class: 'secondary' }, 'Withdraw');
  const nodeForm = h(
    'form',
    { class: 'row', id: 'register-node-form' },
    field('GPU UUID (oracle inventory)', 'uuid', { class: 'wide', placeholder: 'GPU-…' }),
    field('model', 'model', { value: 'NVIDIA H100 80GB HBM3' }),
    field('VRAM (MiB)', 'vram', { value: '81559', inputmode: 'numeric' }),
    field('challenge endpoint', 'endpoint', { class: 'wide', value: 'http://127.0.0.1:8600' }),
    h('button', { type: 'submit' }, 'Register GPU'),
  );
  const nodeIdEl = h('div', { class: 'msg', id: 'register-node-id' });
  const uuidInput = nodeForm.querySelector('input[name=uuid]');
  const showNodeId = () => {
    const uuid = uuidInput.value.trim();
    const problem = uuid ? uuidProblem(uuid) : null;
    nodeIdEl.className = `msg ${problem ? 'error' : 'busy'}`;
    nodeIdEl.textContent = !uuid ? '' : problem || `This GPU's node id will be ${keccak256(toHex(uuid))} (keccak256 of its UUID).`;
  };
  uuidInput.addEventListener('input', showNodeId);
  const myNodesEl = h('div', { id: 'my-nodes' });
  const staking = () => contract('ComputeStaking').address;

  stakeForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const amountText = new FormData(stakeForm).get('amount');
    act(msg, stakeForm.querySelector('button'), 'Approving and staking…', async () => {
      const amount = parseAmount(amountText);
      await ensureAllowance(staking(), amount);
      await send('ComputeStaking', 'stake', [amount]);
      refresh();
      return `Staked ${tokens(amount)}.`;
    });
  });
  unbondForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const amountText = new FormData(unbondForm).get('amount');
    act(msg, unbondForm.querySelector('button'), 'Requesting unbond…', async () => {
      const amount = parseAmount(amountText);
      await send('ComputeStaking', 'requestUnbond', [amount]);
      refresh();
      return `Unbonding ${tokens(amount)}.`;
    });
  });
  nodeForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const form = new FormData(nodeForm);
    act(msg, nodeForm.querySelector('button'), 'Registering the GPU…', async () => {
      const uuid = String(form.get('uuid')).trim();
      const model = String(form.get('model')).trim();
      const vram = Number(form.get('vram'));
      const endpoint = String(form.get('endpoint')).trim();
      if (!uuid) throw new Error('Enter the GPU UUID that `oracle inventory` prints (GPU-…).');
      const problem = uuidProblem(uuid);
      if (problem) throw new Error(`${problem} Nothing was sent.`);
      if (!model) throw new Error('Enter the GPU model, e.g. NVIDIA H100 80GB HBM3.');
      if (!Number.isInteger(vram) || vram <= 0 || vram > 0xffffffff) throw new Error('VRAM must be a whole number of MiB, e.g. 81559.');
      if (endpoint && !/^https?:\/\//.test(endpoint)) throw new Error('The endpoint must start with http:// or https:// (where `oracle serve` listens).');
      const nodeId = keccak256(toHex(uuid)); // what the contract derives from the UUID
      await send('ComputeStaking', 'registerNode', [uuid, model, vram, endpoint]);
      refresh();
      return `GPU registered as node ${short(nodeId)}; validators will challenge it at ${endpoint || '(no endpoint)'}.`;
    });
  });
  withdrawBtn.addEventListener('click', () =>
    act(msg, withdrawBtn, 'Withdrawing…', async () => {
      await send('ComputeStaking', 'withdraw', []);
      refresh();
      return 'Withdrawn.';
    }),
  );
  body.append(
    statsEl,
    countdown,
    h('div', { class: 'grid2' }, stakeForm, h('div', { class: 'row' }, unbondForm, withdrawBtn)),
    h('h3', {}, 'Your GPUs'),
    myNodesEl,
    nodeForm,
    nodeIdEl,
    msg,
  );

  function renderMyNodes(snap) {
    const me = snap.account?.address || null;
    const mine = nodesOf(snap, me);
    renderIfChanged(myNodesEl, keyOf([me, mine.map((n) => n.nodeId)]), () => {
      const rows = mine.map((n) => {
      const btn = h('button', { class: 'secondary', 'data-action': 'deregister' }, 'Deregister');
      btn.addEventListener('click', () =>
        act(msg, btn, 'Deregistering…', async () => {
          await send('ComputeStaking', 'deregisterNode', [n.nodeId]);
          refresh();
          return `Node ${short(n.nodeId)} deregistered; its reserved stake is free again.`;
        }),
      );
      return h('tr', { 'data-node': n.nodeId }, h('td', {}, n.gpuModel), h('td', { class: 'mono' }, short(n.nodeId)), h('td', { class: 'muted' }, n.metadataURI), h('td', {}, btn));
      });
      return table(['GPU', 'node', 'endpoint', ''], rows, { id: 'my-nodes-table', class: 'compact' });
    });
  }

  let release = 0;
  let skew = 0; // chain time - local time (anvil may run ahead after time travel)
  setInterval(() => {
    if (!release) {
      countdown.textContent = '';
      return;
    }
    const left = release - (Date.now() / 1000 + skew);
    countdown.className = `msg ${left > 0 ? 'busy' : 'ok'}`;
    countdown.textContent = left > 0 ? `Unbonding: withdrawable in ${duration(left)}` : 'Unbonding done: you can withdraw now.';
    if (left <= 0 && withdrawBtn.disabled) withdrawBtn.disabled = false; // the chain's next block is past the release
  }, 500);

  return function renderStaking(snap) {
    const param = (fn) => snap.params.find((p) => p.contract === 'ComputeStaking' && p.fn === fn)?.value;
    const period = param('unbondingPeriod');
    const minStake = param('minStakePerGpu');
    const stats = [stat('Total staked', tokens(snap.totals.staked))];
    if (period !== undefined) stats.push(stat('Unbonding period', seconds(period)));
    if (minStake !== undefined) stats.push(stat('Stake per GPU', tokens(minStake)));
    const acct = snap.account;
    if (acct?.provider) {
      const [staked, locked, unbonding, unbondingRelease, nodeCount] = acct.provider;
      skew = snap.time - Date.now() / 1000;
      release = unbonding > 0n ? Number(unbondingRelease) : 0;
      const ready = unbonding > 0n && release <= snap.time;
      withdrawBtn.disabled = !ready;
      withdrawBtn.title = ready ? `Withdraw ${tokens(unbonding)}` : unbonding > 0n ? `${tokens(unbonding)} is withdrawable from ${when(release)} (${relative(release, snap.time)})` : 'Nothing to withdraw: request an unbond first';
      stats.push(
        stat('Your stake', h('span', { id: 'my-stake' }, tokens(staked))),
        stat('Free', h('span', { id: 'my-free-stake' }, tokens(acct.free))),
        stat('Locked in jobs', tokens(locked)),
        stat('Unbonding', h('span', { id: 'my-unbonding' }, tokens(unbonding))),
        stat('GPUs', String(nodeCount)),
        stat('Wallet', tokens(acct.token)),
      );
    } else {
      release = 0;
      withdrawBtn.disabled = true;
      withdrawBtn.title = 'Connect a wallet first';
      stats.push(stat('Your stake', 'connect a wallet'));
    }
    renderIfChanged(statsEl, keyOf([snap.totals.staked, period, minStake, acct]), () => h('div', { class: 'stats' }, stats));
    renderMyNodes(snap);
  };
}
