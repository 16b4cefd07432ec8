"""Every custom error of every contract reads as a sentence on the page (issue 16): the page's own
formatter (frontend/src/errors.js, run by Node) over each error of each compiled ABI, each argument
given a realistic value of the kind it really is (tests/support/error_sentences.mjs). Times read as
dates with "in ..."/"... ago", amounts in tokens, rates as percentages, periods as durations, ids
shortened; no raw wei, unix time, full address or 78-digit id reaches the user."""

import json
import re
import subprocess

from tests.support.frontend import ROOT

CONTRACTS = [
    "ComputeToken",
    "ComputeStaking",
    "JobEscrow",
    "ModelNFT",
    "ModelMarketplace",
    "AttestationRegistry",
    "PaymentChannels",
    "ComputeGovernor",
    "Treasury",
]
SHOWN = {  # how each kind of number must read (the segment after the argument's name)
    "time": re.compile(r"[A-Z][a-z]{2} \d{1,2}, 20\d\d, \d{1,2}:\d\d [AP]M( \(.*(ago|in |now).*\))?"),
    "amount": re.compile(r"[\d,]+(\.\d{1,6})? GPU"),
    "bps": re.compile(r"\d+(\.\d+)?%"),
    "count": re.compile(r"\d{1,6}"),
    "plain": re.compile(r"\d{1,6}"),
    "period": re.compile(r"(\d+ ?(d|h|hr|min|m|s|sec)\.?,? ?)+"),
    "id": re.compile(r"#\d+"),
    "contentId": re.compile(r"0x[0-9a-f]{4}…[0-9a-f]{4}"),
}


def _words(name: str) -> str:
    """As the page's: camelCase to words, an acronym kept as written ("NFTNotListed": "NFT not listed")."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", s)
    return " ".join(w if re.fullmatch(r"[A-Z][A-Z0-9]+", w) else w.lower() for w in s.split(" "))


def _values(text: str, names: list[str]) -> list[str | None]:
    """The shown value of each argument, in order: "(name value, name value)" scanned left to right."""
    if not names:
        return []
    start = text.rfind(" (" + _words(names[0]) + " ")
    end = text.rfind("). [")
    if start < 0 or end < 0:
        return [None] * len(names)
    starts, cursor = [], start + 2
    for i, name in enumerate(names):
        label = ("" if i == 0 else ", ") + _words(name) + " "
        at = text.find(label, cursor)
        if at < 0:
            return [None] * len(names)
        starts.append((at, at + len(label)))
        cursor = at + len(label)
    bounds = [s for s, _ in starts[1:]] + [end]
    return [text[v:b] for (_, v), b in zip(starts, bounds, strict=True)]


def test_every_custom_error_of_every_contract_reads_as_a_sentence(project, tmp_path):
    doc = {
        "contracts": {
            name: {
                "abi": [
                    a.model_dump(mode="json", by_alias=True) for a in getattr(project, name).contract_type.abi
                ]
            }
            for name in CONTRACTS
        }
    }
    abis = tmp_path / "abis.json"
    abis.write_text(json.dumps(doc))
    out = subprocess.run(
        ["node", str(ROOT / "tests/support/error_sentences.mjs"), str(abis)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) >= 100 and {"ComputeStakingStillUnbonding", "ModelNFTAlreadyMinted"} <= {
        r["name"] for r in rows
    }
    wrong = []
    for r in rows:
        text = r["text"]
        if not re.fullmatch(r"[A-Z].* refused: ([a-z0-9]|[A-Z][A-Z0-9]+ ).*\. \[" + r["name"] + r"\]", text):
            wrong.append(f"not a sentence: {text}")
        if (
            re.search(r"0x[0-9a-fA-F]{40}", text)
            or re.search(r"\d{10,}", text)
            or re.search(r"0\.0{5,}", text)
        ):
            wrong.append(f"raw value: {text}")
        for arg, shown in zip(r["args"], _values(text, [a["name"] for a in r["args"]]), strict=True):
            if arg["kind"] not in (None, "enum") and not SHOWN[arg["kind"]].fullmatch(shown or ""):
                wrong.append(f"{r['name']}.{arg['name']} ({arg['kind']}) reads {shown!r}: {text}")
    assert not wrong, "\n".join(wrong)
    assert any(re.search(r"\b(NFT|ERC20|ERC721|UUID|EIP)\b", r["text"]) for r in rows)  # acronyms kept
