"""Sign-in and sign-out under attack (issue 13, items 5, 7, 8, 11 and 13), on SQLite and PostgreSQL: where a
sign-in may send the browser, server-side sessions that end when they should, lock-outs that count every try
once and per real client, and an audit trail of failures, revocations and disabled accounts."""
from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

import cli
from adapters.reviews import ReviewStore, audit_log, signin_attempts, signin_throttle
from adapters.storage import api_tokens, web_sessions
from api import create_app
from stewardship import accounts
from tests.integration.test_pages import PASSWORD, _csrf, people, sign_in  # noqa: F401 - `people` is a fixture

WRONG = "not the password"


def _audit(app, action: str) -> list:
    with app.extensions["store"].engine.connect() as connection:
        return connection.execute(select(audit_log).where(audit_log.c.action == action)
                                  .order_by(audit_log.c.id)).mappings().all()


def _cli(settings, monkeypatch, *args: str, input: str | None = None):
    monkeypatch.setenv("STEWARDSHIP_DATABASE_URL", settings.database_url)
    return CliRunner().invoke(cli.main, list(args), input=input)


@pytest.fixture
def make_app():
    made = []

    def make(settings):
        made.append(create_app(settings))
        return made[-1]
    yield make
    for application in made:
        application.extensions["store"].engine.dispose()


def _sign_in_to(client, next_target: str):
    """A sign-in whose form came from a link carrying `next` (the raw, still-encoded query value)."""
    page = client.get(f"/signin?next={next_target}").get_data(as_text=True)
    return client.post(f"/signin?next={next_target}",
                       data={"name": "dr.lee", "password": PASSWORD, "csrf_token": _csrf(page)})


# item 5 and 13: after sign-in, only a path on this site
@pytest.mark.parametrize("next_target", [
    "//evil.example/", "/\\evil.example/", "/%5Cevil.example/", "/%09/evil.example/", "/%2F/evil.example/",
    "/%252F/evil.example/", "%09/evil.example/", "/%0D%0ALocation:%20https://evil.example/",
    "/%0D/evil.example/", "/%0A/evil.example/", "https://evil.example/", "https:/evil.example/",
    "javascript:alert(1)", "/%20/evil.example/", "evil.example", "%2F%2Fevil.example/"])
def test_sign_in_never_sends_the_browser_to_another_site(client, people, next_target):
    response = _sign_in_to(client, next_target)
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_sign_in_returns_to_the_page_that_asked_for_it(client, people):
    response = _sign_in_to(client, quote("/reviews?status=closed&severity=critical", safe=""))
    assert response.headers["Location"] == "/reviews?status=closed&severity=critical"


# item 7: sessions live on the server
def test_the_session_cookie_carries_only_a_random_id_whose_hash_is_stored(client, app, people):
    sign_in(client, "dr.lee")
    cookie = client.get_cookie("session").value
    content = app.session_interface.get_signing_serializer(app).loads(cookie)
    assert set(content) == {"sid"} and len(content["sid"]) >= 43
    with app.extensions["store"].engine.connect() as connection:
        stored = connection.execute(select(web_sessions)).mappings().one()
    assert stored["id_hash"] == hashlib.sha256(content["sid"].encode()).hexdigest()
    assert content["sid"] not in str(dict(stored)) and stored["user_name"] == "dr.lee"


def test_a_copied_session_cookie_stops_working_after_sign_out(client, app, people):
    sign_in(client, "dr.lee")
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    assert copy.get("/").status_code == 200
    client.post("/signout", data={"csrf_token": _csrf(client.get("/").get_data(as_text=True))})
    assert copy.get("/").status_code == 302
    assert [row["user_name"] for row in _audit(app, "sign_out")] == ["dr.lee"]


def test_a_form_token_from_an_ended_session_is_refused(client, app, people):
    sign_in(client, "dr.lee")
    old_cookie, old_token = client.get_cookie("session").value, _csrf(client.get("/").get_data(as_text=True))
    client.post("/signout", data={"csrf_token": old_token})
    sign_in(client, "dr.lee")
    assert client.post("/signout", data={"csrf_token": old_token}).status_code == 400
    replay = app.test_client()
    replay.set_cookie("session", old_cookie)
    assert replay.post("/", data={"patient.age": "70", "csrf_token": old_token}).status_code == 400


