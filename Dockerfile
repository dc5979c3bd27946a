# The nimdoctor image: `nimdoctor agent`, `extender` and `audit` in the daemonset/ manifests, and `nimdoctor run`
# through `kubectl exec`. Tag it with the package version (nimdoctor/__init__.py), as the manifests expect:
#
#   docker build -t ghcr.io/nimdoctor/nimdoctor:0.1.0 .
#
# Build stage: installs the wheel (with the check catalog inside) into a venv. Every dependency ships wheels for
# amd64 and arm64, so no compiler is needed even here.
FROM python:3.11.13-slim-bookworm AS build

# pip compiles the bytecode here: the final stage's root filesystem is read-only.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY nimdoctor ./nimdoctor
COPY checks ./checks
RUN python -m venv /opt/nimdoctor \
    && /opt/nimdoctor/bin/pip install --no-cache-dir . \
    && /opt/nimdoctor/bin/pip uninstall --yes pip

# Final stage: the venv on the same Python, no pip, no build tools, no source tree.
FROM python:3.11.13-slim-bookworm

RUN python -m pip uninstall --yes --no-cache-dir pip setuptools wheel \
    && groupadd --system --gid 65532 nimdoctor \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin nimdoctor

COPY --from=build /opt/nimdoctor /opt/nimdoctor

# The source revision every process exports as nimdoctor_build_info{revision}:
# docker build --build-arg REVISION="$(git rev-parse --short HEAD)" .
ARG REVISION=unknown
ENV PATH=/opt/nimdoctor/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NIMDOCTOR_REVISION=$REVISION

LABEL org.opencontainers.image.title="nimdoctor" \
      org.opencontainers.image.description="Finds the node problems that break NVIDIA NIM inference pods on Kubernetes." \
      org.opencontainers.image.source="https://github.com/nimdoctor/nimdoctor" \
      org.opencontainers.image.licenses="Apache-2.0"

# Numeric, so that Kubernetes can verify runAsNonRoot.
USER 65532:65532
ENTRYPOINT ["nimdoctor"]
CMD ["--help"]
