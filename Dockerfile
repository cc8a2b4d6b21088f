# The platform's own image: the Dagster code location (ml_assets.definitions) as a gRPC
# code server, for the Dagster Helm chart's user deployments. Two stages, and in the first
# the locked dependencies are installed before the project is copied, so a code change
# does not rebuild the dependency layer.
FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY README.md workspace.yaml ./
COPY ml_assets ml_assets
COPY resources resources
COPY sensors sensors
COPY bentos bentos
COPY configs configs
RUN uv sync --frozen --no-dev

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MLAP_STATE_DIR=/var/lib/mlap \
    DAGSTER_DISABLE_TELEMETRY=1 \
    BENTOML_DO_NOT_TRACK=true \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=1
RUN useradd --create-home --uid 1000 mlap && mkdir -p /var/lib/mlap && chown mlap /var/lib/mlap
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
USER mlap
EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "ml_assets.definitions"]
