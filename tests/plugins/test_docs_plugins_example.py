"""The example plugin in docs/plugins.md runs as written.

Its Python blocks, in order, make one module: the class with its declarations, its hooks, and
the test a plugin author writes with ``check_plugin``. This test runs that module, runs the
contract checks on the class, and generates once.
"""

from __future__ import annotations

import re
import types
from pathlib import Path

from hallmark.sdk import GenerationResult, Plugin
from hallmark.sdk.testing import check_plugin
from plugins.validation import build_request

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def _example_module() -> types.ModuleType:
    blocks = re.findall(r"^```python\n(.*?)^```$", DOC.read_text(), flags=re.M | re.S)
    assert len(blocks) >= 3, "docs/plugins.md lost its example"
    module = types.ModuleType("docs_plugins_example")
    exec(compile("".join(blocks), str(DOC), "exec"), module.__dict__)
    return module


def test_the_documented_plugin_keeps_the_contract_and_generates() -> None:
    module = _example_module()
    plugin_class = module.DummyPlugin
    assert issubclass(plugin_class, Plugin)
    check_plugin(plugin_class)

    plugin = plugin_class({"label": "docs"})
    steps: list[tuple[int, int]] = []
    request = build_request(plugin, prompt="tiles", width=32, height=48, num_images=2, seed=5)
    result = plugin.generate(request, lambda step, total: steps.append((step, total)), lambda: False)
    assert isinstance(result, GenerationResult) and len(result.images) == 2
    assert [image.image.size for image in result.images] == [(32, 48), (32, 48)]
    assert [image.seed for image in result.images] == [5, 6]
    assert steps[-1] == (2, 2)
    assert plugin.identity().weights_fingerprint.startswith("sha256:")


def test_the_documented_test_for_plugin_authors_passes() -> None:
    module = _example_module()
    tests = [getattr(module, name) for name in dir(module) if name.startswith("test_")]
    assert tests, "docs/plugins.md shows no test using check_plugin"
    for test in tests:
        test()