def test_an_idle_session_ends_after_the_configured_minutes(client, app, people):
    assert app.config["SETTINGS"].session_idle_minutes == 30
    sign_in(client, "dr.lee")
    engine = app.extensions["store"].engine
    with engine.begin() as connection:
        connection.execute(update(web_sessions).values(
            last_seen_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=29)))
    assert client.get("/").status_code == 200
    with engine.begin() as connection:  # being used moved it on
        last_seen = connection.execute(select(web_sessions.c.last_seen_at)).scalar_one()
        assert dt.datetime.now(dt.timezone.utc) - last_seen.replace(tzinfo=dt.timezone.utc) < dt.timedelta(minutes=1)
        connection.execute(update(web_sessions).values(
            last_seen_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=31)))
    assert client.get("/").status_code == 302


def test_a_session_in_constant_use_still_ends_after_twelve_hours(client, app, people):
    sign_in(client, "dr.lee")
    with app.extensions["store"].engine.begin() as connection:
        connection.execute(update(web_sessions).values(
            created_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=12, minutes=1)))
    assert client.get("/").status_code == 302


def test_the_idle_timeout_is_a_setting(settings, make_app):
    app = make_app(replace(settings, session_idle_minutes=5))
    accounts.add_user(app.extensions["store"], "dr.lee", "prescriber", PASSWORD)
    client = app.test_client()
    sign_in(client, "dr.lee")
    with app.extensions["store"].engine.begin() as connection:
        connection.execute(update(web_sessions).values(
            last_seen_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=6)))
    assert client.get("/").status_code == 302


def test_the_idle_minutes_come_from_the_environment():
    from settings import Settings

    assert Settings.from_env({}).session_idle_minutes == 30
    assert Settings.from_env({"STEWARDSHIP_SESSION_IDLE_MINUTES": "10"}).session_idle_minutes == 10
    assert Settings.from_env({}).trusted_proxies == 0
    assert Settings.from_env({"STEWARDSHIP_TRUSTED_PROXIES": "1"}).trusted_proxies == 1
    for bad in ({"STEWARDSHIP_SESSION_IDLE_MINUTES": "0"}, {"STEWARDSHIP_TRUSTED_PROXIES": "-1"}):
        with pytest.raises(ValueError):
            Settings.from_env(bad)


def test_an_admin_ends_every_session_of_a_user_from_the_cli(client, app, settings, people, monkeypatch):
    sign_in(client, "dr.lee")
    other = app.test_client()
    sign_in(other, "pat.pharmacist")
    ended = _cli(settings, monkeypatch, "users", "sign-out", "dr.lee")
    assert ended.exit_code == 0 and "1 session" in ended.output, ended.output
    assert client.get("/").status_code == 302
    assert other.get("/reviews").status_code == 200  # only that user's
    assert [(row["action"], row["target"]) for row in _audit(app, "end_sessions")] == [
        ("end_sessions", "user:dr.lee")]
    assert _cli(settings, monkeypatch, "users", "sign-out", "nobody").exit_code != 0


# item 11: disabling, revoking and expiring
def test_a_disabled_user_is_out_at_once_everywhere(client, app, settings, people, monkeypatch):
    token = accounts.create_token(app.extensions["store"], "dr.lee")
    api = {"Authorization": f"Bearer {token}"}
    sign_in(client, "dr.lee")
    assert client.get("/").status_code == 200
    assert app.test_client().get("/api/v1/whoami", headers=api).status_code == 200
    assert _cli(settings, monkeypatch, "users", "disable", "dr.lee").exit_code == 0
    assert client.get("/").status_code == 302
    assert app.test_client().get("/api/v1/whoami", headers=api).status_code == 401
    refused = sign_in(app.test_client(), "dr.lee")
    assert refused.status_code == 401 and "do not match" in refused.get_data(as_text=True)
    assert [row["target"] for row in _audit(app, "disable_user")] == ["user:dr.lee"]

    assert _cli(settings, monkeypatch, "users", "enable", "dr.lee").exit_code == 0
    assert sign_in(app.test_client(), "dr.lee").status_code == 303
    assert app.test_client().get("/api/v1/whoami", headers=api).status_code == 401  # its tokens stay revoked
    assert [row["target"] for row in _audit(app, "enable_user")] == ["user:dr.lee"]


