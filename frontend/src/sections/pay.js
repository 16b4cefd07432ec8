// Pay per request: open a payment channel to a provider (contracts/channels/PaymentChannels.sol)
// whose voucher signer is a session key made and kept in this browser, then draw a digit and send
// it to the provider's paid inference endpoint; each request carries an EIP-712 voucher for the new
// cumulative amount, signed by the session key (no wallet prompt per request). Shows the price,
// what each request cost and what is left in the channel.
import { getAddress } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { contract, has, read, send, state } from '../chain.js';
import { nodesOf, watch } from '../snapshot.js';
import { act, field, h, keyOf, parseAmount, renderIfChanged, short, table, tokens, when } from '../ui.js';
import { ensureAllowance } from './staking.js';

export const id = 'pay';
const CHANNELS = 'PaymentChannels';
const STATUS = ['None', 'Open', 'Closing', 'Closed'];
export const SIDE = 16; // the demo digits model reads 16 x 16 ink levels (oracle/work/digits.py)
const LEVELS = 16; // ink quantised to 0, 1/16, ..., 1 like the model's training data

// ---- chain state of the channels, kept in the snapshot (one watcher, read only when a log names a channel)
watch({
  contract: CHANNELS,
  clone: (v) => ({ channels: new Map(v.channels), dirty: new Set(v.dirty) }),
  apply(draft, log, dirty) {
    const mine = (draft.extra[CHANNELS] ||= { channels: new Map(), dirty: new Set() });
    const a = log.args || {};
    if (log.eventName === 'ChannelOpened') mine.channels.set(a.channelId, { channelId: a.channelId, opened: a });
    if (log.eventName === 'Redeemed' && a.fee > 0n) draft.fees.push({ blockNumber: log.blockNumber, fee: a.fee, source: 'channel' });
    if (a.channelId !== undefined) mine.dirty.add(a.channelId);
    else dirty.params = true;
  },
  async read(draft, n, _dirty, first) {
    const prev = draft.extra[CHANNELS] || { channels: new Map(), dirty: new Set() };
    const channels = new Map(prev.channels);
    const ids = [...channels.keys()].filter((cid) => first || prev.dirty.has(cid));
    const [stored, status] = await Promise.all([
      Promise.all(ids.map((cid) => read(CHANNELS, 'getChannel', [cid], n))),
      Promise.all(ids.map((cid) => read(CHANNELS, 'statusOf', [cid], n))),
    ]);
    ids.forEach((cid, i) => channels.set(cid, { ...channels.get(cid), stored: stored[i], status: STATUS[Number(status[i])] }));
    draft.extra[CHANNELS] = { channels, dirty: new Set() };
  },
});

// ---- the session key: one per chain, contract and wallet account, in localStorage

const keyName = (account) => `gpu-compute:session-key:${state.chain.id}:${contract(CHANNELS).address}:${getAddress(account)}`;

/** The session key of `account` in this browser (made on first use). */
export function sessionKey(account) {
  const name = keyName(account);
  let pk = localStorage.getItem(name);
  if (!pk) {
    pk = generatePrivateKey();
    localStorage.setItem(name, pk);
  }
  return privateKeyToAccount(pk);
}

// what this browser has signed per channel: the cumulative amount of its latest voucher
const signedName = (channelId) => `gpu-compute:signed:${state.chain.id}:${contract(CHANNELS).address}:${channelId}`;
const signedOf = (channelId) => BigInt(localStorage.getItem(signedName(channelId)) || '0');

/** EIP-712 voucher of IPaymentChannels: Voucher(uint256 channelId,uint256 cumulativeAmount,uint256 modelId). */
export function signVoucher(signer, channelId, cumulativeAmount, modelId) {
  return signer.signTypedData({
    domain: { name: 'PaymentChannels', version: '1', chainId: state.chain.id, verifyingContract: contract(CHANNELS).address },
    types: {
      Voucher: [
        { name: 'channelId', type: 'uint256' },
        { name: 'cumulativeAmount', type: 'uint256' },
        { name: 'modelId', type: 'uint256' },
      ],
    },
    primaryType: 'Voucher',
    message: { channelId, cumulativeAmount, modelId },
  });
}

