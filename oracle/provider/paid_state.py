"""The provider's cached view of PaymentChannels: read once per channel, then kept current from the
contract's events (polled by a background thread), never read per request.

A channel is fetched (``getChannel`` + ``previousSignerOf``) the first time a voucher names it;
afterwards ``ChannelToppedUp``, ``SignerChanged``, ``CloseRequested``, ``Redeemed`` and
``ChannelClosed`` logs move the cached copy forward. The poller also keeps the chain's time
(the latest block's timestamp) for the closing-window checks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from web3.exceptions import Web3RPCError

from oracle.chain import ChainClient, ChainError
from oracle.logs import unexpected

log = logging.getLogger("oracle.provider.paid")
CONTRACT = "PaymentChannels"
ZERO = "0x0000000000000000000000000000000000000000"
EVENTS = ("ChannelToppedUp", "SignerChanged", "CloseRequested", "Redeemed", "ChannelClosed")


@dataclass(frozen=True)
class ChannelView:
    channel_id: int
    user: str
    provider: str
    signer: str
    deposit: int
    redeemed: int
    closes_at: int
    model_id: int
    previous_signer: str = ZERO
    previous_until: int = 0
    closed: bool = False

    def signers_at(self, now: int) -> tuple[str, ...]:
        """Whose vouchers count at chain time `now` (the contract's rule)."""
        keys = [self.user, self.signer]
        if self.previous_signer != ZERO and now < self.previous_until:
            keys.append(self.previous_signer)
        return tuple(keys)


class ChannelCache:
    """Channels by id, loaded on first use, refreshed from events by :meth:`poll` / :meth:`start`."""

    def __init__(self, client: ChainClient, poll_s: float = 0.5):
        self.client = client
        self.poll_s = poll_s
        self._channels: dict[int, ChannelView] = {}
        self._lock = threading.Lock()
        self._next_block = client.w3.eth.block_number + 1
        self.chain_time = client.block_timestamp()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listeners: list[Callable[[str, ChannelView], None]] = []

    # ------------------------------------------------------------------ reads

    def get(self, channel_id: int) -> ChannelView | None:
        """The cached channel, fetched from chain on first sight; None if it was never opened."""
        with self._lock:
            view = self._channels.get(channel_id)
        if view is not None:
            return view
        view = self._fetch(channel_id)
        if view is None:
            return None
        with self._lock:
            return self._channels.setdefault(channel_id, view)

    def mark_redeemed(self, channel_id: int, cumulative: int) -> None:
        """Our own confirmed redemption, applied before its event is polled."""
        with self._lock:
            view = self._channels.get(channel_id)
            if view is not None and cumulative > view.redeemed:
                self._channels[channel_id] = replace(view, redeemed=cumulative)

    def known(self) -> list[ChannelView]:
        with self._lock:
            return list(self._channels.values())

    def _fetch(self, channel_id: int) -> ChannelView | None:
        ch = self.client.call(CONTRACT, "getChannel", channel_id)
        (user, closes_at, _fee, _royalty, provider, deposit, signer, redeemed, _receiver, model_id) = ch
        if user == ZERO:
            status = self.client.call(CONTRACT, "statusOf", channel_id)
            if status == 3:  # Closed
                return ChannelView(channel_id, ZERO, ZERO, ZERO, 0, 0, 0, 0, closed=True)
            return None
        prev, until = self.client.call(CONTRACT, "previousSignerOf", channel_id)
        return ChannelView(
            channel_id,
            user,
            provider,
            signer,
            int(deposit),
            int(redeemed),
            int(closes_at),
            int(model_id),
            prev,
            int(until),
        )

    # ------------------------------------------------------------------ events

    def poll(self) -> int:
        """Apply the events mined since the last poll; returns how many were applied.

        A chain that went backwards (a reorg, or a node restarted from older state) makes every
        cached channel be fetched again; a node that answers a block range it does not have yet
        (anvil, for a moment after mining) is simply asked again at the next poll."""
        head = self.client.w3.eth.block_number
        if head + 1 < self._next_block:
            self._resync(head)
            return 0
        if head < self._next_block:
            self.chain_time = self.client.block_timestamp(head)
            return 0
        applied = 0
        contract = self.client.contract(CONTRACT)
        logs: list[Any] = []
        try:
            for name in EVENTS:
                ev = getattr(contract.events, name)
                logs += self.client.retry(
                    lambda ev=ev: ev.get_logs(from_block=self._next_block, to_block=head), f"logs {name}"
                )
        except (Web3RPCError, ValueError) as err:
            log.info({"event": "channel_poll_retry", "error": str(err)})
            return 0
        logs.sort(key=lambda e: (e["blockNumber"], e["logIndex"]))
        for entry in logs:
            applied += self._apply(entry["event"], entry["args"], entry["blockNumber"])
        self._next_block = head + 1
        self.chain_time = self.client.block_timestamp(head)
        return applied

    def _resync(self, head: int) -> None:
        """Fetch every cached channel again (events of dropped blocks no longer hold)."""
        with self._lock:
            ids = list(self._channels)
        fresh = {cid: self._fetch(cid) for cid in ids}
        with self._lock:
            for cid, view in fresh.items():
                if view is None:
                    self._channels.pop(cid, None)
                else:
                    self._channels[cid] = view
        self._next_block = head + 1
        self.chain_time = self.client.block_timestamp(head)
        log.warning({"event": "channel_resync", "head": head, "channels": len(ids)})

    def _apply(self, name: str, args: Any, block: int) -> int:
        cid = int(args["channelId"])
        with self._lock:
            view = self._channels.get(cid)
            if view is None:
                return 0  # not a channel this provider has seen: fetched fresh on first use
            if name == "ChannelToppedUp":
                view = replace(view, deposit=int(args["deposit"]))
            elif name == "SignerChanged":
                view = replace(
                    view,
                    signer=args["newSigner"],
                    previous_signer=args["oldSigner"],
                    previous_until=int(args["oldSignerUntil"]),
                )
            elif name == "CloseRequested":
                view = replace(view, closes_at=int(args["closesAt"]))
            elif name == "Redeemed":
                view = replace(view, redeemed=max(view.redeemed, int(args["cumulativeAmount"])))
            elif name == "ChannelClosed":
                view = replace(view, closed=True)
            self._channels[cid] = view
        for listener in self.listeners:
            listener(name, view)
        return 1

    # ------------------------------------------------------------------ background poller

    def start(self) -> ChannelCache:
        self._thread = threading.Thread(target=self._loop, name="channel-events", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.poll()
            except (ChainError, OSError, ValueError) as err:
                log.warning({"event": "channel_poll_failed", "error": str(err)})
            except Exception as err:  # noqa: BLE001 - the thread must outlive one surprise (it retries next round)
                log.error({"event": "channel_poll_failed", "error": unexpected(err)})

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
