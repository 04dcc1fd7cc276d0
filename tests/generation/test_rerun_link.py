"""The job page's "run again" link names the job, not its prompt: a URL lands in access logs
and browser history, where a confidential prompt (HALLMARK_EMBED_PROMPTS off) must not go. The
generate form reads the job's settings on the server."""

from __future__ import annotations

from typing import Any

from django.test import Client

from generation import services as generation_services


def test_run_again_links_to_the_job_and_the_form_reads_its_settings(
    users: dict[str, Any], procedural: str
) -> None:
    secret = "launch poster for Project Falcon"
    job, _ = generation_services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={
            "prompt": secret,
            "negative_prompt": "blurry",
            "seed": 9,
            "width": 96,
            "height": 64,
            "params": {"steps": 3},
        },
    )
    client = Client()
    client.force_login(users["creator2"])  # every creator may run any job's settings again
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    links = [part.split('"', 1)[0] for part in html.split('href="')[1:]]
    rerun = [link for link in links if link.startswith("/generate/?")]
    assert rerun == [f"/generate/?from_job={job.pk}"]
    assert not [link for link in links if "Falcon" in link or "blurry" in link]

    form = client.get(rerun[0])
    values = form.context["values"]
    assert (values["prompt"], values["negative_prompt"], values["seed"], values["plugin"]) == (
        secret,
        "blurry",
        "9",
        "procedural",
    )
    assert next(p for p in form.context["fields"].params if p.key == "steps").value == "3"
    # Not a job: the plain form, nothing pre-filled, never a 500.
    for wrong in ("00000000-0000-0000-0000-000000000000", "nope", "-" * 36, "\x00"):
        empty = client.get("/generate/", {"from_job": wrong})
        assert empty.status_code == 200 and not empty.context["values"].get("prompt")
