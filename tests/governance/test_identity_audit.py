"""Every change of identity and role reaches the audit chain, with the acting admin or process.

Accounts, groups (roles) and API tokens are Django's and DRF's models, changed by the Django
admin, management commands and shells as well as by Hallmark; governance.identity_audit
audits them all.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import Group, User, update_last_login
from django.utils import timezone
from rest_framework.authtoken.models import Token

from governance.acting import acting_as
from governance.audit_trail import verify_audit_chain
from governance.models import AuditEvent
from tests.conftest import ROOT, database_url_for_subprocess
from tests.governance.audit_helpers import fast_passwords  # noqa: F401


def events(action: str, **filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("seq"))


def all_audit_text() -> str:
    return json.dumps([[e.actor, e.action, e.target_id, e.data] for e in AuditEvent.objects.all()])


@pytest.fixture
def admin_a(db) -> User:
    """Admin A: a superuser who may use the Django admin."""
    return User.objects.create_superuser("admin-a", email="a@example.invalid", password="pw-admin-a")


def test_admin_creates_a_user_and_gives_a_role_both_audited_with_the_admin_as_actor(client, admin_a) -> None:
    """The scenario: admin A creates user B in the Django admin and adds B to reviewer."""
    reviewer = Group.objects.get_or_create(name="reviewer")[0]
    client.force_login(admin_a)
    password = "correct horse battery staple 7"
    response = client.post(
        "/admin/auth/user/add/",
        {"username": "user-b", "usable_password": "true", "password1": password, "password2": password},
    )
    assert response.status_code == 302, response.content[:2000]
    b = User.objects.get(username="user-b")
    now = timezone.now()
    response = client.post(
        f"/admin/auth/user/{b.pk}/change/",
        {
            "username": "user-b",
            "first_name": "",
            "last_name": "",
            "email": "",
            "is_active": "on",
            "groups": [reviewer.pk],
            "user_permissions": [],
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": now.strftime("%Y-%m-%d"),
            "date_joined_1": now.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 302, response.content[:2000]

    [created] = events("user.created", target_id=str(b.pk))
    assert (created.actor, created.actor_id) == ("admin-a", admin_a.pk)
    assert created.target_type == "auth.user"
    assert created.data["username"] == "user-b" and created.data["is_superuser"] is False
    assert created.data["has_usable_password"] is True
    [role] = events("user.groups_changed", target_id=str(b.pk))
    assert (role.actor, role.actor_id) == ("admin-a", admin_a.pk)
    assert role.data["added"] == ["reviewer"] and role.data["groups_now"] == ["reviewer"]
    assert role.seq > created.seq
    # Re-saving the unchanged fields of the change form is not a change.
    assert events("user.changed", target_id=str(b.pk)) == []
    assert b.password not in all_audit_text() and password not in all_audit_text()
    assert verify_audit_chain().ok


def test_privilege_flips_record_old_and_new_values_and_personal_fields_only_by_name(users) -> None:
    vera = users["viewer"]
    with acting_as(users["admin"]):
        vera.is_superuser = True
        vera.is_staff = True
        vera.email = "vera@example.invalid"
        vera.save()
        vera.is_active = False
        vera.save(update_fields=["is_active"])
    first, second = events("user.changed", target_id=str(vera.pk))
    assert first.actor == second.actor == "ada"
    assert first.data["changes"] == {"is_superuser": [False, True], "is_staff": [False, True]}
    assert first.data["personal_fields_changed"] == ["email"]
    assert "vera@example.invalid" not in all_audit_text()
    assert second.data["changes"] == {"is_active": [True, False]}


def test_group_membership_is_audited_from_either_side_and_on_clear(users) -> None:
    reviewer = Group.objects.get(name="reviewer")
    vera, carl, rita = users["viewer"], users["creator"], users["reviewer"]
    start = (
        AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    )  # after the fixture's own
    with acting_as(users["admin"]):
        reviewer.user_set.add(vera)  # from the group's side
        vera.groups.remove(reviewer)  # from the user's side
        vera.groups.remove(reviewer)  # not a member any more: nothing happened, nothing recorded
        carl.groups.clear()
        reviewer.user_set.clear()  # removes rita
    vera_events = events("user.groups_changed", target_id=str(vera.pk), seq__gt=start)
    assert [(e.data.get("added"), e.data.get("removed")) for e in vera_events] == [
        (["reviewer"], None),
        (None, ["reviewer"]),
    ]
    [carl_cleared] = events("user.groups_changed", target_id=str(carl.pk), seq__gt=start)
    assert carl_cleared.data["removed"] == ["creator"] and carl_cleared.data["cleared"] is True
    [rita_cleared] = events("user.groups_changed", target_id=str(rita.pk), seq__gt=start)
    assert rita_cleared.data["removed"] == ["reviewer"] and rita_cleared.data["groups_now"] == []
    assert {e.actor for e in events("user.groups_changed", seq__gt=start)} == {"ada"}


def test_creating_renaming_and_deleting_a_group_are_audited(users) -> None:
    # A group's name is what makes it a role: a rename can grant or take away one.
    with acting_as(users["admin"]):
        group = Group.objects.create(name="helpers")
        group.user_set.add(users["nobody"])
        group.name = "auditors"
        group.save()
        pk = group.pk
        group.delete()
    assert events("group.created", target_id=str(pk))[0].data == {"name": "helpers"}
    assert events("group.renamed", target_id=str(pk))[0].data == {"name": ["helpers", "auditors"]}
    [deleted] = events("group.deleted", target_id=str(pk))
    assert deleted.data == {"name": "auditors", "members": ["nemo"]} and deleted.actor == "ada"


def test_password_changes_are_audited_without_the_hash(users) -> None:
    carl = users["creator"]
    old_hash = carl.password
    with acting_as(users["admin"]):
        carl.set_password("a new secret phrase 42")
        carl.save()
    [changed] = events("user.password_changed", target_id=str(carl.pk))
    assert changed.data == {"username": "carl", "how": "set_password", "usable": True}
    assert changed.actor == "ada"
    text = all_audit_text()
    assert carl.password not in text and old_hash not in text and "a new secret phrase 42" not in text
    assert events("user.changed", target_id=str(carl.pk)) == []


def test_last_login_updates_are_not_audited_and_a_login_is_one_event(client, users) -> None:
    carl = users["creator"]
    before = AuditEvent.objects.count()
    update_last_login(None, carl)
    assert AuditEvent.objects.count() == before
    response = client.post("/accounts/login/", {"username": "carl", "password": "pw-carl"})
    assert response.status_code == 302
    new = list(AuditEvent.objects.filter(seq__gt=before).values_list("action", "actor"))
    assert new == [("auth.login", "carl")]


def test_tokens_are_audited_with_a_fingerprint_never_the_key(users) -> None:
    carl = users["creator"]
    with acting_as(users["admin"]):
        token = Token.objects.create(user=carl)
        key = token.key
        token.delete()
    [created] = events("token.created")
    [deleted] = events("token.deleted")
    for event in (created, deleted):
        assert (event.target_type, event.target_id) == ("auth.user", str(carl.pk))
        assert event.data == {
            "username": "carl",
            "key_sha256_prefix": hashlib.sha256(key.encode()).hexdigest()[:6],
        }
        assert event.actor == "ada"
    assert key not in all_audit_text()


def test_tokens_made_in_the_django_admin_name_the_admin(client, admin_a, users) -> None:
    client.force_login(admin_a)
    response = client.post("/admin/authtoken/tokenproxy/add/", {"user": users["creator"].pk})
    assert response.status_code == 302, response.content[:2000]
    key = Token.objects.get(user=users["creator"]).key
    [created] = events("token.created")
    assert created.actor == "admin-a" and created.target_id == str(users["creator"].pk)
    assert key not in all_audit_text()


def test_deleting_a_user_is_audited_with_the_groups_they_held(users) -> None:
    nemo = users["nobody"]
    nemo.groups.add(Group.objects.get(name="viewer"))
    pk = nemo.pk
    with acting_as(users["admin"]):
        nemo.delete()
    [deleted] = events("user.deleted", target_id=str(pk))
    assert deleted.data == {"username": "nemo", "groups": ["viewer"]} and deleted.actor == "ada"


def test_changes_outside_a_request_name_the_process(users) -> None:
    vera = users["viewer"]
    vera.is_staff = True
    vera.save()
    [changed] = events("user.changed", target_id=str(vera.pk))
    assert changed.actor.startswith("system:") and changed.actor_id is None
    assert set(changed.data["via"]) == {"process", "os_user"}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url_for_subprocess(), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_createsuperuser_and_a_shell_are_system_actors(transactional_db) -> None:
    done = _manage(
        "createsuperuser",
        "--noinput",
        "--username",
        "ops",
        "--email",
        "ops@example.invalid",
        DJANGO_SUPERUSER_PASSWORD="a long operator password 9",
    )
    assert done.returncode == 0, done.stderr
    done = _manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; u = User.objects.get(username='ops'); "
        "u.is_superuser = False; u.save()",
    )
    assert done.returncode == 0, done.stderr
    ops = User.objects.get(username="ops")
    [created] = events("user.created", target_id=str(ops.pk))
    assert created.actor == "system:createsuperuser" and created.data["is_superuser"] is True
    assert created.data["via"]["process"] == "createsuperuser"
    [changed] = events("user.changed", target_id=str(ops.pk))
    assert changed.actor == "system:shell" and changed.data["changes"] == {"is_superuser": [True, False]}
    assert ops.password not in all_audit_text()
    assert verify_audit_chain().ok


def test_model_permissions_granted_to_users_and_groups_are_audited(users) -> None:
    from django.contrib.auth.models import Permission

    perm = Permission.objects.get(content_type__app_label="governance", codename="change_organisationprofile")
    viewer_group = Group.objects.get(name="viewer")
    with acting_as(users["admin"]):
        users["reviewer"].user_permissions.add(perm)
        perm.group_set.add(viewer_group)  # from the permission's side
        users["reviewer"].user_permissions.remove(perm)
    granted, taken = events("user.permissions_changed", target_id=str(users["reviewer"].pk))
    assert granted.data["added"] == ["governance.change_organisationprofile"] and granted.actor == "ada"
    assert taken.data["removed"] == ["governance.change_organisationprofile"]
    [group_grant] = events("group.permissions_changed", target_id=str(viewer_group.pk))
    assert group_grant.data == {"name": "viewer", "added": ["governance.change_organisationprofile"]}


def test_a_token_cannot_be_moved_in_the_admin_and_its_key_is_not_listed(client, admin_a, users) -> None:
    """Moving a token hands its new user's identity to whoever knows the key: the admin does
    not allow it, and lists a fingerprint instead of the key."""
    carl, nemo = users["creator"], users["nobody"]
    key = Token.objects.create(user=carl).key
    client.force_login(admin_a)
    listing = client.get("/admin/authtoken/tokenproxy/")
    assert listing.status_code == 200 and key not in listing.content.decode()
    assert hashlib.sha256(key.encode()).hexdigest()[:6] in listing.content.decode()
    client.post(f"/admin/authtoken/tokenproxy/{carl.pk}/change/", {"user": nemo.pk})
    assert Token.objects.get(key=key).user_id == carl.pk
    assert events("token.reassigned") == []


def test_a_token_moved_by_code_is_audited(users) -> None:
    carl, nemo = users["creator"], users["nobody"]
    token = Token.objects.create(user=carl)
    with acting_as(users["admin"]):
        token.user = nemo
        token.save()
    [moved] = events("token.reassigned")
    assert moved.actor == "ada" and moved.target_id == str(nemo.pk)
    assert moved.data["previous_username"] == "carl" and moved.data["username"] == "nemo"
    assert token.key not in all_audit_text()


def test_renaming_a_group_to_or_from_a_role_names_its_members(users) -> None:
    marketing = Group.objects.create(name="marketing")
    users["nobody"].groups.add(marketing)
    reviewer = Group.objects.get(name="reviewer")
    with acting_as(users["admin"]):
        reviewer.name = "reviewer-old"
        reviewer.save()
        marketing.name = "reviewer"
        marketing.save()
    taken, given = events("group.renamed")[-2:]
    assert taken.data["role"] == ["reviewer", None] and taken.data["members"] == ["rita"]
    assert given.data["role"] == [None, "reviewer"] and given.data["members"] == ["nemo"]


def test_a_fixture_that_makes_a_superuser_is_audited(transactional_db, tmp_path) -> None:
    fixture = tmp_path / "admins.json"
    fixture.write_text(
        json.dumps(
            [{"model": "auth.user", "pk": 4242, "fields": {"username": "fixture-root", "password": "!", "is_superuser": True, "is_staff": True}}]
        )
    )
    from django.core.management import call_command

    call_command("loaddata", str(fixture), verbosity=0)
    [created] = events("user.created", target_id="4242")
    assert created.data["username"] == "fixture-root"
