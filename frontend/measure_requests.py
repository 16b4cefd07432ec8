"""How many JSON-RPC requests the page makes on its first load and on each idle block.

Usage (a devnet running, e.g. `python scripts/devnet.py --state-dir /tmp/d/state`):
    python frontend/measure_requests.py /tmp/d/state [OLD_DIST_URL]
OLD_DIST_URL: another build of the page served on 127.0.0.1 with the same deployment.json (to
compare two versions on one chain). Prints requests at load, then (eth_getLogs, eth_call, all)
for each of 5 blocks mined with nothing in them. Results: frontend/REQUESTS.md."""

import json
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright
from web3 import Web3


def measure(page_url: str, rpc: str, blocks: int = 5) -> tuple[int, list[tuple[int, int, int]]]:
    w3 = Web3(Web3.HTTPProvider(rpc))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page()
        calls: list[dict] = []

        def on_request(req):
            if req.method == "POST" and req.url.rstrip("/") == rpc.rstrip("/"):
                body = json.loads(req.post_data)
                calls.extend(body if isinstance(body, list) else [body])

        page.on("request", on_request)
        page.goto(page_url)
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_timeout(4000)
        first = len(calls)
        per_block = []
        for _ in range(blocks):
            before = len(calls)
            w3.provider.make_request("evm_mine", [])
            page.wait_for_timeout(5000)
            new = calls[before:]
            per_block.append(
                (
                    sum(c["method"] == "eth_getLogs" for c in new),
                    sum(c["method"] == "eth_call" for c in new),
                    len(new),
                )
            )
        browser.close()
        return first, per_block


if __name__ == "__main__":
    summary = json.loads((Path(sys.argv[1]) / "summary.json").read_text())
    pages = [("this page", summary["pageUrl"])] + [("other page", u) for u in sys.argv[2:]]
    for name, url in pages:
        first, per_block = measure(url, summary["rpcUrl"])
        print(f"{name}: {first} requests at load; per idle block (getLogs, eth_call, all): {per_block}")
