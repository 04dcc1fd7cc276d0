"""Typography: OCR reads back what the procedural plugin sets as type, and the score tells a
right text from a wrong one, and from one wrong letter."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from PIL import Image

from acceptance import ocr
from acceptance.builtin_checks import Typography
from acceptance.checks import CheckContext
from plugins.builtin.procedural import ProceduralPlugin


def procedural_image(text: str, size: int = 512, seed: int = 3) -> Image.Image:
    """What the procedural plugin draws for ``text`` (it sets the prompt as type)."""
    from hallmark.sdk import GenerationRequest

    plugin = ProceduralPlugin({})
    request = GenerationRequest(
        prompt=text, negative_prompt="", width=size, height=size, seed=seed, num_images=1, params={"steps": 2}
    )
    return plugin.generate(request, lambda *_: None, lambda: False).images[0].image


def test_character_accuracy_normalises_case_and_whitespace() -> None:
    assert ocr.character_accuracy("Open  Late", "OPEN\nlate") == 1.0
    assert ocr.character_accuracy("OPEN LATE", "") == 0.0
    assert ocr.character_accuracy("OPEN LATE", "OPEN LATF") == pytest.approx(1 - 1 / 8)
    # Other text around the expected text does not count against it.
    assert ocr.character_accuracy("OPEN LATE", "A neon shop sign that reads OPEN LATE") == 1.0
    assert ocr.character_accuracy("OPEN LATE", "WILD BERRY") < 0.5


def test_edit_distance() -> None:
    assert ocr.edit_distance("kitten", "sitting") == 3
    assert ocr.edit_distance("", "abc") == 3
    assert ocr.edit_distance("same", "same") == 0
    assert ocr.edit_distance("late", "open lake now", free_ends=True) == 1


def test_the_expected_text_scores_high() -> None:
    read = ocr.read_text(procedural_image("OPEN LATE"))
    assert ocr.character_accuracy("OPEN LATE", read) >= 0.9, read


def test_a_known_bad_image_scores_low() -> None:
    other_text = ocr.read_text(procedural_image("WILD BERRY"))
    assert ocr.character_accuracy("OPEN LATE", other_text) < 0.5, other_text
    blank = Image.new("RGB", (512, 512), (40, 90, 160))
    assert ocr.character_accuracy("OPEN LATE", ocr.read_text(blank)) == 0.0


def test_one_wrong_letter_scores_between() -> None:
    right = ocr.character_accuracy("OPEN LATE", ocr.read_text(procedural_image("OPEN LATE")))
    one_off = ocr.character_accuracy("OPEN LATE", ocr.read_text(procedural_image("OPEN LAKE")))
    bad = ocr.character_accuracy("OPEN LATE", ocr.read_text(procedural_image("WILD BERRY")))
    assert bad < one_off < right
    assert 0.75 <= one_off < 0.95


def test_the_models_ship_in_the_package_and_nothing_is_downloaded(monkeypatch) -> None:
    import rapidocr_onnxruntime

    models = list((Path(rapidocr_onnxruntime.__file__).parent / "models").glob("*.onnx"))
    assert len(models) >= 3, models  # detection, classification, recognition

    def no_network(*args, **kwargs):
        raise AssertionError("OCR tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    ocr.engine.cache_clear()
    try:
        read = ocr.read_text(procedural_image("SLOW DOWN"))
    finally:
        ocr.engine.cache_clear()
    assert ocr.character_accuracy("SLOW DOWN", read) >= 0.9


def test_the_engine_is_loaded_once_per_process() -> None:
    assert ocr.engine() is ocr.engine()


@pytest.mark.django_db
def test_typography_check_on_a_stored_image(stored) -> None:
    asset = stored("A neon shop sign that reads OPEN LATE")
    check = Typography(Typography.clean_params({"min_accuracy": 0.9}))
    good = check.run(CheckContext(asset=asset, expected_text="OPEN LATE"))
    assert good.passed and good.score >= 0.9
    wrong = check.run(CheckContext(asset=asset, expected_text="CLOSED EARLY"))
    assert not wrong.passed and wrong.score < 0.5
    none = check.run(CheckContext(asset=asset, expected_text=""))
    assert not none.passed and "no expected text" in none.detail
