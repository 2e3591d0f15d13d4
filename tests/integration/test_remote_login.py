"""`deardiary login URL`, `logout URL` and `whoami URL` (docs/REMOTE.md §5) against a real
`deardiary serve` on 127.0.0.1 with auth on: the token kept in the credentials file (mode
0600, one entry per server, XDG_CONFIG_HOME honoured), DEARDIARY_TOKEN, refresh past half
a token's life, refusals that change nothing, HTTPS with --cacert, and no token or
password in any output, log line or syslog message."""
import json
import os
import re
import stat
import subprocess
import time

import pytest

from conftest import BIN, BAD_OUTPUT
from helpers_serve import asrv, srv, Server, decode_claims, free_port, logged  # noqa: F401
from helpers_tty import run_on_tty


@pytest.fixture
def env(tmp_path):
    """A client environment of its own: HOME and XDG_CONFIG_HOME in tmp_path, no token."""
    e = {k: v for k, v in os.environ.items() if k != "DEARDIARY_TOKEN"}
    e["HOME"] = str(tmp_path / "home")
    e["XDG_CONFIG_HOME"] = str(tmp_path / "cfg")
    os.makedirs(e["HOME"])
    return e


def creds_path(env):
    return os.path.join(env["XDG_CONFIG_HOME"], "deardiary", "credentials")


def dd(env, *args, stdin=None):
    p = subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True, env=env,
                       timeout=60, stdin=None if stdin is not None else subprocess.DEVNULL)
    assert not BAD_OUTPUT.search(p.stderr), p.stderr
    return p


def login(env, url, user="default", password="default", *extra):
    return dd(env, "login", url, "--user", user, "--password-stdin", *extra,
              stdin=password + "\n")


def read_creds(env):
    with open(creds_path(env)) as f:
        return json.load(f)


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def test_login_stores_the_token_0600(asrv, env):
    p = login(env, asrv.url + "/")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "logged in to %s as default\n" % asrv.url
    path = creds_path(env)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    creds = read_creds(env)
    assert list(creds) == [asrv.url]
    entry = creds[asrv.url]
    assert set(entry) == {"user", "token", "expires_at", "lifetime"}
    assert entry["user"] == "default" and entry["lifetime"] in (86399, 86400)
    assert decode_claims(entry["token"]) == {"sub": "default", "id": 1,
                                             "exp": entry["expires_at"]}
    # the kept token is one the server takes
    assert asrv.get("/auth/me", token=entry["token"]).json()["username"] == "default"
    assert entry["token"] not in p.stdout + p.stderr
    w = dd(env, "whoami", asrv.url)
    assert (w.returncode, w.stdout) == (0, "default\n"), w.stderr
    assert entry["token"] not in asrv.output()


def test_home_config_when_xdg_unset(asrv, env):
    del env["XDG_CONFIG_HOME"]
    assert login(env, asrv.url).returncode == 0
    path = os.path.join(env["HOME"], ".config", "deardiary", "credentials")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        assert list(json.load(f)) == [asrv.url]


def test_url_spellings_are_one_server(asrv, env):
    port = asrv.port
    assert login(env, "HTTP://127.0.0.1:%d//" % port).returncode == 0
    assert login(env, "http://127.0.0.1:%d" % port).returncode == 0
    assert list(read_creds(env)) == ["http://127.0.0.1:%d" % port]


@pytest.mark.parametrize("url, message", [
    ("ftp://127.0.0.1/", "starts with http:// or https://"),
    ("127.0.0.1:9000", "not a URL"),
    ("http://", "not a URL"),
    ("http://ana:pw@127.0.0.1:9000", "holds no user name"),
    ("http://127.0.0.1:9000/?x=1", "holds no query"),
])
def test_bad_urls_are_refused_before_anything(env, url, message):
    p = login(env, url)
    assert p.returncode == 2 and message in p.stderr, p.stderr
    assert "pw@" not in p.stderr.replace(url, "") and "default\n" not in p.stdout
    assert not os.path.exists(creds_path(env))


