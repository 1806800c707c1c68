# One image recipe for every service; pick the service with a build argument, from the workspace root
# (see .dockerignore):
#   docker build --build-arg SERVICE=scheduler -t frontdesk/scheduler .      (or: make images)
# Runs as a non-root user, needs nothing writable but /tmp (mount an emptyDir there), serves its public
# HTTP API on 8080 and its operations endpoints (probes, metrics, OpenAPI) on 8081.
#
# Supply chain (docs/operations.md, "Dependencies"): the base image is pinned by digest (BASE_IMAGE;
# refresh it with the command there), every third-party package comes from requirements.lock with its
# hashes (pip refuses anything else), and the workspace packages are built here without dependencies.
ARG BASE_IMAGE=python:3.11.15-slim-bookworm@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3

FROM ${BASE_IMAGE} AS build
ARG SERVICE
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements.lock requirements-build.lock ./
COPY libs/common libs/common
COPY services/${SERVICE} services/${SERVICE}
# Wheels of the two workspace projects, built by the locked build backend (no download at build time),
# then the locked dependencies and those wheels into the venv the final stage copies.
# `frontdesk-service` names the service's own console script, so the final stage needs no argument in CMD.
RUN test -n "${SERVICE}" \
 && python -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes --no-deps -r requirements-build.lock \
 && /opt/build/bin/pip wheel --no-deps --no-build-isolation --no-index -w /wheels ./libs/common "./services/${SERVICE}" \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes --no-deps -r requirements.lock \
 && /opt/venv/bin/pip install --no-deps --no-index /wheels/*.whl \
 && /opt/venv/bin/pip check \
 && ln -s "frontdesk-${SERVICE}" /opt/venv/bin/frontdesk-service

FROM ${BASE_IMAGE}
ARG SERVICE
LABEL org.opencontainers.image.title="frontdesk-${SERVICE}" \
      org.opencontainers.image.source="services/${SERVICE}"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FRONTDESK_HTTP_HOST=0.0.0.0 \
    FRONTDESK_HTTP_PORT=8080 \
    FRONTDESK_OPS_PORT=8081
RUN groupadd --system --gid 10001 frontdesk \
 && useradd --system --uid 10001 --gid frontdesk --no-create-home --shell /usr/sbin/nologin frontdesk
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080 8081
# Liveness only (/healthz checks nothing external); readiness is the orchestrator's /readyz probe.
HEALTHCHECK --interval=15s --timeout=3s --start-period=90s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8081/healthz', timeout=2)"]
# Migrations only (init container / Job): python -m frontdesk.common.migrate_cli <service>
CMD ["frontdesk-service"]
