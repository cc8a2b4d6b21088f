"""The platform image (the top-level Dockerfile): its code server loads the platform's
definitions, as the Dagster Helm chart's user deployment runs it, and the `dagster` CLI
on the host reads them from it over gRPC."""

import subprocess
import sys
from pathlib import Path

from ml_assets.definitions import build_definitions
from tests.images.podman import PLATFORM_IMAGE, container, wait_serving
from tests.processes import free_port

DAGSTER = str(Path(sys.executable).parent / "dagster")


def dagster_over_grpc(*args: str, port: int) -> subprocess.CompletedProcess[str]:
    grpc = ["--grpc-host", "127.0.0.1", "--grpc-port", str(port)]
    return subprocess.run(
        [DAGSTER, *args, *grpc], capture_output=True, text=True, timeout=120, check=False
    )


def test_code_server_in_the_image_loads_the_definitions(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "code-server.log"
    argv = ["dagster", "code-server", "start", "-h", "127.0.0.1", "-p", str(port)]
    with container(PLATFORM_IMAGE, [*argv, "-m", "ml_assets.definitions"], log) as process:
        wait_serving(port, log, process, 300)
        validated = dagster_over_grpc("definitions", "validate", port=port)
        listed = dagster_over_grpc("job", "list", port=port)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert listed.returncode == 0, listed.stdout + listed.stderr
    served_jobs = {
        line.removeprefix("Job: ")
        for line in listed.stdout.splitlines()
        if line.startswith("Job: ")
    }
    local_jobs = {job.name for job in build_definitions().resolve_all_job_defs()}
    assert local_jobs, "the platform defines no job"
    assert local_jobs <= served_jobs, local_jobs - served_jobs
