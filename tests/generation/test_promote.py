"""Promoting a draft: re-render and refine through the normal job path, the parent link on the
new asset, the draft as a parentOf ingredient in its C2PA manifest, and the refusals."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from typing import Any

import c2pa
import pytest
from django.core.management import call_command
from PIL import Image

from assets import retention
from assets.models import Asset
from generation import runner
from generation.models import GenerationJob
from governance.models import AuditEvent
from tests.conftest import draft_asset, wait_for


def _promote(client: Any, asset_id: Any, body: dict[str, Any]) -> Any:
    return client.post(f"/api/v1/assets/{asset_id}/promote/", body, format="json")


def _pixels(data: bytes) -> bytes:
    return Image.open(io.BytesIO(data)).convert("RGB").tobytes()


def _file(asset: Asset) -> bytes:
    with asset.file.storage.open(asset.file.name, "rb") as handle:
        return bytes(handle.read())


def _manifest(data: bytes) -> tuple[str, dict[str, Any]]:
    reader = c2pa.Reader("image/png", io.BytesIO(data))
    store = json.loads(reader.json())
    return store.get("validation_state", ""), store["manifests"][store["active_manifest"]]


def test_rerender_keeps_prompt_seed_and_size_and_links_the_parent(users, procedural, client_for) -> None:
    draft = draft_asset(users["creator"], negative_prompt="blur", params={"palette": "sea"})
    response = _promote(client_for("creator"), draft.pk, {"plugin": "procedural", "mode": "rerender"})
    assert response.status_code == 202, response.content
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert (job.source_asset_id, job.derivation, job.strength) == (draft.pk, "rerender", None)
    assert (job.prompt, job.negative_prompt, job.seed, job.width, job.height) == (
        draft.prompt,
        "blur",
        draft.seed,
        draft.width,
        draft.height,
    )
    assert job.params["palette"] == "sea"  # the target accepts it: carried over
    requested = AuditEvent.objects.get(action="generation.requested", target_id=str(job.pk))
    assert requested.data["parent"] == str(draft.pk) and requested.data["derivation"] == "rerender"

    runner.run(str(job.pk))
    final = Asset.objects.get(job=job)
    assert final.parent_id == draft.pk
    # Same generator, same prompt, seed and size: the same pixels, a new asset and manifest.
    assert _pixels(_file(final)) == _pixels(_file(draft)) and final.sha256 != draft.sha256
    assert AuditEvent.objects.get(action="asset.created", target_id=str(final.pk)).data["parent"] == str(
        draft.pk
    )

    client = client_for("viewer")
    assert client.get(f"/api/v1/assets/{final.pk}/").json()["parent"] == str(draft.pk)
    assert client.get(f"/api/v1/assets/{draft.pk}/").json()["children"] == [str(final.pk)]
    listed = {row["id"]: row for row in client.get("/api/v1/assets/").json()["results"]}
    assert listed[str(draft.pk)]["children"] == [str(final.pk)] and listed[str(draft.pk)]["parent"] is None
    call_command("verify_audit")


def test_the_final_file_names_the_draft_as_its_parent_ingredient(users, procedural) -> None:
    draft = draft_asset(users["creator"])
    job, _ = _submit_promotion(users, draft, {"plugin": "procedural", "mode": "refine", "strength": 0.5})
    runner.run(str(job.pk))
    final = Asset.objects.get(job=job)
    state, manifest = _manifest(_file(final))
    assert state in ("Valid", "Trusted")
    [ingredient] = manifest["ingredients"]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["title"] == f"{draft.pk}.png"
    assert ingredient["format"] == "image/png"
    # The ingredient's own manifest (the draft's signature and hash binding) validated too; its
    # signer is the development CA's, untrusted here as for every file (no trust anchor given).
    checked = ingredient["validation_results"]["activeManifest"]
    failures = {entry["code"] for entry in checked.get("failure", [])}
    assert failures <= {"signingCredential.untrusted"} and {
        "claimSignature.validated",
        "assertion.dataHash.match",
    } <= {entry["code"] for entry in checked["success"]}
    # The ingredient is the draft's own signed file: its manifest travels inside the final's.
    parent_manifest = ingredient["active_manifest"]
    reader = json.loads(c2pa.Reader("image/png", io.BytesIO(_file(final))).json())
    drafted = reader["manifests"][parent_manifest]
    generation = next(a for a in drafted["assertions"] if a["label"] == "org.hallmark.generation")
    assert generation["data"]["asset_id"] == str(draft.pk)
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"][
        "actions"
    ]
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
    ours = next(a for a in manifest["assertions"] if a["label"] == "org.hallmark.generation")["data"]
    assert ours["parent"] == {"asset_id": str(draft.pk), "derivation": "refine", "strength": 0.5}


def _submit_promotion(
    users: dict[str, Any], draft: Asset, body: dict[str, Any]
) -> tuple[GenerationJob, bool]:
    from generation import promote

    return promote.promote(draft.pk, acting_user=users["creator"], body=body)


def test_refine_redraws_more_with_more_strength(users, procedural) -> None:
    draft = draft_asset(users["creator"], params={"steps": 8})
    original = Image.open(io.BytesIO(_file(draft))).convert("L")

    def changed(strength: float) -> float:
        job, _ = _submit_promotion(
            users, draft, {"plugin": "procedural", "mode": "refine", "strength": strength}
        )
        runner.run(str(job.pk))
        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        refined = Image.open(io.BytesIO(_file(Asset.objects.get(job=job)))).convert("L")
        diff = [abs(a - b) for a, b in zip(original.tobytes(), refined.tobytes(), strict=True)]
        return sum(diff) / len(diff)

    low, high = changed(0.1), changed(1.0)
    assert 0 < low < high


def test_a_refine_from_a_tampered_file_fails_and_makes_nothing(users, procedural, settings) -> None:
    draft = draft_asset(users["creator"])
    job, _ = _submit_promotion(users, draft, {"plugin": "procedural", "mode": "refine"})
    path = draft.file.storage.path(draft.file.name)
    with open(path, "ab") as handle:
        handle.write(b"tampered")
    runner.run(str(job.pk))
    job.refresh_from_db()
    assert (job.status, job.error_code) == ("failed", "source_unavailable")
    assert not Asset.objects.filter(job=job).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"plugin": "procedural", "mode": "upscale"}, "mode"),
        ({"plugin": "procedural"}, "mode"),
        ({"plugin": "procedural", "mode": "refine", "strength": 0.01}, "strength"),
        ({"plugin": "procedural", "mode": "refine", "strength": 1.5}, "strength"),
        ({"plugin": "procedural", "mode": "refine", "strength": "much"}, "strength"),
        ({"plugin": "procedural", "mode": "rerender", "strength": 0.5}, "strength"),
        ({"mode": "rerender"}, "plugin"),
        ({"plugin": "procedural", "tier": "final", "mode": "rerender"}, "plugin"),
        ({"tier": "final", "mode": "rerender"}, "tier"),
        ({"tier": "best", "mode": "rerender"}, "tier"),
        ({"plugin": "no-such-plugin", "mode": "rerender"}, "plugin"),
        ({"plugin": "dummy", "mode": "refine"}, "mode"),
        ({"plugin": "procedural", "mode": "rerender", "colour": "red"}, "colour"),
    ],
)
def test_bad_promotions_are_400s_naming_the_field(
    users, procedural, enable_plugin, client_for, body, field
) -> None:
    enable_plugin("dummy")
    draft = draft_asset(users["creator"])
    before = GenerationJob.objects.count()
    response = _promote(client_for("creator"), draft.pk, body)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert GenerationJob.objects.count() == before


def test_unknown_or_deleted_assets_are_404_and_viewers_may_not_promote(users, procedural, client_for) -> None:
    client = client_for("creator")
    assert _promote(client, uuid.uuid4(), {"plugin": "procedural", "mode": "rerender"}).status_code == 404
    draft = draft_asset(users["creator"])
    assert (
        _promote(client_for("viewer"), draft.pk, {"plugin": "procedural", "mode": "rerender"}).status_code
        == 403
    )
    retention.soft_delete(draft.pk, acting_user=users["creator"])
    assert _promote(client, draft.pk, {"plugin": "procedural", "mode": "rerender"}).status_code == 404


def test_rerender_adapts_the_size_to_the_target(users, procedural, enable_plugin) -> None:
    from generation.promote import adapted_size
    from plugins.builtin.ideogram.plugin import IdeogramV2Plugin
    from plugins.builtin.sd35 import SD35MediumPlugin

    medium = SD35MediumPlugin({"device": "cpu"})
    assert adapted_size(medium, 128, 96) == (336, 256)  # raised into range, ratio kept, multiples of 16
    assert adapted_size(medium, 2048, 1024) == (1440, 720)
    ideogram = IdeogramV2Plugin.__new__(IdeogramV2Plugin)
    width, height = adapted_size(ideogram, 1600, 900)
    assert width > height and (width, height) in IdeogramV2Plugin.capabilities.aspect_ratios.values()


def test_only_parameters_chosen_for_the_draft_are_carried_to_another_model(users) -> None:
    from generation.promote import derived_fields
    from plugins.builtin.sd35 import SD35LargeTurboPlugin, SD35MediumPlugin

    medium = SD35MediumPlugin({"device": "cpu"})
    draft = Asset(
        plugin_id=SD35LargeTurboPlugin.id,
        prompt="a quay",
        negative_prompt="",
        seed=12,
        width=1024,
        height=1024,
        params={"steps": 4, "guidance_scale": 0.0, "sampler": "FlowMatchEulerDiscreteScheduler"},
    )
    # Turbo's defaults (4 steps, no guidance) are no guide for Medium: its own defaults apply.
    assert derived_fields(draft, medium)["params"] == {}
    draft.params = {"steps": 12, "guidance_scale": 3.0}
    assert derived_fields(draft, medium)["params"] == {"steps": 12, "guidance_scale": 3.0}
    assert derived_fields(draft, medium)["seed"] == 12


def test_both_asset_pages_show_the_lineage(users, procedural, client) -> None:
    draft = draft_asset(users["creator"])
    job, _ = _submit_promotion(users, draft, {"plugin": "procedural", "mode": "refine", "strength": 0.25})
    runner.run(str(job.pk))
    final = Asset.objects.get(job=job)
    client.force_login(users["viewer"])
    draft_page = client.get(f"/assets/{draft.pk}/").content.decode()
    final_page = client.get(f"/assets/{final.pk}/").content.decode()
    assert "Promoted to" in draft_page and f'href="/assets/{final.pk}/"' in draft_page
    assert "Promoted from" in final_page and f'href="/assets/{draft.pk}/"' in final_page
    assert "refine, strength 0.25" in final_page
    retention.soft_delete(draft.pk, acting_user=users["admin"])
    final_page = client.get(f"/assets/{final.pk}/").content.decode()
    assert f'href="/assets/{draft.pk}/"' not in final_page and "(deleted)" in final_page


def test_a_parent_is_kept_by_the_purge_until_its_children_are_gone(users, procedural) -> None:
    from datetime import timedelta

    from django.utils import timezone

    draft = draft_asset(users["creator"])
    job, _ = _submit_promotion(users, draft, {"plugin": "procedural", "mode": "rerender"})
    runner.run(str(job.pk))
    final = Asset.objects.get(job=job)
    later = timezone.now() + timedelta(days=400)
    retention.soft_delete(draft.pk, acting_user=users["admin"])
    kept = retention.purge_deleted(now=later)
    assert kept.skipped == {str(draft.pk): "still referenced by assets.asset"}
    retention.soft_delete(final.pk, acting_user=users["admin"])
    retention.purge_deleted(now=later)
    retention.purge_deleted(now=later)  # the parent goes once its child has gone
    assert not Asset.objects.filter(pk__in=[draft.pk, final.pk]).exists()
    assert GenerationJob.objects.get(pk=job.pk).source_asset_id is None


@pytest.mark.integration
def test_promote_through_the_api_and_a_real_worker(celery_worker, client_for, procedural) -> None:
    client = client_for("creator")
    made = client.post(
        "/api/v1/generations/",
        {"plugin": "procedural", "prompt": "QUAY", "seed": 5, "width": 128, "height": 128},
        format="json",
    ).json()

    def finished(job_id: str) -> dict[str, Any] | None:
        body = client.get(f"/api/v1/generations/{job_id}/").json()
        return body if body["status"] in ("succeeded", "failed", "cancelled") else None

    draft_id = wait_for(lambda: finished(made["id"]), timeout=60)["assets"][0]
    finals = {}
    for mode, extra in (("rerender", {}), ("refine", {"strength": 0.3})):
        response = _promote(client, draft_id, {"plugin": "procedural", "mode": mode, **extra})
        assert response.status_code == 202, response.content
        job = wait_for(lambda response=response: finished(response.json()["id"]), timeout=60)
        assert job["status"] == "succeeded", job
        finals[mode] = client.get(f"/api/v1/assets/{job['assets'][0]}/").json()
        assert finals[mode]["parent"] == draft_id
        body = b"".join(client.get(f"/api/v1/assets/{job['assets'][0]}/file/").streaming_content)
        assert hashlib.sha256(body).hexdigest() == finals[mode]["sha256"]
        state, manifest = _manifest(body)
        assert state in ("Valid", "Trusted") and manifest["ingredients"][0]["relationship"] == "parentOf"
    assert finals["refine"]["params"]["strength"] == 0.3
    assert sorted(client.get(f"/api/v1/assets/{draft_id}/").json()["children"]) == sorted(
        f["id"] for f in finals.values()
    )


def test_one_key_promotes_one_asset_one_way(users, procedural, client_for) -> None:
    """A key's replay is the same promotion: not another asset's (even with the same prompt,
    seed and size) and not another mode."""
    client = client_for("creator")
    draft = draft_asset(users["creator"])
    twin = draft_asset(users["creator"])  # the same request: the same prompt, seed and size
    body = {"plugin": "procedural", "mode": "rerender", "idempotency_key": "promote-1"}
    first = _promote(client, draft.pk, body)
    assert first.status_code == 202, first.content
    assert _promote(client, draft.pk, body).json()["id"] == first.json()["id"]
    assert _promote(client, twin.pk, body).status_code == 409
    assert _promote(client, draft.pk, {**body, "mode": "refine", "strength": 0.5}).status_code == 409
    assert GenerationJob.objects.filter(source_asset_id__isnull=False).count() == 1
