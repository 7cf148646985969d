# The podmirror image: the one binary (CLI and `podmirror serve`), on a
# small Debian base, run as a non-root user. Build: docker build -t podmirror .
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p podmirror \
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
