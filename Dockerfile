# The Anubis image, ghcr.io/anubis-bench/anubis:<version>: `anubis controller` in the cluster, the data
# fetch init container of every run (`anubis fetch`), and the image the sample benchmarks run in
# (Python 3.11 with numpy). Build from the repository root, with the version of pyproject.toml (the
# release workflow does, on a tag v<version>):
#
#   docker build --build-arg VERSION=0.1.0 -t ghcr.io/anubis-bench/anubis:0.1.0 .
#
# Two stages: the wheel is built with the build tools, the runtime stage installs it without them.
# The runtime user is 10001 (not root), matching the controller Deployment's securityContext; the
# image works with a read-only root filesystem (only /tmp and the data folder are written).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# gcc: setup.py builds controller/_linescan.c, the C scanner of metric extraction (optional: without a
# compiler the wheel has none and extraction runs on re, about 5x slower on logs dense in values).
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py README.md constraints.txt ./
COPY anubis ./anubis
COPY renderer ./renderer
COPY controller ./controller
COPY schemas ./schemas
COPY client_lib ./client_lib
COPY benchmarkai ./benchmarkai
RUN pip wheel --wheel-dir /wheels -c constraints.txt '.[cluster,github]'

FROM python:3.11-slim
ARG VERSION=0.1.0
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ANUBIS_DATA_DIR=/var/lib/anubis \
    ANUBIS_CACHE_DIR=/tmp/anubis-cache \
    HOME=/tmp
LABEL org.opencontainers.image.source="https://github.com/anubis-bench/anubis" \
      org.opencontainers.image.title="anubis" \
      org.opencontainers.image.description="Anubis: controller, data fetcher and benchmark runtime" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels "anubis-bench[cluster,github]==${VERSION}" numpy \
    && rm -rf /wheels \
    && groupadd --gid 10001 anubis \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin anubis \
    && mkdir -p /var/lib/anubis \
    && chown 10001:10001 /var/lib/anubis
USER 10001:10001
WORKDIR /tmp
EXPOSE 9090
ENTRYPOINT ["anubis"]
CMD ["--help"]
