# syntax=docker/dockerfile:1
# The adspipe code location: a Dagster gRPC code server on port 4000 (docs/deploy.md).
# Build from the repository root:  docker build -t adspipe:TAG .
# The same image runs the code location and, under DockerRunLauncher / K8sRunLauncher, each run.
# No token, password or URL is baked in: every one comes from the environment at run time.

# --- build: a virtualenv with adspipe and its pinned dependencies ---------------------------------
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
# Dependencies first (their layer survives source edits), pinned by deploy/constraints.txt, which
# carries the Dagster set exactly as pyproject.toml pins it.
COPY deploy/constraints.txt /src/deploy/constraints.txt
COPY pyproject.toml README.md /src/
COPY adspipe /src/adspipe
RUN /opt/venv/bin/pip install --constraint deploy/constraints.txt ".[docker,k8s]" \
    && /opt/venv/bin/pip check

# --- runtime: the virtualenv only, as a non-root user ---------------------------------------------
FROM python:3.11.14-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/home \
    ADSPIPE_HOME=/opt/dagster/adspipe
RUN groupadd --system --gid 10001 adspipe \
    && useradd --system --uid 10001 --gid adspipe --home-dir /opt/dagster --shell /usr/sbin/nologin adspipe \
    && mkdir -p /opt/dagster/home /opt/dagster/adspipe \
    && chown -R adspipe:adspipe /opt/dagster
COPY --from=build /opt/venv /opt/venv
COPY --chmod=0755 deploy/entrypoint.sh /usr/local/bin/adspipe-entrypoint
WORKDIR /opt/dagster
USER 10001:10001
EXPOSE 4000
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["dagster", "api", "grpc-health-check", "-p", "4000"]
ENTRYPOINT ["/usr/local/bin/adspipe-entrypoint"]
# `dagster api grpc` serves the definitions and starts run workers under the default launcher;
# Docker and Kubernetes launchers start each run as `dagster api execute_run` in this same image.
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "adspipe.definitions", "--location-name", "adspipe"]