def test_an_admin_revokes_all_of_a_users_tokens_or_one(app, settings, people, monkeypatch):
    store = app.extensions["store"]
    first, second = accounts.create_token(store, "dr.lee"), accounts.create_token(store, "dr.lee")
    kept = accounts.create_token(store, "dr.kim")
    works = lambda token: app.test_client().get(  # noqa: E731
        "/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    one = _cli(settings, monkeypatch, "tokens", "revoke", "dr.lee", "--id", first.split("_")[1])
    assert one.exit_code == 0 and "1 token" in one.output, one.output
    assert not works(first) and works(second)
    assert _cli(settings, monkeypatch, "tokens", "revoke", "dr.kim", "--id", second.split("_")[1]).exit_code != 0
    assert works(second)  # another user's token id revokes nothing
    listed = _cli(settings, monkeypatch, "tokens", "list", "dr.lee")
    assert first.split("_")[1] in listed.output and "revoked" in listed.output and first not in listed.output
    every = _cli(settings, monkeypatch, "tokens", "revoke", "dr.lee")
    assert every.exit_code == 0 and "1 token" in every.output
    assert not works(second) and works(kept)
    assert [row["target"] for row in _audit(app, "revoke_tokens")] == [
        f"user:dr.lee token:{first.split('_')[1]}", "user:dr.lee"]


def test_a_token_can_expire(app, settings, people, monkeypatch):
    created = _cli(settings, monkeypatch, "tokens", "create", "dr.lee", "--expires-in-days", "7")
    assert created.exit_code == 0, created.output
    token = created.output.strip()
    headers = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/api/v1/whoami", headers=headers).status_code == 200
    with app.extensions["store"].engine.begin() as connection:
        expires = connection.execute(select(api_tokens.c.expires_at)).scalar_one()
        assert dt.timedelta(days=6, hours=23) < expires.replace(tzinfo=dt.timezone.utc) \
            - dt.datetime.now(dt.timezone.utc) <= dt.timedelta(days=7)
        connection.execute(update(api_tokens).values(
            expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
    assert app.test_client().get("/api/v1/whoami", headers=headers).status_code == 401
    assert _cli(settings, monkeypatch, "tokens", "create", "dr.lee", "--expires-in-days", "0").exit_code != 0
    assert [row["target"] for row in _audit(app, "create_token")][0].startswith("user:dr.lee token:")


def test_a_failed_sign_in_is_audited_with_name_and_address_never_the_password(client, app, people):
    assert sign_in(client, "dr.lee", "Tr0ub4dor&3-secret").status_code == 401
    assert sign_in(client, "no.such.user", "Tr0ub4dor&3-secret").status_code == 401
    failed = _audit(app, "sign_in_failed")
    assert [(row["user_name"], row["target"]) for row in failed] == [
        ("dr.lee", "address:127.0.0.1"), ("no.such.user", "address:127.0.0.1")]
    with app.extensions["store"].engine.connect() as connection:
        everything = str(connection.execute(select(audit_log)).all()) + \
            str(connection.execute(select(signin_attempts)).all())
    assert "Tr0ub4dor" not in everything


@pytest.mark.parametrize("name", ["a\r\nb", "x" * 300, "ünïcode\u202e"])
def test_an_odd_user_name_is_a_failed_sign_in_not_an_error(client, app, people, name):
    assert sign_in(client, name).status_code == 401
    assert len(_audit(app, "sign_in_failed")) == 1


# item 8: lock-outs
def test_concurrent_guesses_get_no_more_tries_than_the_limit(app, people):
    clients = [app.test_client() for _ in range(40)]
    tokens = [_csrf(each.get("/signin").get_data(as_text=True)) for each in clients]
    start = threading.Barrier(len(clients))

    def guess(index: int) -> int:
        start.wait()
        return clients[index].post("/signin", data={"name": "dr.lee", "password": WRONG,
                                                    "csrf_token": tokens[index]}).status_code

    with ThreadPoolExecutor(len(clients)) as pool:
        codes = list(pool.map(guess, range(len(clients))))
    assert codes.count(401) == 5 and codes.count(429) == 35, codes
    assert len(_audit(app, "sign_in_failed")) == 5


def test_refused_tries_from_a_locked_address_add_up_on_one_audit_row(client, app, people):
    for _ in range(5):
        sign_in(client, "dr.lee", WRONG)
    for _ in range(30):
        assert sign_in(client, "dr.lee", WRONG).status_code == 429
    locked = _audit(app, "sign_in_locked")
    assert [(row["user_name"], row["target"], row["times"]) for row in locked] == [("dr.lee", "name:dr.lee", 30)]
    for number in range(15):  # one address trying many names (20 failures with dr.lee's): one row for the address
        assert sign_in(client, f"guess{number:02}", WRONG).status_code == 401
    for number in range(15, 35):
        assert sign_in(client, f"guess{number:02}", WRONG).status_code == 429
    address = [row for row in _audit(app, "sign_in_locked") if row["target"] == "address:127.0.0.1"]
    assert len(address) == 1 and address[0]["times"] == 20


def _spray(app, when: dt.datetime, count: int = 50) -> None:
    """Tries of `count` names from as many addresses at `when`, as a caller trying a new name each time leaves."""
    with app.extensions["store"].engine.begin() as connection:
        connection.execute(signin_attempts.insert(), [
            {"at": when, "user_name": f"spray{i}", "ip": f"10.1.0.{i}", "ok": False} for i in range(count)])
        connection.execute(signin_throttle.insert(), [
            {"scope": scope, "key": key, "touched_at": when}
            for i in range(count) for scope, key in (("name", f"spray{i}"), ("address", f"10.1.0.{i}"))])


def _rows(app) -> tuple[set, set]:
    with app.extensions["store"].engine.connect() as connection:
        return ({row[0] for row in connection.execute(select(signin_attempts.c.user_name))},
                {row[0] for row in connection.execute(select(signin_throttle.c.key))})


def test_sign_in_rows_older_than_the_window_are_forgotten_and_the_windows_own_still_lock(client, app, people):
    _spray(app, dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))
    for _ in range(4):
        assert sign_in(client, "dr.lee", WRONG).status_code == 401
    assert _rows(app) == ({"dr.lee"}, {"dr.lee", "127.0.0.1"})  # the tables no longer grow without end
    assert sign_in(client, "dr.lee", WRONG).status_code == 401  # the fifth failure in the window
    assert sign_in(client, "dr.lee", PASSWORD).status_code == 429  # locked: the window's tries were all kept


def test_sign_in_rows_within_the_window_are_kept(client, app, people):
    _spray(app, dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5), count=3)
    sign_in(client, "dr.lee", WRONG)
    names, keys = _rows(app)
    assert names == {"spray0", "spray1", "spray2", "dr.lee"}
    assert {"spray0", "10.1.0.2", "dr.lee", "127.0.0.1"} <= keys


def test_forgetting_old_sign_in_rows_never_waits_for_a_try_that_holds_one(app, people):
    """PostgreSQL: a throttle row held by a try in progress is skipped, not waited for (no deadlock with it)."""
    engine = app.extensions["store"].engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: there are no row locks to skip")
    _spray(app, dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1), count=2)
    with engine.connect() as holder:
        holder.execute(select(signin_throttle).where(signin_throttle.c.key == "spray0").with_for_update())
        started = time.monotonic()
        ReviewStore(engine)._forget_signins_before(dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=15))
        waited = time.monotonic() - started
        holder.rollback()
    assert waited < 2
    assert _rows(app) == (set(), {"spray0"})


