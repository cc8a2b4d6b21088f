"""Code versions are derived from code and config, so editing an asset marks it changed."""

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ml_assets.keys import code_version


def _function(tmp_path: Path, name: str, body: str) -> Callable[..., Any]:
    """A function defined in a real module file, as an asset builder is."""
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    sys.path.insert(0, str(tmp_path))
    try:
        module = __import__(name)
    finally:
        sys.path.remove(str(tmp_path))
    return module.build  # type: ignore[no-any-return]


def test_same_code_and_config_give_the_same_version(tmp_path: Path) -> None:
    first = _function(tmp_path, "same_a", "def build():\n    return 1\n")
    second = _function(tmp_path, "same_b", "def build():\n    return 1\n")
    assert code_version(first, {"k": 1}) == code_version(second, {"k": 1})


def test_edited_code_gives_a_new_version(tmp_path: Path) -> None:
    before = _function(tmp_path, "edit_a", "def build():\n    return 1\n")
    after = _function(tmp_path, "edit_b", "def build():\n    return 2\n")
    assert code_version(before) != code_version(after)


def test_changed_config_slice_gives_a_new_version(tmp_path: Path) -> None:
    build = _function(tmp_path, "config_a", "def build():\n    return 1\n")
    assert code_version(build, {"threshold": 0.5}) != code_version(build, {"threshold": 0.4})


def test_editing_a_used_module_gives_a_new_version(tmp_path: Path) -> None:
    build = _function(tmp_path, "uses_a", "def build():\n    return 1\n")
    (tmp_path / "helper_maths_v1.py").write_text("def f():\n    return 1\n")
    (tmp_path / "helper_maths_v2.py").write_text("def f():\n    return 2\n")
    sys.path.insert(0, str(tmp_path))
    try:
        one = code_version(build, uses=("helper_maths_v1",))
        two = code_version(build, uses=("helper_maths_v2",))
    finally:
        sys.path.remove(str(tmp_path))
    assert one != two


def test_an_unknown_module_is_a_clear_error(tmp_path: Path) -> None:
    build = _function(tmp_path, "unknown_a", "def build():\n    return 1\n")
    with pytest.raises(ModuleNotFoundError, match="no_such_module_here"):
        code_version(build, uses=("no_such_module_here",))


def test_every_generated_asset_has_a_derived_code_version() -> None:
    from ml_assets.definitions import build_definitions

    defs = build_definitions()

    graph = defs.resolve_asset_graph()
    versions = {k.to_user_string(): graph.get(k).code_version for k in graph.get_all_asset_keys()}
    assert all(v and len(v) == 12 for v in versions.values()), versions
    # No two model-half assets share one: each hashes its own code.
    model_half = [v for k, v in versions.items() if k.split("/")[-1] in MODEL_HALF]
    assert len(set(model_half)) == len(model_half)


MODEL_HALF = {
    "training_set",
    "candidates",
    "challenger_model",
    "evaluation",
    "explanation",
    "champion_model",
    "champion_bento",
    "batch_predictions",
    "passport",
}
