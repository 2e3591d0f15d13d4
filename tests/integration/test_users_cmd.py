"""`deardiary user ...`: users and rights managed from the shell, on a real database file
or PostgreSQL database (checked with the sqlite3 CLI or psql), and every refusal leaving the database unchanged."""
import os
import subprocess

import pytest

from conftest import BIN, db_exec, default_db, sqlite_rows


def dd(db, *args, stdin=None):
    return subprocess.run([BIN, "user", "--db", db, *args], input=stdin,
                          capture_output=True, text=True)


def dump(db):
    return (sqlite_rows(db, "SELECT id, username, password, is_admin, first_name, last_name"
                            " FROM \"user\" ORDER BY id"),
            sqlite_rows(db, "SELECT * FROM user_permission ORDER BY id"))


@pytest.fixture
def db(tmp_path):
    path = default_db(str(tmp_path))
    subprocess.run([BIN, "init", path], check=True, capture_output=True)
    db_exec(path, "INSERT INTO project(name, created_date)"
                  " VALUES ('fraud', '2026-01-01T00:00:00.000Z')")
    return path


def test_add_list_show_grant_revoke_delete(db):
    r = dd(db, "add", "alice", "--first-name", "Alice", "--last-name", "Liddell",
           "--password-stdin", stdin="wonder land\n")
    assert r.returncode == 0, r.stderr
    assert "wonder" not in r.stdout + r.stderr
    row = sqlite_rows(db, "SELECT first_name, last_name, is_admin, password FROM \"user\""
                          " WHERE username = 'alice'")[0]
    assert row[:3] == ["Alice", "Liddell", "0"]
    assert row[3].startswith("$2") and "wonder" not in row[3]      # bcrypt, not the text
    r = dd(db, "list")
    assert r.returncode == 0
    assert r.stdout.splitlines() == ["default\tadmin\tDefault User", "alice\t-\tAlice Liddell"]

    assert dd(db, "grant", "alice", "fraud", "--read", "--create", "--update").returncode == 0
    assert sqlite_rows(db, "SELECT create_permission, read_permission, update_permission,"
                           " delete_permission FROM user_permission p JOIN \"user\" u"
                           " ON u.id = p.user_id WHERE username = 'alice'") == [["1", "1", "1", "0"]]
    show = dd(db, "show", "alice").stdout
    assert "admin: no" in show and "  fraud\tcru-" in show
    assert "$2" not in show                                           # never the hash
    assert dd(db, "revoke", "alice", "fraud", "--create").returncode == 0
    assert "  fraud\t-ru-" in dd(db, "show", "alice").stdout
    assert dd(db, "revoke", "alice", "fraud").returncode == 0
    assert "rights (create, read, update, delete): none" in dd(db, "show", "alice").stdout

    assert dd(db, "admin", "alice").returncode == 0
    assert sqlite_rows(db, "SELECT is_admin FROM \"user\" WHERE username='alice'") == [["1"]]
    assert dd(db, "admin", "alice", "--off").returncode == 0
    assert sqlite_rows(db, "SELECT is_admin FROM \"user\" WHERE username='alice'") == [["0"]]

    old = sqlite_rows(db, "SELECT password FROM \"user\" WHERE username='alice'")
    assert dd(db, "passwd", "alice", "--password-stdin", stdin="rabbit\n").returncode == 0
    assert sqlite_rows(db, "SELECT password FROM \"user\" WHERE username='alice'") != old

    dd(db, "grant", "alice", "fraud", "--delete")
    assert dd(db, "delete", "alice").returncode == 0
    assert sqlite_rows(db, "SELECT COUNT(*) FROM \"user\" WHERE username='alice'") == [["0"]]
    assert sqlite_rows(db, "SELECT COUNT(*) FROM user_permission WHERE user_id NOT IN"
                           " (SELECT id FROM \"user\")") == [["0"]]


@pytest.mark.parametrize("args,stdin,message", [
    (["add", "bob", "--password-stdin"], "\n", "the password is empty"),
    (["add", "bob", "--password-stdin"], "", "the password is empty"),
    (["add", "bob"], None, "no terminal"),
    (["passwd", "default", "--password-stdin"], "\n", "the password is empty"),
    (["delete", "default"], None, "the default user cannot be deleted"),
    (["admin", "default", "--off"], None, "the default user cannot be demoted"),
    (["delete", "nobody"], None, 'user "nobody" not found'),
    (["show", "nobody"], None, 'user "nobody" not found'),
    (["passwd", "nobody", "--password-stdin"], "x\n", 'user "nobody" not found'),
    (["grant", "nobody", "fraud", "--read"], None, 'user "nobody" not found'),
    (["grant", "default", "nope", "--read"], None, 'project "nope" not found'),
    (["revoke", "default", "nope"], None, 'project "nope" not found'),
    (["add", "default", "--password-stdin"], "pw\n", 'user "default" already exists'),
])
def test_refusals_change_nothing(db, args, stdin, message):
    before = dump(db)
    r = dd(db, *args, stdin=stdin if stdin is not None else "")
    if stdin is None:   # no stdin and no terminal at all
        r = subprocess.run([BIN, "user", "--db", db, *args], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, start_new_session=True)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert message in r.stderr
    assert dump(db) == before


def test_usage_errors(db):
    before = dump(db)
    for args in (["frobnicate"], ["add"], ["list", "x"], ["grant", "default"]):
        r = dd(db, *args)
        assert r.returncode == 2, args
        assert "usage: deardiary user" in r.stderr
    r = dd(db, "grant", "default", "fraud")
    assert r.returncode == 2 and "name at least one of --create" in r.stderr
    assert dump(db) == before


def test_password_prompt_without_echo(db, tmp_path):
    """The password is asked on the terminal, twice, without echo (a real pty)."""
    from helpers_tty import run_on_tty
    rc, out, answered = run_on_tty([BIN, "user", "--db", db, "add", "carol"],
                                   [b"s3cret", b"s3cret"])
    assert answered == 2, out
    assert rc == 0, out
    assert b"s3cret" not in out
    assert sqlite_rows(db, "SELECT COUNT(*) FROM \"user\" WHERE username='carol'") == [["1"]]


def test_db_may_be_a_path_in_a_mount(mnt):
    """--db names the database or any path in a mount of it (the mount's database)."""
    os.mkdir(mnt.p("projects", "fraud"))
    r = dd(mnt.p("projects", "fraud"), "add", "dora", "--password-stdin", stdin="pw\n")
    assert r.returncode == 0, r.stderr
    assert dd(mnt.path, "grant", "dora", "fraud", "--read").returncode == 0
    assert sqlite_rows(mnt.db, "SELECT read_permission FROM user_permission p JOIN \"user\" u"
                               " ON u.id = p.user_id WHERE username = 'dora'") == [["1"]]