def test_bad_password_and_unknown_user_change_nothing(asrv, env):
    other = Server(os.path.join(env["HOME"]), auth=True)
    try:
        assert login(env, other.url).returncode == 0
        before = file_bytes(creds_path(env))
        p = login(env, asrv.url, password="wrong")
        assert p.returncode == 1
        assert "refused the login of default: INVALID_CREDENTIALS" in p.stderr
        assert "wrong" not in p.stdout + p.stderr
        p = login(env, asrv.url, user="nobody", password="x")
        assert p.returncode == 1 and "USER_NOT_FOUND" in p.stderr
        assert file_bytes(creds_path(env)) == before
    finally:
        other.stop()


def test_unreachable_server(env):
    url = "http://127.0.0.1:%d" % free_port()
    p = login(env, url)
    assert p.returncode == 1
    assert "cannot reach %s" % url in p.stderr
    assert not os.path.exists(creds_path(env))
    w = dd(env, "whoami", url)
    assert w.returncode == 1 and "not logged in to %s" % url in w.stderr


def test_two_servers_and_logout(asrv, env):
    other = Server(os.path.join(env["HOME"]), auth=True)
    try:
        assert login(env, asrv.url).returncode == 0
        assert login(env, other.url).returncode == 0
        assert sorted(read_creds(env)) == sorted([asrv.url, other.url])
        p = dd(env, "logout", asrv.url + "/")
        assert p.returncode == 0 and p.stdout == "logged out of %s\n" % asrv.url
        assert list(read_creds(env)) == [other.url]
        assert stat.S_IMODE(os.stat(creds_path(env)).st_mode) == 0o600
        w = dd(env, "whoami", asrv.url)
        assert w.returncode == 1 and "run `deardiary login %s`" % asrv.url in w.stderr
        assert dd(env, "whoami", other.url).stdout == "default\n"
        again = dd(env, "logout", asrv.url)
        assert again.returncode == 0 and "not logged in to %s" % asrv.url in again.stderr
    finally:
        other.stop()


def test_password_on_tty_without_echo(asrv, env):
    rc, out, answered = run_on_tty([BIN, "login", asrv.url, "--user", "default"],
                                   [b"default"], env=env)
    assert answered == 1, out
    assert rc == 0, out
    assert b"Password for default at " + asrv.url.encode() in out
    assert b"default\r\n" not in out.split(b"Password", 1)[1].split(b"logged in")[0]
    assert read_creds(env)[asrv.url]["user"] == "default"


def test_no_terminal_and_no_stdin_password(asrv, env):
    p = subprocess.run([BIN, "login", asrv.url], capture_output=True, text=True, env=env,
                       stdin=subprocess.DEVNULL, start_new_session=True, timeout=60)
    assert p.returncode == 1 and "no terminal" in p.stderr and "--password-stdin" in p.stderr
    p = login(env, asrv.url, password="")
    assert p.returncode == 1 and "the password is empty" in p.stderr
    assert not os.path.exists(creds_path(env))


def test_default_user_is_the_login_name(asrv, env):
    import pwd
    me = pwd.getpwuid(os.geteuid()).pw_name
    p = dd(env, "login", asrv.url, "--password-stdin", stdin="x\n")
    assert p.returncode == 1 and "refused the login of %s" % me in p.stderr


def add_user(asrv, name, password):
    admin = asrv.login()
    r = asrv.post("/user/", token=admin, json={"first_name": "A", "last_name": "B",
                                              "username": name, "password": password})
    assert r.status_code == 201, r.text
    return r.json()["user_id"]


def test_deardiary_token_overrides(asrv, env):
    assert login(env, asrv.url).returncode == 0
    add_user(asrv, "ana", "anapw")
    ana = asrv.login("ana", "anapw")
    env["DEARDIARY_TOKEN"] = ana
    w = dd(env, "whoami", asrv.url)
    assert (w.returncode, w.stdout) == (0, "ana\n"), w.stderr
    assert ana not in w.stdout + w.stderr
    # it works without any credentials file too
    os.unlink(creds_path(env))
    assert dd(env, "whoami", asrv.url).stdout == "ana\n"
    env["DEARDIARY_TOKEN"] = "not a token\r\nX-Evil: 1"
    w = dd(env, "whoami", asrv.url)
    assert w.returncode == 1 and "DEARDIARY_TOKEN does not hold a token" in w.stderr
    assert "Evil" not in w.stderr


def set_expiry(env, url, expires_at):
    creds = read_creds(env)
    creds[url]["expires_at"] = expires_at
    with open(creds_path(env), "w") as f:
        json.dump(creds, f)


