"""`smartcharge keys create/list/revoke`: a key printed once, stored hashed, revocable."""

from __future__ import annotations

import sqlite3

from smartcharge.api.cli import main
from smartcharge.api.store.database import open_database
from smartcharge.api.store.keys import caller_for_key


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_create_list_revoke(tmp_path, capsys):
    db = f"sqlite:///{tmp_path}/keys.db"
    code, out, _ = run(capsys, "keys", "create", "--tenant", "acme", "--label", "csms", "--db", db)
    key = out.strip()
    assert code == 0 and key.startswith("sck_") and len(key) > 40
    assert caller_for_key(open_database(db), key).tenant == "acme"

    stored = sqlite3.connect(f"{tmp_path}/keys.db").execute("select key_hash from api_keys")
    (key_hash,) = stored.fetchone()
    assert key not in key_hash and len(key_hash) == 64  # only the SHA-256 is kept

    code, out, _ = run(capsys, "keys", "list", "--db", db)
    assert code == 0 and "acme" in out and "csms" in out and "live" in out and key not in out

    code, out, _ = run(capsys, "keys", "revoke", key[:12], "--db", db)
    assert code == 0 and "revoked 1" in out
    assert caller_for_key(open_database(db), key) is None
    assert "revoked" in run(capsys, "keys", "list", "--db", db)[1]


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    db = f"sqlite:///{tmp_path}/keys.db"
    code, _, err = run(capsys, "keys", "revoke", "sck_", "--db", db)
    assert code == 2 and err.count("\n") == 1 and "at least 8" in err
    code, _, err = run(capsys, "keys", "revoke", "sck_nothing-like-it", "--db", db)
    assert code == 2 and "no live key" in err
    code, _, err = run(capsys, "keys", "create", "--tenant", " ", "--db", db)
    assert code == 2 and "--tenant" in err
    code, _, err = run(capsys, "keys", "list", "--db", "nonsense://x")
    assert code == 2 and "--db" in err
