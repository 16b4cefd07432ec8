// Entry point: load the deployment, draw the wallet bar, mount every section; on each new block (or
// a change of account) bring the one snapshot up to date and let every section render from it.
import './style.css';
import { connectDev, connectInjected, devNetwork, disconnect, emit, loadDeployment, onChange, state, switchNetwork, wrongNetwork } from './chain.js';
import { readableError } from './errors.js';
import { update } from './snapshot.js';
import { h, short, tokens } from './ui.js';
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
    const connectBtn = h('button', { id: 'connect-injected', onclick: onConnectInjected }, 'Connect wallet');
    walletEl.append(connectBtn);
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

async function onConnectInjected() {
  walletMsg.className = 'msg busy';
  walletMsg.textContent = 'Waiting for the wallet…';
  try {
    await connectInjected();
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
        chainReachable(false, err);
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
      document.getElementById('block').textContent = `block ${lastSnapshot.block}`;
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

function chainReachable(ok, err) {
  const badge = document.getElementById('chain-badge');
  if (ok) {
    badge.textContent = `${state.chain.name} · chain ${state.chain.id}`;
    badge.className = 'badge ok';
  } else {
    badge.textContent = `cannot reach the chain (${state.chain.rpcUrls.default.http[0]})`;
    badge.className = 'badge bad';
    badge.title = readableError(err);
  }
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
    onError: (err) => chainReachable(false, err),
  });
  document.body.dataset.ready = '1';
}

boot();
