// Entry point: load the deployment, draw the wallet bar, mount every section; on each new block (or
// a change of account) bring the one snapshot up to date and let every section render from it.
import './style.css';
import { HttpRequestError, TimeoutError } from 'viem';
import { connectDev, connectInjected, devNetwork, disconnect, discoverWallets, emit, loadDeployment, onChange, restoreConnection, state, switchNetwork, wallets, wrongNetwork } from './chain.js';
import { readableError } from './errors.js';
import { update } from './snapshot.js';
import { h, short, tokens, when } from './ui.js';
import * as providers from './sections/providers.js';
import * as jobs from './sections/jobs.js';
import * as pay from './sections/pay.js';
import * as staking from './sections/staking.js';
import * as models from './sections/models.js';
import * as treasury from './sections/treasury.js';

const SECTIONS = [providers, jobs, pay, staking, models, treasury];
const renderers = [];
const walletEl = document.getElementById('wallet');
const bannerEl = document.getElementById('network-banner');
const walletMsg = h('span', { class: 'msg', id: 'wallet-msg' });

async function drawWallet() {
  walletEl.replaceChildren();
  if (!state.account) {
    // every wallet that announced itself (EIP-6963), else window.ethereum, else a hint
    const found = wallets();
    if (!found.length) walletEl.append(h('button', { id: 'connect-injected', onclick: () => onConnectInjected(undefined) }, 'Connect wallet'));
    found.forEach((w, i) =>
      walletEl.append(h('button', { id: i === 0 ? 'connect-injected' : undefined, 'data-wallet': w.info.rdns, onclick: () => onConnectInjected(w) }, found.length > 1 || w.info.rdns !== 'window.ethereum' ? `Connect ${w.info.name}` : 'Connect wallet')),
    );
    if (devNetwork()) {
      const select = h(
        'select',
        { id: 'dev-account', 'aria-label': 'dev account' },
        state.deployment.devAccounts.map((a, i) => h('option', { value: i }, `#${a.index} ${a.label} ${short(a.address)}`)),
      );
      const preferred = state.deployment.devAccounts.findIndex((a) => /requester/.test(a.label));
      if (preferred >= 0) select.value = String(preferred);
      walletEl.append(
        select,
        h(
          'button',
          {
            id: 'connect-dev',
            class: 'secondary',
            onclick: () => {
              try {
                connectDev(Number(select.value));
              } catch (err) {
                walletMsg.className = 'msg error';
                walletMsg.textContent = readableError(err);
              }
            },
          },
          'Use dev account',
        ),
        h('span', { class: 'devnote' }, 'dev account, local chain only'),
      );
    }
    walletEl.append(walletMsg);
    return;
  }
  const label = state.kind === 'dev' ? h('span', { class: 'devnote', id: 'dev-label' }, 'dev account, local chain only') : h('span', { class: 'badge' }, 'wallet');
  const bal = h('span', { class: 'muted', id: 'wallet-balance' }, '');
  walletEl.append(
    label,
    h('span', { class: 'who', id: 'account', title: state.account }, short(state.account)),
    bal,
    h('button', { class: 'secondary', id: 'disconnect', onclick: disconnect }, 'Disconnect'),
    walletMsg,
  );
  drawBalance(bal);
}

function drawBalance(el = document.getElementById('wallet-balance')) {
  const acct = lastSnapshot?.account;
  if (!el || !acct || acct.address !== state.account) return;
  el.textContent = [acct.token !== null ? tokens(acct.token) : null, tokens(acct.eth, 'ETH')].filter(Boolean).join(' · ');
}

function drawBanner() {
  if (!wrongNetwork()) {
    bannerEl.hidden = true;
    bannerEl.replaceChildren();
    return;
  }
  bannerEl.hidden = false;
  const msg = h('span', { class: 'msg' });
  bannerEl.replaceChildren(
    h('span', {}, `Wrong network: your wallet is on chain ${state.walletChainId}, this deployment is on ${state.chain.name} (chain ${state.chain.id}).`),
    h(
      'button',
      {
        id: 'switch-network',
        onclick: async () => {
          try {
            await switchNetwork();
          } catch (err) {
            msg.className = 'msg error';
            msg.textContent = readableError(err);
          }
        },
      },
      'Switch network',
    ),
    msg,
  );
}

