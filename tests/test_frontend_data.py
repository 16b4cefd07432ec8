"""The page's data layer in Chromium, watched on the wire: one eth_getLogs per new block, from the
block after the last one seen; view calls only for what the new logs touched, at that block; the
governed parameters read from an explicit list and shown in people's units."""

import json

from eth_utils import function_signature_to_4byte_selector

from tests.support.frontend import connect_dev

TOKEN = 10**18
REQUESTER = 5


def _watch_rpc(devnet, calls):
    def on_request(req):
        if req.method == "POST" and req.url.rstrip("/") == devnet.rpc_url.rstrip("/"):
            body = json.loads(req.post_data or "{}")
            for call in body if isinstance(body, list) else [body]:
                calls.append(call)

    return lambda page: page.on("request", on_request)


def _wait_block(page, n):
    page.wait_for_function(f"Number(document.body.dataset.block || -1) >= {n}", timeout=20_000)


def _calls_at(calls, method, block):
    return [c for c in calls if c.get("method") == method and c["params"][-1] == hex(block)]


def _selector(signature):
    return "0x" + function_signature_to_4byte_selector(signature).hex()


def test_each_block_is_read_once_incrementally_and_only_what_changed_is_read(open_page, devnet):
    calls: list[dict] = []
    page, _ = open_page(before_load=_watch_rpc(devnet, calls))
    start = devnet.w3.eth.block_number
    _wait_block(page, start)

    devnet.rpc("evm_mine")  # an idle block: no log of any watched contract
    idle = devnet.w3.eth.block_number
    _wait_block(page, idle)
    escrow = devnet.contract("JobEscrow")
    deadline = devnet.w3.eth.get_block("latest").timestamp + 3600
    devnet.transact("ComputeToken", "approve", escrow.address, 5 * TOKEN, sender=REQUESTER)
    devnet.transact("JobEscrow", "postJob", 5 * TOKEN, deadline, 0, 0, b"\x77" * 32, sender=REQUESTER)
    posted = devnet.w3.eth.block_number
    job_id = escrow.functions.jobCount().call()
    row = page.wait_for_selector(f"#jobs-table tr[data-job='{job_id}'][data-status='Open']", timeout=20_000)
    assert "5 GPU" in row.inner_text()

    ranges = [
        (int(c["params"][0]["fromBlock"], 16), int(c["params"][0]["toBlock"], 16))
        for c in calls
        if c.get("method") == "eth_getLogs"
    ]
    assert ranges, "the page read no logs"
    assert ranges[0][0] == devnet.deployment["deployBlock"]  # the first load reads the whole history
    for (_, prev_to), (nxt_from, nxt_to) in zip(ranges, ranges[1:], strict=False):
        assert nxt_from == prev_to + 1 <= nxt_to, f"log ranges overlap or skip: {ranges}"
    assert ranges[-1][1] >= posted
    # one request covers every watched contract
    addresses = next(c for c in calls if c.get("method") == "eth_getLogs")["params"][0]["address"]
    for name in ("ComputeStaking", "JobEscrow", "ModelNFT", "AttestationRegistry"):
        assert devnet.deployment["contracts"][name]["address"].lower() in [a.lower() for a in addresses]

    def targets(block):
        return {c["params"][0]["to"].lower() for c in _calls_at(calls, "eth_call", block)}

    address = {n: c["address"].lower() for n, c in devnet.deployment["contracts"].items()}
    # an idle block reads no node, job or model again (only what time or transfers can change)
    for name in ("ComputeStaking", "JobEscrow", "ModelNFT", "ModelMarketplace", "AttestationRegistry"):
        assert address[name] not in targets(idle), f"{name} was read on an idle block"
    # the block with the new job reads exactly that job from the escrow, once
    escrow_calls = [
        c
        for c in _calls_at(calls, "eth_call", posted)
        if c["params"][0]["to"].lower() == address["JobEscrow"]
    ]
    get_job = _selector("getJob(uint256)")
    assert [c["params"][0]["data"][:10] for c in escrow_calls] == [get_job]
    assert int(escrow_calls[0]["params"][0]["data"][10:], 16) == job_id
    assert page.errors == []


def test_an_account_switch_rereads_only_the_account(open_page, devnet):
    calls: list[dict] = []
    page, _ = open_page(before_load=_watch_rpc(devnet, calls))
    block = devnet.w3.eth.block_number
    _wait_block(page, block)
    before = len(calls)
    connect_dev(page, REQUESTER)
    page.wait_for_function("document.querySelector('#wallet-balance').textContent.includes('GPU')")
    after = calls[before:]
    # no log is read again for blocks already seen
    assert all(
        int(c["params"][0]["fromBlock"], 16) > block for c in after if c.get("method") == "eth_getLogs"
    )
    address = {n: c["address"].lower() for n, c in devnet.deployment["contracts"].items()}
    reread = {c["params"][0]["to"].lower() for c in _calls_at(after, "eth_call", block)}
    for name in ("JobEscrow", "ModelNFT", "ModelMarketplace", "AttestationRegistry"):
        assert address[name] not in reread, f"{name} was read again for an account switch"
    balance = devnet.contract("ComputeToken").functions.balanceOf(devnet.account(REQUESTER)).call()
    assert page.inner_text("#wallet-balance").startswith(f"{balance // TOKEN:,}")


def _narrow(seconds):
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts) or "0s"


def test_governed_parameters_are_the_listed_ones_in_peoples_units(open_page, devnet):
    page, _ = open_page()
    page.wait_for_selector("#params-table tr[data-param]", timeout=20_000)
    shown = {
        r.get_attribute("data-param"): r.query_selector("td.num").inner_text()
        for r in page.query_selector_all("#params-table tr[data-param]")
    }
    fee = devnet.contract("JobEscrow").functions.feeBps().call()
    assert shown["JobEscrow.feeBps"] == f"{fee / 100:g}%"
    period = devnet.contract("ComputeStaking").functions.unbondingPeriod().call()
    assert shown["ComputeStaking.unbondingPeriod"] == _narrow(period)
    stake = devnet.contract("ComputeStaking").functions.minStakePerGpu().call()
    assert shown["ComputeStaking.minStakePerGpu"] == f"{stake // TOKEN:,} GPU"
    threshold = devnet.contract("AttestationRegistry").functions.threshold().call()
    assert shown["AttestationRegistry.threshold"] == str(threshold)
    # no totals, balances or constants: only governed values
    assert not [k for k in shown if k.split(".")[1].startswith(("total", "MAX_", "MIN_", "BPS"))]
    assert "Protocol fee on jobs" in page.inner_text("#params-table")
