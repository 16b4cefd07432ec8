"""The paid-endpoint benchmark's in-process parts (:mod:`oracle.benchmarks.paid`): the payment
headers its clients send (vouchers and credit-window tokens, made beforehand) and the median cost
of each piece of a paid request alone -- the model, the energy meter, the voucher check, the credit
token check and one journal record of each kind in each durability."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from eth_account import Account

from oracle.attest import Domain
from oracle.benchmarks.paid_chain import MODEL
from oracle.client.pay_credit import HEADER_CREDIT, CreditToken, chain, credit_header, new_seed
from oracle.client.pay_voucher import Voucher, channels_domain, sign_voucher
from oracle.client.pay_wire import HEADER_SIGNATURE, SignedVoucher, payment_header
from oracle.provider.paid import onnx_model
from oracle.provider.paid_energy import RequestMeter
from oracle.provider.paid_ledger import Accepted, Ledger
from oracle.work import demo_model
from oracle.work.runtime import OnnxModel

PRICE = 10**15

Header = tuple[str, str] | None
"""One request's payment header (name, value); None: unpaid."""


def paid_headers(
    channel: tuple[int, int], key: bytes, domain: Domain, count: int, start: int, credit: int
) -> tuple[list[Header], int]:
    """`count` requests' payment headers from cumulative `start` (in prices): a voucher prepaying
    `credit` requests, then its window's tokens, and again; (headers, prices prepaid)."""
    cid, model_id = channel
    out: list[Header] = []
    paid = start
    while len(out) < count:
        paid += credit
        seed = new_seed() if credit > 1 else b""
        tokens = chain(seed, credit) if seed else []
        v = Voucher(cid, paid * PRICE, model_id)
        signed = SignedVoucher(
            v, sign_voucher(domain, v, key), f"eip155:{domain.chain_id}", credit, tokens[0] if seed else None
        )
        out.append((HEADER_SIGNATURE, payment_header(signed)))
        for j in range(1, min(credit, count - len(out) + 1)):
            out.append((HEADER_CREDIT, credit_header(CreditToken(cid, j, tokens[j]))))
    return out, paid - start


def measure_parts(work: Path, repeats: int = 300) -> dict[str, float]:
    """Median microseconds of the model alone, the voucher check alone (no journal), and one
    journal record (written into the mapped log + its own fdatasync; the write only with durability
    "process"); the same for a credit token (parse + one SHA-256; its record is the write alone in
    both durabilities)."""
    from oracle.client.pay_credit import hash_forward, parse_credit_header
    from oracle.client.pay_voucher import VoucherDigester, recover_digest_address
    from oracle.client.pay_wire import parse_payment_header

    model = onnx_model(OnnxModel.from_bytes(demo_model.model_bytes(MODEL), device="cpu", threads=1))
    x = model.prepare(demo_model.test_set(1)[0].tolist())
    key = Account.create()
    domain = channels_domain(31337, "0x" + "11" * 20)
    header = paid_headers((1, 5), key.key, domain, 1, 0, 1)[0][0][1]
    digester = VoucherDigester(domain)
    tokens = chain(new_seed(), 2)
    token_header = credit_header(CreditToken(1, 1, tokens[1]))

    def timed(fn) -> float:
        samples = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t)
        return statistics.median(samples) * 1e6

    def check() -> None:
        signed = parse_payment_header(header)
        recover_digest_address(digester.digest(signed.voucher), signed.signature)

    def credit_check() -> None:
        token = parse_credit_header(token_header)
        if hash_forward(token.preimage, 1) != tokens[0]:
            raise AssertionError("the benchmark's token does not hash to its anchor")

    journal, credit_record = {}, {}
    for durability in ("disk", "process"):
        ledger = Ledger(work / f"parts-{durability}.db", durability)
        counter = iter(range(1, 10**9))
        try:
            journal[durability] = timed(
                lambda ledger=ledger, counter=counter: ledger.record(
                    Accepted(1, next(counter), PRICE, b"\x00" * 65, 5)
                )
            )
            ledger.record(Accepted(2, PRICE, PRICE, b"\x00" * 65, 5, 10**6, tokens[0]))
            credit_record[durability] = timed(
                lambda ledger=ledger, counter=counter: ledger.record_credit(
                    2, PRICE, next(counter), tokens[1]
                )
            )
        finally:
            ledger.close()
    meter = RequestMeter({"nvml": False})  # the per-request energy meter around nothing (CPU estimate)
    return {
        "model_us": timed(lambda: model.run(x)),
        "energy_meter_us": timed(lambda: meter.measure(lambda: None)),
        "model_metered_us": timed(lambda: meter.measure(lambda: model.run(x))),
        "check_us": timed(check),
        "journal_record_disk_us": journal["disk"],
        "journal_record_process_us": journal["process"],
        "credit_check_us": timed(credit_check),
        "credit_record_disk_us": credit_record["disk"],
        "credit_record_process_us": credit_record["process"],
    }
