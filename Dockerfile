# The podmirror image: the one binary (CLI, `podmirror serve` and its
# dashboard), on a small Debian base, run as a non-root user.
# Build: docker build -t podmirror .
FROM node:20-bookworm-slim AS dashboard
WORKDIR /src
COPY docs/openapi.json docs/openapi.json
COPY dashboard/package.json dashboard/package-lock.json dashboard/
RUN cd dashboard && npm ci --no-audit --no-fund
COPY dashboard dashboard
RUN cd dashboard && DASHBOARD_OUT=/out/dashboard npm run build

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
COPY --from=dashboard /out/dashboard /dashboard
# The dashboard built above is embedded; no npm in this stage.
RUN PODMIRROR_DASHBOARD_DIST=/dashboard cargo build --release --locked -p podmirror \
 && install -D target/release/podmirror /out/podmirror

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/podmirror /usr/local/bin/podmirror
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["podmirror"]
CMD ["serve", "--listen", "0.0.0.0:8080"]
