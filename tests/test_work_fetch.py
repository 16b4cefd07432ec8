"""Fetching a large file as a job's inputs are fetched: hashed and its item tree checked while it
arrives, kept in the store by a writer thread (answered from memory until written), a torn copy in
the store fetched again, the receive buffer taken again only once nothing reads it, and a blob server that checks a file once before sending it with
sendfile and never sends one that does not hash to its name."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from oracle.work import arrivals
from oracle.work.arrivals import Arrivals, SpareBuffer
from oracle.work.blob_server import BlobServer
from oracle.work.blobs import BACKGROUND_BYTES, BlobRef, BlobStore, Fetcher
from oracle.work.content import sha256
from oracle.work.errors import BlobError, InputError
from oracle.work.items import ItemTree, streamed_root

ITEM = 1024
DATA = np.random.default_rng(7).standard_normal(3 * (1 << 20) // 4).astype("<f4").tobytes()  # 3 MiB


@pytest.fixture
def served(tmp_path):
    store = BlobStore(tmp_path / "requester")
    digest = store.put(DATA)
    srv = BlobServer(store)
    srv.start()
    yield srv, BlobRef(digest, len(DATA), (srv.blob_url(digest),))
    srv.stop()


def test_a_large_file_is_hashed_and_its_tree_checked_while_it_arrives(tmp_path):
    """A source that sends the first MiB and then waits until the tree check has taken a piece:
    the check reads while the file arrives (else the source would time out its wait)."""
    digest, root = sha256(DATA), ItemTree.from_bytes(DATA, ITEM, 64).root
    first_piece, early = threading.Event(), []
    listener = socket.create_server(("127.0.0.1", 0))

    def source() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {len(DATA)}\r\n\r\n".encode())
            conn.sendall(DATA[: 1 << 20])
            early.append(first_piece.wait(10))
            conn.sendall(DATA[1 << 20 :])

    thread = threading.Thread(target=source, daemon=True)
    thread.start()
    seen: list[int] = []

    def tree(arrivals: Arrivals) -> None:
        class Counting:  # the arrivals, noting the pieces the tree is hashed in
            def pieces(self, unit):
                for piece in arrivals.pieces(unit):
                    seen.append(len(piece))
                    first_piece.set()
                    yield piece

        assert streamed_root(Counting(), ITEM, 64) == root  # type: ignore[arg-type]

    port = listener.getsockname()[1]
    ref = BlobRef(digest, len(DATA), (f"http://127.0.0.1:{port}/blobs/{digest.hex()}",))
    fetcher = Fetcher(BlobStore(tmp_path / "provider"))
    try:
        assert fetcher.fetch(ref, alongside=tree) == DATA
    finally:
        listener.close()
        thread.join(10)
    assert early == [True] and sum(seen) == len(DATA) and len(seen) > 1
    assert len(DATA) >= BACKGROUND_BYTES  # so the copy is written in the background
    fetcher.flush()
    assert fetcher.store.get(digest) == DATA and fetcher.fetched_bytes == len(DATA)


def test_a_file_being_written_is_answered_from_memory(served, tmp_path, monkeypatch):
    srv, ref = served
    fetcher = Fetcher(BlobStore(tmp_path / "provider"))
    release, put = threading.Event(), fetcher.store.put

    def slow_put(*args, **kwargs):
        assert release.wait(10)
        return put(*args, **kwargs)

    monkeypatch.setattr(fetcher.store, "put", slow_put)
    assert fetcher.fetch(ref) == DATA and not fetcher.store.has(ref.digest)
    srv.stop()  # the source is gone: the second fetch can only be answered from memory
    assert fetcher.fetch(ref) == DATA and fetcher.fetched_bytes == len(DATA)
    release.set()
    fetcher.flush()
    assert fetcher.store.has(ref.digest) and fetcher.fetch(ref) == DATA


def test_the_alongside_check_speaks_only_for_the_addressed_bytes(served, tmp_path):
    srv, ref = served
    forged = bytearray(DATA)
    forged[5] ^= 1
    forger = BlobServer(
        BlobStore(tmp_path / "forger"), routes={"/blobs/": lambda p, q: (200, "x", bytes(forged))}
    )
    forger.start()
    try:
        checked: list[bytes] = []

        def tree_check(arrivals: Arrivals) -> None:
            root = streamed_root(arrivals, ITEM, 64)
            checked.append(root)
            if root != ItemTree.from_bytes(DATA, ITEM, 64).root:
                raise InputError("the input items do not match the manifest's Merkle root")

        two = BlobRef(ref.digest, ref.size, (forger.blob_url(ref.digest), *ref.urls))
        assert Fetcher(BlobStore(tmp_path / "a")).fetch(two, alongside=tree_check) == DATA
        assert len(checked) == 2  # the forged body was checked too, and its failure was not the file's

        def wrong_root(arrivals: Arrivals) -> None:
            streamed_root(arrivals, ITEM, 64)
            raise InputError("the input items do not match the manifest's Merkle root")

        with pytest.raises(InputError, match="do not match the manifest's Merkle root"):
            Fetcher(BlobStore(tmp_path / "b")).fetch(ref, alongside=wrong_root)
    finally:
        forger.stop()


def test_a_torn_copy_in_the_store_is_fetched_again(served, tmp_path):
    _, ref = served
    store = BlobStore(tmp_path / "provider")
    store.path_of(ref.digest).write_bytes(DATA[: len(DATA) // 2])  # what a power loss can leave
    fetcher = Fetcher(store)
    assert fetcher.fetch(ref) == DATA and fetcher.fetched_bytes == len(DATA)
    fetcher.flush()
    assert store.get(ref.digest) == DATA


def test_the_server_checks_a_file_once_and_never_sends_a_corrupted_one(served):
    srv, ref = served
    path = srv.store.path_of(ref.digest)
    good = path.read_bytes()
    path.write_bytes(b"\x00" + good[1:])  # corrupted on disk before anyone asked for it
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(srv.blob_url(ref.digest))
    assert err.value.code == 404 and b"does not hash to its name" in err.value.read()
    path.write_bytes(good)  # repaired: a new modification time, checked again
    with urllib.request.urlopen(srv.blob_url(ref.digest)) as resp:
        assert resp.headers["Content-Length"] == str(len(DATA)) and resp.read() == DATA
    with urllib.request.urlopen(srv.blob_url(ref.digest)) as resp:  # sent again without a re-hash
        assert sha256(resp.read()) == ref.digest


def test_a_short_or_long_body_is_an_error_about_its_source(served, tmp_path):
    srv, ref = served
    with pytest.raises(BlobError, match=f"served {len(DATA)} bytes, expected {len(DATA) + 1}"):
        Fetcher(BlobStore(tmp_path / "a")).fetch(BlobRef(ref.digest, len(DATA) + 1, ref.urls))
    with pytest.raises(BlobError, match=f"served more than {len(DATA) - 1} bytes"):
        Fetcher(BlobStore(tmp_path / "b")).fetch(BlobRef(ref.digest, len(DATA) - 1, ref.urls))


def test_a_copy_kept_later_waits_in_memory_until_the_agent_hands_it_over(served, tmp_path):
    srv, ref = served
    fetcher = Fetcher(BlobStore(tmp_path / "provider"))
    assert fetcher.fetch(ref, keep_later=True, buffer=True) == DATA
    srv.stop()
    fetcher.flush()
    assert not fetcher.store.has(ref.digest) and fetcher.fetch(ref) == DATA  # from memory
    fetcher.keep_later()
    fetcher.flush()
    assert fetcher.store.get(ref.digest) == DATA and fetcher.fetched_bytes == len(DATA)


def test_a_receive_buffer_is_taken_again_only_once_nothing_refers_to_it():
    spare = SpareBuffer()
    first = spare.take(4096)
    first[:5] = b"hello"
    view = memoryview(first)
    assert spare.take(4096) is not first  # a view of it is alive: a new buffer, held from now on
    view.release()
    second = spare.take(4096)
    array = np.frombuffer(second, dtype=np.uint8)
    assert spare.take(4096) is not second  # NumPy's array over it holds it too
    held_id = id(spare._held)
    del array, first, second
    small = spare.take(1024)  # another size: a new buffer, and the larger one stays held
    assert len(small) == 1024 and id(spare._held) == held_id
    again = spare.take(4096)  # free now: the same buffer, nothing allocated or copied
    assert id(again) == held_id and len(again) == 4096
    del again
    assert len(spare.take(8192)) == 8192 and len(spare._held) == 8192  # a larger one takes its place


def test_a_fetch_reuses_the_last_inputs_buffer_once_its_copy_is_written(served, tmp_path, monkeypatch):
    """Two fetches of the same file into two stores: the second receives into the first's buffer
    once the first's bytes are dropped and its copy written, and is checked as any fetch is."""
    srv, ref = served
    monkeypatch.setattr(arrivals, "SPARE", SpareBuffer())  # not a larger one an earlier test left
    fa = Fetcher(BlobStore(tmp_path / "a"))
    first = fa.fetch(ref, alongside=lambda a: streamed_root(a, ITEM, 64), buffer=True)
    assert isinstance(first, bytearray) and bytes(first) == DATA
    first_id = id(first)
    fa.flush()
    for _ in range(100):  # the writer's done-callback drops its reference just after the write
        if not fa._pending:
            break
        time.sleep(0.01)
    del first
    second = Fetcher(BlobStore(tmp_path / "b")).fetch(
        ref, alongside=lambda a: streamed_root(a, ITEM, 64), buffer=True
    )
    assert id(second) == first_id
    assert bytes(second) == DATA and sha256(second) == ref.digest
