"""The audit log page: filters, newest first, pagination, links, and the verify button."""

from __future__ import annotations

import re

import pytest

from governance import checkpoints
from governance.audit_trail import record_event
from tests.governance.audit_helpers import (  # noqa: F401
    delete_tail,
    edit_event_data,
    fast_passwords,
    make_asset,
    quiet_identity_audit,
)

# Written around exact seq numbers: the users fixture and logins add no events here.
pytestmark = pytest.mark.usefixtures("quiet_identity_audit")


@pytest.fixture
def reviewer_client(client, users):
    client.force_login(users["reviewer"])
    return client


def seqs(html: bytes) -> list[int]:
    return [int(s) for s in re.findall(rb'data-seq="(\d+)"', html)]


def test_newest_first_with_seq_time_actor_action_target_and_hash(reviewer_client, users) -> None:
    asset = make_asset(users["creator"])
    record_event("test.note", acting_user=users["admin"], target=("tests.thing", "x"), data={})
    page = reviewer_client.get("/audit/")
    assert page.status_code == 200
    html = page.content.decode()
    assert seqs(page.content) == [2, 1]
    assert f'href="/assets/{asset.pk}/"' in html  # asset targets link to the asset page
    assert "tests.thing:x" in html and "ada" in html and "system:worker" in html
    assert "test.note" in html and "asset.created" in html
    from governance.models import AuditEvent

    assert AuditEvent.objects.get(seq=2).hash[:12] in html


def test_filters_combine(reviewer_client, users) -> None:
    for n in range(6):
        record_event(
            "test.a" if n % 2 else "test.b",
            acting_user=users["admin"] if n < 3 else users["reviewer"],
            target=("tests.thing", str(n % 3)),
            data={},
        )
    assert seqs(reviewer_client.get("/audit/", {"action": "test.a"}).content) == [6, 4, 2]
    assert seqs(reviewer_client.get("/audit/", {"actor": "rita"}).content) == [6, 5, 4]
    assert seqs(reviewer_client.get("/audit/", {"target_type": "tests.thing", "target_id": "1"}).content) == [
        5,
        2,
    ]
    assert seqs(reviewer_client.get("/audit/", {"action": "test.a", "actor": "ada"}).content) == [2]
    assert seqs(reviewer_client.get("/audit/", {"after": "2000-01-01", "before": "2999-01-01"}).content) == [
        6,
        5,
        4,
        3,
        2,
        1,
    ]
    assert seqs(reviewer_client.get("/audit/", {"before": "2000-01-01"}).content) == []
    bad = reviewer_client.get("/audit/", {"after": "soon"})
    assert bad.status_code == 400 and b"ISO 8601" in bad.content


def test_htmx_gets_the_results_only_and_pages_keep_filters(reviewer_client, users) -> None:
    for _ in range(55):
        record_event("test.bulk", acting_user=users["admin"], target=("tests.thing", "1"), data={})
    partial = reviewer_client.get("/audit/", {"action": "test.bulk"}, HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and b"<table" in partial.content
    assert seqs(partial.content)[:2] == [55, 54] and len(seqs(partial.content)) == 50
    assert b"?action=test.bulk&page=2" in partial.content
    second = reviewer_client.get("/audit/", {"action": "test.bulk", "page": 2})
    assert seqs(second.content) == [5, 4, 3, 2, 1]


def test_verify_button_reports_an_intact_and_a_broken_chain(reviewer_client, users) -> None:
    for n in range(3):
        record_event("test.event", acting_user=users["admin"], target=("tests.thing", "1"), data={"n": n})
    page = reviewer_client.get("/audit/").content
    assert b'hx-post="/audit/verify/"' in page
    ok = reviewer_client.post("/audit/verify/", HTTP_HX_REQUEST="true")
    assert b'data-verify="ok"' in ok.content and b"3 events" in ok.content
    edit_event_data(2, {"n": 99})
    broken = reviewer_client.post("/audit/verify/", HTTP_HX_REQUEST="true")
    assert b'data-verify="broken"' in broken.content
    assert b"audit event seq 2: content does not match its hash" in broken.content


def test_verify_button_checks_the_latest_checkpoint(reviewer_client, users, settings, tmp_path) -> None:
    settings.HALLMARK_AUDIT_SIGNING_KEY = tmp_path / "key.pem"
    settings.HALLMARK_AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    for n in range(4):
        record_event("test.event", acting_user=users["admin"], target=("tests.thing", "1"), data={"n": n})
    checkpoints.init_key()
    checkpoints.create_checkpoint()
    assert b"seq 4" in reviewer_client.post("/audit/verify/").content
    delete_tail(3, rewind_head=True)
    response = reviewer_client.post("/audit/verify/")
    assert b'data-verify="broken"' in response.content and b"seq 4: is missing" in response.content


@pytest.mark.parametrize("role", ["viewer", "creator", "nobody"])
def test_other_roles_are_refused(client, users, role) -> None:
    client.force_login(users[role])
    assert client.get("/audit/").status_code == 403
    assert client.post("/audit/verify/").status_code == 403


def test_anonymous_is_sent_to_login(client) -> None:
    assert client.get("/audit/")["Location"].startswith("/accounts/login/")
