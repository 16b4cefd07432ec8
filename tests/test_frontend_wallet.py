"""The page's wallet handling in a real Chromium: dev accounts, an injected EIP-1193 wallet, the
wrong-network banner, a rejected signature (4001) and a reverted call decoded from the ABI."""

import re

from tests.support.frontend import PHONE, connect_dev, onnx_file, screenshot


def test_page_loads_the_deployment_and_names_the_chain(open_page, devnet):
    page, _ = open_page()
    assert "chain 31337" in page.inner_text("#chain-badge")
    assert page.errors == []
    screenshot(page, "01-desktop-overview")


def test_dev_account_connects_without_extension_and_is_labelled(open_page, devnet):
    page, _ = open_page()
    connect_dev(page, 5)
    assert page.inner_text("#dev-label") == "dev account, local chain only"
    assert page.get_attribute("#account", "title") == devnet.account(5)
    page.wait_for_function("document.querySelector('#wallet-balance').textContent.includes('GPU')")


def test_phone_width_has_no_horizontal_overflow(open_page, devnet):
    page, _ = open_page(viewport=PHONE)
    connect_dev(page, 5)
    page.wait_for_selector("#providers-table")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"page is {overflow}px wider than a phone screen"
    screenshot(page, "02-phone-overview")


def test_injected_wallet_connects_when_the_user_approves(open_page, devnet):
    page, wallet = open_page(wallet_account=7)
    page.click("#connect-injected")
    page.wait_for_selector("#account")
    assert page.get_attribute("#account", "title") == devnet.account(7)
    assert "eth_requestAccounts" in wallet.seen


def test_rejected_connection_shows_a_readable_message(open_page, devnet):
    page, wallet = open_page(wallet_account=7)
    wallet.reject.add("eth_requestAccounts")
    page.click("#connect-injected")
    page.wait_for_selector("#wallet-msg.error")
    assert "rejected the request" in page.inner_text("#wallet-msg")


def test_rejected_transaction_signature_shows_4001_message_and_sends_nothing(open_page, devnet):
    page, wallet = open_page(wallet_account=7)
    page.click("#connect-injected")
    page.wait_for_selector("#account")
    if devnet.contract("ComputeToken").functions.balanceOf(devnet.account(7)).call() < 10 * 10**18:
        # enough to stake, so the page asks the wallet at all (it refuses an unpayable stake first)
        devnet.transact("ComputeToken", "transfer", devnet.account(7), 10 * 10**18, sender=0)
    wallet.reject.add("eth_sendTransaction")
    nonce = devnet.w3.eth.get_transaction_count(devnet.account(7))
    page.fill("#stake-form input[name=amount]", "10")
    page.click("#stake-form button")
    page.wait_for_selector("#stake-msg.error")
    assert "You rejected the request in your wallet" in page.inner_text("#stake-msg")
    assert devnet.w3.eth.get_transaction_count(devnet.account(7)) == nonce
    screenshot(page, "03-rejected-signature")


def test_reverted_call_shows_the_custom_error_with_its_values(open_page, devnet):
    page, _ = open_page()
    connect_dev(page, 8)
    page.fill("#unbond-form input[name=amount]", "5")
    page.click("#unbond-form button")
    page.wait_for_selector("#stake-msg.error")
    text = page.inner_text("#stake-msg")
    assert text.startswith("Staking refused: insufficient free stake")  # a sentence, the name for developers
    assert "[ComputeStakingInsufficientFreeStake]" in text
    assert "required 5 GPU" in text and "available 0 GPU" in text  # tokens, not wei
    assert re.search(r"provider 0x[0-9a-fA-F]{4}…[0-9a-fA-F]{4}", text)  # shortened, not 40 hex digits
    assert not re.search(r"[0-9a-fA-F]{40}|\d{12,}", text)
    screenshot(page, "04-custom-error")


def test_wrong_network_banner_switches_and_adds_the_chain(open_page, devnet):
    page, wallet = open_page(wallet_account=7, wallet_chain_id=1)
    page.click("#connect-injected")
    page.wait_for_selector("#network-banner:not([hidden])")
    assert "Wrong network" in page.inner_text("#network-banner")
    screenshot(page, "05-wrong-network")
    page.click("#switch-network")
    page.wait_for_selector("#network-banner", state="hidden")
    assert wallet.seen.count("wallet_switchEthereumChain") == 2 and "wallet_addEthereumChain" in wallet.seen


def test_insufficient_funds_for_gas_is_reported_readably(open_page, devnet):
    broke = devnet.account(9)
    devnet.rpc("anvil_setBalance", [broke, "0x0"])
    try:
        page, _ = open_page()
        connect_dev(page, 9)
        page.set_input_files("#mint-form input[name=file]", files=[onnx_file("no-gas-model")])
        page.wait_for_selector("#mint-model-id[data-model-id]")
        page.click("#mint-form button")
        page.wait_for_selector("#models-msg.error")
        assert "Insufficient funds" in page.inner_text("#models-msg")
    finally:
        devnet.rpc("anvil_setBalance", [broke, hex(10_000 * 10**18)])


def test_out_of_gas_is_reported_readably_and_nothing_is_minted(open_page, devnet):
    """A block gas limit below what a mint needs: the estimate fails and the page says why."""
    nft = devnet.contract("ModelNFT")
    minted_before = len(nft.events.ModelMinted.get_logs(from_block=0))
    limit = devnet.w3.eth.get_block("latest").gasLimit
    devnet.rpc("evm_setBlockGasLimit", [hex(40_000)])  # a mint needs ~57k-74k
    try:
        page, _ = open_page()
        connect_dev(page, 8)
        page.set_input_files("#mint-form input[name=file]", files=[onnx_file("out-of-gas-model")])
        page.wait_for_selector("#mint-model-id[data-model-id]")
        page.click("#mint-form button")
        page.wait_for_selector("#models-msg.error", timeout=20_000)
        assert "Out of gas" in page.inner_text("#models-msg")
    finally:
        devnet.rpc("evm_setBlockGasLimit", [hex(limit)])
    assert len(nft.events.ModelMinted.get_logs(from_block=0)) == minted_before
