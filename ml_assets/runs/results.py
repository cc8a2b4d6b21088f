"""What the CLI verbs read from an in-process run."""

from dagster import ExecuteInProcessResult

# Runs started by the verbs log warnings and errors only: the verbs print their own summary.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def failure_message(result: ExecuteInProcessResult) -> str:
    """The first step failure's own exception and message (the innermost cause: the outer
    errors are Dagster's wrappers, and the last line of a trace is a line of code)."""
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.step_failure_data.error
            while error is not None and error.cause is not None:
                error = error.cause
            return error.message.strip() if error else "step failed"
    return "run failed"
