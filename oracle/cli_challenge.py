"""``oracle challenge URL``: run one challenge against a provider and print the verdict."""

from __future__ import annotations

import argparse

from oracle.cli_ui import CliError, Ui, common_options, http_url
from oracle.errors import EXIT_CHECK_FAILED, EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    from oracle.challenge import PRECISIONS
    from oracle.challenge_check import DEFAULT_SAMPLES

    parser = subparsers.add_parser(
        "challenge", parents=[common_options()], help="challenge a provider once and print the verdict"
    )
    parser.add_argument("url", type=http_url, help="provider base URL, e.g. http://127.0.0.1:8600")
    parser.add_argument("-n", type=int, default=512, help="inner dimension (default 512)")
    parser.add_argument(
        "--rows", type=int, default=None, help="rows of A (default: sized to take --target-s at the claim)"
    )
    parser.add_argument(
        "--target-s", type=float, default=1.0, help="compute time asked for at the claimed speed (default 1)"
    )
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32")
    parser.add_argument(
        "--claimed-tflops",
        type=float,
        default=0.05,
        help="provider's claimed speed: sizes the work and the deadline (default 0.05)",
    )
    parser.add_argument(
        "--deadline", type=float, default=None, help="deadline in seconds (overrides the formula)"
    )
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="rows to open and check")
    parser.add_argument(
        "--freivalds", type=int, default=0, help="Freivalds rounds on the full product (small n)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="HTTP timeout in seconds")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, ui: Ui) -> int:
    from oracle.challenge import Challenge, ChallengeError, attested_flops, new_challenge, proven_flops
    from oracle.validator.challenging import run_challenge
    from oracle.validator.client import ProviderClient

    if args.samples < 0 or args.freivalds < 0:
        raise CliError("--samples and --freivalds must be >= 0", exit_code=2)
    try:
        claimed = args.claimed_tflops * 1e12
        challenge = new_challenge(args.n, args.precision, claimed, target_s=args.target_s, rows=args.rows)
        if args.deadline is not None:
            challenge = Challenge(
                challenge.seed, challenge.n, challenge.precision, args.deadline, rows=challenge.rows
            )
    except ChallengeError as exc:
        raise CliError(str(exc), exit_code=2) from None
    client = ProviderClient(args.url, timeout=args.timeout)
    if args.freivalds > 0:
        _check_product_limit(client, challenge)
    ui.progress(
        f"challenging {args.url}: {challenge.rows} x {challenge.n} x {challenge.n} {challenge.precision}"
        f" ({challenge.flops / 1e9:.3g} GFLOP), deadline {challenge.deadline_s:.2f} s"
    )
    verdict = run_challenge(client, challenge, args.samples, freivalds_rounds=args.freivalds)
    if verdict.ok and verdict.elapsed_s:
        verdict.attested_flops = attested_flops(challenge, verdict.elapsed_s, claimed)
        verdict.proven_flops = proven_flops(challenge, claimed)
    if ui.json:
        ui.emit({"challenge": challenge.to_json(), "verdict": verdict.to_json()})
    else:
        ui.fields(
            [
                ("verdict", "PASS" if verdict.ok else "FAIL"),
                ("reason", verdict.reason),
                ("answered in", None if verdict.elapsed_s is None else f"{verdict.elapsed_s:.3f} s"),
                ("deadline", f"{challenge.deadline_s:.3f} s"),
                ("sampled rows", verdict.samples),
                ("Freivalds rounds", verdict.freivalds_rounds),
                ("measured TFLOPS", f"{verdict.attested_flops / 1e12:.4g} (claimed {args.claimed_tflops:g})"),
                ("proven TFLOPS (work / deadline)", f"{verdict.proven_flops / 1e12:.4g}"),
                (
                    f"escape <= (f = {verdict.assumed_correct_fraction:g} of rows done)",
                    f"{verdict.escape_probability:.3g}",
                ),
                *[
                    (f"escape <= ({row['rows_skipped']} row(s) skipped)", f"{row['escape']:.3g}")
                    for row in verdict.escape_table
                ],
                ("check time", f"{verdict.check_seconds * 1000:.1f} ms"),
                ("root", verdict.root),
            ]
        )
    return EXIT_OK if verdict.ok else EXIT_CHECK_FAILED


def _check_product_limit(client, challenge) -> None:
    """--freivalds needs the whole product, which a provider serves only up to its max_product_n:
    a challenge above it is this command's mistake, not the provider's failure."""
    from oracle.errors import ProviderError

    try:
        limit = client.health().get("max_product_n")
    except ProviderError as exc:
        raise CliError(f"cannot reach the provider at {client.base_url}: {exc}") from None
    if isinstance(limit, int) and max(challenge.rows, challenge.n) > limit:
        raise CliError(
            f"--freivalds checks the full product, which this provider serves only for rows and n up to "
            f"{limit}; this challenge is {challenge.rows} x {challenge.n}: lower -n / --rows / --target-s, "
            "or check with --samples alone",
            exit_code=2,
        )
