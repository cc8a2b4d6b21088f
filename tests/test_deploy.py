"""deploy/, proven as far as a machine without a Kubernetes API server allows.

- The production dagster.yaml is loaded by Dagster itself (`DagsterInstance.from_config`)
  on a real PostgreSQL server (tests/postgres.py), with one change: the run launcher reads
  a kubeconfig instead of the in-cluster account. Its storage, coordinator and launcher
  are the classes the file names.
- That instance launches a run of a train job. The K8sRunLauncher submits a Kubernetes Job
  to the API server of the kubeconfig: a small local HTTP server that keeps the body, as
  tests/receivers.py does for alerts. The Job is checked, then validated against the
  Kubernetes schema.
- The coordinator's tag limit is keyed on the tag the train job carries.
- Every manifest of deploy/ is validated against the Kubernetes schema
  (`kubernetes-validate`, strict: unknown fields fail), and so is the Secret that
  deploy/serving's generator makes.
- The Helm values use only keys of the chart's values schema (listed below, as read from
  the chart's schema models; the chart itself is not available here, so nothing is
  rendered by Helm) and agree with deploy/dagster.yaml and the platform ConfigMap.
- The Grafana dashboard queries only metrics the service exports, by labels they have
  (the platform's from its ScoringMetrics here; BentoML's from a served champion's
  /metrics in tests/test_serving_hardening.py); the Prometheus job finds the Service
  deploy/serving defines.

Not exercised here: a cluster (no pod runs), Helm's own rendering, Prometheus, Grafana.
"""

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kubernetes_validate
import pytest
import yaml

from ml_assets import environment
from ml_assets.factory import build_pipeline_definitions
from ml_assets.keys import daily_job_name, ingest_job_name, predict_job_name, train_job_name
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.lifecycle import ServingConfig
from ml_assets.run_tags import TRAINING_TAG
from tests import postgres
from tests.conftest import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
K8S_VERSION = kubernetes_validate.latest_version()
PLATFORM_IMAGE = "mlap-platform:0.1.0"


def sqlalchemy_url(url: str) -> Any:
    from sqlalchemy.engine import make_url

    return make_url(url)


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def validate(manifest: dict[str, Any]) -> None:
    """Kubernetes' own schema, strict: a misspelt or misplaced field fails."""
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


@pytest.fixture(scope="module")
def instance_config() -> dict[str, Any]:
    return dict(load(DEPLOY / "dagster.yaml"))


@pytest.fixture(scope="module")
def helm() -> dict[str, Any]:
    return dict(load(DEPLOY / "helm" / "values-dagster.yaml"))


@pytest.fixture(scope="module")
def platform_env() -> dict[str, str]:
    configmap = load(DEPLOY / "platform" / "configmap.yaml")
    return dict(configmap["data"])


@pytest.fixture(scope="module")
def train_tags(flight_config: PipelineConfig) -> dict[str, str]:
    defs = build_pipeline_definitions(flight_config, step_pods={"train"})
    train = next(j for j in defs.jobs or [] if j.name == train_job_name(flight_config.name))
    return dict(train.tags or {})


def test_the_factory_tags_trainings_and_gives_step_pods_to_the_asked_jobs(
    flight_config: PipelineConfig,
) -> None:
    jobs = {j.name: j for j in build_pipeline_definitions(flight_config, {"train"}).jobs or []}
    train = jobs.pop(train_job_name(flight_config.name))
    assert train.tags == {TRAINING_TAG: flight_config.name}
    assert train.executor_def is not None and train.executor_def.name == "k8s"
    for name in (ingest_job_name, predict_job_name, daily_job_name):
        assert jobs[name(flight_config.name)].executor_def is None  # the location's: in process
    plain = {j.name: j for j in build_pipeline_definitions(flight_config).jobs or []}
    assert plain[train_job_name(flight_config.name)].executor_def is None


