# syntax=docker/dockerfile:1
# Campaign analytics: the processor and the query API in one image
# (README.md, "Docker"). The first argument picks the binary:
#   docker build -t campaign-analytics .
#   docker run --rm campaign-analytics processor run --help
#   docker run --rm campaign-analytics query-api serve --help
# deploy/docker/compose.yaml runs both with Kafka, ClickHouse and PostgreSQL.

# The builder: the official Rust image on Debian 12, so that the binaries
# link the glibc and OpenSSL 3 of the runtime image.
ARG RUST_VERSION=1.95.0
FROM rust:${RUST_VERSION}-bookworm AS builder
# librdkafka is built from source (rdkafka-sys) and linked with OpenSSL.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The cache mounts keep crates and build outputs between builds; the binaries
# are copied out of the target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p processor -p query-api --bins \
 && install -d /out \
 && install -m 0755 target/release/processor target/release/query-api /out/ \
 && strip --strip-debug /out/processor /out/query-api

# The runtime: Debian 12 slim with the CA certificates (TLS to ClickHouse,
# PostgreSQL, Kafka, webhooks) and OpenSSL 3 (librdkafka).
FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 campaign-analytics \
 && useradd --system --uid 10001 --gid campaign-analytics --no-create-home \
      --home-dir /var/lib/campaign-analytics --shell /usr/sbin/nologin campaign-analytics \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/campaign-analytics /var/lib/campaign-analytics/reports
COPY --from=builder /out/ /opt/campaign-analytics/bin/
COPY --chmod=0755 deploy/docker/entrypoint.sh /opt/campaign-analytics/bin/entrypoint
COPY deploy/dist/config.example.toml /etc/campaign-analytics/config.example.toml
# Container defaults: listen on every interface, report files in the state
# directory. They are environment variables, so they win over a config file
# (ANALYTICS_CONFIG): change them with the container's environment.
ENV PATH=/opt/campaign-analytics/bin:$PATH \
    LISTEN_ADDR=0.0.0.0:8080 \
    METRICS_ADDR=0.0.0.0:9464 \
    REPORT_STORAGE=/var/lib/campaign-analytics/reports
WORKDIR /var/lib/campaign-analytics
USER 10001:10001
# query-api serve: LISTEN_ADDR; processor run: METRICS_ADDR (/metrics, /healthz).
EXPOSE 8080 9464
ENTRYPOINT ["/opt/campaign-analytics/bin/entrypoint"]
CMD ["help"]
