"""The scale benchmark's table: per scale and stage, time, time per row, growth against
1x and peak RSS, from the records in results.jsonl (the latest record of each pair)."""

from __future__ import annotations

ROWS_OF = {
    "ingest": "raw_flights",
    "training": "training_set",
    "scoring": "batch_predictions",
    "drift": "month",
}
RSS_AIM_MIB = 4 * 1024


def stage_rows(record: dict) -> int | None:
    rows = record.get("rows") or {}
    value = rows.get(ROWS_OF[record["stage"].split(",")[0]])
    return int(value) if isinstance(value, int | float) else None


def table(records: list[dict]) -> str:
    latest: dict[tuple[int, str], dict] = {}
    for record in records:
        stage = record["stage"]
        if record.get("days_per_run") and stage in ("ingest", "scoring"):
            stage = record["stage"] = f"{stage}, runs of {record['days_per_run']} days"
        latest[(record["scale"], stage)] = record
    lines = [
        "Time: the stage inside its process (wall of the process in brackets: + imports and",
        "loading the definitions). Per row: stage seconds per 1,000 rows of the stage.",
        "Growth: stage time over the 1x stage time, and (in brackets) per-row time over 1x's",
        "(at most 1.0 = at most linear). Peak RSS: the stage's process (ru_maxrss).",
        "",
        "| scale | stage | rows | time s | ms per 1k rows | time / 1x (per row / 1x) "
        "| peak RSS MiB | load 1-min before-after | outcome |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for (scale, stage), record in sorted(latest.items(), key=lambda item: _order(item[0])):
        rows = stage_rows(record)
        seconds = record.get("stage_s")
        base = latest.get((1, stage))
        per_row = seconds / rows * 1e6 if seconds and rows else None
        growth = "-"
        if base and base.get("stage_s") and seconds and scale != 1:
            base_rows = stage_rows(base)
            ratio = seconds / base["stage_s"]
            growth = f"{ratio:.2f}x"
            if rows and base_rows:
                growth += f" ({ratio / (rows / base_rows):.2f})"
        rss = record["peak_rss_mib"]
        flag = " (over 4 GiB)" if rss > RSS_AIM_MIB else ""
        lines.append(
            f"| {scale}x | {stage} | {f'{rows:,}' if rows is not None else '-'} "
            f"| {seconds if seconds is not None else '-'} ({record['wall_s']}) "
            f"| {f'{per_row:.1f}' if per_row else '-'} | {growth} "
            f"| {rss:,.0f}{flag} | {record['load_before']}-{record['load_after']} "
            f"| {record['outcome']} |"
        )
    return "\n".join(lines)


def _order(key: tuple[int, str]) -> tuple[int, int]:
    scale, stage = key
    return scale, list(ROWS_OF).index(stage.split(",")[0]) * 2 + ("," in stage)
