# taskqueue-server image: docker build -t taskqueue . (see docs/operations.md, "Docker").
# Stage 1 builds a virtualenv with both packages; stage 2 copies only that venv.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# setup.py reads the version from client/; README.md and LICENSE are package metadata.
COPY pyproject.toml setup.py MANIFEST.in README.md CHANGELOG.md LICENSE ./
COPY client ./client
COPY server ./server
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install ./client . \
 && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

FROM python:3.11-slim
RUN groupadd --system --gid 10001 taskqueue \
 && useradd --system --uid 10001 --gid taskqueue --no-create-home --shell /usr/sbin/nologin taskqueue
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TASKQUEUE_HOST=0.0.0.0 \
    TASKQUEUE_PORT=50051 \
    TASKQUEUE_HANDLERS=taskqueue_server.handlers.demo
USER taskqueue
EXPOSE 50051 8080
# Asks the server's own grpc.health.v1 service (plaintext on localhost); NOT_SERVING while
# Redis is unreachable, so an orchestrator sees the store outage too.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-m", "taskqueue_server.service.probe"]
# Exec form: SIGTERM reaches the server directly and it drains gracefully.
CMD ["taskqueue-server"]
