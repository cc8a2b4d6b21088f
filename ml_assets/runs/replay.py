"""Replay: feed a pipeline's history into its landing zone one day at a time.

Each day's events are written as `<YYYY-MM-DD>.<format>` (through a temporary name, then
renamed, so a sensor never reads half a file), with the values as the source holds them.
"""

import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from ml_assets.lib.config import PipelineConfig
from resources.sources import SourcesResource, assign_event_dates, read_table


def replay_days(start: date, end: date) -> list[str]:
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def daily_frames(config: PipelineConfig, days: list[str]) -> Iterator[tuple[str, pd.DataFrame]]:
    """The event source's rows of each day, as the source holds them."""
    source, part = config.event_source, config.daily
    table = read_table(source)
    event_days = assign_event_dates(
        table.get(part.time_column), len(table), part.timezone, fallback=part.start_date
    ).to_numpy()
    for day in days:
        yield day, table.loc[event_days == day].reset_index(drop=True)


def write_day(folder: Path, day: str, frame: pd.DataFrame, fmt: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    final, temporary = folder / f"{day}.{fmt}", folder / f".{day}.{fmt}.tmp"
    if fmt == "csv":
        frame.to_csv(temporary, index=False)
    elif fmt == "parquet":
        frame.to_parquet(temporary, index=False)
    else:
        frame.to_json(temporary, orient="records", lines=True)
    temporary.replace(final)
    return final


def replay(
    config: PipelineConfig,
    sources: SourcesResource,
    start: date,
    end: date,
    seconds_per_day: float = 0.0,
    on_day: Callable[[str, Path, int], None] | None = None,
) -> list[Path]:
    """Write each day from `start` to `end` into the landing zone, `seconds_per_day` apart;
    `on_day(day, path, rows)` is called after each file lands."""
    landing = config.landing_folder
    if landing is None:
        raise ValueError(f"{config.name} has no landing zone: set sources.<event>.landing_zone")
    folder = sources.landing_folder(landing)
    written = []
    for i, (day, frame) in enumerate(daily_frames(config, replay_days(start, end))):
        if i and seconds_per_day:
            time.sleep(seconds_per_day)
        path = write_day(folder, day, frame, landing.format)
        written.append(path)
        if on_day:
            on_day(day, path, len(frame))
    return written
