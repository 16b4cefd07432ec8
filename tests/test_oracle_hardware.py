"""The accelerator stand-in (oracle.provider.hardware): paced speed, devices shared by nodes."""

import threading
import time

import pytest

from oracle import challenge as ch
from oracle import commitment as cm
from oracle.provider.hardware import Hardware


def test_a_device_never_goes_faster_than_its_speed():
    hw = Hardware(flops_per_s=1e8)
    challenge = ch.Challenge(bytes(32), 32, "fp32", 10.0, rows=4000)  # 8.2 MFLOP: >= 82 ms
    started = time.monotonic()
    with hw.device() as pace:
        commitment = cm.compute_commitment(challenge, block_rows=500, pace=pace)
    took = time.monotonic() - started
    assert took >= challenge.flops / 1e8 * 0.99
    assert commitment.root == cm.compute_commitment(challenge).root  # paced, still the real product


def test_challenges_beyond_the_device_count_wait_for_a_free_device():
    hw = Hardware(flops_per_s=1e9, devices=2)
    finished, inside, most = [], [0], [0]
    lock = threading.Lock()

    def run() -> None:
        with hw.device() as pace:
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            pace(int(1e8))  # 0.1 s of work
            with lock:
                inside[0] -= 1
        finished.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 2  # never more than its devices at once
    assert max(finished) - started >= 0.19  # the last two waited for a device (two rounds of 0.1 s)


def test_bad_hardware_is_refused():
    with pytest.raises(ValueError):
        Hardware(0)
    with pytest.raises(ValueError):
        Hardware(1e9, devices=0)
