"""A real OpenID Connect provider for the console's sign-in tests: mock-oauth2-server, whose jars come
from Maven Central through deploy/local/oidc/pom.xml into a git-ignored cache (as the broker's do).

It serves discovery, JWKS (RS256), an interactive login form (any user name, optional claims as JSON)
and the authorization code flow with PKCE checked at its token endpoint; it listens on loopback only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .ports import free_port
from .stack import Process, repo_root, wait_until

OIDC_DIR = repo_root() / "deploy" / "local" / "oidc"
OIDC_LIBS = OIDC_DIR / ".cache" / "libs"
MAIN_CLASS = "no.nav.security.mock.oauth2.StandaloneMockOAuth2ServerKt"


def ensure_mock_oidc_jars(quiet: bool = True) -> None:
    if OIDC_LIBS.exists() and any(OIDC_LIBS.glob("mock-oauth2-server-*.jar")):
        return
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is needed once to fetch mock-oauth2-server from Maven Central")
    subprocess.run(
        [
            "mvn",
            "-B",
            *(["-q"] if quiet else []),
            "-f",
            str(OIDC_DIR / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={OIDC_LIBS}",
            "-DincludeScope=runtime",
        ],
        check=True,
    )


@dataclass
class MockOidcProvider:
    state_dir: Path
    port: int = field(default_factory=free_port)
    issuer_id: str = "frontdesk"
    # Another loopback address than the console's 127.0.0.1 makes the provider another site, as in
    # production: the browser then applies SameSite to the redirects between the two.
    host: str = "127.0.0.1"
    process: Process = field(init=False)

    def __post_init__(self) -> None:
        self.process = Process("mock-oidc", self.state_dir)

    @property
    def issuer(self) -> str:
        return f"http://{self.host}:{self.port}/{self.issuer_id}"

    def start(self) -> None:
        ensure_mock_oidc_jars()
        config = {"interactiveLogin": True}
        env = {
            "PATH": "/usr/bin:/bin",
            "SERVER_HOSTNAME": self.host,
            "SERVER_PORT": str(self.port),
            "JSON_CONFIG": json.dumps(config),
        }
        java = shutil.which("java") or "java"
        self.process.spawn([java, "-Xms64m", "-Xmx256m", "-cp", str(OIDC_LIBS / "*"), MAIN_CLASS], env=env)
        wait_until(self._answers, 60, "mock-oauth2-server")

    def _answers(self) -> bool:
        if not self.process.running():
            raise RuntimeError(f"mock-oauth2-server exited; see {self.process.log_file}")
        url = self.issuer + "/.well-known/openid-configuration"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our loopback http URL
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        self.process.stop()
