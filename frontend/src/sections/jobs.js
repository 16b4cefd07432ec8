// Jobs: post a job (approve + post, or an EIP-2612 permit signed off chain + post in one
// transaction), follow its state (open → accepted → submitted → settled), approve or dispute as
// requester; a provider account can accept and submit from here too.
import { getAddress, keccak256, parseSignature, toHex } from 'viem';
import { contract, has, read, send, signTyped, state } from '../chain.js';
import { jobStatus, jobTerms, nodesOf, recentJobs } from '../snapshot.js';
import { act, field, h, keyOf, parseAmount, percentOfBps, relative, short, table, tokens, when } from '../ui.js';
import { outputsButton, runForm } from './batch.js';
import { checkBalance, ensureAllowance } from './staking.js';

export const id = 'jobs';
const PILL = { Closed: 'ok', Open: 'warn', Accepted: 'warn', Submitted: 'warn', Settled: 'ok', Resolved: 'ok', Expired: 'warn', Disputed: 'bad', Cancelled: 'bad', TimedOut: 'bad' };

async function permitSignature(amount) {
  const token = contract('ComputeToken');
  const spender = contract('JobEscrow').address;
  const [nonce, name] = await Promise.all([read('ComputeToken', 'nonces', [state.account]), read('ComputeToken', 'name')]);
  // chain time, not the browser's clock (a devnet may run ahead after time travel)
  const deadline = (await state.publicClient.getBlock()).timestamp + 3600n;
  const signature = await signTyped({
    domain: { name, version: '1', chainId: state.chain.id, verifyingContract: token.address },
    types: {
      Permit: [
        { name: 'owner', type: 'address' },
        { name: 'spender', type: 'address' },
        { name: 'value', type: 'uint256' },
        { name: 'nonce', type: 'uint256' },
        { name: 'deadline', type: 'uint256' },
      ],
    },
    primaryType: 'Permit',
    message: { owner: state.account, spender, value: amount, nonce, deadline },
  });
  const sig = parseSignature(signature);
  const v = sig.v !== undefined ? Number(sig.v) : 27 + sig.yParity;
  return { deadline, v, r: sig.r, s: sig.s };
}

