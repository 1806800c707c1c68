"""`frontdesk audit deps`: pip-audit over the hashed locks, with or without the internet.

pip-audit asks a vulnerability service about each pinned release. Its default, PyPI's per-release
JSON, is not served by every package mirror (ours answers 404, which pip-audit reports as "skipped",
not as a failure), so we ask OSV: first the live OSV API; when that cannot be reached, the same
question goes to a loopback server that answers it, in OSV's own format, from the advisories shipped
in security/advisories (a dated snapshot for the packages of our locks, see its README.md). Either
way pip-audit does the auditing; a known-vulnerable pin fails the run, an unreachable live database
only warns. The snapshot knows nothing published after its date: that is what the warning says.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from .stack import repo_root

LOCKS = ("requirements.lock", "requirements-build.lock", "requirements-dev.lock")
ADVISORIES = repo_root() / "security" / "advisories"
LIVE_OSV = "https://api.osv.dev/v1/query"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --- the offline OSV answer ------------------------------------------------------------------------


def load_advisories(folder: Path = ADVISORIES) -> dict[str, list[dict[str, Any]]]:
    """package (canonical name) -> its OSV records, from <folder>/<package>/<id>.json."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(folder.glob("*/*.json")):
        found.setdefault(canonical(path.parent.name), []).append(json.loads(path.read_text()))
    return found


def _in_range(version: Version, events: list[dict[str, str]]) -> bool:
    """OSV ECOSYSTEM range semantics, events in version order: introduced opens the range, fixed
    (exclusive) or last_affected (inclusive) closes it."""
    affected = False
    for event in sorted(events, key=_event_version):
        kind = next(iter(event))
        at = _event_version(event)
        if kind == "introduced" and version >= at:
            affected = True
        elif (kind == "fixed" and version >= at) or (kind == "last_affected" and version > at):
            affected = False
    return affected


def _event_version(event: dict[str, str]) -> Version:
    try:
        return Version(next(iter(event.values())))
    except InvalidVersion:
        return Version("0")


def affects(record: dict[str, Any], package: str, version: str) -> bool:
    if record.get("withdrawn"):
        return False
    wanted = Version(version)
    for affected in record.get("affected", []):
        pkg = affected.get("package", {})
        if pkg.get("ecosystem") != "PyPI" or canonical(pkg.get("name", "")) != canonical(package):
            continue
        if version in affected.get("versions", []):
            return True
        for ranges in affected.get("ranges", []):
            if ranges.get("type") == "ECOSYSTEM" and _in_range(wanted, ranges.get("events", [])):
                return True
    return False


@contextmanager
def offline_osv(advisories: dict[str, list[dict[str, Any]]]) -> Iterator[str]:
    """A loopback server answering OSV's /v1/query from `advisories`; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            name, version = query["package"]["name"], query["version"]
            vulns = [r for r in advisories.get(canonical(name), []) if affects(r, name, version)]
            body = json.dumps({"vulns": vulns} if vulns else {}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()
        server.server_close()


# --- running pip-audit -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    ids: tuple[str, ...]
    fixed_in: tuple[str, ...]

    def describe(self) -> str:
        fix = f"fixed in {', '.join(self.fixed_in)}" if self.fixed_in else "no fixed release"
        return f"{self.package}=={self.version}: {', '.join(self.ids)} ({fix})"


def pip_audit(lock: Path, osv_url: str, timeout: int = 15) -> list[Finding] | None:
    """pip-audit's findings for one lock, or None when the vulnerability service could not be asked."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [
            sys.executable, "-m", "pip_audit", "--disable-pip", "--no-deps", "--requirement", str(lock),
            "--vulnerability-service", "osv", "--osv-url", osv_url, "--timeout", str(timeout),
            "--format", "json", "--output", str(report), "--progress-spinner", "off",
        ]  # fmt: skip
        subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        if not report.is_file():
            return None  # pip-audit stopped before reporting: the service did not answer
        data = json.loads(report.read_text())
    return [
        Finding(
            dep["name"],
            dep["version"],
            tuple(v["id"] for v in dep["vulns"]),
            tuple(sorted({fix for v in dep["vulns"] for fix in v["fix_versions"]}, key=Version)),
        )
        for dep in data.get("dependencies", [])
        if dep.get("vulns")
    ]


def snapshot_date(folder: Path = ADVISORIES) -> str:
    readme = folder / "README.md"
    match = re.search(r"^Snapshot: (\S+)", readme.read_text(), re.M) if readme.is_file() else None
    return match.group(1) if match else "unknown"


def _shown(folder: Path) -> Path:
    return folder.relative_to(repo_root()) if folder.is_relative_to(repo_root()) else folder


def audit(locks: Sequence[Path], live_url: str = LIVE_OSV, folder: Path = ADVISORIES) -> int:
    """0 when no pin has a known vulnerability (by the data that could be had), 1 otherwise."""
    findings: list[Finding] = []
    offline: list[Path] = []
    for lock in locks:
        found = pip_audit(lock, live_url)
        if found is None:
            offline.append(lock)
        else:
            print(f"{lock.name}: audited against OSV (live): {len(found)} vulnerable pin(s)")
            findings += found
    if offline:
        print(
            f"WARNING: the live OSV database ({live_url}) could not be reached; auditing against the"
            f" advisories shipped in {_shown(folder)}/ (snapshot {snapshot_date(folder)}): anything published"
            " after it is not known to this run."
        )
        with offline_osv(load_advisories(folder)) as url:
            for lock in offline:
                found = pip_audit(lock, url)
                if found is None:
                    print(f"ERROR: pip-audit failed on {lock.name} against the offline snapshot", file=sys.stderr)
                    return 1
                print(f"{lock.name}: audited against the offline snapshot: {len(found)} vulnerable pin(s)")
                findings += found
    for finding in sorted(set(findings), key=lambda f: f.package):
        print(f"VULNERABLE {finding.describe()}")
    return 1 if findings else 0


# --- refreshing the snapshot -----------------------------------------------------------------------


def locked_packages(locks: Sequence[Path]) -> set[str]:
    names = set()
    for lock in locks:
        for line in lock.read_text().splitlines():
            match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
            if match:
                names.add(canonical(match.group(1)))
    return names


def refresh(source: Path, locks: Sequence[Path], folder: Path = ADVISORIES) -> int:
    """Copy the OSV records (JSON, or YAML as in the PyPA advisory database) under `source` that name a
    locked package into `folder`/<package>/<id>.json. Returns how many were written."""
    import yaml

    wanted = locked_packages(locks)
    written = 0
    for path in sorted([*source.rglob("*.json"), *source.rglob("*.yaml")]):
        try:
            record = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
        except (ValueError, yaml.YAMLError):
            continue
        if not isinstance(record, dict) or "id" not in record:
            continue
        for pkg in {canonical(a.get("package", {}).get("name", "")) for a in record.get("affected", [])} & wanted:
            target = folder / pkg / f"{record['id']}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")
            written += 1
    return written
