// Models: mint a model NFT from its ONNX file (model id = SHA-256 of the file, computed here; royalty
// chosen at mint), list it on the marketplace, buy one with the royalty and fee split shown first.
import { getAddress } from 'viem';
import { contract, has, read, send, state } from '../chain.js';
import { checkOnnx, cidOf, sha256 } from '../content.js';
import { act, field, h, keyOf, parseAmount, percentOfBps, renderIfChanged, short, table, tokens } from '../ui.js';
import { ensureAllowance } from './staking.js';

export const id = 'models';

export function mount(body, { refresh }) {
  if (!has('ModelNFT')) {
    body.append(h('p', { class: 'muted' }, 'No model NFT contract in this deployment.'));
    return async () => {};
  }
  const msg = h('div', { class: 'msg', id: 'models-msg' });
  const listEl = h('div', { id: 'models-list' });
  const fileInput = h('input', { type: 'file', name: 'file', accept: '.onnx,application/octet-stream', class: 'wide', 'aria-label': 'ONNX model file' });
  const idEl = h('div', { class: 'muted mono', id: 'mint-model-id' });
  const uriInput = h('input', { name: 'uri', class: 'wide', placeholder: 'ipfs://… (filled from the file)' });
  let chosen = null; // {digest, cid, size}
  fileInput.addEventListener('change', async () => {
    chosen = null;
    idEl.textContent = '';
    const file = fileInput.files?.[0];
    if (!file) return;
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const onnx = checkOnnx(bytes);
      const digest = await sha256(bytes);
      chosen = { digest, cid: cidOf(digest), size: bytes.length };
      idEl.textContent = `model id (sha256) ${digest} · ${file.name}, ${bytes.length} bytes, ONNX ir_version ${onnx.irVersion}`;
      idEl.dataset.modelId = digest;
      if (!uriInput.value || uriInput.dataset.auto) {
        uriInput.value = `ipfs://${chosen.cid}`;
        uriInput.dataset.auto = '1';
      }
      msg.textContent = '';
    } catch (err) {
      msg.className = 'msg error';
      msg.textContent = err.message;
    }
  });
  uriInput.addEventListener('input', () => delete uriInput.dataset.auto);
  const mintForm = h(
    'form',
    { class: 'row', id: 'mint-form' },
    h('label', {}, 'ONNX model file', fileInput),
    h('label', {}, 'metadata URI', uriInput),
    field('royalty (%)', 'royalty', { value: '5', inputmode: 'decimal' }),
    h('button', { type: 'submit' }, 'Mint model NFT'),
  );
  mintForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = new FormData(mintForm);
    act(msg, mintForm.querySelector('button'), 'Minting…', async () => {
      if (!state.account) throw new Error('Connect a wallet first.');
      if (!chosen) throw new Error('Choose the model’s ONNX file first: its SHA-256 is the model id.');
      const pct = Number(f.get('royalty'));
      if (!Number.isFinite(pct) || pct < 0) throw new Error('Royalty must be a percentage like 5 or 2.5.');
      const bps = Math.round(pct * 100);
      await send('ModelNFT', 'mint', [state.account, chosen.digest, String(f.get('uri') || `ipfs://${chosen.cid}`), state.account, bps]);
      refresh();
      return `Minted model ${short(chosen.digest)} with a ${pct}% royalty.`;
    });
  });
  body.append(mintForm, idEl, listEl, msg);
  const priceDraft = new Map(); // typed list prices survive a refresh

  function actions(m) {
    const cell = h('td', {});
    if (!state.account || !has('ModelMarketplace')) return cell;
    const me = getAddress(state.account);
    const market = contract('ModelMarketplace').address;
    const nft = contract('ModelNFT').address;
    if (getAddress(m.owner) === me) {
      const id = m.modelId.toString();
      const price = h('input', { name: 'price', value: priceDraft.get(id) ?? '50', 'aria-label': 'price', inputmode: 'decimal', style: 'width:6em' });
      price.addEventListener('input', () => priceDraft.set(id, price.value));
      const b = h('button', { class: 'secondary', 'data-action': 'list' }, m.valid ? 'Re-list' : 'List for sale');
      b.addEventListener('click', () =>
        act(msg, b, 'Listing…', async () => {
          const p = parseAmount(price.value);
          const approved = await read('ModelNFT', 'getApproved', [m.modelId]);
          const all = await read('ModelNFT', 'isApprovedForAll', [me, market]);
          if (getAddress(approved) !== market && !all) await send('ModelNFT', 'approve', [market, m.modelId]);
          await send('ModelMarketplace', 'list', [nft, m.modelId, p]);
          refresh();
          return `Listed for ${tokens(p)}.`;
        }),
      );
      cell.append(price, ' ', b);
    } else if (m.valid) {
      const [, royalty, fee, toSeller] = m.quote;
      const b = h('button', { 'data-action': 'buy' }, `Buy for ${tokens(m.listing[1])}`);
      b.addEventListener('click', () =>
        act(msg, b, 'Approving and buying…', async () => {
          await ensureAllowance(market, m.listing[1]);
          await send('ModelMarketplace', 'buy', [nft, m.modelId, m.listing[1]]);
          refresh();
          return `Bought: ${tokens(royalty)} royalty to the creator, ${tokens(fee)} fee to the treasury, ${tokens(toSeller)} to the seller.`;
        }),
      );
      cell.append(b);
    }
    return cell;
  }

  return function renderModels(snap) {
    const models = [...snap.models.values()].filter((m) => m.owner);
    renderIfChanged(listEl, keyOf([snap.account?.address, models]), () => modelsTable(models));
  };

  function modelsTable(models) {
    const rows = models.map((m) => {
      const [receiver, bps] = m.royalty;
      let sale = h('span', { class: 'muted' }, 'not for sale');
      if (m.valid && m.quote) {
        const [, royalty, fee, toSeller] = m.quote;
        sale = h(
          'div',
          { class: 'sale', 'data-royalty': royalty.toString() },
          h('div', {}, `price ${tokens(m.listing[1])}`),
          h('div', { class: 'muted' }, `royalty ${tokens(royalty)} to ${short(receiver)} · fee ${tokens(fee)} · seller ${tokens(toSeller)}`),
        );
      }
      return h(
        'tr',
        { 'data-model': m.weightsHash },
        h('td', {}, h('div', { class: 'mono' }, short(m.weightsHash)), h('div', { class: 'muted', title: m.uri }, m.uri.length > 32 ? `${m.uri.slice(0, 18)}…${m.uri.slice(-8)}` : m.uri)),
        h('td', { class: 'mono' }, short(m.creator)),
        h('td', { class: 'mono' }, short(m.owner)),
        h('td', { class: 'num' }, percentOfBps(bps)),
        h('td', {}, sale),
        actions(m),
      );
    });
    return table(['model', 'creator', 'owner', 'royalty', 'sale', ''], rows, { id: 'models-table' });
  }
}
