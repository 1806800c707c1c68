"""Kafka identities and ACLs for the local broker, from the one declarative source deploy/access.yaml.

The same file feeds the Strimzi KafkaUser resources (deploy/k8s/generate.py); here it gives the local
broker one SCRAM-SHA-512 principal per service, vendor and client, and exactly the ACL bindings that
`generate.py --acl-bindings` prints, so the local stack and Kubernetes enforce the same rules.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ADMIN = "admin"  # the broker's super user: inter-broker traffic, topic and ACL set-up only


def _repo() -> Path:
    from .stack import repo_root

    return repo_root()


def access_file() -> Path:
    return _repo() / "deploy" / "access.yaml"


def service_principal(service: str) -> str:
    return f"frontdesk-{service}"


def vendor_principal(vendor_id: str) -> str:
    return f"vendor-{vendor_id}"


def principals() -> list[str]:
    """Every principal deploy/access.yaml declares (services, vendors, clients, KEDA's lag reader)."""
    access = yaml.safe_load(access_file().read_text())
    names = [service_principal(s) for s in access.get("services", {})]
    names += [vendor_principal(v["id"]) for v in access.get("vendors", [])]
    names += list(access.get("clients", {}))
    names += [access["lag_reader"]] if access.get("lag_reader") else []
    return names


def acl_bindings() -> list[dict[str, str]]:
    """The ACL bindings, computed by the same code that writes the KafkaUser resources."""
    out = subprocess.run(
        [sys.executable, str(_repo() / "deploy" / "k8s" / "generate.py"), "--acl-bindings"],
        capture_output=True,
        text=True,
        check=True,
    )
    bindings: list[dict[str, str]] = json.loads(out.stdout)
    return bindings


@dataclass
class Credentials:
    """SCRAM passwords of the local broker's principals, kept in the stack's state folder (0600)."""

    path: Path
    ca_file: Path  # the local CA that signed the broker's certificate (tls.py)

    def load(self) -> dict[str, str]:
        """The passwords, made on first use; a principal added to access.yaml since gets one too."""
        passwords: dict[str, str] = json.loads(self.path.read_text()) if self.path.exists() else {}
        missing = [name for name in [ADMIN, *principals()] if name not in passwords]
        if not missing:
            return passwords
        passwords.update({name: secrets.token_urlsafe(18) for name in missing})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(passwords, f)
        return passwords

    def env(self, principal: str) -> dict[str, str]:
        """The environment a process needs to be `principal` on the local broker."""
        return {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": principal,
            "KAFKA_SASL_PASSWORD": self.load()[principal],
            "KAFKA_SSL_CAFILE": str(self.ca_file),
        }


def secure_broker_properties(admin_password: str, keystore: Path, ca_file: Path) -> dict[str, str]:
    """SASL/SCRAM-SHA-512 over TLS for clients, SASL/PLAIN for the (loopback-only) controller,
    StandardAuthorizer, deny by default. `keystore`: the broker's PEM key + chain; `ca_file`: the CA
    the broker trusts when it connects to itself (the inter-broker listener is the TLS one)."""
    plain = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{ADMIN}" password="{admin_password}" user_{ADMIN}="{admin_password}";'
    )
    scram = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{ADMIN}" password="{admin_password}";'
    )
    return {
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT",
        "inter.broker.listener.name": "SASL_SSL",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(ca_file),
        "ssl.enabled.protocols": "TLSv1.3,TLSv1.2",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": plain,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{ADMIN}",
    }


def create_acls(bootstrap: str, admin_password: str, bindings: list[dict[str, str]], ca_file: Path) -> int:
    """Create the ACL bindings with Kafka's admin API (librdkafka; aiokafka has no ACL API)."""
    from confluent_kafka.admin import (
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        AdminClient,
        ResourcePatternType,
        ResourceType,
    )

    admin = AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": ADMIN,
            "sasl.password": admin_password,
            "ssl.ca.location": str(ca_file),
        }
    )
    acls = [
        AclBinding(
            ResourceType[b["resource_type"]],
            b["resource_name"],
            ResourcePatternType[b["pattern_type"]],
            b["principal"],
            b.get("host", "*"),
            AclOperation[b["operation"]],
            AclPermissionType.ALLOW,
        )
        for b in bindings
    ]
    futures: dict[Any, Any] = admin.create_acls(acls, request_timeout=30)
    for future in futures.values():
        future.result()
    # The controller commits ACLs to the metadata log; the broker applies them a moment later. Wait
    # for them to be in force, so that nobody starts against a broker that still denies everything.
    everything = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY
    )
    deadline = time.monotonic() + 30
    while len(admin.describe_acls(everything, request_timeout=10).result()) < len(set(map(str, acls))):
        if time.monotonic() > deadline:
            raise TimeoutError("the broker did not apply the ACLs within 30 s")
        time.sleep(0.2)
    return len(acls)
