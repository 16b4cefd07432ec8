"""oracle.journal: forward-only states, signed payloads immutable, survives reopening."""

import sqlite3

import pytest

from oracle.journal import Journal, JournalError

NODE = "0x" + "ab" * 32


def test_states_move_forward_and_persist(tmp_path):
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    j.advance(1, NODE, "challenged")
    j.advance(1, NODE, "verdict", note="ok")
    j.advance(1, NODE, "signed", payload={"a": 1}, signature="0x01")
    j.advance(1, NODE, "submitted", tx_hash="0xaa")
    j.close()
    e = Journal(path).get(1, NODE)
    assert (e.state, e.payload, e.signature, e.tx_hash, e.note) == (
        "submitted",
        {"a": 1},
        "0x01",
        "0xaa",
        "ok",
    )


def test_going_back_is_refused(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    j.advance(1, NODE, "signed", payload={"a": 1}, signature="0x01")
    with pytest.raises(JournalError, match="cannot go back"):
        j.advance(1, NODE, "challenged")


def test_signing_twice_differently_is_refused(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    j.advance(1, NODE, "signed", payload={"a": 1}, signature="0x01")
    with pytest.raises(JournalError, match="another payload"):
        j.advance(1, NODE, "signed", payload={"a": 2}, signature="0x02")
    with pytest.raises(JournalError, match="already has a signature"):
        j.advance(1, NODE, "submitted", signature="0x02")


def test_wal_mode_and_full_sync(tmp_path):
    path = tmp_path / "j.sqlite"
    Journal(path).advance(2, NODE, "challenged")
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_entries_filter_by_kind_and_state(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    j.advance(3, NODE, "verdict")
    j.advance(3, NODE, "signed", kind="fault", payload={"f": 1}, signature="0x01")
    j.advance(3, "0x" + "cd" * 32, "confirmed", payload={"b": 1}, signature="0x02")
    assert [e.kind for e in j.entries(3, min_state="signed")] == ["fault", "attest"]
    assert len(j.entries(3, kind="attest")) == 2
    assert j.entries(4) == []
    with pytest.raises(JournalError, match="unknown state"):
        j.advance(3, NODE, "posted")
