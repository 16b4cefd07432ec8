// A test EIP-1193 wallet injected into the page by tests/test_frontend_*.py (page.add_init_script).
// It forwards JSON-RPC to anvil (whose dev accounts are unlocked, so eth_sendTransaction and
// eth_signTypedData_v4 work there) and asks the Python side, through window.__walletDecide
// (page.expose_function), whether the "user" approves each request; "reject" answers 4001.
(() => {
  const cfg = window.__TEST_WALLET__;
  let chainId = cfg.startChainId;
  const known = new Set([cfg.startChainId]);
  const listeners = {};
  const emit = (ev, arg) => (listeners[ev] || []).forEach((fn) => fn(arg));
  const fail = (code, message) => Object.assign(new Error(message), { code });
  async function rpc(method, params) {
    const res = await fetch(cfg.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: Date.now(), method, params }),
    });
    const body = await res.json();
    if (body.error) throw Object.assign(new Error(body.error.message), { code: body.error.code, data: body.error.data });
    return body.result;
  }
  const provider = {
    isTestWallet: true,
    on(ev, fn) {
      (listeners[ev] ||= []).push(fn);
    },
    removeListener(ev, fn) {
      listeners[ev] = (listeners[ev] || []).filter((f) => f !== fn);
    },
    async request({ method, params = [] }) {
      const decision = await window.__walletDecide(method, JSON.stringify(params));
      if (decision === 'reject') throw fail(4001, 'User rejected the request.');
      switch (method) {
        case 'eth_requestAccounts':
        case 'eth_accounts':
          return [cfg.account];
        case 'eth_chainId':
          return '0x' + chainId.toString(16);
        case 'net_version':
          return String(chainId);
        case 'wallet_switchEthereumChain': {
          const id = parseInt(params[0].chainId, 16);
          if (!known.has(id)) throw fail(4902, `Unrecognized chain ID ${params[0].chainId}.`);
          chainId = id;
          emit('chainChanged', '0x' + id.toString(16));
          return null;
        }
        case 'wallet_addEthereumChain':
          known.add(parseInt(params[0].chainId, 16));
          return null;
        default:
          if (chainId !== cfg.rpcChainId) throw fail(4100, `test wallet is on chain ${chainId}, cannot send ${method}`);
          return rpc(method, params);
      }
    },
  };
  // EIP-6963: announce on request (and once now); window.ethereum too unless cfg.only6963
  if (!cfg.only6963) window.ethereum = provider;
  const info = Object.freeze({ uuid: '6f1c1e0e-7c8a-4c55-9a55-2b4a0c0ffee0', name: 'Test Wallet', icon: 'data:image/svg+xml,<svg xmlns="http://www.w3.org/2000/svg"/>', rdns: 'org.example.testwallet' });
  const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail: Object.freeze({ info, provider }) }));
  window.addEventListener('eip6963:requestProvider', announce);
  announce();
})();
