# The platform's own image: the Dagster code location (ml_assets.definitions) as a gRPC
# code server, and the webserver, daemon and run pods of the Dagster Helm chart.
#
#   docker build -t mlap-platform .                       (from python:3.11-slim)
#   podman build --build-arg BASE_IMAGE=localhost/mlap-base:bookworm \
#     --secret id=extra_ca,src=/etc/ssl/certs/ca-certificates.crt -t mlap-platform .
#
# BASE_IMAGE: any image with Python 3.11 as `python3.11` and its `venv` module (Debian
# bookworm's python3 + python3-venv qualify: `make test-images` builds such a base where no
# registry image can be pulled). The secret `extra_ca` (optional) is a CA bundle trusted
# for package downloads during the build only, for networks behind a TLS-intercepting
# proxy. It is a build secret, not a build argument: a whole bundle (~220 KB) is longer
# than one process argument may be (128 KB), and it never lands in a layer.
#
# Two stages; in the first the locked dependencies are installed before the project is
# copied, so a code change does not rebuild the dependency layer.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
# uv's version as locked in uv.lock (the project depends on uv too).
ARG UV_VERSION=0.13.9
# XGBoost's NCCL library is for multi-GPU training only (~480 MB); CPU training and
# scoring never load it.
ARG UV_SKIP="--no-install-package nvidia-nccl-cu12"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON=python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv
# The extra CA, when given, is appended to the base's bundle for this RUN's downloads.
RUN --mount=type=secret,id=extra_ca,required=false \
    --mount=type=cache,target=/root/.cache/pip \
    ca=/etc/ssl/certs/ca-certificates.crt; \
    if [ -s /run/secrets/extra_ca ]; then \
      cat "$ca" /run/secrets/extra_ca > /tmp/ca.pem; ca=/tmp/ca.pem; \
    fi; \
    python3.11 -m venv /opt/uv \
    && PIP_CERT="$ca" /opt/uv/bin/pip install --disable-pip-version-check "uv==${UV_VERSION}" \
    && rm -f /tmp/ca.pem
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN --mount=type=secret,id=extra_ca,required=false \
    --mount=type=cache,target=/root/.cache/uv \
    ca=/etc/ssl/certs/ca-certificates.crt; \
    if [ -s /run/secrets/extra_ca ]; then \
      cat "$ca" /run/secrets/extra_ca > /tmp/ca.pem; ca=/tmp/ca.pem; \
    fi; \
    SSL_CERT_FILE="$ca" /opt/uv/bin/uv sync --frozen --no-dev --no-install-project ${UV_SKIP} \
    && rm -f /tmp/ca.pem
COPY README.md workspace.yaml ./
COPY ml_assets ml_assets
COPY resources resources
COPY sensors sensors
COPY bentos bentos
COPY configs configs
# The project itself, editable: bentos/ and configs/ are read from /app, not packaged.
RUN --mount=type=secret,id=extra_ca,required=false \
    --mount=type=cache,target=/root/.cache/uv \
    ca=/etc/ssl/certs/ca-certificates.crt; \
    if [ -s /run/secrets/extra_ca ]; then \
      cat "$ca" /run/secrets/extra_ca > /tmp/ca.pem; ca=/tmp/ca.pem; \
    fi; \
    SSL_CERT_FILE="$ca" /opt/uv/bin/uv sync --frozen --no-dev ${UV_SKIP} \
    && rm -f /tmp/ca.pem

FROM ${BASE_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MLAP_STATE_DIR=/var/lib/mlap \
    DAGSTER_DISABLE_TELEMETRY=1 \
    BENTOML_DO_NOT_TRACK=true \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=1 \
    OMP_WAIT_POLICY=PASSIVE
RUN useradd --create-home --uid 1000 mlap && mkdir -p /var/lib/mlap && chown mlap /var/lib/mlap
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
USER mlap
EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "ml_assets.definitions"]
