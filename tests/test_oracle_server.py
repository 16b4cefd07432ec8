"""Real provider servers on 127.0.0.1 ephemeral ports, real challenges, one test per behaviour."""

import json
import urllib.request

import numpy as np
import pytest

from oracle import challenge as ch
from oracle import challenge_check as cc
from oracle import commitment as cm
from oracle.errors import ProviderError, ProviderUnreachable
from oracle.provider.server import ProviderServer
from oracle.validator.challenging import run_challenge
from oracle.validator.client import ProviderClient

N = 64


def _challenge(n=N, deadline_s=5.0):
    return ch.new_challenge(n, "fp32", 1e9, rows=n, allowance_s=deadline_s, tolerance=1.0)


@pytest.fixture
def serve():
    servers = []

    def start(behaviour="honest", **kwargs):
        server = ProviderServer("127.0.0.1", 0, behaviour=behaviour, silent_s=10.0, **kwargs).start()
        servers.append(server)
        return server, ProviderClient(server.url, timeout=10.0)

    yield start
    for server in servers:
        server.stop()


def test_health_and_inventory(serve):
    _, client = serve(inventory_fn=lambda: {"gpus": [], "nvml_status": "no GPU: test"})
    assert client.health()["status"] == "ok"
    assert client.inventory()["nvml_status"] == "no GPU: test"


def test_honest_provider_passes_sampled_rows_and_freivalds(serve):
    _, client = serve("honest")
    challenge = _challenge()
    verdict = run_challenge(client, challenge, samples=8, freivalds_rounds=2, rng=np.random.default_rng(1))
    assert verdict.ok, verdict.reason
    assert verdict.samples == 8 and verdict.freivalds_rounds == 2
    rows_bound = cc.escape_bound(0.5, 8, N, 2)
    assert verdict.escape_probability == pytest.approx(rows_bound * (1 / cc.PRIME) ** 2)
    assert verdict.root == "0x" + cm.commitment_root(challenge, ch.compute_product(challenge.seed, N)).hex()
    assert 0 < verdict.elapsed_s <= challenge.deadline_s


def test_honest_provider_commits_to_the_exact_product_and_opens_rows(serve):
    _, client = serve("honest")
    challenge = _challenge(n=9)
    commitment = client.challenge(challenge)
    c = ch.compute_product(challenge.seed, 9)
    assert commitment.root == cm.commitment_root(challenge, c)
    opened = client.open(challenge.seed, [0, 8])
    assert np.array_equal(opened[8][0], c[8])
    values, group, proof = opened[8]
    keys = cm.column_keys(challenge)
    assert cm.verify_opening(challenge, commitment.root, 8, values, group, proof, keys) is None
    assert np.array_equal(client.product(challenge.seed), c)


def test_wrong_product_is_caught_by_sampled_rows(serve):
    _, client = serve("wrong")
    verdict = run_challenge(client, _challenge(), samples=1)
    assert not verdict.ok and "wrong product" in verdict.reason
    assert verdict.escape_probability == 0.0


def test_wrong_product_is_caught_by_freivalds_alone(serve):
    _, client = serve("wrong")
    verdict = run_challenge(client, _challenge(), samples=0, freivalds_rounds=1)
    assert not verdict.ok and "Freivalds" in verdict.reason


def test_lazy_provider_is_caught_when_a_skipped_row_is_sampled(serve):
    _, client = serve("lazy")
    # 16 distinct samples of 64 rows, half skipped: escape probability C(32,16)/C(64,16) < 1e-5.
    verdict = run_challenge(client, _challenge(), samples=16, rng=np.random.default_rng(3))
    assert not verdict.ok and "wrong product" in verdict.reason
    assert all(i >= N // 2 for i in verdict.failed_rows)


def test_slow_provider_is_late(serve):
    _, client = serve("slow")
    challenge = _challenge(deadline_s=0.3)
    verdict = run_challenge(client, challenge, samples=4)
    assert not verdict.ok and verdict.reason.startswith("late")
    assert verdict.elapsed_s > challenge.deadline_s


def test_garbage_answer_fails(serve):
    _, client = serve("garbage")
    verdict = run_challenge(client, _challenge(), samples=4)
    assert not verdict.ok and verdict.reason.startswith("bad answer") and "not JSON" in verdict.reason


def test_silent_provider_gives_no_answer(serve):
    _, client = serve("silent")
    verdict = run_challenge(client, _challenge(deadline_s=0.3), samples=4)
    assert not verdict.ok and verdict.reason.startswith("no answer")


def test_unreachable_provider_is_marked_unreachable_not_faulted():
    server = ProviderServer("127.0.0.1", 0)
    url = server.url
    server.stop()  # closed: nothing listens on that port any more
    client = ProviderClient(url, timeout=2.0)
    with pytest.raises(ProviderUnreachable, match="oracle serve"):
        client.health()
    verdict = run_challenge(client, _challenge(), samples=1)
    assert not verdict.ok and verdict.unreachable and verdict.reason.startswith("unreachable")


def test_opening_an_unknown_seed_is_a_404(serve):
    _, client = serve("honest")
    with pytest.raises(ProviderError, match="HTTP 404"):
        client.open(bytes(32), [0])


def test_bad_requests_get_json_errors(serve):
    server, client = serve("honest", max_n=32, max_product_n=8)
    with pytest.raises(ProviderError, match="HTTP 400.*precision"):
        client._request(
            "POST", "/challenge", {"seed": "0x" + "11" * 32, "n": 4, "precision": "fp4", "deadline_s": 1}
        )
    with pytest.raises(ProviderError, match="HTTP 413.*max_n"):
        client.challenge(_challenge(n=33))
    seed = client.challenge(_challenge(n=16)) and None
    request = urllib.request.Request(server.url + "/challenge", data=b"{nope", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert json.loads(info.value.read())["error"] == "request body is not JSON"
    assert seed is None


def test_product_endpoint_refuses_large_n(serve):
    _, client = serve("honest", max_product_n=8)
    challenge = _challenge(n=16)
    client.challenge(challenge)
    with pytest.raises(ProviderError, match="max_product_n"):
        client.product(challenge.seed)
    verdict = run_challenge(client, challenge, samples=2, freivalds_rounds=1)
    assert not verdict.ok and verdict.reason.startswith("full product failed")
