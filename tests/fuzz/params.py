"""Constants and governed values the stateful fuzzer deploys and draws with."""

from __future__ import annotations

from eth_utils import keccak

from oracle.inventory import synthetic_uuid
from tests.support.oracle import ORACLE_KEYS

ETHER = 10**18
BPS = 10_000
DISPUTE_TIMEOUT = 14 * 86_400  # JobEscrow.DISPUTE_TIMEOUT
EXPIRED_SHARE_BPS = 5_000  # JobEscrow.EXPIRED_DISPUTE_PROVIDER_BPS
ZERO = "0x0000000000000000000000000000000000000000"
GPU_MODEL = "NVIDIA H100 80GB HBM3"
TX_GAS = 3_000_000
FUNDING = 1_000_000 * ETHER
BASE_STAKE = 20_000 * ETHER
SCORE = 9_000
ORACLE_SET = ORACLE_KEYS[:3]  # registry oracles (threshold 2); ORACLE_KEYS[3:] are not in the set
RESULT_HASH = b"\x02" * 32  # what every provider submits
#: the item sets a dispute names (the last two are refused)
DISPUTE_ITEMS = [[0], [1, 5, 9], [3, 4, 200], [7, 7], []]
#: how an attestation is signed: mostly a valid quorum, else each way the registry must refuse
SIGNER_MODES = ["quorum"] * 6 + ["all", "duplicate", "too_few", "outsider", "descending"]

#: Governed values the fuzzer deploys with (short periods so that time travel reaches every path).
FUZZ_PARAMS = {
    "min_stake_per_gpu": 1_000 * ETHER,
    "unbonding_period": 3_600,
    "finder_share_bps": 1_000,
    "harmed_share_bps": 5_000,
    "fee_bps": 250,
    "collateral_bps": 5_000,
    "challenge_window": 600,
    "dispute_bond": 7 * ETHER + 1,  # odd: every split of it must still add up to the wei
    "max_royalty_bps": 1_000,
    "oracle_threshold": 2,
    "attestation_max_validity": 7 * 24 * 3600,
    "attestation_max_slash": 1_000 * ETHER,
}


UUIDS = [synthetic_uuid(f"fuzz-node-{i}") for i in range(4)]
"""The GPUs of the fuzzed network; NODES[i] = keccak256(UUIDS[i]), as ComputeStaking derives it."""
NODES = [keccak(text=u) for u in UUIDS]
