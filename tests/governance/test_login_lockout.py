"""Repeated failed logins lock a username out from one address (django-axes), on the site's
login page and the Django admin's, with a clear 429 page; the audit chain records failures
for real accounts and the lockout once."""

from __future__ import annotations

import pytest

from governance.models import AuditEvent
from tests.governance.audit_helpers import fast_passwords  # noqa: F401

LOGIN_PAGES = ["/accounts/login/", "/admin/login/"]


def attempt(client, url: str, username: str, password: str, ip: str = "10.0.0.1", **headers):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip, **headers)


@pytest.fixture
def limit(settings) -> int:
    settings.AXES_FAILURE_LIMIT = 3
    return 3


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_a_username_is_locked_out_from_an_address_after_the_failure_limit(client, users, limit, url) -> None:
    for name in ("creator", "reviewer"):  # the admin's login page wants staff
        users[name].is_staff = True
        users[name].save()
    for _ in range(limit - 1):
        assert attempt(client, url, "carl", "wrong").status_code == 200  # the form again, with an error
    response = attempt(client, url, "carl", "wrong")
    assert response.status_code == 429
    # Locked out: even the right password is refused, with a page that says why and for how long.
    response = attempt(client, url, "carl", "pw-carl")
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content and b"15 minutes" in response.content
    assert response["Retry-After"] == "900"
    assert "_auth_user_id" not in client.session
    # Keyed by username and address: the same name from elsewhere, and another name from here, log in.
    assert attempt(client, url, "carl", "pw-carl", ip="10.0.0.2").status_code == 302
    client.logout()
    assert attempt(client, url, "rita", "pw-rita").status_code == 302


def test_a_forged_forwarded_for_header_does_not_escape_the_lockout(client, users, limit) -> None:
    for n in range(limit):
        attempt(client, "/accounts/login/", "carl", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    response = attempt(client, "/accounts/login/", "carl", "pw-carl", HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert response.status_code == 429


def test_behind_a_proxy_the_forwarded_address_is_the_client(client, users, limit, settings) -> None:
    settings.HALLMARK_NUM_PROXIES = 1
    for _ in range(limit):
        attempt(
            client, "/accounts/login/", "carl", "wrong", ip="10.9.9.9", HTTP_X_FORWARDED_FOR="198.51.100.7"
        )
    locked = attempt(
        client, "/accounts/login/", "carl", "pw-carl", ip="10.9.9.9", HTTP_X_FORWARDED_FOR="198.51.100.7"
    )
    assert locked.status_code == 429
    other = attempt(
        client, "/accounts/login/", "carl", "pw-carl", ip="10.9.9.9", HTTP_X_FORWARDED_FOR="198.51.100.8"
    )
    assert other.status_code == 302


def test_a_successful_login_resets_the_count(client, users, limit) -> None:
    for _ in range(limit - 1):
        attempt(client, "/accounts/login/", "carl", "wrong")
    assert attempt(client, "/accounts/login/", "carl", "pw-carl").status_code == 302
    client.logout()
    for _ in range(limit - 1):
        assert attempt(client, "/accounts/login/", "carl", "wrong").status_code == 200


def test_failures_and_the_lockout_are_audited_once_and_unknown_names_not_at_all(client, users, limit) -> None:
    start = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    for _ in range(limit + 3):  # three more while locked out
        attempt(client, "/accounts/login/", "carl", "wrong")
    attempt(client, "/accounts/login/", "my-password-typed-as-a-name", "wrong")
    new = list(AuditEvent.objects.filter(seq__gt=start).order_by("seq"))
    actions = [e.action for e in new]
    assert actions.count("auth.locked_out") == 1
    assert 1 <= actions.count("auth.login_failed") <= limit
    assert set(actions) == {"auth.login_failed", "auth.locked_out"}
    assert all(e.target_id == str(users["creator"].pk) and e.actor == "system:anonymous" for e in new)
    assert "my-password-typed-as-a-name" not in str([e.data for e in new])


def test_password_spraying_from_one_address_is_stopped(client, users, settings) -> None:
    """A few passwords on many accounts stay under the per-account limit; the per-address limit
    (higher, so that one office's typos do not lock it out) stops them, for every username."""
    settings.AXES_FAILURE_LIMIT = 5
    settings.HALLMARK_LOGIN_FAILURES_PER_ADDRESS = 8
    names = ["vera", "carl", "cleo", "rita", "ada", "nemo"]
    refused = 0
    for round_ in range(3):
        for name in names:
            response = attempt(client, "/accounts/login/", name, f"spring-202{round_}", ip="203.0.113.5")
            refused += response.status_code == 429
    assert refused == 3 * len(names) - 8
    # Locked for this address only: the right password is refused here, accepted elsewhere.
    assert attempt(client, "/accounts/login/", "carl", "pw-carl", ip="203.0.113.5").status_code == 429
    assert attempt(client, "/accounts/login/", "carl", "pw-carl", ip="203.0.113.6").status_code == 302
    # The audit chain grew by at most the per-address limit, not by every attempt.
    assert AuditEvent.objects.filter(action="auth.login_failed").count() <= 8
