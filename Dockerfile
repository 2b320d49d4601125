# syntax=docker/dockerfile:1

# One image with all three Termflow services:
#
#   /usr/local/bin/termflow-ingest     (./services/ingest)
#   /usr/local/bin/termflow-indexer    (./services/indexer)
#   /usr/local/bin/termflow-persister  (./services/persister)
#
# Build from the repository root (the workspace in go.work is used):
#
#   docker build -t termflow:local .
#
# docker-compose.yml runs the same image three times with different commands.
# The binaries are static (CGO_ENABLED=0; pebble falls back to its pure-Go
# zstd), so the runtime stage only needs CA certificates and curl for the
# container health checks.

ARG GO_VERSION=1.26
ARG DEBIAN_RELEASE=trixie

# ---------------------------------------------------------------------------
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build

WORKDIR /src
ENV CGO_ENABLED=0 \
    GOTOOLCHAIN=local

# Module metadata first, so the dependency download stays cached until a
# go.mod/go.sum changes. Every module listed in go.work must be present for
# workspace mode, hence tools/, cli/ and bench/go.mod too; the [m] globs tolerate a missing
# go.sum/go.work.sum.
COPY go.work go.work.su[m] ./
COPY pkg/go.mod pkg/go.su[m] ./pkg/
COPY services/ingest/go.mod services/ingest/go.su[m] ./services/ingest/
COPY services/indexer/go.mod services/indexer/go.su[m] ./services/indexer/
COPY services/persister/go.mod services/persister/go.su[m] ./services/persister/
COPY tools/go.mod tools/go.su[m] ./tools/
COPY cli/go.mod cli/go.su[m] ./cli/
COPY bench/go.mod bench/go.su[m] ./bench/
RUN go mod download

# Only the source the services are built from (keeps .git, data and other
# local state out of the build context's effect on the cache).
COPY pkg/ ./pkg/
COPY services/ ./services/

ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/root/.cache/go-build \
    set -eu; \
    for svc in ingest indexer persister; do \
        GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH:-amd64}" \
            go build -trimpath -buildvcs=false -ldflags="-s -w" \
            -o "/out/termflow-${svc}" "./services/${svc}"; \
    done

# ---------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl tzdata; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 10001 termflow; \
    useradd --system --uid 10001 --gid termflow --home-dir /data \
        --no-create-home --shell /usr/sbin/nologin termflow; \
    install -d -o termflow -g termflow -m 0750 /data

COPY --from=build /out/termflow-ingest /out/termflow-indexer /out/termflow-persister /usr/local/bin/

# A named volume mounted on /data is initialised from this directory and so
# inherits its ownership.
ENV TERMFLOW_DATA_DIR=/data
WORKDIR /data
USER termflow:termflow

# ingest HTTP API + metrics, indexer ops, persister ops (see docker-compose.yml)
EXPOSE 8080 8081 8082

# Pick the service with the command, e.g. `docker run termflow:local termflow-indexer`.
CMD ["termflow-ingest"]
