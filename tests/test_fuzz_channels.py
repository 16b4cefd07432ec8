"""Stateful fuzzing of PaymentChannels alone (kept apart from tests/test_fuzz_protocol.py).

A hypothesis ``RuleBasedStateMachine`` lets two users open channels to two providers (with and
without a royalty-bearing model), top them up, rotate their session keys, ask to close and withdraw,
while the providers redeem vouchers of every kind (fresh, stale, over the deposit, from a stranger,
from a replaced key inside and past its grace period) and time moves on. A Python model predicts
every transaction's outcome (success, or the name of the custom error) and every balance; after
EVERY step the invariants are checked against the chain:

- solvency, exactly: the contract's token balance == the sum over channels not Closed of
  (deposit - redeemed), the chain's own per-channel figures equal the model's;
- every token paid out exactly once: each actor's balance (users, providers, the royalty receiver,
  the treasury) equals the model's, and the actors plus the contract hold the same total as at start.

Time-dependent outcomes whose boundary is within ``MARGIN`` seconds of now are not sent (the exact
boundaries are unit-tested in tests/test_payment_channels.py), so no step depends on when anvil
mines. Size: ``FUZZ_CHANNEL_EXAMPLES`` x ``FUZZ_CHANNEL_STEPS`` (default 5 x 12). See tests/FUZZING.md.
"""

import os
from dataclasses import dataclass

import pytest
from ape.exceptions import ContractLogicError
from eth_account import Account
from eth_utils import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from oracle.client.pay_voucher import Voucher, channels_domain, sign_voucher
from scripts.deploy import deploy_channels
from tests.support.core import BPS, ETHER, MODEL_URI, as_int, weights_hash

EXAMPLES = int(os.environ.get("FUZZ_CHANNEL_EXAMPLES", "5"))
STEPS = int(os.environ.get("FUZZ_CHANNEL_STEPS", "12"))
FEE_BPS = 300
ROYALTY_BPS = 900
CLOSE_DELAY = 1_000
MARGIN = 5
KEYS = [Account.from_key(keccak(text=f"fuzz-channels-key-{i}")) for i in range(3)]
STRANGER = Account.from_key(keccak(text="fuzz-channels-stranger"))


@dataclass
class Chan:
    user: str
    provider: str
    model: int
    deposit: int
    signer: Account
    royalty_bps: int
    redeemed: int = 0
    closes_at: int = 0
    prev_signer: Account | None = None
    prev_until: int = 0
    closed: bool = False


@pytest.fixture(scope="module")
def world(protocol, deployer, token, treasury, accounts, model_nft, creator):
    channels = deploy_channels(
        deployer,
        token,
        model_nft,
        treasury,
        {"channel_fee_bps": FEE_BPS, "channel_close_delay": CLOSE_DELAY},
    )
    wh = weights_hash("fuzz-channels-model")
    model_nft.mint(creator, wh, MODEL_URI, creator, ROYALTY_BPS, sender=creator)
    users, providers = [accounts[2], accounts[4]], [accounts[1], accounts[5]]
    for u in users:
        token.approve(channels, 2**255, sender=u)
    return channels, as_int(wh), users, providers


def _error_name(err: ContractLogicError) -> str:
    return type(err).__name__