// ---- the drawing pad

/** Ink levels of the pad, `SIDE` x `SIDE`, row-major, 0 = background .. 1 = ink (quantised to 1/16). */
export function downscale(canvas) {
  const { width, height } = canvas;
  const px = canvas.getContext('2d').getImageData(0, 0, width, height).data;
  const out = new Array(SIDE * SIDE).fill(0);
  const cw = width / SIDE;
  const ch = height / SIDE;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) out[Math.floor(y / ch) * SIDE + Math.floor(x / cw)] += px[(y * width + x) * 4 + 3] / 255;
  }
  return out.map((v) => Math.round(Math.min(1, v / (cw * ch)) * LEVELS) / LEVELS);
}

function pad() {
  const canvas = h('canvas', { width: 192, height: 192, id: 'digit-pad', class: 'pad', 'aria-label': 'draw a digit' });
  const ctx = canvas.getContext('2d');
  ctx.lineWidth = 18; // 1.5 cells of the 16 x 16 grid, like the thicker pens of the training data
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.strokeStyle = '#000';
  let drawing = false;
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [((e.clientX - r.left) * canvas.width) / r.width, ((e.clientY - r.top) * canvas.height) / r.height];
  };
  canvas.addEventListener('pointerdown', (e) => {
    drawing = true;
    try {
      canvas.setPointerCapture?.(e.pointerId); // keep the stroke when the pen leaves the pad
    } catch {
      // a pointer the browser no longer tracks: draw without capture
    }
    const [x, y] = at(e);
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x + 0.01, y);
    ctx.stroke();
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    const [x, y] = at(e);
    ctx.lineTo(x, y);
    ctx.stroke();
  });
  for (const ev of ['pointerup', 'pointerleave', 'pointercancel']) canvas.addEventListener(ev, () => (drawing = false));
  const clear = () => ctx.clearRect(0, 0, canvas.width, canvas.height);
  return { canvas, clear };
}

function preview(levels) {
  const c = h('canvas', { width: SIDE, height: SIDE, id: 'digit-preview', class: 'preview', 'data-ink': levels.map((v) => Math.round(v * LEVELS)).join(',') });
  const ctx = c.getContext('2d');
  const img = ctx.createImageData(SIDE, SIDE);
  levels.forEach((v, i) => {
    const g = 255 - Math.round(v * 255);
    img.data.set([g, g, g, 255], i * 4);
  });
  ctx.putImageData(img, 0, 0);
  return c;
}

// ---- the paid endpoint, x402 version 2 transport with the "channel" scheme (oracle/client/pay_wire.py):
// a request without payment gets 402 and the terms; a paying one carries PAYMENT-SIGNATURE.

const PAYMENT_HEADER = 'PAYMENT-SIGNATURE';
export const INFER_PATH = '/infer';

async function post(url, body, headers = {}) {
  let res;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  } catch {
    throw new Error(`Cannot reach the provider at ${url}: is its agent running and reachable from this browser?`);
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    /* not JSON: reported by the caller */
  }
  return { status: res.status, data };
}

/** The channel offer of a 402 body: {price, chainId, contract, provider, modelId, expected}; `expected`
 * is the cumulative amount the provider needs next, when it says (body.expected.cumulativeAmount). */
export function termsOf(body) {
  const offer = body?.accepts?.find((a) => a.scheme === 'channel');
  if (!offer) throw new Error('The provider answered 402 without a payment-channel offer.');
  return {
    price: BigInt(offer.amount),
    chainId: Number(offer.extra?.chainId),
    contract: offer.extra?.channelContract,
    provider: offer.payTo,
    modelId: BigInt(offer.extra?.modelId ?? 0),
    expected: body.expected?.cumulativeAmount !== undefined ? BigInt(body.expected.cumulativeAmount) : null,
    reason: body.reason,
    error: body.error,
  };
}

