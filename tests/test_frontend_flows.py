"""Each section of the page clicked through in Chromium against the session's devnet, and checked
both on the page and on chain (web3 reads of the same contracts)."""

import hashlib
import json
import time
import urllib.request

from eth_utils import keccak, to_checksum_address

from oracle.attest import (
    Attestation,
    Domain,
    aggregate,
    attestation_digest,
    gpu_model_bytes32,
    sign_attestation,
)
from oracle.inventory import synthetic_uuid
from tests.support.frontend import PHONE, SCREENSHOTS, connect_dev, onnx_file, outcome, screenshot

TOKEN = 10**18
REQUESTER, PROVIDER, CREATOR, DEPLOYER = 5, 1, 6, 0


def fund(devnet, index, amount):
    devnet.transact("ComputeToken", "transfer", devnet.account(index), amount * TOKEN, sender=DEPLOYER)


def wait_row(page, selector, timeout=20_000):
    return page.wait_for_selector(selector, timeout=timeout)


def provider_node_id(devnet):
    staking = devnet.contract("ComputeStaking")
    logs = staking.events.NodeRegistered.get_logs(from_block=devnet.deployment["deployBlock"])
    return logs[0].args.nodeId


H100 = "NVIDIA H100 80GB HBM3"


def attested_h100(devnet, score):
    """A second node beside the devnet's CPU: an H100 registered by a fresh (impersonated) account
    and attested by two of the devnet's validator keys with fp32 51 TFLOPS at 510 W (100 GFLOPS/W)
    and `score`, at the current epoch (so no validator has assessed it yet). Returns its node id."""
    owner = to_checksum_address(keccak(text="perf/W test provider")[:20])
    devnet.rpc("anvil_impersonateAccount", [owner])
    devnet.rpc("anvil_setBalance", [owner, hex(10**20)])
    staking = devnet.contract("ComputeStaking")
    amount = staking.functions.minStakePerGpu().call()
    devnet.transact("ComputeToken", "transfer", owner, amount, sender=DEPLOYER)

    def send(name, fn, *args):
        tx = getattr(devnet.contract(name).functions, fn)(*args).transact({"from": owner})
        assert devnet.w3.eth.wait_for_transaction_receipt(tx).status == 1, f"{name}.{fn} reverted"

    uuid = synthetic_uuid(f"perf/W test H100 {time.time_ns()}")
    node = keccak(text=uuid)
    send("ComputeToken", "approve", staking.address, amount)
    send("ComputeStaking", "stake", amount)
    send("ComputeStaking", "registerNode", uuid, H100, 81_559, "http://127.0.0.1:9/not-served")
    epochs = devnet.deployment["epochs"]
    now = devnet.w3.eth.get_block("latest").timestamp
    att = Attestation(
        provider=owner,
        nodeId=node,
        gpuModel=gpu_model_bytes32(H100),
        vramMiB=81_559,
        fp32=5_100,
        tf32=40_000,
        fp16=80_000,
        bf16=80_000,
        memBandwidth=2_600,
        powerW=510,
        score=score,
        epoch=(now - epochs["genesis"]) // epochs["epochSeconds"] + 1,
        reportHash=b"\x00" * 32,
        expiry=now + 3600,
    )
    registry = devnet.contract("AttestationRegistry")
    domain = Domain(chain_id=devnet.deployment["chainId"], verifying_contract=registry.address)
    keys = [devnet.deployment["devAccounts"][i]["privateKey"] for i in (2, 3)]  # validators 1 and 2
    sigs = aggregate(
        [sign_attestation(k, domain, att) for k in keys], threshold=2, digest=attestation_digest(domain, att)
    )
    send("AttestationRegistry", "submit", att.as_tuple(), sigs)
    return owner, "0x" + node.hex()


def served_anomaly(url, epoch):
    """A validator's GET /anomaly/<epoch>, as the page reads it (cross-origin: CORS must allow it)."""
    with urllib.request.urlopen(f"{url}/anomaly/{epoch}", timeout=10) as r:
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        return json.loads(r.read())


