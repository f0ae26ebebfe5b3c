"""Login limits count failed attempts only, per client address and username, plus a loose
ceiling per username over all addresses; /auth/login and the admin's form share the counters.
Counters are Redis's (each test has its own prefix), and django-ratelimit's clock is stopped for
each test, so no test straddles a window's edge; nothing here waits for a window."""

from contextlib import ExitStack
from types import SimpleNamespace

import pytest
from django.test import Client, RequestFactory

from tests.support import at_once

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rate_limit_clock_stopped")]

ATTACKER = "203.0.113.9"
OWNER = "198.51.100.20"


def api_login(api, username, password, ip):
    return api.post(
        "/auth/login", {"username": username, "password": password}, format="json", REMOTE_ADDR=ip
    )


def admin_login(username, password, ip):
    # A fresh client each time: a signed-in one would carry its session into the next attempt.
    attempt = {"username": username, "password": password, "next": "/admin/"}
    return Client().post("/admin/login/", attempt, REMOTE_ADDR=ip)


def test_wrong_passwords_from_elsewhere_do_not_lock_the_owner_out(api, user):
    statuses = [api_login(api, "ALICE", "wrong", ATTACKER).status_code for _ in range(12)]
    assert statuses == [401] * 10 + [429] * 2
    # The guesser's address stays refused, even when its next guess is right...
    refused = api_login(api, "alice", "alice-pass-123", ATTACKER)
    assert refused.status_code == 429 and "Retry-After" in refused
    assert refused.json()["error"]["code"] == "rate_limited"
    assert set(refused.json()["error"]) == {"code", "message", "details"}
    # ...and the owner, anywhere else, signs in.
    assert api_login(api, "alice", "alice-pass-123", OWNER).status_code == 200


def test_successful_logins_do_not_count(api, user):
    statuses = [api_login(api, "alice", "alice-pass-123", OWNER).status_code for _ in range(15)]
    assert statuses == [200] * 15
    failures = [api_login(api, "alice", "wrong", OWNER).status_code for _ in range(11)]
    assert failures == [401] * 10 + [429]


def test_the_admin_form_and_the_api_share_the_counters(api, staff_user):
    for _ in range(5):
        assert api_login(api, "carol", "wrong", ATTACKER).status_code == 401
        assert admin_login("carol", "wrong", ATTACKER).status_code == 200  # the form, with an error
    assert admin_login("carol", "wrong", ATTACKER).status_code == 429
    assert api_login(api, "carol", "wrong", ATTACKER).status_code == 429
    assert admin_login("carol", "carol-pass-123", OWNER).status_code == 302
    assert api_login(api, "carol", "carol-pass-123", OWNER).status_code == 200


def test_successful_admin_logins_do_not_count(staff_user):
    statuses = [admin_login("carol", "carol-pass-123", OWNER).status_code for _ in range(12)]
    assert statuses == [302] * 12


def test_every_spelling_of_a_username_shares_its_counters(staff_user):
    # The admin's form NFKC-normalises the username: fullwidth "carol" is carol's account.
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in "carol")
    statuses = [admin_login(fullwidth, "wrong", ATTACKER).status_code for _ in range(10)]
    assert statuses == [200] * 10
    assert admin_login("Carol", "carol-pass-123", ATTACKER).status_code == 429


