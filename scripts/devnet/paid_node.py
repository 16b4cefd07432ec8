"""The devnet's paid inference endpoint: ``oracle paid serve`` as a supervised process, run by the
provider's dev account, serving the demo digits model (the ModelNFT the demo job minted; a channel
names it, so every redemption pays its royalty), paid per request over PaymentChannels.

Once its ``GET /terms`` answers, its URL goes into the deployment file (``paidEndpoint`` and
``paidEndpoints`` {provider: url}), where the page's pay panel finds it."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from scripts.devnet.accounts import ROLE_PROVIDER
from scripts.devnet.context import TOKEN, FlowContext
from scripts.devnet.errors import DevnetError
from scripts.devnet.paths import VENV_BIN

PRICE = "0.1"  # tokens per request (readable numbers on the page)
REDEEM_THRESHOLD = "1"  # the agent redeems a channel by itself past this many unredeemed tokens
DEMO_MODEL = "digits"
START_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class PaidEndpoint:
    url: str  # base URL: GET /terms, POST /infer
    provider: str
    price: int
    model_id: int
    channel_contract: str


def _get_json(url: str, timeout: float = 3.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def start_paid_endpoint(ctx: FlowContext, port: int) -> PaidEndpoint:
    """Start ``oracle paid serve`` for the provider on 127.0.0.1:port, wait until it answers its
    terms, and publish its URL in the deployment file. The demo model must be minted already."""
    from scripts.deployment_file import publish_paid_endpoints

    deployment = ctx.state_dir / "deployment.json"
    journal_dir = ctx.state_dir / "paid"
    shutil.rmtree(journal_dir, ignore_errors=True)  # vouchers of an earlier chain are worth nothing here
    provider = ctx.acct(ROLE_PROVIDER)
    url = f"http://127.0.0.1:{port}"
    argv = [
        str(VENV_BIN / "oracle"),
        "paid",
        "serve",
        "--deployment",
        str(deployment),
        "--rpc",
        ctx.rpc_url,
        "--private-key",
        provider.private_key,
        "--journal",
        str(journal_dir / "journal.sqlite"),
        "--demo-model",
        DEMO_MODEL,
        "--price",
        PRICE,
        "--redeem-threshold",
        REDEEM_THRESHOLD,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    ctx.sup.start("paid-endpoint", argv)
    terms = _wait_for_terms(ctx, url)
    offer = terms["accepts"][0]
    endpoint = PaidEndpoint(
        url,
        offer["payTo"],
        int(offer["amount"]),
        int(offer["extra"]["modelId"]),
        offer["extra"]["channelContract"],
    )
    if endpoint.provider.lower() != provider.address.lower():
        raise DevnetError(f"the paid endpoint on {url} is paid to {endpoint.provider}, not the provider")
    publish_paid_endpoints(deployment, {endpoint.provider: url})
    ctx.doc["paidEndpoint"] = url
    ctx.doc.setdefault("paidEndpoints", {})[endpoint.provider] = url
    ctx.say(f"paid endpoint {url} (oracle paid serve) published in the deployment file")
    return endpoint


def _wait_for_terms(ctx: FlowContext, url: str) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        ctx.sup.check_alive()
        try:
            return _get_json(url + "/terms")
        except (OSError, ValueError) as e:  # not listening yet (URLError is an OSError)
            if time.monotonic() > deadline:
                raise DevnetError(
                    f"the paid endpoint did not answer on {url}/terms within {START_TIMEOUT_S:.0f} s ({e}): "
                    f"see {ctx.state_dir / 'logs' / 'paid-endpoint.log'}"
                ) from e
            time.sleep(0.2)


def summary_lines(endpoint: PaidEndpoint) -> list[str]:
    model = f"{endpoint.model_id:#x}"[:14] + "…"
    return [
        f"{endpoint.url}/infer: the demo digits model (ModelNFT {model}), "
        f"{endpoint.price / TOKEN:g} GPU per request, paid to {endpoint.provider}",
        f"unpaid: HTTP 402 with its terms (GET {endpoint.url}/terms); paid: a voucher per request over "
        f"PaymentChannels {endpoint.channel_contract}; redeems by itself past {REDEEM_THRESHOLD} GPU "
        "(fee + royalty + provider)",
    ]