async function onConnectInjected(choice) {
  walletMsg.className = 'msg busy';
  walletMsg.textContent = 'Waiting for the wallet…';
  try {
    await connectInjected(choice);
    walletMsg.textContent = '';
  } catch (err) {
    walletMsg.className = 'msg error';
    walletMsg.textContent = readableError(err);
  }
}

let lastSnapshot = null;
let updating = null;
let again = false;
/** Bring the snapshot to the latest block and render every section from it (one update at a time). */
async function refreshAll() {
  if (updating) {
    again = true;
    return updating;
  }
  updating = (async () => {
    do {
      again = false;
      try {
        lastSnapshot = await update();
        chainReachable(true);
      } catch (err) {
        console.error(err);
        // only a chain that does not answer turns the page off; a read that fails (a contract
        // reverting, a gas cap) keeps the last snapshot and tries again on the next block
        if (unreachable(err)) chainReachable(false, err);
        continue;
      }
      for (const render of renderers) {
        try {
          await render(lastSnapshot);
        } catch (err) {
          console.error(err);
        }
      }
      drawBalance();
      for (const el of document.querySelectorAll('.loading')) el.remove();
      document.getElementById('block').textContent = `block ${lastSnapshot.block} · chain time ${when(lastSnapshot.time)}`;
      document.body.dataset.block = String(lastSnapshot.block);
    } while (again);
  })();
  try {
    await updating;
  } finally {
    updating = null;
    document.body.dataset.refreshed = String(Date.now());
  }
}

const unreachable = (err) =>
  err instanceof HttpRequestError || err instanceof TimeoutError || Boolean(err?.walk?.((e) => e instanceof HttpRequestError || e instanceof TimeoutError)) || /failed to fetch|network/i.test(String(err?.message));

let retry = null;
/** The chain answered (or not): the badge, a note in every section, and actions off while it is down. */
function chainReachable(ok, err) {
  const badge = document.getElementById('chain-badge');
  const main = document.querySelector('main');
  const rpc = state.chain.rpcUrls.default.http[0];
  if (ok) {
    badge.textContent = `${state.chain.name} · chain ${state.chain.id}`;
    badge.className = 'badge ok';
    badge.removeAttribute('title');
    delete document.body.dataset.offline;
    main.inert = false;
    for (const note of document.querySelectorAll('.offline-note')) note.remove();
    clearInterval(retry);
    retry = null;
    return;
  }
  retry ||= setInterval(refreshAll, 2000); // the block watcher only speaks when the number changes
  badge.textContent = `cannot reach the chain (${rpc})`;
  badge.className = 'badge bad';
  badge.title = readableError(err);
  document.body.dataset.offline = '1';
  main.inert = true; // every button and field of the sections is off until the chain answers again
  const text = lastSnapshot
    ? `Cannot reach the chain at ${rpc}: showing block ${lastSnapshot.block}, the last one seen; actions are off until it answers.`
    : `Cannot reach the chain at ${rpc}: start the devnet (make demo) or check the RPC address in deployment.json.`;
  for (const card of document.querySelectorAll('main .card')) {
    const note = card.querySelector('.offline-note') || card.insertBefore(h('div', { class: 'msg error offline-note' }), card.children[1] || null);
    note.textContent = text;
  }
  for (const el of document.querySelectorAll('.loading')) el.remove();
}

async function boot() {
  try {
    await loadDeployment();
  } catch (err) {
    const fatal = document.getElementById('fatal');
    fatal.hidden = false;
    fatal.textContent = readableError(err);
    return;
  }
  chainReachable(true);
  for (const s of SECTIONS) {
    const section = document.getElementById(s.id);
    renderers.push(s.mount(section.querySelector('.body'), { refresh: refreshAll }));
  }
  onChange(() => {
    drawWallet();
    drawBanner();
    refreshAll();
  });
  discoverWallets(() => {
    if (!state.account) drawWallet();
  });
  await restoreConnection().catch((err) => console.error(err));
  emit();
  let last = -1n;
  state.publicClient.watchBlockNumber({
    emitOnBegin: true,
    poll: true,
    pollingInterval: 1000,
    onBlockNumber: (n) => {
      if (n === last) return;
      last = n;
      refreshAll();
    },
    onError: (err) => unreachable(err) && chainReachable(false, err),
  });
  document.body.dataset.ready = '1';
}

boot();