def test_refresh_past_half_life(asrv, env):
    assert login(env, asrv.url).returncode == 0
    set_expiry(env, asrv.url, int(time.time()) + 600)   # ten minutes left: refresh
    w = dd(env, "whoami", asrv.url)
    assert (w.returncode, w.stdout) == (0, "default\n"), w.stderr
    entry = read_creds(env)[asrv.url]
    assert entry["expires_at"] > time.time() + 23 * 3600
    assert decode_claims(entry["token"])["exp"] == entry["expires_at"]
    assert logged(asrv, "POST /auth/refresh 200")
    # past half life no more: no second refresh
    dd(env, "whoami", asrv.url)
    assert logged(asrv, "GET /auth/me 200", 2)
    assert asrv.output().count("POST /auth/refresh") == 1


def test_refresh_follows_the_kept_lifetime(tmp_path, env):
    """A server whose tokens live 60 s (server.token_ttl): the entry keeps that lifetime and
    the token is refreshed past half of it, not with 12 h left; an entry without a lifetime
    (written before it was kept) keeps the 12 h rule and gets one at its refresh."""
    s = Server(str(tmp_path), auth=True, env={"DEARDIARY_TOKEN_TTL": "60"})
    try:
        assert login(env, s.url).returncode == 0
        entry = read_creds(env)[s.url]
        assert entry["lifetime"] in (59, 60) and entry["expires_at"] <= time.time() + 60
        assert dd(env, "whoami", s.url).stdout == "default\n"    # 60 s left of 60: kept
        assert read_creds(env)[s.url] == entry
        set_expiry(env, s.url, int(time.time()) + 25)              # past half: refreshed
        assert dd(env, "whoami", s.url).stdout == "default\n"
        fresh = read_creds(env)[s.url]
        # (the same token when within the same second as the login: same claims)
        assert fresh["expires_at"] > time.time() + 50 and fresh["lifetime"] in (59, 60)
        assert decode_claims(fresh["token"])["exp"] == fresh["expires_at"]
        assert logged(s, "POST /auth/refresh 200", 1)
        # an old entry: no lifetime, 13 h left by its own account: not refreshed
        creds = read_creds(env)
        del creds[s.url]["lifetime"]
        creds[s.url]["expires_at"] = int(time.time()) + 13 * 3600
        with open(creds_path(env), "w") as f:
            json.dump(creds, f)
        assert dd(env, "whoami", s.url).stdout == "default\n"
        assert "lifetime" not in read_creds(env)[s.url]
        set_expiry(env, s.url, int(time.time()) + 11 * 3600)     # less than 12 h: refreshed
        assert dd(env, "whoami", s.url).stdout == "default\n"
        assert read_creds(env)[s.url]["lifetime"] in (59, 60)
        assert logged(s, "POST /auth/refresh 200", 2)
        assert s.output().count("POST /auth/refresh") == 2
    finally:
        s.stop()


