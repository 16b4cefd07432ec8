"""The provider's redemption policy: turn journaled vouchers into tokens, by itself.

A channel is redeemed (its latest journaled voucher) when
- its unredeemed value (latest cumulative - redeemed on chain) reaches ``threshold`` wei, or
- it is closing (the user asked to close): at once, whatever the amount, and again for any voucher
  accepted after that, always before the close delay ends (the checker stops accepting vouchers
  ``close_margin_s`` before it), or
- :meth:`Redeemer.redeem_all` is called (shutdown, tests, the CLI).

Each redemption is journaled (``sent`` with its hash before it is broadcast, then ``confirmed`` or
``failed``). A redemption the chain already has (``PaymentChannelsVoucherNotAbove``: a double
redeem, or a restart after a lost receipt) is recorded as confirmed, not retried.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from oracle.chain import ChainClient, ChainError, ContractRevert
from oracle.logs import unexpected
from oracle.provider.paid_ledger import LatestVoucher, Ledger
from oracle.provider.paid_state import CONTRACT, ChannelCache, ChannelView

log = logging.getLogger("oracle.provider.paid")


@dataclass(frozen=True)
class Redemption:
    channel_id: int
    cumulative: int
    tx_hash: str | None
    outcome: str  # "redeemed", "already", "failed"
    note: str = ""


class Redeemer:
    def __init__(
        self,
        client: ChainClient,
        ledger: Ledger,
        cache: ChannelCache,
        threshold: int,
        poll_s: float = 0.5,
    ):
        self.client = client
        self.ledger = ledger
        self.cache = cache
        self.threshold = threshold
        self.poll_s = poll_s
        self._lock = threading.Lock()  # one redemption at a time (one nonce stream)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        cache.listeners.append(self._on_event)

    def _on_event(self, name: str, view: ChannelView) -> None:
        if name == "CloseRequested":
            self._wake.set()  # a closing channel is redeemed at once

    def due(self, everything: bool = False) -> list[LatestVoucher]:
        """Latest vouchers that the policy says to redeem now."""
        out = []
        for voucher in self.ledger.latest().values():
            view = self.cache.get(voucher.channel_id)
            if view is None or view.closed:
                continue
            unredeemed = voucher.cumulative - view.redeemed
            if unredeemed <= 0:
                continue
            closing = view.closes_at != 0 and self.cache.chain_time < view.closes_at
            if everything or closing or unredeemed >= self.threshold:
                out.append(voucher)
        return out

    def redeem(self, voucher: LatestVoucher) -> Redemption:
        cid, amount = voucher.channel_id, voucher.cumulative
        with self._lock:
            try:
                tx = self.client.transact(
                    CONTRACT,
                    "redeem",
                    cid,
                    amount,
                    voucher.signature,
                    on_signed=lambda h: self.ledger.redemption_sent(cid, amount, h),
                )
            except ContractRevert as err:
                if err.error == "PaymentChannelsVoucherNotAbove":
                    self.ledger.redemption_confirmed(cid, amount, None)
                    self.cache.mark_redeemed(cid, amount)
                    return Redemption(cid, amount, None, "already", str(err))
                self.ledger.redemption_failed(cid, amount, str(err))
                log.warning({"event": "redeem_failed", "channel": cid, "error": str(err)})
                return Redemption(cid, amount, None, "failed", str(err))
            self.ledger.redemption_confirmed(cid, amount, tx.tx_hash)
            self.cache.mark_redeemed(cid, amount)
        log.info({"event": "redeemed", "channel": cid, "cumulative": amount, "tx": tx.tx_hash})
        return Redemption(cid, amount, tx.tx_hash, "redeemed")

    def run_once(self, everything: bool = False) -> list[Redemption]:
        return [self.redeem(v) for v in self.due(everything)]

    def redeem_all(self) -> list[Redemption]:
        """Redeem every channel's latest voucher that the chain has not paid yet."""
        self.cache.poll()
        return self.run_once(everything=True)

    # ------------------------------------------------------------------ background loop

    def start(self) -> Redeemer:
        self._thread = threading.Thread(target=self._loop, name="channel-redeemer", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.run_once()
            except (ChainError, OSError, ValueError) as err:
                log.warning({"event": "redeem_loop_failed", "error": str(err)})
            except Exception as err:  # noqa: BLE001 - the thread must outlive one surprise (it retries next round)
                log.error({"event": "redeem_loop_failed", "error": unexpected(err)})

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
