"""Run tags Dagster itself reads or writes, by their documented names, and the platform's
own run tags.

They are plain strings: Dagster's own constants for them live in `dagster._core`, which
the project does not import outside `ml_assets/dagster_private.py`.
"""

# Together on one run of a partitioned job: run the partitions from start to end (both
# included) as a single run, as a single-run backfill does.
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"
# Set on runs a sensor starts: which sensor, and the run key it gave (one run per key).
RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"

# The platform's own: every run of a pipeline's train job carries the pipeline's name
# under this key. The production instance (deploy/dagster.yaml) limits runs to one per
# value, so two trainings of one pipeline never run at once, whoever launched them.
TRAINING_TAG = "mlap/training"
# On a decision run (promote, rollback) whose launcher materialises the champion's bento
# and passport itself (`mlap promote`, `mlap rollback`): the redeploy sensor skips it.
DEPLOYS_ITSELF_TAG = "mlap/deploys_itself"
