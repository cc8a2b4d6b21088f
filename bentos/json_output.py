"""A route's list output written to JSON by pydantic-core, its declared schema unchanged.

BentoML 1.4 makes a route's output model from its return annotation
(`IODescriptor.from_output`) and answers with that model's `to_http_response`: for a list
declared as `Annotated[list[Model], ContentType("application/json")]` it validates the
list again as a root model, dumps it to Python objects and writes them with `json.dumps`,
about 2 ms for 1000 predictions. `json_output_spec` gives the route the same output model
with that one class method replaced (`bentos.io_specs`; `@bentoml.api(output_spec=...)`):
a list is written by the list's own `TypeAdapter.dump_json` (0.3 ms; the same JSON
without the spaces) as a ready response with the model's media type; anything else (an
error response the route returns, a value of another shape) goes BentoML's way. The
model's fields, name and schema are BentoML's, so /docs.json documents the route as
before, and the method called in process still returns its list.
"""

from __future__ import annotations

from typing import Any

from bentoml import IODescriptor
from pydantic import TypeAdapter
from starlette.responses import Response

from bentos.io_specs import replacing


def json_output_spec(func: Any, adapter: TypeAdapter[Any]) -> type[IODescriptor]:
    """The output model BentoML makes for `func`'s return annotation (a list that
    `adapter` validates), writing a list with `adapter.dump_json`."""
    generated = IODescriptor.from_output(func)
    write = generated.to_http_response.__func__

    async def to_http_response(cls: type[IODescriptor], obj: Any, serde: Any) -> Response:
        if type(obj) is list:
            return Response(adapter.dump_json(obj), media_type=cls.mime_type())
        return await write(cls, obj, serde)

    return replacing(generated, "to_http_response", to_http_response)
