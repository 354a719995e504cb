# Firstline server image: `docker build -t firstline .` (see README, "Deploying").
# Installs only from the hashed locks, only binary wheels (no compiler in the image), runs as a non-root
# user, one process: `firstline serve` on 0.0.0.0:8000. It refuses to start without FIRSTLINE_AUTH_TOKEN.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
RUN python -m venv /opt/firstline
COPY requirements-bootstrap.lock requirements.lock ./
# The bootstrap lock first: the venv's own pip mis-resolves extras under --require-hashes.
RUN /opt/firstline/bin/python -m pip install --require-hashes --only-binary=:all: -r requirements-bootstrap.lock \
 && /opt/firstline/bin/python -m pip install --require-hashes --only-binary=:all: -r requirements.lock
COPY pyproject.toml README.md LICENSE ./
COPY assistant ./assistant
COPY tools ./tools
COPY prompts ./prompts
COPY web ./web
COPY evals ./evals
COPY cli ./cli
RUN /opt/firstline/bin/python -m pip install --no-deps --no-build-isolation . \
 && /opt/firstline/bin/firstline --version

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="firstline" \
      org.opencontainers.image.description="LLM-assisted troubleshooting assistant for on-call engineers" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 firstline \
 && useradd --system --uid 10001 --gid firstline --home-dir /home/firstline --create-home firstline
COPY --from=build /opt/firstline /opt/firstline
ENV PATH=/opt/firstline/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FIRSTLINE_HOME=/home/firstline/.firstline \
    FIRSTLINE_LOG_FORMAT=json
USER 10001:10001
WORKDIR /home/firstline
EXPOSE 8000
# /livez needs no database: a database outage must not get the container restarted.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=2)"]
ENTRYPOINT ["firstline"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
