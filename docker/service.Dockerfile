# The export service image: `gitexport serve` (API) and `gitexport worker` from one image.
# Build from the repository root: docker build -f docker/service.Dockerfile -t gitexport .
FROM python:3.11-slim

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git git-lfs \
    && rm -rf /var/lib/apt/lists/* \
    && git lfs install --system

WORKDIR /src
COPY . /src
RUN pip install --no-cache-dir /src \
    && useradd --create-home --uid 10001 gitexport \
    && mkdir -p /var/lib/gitexport \
    && chown gitexport /var/lib/gitexport

USER 10001
ENV GITEXPORT_STATE_DIR=/var/lib/gitexport
EXPOSE 8080
CMD ["gitexport", "serve", "--host", "0.0.0.0", "--port", "8080", "--workers", "0"]
