# Rasd: one image for the embedded default (SQLite in /data) and for replicas on PostgreSQL.
# tests/test_container.py runs this file's install and entrypoint commands outside Docker.

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/rasd
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY storage ./storage
COPY notifiers ./notifiers
RUN /opt/rasd/bin/pip install ".[postgres]"

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="rasd" \
      org.opencontainers.image.description="Arabic/French news monitoring and alerting daemon" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 10001 rasd \
    && useradd --system --uid 10001 --gid rasd --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin rasd \
    && mkdir -p /data /app \
    && chown rasd:rasd /data \
    && ln -s /data /app/data
COPY --from=build /opt/rasd /opt/rasd
# Relative paths in rasd.yaml (data/rasd.db, data/alerts.jsonl) land in the /data volume.
WORKDIR /app
COPY rasd.yaml /app/rasd.yaml
COPY rules /app/rules
ENV PATH=/opt/rasd/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RASD_CONFIG=/app/rasd.yaml \
    RASD_DATABASE_URL=sqlite:////data/rasd.db \
    RASD_RULES_DIR=/app/rules \
    RASD_LISTEN=0.0.0.0:8080 \
    RASD_LOG_FORMAT=json
VOLUME ["/data", "/app/rules"]
EXPOSE 8080
USER 10001:10001
# /healthz never touches the database, so an outage does not restart every replica.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
# rasd is PID 1 (exec form): it handles SIGTERM itself, drains in-flight polls, then exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["rasd"]
CMD ["run"]
