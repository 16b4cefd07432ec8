"""Static analysis gate: slither over the project's contracts (toolchain/slither.py), plus the
policy it applies (pure checks on synthetic findings, no slither run)."""

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "toolchain" / "slither.py"
_spec = importlib.util.spec_from_file_location("project_slither", _PATH)
slither = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = slither  # dataclasses look their module up here
_spec.loader.exec_module(slither)


@pytest.fixture(scope="module")
def report():
    try:
        return slither.analyse()
    except slither.SlitherError as exc:
        pytest.fail(str(exc))


def test_no_high_or_medium_finding(report):
    assert not report.blocking, report.summary()


def test_every_low_or_informational_finding_is_triaged(report):
    assert not report.untriaged, report.summary()


def test_every_inline_suppression_is_listed_in_the_triage_file(report):
    assert not report.unlisted_suppressions, report.summary()


def test_analysis_covers_every_protocol_contract(report):
    analysed = {p.stem for p in slither.sources()}
    assert {"ComputeToken", "ComputeStaking", "ModelNFT", "JobEscrow", "AttestationRegistry"} <= analysed
    assert {"ComputeGovernor", "Treasury", "ModelMarketplace"} <= analysed
    assert not any(p.parts[-2] in ("test", "reference") for p in slither.sources())


def _finding(check="timestamp", impact="Low", contract="C", name="f", location="contracts/C.sol#1"):
    return slither.Finding(check, impact, contract, name, location, "")


def _report(findings, triaged=(), suppressed=(), listed=()):
    return slither.Report(list(findings), set(triaged), list(suppressed), set(listed))


def test_policy_a_triaged_medium_still_blocks():
    r = _report([_finding(impact="Medium")], triaged=[("timestamp", "C", "f")])
    assert r.blocking and not r.ok


def test_policy_an_untriaged_low_fails_and_a_triaged_one_passes():
    assert not _report([_finding()]).ok
    assert _report([_finding()], triaged=[("timestamp", "C", "f")]).ok


def test_policy_matches_by_check_contract_and_function_not_line():
    moved = _finding(location="contracts/C.sol#999")
    assert _report([moved], triaged=[("timestamp", "C", "f")]).ok
    assert not _report([_finding(name="g")], triaged=[("timestamp", "C", "f")]).ok


def test_policy_an_unlisted_inline_suppression_fails():
    suppressed = [("unused-return", "contracts/escrow/JobEscrow.sol")]
    assert not _report([], suppressed=suppressed).ok
    assert _report([], suppressed=suppressed, listed=[("unused-return", "JobEscrow")]).ok


def test_triage_file_parses_both_tables():
    triaged, inline = slither.read_triage()
    assert ("timestamp", "JobEscrow", "finalize") in triaged
    assert ("arbitrary-send-erc20", "ModelMarketplace") in inline