def test_fuzz_channels_solvency(world, token, chain, treasury, creator):
    channels, model_id, users, providers = world
    domain = channels_domain(chain.chain_id, str(channels.address))
    actors = [*users, *providers, creator, treasury]
    # Invariant reads go through plain web3 (about 10x cheaper than Ape's call machinery).
    w3 = chain.provider.web3
    erc20 = w3.eth.contract(
        address=str(token.address), abi=token.contract_type.model_dump(mode="json")["abi"]
    )
    pc = w3.eth.contract(
        address=str(channels.address), abi=channels.contract_type.model_dump(mode="json")["abi"]
    )

    def balance(address: str) -> int:
        return erc20.functions.balanceOf(address).call()

    stats = {"sent": 0, "reverted": 0}

    class ChannelMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snap = chain.snapshot()
            self.chans: dict[int, Chan] = {}
            self.balances = {a.address: token.balanceOf(a) for a in actors}
            self.held = token.balanceOf(channels)
            self.total = sum(self.balances.values()) + self.held
            self.next_id = channels.channelCount() + 1

        def teardown(self):
            chain.restore(self.snap)

        # ---------------------------------------------------------------- helpers

        def now(self) -> int:
            return chain.blocks.head.timestamp

        def near(self, boundary: int) -> bool:
            return boundary != 0 and abs(self.now() - boundary) <= MARGIN

        def send(self, expected: str | None, fn, *args, sender):
            stats["sent"] += 1
            try:
                tx = fn(*args, sender=sender)
            except ContractLogicError as err:
                stats["reverted"] += 1
                assert _error_name(err) == expected, f"{fn}: expected {expected}, got {_error_name(err)}"
                return None
            assert expected is None, f"{fn}{args}: expected {expected}, it succeeded"
            return tx

        def pick(self, index: int) -> tuple[int, Chan] | None:
            if not self.chans:
                return None
            cid = sorted(self.chans)[index % len(self.chans)]
            return cid, self.chans[cid]

        # ---------------------------------------------------------------- rules

        @initialize()
        def two_channels(self):
            """Every sequence starts with a royalty-bearing channel and a plain one (no empty runs)."""
            self.open(0, 0, True, 20)
            self.open(1, 1, False, 10)

        @rule(u=st.integers(0, 1), p=st.integers(0, 1), with_model=st.booleans(), amount=st.integers(1, 50))
        def open(self, u, p, with_model, amount):
            user, provider = users[u], providers[p]
            wei = amount * ETHER
            model = model_id if with_model else 0
            self.send(None, channels.open, provider, KEYS[0].address, model, wei, sender=user)
            self.chans[self.next_id] = Chan(
                user.address, provider.address, model, wei, KEYS[0], ROYALTY_BPS if with_model else 0
            )
            self.next_id += 1
            self.balances[user.address] -= wei
            self.held += wei

        @rule(i=st.integers(0, 30), amount=st.integers(0, 20), by_user=st.booleans())
        def top_up(self, i, amount, by_user):
            if (picked := self.pick(i)) is None:
                return
            cid, ch = picked
            sender = next(a for a in users if (a.address == ch.user) == by_user)
            if ch.closed or ch.closes_at:
                expected = "PaymentChannelsWrongStatus"
            elif not by_user:
                expected = "PaymentChannelsNotUser"
            elif amount == 0:
                expected = "PaymentChannelsInvalidAmount"
            else:
                expected = None
            self.send(expected, channels.topUp, cid, amount * ETHER, sender=sender)
            if expected is None:
                ch.deposit += amount * ETHER
                self.balances[ch.user] -= amount * ETHER
                self.held += amount * ETHER

        @rule(
            i=st.integers(0, 30),
            delta=st.integers(-3, 30),
            kind=st.sampled_from(["signer", "user", "previous", "stranger"]),
        )
        def redeem(self, i, delta, kind):
            if (picked := self.pick(i)) is None:
                return
            cid, ch = picked
            if self.near(ch.closes_at) or (kind == "previous" and self.near(ch.prev_until)):
                return
            amount = max(ch.redeemed + delta * ETHER // 10, 0)
            if kind == "signer":
                key = ch.signer.key
            elif kind == "user":
                key = next(a for a in users if a.address == ch.user).private_key
            elif kind == "previous":
                if ch.prev_signer is None:
                    return
                key = ch.prev_signer.key
            else:
                key = STRANGER.key
            sig = sign_voucher(domain, Voucher(cid, amount, ch.model), key)
            now = self.now()
            valid_key = kind in ("signer", "user") or (
                kind == "previous" and (ch.prev_signer.address == ch.signer.address or now < ch.prev_until)
            )
            if ch.closed:
                expected = "PaymentChannelsWrongStatus"
            elif ch.closes_at and now >= ch.closes_at:
                expected = "PaymentChannelsRedeemWindowOver"
            elif amount <= ch.redeemed:
                expected = "PaymentChannelsVoucherNotAbove"
            elif amount > ch.deposit:
                expected = "PaymentChannelsVoucherExceedsDeposit"
            elif not valid_key:
                expected = "PaymentChannelsInvalidSigner"
            else:
                expected = None
            self.send(
                expected,
                channels.redeem,
                cid,
                amount,
                sig,
                sender=providers[0] if ch.provider == providers[0].address else providers[1],
            )
            if expected is None:
                inc = amount - ch.redeemed
                fee, royalty = inc * FEE_BPS // BPS, inc * ch.royalty_bps // BPS
                self.balances[treasury.address] += fee
                self.balances[creator.address] += royalty
                self.balances[ch.provider] += inc - fee - royalty
                self.held -= inc
                ch.redeemed = amount

        @rule(i=st.integers(0, 30), key=st.integers(0, 2))
        def set_signer(self, i, key):
            if (picked := self.pick(i)) is None:
                return
            cid, ch = picked
            user = next(a for a in users if a.address == ch.user)
            expected = "PaymentChannelsWrongStatus" if ch.closed else None
            self.send(expected, channels.setSigner, cid, KEYS[key].address, sender=user)
            if expected is None:
                ch.prev_signer, ch.prev_until = ch.signer, self.now() + CLOSE_DELAY
                ch.signer = KEYS[key]

        @rule(i=st.integers(0, 30))
        def request_close(self, i):
            if (picked := self.pick(i)) is None:
                return
            cid, ch = picked
            user = next(a for a in users if a.address == ch.user)
            expected = "PaymentChannelsWrongStatus" if ch.closed or ch.closes_at else None
            if self.send(expected, channels.requestClose, cid, sender=user) is not None:
                ch.closes_at = self.now() + CLOSE_DELAY

        @rule(i=st.integers(0, 30))
        def withdraw(self, i):
            if (picked := self.pick(i)) is None:
                return
            cid, ch = picked
            if self.near(ch.closes_at):
                return
            user = next(a for a in users if a.address == ch.user)
            if ch.closed or not ch.closes_at:
                expected = "PaymentChannelsWrongStatus"
            elif self.now() < ch.closes_at:
                expected = "PaymentChannelsCloseDelayNotOver"
            else:
                expected = None
            self.send(expected, channels.withdraw, cid, sender=user)
            if expected is None:
                refund = ch.deposit - ch.redeemed
                self.balances[ch.user] += refund
                self.held -= refund
                ch.closed = True

        @rule(seconds=st.sampled_from([30, 400, CLOSE_DELAY + 20]))
        def wait(self, seconds):
            chain.pending_timestamp = self.now() + seconds
            chain.mine()

        # ---------------------------------------------------------------- invariants

        @invariant()
        def solvent_and_every_token_paid_once(self):
            held = balance(str(channels.address))
            assert (
                held == self.held == sum(c.deposit - c.redeemed for c in self.chans.values() if not c.closed)
            )
            for cid, ch in self.chans.items():
                stored = pc.functions.getChannel(
                    cid
                ).call()  # (user, closesAt, feeBps, royaltyBps, provider, deposit, ...)
                if ch.closed:
                    assert stored[0] == "0x" + "00" * 20 and stored[5] == 0
                else:
                    assert (stored[5], stored[7]) == (ch.deposit, ch.redeemed)
            actual = {a.address: balance(a.address) for a in actors}
            assert actual == self.balances
            assert sum(actual.values()) + held == self.total

    run_state_machine_as_test(
        ChannelMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
    print(f"channel fuzz: {stats['sent']} transactions, {stats['reverted']} predicted reverts")
    assert stats["sent"] > 0
