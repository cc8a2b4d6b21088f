"""The input of `/predict`: BentoML's own input model, with the records validated as columns.

BentoML 1.4 builds a route's input model from its signature (`IODescriptor.from_input`)
and parses a request with `input_spec.from_http_request`, which for JSON is
`model_validate_json` of the whole body: each record becomes its own pydantic model.
`records_input_spec` gives the route the same model with that one class method replaced
(`@bentoml.api(input_spec=...)`): a JSON body is first offered to
`ml_assets.lib.record_columns.RecordColumnsValidator`, which either accepts it (the route
then gets a `RecordBatch`: the validated columns, the typed events and the records) or
declines, and then BentoML's own parse runs on the same bytes, so a refused request gets
the 400 it always got (its long names cut: `bentos.io_specs.briefly_refused`). The
model's fields, name and schema are BentoML's, so /docs.json documents the route as before.
"""

from __future__ import annotations

from typing import Any

from bentoml import IODescriptor
from starlette.requests import Request

from bentos.io_specs import briefly_refused, replacing
from bentos.strict_json import PARSED_JSON
from ml_assets.lib.record_columns import RecordColumnsValidator

# From this many records on, /predict validates a valid batch as columns: below, the
# record model costs less (in process on a busy 2-core machine, 1 record: 1.1 against
# 1.9 ms with the typing for scoring; 128: 3.2 against 3.5 ms; 1000: 25 against 19 ms).
COLUMNAR_MIN_ROWS = 256


def records_input_spec(
    func: Any, validator: RecordColumnsValidator, min_rows: int = 1
) -> type[IODescriptor]:
    """The input model BentoML makes for `func` (a service method whose one parameter,
    `validator.field`, is the list of records), taking valid JSON bodies of at least
    `min_rows` records as columns (smaller ones go the record model's way, which costs
    less for a few records)."""
    generated = briefly_refused(IODescriptor.from_input(func, skip_self=True))
    if list(generated.model_fields) != [validator.field]:
        raise TypeError(f"{func.__qualname__} must take one parameter, {validator.field!r}")
    parse = generated.from_http_request.__func__

    async def from_http_request(cls: type[IODescriptor], request: Request, serde: Any) -> Any:
        # BentoML's serde for the request's media type (JsonOnlyMiddleware lets only JSON
        # reach the route; the check keeps any other body on BentoML's own parse).
        if getattr(serde, "media_type", None) == "application/json":
            # The body as bentos.strict_json parsed it (the same pydantic-core parse), if
            # that middleware ran; else parsed here.
            if PARSED_JSON in request.scope:
                batch = validator.validate_parsed(request.scope[PARSED_JSON], min_rows)
            else:
                batch = validator.validate_json(await request.body(), min_rows)
            if batch is not None:
                return cls.model_construct(**{validator.field: batch})
        return await parse(cls, request, serde)

    return replacing(generated, "from_http_request", from_http_request)
