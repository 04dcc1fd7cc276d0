"""What a job's error tells whom: configuration (paths, hosts, variable names) is for admins."""

from __future__ import annotations

import pytest

from generation import runner, services
from generation.models import GenerationJob


@pytest.fixture
def failed_for_configuration(users, procedural, settings, tmp_path) -> GenerationJob:
    """A job that failed because the C2PA signer's files are broken: its error names them."""
    chain = tmp_path / "secret-pki" / "signer-chain.pem"
    chain.parent.mkdir()
    chain.write_text("not a certificate")
    (tmp_path / "secret-pki" / "signer-key.pem").write_text("not a key")
    settings.HALLMARK_C2PA_CERT_CHAIN = chain
    settings.HALLMARK_C2PA_PRIVATE_KEY = tmp_path / "secret-pki" / "signer-key.pem"
    job, _ = services.submit(acting_user=users["creator"], plugin_id="procedural", fields={"prompt": "x"})
    runner.run(str(job.pk))
    job.refresh_from_db()
    assert job.status == "failed" and "secret-pki" in job.error
    return job


def test_a_configuration_failure_names_no_path_to_the_requester(client_for, failed_for_configuration) -> None:
    job = failed_for_configuration
    for role in ("creator", "viewer", "reviewer"):
        shown = client_for(role).get(f"/api/v1/generations/{job.pk}/").json()
        assert "secret-pki" not in shown["error"] and job.error_code in shown["error"]
    assert "secret-pki" in client_for("admin").get(f"/api/v1/generations/{job.pk}/").json()["error"]


def test_the_job_page_shows_the_same(client, users, failed_for_configuration) -> None:
    job = failed_for_configuration
    client.force_login(users["creator"])
    page = client.get(f"/jobs/{job.pk}/progress/").content.decode()
    assert "secret-pki" not in page and job.error_code in page
    client.force_login(users["admin"])
    assert "secret-pki" in client.get(f"/jobs/{job.pk}/progress/").content.decode()


def test_a_request_failure_is_shown_to_everyone_as_it_is(users, procedural) -> None:
    job, _ = services.submit(acting_user=users["creator"], plugin_id="procedural", fields={"prompt": "x"})
    job.error, job.error_code = "Ideogram refused the prompt (safety).", "provider_refused"
    assert job.error_for(sees_configuration=False) == job.error


@pytest.mark.parametrize(
    "params",
    ['{"steps": ' + "9" * 5000 + "}", "[" * 100_000 + "]" * 100_000],
    ids=["integer-of-5000-digits", "nesting-100000-deep"],
)
def test_the_generate_form_answers_unparseable_params_beside_the_field(client, users, procedural, params) -> None:
    client.force_login(users["creator"])
    response = client.post("/generate/", {"plugin": "procedural", "prompt": "x", "params": params})
    assert response.status_code == 400
    assert 'data-field="params"' in response.content.decode()
    assert not GenerationJob.objects.exists()
