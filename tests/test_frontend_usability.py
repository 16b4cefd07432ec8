"""The page explains itself (issue 16, dApp users) in Chromium: voting power before a vote,
contract errors as sentences, loading and chain-down states, job and proposal times, phone cards
without sideways scrolling, every injected wallet (EIP-6963) and the chosen account kept across a
reload, the anomaly check's signals as sentences and validators that disagree or fail named."""

import hashlib
import json
import re
import time
import urllib.request

from tests.support.frontend import PHONE, connect_dev, onnx_file, screenshot

TOKEN = 10**18
REQUESTER, PROVIDER, CREATOR, DEPLOYER, HOLDER = 5, 1, 6, 0, 8


def _active_proposal(devnet):
    gov = devnet.contract("ComputeGovernor")
    token = devnet.contract("ComputeToken")
    data = token.encode_abi("transfer", args=[devnet.account(9), 1])
    description = f"usability test proposal {time.time_ns()}"
    devnet.transact("ComputeGovernor", "propose", [token.address], [0], [data], description, sender=DEPLOYER)
    pid = gov.events.ProposalCreated.get_logs(from_block=devnet.deployment["deployBlock"])[-1].args.proposalId
    devnet.time_travel(gov.functions.votingDelay().call() + 1)
    return pid


def test_voting_power_is_shown_and_an_account_without_votes_cannot_vote(open_page, devnet):
    devnet.transact("ComputeToken", "transfer", devnet.account(HOLDER), 500 * TOKEN, sender=DEPLOYER)
    pid = _active_proposal(devnet)
    row = f"#proposals-table tr[data-proposal='{pid}']"
    page, _ = open_page()
    connect_dev(page, HOLDER)  # holds tokens but never delegated: no votes at the snapshot
    note = page.wait_for_selector(f"{row} [data-no-power]", timeout=20_000)
    assert "no delegated votes" in note.inner_text() and "delegate" in note.inner_text()
    assert page.locator(f"{row} button[data-vote]").count() == 0  # nothing to click that would count 0
    assert page.get_attribute(f"{row} [data-power]", "data-power") == "0"

    voter, _ = open_page()
    connect_dev(voter, DEPLOYER)
    power = voter.wait_for_selector(f"{row} [data-power]", timeout=20_000)
    vote_start = devnet.contract("ComputeGovernor").functions.proposalSnapshot(pid).call()
    expected = (
        devnet.contract("ComputeGovernor").functions.getVotes(devnet.account(DEPLOYER), vote_start).call()
    )
    assert int(power.get_attribute("data-power")) == expected > 0
    assert voter.locator(f"{row} button[data-vote=for]").count() == 1
    cells = voter.inner_text(row)
    assert "quorum" in cells and "vote ends" in cells
    end = devnet.contract("ComputeGovernor").functions.proposalDeadline(pid).call()
    assert voter.get_attribute(f"{row} [data-vote-end]", "data-vote-end") == str(end)
    assert voter.locator(f"{row} .bars").count() == 1


def test_a_minted_model_is_refused_with_a_sentence_and_a_short_id(open_page, devnet):
    model = onnx_file(f"twice-{time.time_ns()}")
    page, _ = open_page()
    connect_dev(page, CREATOR)
    for attempt in range(2):
        page.set_input_files("#mint-form input[name=file]", files=[model])
        page.wait_for_selector("#mint-model-id[data-model-id]")
        page.click("#mint-form button")
        page.wait_for_selector("#models-msg.ok" if attempt == 0 else "#models-msg.error", timeout=20_000)
    text = page.inner_text("#models-msg")
    digest = hashlib.sha256(model["buffer"]).hexdigest()
    assert text.startswith("The model registry refused: already minted")
    assert f"model id 0x{digest[:4]}…{digest[-4:]}" in text  # the id shortened, not 77 decimal digits
    assert not re.search(r"\d{20,}", text)
    # the answer sits next to the form that caused it
    assert page.evaluate("document.getElementById('mint-form').nextElementSibling.id") == "models-msg"


