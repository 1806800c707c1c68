"""The runtime the images run, under the restrictions the pods get: a read-only root filesystem with
only a scratch tmpfs (TMPDIR) writable, a non-root uid (10001), no capabilities. Without a container engine, a private
mount namespace gives the same restrictions (`unshare` + a read-only remount + `setpriv`).

The process serves the shared runtime (HTTP, readiness, the consumer of clinic.configured, the outbox
relay, the lag reporter) with the scheduler's migrations, under a service name of its own so that it
joins no real service's consumer group and emits nothing onto shared topics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from frontdesk.common.contracts import ClinicConfig
from frontdesk.common.db import ensure_database
from frontdesk.tools.apply import publish
from frontdesk.tools.ports import free_port
from frontdesk.tools.stack import LocalStack, run_sync

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
UID = 10001

SERVE = """
from frontdesk.common.service import ServiceDefinition, run_service
from frontdesk.scheduler.entrypoints.main import DEFINITION
run_service(ServiceDefinition(name="rofs-check", handlers={}, migrations=DEFINITION.migrations))
"""
# The writable scratch space is a fresh tmpfs at /dev/shm (TMPDIR), not over /tmp: a checkout that
# lives under /tmp (as CI's may) must stay visible inside the sandbox.
SANDBOX = (
    "mount -o remount,bind,ro / && mount -t tmpfs -o size=64m tmpfs /dev/shm && "
    f'exec setpriv --reuid {UID} --regid {UID} --clear-groups --inh-caps=-all --bounding-set=-all "$@"'
)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, OSError):
        return 0, ""


def wait_for(check: object, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def test_runtime_works_read_only_as_non_root(stack: LocalStack, tmp_path: Path) -> None:
    database = f"frontdesk_rofs_{uuid.uuid4().hex[:8]}"
    run_sync(ensure_database(stack.server_database_url, database))
    port, ops_port = free_port(), free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap,
        "ROFS_CHECK_DATABASE_URL": stack.database_url_named(database),
        "FRONTDESK_HTTP_HOST": "127.0.0.1",
        "ROFS_CHECK_HTTP_PORT": str(port),
        "ROFS_CHECK_OPS_PORT": str(ops_port),
        "FRONTDESK_AUTH_PUBLIC_KEYS": stack.signing_key.public_keys(),
        "FRONTDESK_SHUTDOWN_TIMEOUT_SECONDS": "10",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": "/dev/shm",
        "TMPDIR": "/dev/shm",
    }
    log = (tmp_path / "service.log").open("w")
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", SANDBOX, "sandbox"]
    process = subprocess.Popen(
        [*command, str(REPO / ".venv" / "bin" / "python"), "-c", SERVE], env=env, stdout=log, stderr=log, cwd="/"
    )
    base, ops = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ops_port}"
    try:
        wait_for(lambda: get(ops + "/readyz")[0] == 200 or process.poll() is not None, "/readyz")
        assert process.poll() is None, (tmp_path / "service.log").read_text()[-3000:]
        assert get(ops + "/healthz")[0] == 200
        clinic_id = f"rofs-{uuid.uuid4().hex[:8]}"
        clinic = ClinicConfig.model_validate(
            {
                "clinic_id": clinic_id,
                "name": "Read-only Check Clinic",
                "timezone": "America/Chicago",
                "phone": {"front_desk_pool": "rofs-desk", "answering_service": "rofs-vendor"},
            }
        )
        run_sync(publish(stack.bootstrap, [clinic]))

        def knows_clinic() -> bool:
            status, body = get(base + "/v1/clinics", {"Authorization": f"Bearer {stack.api_token()}"})
            return status == 200 and clinic_id in {c["clinic_id"] for c in json.loads(body)}

        wait_for(knows_clinic, "the clinic to reach the service's directory")
        status, metrics = get(ops + "/metrics")
        assert status == 200 and "frontdesk_consumer_lag" in metrics
        # it really is confined: the same sandbox refuses a write outside its scratch space
        probe = subprocess.run(
            [*command, "sh", "-c", f"touch {REPO}/.rofs-probe"], capture_output=True, text=True, check=False
        )
        assert probe.returncode != 0 and "Read-only" in probe.stderr
        assert not (REPO / ".rofs-probe").exists()
        process.send_signal(signal.SIGTERM)
        # uvicorn re-raises SIGTERM once its graceful shutdown is done: the log says it finished
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
        assert '"service stopped"' in (tmp_path / "service.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        log.close()