export function mount(body, { refresh }) {
  if (!has('JobEscrow')) {
    body.append(h('p', { class: 'muted' }, 'No job escrow in this deployment.'));
    return async () => {};
  }
  const msg = h('div', { class: 'msg', id: 'jobs-msg' });
  const listEl = h('div', { id: 'jobs-list' });
  const modelSelect = h('select', { name: 'model', 'aria-label': 'model' }, h('option', { value: '0' }, 'no model'));
  const postForm = h(
    'form',
    { class: 'row', id: 'post-job-form' },
    field('budget (GPU)', 'budget', { value: '100', inputmode: 'decimal' }),
    field('deadline (minutes)', 'minutes', { value: '60', inputmode: 'numeric' }),
    field('min score', 'minScore', { value: '0', inputmode: 'numeric' }),
    h('label', {}, 'model', modelSelect),
    field('spec', 'spec', { class: 'wide', value: 'run inference: 1k prompts' }),
    h('label', {}, 'payment', h('select', { name: 'mode', 'aria-label': 'payment' }, h('option', { value: 'permit' }, 'permit (1 tx)'), h('option', { value: 'approve' }, 'approve + post'))),
    h('button', { type: 'submit' }, 'Post job'),
  );
  postForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = new FormData(postForm);
    act(msg, postForm.querySelector('button[type=submit]'), 'Posting the job…', async () => {
      if (!state.account) throw new Error('Connect a wallet first.');
      const budget = parseAmount(f.get('budget'));
      const minutes = Number(f.get('minutes'));
      if (!(minutes > 0)) throw new Error('The deadline must be a positive number of minutes.');
      const block = await state.publicClient.getBlock();
      const deadline = block.timestamp + BigInt(Math.round(minutes * 60));
      const minScore = Number(f.get('minScore') || 0);
      const modelId = BigInt(f.get('model') || 0);
      const specHash = keccak256(toHex(String(f.get('spec'))));
      let receipt;
      if (f.get('mode') === 'permit') {
        await checkBalance(budget);
        const p = await permitSignature(budget);
        receipt = await send('JobEscrow', 'postJobWithPermit', [budget, deadline, minScore, modelId, specHash, p.deadline, p.v, p.r, p.s]);
      } else {
        await ensureAllowance(contract('JobEscrow').address, budget);
        receipt = await send('JobEscrow', 'postJob', [budget, deadline, minScore, modelId, specHash]);
      }
      refresh();
      return `Job posted (tx ${short(receipt.transactionHash)}).`;
    });
  });
  let latest = null;
  const runJob = runForm({ snap: () => latest, msg, refresh });
  body.append(postForm, h('h3', {}, 'Run a model on your inputs'), runJob, listEl, msg);

  function button(label, cls, busy, fn, dataAction) {
    const b = h('button', { class: cls, 'data-action': dataAction }, label);
    b.addEventListener('click', () => act(msg, b, busy, fn));
    return b;
  }

  /** When the job was posted and, while it runs, its deadline (chain time). */
  function timesLine(snap, j, status) {
    const posted = snap.blockTimes.get(j.postedBlock);
    const deadline = Number(j.posted.deadline);
    const parts = [];
    if (posted) parts.push(`posted ${relative(posted, snap.time)}`);
    if (status === 'Open' || status === 'Accepted') parts.push(`deadline ${when(deadline)} (${relative(deadline, snap.time)})`);
    return parts.length ? h('div', { class: 'muted', 'data-times': `${posted || ''}:${deadline}` }, parts.join(' · ')) : null;
  }

  /** What the provider is paid under, shown before anyone accepts (issue 11 #2). */
  function termsLine(t) {
    const who = t.receiver && BigInt(t.receiver) !== 0n ? ` to ${short(t.receiver)}` : '';
    const royalty = t.bps ? `royalty ${percentOfBps(t.bps)} (${tokens(t.royalty)})${who}` : 'no royalty';
    const note = !t.minted
      ? h('span', { class: 'pill bad', 'data-terms-note': 'unminted' }, 'model not minted: a royalty set later would come out of the provider’s pay')
      : t.modelId && !t.fixed
        ? h('span', { class: 'pill warn', 'data-terms-note': 'current' }, 'the model’s rate now, read again at settlement')
        : t.modelId
          ? h('span', { class: 'pill ok', 'data-terms-note': 'fixed' }, 'fixed when posted')
          : null;
    return h(
      'div',
      { class: 'muted terms', 'data-terms': `${t.bps}:${t.provider}` },
      h('div', {}, `provider gets ${tokens(t.provider)} · fee ${tokens(t.fee)} · ${royalty}`),
      note,
    );
  }

  return function renderJobs(snap) {
    latest = snap;
    const models = [...snap.models.values()].filter((m) => m.royalty);
    // model choices for the post form (keep the user's pick)
    const picked = modelSelect.value;
    const modelsKey = keyOf(models.map((m) => [m.modelId, m.royalty]));
    if (modelSelect.dataset.key !== modelsKey) {
      modelSelect.replaceChildren(h('option', { value: '0' }, 'no model'), ...models.map((m) => h('option', { value: m.modelId.toString() }, `${short(m.weightsHash)} ${m.uri.length > 24 ? `${m.uri.slice(0, 20)}…` : m.uri} (${percentOfBps(m.royalty[1])} royalty)`)));
      modelSelect.dataset.key = modelsKey;
      if ([...modelSelect.options].some((o) => o.value === picked)) modelSelect.value = picked;
    }
    const me = snap.account?.address || null;
    const myNodes = nodesOf(snap, me);
    const now = snap.time;
    const recent = recentJobs(snap);
    // redraw only when something a row shows changed (keeps the table still between blocks)
    const key = keyOf([me, myNodes.map((n) => n.nodeId), recent, recent.map((j) => [Number(j.stored.deadline) < now, jobTerms(snap, j), snap.blockTimes.get(j.postedBlock)]), Math.floor(now / 60)]);
    if (listEl.dataset.key === key) return;
    const rows = recent.map((j) => {
        // requester, budget and model come from the JobPosted event (a finished job's storage is
        // cleared); the live status, provider and deadline from getJob.
        const { jobId, requester, budget, modelId } = j.posted;
        const job = j.stored;
        const status = jobStatus(j);
        const terms = jobTerms(snap, j);
        const provider = j.accepted?.provider || (BigInt(job.provider) !== 0n ? job.provider : null);
        const actions = h('td', {});
        const isRequester = me && getAddress(requester) === me;
        const isProvider = me && provider && getAddress(provider) === me;
        if (isRequester && status === 'Submitted') {
          const disputeItems = h('input', { class: 'items', placeholder: 'wrong items, e.g. 0, 17', value: '0', 'data-field': 'dispute-items', size: 12 });
          actions.append(
            button('Approve', '', 'Approving the result…', async () => {
              await send('JobEscrow', 'approveResult', [jobId]);
              refresh();
              return `Job ${jobId} approved and settled.`;
            }, 'approve'),
            ' ',
            disputeItems,
            ' ',
            button('Dispute', 'danger', 'Disputing…', async () => {
              // The dispute names the result it contests and the items claimed wrong (ascending, at
              // most 256); its bond is approved first. Validators re-run those items.
              const items = [...new Set(disputeItems.value.split(/[\s,]+/).filter(Boolean).map(Number))].sort((a, b) => a - b);
              if (!items.length || items.some((i) => !Number.isInteger(i) || i < 0) || items.length > 256) {
                throw new Error('Name the items you claim are wrong as item numbers, e.g. "0, 17" (at most 256).');
              }
              const bond = await read('JobEscrow', 'disputeBond', []);
              if (bond > 0n) await ensureAllowance(contract('JobEscrow').address, bond);
              await send('JobEscrow', 'dispute', [jobId, j.submitted.resultHash, items]);
              refresh();
              return `Job ${jobId} disputed (items ${items.join(', ')}; bond ${tokens(bond)}): the validators re-run them and sign a verdict; governance or an arbiter is the fallback within 14 days.`;
            }, 'dispute'),
          );
        }
        const outputs = isRequester ? outputsButton(snap, j, msg) : null;
        if (outputs) actions.append(outputs.button);
        if (isRequester && status === 'Open') {
          actions.append(
            button('Cancel', 'secondary', 'Cancelling…', async () => {
              await send('JobEscrow', 'cancelJob', [jobId]);
              refresh();
              return `Job ${jobId} cancelled, budget refunded.`;
            }, 'cancel'),
          );
        }
        if (!isRequester && status === 'Open' && myNodes.length) {
          actions.append(
            button(`Accept (you get ${tokens(terms.provider)})`, '', 'Accepting…', async () => {
              await send('JobEscrow', 'acceptJob', [jobId, myNodes[0].nodeId, '0x']);
              refresh();
              return `Job ${jobId} accepted with ${myNodes[0].gpuModel}.`;
            }, 'accept'),
          );
        }
        if (isProvider && status === 'Accepted') {
          actions.append(
            button('Submit result', '', 'Submitting…', async () => {
              await send('JobEscrow', 'submitResult', [jobId, keccak256(toHex(`result of job ${jobId}`))]);
              refresh();
              return `Result of job ${jobId} submitted.`;
            }, 'submit'),
          );
        }
        if (status === 'Submitted' && !isRequester && Number(job.deadline) < now) {
          actions.append(
            button('Finalize', 'secondary', 'Finalizing…', async () => {
              await send('JobEscrow', 'finalize', [jobId]);
              refresh();
              return `Job ${jobId} finalized.`;
            }, 'finalize'),
          );
        }
        if (status === 'Disputed' && Number(job.deadline) < now) {
          actions.append(
            button('Close dispute (50/50)', 'secondary', 'Closing the dispute…', async () => {
              await send('JobEscrow', 'expireDispute', [jobId]);
              refresh();
              return `Dispute of job ${jobId} closed undecided: half the budget to each side, collateral released.`;
            }, 'expire'),
          );
        }
        const split = j.settled;
        const detail = split
          ? h('div', { class: 'muted', 'data-split': '1' }, `provider ${tokens(split.providerAmount)} · royalty ${tokens(split.royalty)} · fee ${tokens(split.fee)}`)
          : status === 'Submitted'
            ? h('div', { class: 'muted' }, `challenge window ends ${when(job.deadline)}`)
            : status === 'Disputed'
              ? h('div', { class: 'muted', 'data-resolve-by': String(job.deadline) }, `arbiters decide by ${when(job.deadline)}; then anyone may close it 50/50`)
              : null;
        const row = h(
          'tr',
          { 'data-job': jobId.toString(), 'data-status': status },
          h('td', {}, `#${jobId}`),
          h('td', { class: 'mono' }, short(requester)),
          h('td', { class: 'num' }, tokens(budget), status === 'Open' || status === 'Accepted' ? termsLine(terms) : null),
          h('td', { class: 'mono' }, modelId ? short(toHex(modelId, { size: 32 })) : '–'),
          h('td', {}, h('span', { class: `pill ${PILL[status] || ''}`, 'data-state': status }, status), detail, timesLine(snap, j, status)),
          h('td', { class: 'mono' }, provider ? short(provider) : '–'),
          actions,
        );
        // checked outputs get the table's whole width, under their job
        return outputs ? [row, h('tr', { class: 'outputs-row', 'data-outputs-of': jobId.toString() }, h('td', { colspan: 7 }, outputs.outputs))] : [row];
      });
    listEl.replaceChildren(table(['job', 'requester', 'budget', 'model', 'state', 'provider', ''], rows.flat(), { id: 'jobs-table' }));
    listEl.dataset.key = key;
  };
}
