"""Text classification's own logic: the example store, encoders, the text classifiers and
their selection (no Dagster here)."""
