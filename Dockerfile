# syntax=docker/dockerfile:1
#
# Production image: one static binary on distroless/static (CA certificates,
# time zones, /tmp and a non-root user; no shell, no package manager, no libc).
#
#   docker build -t authstarter .
#   docker run ... (README, "Deployment": configuration, the key as a mounted
#   file, the /data volume)
#
# No container engine runs on the machine this was written on: CI does not
# build this image. It runs the same build command, .ci/build-static, and
# checks that the binary is static and answers /healthz (.ci/run).

# Build stage: the Go release of go.mod, on Debian bookworm, with gcc for cgo
# (github.com/mattn/go-sqlite3).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
# .dockerignore keeps the local database, keys, .env and .git out.
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    sh .ci/build-static /out/authstarter
# The data folder, owned by the image's user (distroless "nonroot", 65532),
# private like the one the server creates itself.
RUN install -d -m 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/authstarter /authstarter
COPY --from=build --chown=65532:65532 /out/data /data
# The server keeps its data in "data" under the working directory (the
# default DATABASE_URL data/app.db, and the development key, which production
# never uses): from / that is the /data volume.
WORKDIR /
# Numeric, so that runtimes enforcing runAsNonRoot can check it.
USER 65532:65532
# Without configuration the server refuses to start and names what is
# missing: a generated key, http or unset SMTP are never used by accident.
# -e APP_ENV=development to try the image locally.
ENV APP_ENV=production
VOLUME ["/data"]
EXPOSE 3000
# SIGTERM (docker stop) drains requests for up to 10 s before exiting.
ENTRYPOINT ["/authstarter"]
