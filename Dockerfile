# The messenger node image: `msgfleet serve` (the contract infra/ deploys; see docs/INFRA.md).
# Build: docker build -t ghcr.io/msgfleet/node:0.1.0 .
# Two stages: dependencies are built with pip in a full virtualenv, only the virtualenv is copied
# into a slim runtime that runs as an unprivileged user with a read-only-friendly layout.

ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Pinned dependencies first, so the layer is reused while only the code changes.
COPY pyproject.toml constraints.txt README.md ./
RUN pip install -c constraints.txt pip setuptools wheel
COPY msgfleet ./msgfleet
COPY messenger ./messenger
COPY sim ./sim
COPY loadtests ./loadtests
COPY infra ./infra
COPY charts ./charts
RUN pip install -c constraints.txt .

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MSGFLEET_DATA_DIR=/data
RUN groupadd --gid 10001 msgfleet \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin msgfleet \
 && mkdir -p /data && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /data
EXPOSE 8080
# The slim image has no curl: probe /healthz with the standard library.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["msgfleet"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--data-dir", "/data"]