def test_when_the_chain_is_down_sections_say_so_and_actions_are_off(open_page, devnet):
    page, _ = open_page()
    connect_dev(page, REQUESTER)
    # the chain goes down after the page has seen a block (on a slow machine the first snapshot
    # can still be loading here, and a page that never saw a block says how to start the devnet)
    page.wait_for_selector("body[data-block]", state="attached", timeout=20_000)
    page.route(f"{devnet.rpc_url.rstrip('/')}/**", lambda route: route.abort())
    page.route(devnet.rpc_url.rstrip("/"), lambda route: route.abort())
    page.wait_for_selector("#chain-badge.bad", timeout=20_000)
    assert "cannot reach the chain" in page.inner_text("#chain-badge")
    assert page.locator("main .card .offline-note").count() == page.locator("main .card").count()
    assert "actions are off" in page.inner_text("#jobs .offline-note")
    assert page.evaluate("document.querySelector('main').inert") is True
    screenshot(page, "06-chain-down")
    page.unroute(f"{devnet.rpc_url.rstrip('/')}/**")
    page.unroute(devnet.rpc_url.rstrip("/"))
    page.wait_for_selector("#chain-badge.ok", timeout=20_000)
    assert page.locator(".offline-note").count() == 0
    assert page.evaluate("document.querySelector('main').inert") is False


def test_a_page_opened_while_the_chain_is_down_says_how_to_start_it(open_page, devnet):
    def block_rpc(page):
        page.route(devnet.rpc_url.rstrip("/"), lambda route: route.abort())
        page.route(f"{devnet.rpc_url.rstrip('/')}/**", lambda route: route.abort())

    page, _ = open_page(before_load=block_rpc)
    page.wait_for_selector("#chain-badge.bad", timeout=20_000)
    assert "make demo" in page.inner_text("#providers .offline-note")
    assert page.locator(".loading").count() == 0  # the spinner gave way to the reason


def test_jobs_show_when_they_were_posted_and_their_deadline(open_page, devnet):
    escrow = devnet.contract("JobEscrow")
    deadline = devnet.w3.eth.get_block("latest").timestamp + 3600
    devnet.transact("ComputeToken", "approve", escrow.address, 3 * TOKEN, sender=REQUESTER)
    devnet.transact("JobEscrow", "postJob", 3 * TOKEN, deadline, 0, 0, b"\xbb" * 32, sender=REQUESTER)
    job_id = escrow.functions.jobCount().call()
    posted = devnet.w3.eth.get_block("latest").timestamp
    page, _ = open_page()
    times = page.wait_for_selector(f"#jobs-table tr[data-job='{job_id}'] [data-times]", timeout=20_000)
    assert times.get_attribute("data-times") == f"{posted}:{deadline}"
    text = times.inner_text()
    assert "posted" in text and "deadline" in text and re.search(r"\(in (60|59) min", text)


def test_phone_rows_are_cards_with_every_action_on_screen(open_page, devnet):
    escrow = devnet.contract("JobEscrow")
    deadline = devnet.w3.eth.get_block("latest").timestamp + 3600
    devnet.transact("ComputeToken", "approve", escrow.address, 2 * TOKEN, sender=REQUESTER)
    devnet.transact("JobEscrow", "postJob", 2 * TOKEN, deadline, 0, 0, b"\xcc" * 32, sender=REQUESTER)
    page, _ = open_page(viewport=PHONE)
    connect_dev(page, REQUESTER)
    page.wait_for_selector("#jobs-table button[data-action=cancel]", timeout=20_000)
    for table in ("providers-table", "jobs-table", "models-table"):
        wider = page.evaluate(
            f"(() => {{ const w = document.getElementById('{table}').closest('.tablewrap'); return w.scrollWidth - w.clientWidth; }})()"
        )
        assert wider <= 1, f"{table} scrolls sideways by {wider}px on a phone"
        assert page.evaluate(f"getComputedStyle(document.querySelector('#{table} thead')).display") == "none"
    off_screen = page.evaluate(
        "[...document.querySelectorAll('main button')].filter(b => b.offsetParent && b.getBoundingClientRect().right > innerWidth + 1).length"
    )
    assert off_screen == 0
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
    screenshot(page, "21-phone-cards")


