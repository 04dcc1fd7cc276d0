"""Asset files in an S3-compatible object store (``HALLMARK_STORAGE=s3``), against a real local
server (moto's server mode, ``s3_store`` in tests/conftest.py): content-addressed keys, no
object under its final key unless whole and checked, a crashed attempt's objects removed,
downloads streamed or redirected, and verify_assets, evidence packs and purge on the store."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from assets import retention
from assets import services as asset_services
from assets import storage as asset_storage
from assets.models import Asset
from generation import runner, services
from generation.models import GenerationJob
from hallmark import environment


def _generate(users, prompt: str = "a lighthouse on a rock", seed: int = 3) -> Asset:
    job, _ = services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={"prompt": prompt, "width": 64, "height": 64, "seed": seed},
    )
    runner.run(str(job.pk))
    return Asset.objects.get(job=job)


def _media_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_files_go_to_the_bucket_under_content_addresses(s3_store, users, procedural, settings) -> None:
    asset = _generate(users)
    assert s3_store.keys() == sorted([asset.file.name, asset.thumbnail.name])
    assert asset.file.name == f"assets/{asset.sha256[:2]}/{asset.sha256[2:4]}/{asset.sha256}.png"
    stored = s3_store.get(asset.file.name)
    assert hashlib.sha256(stored).hexdigest() == asset.sha256
    assert _media_files(settings) == []  # nothing on the local disk


def test_downloads_stream_through_the_web_process(s3_store, users, procedural, client_for) -> None:
    asset = _generate(users)
    client = client_for("viewer")
    response = client.get(f"/api/v1/assets/{asset.pk}/file/")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert hashlib.sha256(b"".join(response.streaming_content)).hexdigest() == asset.sha256
    assert response["Content-Length"] == str(asset.byte_size) and response["ETag"] == f'"{asset.sha256}"'
    thumbnail = client.get(f"/api/v1/assets/{asset.pk}/thumbnail/")
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/webp"
    assert b"".join(thumbnail.streaming_content) == s3_store.get(asset.thumbnail.name)


def test_downloads_redirect_to_a_presigned_url_when_asked(
    s3_store, users, procedural, client_for, settings
) -> None:
    settings.HALLMARK_DOWNLOAD_REDIRECT = True
    settings.HALLMARK_DOWNLOAD_URL_EXPIRES = 60
    asset = _generate(users)
    response = client_for("viewer").get(f"/api/v1/assets/{asset.pk}/file/")
    assert response.status_code == 302 and response["Cache-Control"] == "private, no-store"
    location = response["Location"]
    assert (
        location.startswith(s3_store.server.endpoint) and "Signature=" in location and "Expires=" in location
    )
    fetched = requests.get(location, timeout=10)
    assert fetched.status_code == 200 and fetched.headers["Content-Type"] == "image/png"
    assert hashlib.sha256(fetched.content).hexdigest() == asset.sha256
    # The URL is signed: the same key without the signature is refused by the store.
    assert requests.get(location.split("?")[0], timeout=10).status_code == 403
    # Permissions come first: no role, no URL.
    assert client_for("nobody").get(f"/api/v1/assets/{asset.pk}/file/").status_code == 403


def test_each_object_is_sent_with_the_checksums_the_store_verifies(s3_store, users, procedural) -> None:
    # The store refuses a body that does not match them (AWS S3, MinIO); moto keeps what it is
    # sent without checking, so here we check that they were sent and name the right bytes.
    asset = _generate(users)
    client = s3_store.server.client()
    for name in (asset.file.name, asset.thumbnail.name):
        head = client.head_object(Bucket=s3_store.name, Key=name, ChecksumMode="ENABLED")
        assert (
            head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(s3_store.get(name)).digest()).decode()
        )
    assert asset_storage.integrity_headers(b"abc") == {
        "ContentMD5": "kAFQmDzST7DWlj99KOF/cg==",
        "ChecksumAlgorithm": "SHA256",
        "ChecksumSHA256": "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
    }


def test_a_crashed_attempts_objects_are_removed_before_the_job_runs_again(
    s3_store, users, procedural
) -> None:
    from plugins.builtin.procedural import ProceduralPlugin
    from plugins.validation import build_request

    job, _ = services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={"prompt": "half done", "width": 64, "height": 64},
    )
    claimed = runner._claim(str(job.pk), "dead-worker:1")
    assert claimed is not None
    plugin = ProceduralPlugin()
    result = plugin.generate(
        build_request(plugin, prompt="half done", width=64, height=64, seed=5),
        lambda s, t: None,
        lambda: False,
    )
    prepared = asset_services.prepare(
        claimed,
        result.images,
        identity=plugin.identity().as_dict(),
        license=plugin.license.as_dict(),
        is_ai_model=False,
    )
    GenerationJob.objects.filter(pk=job.pk).update(pending_files=prepared[0].file_names, heartbeat_at=None)
    asset_services.write_files(prepared)
    assert s3_store.keys() == sorted(prepared[0].file_names)

    runner.run(str(job.pk))  # the next attempt: its claim removes the orphans, then it runs
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 2
    asset = Asset.objects.get(job=job)
    assert s3_store.keys() == sorted([asset.file.name, asset.thumbnail.name])


def test_verify_assets_reads_the_bucket(s3_store, users, procedural) -> None:
    intact, changed, missing = (_generate(users, prompt=f"asset {i}", seed=i) for i in range(3))
    call_command("verify_assets", stdout=io.StringIO())  # all clean
    client = s3_store.server.client()
    client.put_object(
        Bucket=s3_store.name, Key=changed.file.name, Body=s3_store.get(changed.file.name) + b"!"
    )
    client.delete_object(Bucket=s3_store.name, Key=missing.file.name)
    out = io.StringIO()
    with pytest.raises(CommandError, match="3 assets checked, 2 with problems"):
        call_command("verify_assets", stdout=out)
    codes = {(line.split()[0], line.split()[1].rstrip(":")) for line in out.getvalue().splitlines()}
    assert (str(changed.pk), "hash_mismatch") in codes and (str(missing.pk), "missing_file") in codes
    assert not any(asset_id == str(intact.pk) for asset_id, _ in codes)


def test_evidence_pack_carries_the_stored_file(s3_store, users, procedural, client_for) -> None:
    asset = _generate(users)
    response = client_for("reviewer").get(f"/api/v1/assets/{asset.pk}/evidence/")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as pack:
        assert pack.read(f"asset/{asset.pk}.png") == s3_store.get(asset.file.name)


def test_purge_deletes_the_objects(s3_store, users, procedural, django_capture_on_commit_callbacks) -> None:
    asset, kept = _generate(users, seed=1), _generate(users, seed=2)
    retention.soft_delete(asset.pk, acting_user=users["creator"])
    Asset.objects.filter(pk=asset.pk).update(deleted_at=timezone.now() - timedelta(days=400))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_deleted", stdout=io.StringIO())
    assert s3_store.keys() == sorted([kept.file.name, kept.thumbnail.name])


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HALLMARK_STORAGE": "ftp"}, "HALLMARK_STORAGE"),
        ({"HALLMARK_STORAGE": "s3"}, "AWS_STORAGE_BUCKET_NAME"),
        (
            {"HALLMARK_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": "b", "AWS_S3_ENDPOINT_URL": "file:///etc"},
            "AWS_S3_ENDPOINT_URL",
        ),
        (
            {"HALLMARK_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": "b", "AWS_S3_ADDRESSING_STYLE": "odd"},
            "AWS_S3_ADDRESSING_STYLE",
        ),
        ({"HALLMARK_DOWNLOAD_URL_EXPIRES": "0"}, "HALLMARK_DOWNLOAD_URL_EXPIRES"),
        ({"HALLMARK_DOWNLOAD_URL_EXPIRES": "soon"}, "HALLMARK_DOWNLOAD_URL_EXPIRES"),
        ({"HALLMARK_DOWNLOAD_URL_EXPIRES": "3601"}, "HALLMARK_DOWNLOAD_URL_EXPIRES=3601: expected 1 to 3600"),
    ],
)
def test_bad_storage_settings_stop_the_process_naming_the_variable(env, message, monkeypatch) -> None:
    monkeypatch.delenv("AWS_STORAGE_BUCKET_NAME", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=message):
        environment.media_storage()
        environment.download_url_expires()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"AWS_S3_ENDPOINT_URL": "http://minio.internal:9000"},
            "AWS_S3_ENDPOINT_URL=.*HALLMARK_S3_ALLOW_HTTP",
        ),
        ({"AWS_S3_ENDPOINT_URL": "http://10.0.0.5:9000"}, "AWS_S3_ENDPOINT_URL"),
        ({"AWS_S3_ENDPOINT_URL": "http://127.0.0.1.example.com"}, "AWS_S3_ENDPOINT_URL"),
        ({"AWS_S3_ENDPOINT_URL": "http://localhost.example.com"}, "AWS_S3_ENDPOINT_URL"),
        ({"AWS_S3_ENDPOINT_URL": "http://[::ffff:10.0.0.5]:9000"}, "AWS_S3_ENDPOINT_URL"),
        ({"AWS_S3_ENDPOINT_URL": "http://minio", "HALLMARK_S3_ALLOW_HTTP": "no"}, "AWS_S3_ENDPOINT_URL"),
        ({"AWS_S3_ENDPOINT_URL": "http://[::1"}, "AWS_S3_ENDPOINT_URL"),
        ({"AWS_S3_ENDPOINT_URL": "https://"}, "AWS_S3_ENDPOINT_URL"),
        # boto3 itself reads these when AWS_S3_ENDPOINT_URL is unset.
        ({"AWS_ENDPOINT_URL_S3": "http://minio.internal:9000"}, "AWS_ENDPOINT_URL_S3"),
        ({"AWS_ENDPOINT_URL": "http://minio.internal:9000"}, "AWS_ENDPOINT_URL"),
    ],
)
def test_a_plain_http_store_is_refused_unless_on_this_host_or_allowed(env, message, monkeypatch) -> None:
    # Files and presigned links would cross the network unencrypted.
    for name in ("AWS_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "HALLMARK_S3_ALLOW_HTTP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_STORAGE_BUCKET_NAME", "b")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=message):
        environment.s3_options()


@pytest.mark.parametrize(
    ("endpoint", "allow"),
    [
        ("https://minio.internal:9000", None),
        ("http://127.0.0.1:9000", None),
        ("http://127.3.2.1:9000", None),
        ("http://localhost:9000", None),
        ("http://LOCALHOST", None),
        ("http://[::1]:9000", None),
        ("http://minio.internal:9000", "1"),
        ("http://minio.internal:9000", "true"),
    ],
)
def test_https_loopback_http_or_an_explicit_opt_in_are_accepted(endpoint, allow, monkeypatch) -> None:
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "HALLMARK_S3_ALLOW_HTTP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_STORAGE_BUCKET_NAME", "b")
    monkeypatch.setenv("AWS_S3_ENDPOINT_URL", endpoint)
    if allow is not None:
        monkeypatch.setenv("HALLMARK_S3_ALLOW_HTTP", allow)
    assert environment.s3_options()["endpoint_url"] == endpoint


def test_credentials_stay_out_of_django_settings(s3_store) -> None:
    options = environment.s3_options()
    assert options["bucket_name"] == s3_store.name and options["endpoint_url"] == s3_store.server.endpoint
    assert not any("key" in name or "secret" in name for name in options)


def test_checks_warn_of_a_half_made_multi_host_setup(settings) -> None:
    from assets.checks import multi_host_settings

    settings.HALLMARK_STORAGE = "s3"
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    ids = {message.id for message in multi_host_settings()}
    # The test database is SQLite in the embedded run, PostgreSQL in the other.
    assert ids >= {"hallmark.W102", "hallmark.W103"}
    assert ("hallmark.W101" in ids) == (connection.vendor == "sqlite")

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x"}
    }
    assert {message.id for message in multi_host_settings()} <= {"hallmark.W101"}

    settings.HALLMARK_STORAGE = "filesystem"
    assert multi_host_settings() == []
    settings.HALLMARK_DOWNLOAD_REDIRECT = True
    assert [message.id for message in multi_host_settings()] == ["hallmark.W104"]