/** GET /terms of a paid endpoint (the same offer a 402 carries). */
export async function fetchTerms(endpoint) {
  let res;
  try {
    res = await fetch(`${endpoint}/terms`);
  } catch {
    throw new Error(`Cannot reach the provider at ${endpoint}: is its paid endpoint running and reachable from this browser?`);
  }
  if (!res.ok) throw new Error(`The provider at ${endpoint} has no terms (HTTP ${res.status}).`);
  return termsOf(await res.json());
}

const paymentHeader = (voucher, chainId) =>
  btoa(JSON.stringify({ x402Version: 2, scheme: 'channel', network: `eip155:${chainId}`, payload: voucher }));

export function mount(body, { refresh }) {
  const msg = h('div', { class: 'msg', id: 'pay-msg' });
  const { canvas, clear } = pad();
  const previewEl = h('div', { id: 'digit-preview-wrap' }, preview(new Array(SIDE * SIDE).fill(0)));
  const answerEl = h('div', { id: 'pay-answer', class: 'stats' });
  const channelsEl = h('div', { id: 'channels-list' });
  const keyEl = h('div', { class: 'muted', id: 'session-key' });
  const present = has(CHANNELS);
  const ledger = []; // requests of this visit: {channelId, cost, left, label}
  let selected = null; // channelId of the channel requests are paid from

  canvas.addEventListener('pointerup', () => previewEl.replaceChildren(preview(downscale(canvas))));
  const clearBtn = h('button', { type: 'button', class: 'secondary', id: 'digit-clear', onclick: () => (clear(), previewEl.replaceChildren(preview(downscale(canvas)))) }, 'Clear');
  const sendBtn = h('button', { type: 'button', id: 'digit-send', disabled: !present }, 'Classify (pay one request)');
  body.append(
    h('p', { class: 'muted' }, 'Draw a digit, send it to a provider’s paid endpoint and see the answer; each request is paid by a voucher that a session key in this browser signs, no wallet prompt.'),
    h('div', { class: 'row pad-row' }, canvas, h('div', {}, h('div', { class: 'muted' }, `what the model sees (${SIDE}×${SIDE})`), previewEl, h('div', { class: 'row' }, clearBtn, sendBtn))),
    answerEl,
  );
  if (!present) {
    body.append(h('p', { class: 'muted', id: 'pay-absent' }, 'No payment-channel contract in this deployment: the pad works, paying a provider needs PaymentChannels deployed.'));
    body.append(msg);
    return () => {};
  }

  const providerSelect = h('select', { name: 'provider', 'aria-label': 'provider' });
  const openForm = h(
    'form',
    { class: 'row', id: 'open-channel-form' },
    h('label', {}, 'provider', providerSelect),
    field('deposit (GPU)', 'deposit', { value: '10', inputmode: 'decimal' }),
    field('model id (from the terms)', 'model', { class: 'wide', placeholder: '0x… or a decimal id; empty: none' }),
    h('button', { type: 'submit' }, 'Open channel'),
  );
  const endpointInput = h('input', { name: 'endpoint', class: 'wide', id: 'pay-endpoint', placeholder: 'http://… (the provider’s paid endpoint)', value: state.deployment.paidEndpoint || '' });
  const priceBtn = h('button', { type: 'button', class: 'secondary', id: 'pay-terms' }, 'Get the price');
  body.append(h('h3', {}, 'Your channels'), keyEl, channelsEl, h('div', { class: 'row' }, h('label', {}, 'paid endpoint', endpointInput), priceBtn), openForm, msg);
  let snapNow = null;

  priceBtn.addEventListener('click', () =>
    act(msg, priceBtn, 'Asking the provider for its terms…', async () => {
      const endpoint = endpointFor(String(providerSelect.value || '').split('|')[0] || null);
      if (!endpoint) throw new Error('Give the provider’s paid endpoint (http://…).');
      const t = await fetchTerms(endpoint);
      if (t.modelId) openForm.querySelector('input[name=model]').value = `0x${t.modelId.toString(16).padStart(64, '0')}`;
      const option = [...providerSelect.options].find((o) => t.provider && o.value.toLowerCase().startsWith(t.provider.toLowerCase()));
      if (option) providerSelect.value = option.value;
      drawPrice(t.price);
      return `One request costs ${tokens(t.price)}, paid to ${short(t.provider)} through channels on chain ${t.chainId}.`;
    }),
  );

  openForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = new FormData(openForm);
    act(msg, openForm.querySelector('button'), 'Approving and opening the channel…', async () => {
      if (!state.account) throw new Error('Connect a wallet first.');
      const choice = String(f.get('provider') || '');
      if (!choice) throw new Error('Choose a provider (a registered GPU with an endpoint).');
      const [provider] = choice.split('|');
      const amount = parseAmount(f.get('deposit'));
      const modelText = String(f.get('model') || '').trim();
      const modelId = modelText ? BigInt(modelText) : 0n;
      const signer = sessionKey(state.account);
      await ensureAllowance(contract(CHANNELS).address, amount);
      await send(CHANNELS, 'open', [getAddress(provider), signer.address, modelId, amount]);
      refresh();
      return `Channel opened with ${tokens(amount)}; requests are signed by the session key ${short(signer.address)}.`;
    });
  });

  sendBtn.addEventListener('click', () =>
    act(msg, sendBtn, 'Paying and asking the provider…', async () => {
      if (!state.account) throw new Error('Connect a wallet first.');
      const ch = selected !== null && snapNow?.extra[CHANNELS]?.channels.get(selected);
      if (!ch || ch.status !== 'Open') throw new Error('Open a channel to a provider first (or pick an open one).');
      const endpoint = endpointFor(ch.opened.provider);
      if (!endpoint) throw new Error(`Give the paid endpoint of provider ${short(ch.opened.provider)} (http://…).`);
      const levels = downscale(canvas);
      if (!levels.some((v) => v > 0)) throw new Error('Draw a digit on the pad first.');
      const modelId = BigInt(ch.stored.modelId);
      const request = { x: [levels] }; // the model's input rows (oracle/provider/paid.py)
      const ask = await post(`${endpoint}${INFER_PATH}`, request);
      if (ask.status !== 402) throw new Error(`The provider at ${endpoint} did not answer with payment terms (HTTP ${ask.status}).`);
      const t = termsOf(ask.data);
      if (t.chainId !== state.chain.id) throw new Error(`The provider asks for payment on chain ${t.chainId}, this page is on ${state.chain.id}.`);
      if (!t.contract || getAddress(t.contract) !== contract(CHANNELS).address) throw new Error(`The provider asks for payment through ${short(t.contract || '?')}, not this deployment’s channels.`);
      if (t.provider && getAddress(t.provider) !== getAddress(ch.opened.provider)) throw new Error(`The endpoint is paid to ${short(t.provider)}, this channel pays ${short(ch.opened.provider)}.`);
      const deposit = BigInt(ch.stored.deposit);
      const floor = [signedOf(selected), BigInt(ch.stored.redeemed)].reduce((a, b) => (a > b ? a : b));
      const cumulative = floor + t.price;
      if (cumulative > deposit) throw new Error(`The channel has ${tokens(deposit - floor)} left, a request costs ${tokens(t.price)}: top it up.`);
      const signature = await signVoucher(sessionKey(state.account), selected, cumulative, modelId);
      const voucher = { channelId: selected.toString(), cumulativeAmount: cumulative.toString(), modelId: modelId.toString(), signature };
      const { status, data } = await post(`${endpoint}${INFER_PATH}`, request, { [PAYMENT_HEADER]: paymentHeader(voucher, state.chain.id) });
      const expected = status === 402 ? termsOf(data).expected : null;
      if (expected !== null) localStorage.setItem(signedName(selected), (expected - t.price).toString()); // resync with what the provider holds
      if (status !== 200) throw new Error(`The provider refused the payment (HTTP ${status}): ${data?.error || 'no reason given'}.`);
      localStorage.setItem(signedName(selected), cumulative.toString()); // the provider holds this voucher now
      const label = data?.outputs?.label?.[0] ?? data?.label ?? data?.outputs?.[0];
      const charged = data?.charged !== undefined ? BigInt(data.charged) : t.price;
      const left = data?.remaining !== undefined ? BigInt(data.remaining) : deposit - cumulative;
      ledger.push({ channelId: selected, cost: charged, left, label });
      const energy = energyText(data?.energy);
      drawAnswer(t.price, charged, left, label, energy);
      renderChannels(snapNow);
      return `The model says ${label}; this request cost ${tokens(charged)}, ${tokens(left)} left in channel #${selected}${energy ? `; its energy ${energy}` : ''}.`;
    }),
  );

  function drawPrice(price) {
    answerEl.replaceChildren(h('div', { class: 'stat' }, h('div', { class: 'k' }, 'price per request'), h('div', { class: 'v', id: 'pay-price' }, tokens(price))));
  }

  function drawAnswer(price, cost, left, label, energy) {
    answerEl.replaceChildren(
      h('div', { class: 'stat' }, h('div', { class: 'k' }, 'answer'), h('div', { class: 'v', id: 'digit-answer' }, String(label))),
      h('div', { class: 'stat' }, h('div', { class: 'k' }, 'price per request'), h('div', { class: 'v', id: 'pay-price' }, tokens(price))),
      h('div', { class: 'stat' }, h('div', { class: 'k' }, 'this request cost'), h('div', { class: 'v', id: 'pay-cost' }, tokens(cost))),
      h('div', { class: 'stat' }, h('div', { class: 'k' }, 'left in the channel'), h('div', { class: 'v', id: 'pay-left' }, tokens(left))),
      h('div', { class: 'stat' }, h('div', { class: 'k' }, 'requests this visit'), h('div', { class: 'v' }, String(ledger.length))),
      ...(energy ? [h('div', { class: 'stat' }, h('div', { class: 'k' }, 'energy of this request'), h('div', { class: 'v', id: 'pay-energy' }, energy))] : []),
    );
  }

  /** The provider's metered energy of a request ({mj, estimate}) as text; '' when it sent none. */
  function energyText(e) {
    if (!e || typeof e.mj !== 'number' || !Number.isFinite(e.mj)) return '';
    return `${e.mj.toPrecision(3)} mJ${e.estimate ? ' (CPU estimate)' : ''}`;
  }

  /** The paid endpoint: the one typed, else the deployment's, else the provider's node endpoint. */
  function endpointFor(provider) {
    const typed = endpointInput.value.trim();
    if (typed) return typed.replace(/\/+$/, '');
    const published = state.deployment.paidEndpoints?.[provider ? getAddress(provider) : ''] || state.deployment.paidEndpoint;
    if (published) return published.replace(/\/+$/, '');
    const node = provider && nodesOf(snapNow, provider).find((n) => /^https?:\/\//.test(n.metadataURI || ''));
    return node ? node.metadataURI.replace(/\/+$/, '') : null;
  }

  function channelButton(label, cls, busy, fn, action) {
    const b = h('button', { class: cls, 'data-action': action }, label);
    b.addEventListener('click', () => act(msg, b, busy, fn));
    return b;
  }

  function renderChannels(snap) {
    const me = state.account ? getAddress(state.account) : null;
    const all = [...(snap.extra[CHANNELS]?.channels.values() || [])];
    const mine = me ? all.filter((c) => getAddress(c.opened.user) === me) : [];
    if (selected === null || !mine.some((c) => c.channelId === selected && c.status === 'Open')) selected = mine.find((c) => c.status === 'Open')?.channelId ?? null;
    keyEl.textContent = me ? `session key ${sessionKey(me).address} (kept in this browser; it signs vouchers, it holds no funds)` : 'connect a wallet to open a channel';
    keyEl.dataset.address = me ? sessionKey(me).address : '';
    const rows = mine
      .slice()
      .reverse()
      .map((c) => {
        const s = c.stored;
        const deposit = BigInt(s?.deposit ?? c.opened.deposit);
        const used = signedOf(c.channelId) > BigInt(s?.redeemed ?? 0) ? signedOf(c.channelId) : BigInt(s?.redeemed ?? 0);
        const actions = h('td', {});
        if (c.status === 'Open') {
          const pick = h('input', { type: 'radio', name: 'pay-channel', checked: c.channelId === selected, 'aria-label': `pay from channel ${c.channelId}` });
          pick.addEventListener('change', () => (selected = c.channelId));
          actions.append(
            pick,
            ' ',
            channelButton('Top up 10', 'secondary', 'Topping up…', async () => {
              const amount = parseAmount('10');
              await ensureAllowance(contract(CHANNELS).address, amount);
              await send(CHANNELS, 'topUp', [c.channelId, amount]);
              refresh();
              return `Channel #${c.channelId} topped up by ${tokens(amount)}.`;
            }, 'topup'),
            ' ',
            channelButton('Close', 'secondary', 'Asking to close…', async () => {
              await send(CHANNELS, 'requestClose', [c.channelId]);
              refresh();
              return `Channel #${c.channelId} closing: the provider may still redeem until the close delay ends, then withdraw the rest.`;
            }, 'close'),
          );
        } else if (c.status === 'Closing') {
          const closesAt = Number(s.closesAt);
          if (snap.time >= closesAt)
            actions.append(
              channelButton('Withdraw the rest', '', 'Withdrawing…', async () => {
                await send(CHANNELS, 'withdraw', [c.channelId]);
                refresh();
                return `Channel #${c.channelId} closed; what was not redeemed is back in your wallet.`;
              }, 'withdraw'),
            );
          else actions.append(h('span', { class: 'muted' }, `withdraw from ${when(closesAt)}`));
        }
        return h(
          'tr',
          { 'data-channel': c.channelId.toString(), 'data-status': c.status },
          h('td', {}, `#${c.channelId}`),
          h('td', { class: 'mono' }, short(c.opened.provider)),
          h('td', { class: 'num' }, tokens(deposit)),
          h('td', { class: 'num' }, tokens(s?.redeemed ?? 0n)),
          h('td', { class: 'num', 'data-left': (deposit - used).toString() }, tokens(deposit - used)),
          h('td', {}, c.status),
          actions,
        );
      });
    channelsEl.replaceChildren(table(['channel', 'provider', 'deposit', 'redeemed', 'left (signed)', 'state', ''], rows, { id: 'channels-table' }));
  }

  return function renderPay(snap) {
    snapNow = snap;
    const providers = [...snap.nodes.values()].filter((n) => n.active && /^https?:\/\//.test(n.metadataURI || ''));
    renderIfChanged(providerSelect, keyOf(providers.map((n) => [n.owner, n.metadataURI])), () => {
      const frag = document.createDocumentFragment();
      frag.append(...providers.map((n) => h('option', { value: `${n.owner}|${n.metadataURI}` }, `${n.gpuModel} ${short(n.owner)} ${n.metadataURI}`)));
      return frag;
    });
    const key = keyOf([state.account, [...(snap.extra[CHANNELS]?.channels || [])], selected]);
    if (channelsEl.dataset.key !== key) {
      renderChannels(snap);
      channelsEl.dataset.key = key;
    }
  };
}
