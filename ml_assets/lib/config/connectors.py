"""Pydantic models of where a source's rows come from: one connector per kind of store,
and the landing folder of daily files.

Field descriptions and class docstrings are the config reference, like the other models.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import StrictModel


class PackageConnector(StrictModel):
    """A data file shipped inside an installed Python package (read without importing it)."""

    kind: Literal["package"]
    package: str = Field(description="Installed distribution's top-level package.")
    path: str = Field(description="File inside the package, e.g. data/events.csv.zip.")
    skip_rows: int = Field(0, ge=0, description="CSV: lines to skip before the header.")
    column_names: list[str] | None = Field(
        None,
        description="CSV: the file has no header line (after `skip_rows`); its columns are "
        "these, in order.",
    )


class CsvConnector(StrictModel):
    """A CSV file, read as text: validation gives the values their declared types."""

    kind: Literal["csv"]
    path: str = Field(description="File path or fsspec URL; relative paths are from the config.")
    delimiter: str = Field(",", description="Field separator.")
    skip_rows: int = Field(0, ge=0, description="CSV: lines to skip before the header.")
    column_names: list[str] | None = Field(
        None,
        description="CSV: the file has no header line (after `skip_rows`); its columns are "
        "these, in order.",
    )


class ParquetConnector(StrictModel):
    """A Parquet file; values keep the types they are stored with."""

    kind: Literal["parquet"]
    path: str = Field(description="File path or fsspec URL; relative paths are from the config.")


class JsonLinesConnector(StrictModel):
    """A JSON Lines file: one JSON object per row."""

    kind: Literal["jsonl"]
    path: str = Field(description="File path or fsspec URL; relative paths are from the config.")


class SqlConnector(StrictModel):
    """A table or the result of a query, from any database SQLAlchemy can reach."""

    kind: Literal["sql"]
    url: str = Field(description="SQLAlchemy URL, e.g. sqlite:////abs/path.db or ${DB_URL}.")
    table: str | None = Field(None, description="Table to read whole.")
    query: str | None = Field(None, description="SELECT statement to read instead of a table.")

    @model_validator(mode="after")
    def _exactly_one_of_table_or_query(self) -> SqlConnector:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self


class LandingFolder(StrictModel):
    """A folder of daily files named <YYYY-MM-DD>.<format>; one file is one partition."""

    path: str = Field(description="Folder; relative paths are under the platform's landing root.")
    format: Literal["csv", "parquet", "jsonl"] = Field(
        "csv", description="Format of the daily files, also their extension."
    )


class LandingZoneConnector(LandingFolder):
    """An event source that only arrives as daily files."""

    kind: Literal["landing_zone"]


Connector = Annotated[
    PackageConnector
    | CsvConnector
    | ParquetConnector
    | JsonLinesConnector
    | SqlConnector
    | LandingZoneConnector,
    Field(discriminator="kind"),
]
