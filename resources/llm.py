"""The credentials of a text pipeline's LLM endpoint, as a resource."""

from dagster import ConfigurableResource
from pydantic import Field


class LlmEndpointResource(ConfigurableResource):
    """The API key a text pipeline's LLM classifier sends to its OpenAI-compatible
    endpoint (as a Bearer token). The factory configures it with `dagster.EnvVar` of the
    pipeline's `text.llm.api_key_env`: Dagster resolves the variable when a run starts, and
    the UI, the run config and the logs show the variable's name, never the key."""

    api_key: str | None = Field(
        None,
        description="API key of the endpoint (an EnvVar: the variable named by the pipeline's "
        "`text.llm.api_key_env`); unset for an endpoint without keys.",
    )
