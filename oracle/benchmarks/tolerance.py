"""How far a provider can overstate its speed and still pass: the tolerated inflation, measured.

A provider server is challenged over HTTP on 127.0.0.1 with the daemon's defaults (target 1 s at
the claim, tolerance 1.25, allowance 0.25 s) while it claims ``k`` times its real speed ``S``, for a
range of ``k``. Two providers:

* ``paced``: the product computed for real by NumPy, on a device stand-in whose speed is set
  (:class:`oracle.provider.hardware.Hardware`, at a third of what this CPU does): ``S`` is exact,
  so the figure does not move with the load of a shared machine;
* ``cpu``: NumPy at this CPU's own speed, ``S`` measured first (best of 2 runs of the whole job:
  derive, multiply, digest, commit), as noisy as the machine is.

The formula (:func:`oracle.challenge.tolerated_inflation`) says ``k <= 1.25 + (0.25 - fixed) / 1``;
this measures ``fixed`` (wall time minus ``work / S``) and where the passes stop.
"""

from __future__ import annotations

import time

from oracle import challenge as ch
from oracle import challenge_check as cc
from oracle import commitment as cm

KS = (1.0, 1.2, 1.3, 1.4, 1.45, 1.5, 1.55, 1.6, 2.0)


def measure_speed(n: int, target_s: float, guess_flops: float) -> float:
    """FLOP/s of the provider's whole job on a challenge of about ``target_s`` (best of 2)."""
    challenge = ch.new_challenge(n, "fp32", guess_flops, target_s=target_s)
    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        cm.compute_commitment(challenge)
        best = min(best, time.perf_counter() - started)
    return challenge.flops / best


def _sweep(server, speed: float, n: int, ks: tuple[float, ...], target_s: float) -> list[dict]:
    from oracle.validator.challenging import run_challenge
    from oracle.validator.client import ProviderClient

    client = ProviderClient(server.url, timeout=60)
    runs = []
    for k in ks:
        while server.running:  # a late answer's work goes on after the validator gave up
            time.sleep(0.05)
        challenge = ch.new_challenge(n, "fp32", k * speed, target_s=target_s)
        verdict = run_challenge(client, challenge, cc.DEFAULT_SAMPLES)
        wall = verdict.elapsed_s if verdict.elapsed_s is not None else float("nan")
        attested = ch.attested_flops(challenge, wall, k * speed) if verdict.ok else 0.0
        runs.append(
            {
                "k": k,
                "ok": bool(verdict.ok),
                "wall_s": wall,
                "deadline_s": challenge.deadline_s,
                "fixed_s": wall - challenge.flops / speed,
                "attested_over_real": attested / speed,
                "reason": verdict.reason[:80],
            }
        )
    return runs


def _summary(runs: list[dict], speed: float) -> dict:
    passed = [r["k"] for r in runs if r["ok"]]
    failed = [r["k"] for r in runs if not r["ok"]]
    fixed = sorted(r["fixed_s"] for r in runs if r["fixed_s"] == r["fixed_s"])
    median = fixed[len(fixed) // 2] if fixed else float("nan")
    return {
        "speed_flops": speed,
        "median_fixed_s": median,
        "predicted_tolerated": ch.tolerated_inflation(fixed_s=median),
        "largest_k_passed": max(passed) if passed else None,
        "smallest_k_failed": min(failed) if failed else None,
        "runs": runs,
    }


def measure_tolerance(
    n: int = 1024,
    guess_flops: float = 5e10,
    ks: tuple[float, ...] = KS,
    target_s: float = ch.DEFAULT_TARGET_S,
) -> dict:
    from oracle.provider.hardware import Hardware
    from oracle.provider.server import ProviderServer

    cpu = measure_speed(n, target_s, guess_flops)
    paced = cpu / 3
    out = {"n": n, "target_s": target_s, "tolerance": ch.DEFAULT_TOLERANCE}
    out["allowance_s"] = ch.DEFAULT_ALLOWANCE_S
    with ProviderServer("127.0.0.1", 0, backend="numpy", hardware=Hardware(paced)) as server:
        out["paced"] = _summary(_sweep(server, paced, n, ks, target_s), paced)
    with ProviderServer("127.0.0.1", 0, backend="numpy") as server:
        out["cpu"] = _summary(_sweep(server, cpu, n, ks, target_s), cpu)
    return out
