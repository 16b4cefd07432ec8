"""Pay per request from the page (issue 15) in Chromium: the drawing pad's 16 x 16 ink levels (the
demo digits model's input, oracle/work/digits.py), the section's guard when the deployment has no
PaymentChannels, and, when it has one, a channel opened with a session key as its signer whose
vouchers (signed in the browser, no wallet prompt) the provider redeems on chain.

The channel test runs against the devnet's real paid endpoint (`oracle paid serve`, started by
scripts/devnet/paid_node.py and published in the deployment file): real vouchers, the real model's
answer, the provider's own redemption on chain."""

import base64
import json
import time

import numpy as np

from tests.support.frontend import connect_dev, outcome, screenshot

TOKEN = 10**18
USER, PROVIDER = 5, 1


def _draw_vertical_stroke(page):
    """A pen stroke down the pad's middle: pointer events at positions read from the pad itself in
    the same task, so a section above that re-renders mid-stroke (a new block, the anomaly check
    arriving) cannot move the pad out from under the pen, as it could under page.mouse."""
    page.locator("#digit-pad").scroll_into_view_if_needed()
    page.eval_on_selector(
        "#digit-pad",
        """pad => {
            const fire = (type, k) => {
                const r = pad.getBoundingClientRect();
                const at = { clientX: r.left + r.width / 2, clientY: r.top + r.height * (0.2 + 0.06 * k) };
                pad.dispatchEvent(new PointerEvent(type, { bubbles: true, pointerId: 1, buttons: 1, ...at }));
            };
            fire('pointerdown', 0);
            for (let k = 1; k <= 10; k++) fire('pointermove', k);
            fire('pointerup', 10);
        }""",
    )


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
    """Against the devnet's real paid endpoint (`oracle paid serve`, the demo digits model minted
    as a ModelNFT): the page opens a channel whose signer is its session key, pays two requests
    with vouchers it signs itself (no wallet prompt), shows the model's real answer, the price,
    each request's cost and what is left; asked to close, the provider redeems by itself and the
    redemption pays fee + royalty + provider, to the wei."""
    from oracle.work import demo_model
    from oracle.work.runtime import OnnxModel

    doc = devnet.deployment
    channels, token = devnet.contract("PaymentChannels"), devnet.contract("ComputeToken")
    provider = devnet.account(PROVIDER)
    endpoint = doc["paidEndpoints"][provider]
    model_id = demo_model.model_id("digits")
    model = OnnxModel.from_bytes(demo_model.model_bytes("digits"), device="cpu", threads=1)
    price = TOKEN // 10  # the devnet's price (scripts/devnet/paid_node.py)
    sent: list[dict] = []

    def watch(page):
        def on_request(request):
            header = request.headers.get("payment-signature")
            if request.url == f"{endpoint}/infer" and header:
                sent.append(json.loads(base64.b64decode(header))["payload"])

        page.on("request", on_request)

    page, wallet = open_page(before_load=watch)
    assert page.input_value("#pay-endpoint") == endpoint  # the deployment file's paidEndpoint
    connect_dev(page, USER)
    page.wait_for_selector("#session-key[data-address^='0x']")
    session = page.get_attribute("#session-key", "data-address")
    page.click("#pay-terms")  # the price before anything is paid, from the provider's GET /terms
    assert "One request costs 0.1 GPU" in outcome(page, "#pay-msg")
    assert page.inner_text("#pay-price") == "0.1 GPU"
    assert int(page.input_value("#open-channel-form input[name=model]"), 16) == model_id
    page.fill("#open-channel-form input[name=deposit]", "1")
    page.click("#open-channel-form button")
    assert "Channel opened" in outcome(page, "#pay-msg")
    channel_id = channels.functions.channelCount().call()
    opened = channels.functions.getChannel(channel_id).call()
    assert (opened[4], opened[6], opened[9]) == (provider, session, model_id)  # provider, signer, model
    page.wait_for_selector(
        f"#channels-table tr[data-channel='{channel_id}'][data-status='Open']", timeout=20_000
    )
    for _ in range(2):
        _draw_vertical_stroke(page)
        ink = [int(v) / 16 for v in page.get_attribute("#digit-preview", "data-ink").split(",")]
        [labels] = model.run(np.asarray([ink], np.float32), names=["label"])
        page.click("#digit-send")
        assert f"The model says {int(labels[0])}" in outcome(page, "#pay-msg")  # the model's own answer
        assert page.inner_text("#digit-answer") == str(int(labels[0]))
        assert page.inner_text("#pay-energy").endswith(" mJ (CPU estimate)")  # the provider's metered energy
    assert page.inner_text("#pay-cost") == "0.1 GPU" and page.inner_text("#pay-left") == "0.8 GPU"
    assert [int(v["cumulativeAmount"]) for v in sent] == [price, 2 * price]  # cumulative, no wallet prompt
    assert "eth_signTypedData_v4" not in wallet.seen
    screenshot(page, "18-pay-per-request")

    # the user asks to close: the provider's agent redeems the closing channel at once, by itself
    fee_bps, royalty_bps, receiver = opened[2], opened[3], opened[8]
    treasury = channels.functions.treasury().call()
    before = {a: token.functions.balanceOf(a).call() for a in (provider, treasury, receiver)}
    page.click(f"#channels-table tr[data-channel='{channel_id}'] button[data-action='close']")
    assert "closing" in outcome(page, "#pay-msg")
    deadline = time.monotonic() + 20
    while channels.functions.getChannel(channel_id).call()[7] != 2 * price:  # Channel.redeemed
        assert time.monotonic() < deadline, "the provider did not redeem the closing channel"
        time.sleep(0.2)
    [redeemed] = channels.events.Redeemed.get_logs(
        from_block=doc["deployBlock"], argument_filters={"channelId": channel_id}
    )
    increment = 2 * price
    fee, royalty = increment * fee_bps // 10_000, increment * royalty_bps // 10_000
    assert royalty_bps == 500 and fee > 0  # the demo model's 5% royalty, the protocol's fee
    assert (redeemed.args.fee, redeemed.args.royalty, redeemed.args.providerAmount) == (
        fee,
        royalty,
        increment - fee - royalty,
    )
    after = {a: token.functions.balanceOf(a).call() for a in (provider, treasury, receiver)}
    assert after[treasury] - before[treasury] == fee and after[receiver] - before[receiver] == royalty
    assert after[provider] - before[provider] == increment - fee - royalty

    page.reload()  # the session key (and the chosen account) stay in this browser
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#dev-label")
    page.wait_for_selector(f"#session-key[data-address='{session}']")
    assert page.errors == []