def test_one_training_per_pipeline_is_the_coordinators_limit(
    instance_config: dict[str, Any], train_tags: dict[str, str]
) -> None:
    """Runs of a pipeline's train job carry the pipeline's name under TRAINING_TAG; the
    coordinator allows one run per value of that tag (Dagster's `applyLimitPerUniqueValue`):
    one training per pipeline, pipelines in parallel."""
    coordinator = instance_config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    limits = coordinator["config"]["tag_concurrency_limits"]
    assert {"key": TRAINING_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
    assert train_tags[TRAINING_TAG] == "flight_delays"


class KubernetesApi:
    """A local stand-in for the API server's Job endpoint: keeps each Job it is sent and
    answers 201 with it, as the API server does."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, dict[str, Any]]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                api.jobs.append((self.path, json.loads(body)))
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def kubeconfig(self, path: Path) -> Path:
        server = f"http://127.0.0.1:{self.server.server_address[1]}"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "local", "cluster": {"server": server}}],
                    "users": [{"name": "local", "user": {"token": "unused"}}],
                    "contexts": [
                        {"name": "local", "context": {"cluster": "local", "user": "local"}}
                    ],
                    "current-context": "local",
                }
            )
        )
        return path


@contextmanager
def kubernetes_api() -> Iterator[KubernetesApi]:
    api = KubernetesApi()
    thread = threading.Thread(target=api.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield api
    finally:
        api.server.shutdown()
        api.server.server_close()
        thread.join(timeout=5)


def flight_delays_train() -> Any:
    """The run's code as its origin records it: the train job of the code location (the
    run launcher records where it is; the run pod would load it)."""
    from ml_assets.definitions import build_definitions

    return build_definitions().resolve_job_def(train_job_name("flight_delays"))


@pytest.mark.skipif(postgres.binaries() is None, reason="PostgreSQL not installed")
def test_the_production_instance_launches_a_run_pod(
    instance_config: dict[str, Any],
    train_tags: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dagster import DagsterInstance, DagsterRun, QueuedRunCoordinator, reconstructable
    from dagster_k8s import K8sRunLauncher
    from dagster_postgres import PostgresRunStorage

    with postgres.postgres_server() as server, kubernetes_api() as api:
        database = sqlalchemy_url(postgres.create_database(server, "dagster"))
        for name, value in {
            "DAGSTER_PG_USERNAME": database.username,
            "DAGSTER_PG_PASSWORD": "unused (trust authentication)",
            "DAGSTER_PG_HOST": database.host,
            "DAGSTER_PG_PORT": str(database.port),
            "DAGSTER_PG_DB": database.database,
        }.items():
            monkeypatch.setenv(name, value)
        launcher = instance_config["run_launcher"]["config"]
        outside_a_cluster = {
            "load_incluster_config": False,
            "kubeconfig_file": str(api.kubeconfig(tmp_path / "kubeconfig")),
        }
        config = {**instance_config}
        config["run_launcher"] = {
            **config["run_launcher"],
            "config": {**launcher, **outside_a_cluster},
        }
        home = tmp_path / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))
        with DagsterInstance.from_config(str(home)) as instance:
            assert isinstance(instance.run_storage, PostgresRunStorage)
            assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
            assert isinstance(instance.run_launcher, K8sRunLauncher)
            # As the code server records it: the image it runs in (DAGSTER_CURRENT_IMAGE).
            origin = reconstructable(flight_delays_train).get_python_origin()
            repository = origin.repository_origin._replace(container_image=PLATFORM_IMAGE)
            job_name = train_job_name("flight_delays")
            run = instance.add_run(
                DagsterRun(
                    job_name=job_name,
                    tags=train_tags,
                    job_code_origin=origin._replace(
                        job_name=job_name, repository_origin=repository
                    ),
                )
            )
            instance.launch_run(run.run_id, workspace=None)  # type: ignore[arg-type]

    [(path, job)] = api.jobs
    validate(job)
    assert path == "/apis/batch/v1/namespaces/dagster/jobs"
    assert job["metadata"]["labels"]["dagster/job"] == job_name
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == PLATFORM_IMAGE
    assert container["args"][-3:-1] == ["api", "execute_run"]
    assert {"configMapRef": {"name": "mlap-platform"}} in container["envFrom"]
    assert {"secretRef": {"name": "mlap-platform"}} in container["envFrom"]
    password = next(e for e in container["env"] if e["name"] == "DAGSTER_PG_PASSWORD")
    assert password["valueFrom"]["secretKeyRef"]["name"] == "dagster-postgresql-secret"
    assert container["volumeMounts"] == [{"mountPath": "/var/lib/mlap", "name": "mlap-state"}]
    assert pod["volumes"] == [
        {"name": "mlap-state", "persistentVolumeClaim": {"claimName": "mlap-state"}}
    ]
    assert pod["securityContext"] == {"fsGroup": 1000}
    assert pod["serviceAccountName"] == "dagster"
    assert container["resources"]["limits"]["memory"] == "8Gi"
    # The run's instance is the production one: PostgreSQL, every connection setting read
    # from the pod's environment, so no password travels in the Job.
    storage = json.loads(container["args"][-1])["instance_ref"]["run_storage_data"]
    assert storage["class_name"] == "PostgresRunStorage"
    connection = yaml.safe_load(storage["config_yaml"])["postgres_db"]
    assert connection["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    assert connection["scheme"] == "postgresql+psycopg2"


def manifests() -> list[Path]:
    """Every Kubernetes manifest of deploy/ (YAML with apiVersion and kind), but
    Kustomize's own configuration, which is not a Kubernetes object."""
    found = []
    for path in sorted(DEPLOY.rglob("*.yaml")):
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
        objects = all("apiVersion" in d and "kind" in d for d in documents)
        if objects and documents[0]["kind"] != "Kustomization":
            found.append(path)
    return found


