"""Token authentication with the roles in the same statement (``governance.token_auth``): it
answers as DRF's did, and nothing it reads outlives the request."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_one_statement_reads_the_token_the_user_and_the_roles(client_for, users) -> None:
    viewer = client_for("viewer")
    with CaptureQueriesContext(connection) as captured:
        assert viewer.get("/api/v1/policy/").status_code == 200
    assert not any(
        "auth_group" in q["sql"] and "authtoken" not in q["sql"] for q in captured.captured_queries
    )
    assert client_for("creator").get("/api/v1/audit/").status_code == 403  # a creator is no reviewer
    assert client_for("reviewer").get("/api/v1/audit/").status_code == 200
    assert client_for("admin").get("/api/v1/audit/").status_code == 200
    assert client_for("nobody").get("/api/v1/policy/").status_code == 403


def test_a_group_that_is_no_role_grants_nothing(users) -> None:
    user = users["nobody"]
    user.groups.add(Group.objects.create(name="marketing"))
    assert _client(Token.objects.create(user=user).key).get("/api/v1/policy/").status_code == 403


def test_a_removed_role_a_deleted_token_and_a_deactivated_user_take_effect_at_once(users) -> None:
    user = users["reviewer"]
    token = Token.objects.create(user=user)
    client = _client(token.key)
    assert client.get("/api/v1/audit/").status_code == 200
    user.groups.remove(Group.objects.get(name="reviewer"))
    assert client.get("/api/v1/audit/").status_code == 403
    user.groups.add(Group.objects.get(name="viewer"))
    assert client.get("/api/v1/policy/").status_code == 200
    user.is_active = False
    user.save()
    refused = client.get("/api/v1/policy/")
    assert refused.status_code == 401 and "inactive" in refused.json()["detail"]
    user.is_active = True
    user.save()
    token.delete()
    gone = client.get("/api/v1/policy/")
    assert gone.status_code == 401 and gone.json()["detail"] == "Invalid token."


def test_a_superuser_holds_every_role_and_bad_keys_are_401(users) -> None:
    admin = users["admin"]
    admin.groups.clear()
    admin.is_superuser = True
    admin.save()
    assert _client(Token.objects.create(user=admin).key).get("/api/v1/audit/").status_code == 200
    for key in ("0" * 40, "not-a-key", "a\x00b", "x' OR '1'='1"):
        response = _client(key).get("/api/v1/policy/")
        assert response.status_code == 401, key
        assert response["WWW-Authenticate"] == "Token"
