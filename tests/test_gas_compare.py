"""The gas comparison (scripts/gas_compare.py, `make gas-compare`) and its floor model
(scripts/gas_floor.py): pure pricing checks, and one run of every comparison on the test chain."""

import pytest

from scripts.gas_floor import (
    CLEAR_REFUND,
    COLD_ACCOUNT,
    ERC20_TRANSFER_LOG,
    TX_BASE,
    WARM_CALL,
    Floor,
    calldata_gas,
)


def test_calldata_gas_prices_zero_and_nonzero_bytes():
    assert calldata_gas(b"") == 0
    assert calldata_gas(b"\x00\x00\x01\xff") == 4 + 4 + 16 + 16


def test_floor_prices_a_new_slot_an_update_and_a_warm_rewrite():
    f = Floor(calldata=100).store("a", before_zero=True).store("b", before_zero=False).store("a", False)
    assert [g for _, g in f.parts] == [22_100, 5_000, 100]
    assert f.total == TX_BASE + 100 + 27_200


def test_floor_erc20_transfer_is_call_two_balances_and_log_then_warm():
    f = Floor(calldata=0).erc20_transfer("escrow", "a").erc20_transfer("escrow", "b")
    gas = [g for _, g in f.parts]
    assert gas == [COLD_ACCOUNT, 5_000, 5_000, ERC20_TRANSFER_LOG, WARM_CALL, 100, 5_000, ERC20_TRANSFER_LOG]


def test_floor_refund_is_capped_at_a_fifth():
    f = Floor(calldata=0).store("x", before_zero=False, after_zero=True)
    assert f.refund == CLEAR_REFUND
    assert f.total == TX_BASE + 5_000 - min(CLEAR_REFUND, (TX_BASE + 5_000) // 5)


@pytest.fixture(scope="module")
def comparisons(chain):
    from scripts.gas_compare import compare

    snap = chain.snapshot()
    try:
        yield compare()
    finally:
        chain.restore(snap)


def test_every_comparison_has_rows_with_reference_and_floor(comparisons):
    assert len(comparisons) == 4
    for cmp in comparisons:
        assert cmp.rows and cmp.notes
        assert any(r.reference for r in cmp.rows), cmp.title


def test_no_measured_operation_is_below_its_theoretical_floor(comparisons):
    for cmp in comparisons:
        for r in cmp.rows:
            if r.floor:
                assert r.ours >= r.floor, (cmp.title, r.operation, r.ours, r.floor)


def test_one_tx_quorum_beats_three_single_signature_calls(comparisons):
    rows = [r for c in comparisons for r in c.rows if r.operation.startswith("k=3 quorum")]
    assert rows and all(r.ours < r.reference for r in rows)
