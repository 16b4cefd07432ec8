"""The paid endpoint's bounded load test (part (b) of :mod:`oracle.benchmarks.paid`): concurrent
PayingClients on loopback, each opening its own channel on chain, a fixed number of requests each;
then the provider redeems everything. Checked: requests served == requests journaled (a voucher's
or a credit use) == requests made, redeemed on chain == what the clients signed, nothing lost."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account

from oracle.benchmarks.paid_chain import DEV_KEYS, ETHER, MODEL, fund
from oracle.chain import ChainClient
from oracle.client.pay import PayingClient
from oracle.deployment import Deployment
from oracle.provider.paid import onnx_model
from oracle.provider.paid_service import PaidService, PaidSettings
from oracle.work import demo_model
from oracle.work.runtime import OnnxModel

PRICE = 10**15


@dataclass
class LoadResult:
    clients: int
    per_client: int
    made: int
    served: int
    journaled: int
    signed_total: int
    redeemed_total: int
    seconds: float
    credit: int = 1
    """Requests one voucher prepaid at most (signed_total counts the unused rest of each window)."""
    lost: int = field(init=False)

    def __post_init__(self) -> None:
        self.lost = self.made - self.served + (self.signed_total - self.redeemed_total) // PRICE


def load_test(
    rpc: Any,
    deployment: Deployment,
    clients: int,
    per_client: int,
    work: Path,
    provider_key: str | bytes = DEV_KEYS[2],
    funder_key: str | bytes = DEV_KEYS[0],
    credit: int = 1,
    model_name: str = MODEL,
) -> LoadResult:
    """`clients` PayingClients at once, each opening its own channel, `per_client` requests each
    (`rpc`: a URL or a Web3; the funder holds tokens and ether for the clients), each voucher
    prepaying up to `credit` requests (1: a voucher per request)."""
    provider = Account.from_key(provider_key)
    users = [Account.create() for _ in range(clients)]
    owner_client = ChainClient(rpc, deployment, Account.from_key(funder_key), base_delay=0.01)
    fund(owner_client, [u.address for u in users], 1_000 * ETHER)
    model = onnx_model(OnnxModel.from_bytes(demo_model.model_bytes(model_name), device="cpu", threads=1))
    settings = PaidSettings(
        PRICE,
        demo_model.model_id(model_name),
        work / "load-journal.db",
        redeem_threshold=20 * PRICE,
        poll_s=0.2,
    )
    service = PaidService(ChainClient(rpc, deployment, provider, base_delay=0.01), model, settings).start()
    rows = demo_model.test_set(4)[0].tolist()
    payers = [
        PayingClient(
            ChainClient(rpc, deployment, u, base_delay=0.01), deposit_requests=per_client + 5, credit=credit
        )
        for u in users
    ]
    errors: list[str] = []

    def run(payer: PayingClient) -> None:
        for i in range(per_client):
            try:
                answer = payer.post(service.url, {"x": [rows[i % 4]]})
                if answer.status != 200:
                    errors.append(f"status {answer.status}")
            except Exception as err:  # noqa: BLE001 - counted, reported
                errors.append(str(err))

    start = time.perf_counter()
    threads = [threading.Thread(target=run, args=(p,)) for p in payers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    served, journaled = service.server.counters.served, service.ledger.journaled_requests()
    service.stop(redeem=True)
    contract = owner_client.contract("PaymentChannels")
    signed = sum(p.states.get(service.url).cumulative for p in payers)
    redeemed = sum(
        contract.functions.getChannel(p.states.get(service.url).channel_id).call()[7] for p in payers
    )
    if errors:
        raise RuntimeError(f"load test: {len(errors)} failed requests, first: {errors[0]}")
    return LoadResult(
        clients, per_client, clients * per_client, served, journaled, signed, redeemed, seconds, credit
    )