def test_without_trusted_proxies_a_client_cannot_choose_its_address(client, app, people):
    for number in range(20):
        forged = {"X-Forwarded-For": f"10.0.0.{number}"}
        token = _csrf(client.get("/signin").get_data(as_text=True))
        client.post("/signin", data={"name": f"guess{number:02}", "password": WRONG, "csrf_token": token},
                    headers=forged)
    token = _csrf(client.get("/signin").get_data(as_text=True))
    assert client.post("/signin", data={"name": "dr.lee", "password": PASSWORD, "csrf_token": token},
                       headers={"X-Forwarded-For": "10.9.9.9"}).status_code == 429
    with app.extensions["store"].engine.connect() as connection:
        assert {row[0] for row in connection.execute(select(signin_attempts.c.ip))} == {"127.0.0.1"}


def test_behind_one_trusted_proxy_each_client_is_limited_by_its_own_address(settings, make_app):
    app = make_app(replace(settings, trusted_proxies=1))
    accounts.add_user(app.extensions["store"], "dr.lee", "prescriber", PASSWORD)
    ward = app.test_client()
    for number in range(20):  # a client prepending its own X-Forwarded-For entry does not escape its address
        token = _csrf(ward.get("/signin").get_data(as_text=True))
        ward.post("/signin", data={"name": f"guess{number:02}", "password": WRONG, "csrf_token": token},
                  headers={"X-Forwarded-For": f"10.0.0.{number}, 192.0.2.7"})
    token = _csrf(ward.get("/signin").get_data(as_text=True))
    assert ward.post("/signin", data={"name": "dr.lee", "password": PASSWORD, "csrf_token": token},
                     headers={"X-Forwarded-For": "192.0.2.7"}).status_code == 429
    colleague = app.test_client()  # another client behind the same proxy (one socket address) is not locked out
    token = _csrf(colleague.get("/signin").get_data(as_text=True))
    signed_in = colleague.post("/signin", data={"name": "dr.lee", "password": PASSWORD, "csrf_token": token},
                               headers={"X-Forwarded-For": "192.0.2.8", "X-Forwarded-Proto": "https"})
    assert signed_in.status_code == 303 and "Secure" in signed_in.headers["Set-Cookie"]
