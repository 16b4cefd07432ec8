"""Assembling the paid endpoint: terms from the deployment, the channel cache and its event poller,
the journal, the checker, the redeemer and the HTTP server, started and stopped together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oracle.chain import ChainClient
from oracle.client.pay_wire import PaymentTerms
from oracle.provider.paid import Model, PaidInferenceServer
from oracle.provider.paid_check import Receipt, VoucherChecker
from oracle.provider.paid_energy import RequestMeter, meter_args_for_device
from oracle.provider.paid_ledger import Ledger
from oracle.provider.paid_redeem import Redeemer
from oracle.provider.paid_state import CONTRACT, ChannelCache


@dataclass
class PaidSettings:
    price: int
    model_id: int
    journal: Path
    redeem_threshold: int
    close_margin_s: int = 60
    poll_s: float = 0.5
    host: str = "127.0.0.1"
    port: int = 0
    journal_durability: str = "disk"  # or "process": see oracle.provider.paid_log
    max_credit: int = 256
    """The most requests one voucher may prepay (the terms' maxCredit; 1: a voucher per request)."""


def terms_for(client: ChainClient, settings: PaidSettings) -> PaymentTerms:
    if client.account is None:
        raise ValueError("the paid endpoint needs the provider's key (it redeems vouchers)")
    return PaymentTerms(
        price=settings.price,
        asset=client.deployment.get("ComputeToken").address,
        pay_to=client.account.address,
        chain_id=client.deployment.chain_id,
        channel_contract=client.deployment.get(CONTRACT).address,
        model_id=settings.model_id,
        max_credit=settings.max_credit,
    )


class PaidService:
    """Everything the paid endpoint runs; `start()` launches the poller, redeemer and server."""

    def __init__(
        self,
        client: ChainClient,
        model: Model,
        settings: PaidSettings,
        after_journal: Callable[[Receipt], None] | None = None,
        meter_args: dict[str, Any] | None = None,
    ):
        self.settings = settings
        self.terms = terms_for(client, settings)
        self.ledger = Ledger(settings.journal, settings.journal_durability)
        self.cache = ChannelCache(client, poll_s=settings.poll_s)
        self.checker = VoucherChecker(
            self.terms, self.cache, self.ledger, settings.close_margin_s, after_journal
        )
        self.redeemer = Redeemer(client, self.ledger, self.cache, settings.redeem_threshold, settings.poll_s)
        self.meter = RequestMeter(
            meter_args if meter_args is not None else meter_args_for_device(model.device),
            self.ledger.add_energy,
        )
        self.server = PaidInferenceServer(
            model, self.terms, self.checker, settings.host, settings.port, meter=self.meter
        )

    @property
    def url(self) -> str:
        return self.server.url + "/infer"

    def start(self) -> PaidService:
        self.cache.start()
        self.redeemer.start()
        self.server.start()
        return self

    def stop(self, redeem: bool = True) -> None:
        """Stop serving; with `redeem`, first redeem every voucher not yet paid on chain."""
        self.server.stop()
        self.meter.flush()  # the energy totals not yet in the journal
        self.redeemer.stop()
        self.cache.stop()
        if redeem:
            self.redeemer.redeem_all()
        self.ledger.close()

    def __enter__(self) -> PaidService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
