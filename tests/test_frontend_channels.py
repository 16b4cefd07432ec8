"""Pay per request from the page (issue 15) in Chromium: the drawing pad's 16 x 16 ink levels (the
demo digits model's input, oracle/work/digits.py), the section's guard when the deployment has no
PaymentChannels, and, when it has one, a channel opened with a session key as its signer whose
vouchers (signed in the browser, no wallet prompt) the provider redeems on chain.

The provider's paid endpoint is not on main yet: the channel test answers the page's POST /infer
itself in the wire format of oracle/client/pay_wire.py (402 with the channel offer, then 200 with a
label) and redeems on chain the voucher the page sent."""

import base64
import json

import pytest

from tests.support.frontend import connect_dev, outcome, screenshot

TOKEN = 10**18
USER, PROVIDER = 5, 1


def _draw_vertical_stroke(page):
    page.locator("#digit-pad").scroll_into_view_if_needed()
    box = page.locator("#digit-pad").bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(x, box["y"] + box["height"] * (0.2 + 0.06 * k))
    page.mouse.up()


def test_the_pad_turns_a_drawn_stroke_into_the_models_16x16_ink_levels(open_page, devnet):
    page, _ = open_page()
    page.wait_for_selector("#digit-pad")
    if "PaymentChannels" not in devnet.deployment["contracts"]:
        assert "No payment-channel contract" in page.inner_text("#pay-absent")
        assert page.is_disabled("#digit-send")
    _draw_vertical_stroke(page)
    ink = [int(v) for v in page.get_attribute("#digit-preview", "data-ink").split(",")]
    assert len(ink) == 256 and all(0 <= v <= 16 for v in ink)  # levels 0, 1/16, ..., 1
    grid = [ink[r * 16 : (r + 1) * 16] for r in range(16)]
    inked_cols = {c for r in range(16) for c in range(16) if grid[r][c]}
    assert inked_cols <= {6, 7, 8, 9} and {7, 8} & inked_cols  # a vertical stroke down the middle
    assert all(grid[r][7] + grid[r][8] > 0 for r in range(5, 12))
    assert sum(grid[0]) == sum(grid[15]) == 0  # it stops short of the edges
    page.click("#digit-clear")
    assert set(page.get_attribute("#digit-preview", "data-ink").split(",")) == {"0"}
    assert page.errors == []


def test_a_session_key_pays_each_request_with_a_voucher_the_provider_redeems(open_page, devnet):
    if "PaymentChannels" not in devnet.deployment["contracts"]:
        pytest.skip(
            "this deployment has no PaymentChannels (contracts/channels lands with the channels work)"
        )
    channels = devnet.contract("PaymentChannels")
    staking = devnet.contract("ComputeStaking")
    [reg] = staking.events.NodeRegistered.get_logs(from_block=devnet.deployment["deployBlock"])[:1]
    endpoint = staking.functions.nodeInfo(reg.args.nodeId).call()[3].rstrip("/")
    provider = reg.args.provider
    price = TOKEN // 10
    sent: list[dict] = []

    def infer(route):
        """The x402 v2 'channel' wire of oracle/client/pay_wire.py and oracle/provider/paid.py:
        GET /terms and an unpaid POST /infer answer the offer, a paid one the outputs."""
        header = route.request.headers.get("payment-signature")
        cors = {"Access-Control-Allow-Origin": "*", "content-type": "application/json"}
        if route.request.method == "OPTIONS":
            route.fulfill(
                status=204,
                headers={**cors, "Access-Control-Allow-Headers": "content-type, payment-signature"},
            )
        elif not header or route.request.method == "GET":
            offer = {
                "scheme": "channel",
                "network": f"eip155:{devnet.deployment['chainId']}",
                "amount": str(price),
                "payTo": provider,
                "extra": {
                    "channelContract": channels.address,
                    "chainId": devnet.deployment["chainId"],
                    "modelId": "0",
                },
            }
            body = {"x402Version": 2, "reason": "payment_required", "accepts": [offer]}
            route.fulfill(
                status=200 if route.request.method == "GET" else 402, headers=cors, body=json.dumps(body)
            )
        else:
            assert len(json.loads(route.request.post_data)["x"][0]) == 256  # one 16 x 16 row
            sent.append(json.loads(base64.b64decode(header))["payload"])
            route.fulfill(status=200, headers=cors, body=json.dumps({"outputs": {"label": [1]}}))

    page, _ = open_page()
    page.route(f"{endpoint}/infer", infer)
    page.route(f"{endpoint}/terms", infer)
    connect_dev(page, USER)
    page.wait_for_selector("#session-key[data-address^='0x']")
    session = page.get_attribute("#session-key", "data-address")
    page.click("#pay-terms")  # the price before anything is paid
    assert "One request costs 0.1 GPU" in outcome(page, "#pay-msg")
    assert page.inner_text("#pay-price") == "0.1 GPU"
    page.fill("#open-channel-form input[name=deposit]", "1")
    page.click("#open-channel-form button")
    assert "Channel opened" in outcome(page, "#pay-msg")
    channel_id = channels.functions.channelCount().call()
    assert channels.functions.getChannel(channel_id).call()[6] == session  # Channel.signer: the session key
    page.wait_for_selector(
        f"#channels-table tr[data-channel='{channel_id}'][data-status='Open']", timeout=20_000
    )
    for _ in range(2):
        _draw_vertical_stroke(page)
        page.click("#digit-send")
        assert "The model says 1" in outcome(page, "#pay-msg")
    assert page.inner_text("#pay-cost") == "0.1 GPU" and page.inner_text("#pay-left") == "0.8 GPU"
    assert [int(v["cumulativeAmount"]) for v in sent] == [price, 2 * price]  # cumulative, no wallet prompt
    screenshot(page, "18-pay-per-request")

    page.reload()  # the session key (and the chosen account) stay in this browser
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#dev-label")
    page.wait_for_selector(f"#session-key[data-address='{session}']")

    last = sent[-1]
    before = devnet.contract("ComputeToken").functions.balanceOf(provider).call()
    signature = bytes.fromhex(last["signature"][2:])
    devnet.transact(
        "PaymentChannels", "redeem", channel_id, int(last["cumulativeAmount"]), signature, sender=PROVIDER
    )
    assert channels.functions.getChannel(channel_id).call()[7] == 2 * price  # Channel.redeemed
    assert devnet.contract("ComputeToken").functions.balanceOf(provider).call() > before
