"""The generate form's fields follow the chosen plugin's declarations (Django's test client)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from generation.models import GenerationJob
from plugins import services


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def plugins_on(users: dict[str, Any], procedural: str) -> None:
    """Procedural and both Ideogram plugins enabled (their declarations need no key)."""
    for plugin_id in ("ideogram-v2", "ideogram-v2a-turbo"):
        services.update_plugin(plugin_id, acting_user=users["admin"], enabled=True)


def _names(response: Any) -> set[str]:
    """The names of the form controls a fields response shows."""
    import re

    return set(re.findall(r'name="([^"]+)"', response.content.decode()))


def test_fields_partial_for_a_free_size_plugin(users: dict[str, Any], plugins_on: None) -> None:
    response = _client(users["creator"]).get("/generate/fields/", {"plugin": "procedural"})
    assert response.status_code == 200
    fields = response.context["fields"]
    assert (fields.sizes.minimum, fields.sizes.maximum, fields.sizes.multiple_of) == (64, 2048, 8)
    html = response.content.decode()
    assert 'name="width" type="number" inputmode="numeric" min="64" max="2048" step="8"' in html
    assert {
        "width",
        "height",
        "seed",
        "num_images",
        "negative_prompt",
        "param.steps",
        "param.palette",
    } <= _names(response)
    assert "size" not in _names(response)
    # Declared parameters get typed inputs: bounds for numbers, a select for a choice.
    assert 'id="f-param-steps" name="param.steps" type="number" min="1" max="50" step="1"' in html
    assert '<label for="f-param-palette">Palette</label>' in html
    assert 'max="4"' in html  # up to capabilities.max_images images


def test_fields_partial_for_an_aspect_ratio_plugin_and_negative_prompt_only_where_supported(
    users: dict[str, Any], plugins_on: None
) -> None:
    client = _client(users["creator"])
    v2 = client.get("/generate/fields/", {"plugin": "ideogram-v2", "width": "1312", "height": "736"})
    names = _names(v2)
    assert "size" in names and "width" not in names and "height" not in names
    # The ratio the size select sets is not offered twice as a parameter.
    assert "param.aspect_ratio" not in names and {"param.style_type", "param.magic_prompt_option"} <= names
    assert v2.context["fields"].selected_size == "1312x736"  # width and height pre-select a ratio
    assert "16:9 (1312 \N{MULTIPLICATION SIGN} 736)" in v2.content.decode()
    assert "negative_prompt" in names
    turbo = client.get("/generate/fields/", {"plugin": "ideogram-v2a-turbo"})
    assert "negative_prompt" not in _names(turbo)
    assert turbo.context["fields"].selected_size == "1024x1024"  # the first ratio by default
    # Disabled, unknown or missing: no fields.
    services.update_plugin("ideogram-v2", acting_user=users["admin"], enabled=False)
    assert client.get("/generate/fields/", {"plugin": "ideogram-v2"}).status_code == 400
    assert client.get("/generate/fields/", {"plugin": "no-such-plugin"}).status_code == 400
    assert client.get("/generate/fields/").context["fields"].plugin_id == "ideogram-v2a-turbo"  # the first


def test_only_enabled_plugins_are_offered_and_the_url_prefills_the_form(
    users: dict[str, Any], procedural: str
) -> None:
    response = _client(users["creator"]).get(
        "/generate/",
        {"plugin": "procedural", "prompt": "a red kite", "seed": "77", "width": "128", "height": "96"},
    )
    assert response.status_code == 200
    assert [p for p, _ in response.context["plugins"]] == ["procedural"]
    html = response.content.decode()
    assert "a red kite</textarea>" in html
    for name, value in (("seed", "77"), ("width", "128"), ("height", "96")):
        assert f'name="{name}"' in html and f'value="{value}"' in html
    # A plugin that is not enabled is not chosen; the first enabled one is.
    other = _client(users["creator"]).get("/generate/", {"plugin": "ideogram-v2", "prompt": "x"})
    assert other.context["values"]["plugin"] == "procedural"
    assert "not an enabled plugin" in other.content.decode()


def test_declared_inputs_become_params_and_errors_sit_beside_them(
    users: dict[str, Any], procedural: str
) -> None:
    client = _client(users["creator"])
    base = {
        "plugin": "procedural",
        "fields_for": "procedural",
        "prompt": "dunes",
        "seed": "5",
        "width": "64",
        "height": "64",
    }
    refused = client.post("/generate/", {**base, "param.steps": "999"})
    assert refused.status_code == 400
    assert 'data-field="param.steps"' in refused.content.decode()
    assert (
        'id="f-param-steps" name="param.steps" type="number" min="1" max="50" step="1" value="999"'
        in refused.content.decode()
    )
    assert GenerationJob.objects.count() == 0
    # The same key in the JSON box with another value is refused, naming the input.
    clash = client.post("/generate/", {**base, "param.steps": "3", "params": '{"steps": 5}'})
    assert clash.status_code == 400 and "Also given" in clash.context["errors"]["param.steps"][0]
    ok = client.post(
        "/generate/", {**base, "param.steps": "3", "param.palette": "sea", "params": '{"step_delay": 0}'}
    )
    assert ok.status_code == 302
    job = GenerationJob.objects.get()
    assert job.params["steps"] == 3 and job.params["palette"] == "sea" and job.params["step_delay"] == 0


def test_aspect_ratio_select_submits_its_size(
    users: dict[str, Any], plugins_on: None, monkeypatch: Any
) -> None:
    # Ideogram is healthy only with a key; the key is never used here (no worker runs).
    monkeypatch.setenv("IDEOGRAM_API_KEY", "test-key-not-used")
    client = _client(users["creator"])
    response = client.post(
        "/generate/",
        {
            "plugin": "ideogram-v2",
            "fields_for": "ideogram-v2",
            "prompt": "a poster",
            "size": "736x1312",
            "num_images": "1",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    job = GenerationJob.objects.get()
    assert (job.width, job.height, job.params["aspect_ratio"]) == (736, 1312, "ASPECT_9_16")


def test_switching_the_plugin_without_script_redraws_the_fields_and_submits_nothing(
    users: dict[str, Any], plugins_on: None
) -> None:
    client = _client(users["creator"])
    # The select changed to Ideogram but the fields shown were procedural's.
    response = client.post(
        "/generate/",
        {"plugin": "ideogram-v2a-turbo", "fields_for": "procedural", "prompt": "kept", "param.steps": "9"},
    )
    assert response.status_code == 200
    assert GenerationJob.objects.count() == 0
    assert response.context["fields"].plugin_id == "ideogram-v2a-turbo"
    assert "kept</textarea>" in response.content.decode() and "negative_prompt" not in _names(response)
    chosen = client.post(
        "/generate/", {"plugin": "procedural", "fields_for": "procedural", "choose": "1", "prompt": "p"}
    )
    assert chosen.status_code == 200 and GenerationJob.objects.count() == 0


def test_a_boolean_parameter_is_a_checkbox(users: dict[str, Any], procedural: str) -> None:
    from generation.form_fields import plugin_fields, read_params
    from plugins.builtin.sd35.variants import SD35MediumPlugin

    fields = plugin_fields(SD35MediumPlugin, {})
    kinds = {p.key: p.kind for p in fields.params}
    assert kinds == {"steps": "number", "guidance_scale": "number", "skip_layer_guidance": "checkbox"}
    # Hidden "false" then the ticked box's "true": the last value counts.
    assert read_params(SD35MediumPlugin, {"param.skip_layer_guidance": "true"}, "") == (
        {"skip_layer_guidance": True},
        {},
    )
    assert read_params(SD35MediumPlugin, {"param.skip_layer_guidance": "false"}, "") == (None, {})
    assert read_params(SD35MediumPlugin, {"param.guidance_scale": "3.5"}, "") == ({"guidance_scale": 3.5}, {})


def test_the_form_needs_the_creator_role(users: dict[str, Any], procedural: str) -> None:
    assert _client(users["viewer"]).get("/generate/fields/", {"plugin": "procedural"}).status_code == 403
    assert Client().get("/generate/fields/", {"plugin": "procedural"}).status_code == 302


def test_a_job_page_cancels_and_links_a_rerun_that_prefills_the_form(
    users: dict[str, Any], procedural: str
) -> None:
    from urllib.parse import parse_qs, urlsplit

    from generation import services as generation_services
    from governance.models import AuditEvent

    job, _ = generation_services.submit(
        acting_user=users["creator"],
        plugin_id="procedural",
        fields={"prompt": "a quiet harbour", "seed": 9, "width": 96, "height": 64, "params": {"steps": 3}},
    )
    owner = _client(users["creator"])
    page = owner.get(f"/jobs/{job.pk}/")
    assert page.context["may_cancel"] and b"Cancel job" in page.content
    query = parse_qs(urlsplit("?" + page.context["rerun_query"]).query)
    assert query == {"from_job": [str(job.pk)]}  # the job, not its prompt, is in the URL
    # The link pre-fills the form with the job's settings.
    form = owner.get("/generate/?" + page.context["rerun_query"])
    steps = next(p for p in form.context["fields"].params if p.key == "steps")
    assert steps.value == "3" and form.context["values"]["prompt"] == "a quiet harbour"
    values = form.context["values"]
    assert (values["plugin"], values["seed"], values["width"], values["height"]) == ("procedural", "9", "96", "64")
    # Someone else's job: no button, and a POST is refused; the owner cancels (audited).
    other = _client(users["creator2"])
    assert not other.get(f"/jobs/{job.pk}/").context["may_cancel"]
    assert other.post(f"/jobs/{job.pk}/cancel/").status_code == 403
    assert owner.get(f"/jobs/{job.pk}/cancel/").status_code == 405
    response = owner.post(f"/jobs/{job.pk}/cancel/")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert AuditEvent.objects.filter(action="generation.cancelled", target_id=str(job.pk)).count() == 1
    assert b"Cancel job" not in owner.get(f"/jobs/{job.pk}/").content
