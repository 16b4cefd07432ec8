// Deployment, clients and the connected account (injected EIP-1193 wallet or a local dev account).
import { createPublicClient, createWalletClient, custom, defineChain, getAddress, http, numberToHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { registerErrorAbis } from './errors.js';

const CONNECTION = 'gpu-compute:connection'; // localStorage: how the last session connected

export const state = {
  deployment: null,
  chain: null,
  publicClient: null,
  wallet: null, // viem WalletClient
  account: null, // address (checksummed)
  kind: null, // 'injected' | 'dev'
  eip1193: null, // the injected provider in use
  walletChainId: null,
  listeners: new Set(),
};

export function onChange(fn) {
  state.listeners.add(fn);
}
export function emit() {
  for (const fn of state.listeners) fn();
}

export async function loadDeployment(url = './deployment.json') {
  const res = await fetch(url, { cache: 'no-store' });
  if (!res.ok) throw new Error(`Could not load ${url} (HTTP ${res.status}). Start the devnet with "make demo".`);
  const dep = await res.json();
  state.deployment = dep;
  const rpcUrl = dep.rpcUrl || 'http://127.0.0.1:8545';
  state.chain = defineChain({
    id: dep.chainId,
    name: dep.chainName || (dep.chainId === 31337 ? 'Local devnet (anvil)' : `Chain ${dep.chainId}`),
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  state.publicClient = createPublicClient({ chain: state.chain, transport: http(rpcUrl), pollingInterval: 500 });
  registerErrorAbis(dep);
  return dep;
}

export function has(name) {
  return Boolean(state.deployment?.contracts?.[name]);
}

export function contract(name) {
  const c = state.deployment?.contracts?.[name];
  if (!c) throw new Error(`${name} is not part of this deployment.`);
  return { address: getAddress(c.address), abi: c.abi };
}

export function hasFunction(name, fn) {
  return has(name) && state.deployment.contracts[name].abi.some((x) => x.type === 'function' && x.name === fn);
}

/** A view call, at `blockNumber` when given (the snapshot reads everything at its block). */
export function read(name, functionName, args = [], blockNumber = undefined) {
  const c = contract(name);
  return state.publicClient.readContract({ ...c, functionName, args, blockNumber });
}

export const devNetwork = () => state.deployment?.chainId === 31337 && Array.isArray(state.deployment?.devAccounts);

/** Connect a local dev account (anvil's public test keys: local chain only). */
export function connectDev(index) {
  const entry = state.deployment.devAccounts[index];
  const account = privateKeyToAccount(entry.privateKey);
  state.wallet = createWalletClient({ account, chain: state.chain, transport: http(state.chain.rpcUrls.default.http[0]) });
  state.account = account.address;
  state.kind = 'dev';
  state.walletChainId = state.chain.id;
  localStorage.setItem(CONNECTION, JSON.stringify({ kind: 'dev', index }));
  emit();
}

// ---- injected wallets: every one that announces itself (EIP-6963), window.ethereum as the fallback

const announced = new Map(); // rdns -> {info, provider}
export const wallets = () => {
  const list = [...announced.values()];
  if (!list.length && window.ethereum) list.push({ info: { name: 'Browser wallet', rdns: 'window.ethereum', uuid: 'window.ethereum' }, provider: window.ethereum });
  return list;
};

/** Ask injected wallets to announce themselves; calls `onChange` as they do. */
export function discoverWallets(onAnnounce) {
  window.addEventListener('eip6963:announceProvider', (e) => {
    const { info, provider } = e.detail || {};
    if (!info?.rdns || !provider?.request) return;
    announced.set(info.rdns, { info, provider });
    onAnnounce();
  });
  window.dispatchEvent(new Event('eip6963:requestProvider'));
}

const hooked = new WeakSet();

function useInjected(eth, account, rdns) {
  state.account = getAddress(account);
  state.kind = 'injected';
  state.eip1193 = eth;
  state.wallet = createWalletClient({ account: state.account, chain: state.chain, transport: custom(eth) });
  localStorage.setItem(CONNECTION, JSON.stringify({ kind: 'injected', rdns }));
  if (!hooked.has(eth) && eth.on) {
    hooked.add(eth);
    eth.on('chainChanged', (id) => {
      if (state.eip1193 !== eth) return;
      state.walletChainId = Number(id);
      emit();
    });
    eth.on('accountsChanged', (accs) => {
      if (state.kind !== 'injected' || state.eip1193 !== eth) return;
      if (!accs.length) disconnect();
      else {
        useInjected(eth, accs[0], rdns);
        emit();
      }
    });
  }
}

/** Connect an injected EIP-1193 wallet (the first announced one by default). Throws 4001 if the user refuses. */
export async function connectInjected(choice = wallets()[0]) {
  if (!choice) throw new Error('No browser wallet found. Install one, or use a dev account on the local devnet.');
  const eth = choice.provider;
  const accounts = await eth.request({ method: 'eth_requestAccounts' });
  if (!accounts?.length) throw new Error('The wallet returned no account.');
  state.walletChainId = Number(await eth.request({ method: 'eth_chainId' }));
  useInjected(eth, accounts[0], choice.info.rdns);
  emit();
}

/** Reconnect the way the last visit did (a dev account, or a wallet that still grants its account without a prompt). */
export async function restoreConnection() {
  let saved;
  try {
    saved = JSON.parse(localStorage.getItem(CONNECTION) || 'null');
  } catch {
    saved = null;
  }
  if (saved?.kind === 'dev' && devNetwork() && state.deployment.devAccounts[saved.index]) return connectDev(saved.index);
  if (saved?.kind !== 'injected') return;
  const choice = wallets().find((w) => w.info.rdns === saved.rdns);
  if (!choice) return;
  const accounts = await choice.provider.request({ method: 'eth_accounts' }).catch(() => []);
  if (!accounts?.length) return;
  state.walletChainId = Number(await choice.provider.request({ method: 'eth_chainId' }));
  useInjected(choice.provider, accounts[0], saved.rdns);
  emit();
}

export function disconnect() {
  state.wallet = null;
  state.account = null;
  state.kind = null;
  state.walletChainId = null;
  state.eip1193 = null;
  localStorage.removeItem(CONNECTION);
  emit();
}

export const wrongNetwork = () => state.kind === 'injected' && state.walletChainId !== state.chain?.id;

/** Ask the wallet to switch to the deployment's chain; add it first if the wallet answers 4902. */
export async function switchNetwork() {
  const eth = state.eip1193 || window.ethereum;
  const chainId = numberToHex(state.chain.id);
  try {
    await eth.request({ method: 'wallet_switchEthereumChain', params: [{ chainId }] });
  } catch (err) {
    if (err?.code !== 4902) throw err;
    await eth.request({
      method: 'wallet_addEthereumChain',
      params: [
        {
          chainId,
          chainName: state.chain.name,
          nativeCurrency: state.chain.nativeCurrency,
          rpcUrls: state.chain.rpcUrls.default.http,
        },
      ],
    });
    await eth.request({ method: 'wallet_switchEthereumChain', params: [{ chainId }] });
  }
  state.walletChainId = Number(await eth.request({ method: 'eth_chainId' }));
  emit();
}

/** Simulate (so a revert is decoded before anything is signed), send, wait; returns the receipt. */
export async function send(name, functionName, args = [], opts = {}) {
  if (!state.wallet) throw new Error('Connect a wallet first.');
  if (wrongNetwork()) throw new Error(`Your wallet is on chain ${state.walletChainId}; switch to ${state.chain.name} first.`);
  const c = contract(name);
  const account = state.wallet.account || state.account;
  const { request } = await state.publicClient.simulateContract({ ...c, functionName, args, account, ...opts });
  const hash = await state.wallet.writeContract(request);
  const receipt = await state.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') throw new Error(`The transaction ${hash} reverted.`);
  return receipt;
}

export async function signTyped(typedData) {
  if (!state.wallet) throw new Error('Connect a wallet first.');
  return state.wallet.signTypedData({ account: state.wallet.account || state.account, ...typedData });
}

export async function now() {
  const block = await state.publicClient.getBlock();
  return Number(block.timestamp);
}
