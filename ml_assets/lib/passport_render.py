"""Passports as people read them: Markdown, and the lineage as a tree."""

from datetime import UTC, datetime
from typing import Any


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "?"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _short(value: str | None, n: int = 12) -> str:
    return (value or "?")[:n]


def render_markdown(passport: dict[str, Any]) -> str:
    model, training, decision = passport["model"], passport["training"], passport["decision"]
    evaluation, bento = passport["evaluation"], passport["bento"]
    checks = passport["checks"]
    failed = [c for c in checks if not c["passed"]]
    lines = [
        f"# Passport {passport['passport_id']}",
        "",
        f"**Model**: `{passport['pipeline']}` v{model['registered_version']} "
        f"({model['family']}), MLflow run `{model['mlflow_run_id']}`, "
        f"manifest sha256 `{model['manifest_sha256']}`.",
        f"**Code**: git `{passport['code']['git_commit']}`; config sha256 "
        f"`{_short(passport['config']['hash'], 16)}`.",
        f"**Training run**: Dagster `{training['dagster_run_id']}`; windows "
        + ", ".join(f"{k} {v}" for k, v in sorted(training["windows"].items()))
        + f"; {training['feature_partitions']} feature partitions.",
        "",
        "## Decision",
        "",
        f"{decision.get('action', '?')} at {decision.get('decided_at', '?')}: "
        f"{decision.get('reason', 'no decision recorded')}",
        f"(decision log entry {decision.get('log_index', '?')}, "
        f"hash `{_short(decision.get('log_entry_hash'), 16)}`)",
        "",
        "## Evaluation (test window)",
        "",
        evaluation.get("metrics", "no evaluation recorded"),
        "",
        "## Top features (SHAP)",
        "",
        passport["explanation"].get("top_features", "no explanation recorded"),
        "",
        "## Data checks on the partitions used",
        "",
        f"{len(checks)} check results, {len(failed)} failed."
        + "".join(f"\n- FAILED {c['asset']}.{c['check']}: {c['description']}" for c in failed),
        "",
        "## Deployment",
        "",
        f"Bento `{bento.get('bento_tag', 'none')}`, Dockerfile sha256 "
        f"`{_short(bento.get('dockerfile_sha256'), 16)}`.",
        "",
        "## Code versions of the assets on the path",
        "",
        *[
            f"- {name}: `{version}`"
            for name, version in sorted(passport["code"]["code_versions"].items())
        ],
        *[
            f"- {stage} (partitions used): " + ", ".join(f"`{v}`" for v in versions)
            for stage, versions in sorted(passport["lineage"].get("code_versions", {}).items())
        ],
        "",
        "## Missing from the instance",
        "",
        *([f"- {item}" for item in passport["missing"]] or ["nothing: the lineage is complete"]),
    ]
    return "\n".join(lines)


def render_lineage(passport: dict[str, Any]) -> str:
    """Served model -> training set (a text pipeline: the prompt templates compared and
    the example store version) -> feature partitions -> validated -> raw."""
    model, pipeline = passport["model"], passport["pipeline"]
    lineage, training = passport["lineage"], passport["training"]
    store = passport.get("example_store_version")
    lines = [
        f"{pipeline} v{model['registered_version']} ({model['family']}) "
        f"bento {passport['bento'].get('bento_tag', 'none')}",
        *[
            f"├── prompt_templates {name} version {version}"
            for name, version in sorted(passport.get("prompt_versions", {}).items())
        ],
        f"└── {training.get('asset', 'training_set')}"
        + (f" {_short(store)}" if store else "")
        + f" (run {_short(training['dagster_run_id'], 8)})",
    ]
    days = sorted(lineage["partitions"].items())
    for i, (day, entry) in enumerate(days):
        last = i == len(days) - 1 and not lineage["references"]
        branch, stem = ("└──", "    ") if last else ("├──", "│   ")
        features = entry["features"]
        lines.append(
            f"    {branch} features[{day}] {_short(features['data_version'])} "
            f"{_when(features['time'])}"
        )
        for j, label in enumerate(("validated", "raw")):
            record = entry.get(label)
            corner = "└──" if j == 1 else "├──"
            text = (
                f"{_short(record['data_version'])} {_when(record['time'])}"
                if record
                else "MISSING from the instance"
            )
            lines.append(f"    {stem} {corner} {label}[{day}] {text}")
    references = sorted(lineage["references"].items())
    for i, (name, record) in enumerate(references):
        branch = "└──" if i == len(references) - 1 else "├──"
        text = (
            f"{_short(record['data_version'])} {_when(record['time'])}"
            if record
            else "MISSING from the instance"
        )
        lines.append(f"    {branch} validated_{name} {text}")
    return "\n".join(lines)