@pytest.mark.parametrize("ttl", ["0", "-60", "4", "31536001", "1d"])
def test_bad_token_lifetime_is_refused_at_start(tmp_path, ttl):
    env = dict(os.environ, DEARDIARY_ENABLE_AUTH="true", DEARDIARY_JWT_SECRET="s",
               DEARDIARY_TOKEN_TTL=ttl)
    p = subprocess.run([BIN, "serve", "--db", str(tmp_path / "r.db"), "--port",
                        str(free_port())], capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode == 1 and "DEARDIARY_TOKEN_TTL" in p.stderr, p.stderr
    assert ("between 5 and 31536000, got %s" % ttl in p.stderr
            or "expected a decimal integer" in p.stderr), p.stderr


def test_refused_token_says_login_is_needed(asrv, env):
    uid = add_user(asrv, "bob", "bobpw")
    assert login(env, asrv.url, "bob", "bobpw").returncode == 0
    assert dd(env, "whoami", asrv.url).stdout == "bob\n"
    assert asrv.delete("/user/%d" % uid, token=asrv.login()).status_code == 200
    w = dd(env, "whoami", asrv.url)
    assert w.returncode == 1
    assert "USER_NOT_FOUND" in w.stderr and "run `deardiary login %s`" % asrv.url in w.stderr
    set_expiry(env, asrv.url, int(time.time()) + 60)   # the refresh is refused too
    before = file_bytes(creds_path(env))
    w = dd(env, "whoami", asrv.url)
    assert w.returncode == 1 and "refused the token of bob" in w.stderr
    assert "run `deardiary login %s`" % asrv.url in w.stderr
    assert file_bytes(creds_path(env)) == before


def test_unusable_credentials_file_is_refused_not_overwritten(asrv, env):
    assert login(env, asrv.url).returncode == 0
    path = creds_path(env)
    os.chmod(path, 0o644)
    p = login(env, asrv.url)
    assert p.returncode == 1 and "readable or writable by others" in p.stderr
    assert dd(env, "whoami", asrv.url).returncode == 1
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    for text in ['{"http://127.0.0.1:1": {"user": "a", "token": "x\\ny", "expires_at": 1}}',
                 '{"http://127.0.0.1:1": {"user": "a", "token": "x", "expires_at": 1, '
                 '"lifetime": 0}}',
                 '{"http://127.0.0.1:1": {"user": "a", "token": "x", "expires_at": 1, '
                 '"lifetime": "60"}}',
                 '{"http://127.0.0.1:1/": {"user": "a", "token": "x", "expires_at": 1}}',
                 '{"http://127.0.0.1:1": {"user": "a", "token": "x"}}',
                 "not json", "[]"]:
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        p = login(env, asrv.url)
        assert p.returncode == 1 and "fix it or remove it" in p.stderr, (text, p.stderr)
        assert dd(env, "logout", asrv.url).returncode == 1
        assert file_bytes(path) == text.encode()


def test_auth_disabled_server(srv, env):
    """The original's default: POST /auth still issues real tokens."""
    assert login(env, srv.url).returncode == 0
    assert dd(env, "whoami", srv.url).stdout == "default\n"


def test_https_needs_the_ca(tmp_path, env):
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    s = Server(str(tmp_path), auth=True, tls=(cert, key))
    try:
        p = login(env, s.url)
        assert p.returncode == 1 and "cannot reach %s" % s.url in p.stderr
        assert not os.path.exists(creds_path(env))
        assert login(env, s.url, "default", "default", "--cacert", cert).returncode == 0
        w = dd(env, "whoami", s.url, "--cacert", cert)
        assert (w.returncode, w.stdout) == (0, "default\n"), w.stderr
        assert dd(env, "whoami", s.url).returncode == 1
    finally:
        s.stop()


# strace -yy names each descriptor: a file by path, a socket by its addresses
TRACE_FD = re.compile(r"^\d+\s+(\w+)\((\d+)<(TCP:\[[^\]]*\]|[^>]*)>")


def test_no_token_or_password_in_any_output_or_log(asrv, env, tmp_path):
    """Every byte the commands write anywhere (stdout, stderr, files, sockets, syslog's
    /dev/log) is traced; the token and password appear only on the TCP connection to
    the server and in the credentials file. The server's log holds neither."""
    add_user(asrv, "eve", "Pa55-secret")
    trace = str(tmp_path / "trace")
    outputs = ""
    # LeakSanitizer cannot run under ptrace (an ASan build); leaks are checked elsewhere
    env = dict(env, ASAN_OPTIONS="detect_leaks=0")
    for args, stdin in [(["login", asrv.url, "--user", "eve", "--password-stdin"],
                         "Pa55-secret\n"),
                        (["whoami", asrv.url], None)]:
        p = subprocess.run(["strace", "-f", "-yy", "-s", "65536", "-o", trace, "-e",
                            "trace=write,writev,pwrite64,sendto,sendmsg,connect", BIN, *args],
                           input=stdin, capture_output=True, text=True, env=env, timeout=60)
        assert p.returncode == 0, p.stderr
        outputs += p.stdout + p.stderr
        token = read_creds(env)[asrv.url]["token"]
        with open(trace) as f:
            lines = f.read().splitlines()
        secret_lines = [line for line in lines if token in line or "Pa55-secret" in line]
        assert secret_lines   # the trace did see the request
        for line in secret_lines:
            m = TRACE_FD.match(line)
            assert m, line
            where = m.group(3)
            assert ("127.0.0.1:%d" % asrv.port in where or
                    where.startswith(creds_path(env) + ".tmp")), line
    assert token not in outputs and "Pa55-secret" not in outputs
    assert logged(asrv, "POST /auth 200") and logged(asrv, "GET /auth/me 200")
    log = asrv.output()
    assert token not in log and "Pa55-secret" not in log