def test_the_manifests_are_found() -> None:
    names = {str(p.relative_to(DEPLOY)) for p in manifests()}
    assert names == {
        "platform/configmap.yaml",
        "platform/state-pvc.yaml",
        "serving/deployment.yaml",
        "serving/service.yaml",
        "serving/hpa.yaml",
        "serving/pdb.yaml",
    }


@pytest.mark.parametrize("path", manifests(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_manifest_validates(path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        validate(document)


def test_a_broken_manifest_does_not_validate() -> None:
    deployment = load(DEPLOY / "serving" / "deployment.yaml")
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe["httpGet"]["paht"] = probe["httpGet"].pop("path")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)


def test_the_champion_service_manifests_fit_the_service() -> None:
    serving = DEPLOY / "serving"
    kustomization = load(serving / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in serving.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    deployment = load(serving / "deployment.yaml")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    key = next(e for e in container["env"] if e["name"] == ServingConfig().api_key_env)
    ref = key["valueFrom"]["secretKeyRef"]
    [generator] = kustomization["secretGenerator"]
    assert (ref["name"], ref["key"]) == (generator["name"], "MLAP_API_KEY")
    assert ref.get("optional") is not True  # no key, no pod: never an open service
    # The Secret the generator makes from api-key.env (a line MLAP_API_KEY=<value>).
    validate(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": generator["name"]},
            "type": "Opaque",
            "data": {"MLAP_API_KEY": "c2VjcmV0"},
        }
    )
    service = load(serving / "service.yaml")
    hpa = load(serving / "hpa.yaml")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]


# Keys of the dagster/dagster chart's values that this project may set, as the chart's
# values schema defines them (helm/dagster/schema/schema/charts/dagster/values.py and its
# subschema/*.py, dagster-user-deployments' subschema/user_deployments.py; read at the 1.13
# line). A nested dict lists a section's keys, `[{...}]` those of each list item; None is
# free-form: Kubernetes objects, checked against Kubernetes' schema in a pod below. Helm
# and the chart are not available here, so this list stands in for `helm lint`: update it
# with the chart.
IMAGE = {"repository": None, "tag": None, "pullPolicy": None}
KUBERNETES_POD_PARTS = dict.fromkeys(
    (
        "resources",
        "securityContext",
        "podSecurityContext",
        "volumes",
        "volumeMounts",
        "nodeSelector",
        "affinity",
        "tolerations",
        "annotations",
        "labels",
        "env",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
    )
)
CHART_KEYS: dict[str, Any] = {
    "global": dict.fromkeys(
        (
            "postgresqlSecretName",
            "dagsterHome",
            "serviceAccountName",
            "celeryConfigSecretName",
            "dagsterInstanceConfigMap",
        )
    ),
    "telemetry": {"enabled": None},
    "generatePostgresqlPasswordSecret": None,
    "postgresql": {
        **dict.fromkeys(
            (
                "postgresqlScheme",
                "enabled",
                "postgresqlHost",
                "postgresqlUsername",
                "postgresqlPassword",
                "postgresqlDatabase",
                "postgresqlParams",
            )
        ),
        "image": IMAGE,
        "service": {"port": None},
    },
    "dagsterWebserver": {
        **KUBERNETES_POD_PARTS,
        **dict.fromkeys(
            (
                "replicaCount",
                "nameOverride",
                "service",
                "workspace",
                "envConfigMaps",
                "envSecrets",
                "deploymentLabels",
                "enableReadOnly",
                "pathPrefix",
                "logLevel",
                "dbStatementTimeout",
                "dbPoolRecycle",
                "schedulerName",
            )
        ),
        "image": IMAGE,
    },
    "dagsterDaemon": {
        **KUBERNETES_POD_PARTS,
        **dict.fromkeys(
            (
                "enabled",
                "heartbeatTolerance",
                "envConfigMaps",
                "envSecrets",
                "deploymentLabels",
                "runRetries",
                "sensors",
                "schedules",
                "schedulerName",
            )
        ),
        "image": IMAGE,
        "runCoordinator": {
            "enabled": None,
            "type": None,
            "config": {
                "queuedRunCoordinator": dict.fromkeys(
                    (
                        "maxConcurrentRuns",
                        "tagConcurrencyLimits",
                        "dequeueIntervalSeconds",
                        "dequeueNumWorkers",
                        "dequeueUseThreads",
                    )
                )
            },
        },
        "runMonitoring": dict.fromkeys(
            (
                "enabled",
                "startTimeoutSeconds",
                "cancelTimeoutSeconds",
                "maxRuntimeSeconds",
                "maxResumeRunAttempts",
                "pollIntervalSeconds",
                "freeSlotsAfterRunEndSeconds",
            )
        ),
    },
    "dagster-user-deployments": {
        "enabled": None,
        "enableSubchart": None,
        "imagePullSecrets": None,
        "deployments": [
            {
                **KUBERNETES_POD_PARTS,
                **dict.fromkeys(
                    (
                        "name",
                        "port",
                        "dagsterApiGrpcArgs",
                        "codeServerArgs",
                        "envConfigMaps",
                        "envSecrets",
                        "schedulerName",
                    )
                ),
                "image": IMAGE,
                "includeConfigInLaunchedRuns": {"enabled": None},
            }
        ],
    },
    "runLauncher": {
        "type": None,
        "config": {
            "k8sRunLauncher": {
                **dict.fromkeys(
                    (
                        "imagePullPolicy",
                        "jobNamespace",
                        "loadInclusterConfig",
                        "kubeconfigFile",
                        "envConfigMaps",
                        "envSecrets",
                        "envVars",
                        "volumeMounts",
                        "volumes",
                        "labels",
                        "failPodOnRunFailure",
                        "resources",
                        "schedulerName",
                        "securityContext",
                    )
                ),
                "image": IMAGE,
                "runK8sConfig": dict.fromkeys(
                    (
                        "containerConfig",
                        "podSpecConfig",
                        "podTemplateSpecMetadata",
                        "jobSpecConfig",
                        "jobMetadata",
                    )
                ),
            }
        },
    },
}


def unknown_keys(values: Any, schema: Any, path: str = "") -> list[str]:
    if schema is None:
        return []
    if isinstance(schema, list):
        return [
            k
            for i, item in enumerate(values)
            for k in unknown_keys(item, schema[0], f"{path}[{i}]")
        ]
    return [
        key
        for name, value in values.items()
        for key in (
            [f"{path}{name}"]
            if name not in schema
            else unknown_keys(value, schema[name], f"{path}{name}.")
        )
    ]


def test_the_helm_values_use_the_charts_keys(helm: dict[str, Any]) -> None:
    assert unknown_keys(helm, CHART_KEYS) == []
    assert unknown_keys({"dagsterDaemon": {"runCordinator": {}}}, CHART_KEYS) == [
        "dagsterDaemon.runCordinator"
    ]


def test_the_helm_values_kubernetes_parts_validate(helm: dict[str, Any]) -> None:
    """The user deployment's and the run launcher's Kubernetes parts, in the pods the chart
    would make of them."""
    [code] = helm["dagster-user-deployments"]["deployments"]
    image = f"{code['image']['repository']}:{code['image']['tag']}"
    launcher = helm["runLauncher"]["config"]["k8sRunLauncher"]
    pod_spec = launcher["runK8sConfig"]["podSpecConfig"]
    for name, spec, container in [
        (
            "code-server",
            {"securityContext": code["podSecurityContext"], "volumes": code["volumes"]},
            {"volumeMounts": code["volumeMounts"], "securityContext": code["securityContext"]},
        ),
        (
            "run",
            pod_spec,
            {"resources": launcher["resources"], "securityContext": launcher["securityContext"]},
        ),
    ]:
        validate(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "labels": launcher["labels"]},
                "spec": {**spec, "containers": [{"name": name, "image": image, **container}]},
            }
        )


