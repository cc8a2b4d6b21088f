"""Checks a real response against the OpenAPI document the service publishes."""

from typing import Any

import httpx
import jsonschema_rs


def published_spec(url: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/docs.json", timeout=10)
    assert answer.status_code == 200, answer.text
    spec: dict[str, Any] = answer.json()
    return spec


def assert_conforms(spec: dict[str, Any], route: str, answer: httpx.Response) -> None:
    """The answer's status is declared for POST `route`, as JSON, and its body validates
    against the declared schema (the document's components beside it, for `$ref`s)."""
    responses = spec["paths"][route]["post"]["responses"]
    status = str(answer.status_code)
    assert status in responses, f"{route} answered undeclared {status}: {answer.text[:300]}"
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    schema = responses[status]["content"]["application/json"]["schema"]
    document = {**schema, "components": spec.get("components", {})}
    validator = jsonschema_rs.validator_for(document)
    errors = [e.message for e in validator.iter_errors(answer.json())]
    assert not errors, (route, status, errors, answer.text[:500])
