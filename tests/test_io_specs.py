"""A refusal quotes long names and messages in part (bentos.io_specs); in process."""

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from bentos.io_specs import brief_refusal


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")
    carrier: str

    @field_validator("carrier")
    @classmethod
    def _known(cls, value: str) -> str:
        if value != "UA":
            raise ValueError(f"unknown carrier {value!r}")
        return value


class Body(BaseModel):
    records: list[Record]


def _refusal(body: str) -> ValidationError:
    with pytest.raises(ValidationError) as refused:
        Body.model_validate_json(body)
    return refused.value


def test_a_refusal_with_nothing_long_is_kept_as_it_is() -> None:
    assert brief_refusal(_refusal('{"records": [{"carrier": "ZZ", "extra": 1}]}')) is None


def test_long_names_and_messages_are_cut_and_the_rest_kept() -> None:
    key = "k" * 5_000
    value = "Z" * 5_000
    refusal = _refusal(
        f'{{"records": [{{"carrier": "UA"}}, {{"carrier": "{value}", "{key}": 1}}]}}'
    )
    brief = brief_refusal(refusal)
    assert brief is not None
    assert brief.title == "Body" and brief.error_count() == 2
    errors = brief.errors(include_url=False)
    by_loc = {error["loc"]: error for error in errors}
    cut_key = f"{'k' * 32}... (5,000 characters)"
    assert set(by_loc) == {("records", 1, "carrier"), ("records", 1, cut_key)}
    message = by_loc[("records", 1, "carrier")]["msg"]
    assert message == "Value error, unknown carrier 'ZZ... (5,031 characters)"
    extra = by_loc[("records", 1, cut_key)]
    assert extra["type"] == "extra_forbidden" and extra["msg"] == "Extra inputs are not permitted"
    assert len(str(brief)) < 1_000 < len(str(refusal))