def test_every_announced_wallet_is_offered_and_the_account_survives_a_reload(open_page, devnet):
    page, wallet = open_page(wallet_account=7, wallet_options={"only6963": True})  # no window.ethereum
    assert page.evaluate("window.ethereum === undefined")
    button = page.wait_for_selector("#connect-injected")
    assert button.inner_text() == "Connect Test Wallet"
    button.click()
    page.wait_for_selector("#account")
    assert page.get_attribute("#account", "title") == devnet.account(7)
    asked = wallet.seen.count("eth_requestAccounts")
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#account", timeout=20_000)
    assert page.get_attribute("#account", "title") == devnet.account(7)
    assert wallet.seen.count("eth_requestAccounts") == asked  # restored through eth_accounts, no prompt
    assert "eth_accounts" in wallet.seen

    dev, _ = open_page()
    connect_dev(dev, REQUESTER)
    dev.reload()
    dev.wait_for_selector("body[data-ready='1']")
    dev.wait_for_selector("#dev-label", timeout=20_000)
    assert dev.get_attribute("#account", "title") == devnet.account(REQUESTER)


def test_a_post_the_balance_cannot_cover_is_refused_before_any_approval(open_page, devnet):
    me = devnet.account(REQUESTER)
    nonce = devnet.w3.eth.get_transaction_count(me)
    page, _ = open_page()
    connect_dev(page, REQUESTER)
    page.fill("#post-job-form input[name=budget]", "1000000000")
    for mode in ("approve", "permit"):
        page.select_option("#post-job-form select[name=mode]", mode)
        page.click("#post-job-form button[type=submit]")
        page.wait_for_selector("#jobs-msg.error", timeout=20_000)
        assert "Your balance is" in page.inner_text("#jobs-msg") and "Nothing was sent" in page.inner_text(
            "#jobs-msg"
        )
    assert devnet.w3.eth.get_transaction_count(me) == nonce  # no approval, no post
    assert "chain time" in page.inner_text("#block")  # the chain's clock, not only the wall clock


def test_the_anomaly_check_tells_signals_as_sentences_and_names_validators_that_disagree_or_fail(
    open_page, devnet
):
    real, garbled = devnet.deployment["validatorEndpoints"][:2]
    flagging = "http://127.0.0.1:10"  # answered by the route below: the real report, one node flagged
    dead = "http://127.0.0.1:9"  # nothing listens there: connection refused
    node = (
        "0x"
        + devnet.contract("ComputeStaking")
        .events.NodeRegistered.get_logs(from_block=devnet.deployment["deployBlock"])[0]
        .args.nodeId.hex()
    )
    above_peak = {
        "kind": "above_peak",
        "severity_ppm": 900_000,
        "detail": "fp32 80.00 TFLOPS > peak 66.90 TFLOPS",
    }

    def flagged(route):  # read live, so its epoch is the real validators' latest
        with urllib.request.urlopen(f"{real}/anomaly", timeout=10) as r:
            doc = json.loads(r.read())
        for n in doc["nodes"]:
            if n["nodeId"] == node:
                n.update(multiplier_ppm=100_000, score_ppm=900_000, reasons=[above_peak, *n["reasons"]])
        route.fulfill(json=doc, headers={"Access-Control-Allow-Origin": "*"})

    def before_load(page):
        def deployment(route):  # the page learns four validators
            doc = json.loads(route.fetch().text())
            route.fulfill(json={**doc, "validatorEndpoints": [flagging, real, garbled, dead]})

        page.route("**/deployment.json", deployment)
        page.route(f"{flagging}/anomaly", flagged)
        page.route(
            f"{garbled}/anomaly",
            lambda route: route.fulfill(
                json={"epoch": 1, "nodes": [{"nodeId": "not a node id"}]},
                headers={"Access-Control-Allow-Origin": "*"},
            ),
        )

    page, _ = open_page(before_load=before_load)
    cell = page.wait_for_selector(f"tr[data-node='{node}'] [data-anomaly='assessed']", timeout=20_000)
    assert cell.get_attribute("data-multiplier-ppm") == "100000"
    assert cell.query_selector(".pill.bad").inner_text() == "score × 0.1 (score lowered by 90%)"
    assert cell.query_selector("li[data-kind=above_peak]").inner_text() == (
        "Claims more than the published peak of its GPU model: fp32 80.00 TFLOPS > peak 66.90 TFLOPS."
    )
    assert "2 of 4 validators" in cell.inner_text()  # the flagging one and the real one know the node
    assert f"Validators disagree on this node: {real} serves another multiplier." in cell.inner_text()
    note = page.inner_text("#anomaly-note")
    bad = "answered something that is not an anomaly report (a node without a 32-byte node id): ignored"
    assert f"{garbled} {bad}" in note
    assert f"{dead} cannot be reached" in note
    assert page.errors == []