def test_a_username_has_a_loose_ceiling_over_all_addresses(api, user, settings):
    settings.LOGIN_RATE_PER_USER_ALL_ADDRESSES = "25/m"
    for i in range(2):
        statuses = [api_login(api, "alice", "x", f"192.0.2.{i}").status_code for _ in range(10)]
        assert statuses == [401] * 10
    statuses = [api_login(api, "alice", "x", "192.0.2.2").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    # The trade-off docs/security.md states: enough addresses can lock the owner out too.
    assert api_login(api, "alice", "alice-pass-123", OWNER).status_code == 429
    settings.LOGIN_RATE_PER_USER_ALL_ADDRESSES = ""  # lifted
    assert api_login(api, "alice", "alice-pass-123", OWNER).status_code == 200


def test_an_ipv6_client_is_counted_by_its_64(api, user):
    # One IPv6 host can take a new address from its /64 for every guess.
    statuses = [
        api_login(api, "alice", "wrong", f"2001:db8:1:2::{i + 1:x}").status_code for i in range(11)
    ]
    assert statuses == [401] * 10 + [429]
    assert api_login(api, "alice", "alice-pass-123", "2001:db8:1:3::1").status_code == 200


def test_attempts_in_flight_together_cannot_all_pass_the_check(user):
    # Each attempt is counted before its password is checked: ten still open use the limit up.
    from chatbackend.ratelimits import RateLimited, login_attempt

    with ExitStack() as open_attempts:
        for _ in range(10):
            open_attempts.enter_context(login_attempt(username="alice", ip=ATTACKER)).failed()
        with pytest.raises(RateLimited), login_attempt(username="alice", ip=ATTACKER):
            pass


def test_an_attempt_is_not_let_through_by_a_refund_counted_after_it(user, monkeypatch):
    # The interleaving the concurrent test below can only hit by chance, made to happen: while
    # the 11th attempt is being counted, a 12th is counted, refused and refunded. The 11th must
    # still see ten failures ahead of it.
    from chatbackend import ratelimits
    from chatbackend.ratelimits import RateLimited, login_attempt

    for _ in range(10):
        with login_attempt(username="alice", ip=ATTACKER) as attempt:
            attempt.failed()

    counted = ratelimits._usage
    interloper = {"pending": True}

    def count_with_an_interloper(**kwargs):
        usage = counted(**kwargs)
        if (
            kwargs["increment"]
            and kwargs["group"] == "auth.login.ip_user"
            and interloper.pop("pending", False)
        ):
            with pytest.raises(RateLimited), login_attempt(username="alice", ip=ATTACKER):
                pass
        return usage

    monkeypatch.setattr(ratelimits, "_usage", count_with_an_interloper)
    with pytest.raises(RateLimited), login_attempt(username="alice", ip=ATTACKER):
        pass
    assert not interloper  # the interloper did run inside the 11th attempt's count


def test_refunds_read_in_a_window_that_then_ends_are_not_subtracted(user, settings, monkeypatch):
    # A per-second limit, whose windows always show 0 s left: the attempt reads the refunds
    # in one second and adds itself in the next, after ten failures landed there.
    import django_ratelimit.core

    from chatbackend import ratelimits
    from chatbackend.ratelimits import RateLimited, login_attempt

    settings.LOGIN_RATE_PER_IP_USER = "10/s"
    clock = SimpleNamespace(now=1_800_000_000.2)
    fake_time = SimpleNamespace(time=lambda: clock.now)
    monkeypatch.setattr(django_ratelimit.core, "time", fake_time)
    monkeypatch.setattr(ratelimits, "time", fake_time)
    for _ in range(5):  # successes: five refunds in this second
        with login_attempt(username="alice", ip=ATTACKER):
            pass

    counted = ratelimits._usage
    pending = {"next second": True}

    def the_next_second_comes_between_the_reads(**kwargs):
        usage = counted(**kwargs)
        if kwargs["group"] == "auth.login.ip_user.refunds" and pending.pop("next second", 0):
            clock.now += 1
            for _ in range(10):
                with login_attempt(username="alice", ip=ATTACKER) as attempt:
                    attempt.failed()
        return usage

    monkeypatch.setattr(ratelimits, "_usage", the_next_second_comes_between_the_reads)
    with pytest.raises(RateLimited), login_attempt(username="alice", ip=ATTACKER):
        pass
    assert not pending


@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_passwords_get_no_more_than_the_limit(user):
    from chatbackend.auth import Unauthorized, tokens_login
    from chatbackend.ratelimits import RateLimited

    request = RequestFactory().post("/auth/login", REMOTE_ADDR=ATTACKER)
    _, errors = at_once(
        20, lambda _i: tokens_login(username="alice", password="x", request=request)
    )
    assert sum(isinstance(e, Unauthorized) for e in errors) == 10
    assert sum(isinstance(e, RateLimited) for e in errors) == 10


def test_a_refused_attempt_counts_towards_no_limit(api, user, settings):
    # Hammering past the per-address limit must not fill the username's ceiling over all
    # addresses, or one client could lock the owner out after all...
    settings.LOGIN_RATE_PER_USER_ALL_ADDRESSES = "20/m"
    statuses = [api_login(api, "alice", "wrong", ATTACKER).status_code for _ in range(30)]
    assert statuses == [401] * 10 + [429] * 20
    assert api_login(api, "alice", "alice-pass-123", OWNER).status_code == 200
    # ...and an owner refused by that ceiling, retrying, must not fill their own strict limit.
    assert api_login(api, "alice", "wrong", "192.0.2.1").status_code == 401
    for _ in range(9):
        api_login(api, "alice", "wrong", "192.0.2.2")
    retries = [api_login(api, "alice", "alice-pass-123", OWNER).status_code for _ in range(12)]
    assert retries == [429] * 12
    settings.LOGIN_RATE_PER_USER_ALL_ADDRESSES = ""  # as when the attack stops: the ceiling resets
    assert api_login(api, "alice", "alice-pass-123", OWNER).status_code == 200
