"""docs/config-reference.md: rendered from the config models, complete, and committed fresh."""

import os

import pytest
from pydantic import Field
from typer.testing import CliRunner

from ml_assets.cli.main import app
from ml_assets.environment import TELEMETRY_OFF
from ml_assets.lib.config.base import StrictModel
from ml_assets.lib.config.reference_doc import (
    REGENERATE,
    Key,
    alerts_sections,
    all_keys,
    model_sections,
    pipeline_sections,
    render,
)
from tests.conftest import PROJECT_ROOT

REFERENCE = PROJECT_ROOT / "docs" / "config-reference.md"


def key(path: str, variant: str = "") -> Key:
    """The one row for `path` (in the section of that variant, for tagged unions)."""
    found = [
        k
        for s in pipeline_sections() + alerts_sections()
        if variant in s.variant
        for k in s.keys
        if k.path == path
    ]
    assert len(found) == 1, f"{path} ({variant or 'any variant'}): {len(found)} rows"
    return found[0]


def test_the_committed_reference_is_the_rendered_one() -> None:
    assert REFERENCE.read_text() == render(), (
        f"{REFERENCE.relative_to(PROJECT_ROOT)} is stale: run `make docs` ({REGENERATE})"
    )


def test_every_leaf_key_has_a_description() -> None:
    leaves = [k for k in all_keys() if k.leaf]
    assert len(leaves) > 100
    missing = sorted({k.path for k in leaves if not k.description.strip()})
    assert not missing, f"add Field(description=...) for: {', '.join(missing)}"


def test_every_section_key_and_section_is_described() -> None:
    sections = pipeline_sections() + alerts_sections()
    missing = sorted({k.path for k in all_keys() if not k.description.strip()})
    assert not missing, f"add a description or a model docstring for: {', '.join(missing)}"
    no_intro = [f"{s.path or 'top level'} {s.variant}" for s in sections if not s.intro]
    assert not no_intro, f"add a class docstring to the model of: {', '.join(no_intro)}"


def test_a_field_without_a_description_is_caught() -> None:
    class Undocumented(StrictModel):
        """A model of this test."""

        documented: int = Field(1, description="Has one.")
        bare: int = 2

    (section,) = model_sections(Undocumented)
    assert [k.path for k in section.keys if not k.description] == ["bare"]


@pytest.mark.parametrize(
    ("path", "variant", "type_", "required", "default"),
    [
        ("name", "", "snake_case name", "yes", "required"),
        ("sources.<name>.columns.<column>.type", "", "one of 'int' | 'float'", "yes", "required"),
        ("sources.<name>.connector.delimiter", "kind: csv", "str", "no", '`","`'),
        (
            "features.definitions.<feature>.edges",
            "op: bucket",
            "list[float], at least 2",
            "yes",
            "required",
        ),
        (
            "features.definitions.<feature>.op",
            "op: hour",
            "one of 'hour' | 'day_of_week'",
            "yes",
            "required",
        ),
        ("joins[].keys", "", "dict[str, str], at least 1 entry", "yes", "required"),
        ("training.candidates.<family>.search_space.<param>.log", "", "bool", "no", "`false`"),
        ("promotion.threshold_objective", "", "one of 'f1' | 'cost'", "no", '`"f1"`'),
        (
            "promotion.baselines",
            "",
            "list[one of 'majority_class'",
            "no",
            '`["majority_class", "default_logistic_regression"]`',
        ),
        ("promotion.alpha", "", "float, > 0, < 1", "no", "`0.05`"),
        ("serving.workers", "", "int, >= 1", "no", "`1`"),
        ("serving.api_key_env", "", "str", "no", '`"MLAP_API_KEY"`'),
        ("monitoring", "", "section", "no", "`null`"),
        (
            "monitoring.drift.numerical.method",
            "",
            "'ks' | 'chisquare' | 'z'",
            "yes, if the section is written",
            '`"wasserstein"`',
        ),
        (
            "monitoring.drift.categorical.method",
            "",
            "one of",
            "yes, if the section is written",
            '`"jensenshannon"`',
        ),
        ("monitoring.drift.columns.<column>.method", "", "one of", "yes", "required"),
        (
            "monitoring.retrain.triggers",
            "",
            "list[one of 'drift' | 'decay'], at least 1",
            "no",
            '`["drift", "decay"]`',
        ),
        ("channels.<channel>.username_env", "kind: smtp", "str matching", "no", "`null`"),
        ("routes.error.escalate_to", "", "list[snake_case name]", "no", "`[]`"),
    ],
)
def test_a_key_shows_type_requirement_and_default_from_its_model(
    path: str, variant: str, type_: str, required: str, default: str
) -> None:
    row = key(path, variant)
    assert type_ in row.type
    assert (row.required, row.default) == (required, default)


def test_every_feature_op_and_connector_kind_has_its_own_section() -> None:
    variants = {s.variant for s in pipeline_sections() if s.variant}
    assert {"kind: csv", "kind: sql", "kind: landing_zone", "op: ratio", "op: bucket"} <= variants
    assert "op: hour | day_of_week | month | day_of_year | is_weekend" in variants


def test_mlap_config_reference_prints_the_reference(tmp_path: object) -> None:
    env = {
        **TELEMETRY_OFF,
        "MLAP_STATE_DIR": str(tmp_path),
        "DAGSTER_HOME": os.environ.get("DAGSTER_HOME"),
    }
    result = CliRunner().invoke(app, ["config-reference"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout == render()