def test_the_helm_values_and_the_instance_agree(
    helm: dict[str, Any], instance_config: dict[str, Any], platform_env: dict[str, str]
) -> None:
    launcher = instance_config["run_launcher"]["config"]
    coordinator = instance_config["run_coordinator"]["config"]
    daemon = helm["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert daemon["runCoordinator"]["type"] == instance_config["run_coordinator"]["class"]
    assert queued["tagConcurrencyLimits"] == coordinator["tag_concurrency_limits"]
    assert queued["maxConcurrentRuns"] == coordinator["max_concurrent_runs"]
    assert helm["telemetry"] == instance_config["telemetry"] == {"enabled": False}
    monitoring = instance_config["run_monitoring"]
    assert daemon["runMonitoring"] == {
        "enabled": monitoring["enabled"],
        "startTimeoutSeconds": monitoring["start_timeout_seconds"],
        "maxResumeRunAttempts": monitoring["max_resume_run_attempts"],
    }

    postgres = helm["postgresql"]
    assert postgres["postgresqlScheme"] == "postgresql+psycopg2"
    assert (
        postgres["postgresqlHost"],
        str(postgres["service"]["port"]),
        postgres["postgresqlDatabase"],
        postgres["postgresqlUsername"],
    ) == tuple(platform_env[f"DAGSTER_PG_{k}"] for k in ("HOST", "PORT", "DB", "USERNAME"))
    assert helm["global"]["postgresqlSecretName"] == launcher["postgres_password_secret"]
    assert helm["global"]["serviceAccountName"] == launcher["service_account_name"]

    [code] = helm["dagster-user-deployments"]["deployments"]
    assert code["includeConfigInLaunchedRuns"] == {"enabled": True}
    assert [c["name"] for c in code["envConfigMaps"]] == launcher["env_config_maps"]
    assert [s["name"] for s in code["envSecrets"]] == launcher["env_secrets"]
    assert code["volumes"] == launcher["volumes"]
    assert code["volumeMounts"] == launcher["volume_mounts"]
    assert "resources" not in code  # the chart would pass them on to every run pod
    k8s = helm["runLauncher"]["config"]["k8sRunLauncher"]
    assert helm["runLauncher"]["type"] == instance_config["run_launcher"]["class"]
    assert k8s["resources"] == launcher["resources"]
    assert k8s["securityContext"] == launcher["security_context"]
    assert k8s["labels"] == launcher["labels"]
    assert k8s["runK8sConfig"]["podSpecConfig"] == launcher["run_k8s_config"]["pod_spec_config"]
    assert k8s["failPodOnRunFailure"] == launcher["fail_pod_on_run_failure"]
    images = {
        f"{part['image']['repository']}:{part['image']['tag']}"
        for part in (helm["dagsterWebserver"], daemon, code)
    }
    assert images == {PLATFORM_IMAGE}

    workspace = load(PROJECT_ROOT / "workspace.yaml")["load_from"][0]["python_module"]
    assert code["codeServerArgs"] == ["-m", workspace["module_name"]]
    [mount] = code["volumeMounts"]
    assert mount["mountPath"] == platform_env["MLAP_STATE_DIR"]


def test_the_platform_configmap_makes_a_valid_production_profile(
    platform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in platform_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLAP_DATABASE_URL", "postgresql+psycopg2://mlap:pw@postgres:5432/mlap")
    assert environment.profile() == "production"
    assert environment.lake_url() == platform_env["MLAP_LAKE_URL"]
    assert environment.state_dir() == Path(platform_env["MLAP_STATE_DIR"])
    assert environment.study_database() == "mlap_optuna"
    assert environment.step_pod_jobs() == {"train"}
    assert set(environment.TELEMETRY_OFF.items()) <= set(platform_env.items())


# BentoML 1.4's request metrics of a class-style service, with their labels, as a served
# champion's /metrics shows them (tests/test_serving_hardening.py checks this list and the
# dashboard against a real one; BentoML's own definitions are internals, see test_imports).
BENTOML_SERIES = {
    f"bentoml_service_request_{name}": labels
    for name, labels in {
        "total": {"endpoint", "service_name", "service_version", "http_response_code"},
        "duration_seconds_bucket": {
            *("endpoint", "service_name", "service_version", "http_response_code", "le")
        },
        "duration_seconds_sum": {
            "endpoint",
            "service_name",
            "service_version",
            "http_response_code",
        },
        "duration_seconds_count": {
            *("endpoint", "service_name", "service_version", "http_response_code")
        },
        "in_progress": {"endpoint", "service_name", "service_version"},
    }.items()
}
# Labels Prometheus adds to every series of the scrape job (deploy/monitoring).
TARGET_LABELS = {"service", "pod", "namespace", "job", "instance"}


def scoring_series() -> dict[str, set[str]]:
    """The platform's own series (bentos/observability.py), with their label names, as its
    ScoringMetrics export them after a classification's and a regression's response."""
    from prometheus_client import REGISTRY

    from bentos.observability import scoring_metrics

    metrics = scoring_metrics()
    metrics.observe("/predict", [SimpleNamespace(probability=0.8, label=True, prediction=None)])
    metrics.observe("/predict", [SimpleNamespace(probability=None, label=None, prediction=2.5)])
    series: dict[str, set[str]] = {}
    for family in REGISTRY.collect():
        if family.name.startswith("mlap_"):
            for sample in family.samples:
                series.setdefault(sample.name, set()).update(sample.labels)
    return series


def dashboard_queries() -> list[tuple[str, set[str], set[str]]]:
    """Each query of the dashboard: its expression, the series it reads, the labels it
    filters or groups by."""
    dashboard = json.loads((DEPLOY / "monitoring" / "grafana-dashboard.json").read_text())
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            names = set(re.findall(r"\b((?:bentoml|mlap)_[a-z_]+)\b", expr))
            groups = re.findall(r"by \(([^)]*)\)", expr)
            labels = {label.strip() for group in groups for label in group.split(",")}
            labels |= set(re.findall(r"([a-z_]+)=~?\"", expr))
            queries.append((expr, names, labels))
    return queries


def unexported(
    queries: list[tuple[str, set[str], set[str]]], series: dict[str, set[str]]
) -> list[str]:
    """What the queries ask for that `series` does not have: a series, or a label of it."""
    problems = []
    for expr, names, labels in queries:
        missing = names - series.keys()
        problems += [f"{name} in {expr}" for name in sorted(missing)]
        if not missing:
            allowed = set.union(*(series[n] for n in names)) | TARGET_LABELS
            problems += [f"label {label} in {expr}" for label in sorted(labels - allowed)]
    return problems


def test_the_dashboard_queries_what_the_service_exports() -> None:
    dashboard = json.loads((DEPLOY / "monitoring" / "grafana-dashboard.json").read_text())
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("requests", "latency", "error", "per class", "drift share"):
        assert topic in titles
    queries = dashboard_queries()
    assert len(queries) >= 10 and all(names for _, names, _ in queries)
    assert unexported(queries, {**BENTOML_SERIES, **scoring_series()}) == []
    # The check can fail: a series the service does not have, a label a series lacks.
    wrong = [("x", {"mlap_records_scored_total"}, {"label"}), ("y", {"mlap_scored"}, set())]
    assert unexported(wrong, scoring_series()) == ["label label in x", "mlap_scored in y"]


def test_prometheus_scrapes_the_champion_service() -> None:
    [job] = load(DEPLOY / "monitoring" / "prometheus-scrape.yaml")["scrape_configs"]
    service = load(DEPLOY / "serving" / "service.yaml")
    assert job["metrics_path"] == "/metrics"
    keep = {
        tuple(r["source_labels"]): r["regex"]
        for r in job["relabel_configs"]
        if r.get("action") == "keep"
    }
    name = service["metadata"]["labels"]["app.kubernetes.io/name"]
    assert keep[("__meta_kubernetes_service_label_app_kubernetes_io_name",)] == name
    assert keep[("__meta_kubernetes_endpoint_port_name",)] == service["spec"]["ports"][0]["name"]
    targets = {r.get("target_label") for r in job["relabel_configs"]}
    assert "service" in targets  # the dashboard's $service variable