def row_order(page):
    return page.eval_on_selector_all(
        "#providers-table tr[data-node]", "rows => rows.map(r => r.dataset.node)"
    )


def test_providers_show_perf_per_watt_sort_filter_and_the_validators_anomaly_check(open_page, devnet):
    cpu = "0x" + provider_node_id(devnet).hex()
    record = devnet.contract("AttestationRegistry").functions.recordOf(cpu).call()
    cpu_score = record[3]  # NodeRecord: provider, epoch, expiry, score
    owner, h100 = attested_h100(devnet, score=max(1, cpu_score // 2))  # less score, more perf/W
    try:
        page, _ = open_page()
        row = wait_row(page, f"#providers-table tr[data-node='{cpu}']")
        epoch = page.wait_for_selector(f"#providers-table tr[data-node='{cpu}'] [data-epoch]").get_attribute(
            "data-epoch"
        )
        assert int(epoch) == record[1] >= 1  # NodeRecord.epoch
        assert "TFLOPS" in row.inner_text() and "score" in row.inner_text()
        assert page.locator("#throughput-chart rect.bar").count() >= 3
        h100_row = wait_row(page, f"#providers-table tr[data-node='{h100}']")

        # perf/W: attested fp32 x 10 / powerW; the CPU's attestation carries no power reading
        perf = h100_row.query_selector("td[data-perf-w]")
        assert float(perf.get_attribute("data-perf-w")) == 5_100 * 10 / 510
        assert (
            perf.inner_text().startswith("100 GFLOPS/W")
            and "at 510 W (reported, bounded)" in perf.inner_text()
        )
        assert page.inner_text(f"tr[data-node='{cpu}'] td[data-perf-w]") == "no power reading"

        # the anomaly cell shows what the real validators served (every one of them, the same)
        cell = page.wait_for_selector(f"tr[data-node='{cpu}'] [data-anomaly='assessed']", timeout=20_000)
        shown_epoch = int(cell.get_attribute("data-anomaly-epoch"))
        served = [served_anomaly(u, shown_epoch) for u in devnet.deployment["validatorEndpoints"]]
        assert len(served) == 3 and len({d["evidence_digest"] for d in served}) == 1
        entry = next(n for n in served[0]["nodes"] if n["nodeId"] == cpu)
        assert int(cell.get_attribute("data-multiplier-ppm")) == entry["multiplier_ppm"]
        if cell.query_selector("details"):  # what could not be checked sits folded under a summary
            assert "not checked" in cell.inner_text()
            cell.query_selector("details summary").click()
        items = cell.query_selector_all("li[data-kind]")
        reasons = sorted(entry["reasons"], key=lambda r: r["severity_ppm"] == 0)  # signals, then notes
        assert [li.get_attribute("data-kind") for li in items] == [r["kind"] for r in reasons]
        for li, reason in zip(items, reasons, strict=True):
            text = li.inner_text()
            assert reason["kind"] not in text and text.endswith(".") and reason["detail"].rstrip(".") in text
        assert "of 3 validators" in cell.inner_text()
        # the H100 was attested this epoch, after the validators learned it: they have not assessed it
        assert "not assessed by the validators" in page.inner_text(f"tr[data-node='{h100}'] [data-anomaly]")

        # sort: by score the CPU comes first, by perf/W the H100 (the CPU has no reading: last)
        order = row_order(page)
        assert order.index(cpu) < order.index(h100)
        page.select_option("#providers-sort", "perfW")
        page.wait_for_function(
            f"(() => {{ const r = [...document.querySelectorAll('#providers-table tr[data-node]')].map(x => x.dataset.node); return r.indexOf('{h100}') < r.indexOf('{cpu}'); }})()"
        )
        page.select_option("#providers-sort", "stake")
        stakes = page.eval_on_selector_all(
            "#providers-table tr[data-node] td[data-label=stake]", "cells => cells.map(c => c.textContent)"
        )
        numbers = [float(s.split()[0].replace(",", "")) for s in stakes]
        assert numbers == sorted(numbers, reverse=True)

        # filter: a minimum perf/W leaves out nodes below it and nodes without a power reading
        page.fill("#providers-min-perf-w", "50")
        page.wait_for_function(f"!document.querySelector(\"#providers-table tr[data-node='{cpu}']\")")
        assert h100 in row_order(page)
        assert "at or above 50 GFLOPS/W" in page.inner_text("#providers-shown")
        page.fill("#providers-min-perf-w", "150")
        page.wait_for_function(f"!document.querySelector(\"#providers-table tr[data-node='{h100}']\")")
        page.fill("#providers-min-perf-w", "-5")
        page.wait_for_selector("#providers-shown.error")
        assert "is not a perf/W" in page.inner_text("#providers-shown")
        page.fill("#providers-min-perf-w", "")
        page.wait_for_selector(f"#providers-table tr[data-node='{cpu}']")
        screenshot(page, "10-providers")
    finally:  # the validators would challenge the made-up node at the next epoch
        tx = devnet.contract("ComputeStaking").functions.deregisterNode(h100).transact({"from": owner})
        devnet.w3.eth.wait_for_transaction_receipt(tx)
        devnet.rpc("anvil_stopImpersonatingAccount", [owner])


def test_staking_stake_unbond_countdown_then_withdraw(open_page, devnet):
    fund(devnet, 7, 5_000)
    staking = devnet.contract("ComputeStaking")
    me = devnet.account(7)
    page, _ = open_page()
    connect_dev(page, 7)
    page.fill("#stake-form input[name=amount]", "1000")
    page.click("#stake-form button")
    page.wait_for_selector("#stake-msg.ok", timeout=20_000)
    assert staking.functions.providerInfo(me).call()[0] == 1000 * TOKEN
    page.wait_for_function("document.querySelector('#my-stake').textContent.startsWith('1,000')")

    page.fill("#unbond-form input[name=amount]", "400")
    page.click("#unbond-form button")
    page.wait_for_selector("#stake-msg.ok")
    info = staking.functions.providerInfo(me).call()
    assert info[0] == 600 * TOKEN and info[2] == 400 * TOKEN
    page.wait_for_selector("#unbond-countdown:has-text('withdrawable in')")
    screenshot(page, "11-staking-countdown")

    assert page.is_disabled("#withdraw")  # too early: nothing to withdraw yet, and the button says when
    assert "withdrawable from" in page.get_attribute("#withdraw", "title")

    devnet.time_travel(staking.functions.unbondingPeriod().call() + 1)
    page.wait_for_selector("#unbond-countdown:has-text('you can withdraw now')", timeout=20_000)
    before = devnet.contract("ComputeToken").functions.balanceOf(me).call()
    page.click("#withdraw")
    page.wait_for_selector("#stake-msg.ok:has-text('Withdrawn')")
    assert staking.functions.providerInfo(me).call()[2] == 0
    assert devnet.contract("ComputeToken").functions.balanceOf(me).call() == before + 400 * TOKEN


def test_gpu_registered_from_the_staking_section_then_deregistered(open_page, devnet):
    staking = devnet.contract("ComputeStaking")
    me = devnet.account(7)
    fund(devnet, 7, 1_000)
    devnet.transact("ComputeToken", "approve", staking.address, 1_000 * TOKEN, sender=7)
    devnet.transact("ComputeStaking", "stake", 1_000 * TOKEN, sender=7)  # covers minStakePerGpu
    page, _ = open_page()
    connect_dev(page, 7)
    page.click("#register-node-form button")  # no UUID yet: a sentence saying what to enter
    page.wait_for_selector("#stake-msg.error:has-text('GPU UUID')")

    uuid = synthetic_uuid(f"page-test-{time.time_ns()}")  # NVML's form: GPU-8-4-4-4-12, lower-case hex
    node_id = "0x" + keccak(text=uuid).hex()  # what the contract derives from the UUID
    page.fill("#register-node-form input[name=model]", "NVIDIA L4")
    page.fill("#register-node-form input[name=vram]", "23034")
    page.fill("#register-node-form input[name=endpoint]", "http://127.0.0.1:9")
    # the same GPU spelt in upper case: refused on the page, before any transaction
    page.fill("#register-node-form input[name=uuid]", uuid.upper())
    preview = page.text_content("#register-node-id.error")
    first = next(i for i, c in enumerate(uuid) if c != c.upper())  # its first letter, now upper case
    assert preview.startswith(
        f"Not a GPU UUID as NVML writes it: character {first + 1} is “{uuid[first].upper()}”"
    )
    sent = devnet.w3.eth.get_transaction_count(me)
    page.click("#register-node-form button")
    page.wait_for_selector("#stake-msg.error:has-text('Nothing was sent')")
    assert devnet.w3.eth.get_transaction_count(me) == sent
    page.fill("#register-node-form input[name=uuid]", uuid)
    assert page.text_content("#register-node-id") == (
        f"This GPU's node id will be {node_id} (keccak256 of its UUID)."
    )
    page.click("#register-node-form button")
    page.wait_for_selector("#stake-msg.ok:has-text('registered')", timeout=20_000)
    registered = staking.events.NodeRegistered.get_logs(from_block=devnet.w3.eth.block_number - 5)
    assert [(log.args.nodeId.hex(), log.args.gpuUuid) for log in registered][-1] == (node_id[2:], uuid)
    assert staking.functions.nodeOwner(node_id).call() == me
    owner, model, vram, uri, active = staking.functions.nodeInfo(node_id).call()
    assert (model, vram, uri, active) == ("NVIDIA L4", 23034, "http://127.0.0.1:9", True)

    row = f"#my-nodes-table tr[data-node='{node_id}']"
    page.wait_for_selector(row, timeout=20_000)
    screenshot(page, "11b-gpu-registered")
    page.click(f"{row} button[data-action=deregister]")
    page.wait_for_selector("#stake-msg.ok:has-text('deregistered')", timeout=20_000)
    assert staking.functions.nodeInfo(node_id).call()[4] is False
    page.wait_for_selector(row, state="detached", timeout=20_000)


def _post_job(page, mode, budget="40"):
    page.fill("#post-job-form input[name=budget]", budget)
    page.select_option("#post-job-form select[name=mode]", mode)
    page.click("#post-job-form button[type=submit]")
    assert "Job posted" in outcome(page, "#jobs-msg")


def test_job_posted_with_permit_is_followed_to_settlement_and_approved(open_page, devnet):
    escrow = devnet.contract("JobEscrow")
    page, _ = open_page()
    connect_dev(page, REQUESTER)
    page.wait_for_selector("#post-job-form select[name=model] option:nth-child(2)", state="attached")
    model_value = page.locator("#post-job-form select[name=model] option").nth(1).get_attribute("value")
    page.select_option("#post-job-form select[name=model]", model_value)
    nonce_before = devnet.contract("ComputeToken").functions.nonces(devnet.account(REQUESTER)).call()
    _post_job(page, "permit")
    job_id = escrow.functions.jobCount().call()
    job = escrow.functions.getJob(job_id).call()
    assert job[0] == devnet.account(REQUESTER) and job[6] == 40 * TOKEN  # Job.requester, Job.budget
    [posted] = escrow.events.JobPosted.get_logs(from_block=0, argument_filters={"jobId": job_id})
    assert posted.args.modelId == int(model_value)
    # the permit was used (one signature, one transaction)
    assert (
        devnet.contract("ComputeToken").functions.nonces(devnet.account(REQUESTER)).call() == nonce_before + 1
    )
    row = f"#jobs-table tr[data-job='{job_id}']"
    wait_row(page, f"{row}[data-status='Open']")

    node_id = provider_node_id(devnet)
    devnet.transact("JobEscrow", "acceptJob", job_id, node_id, b"", sender=PROVIDER)
    wait_row(page, f"{row}[data-status='Accepted']")
    devnet.transact("JobEscrow", "submitResult", job_id, b"\x11" * 32, sender=PROVIDER)
    wait_row(page, f"{row}[data-status='Submitted']")
    screenshot(page, "12-job-submitted")

    page.click(f"{row} button[data-action=approve]")
    wait_row(page, f"{row}[data-status='Settled']")
    assert escrow.functions.statusOf(job_id).call() == 5  # Closed
    settled = escrow.events.JobSettled.get_logs(from_block=0, argument_filters={"jobId": job_id})
    assert len(settled) == 1
    split = page.inner_text(f"{row} [data-split]")
    assert "royalty 2 GPU" in split and "fee 1 GPU" in split  # 5 % royalty, 2.5 % fee of 40


def test_job_posted_with_approve_can_be_disputed_by_the_requester(open_page, devnet):
    escrow = devnet.contract("JobEscrow")
    page, _ = open_page()
    connect_dev(page, REQUESTER)
    _post_job(page, "approve", budget="30")
    job_id = escrow.functions.jobCount().call()
    devnet.transact("JobEscrow", "acceptJob", job_id, provider_node_id(devnet), b"", sender=PROVIDER)
    devnet.transact("JobEscrow", "submitResult", job_id, b"\x22" * 32, sender=PROVIDER)
    row = f"#jobs-table tr[data-job='{job_id}']"
    wait_row(page, f"{row}[data-status='Submitted']")
    page.click(f"{row} button[data-action=dispute]")
    wait_row(page, f"{row}[data-status='Disputed']")
    assert escrow.functions.statusOf(job_id).call() == 4  # Disputed
    resolve_by = escrow.functions.getJob(job_id).call()[1]  # Job.deadline holds the arbiters' deadline
    assert page.get_attribute(f"{row} [data-resolve-by]", "data-resolve-by") == str(resolve_by)
    assert page.locator(f"{row} button[data-action=expire]").count() == 0  # arbiters still have time


def test_model_minted_listed_and_bought_with_royalty_shown_first(open_page, devnet):
    nft = devnet.contract("ModelNFT")
    fund(devnet, 8, 1_000)
    seller_page, _ = open_page()
    connect_dev(seller_page, CREATOR)
    model = onnx_file(f"test-model-{time.time_ns()}")
    seller_page.set_input_files("#mint-form input[name=file]", files=[model])
    model_id = int.from_bytes(hashlib.sha256(model["buffer"]).digest(), "big")  # the id is the file's SHA-256
    seller_page.wait_for_selector(f"#mint-model-id[data-model-id='0x{model_id:064x}']")
    seller_page.fill("#mint-form input[name=royalty]", "7.5")
    seller_page.click("#mint-form button")
    seller_page.wait_for_selector("#models-msg.ok:has-text('Minted')", timeout=20_000)
    assert nft.functions.ownerOf(model_id).call() == devnet.account(CREATOR)
    assert nft.functions.royaltyOf(model_id).call()[1] == 750
    row = f"#models-table tr[data-model='0x{model_id:064x}']"
    wait_row(seller_page, row)
    seller_page.fill(f"{row} input[name=price]", "200")
    seller_page.click(f"{row} button[data-action=list]")
    seller_page.wait_for_selector("#models-msg.ok:has-text('Listed')", timeout=20_000)

    buyer_page, _ = open_page()
    connect_dev(buyer_page, 8)
    sale = wait_row(buyer_page, f"{row} .sale")
    assert "royalty 15 GPU" in sale.inner_text() and "fee 5 GPU" in sale.inner_text()
    screenshot(buyer_page, "13-model-for-sale")
    creator_before = devnet.contract("ComputeToken").functions.balanceOf(devnet.account(CREATOR)).call()
    buyer_page.click(f"{row} button[data-action=buy]")
    buyer_page.wait_for_selector("#models-msg.ok:has-text('Bought')", timeout=20_000)
    assert nft.functions.ownerOf(model_id).call() == devnet.account(8)
    # the creator sold its own model: royalty + seller share arrive together, the fee goes to the treasury
    creator_after = devnet.contract("ComputeToken").functions.balanceOf(devnet.account(CREATOR)).call()
    assert creator_after - creator_before == 195 * TOKEN


def test_governance_proposal_created_voted_queued_and_executed_from_the_page(open_page, devnet):
    gov = devnet.contract("ComputeGovernor")
    page, _ = open_page()
    connect_dev(page, DEPLOYER)
    page.fill("#propose-form input[name=to]", devnet.account(9))
    page.fill("#propose-form input[name=amount]", "250")
    page.fill("#propose-form input[name=description]", f"Grant 250 GPU to account 9 ({time.time_ns()})")
    page.click("#propose-form button")
    page.wait_for_selector("#gov-msg.ok:has-text('Proposal created')", timeout=20_000)
    created = gov.events.ProposalCreated.get_logs(from_block=devnet.deployment["deployBlock"])
    pid = created[-1].args.proposalId
    devnet.time_travel(gov.functions.votingDelay().call() + 1)
    row = f"#proposals-table tr[data-proposal='{pid}']"
    wait_row(page, f"{row} [data-state='Active']")
    page.click(f"{row} button[data-vote=for]")
    page.wait_for_selector("#gov-msg.ok:has-text('Voted For')", timeout=20_000)
    assert gov.functions.hasVoted(pid, devnet.account(DEPLOYER)).call()
    assert gov.functions.proposalVotes(pid).call()[1] > 0  # forVotes
    wait_row(page, f"{row}:has-text('voted')")
    screenshot(page, "14-governance")

    token = devnet.contract("ComputeToken")
    before = token.functions.balanceOf(devnet.account(9)).call()
    devnet.time_travel(gov.functions.votingPeriod().call() + 1)
    wait_row(page, f"{row} [data-state='Succeeded']")
    page.click(f"{row} button[data-action=queue]")
    assert "Queued" in outcome(page, "#gov-msg")
    assert gov.functions.state(pid).call() == 5  # Queued
    treasury = devnet.w3.eth.contract(
        address=devnet.deployment["contracts"]["Treasury"]["address"],
        abi=devnet.deployment["contracts"]["Treasury"]["abi"],
    )
    devnet.time_travel(treasury.functions.getMinDelay().call() + 1)
    page.click(f"{row} button[data-action=execute]")
    assert "Executed" in outcome(page, "#gov-msg")
    assert gov.functions.state(pid).call() == 7  # Executed
    assert token.functions.balanceOf(devnet.account(9)).call() == before + 250 * TOKEN


def test_treasury_shows_fee_income_from_events(open_page, devnet):
    treasury = devnet.deployment["contracts"]["Treasury"]["address"]
    page, _ = open_page()
    page.wait_for_selector("#fee-chart path.line")
    page.wait_for_selector("#params-table")
    balance = devnet.contract("ComputeToken").functions.balanceOf(treasury).call()
    assert page.inner_text("#treasury-balance").replace(",", "").startswith(str(balance // TOKEN))
    assert page.inner_text("#fees-collected") != "0 GPU"
    assert page.locator("#params-table tr").count() > 5
    screenshot(page, "15-treasury")


def test_phone_screens(open_page, devnet):
    page, _ = open_page(viewport=PHONE)
    connect_dev(page, REQUESTER)
    page.wait_for_selector("#jobs-table tr[data-job]")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for section in ("providers", "jobs", "models", "treasury"):
        page.evaluate(f"document.getElementById('{section}').scrollIntoView()")
        page.screenshot(path=str(SCREENSHOTS / f"20-phone-{section}.png"))
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1


def test_provider_accepts_and_submits_a_job_from_the_page(open_page, devnet):
    escrow = devnet.contract("JobEscrow")
    token = devnet.contract("ComputeToken")
    deadline = devnet.w3.eth.get_block("latest").timestamp + 3600
    devnet.transact("ComputeToken", "approve", escrow.address, 20 * TOKEN, sender=REQUESTER)
    devnet.transact("JobEscrow", "postJob", 20 * TOKEN, deadline, 1, 0, b"\x33" * 32, sender=REQUESTER)
    job_id = escrow.functions.jobCount().call()
    assert token.functions.balanceOf(escrow.address).call() >= 20 * TOKEN
    page, _ = open_page()
    connect_dev(page, PROVIDER)
    row = f"#jobs-table tr[data-job='{job_id}']"
    page.click(f"{row} button[data-action=accept]")  # min score 1: the node's attestation is checked
    assert "accepted" in outcome(page, "#jobs-msg")
    assert escrow.functions.statusOf(job_id).call() == 2  # Accepted
    page.click(f"{row} button[data-action=submit]")
    assert "submitted" in outcome(page, "#jobs-msg")
    wait_row(page, f"{row}[data-status='Submitted']")
    assert escrow.functions.statusOf(job_id).call() == 3  # Submitted


def test_undecided_dispute_is_closed_half_and_half_from_the_page_after_the_timeout(open_page, devnet):
    """Last in this file: it moves the devnet 14 days on (attestations expire)."""
    escrow = devnet.contract("JobEscrow")
    deadline = devnet.w3.eth.get_block("latest").timestamp + 3600
    devnet.transact("ComputeToken", "approve", escrow.address, 30 * TOKEN, sender=REQUESTER)
    devnet.transact("JobEscrow", "postJob", 30 * TOKEN, deadline, 0, 0, b"\x44" * 32, sender=REQUESTER)
    job_id = escrow.functions.jobCount().call()
    devnet.transact("JobEscrow", "acceptJob", job_id, provider_node_id(devnet), b"", sender=PROVIDER)
    devnet.transact("JobEscrow", "submitResult", job_id, b"\x55" * 32, sender=PROVIDER)
    bond = escrow.functions.disputeBond().call()
    devnet.transact("ComputeToken", "approve", escrow.address, bond, sender=REQUESTER)
    devnet.transact("JobEscrow", "dispute", job_id, b"\x55" * 32, [0], sender=REQUESTER)
    page, _ = open_page()
    connect_dev(page, CREATOR)  # a bystander: closing an expired dispute is open to anyone
    row = f"#jobs-table tr[data-job='{job_id}']"
    wait_row(page, f"{row}[data-status='Disputed']")
    resolve_by = escrow.functions.getJob(job_id).call()[1]  # Job.deadline holds the arbiters' deadline
    assert page.get_attribute(f"{row} [data-resolve-by]", "data-resolve-by") == str(resolve_by)
    assert page.locator(f"{row} button[data-action=expire]").count() == 0  # arbiters still have time

    devnet.time_travel(escrow.functions.DISPUTE_TIMEOUT().call() + 1)
    page.click(f"{row} button[data-action=expire]", timeout=20_000)
    assert "half the budget" in outcome(page, "#jobs-msg")
    wait_row(page, f"{row}[data-status='Expired']")
    [expired] = escrow.events.DisputeExpired.get_logs(from_block=0, argument_filters={"jobId": job_id})
    assert expired.args.refund == 15 * TOKEN  # half of the 30 GPU budget back to the requester
    [settled] = escrow.events.JobSettled.get_logs(from_block=0, argument_filters={"jobId": job_id})
    assert settled.args.fee + settled.args.royalty + settled.args.providerAmount == 15 * TOKEN
