# syntax=docker/dockerfile:1
# The OpenRTMP server image: `openrtmp` on distroless (glibc, CA roots, no shell), as the
# non-root user 65532. Build from the repository root:
#   docker build -t ghcr.io/openrtmp/openrtmp:0.1.0 .
# Run (the API listens on loopback unless told otherwise):
#   docker run -p 1935:1935 -p 8080:8080 -e OPENRTMP_API__LISTEN=0.0.0.0:8080 \
#     -e OPENRTMP_API__TOKEN=s3cret ghcr.io/openrtmp/openrtmp:0.1.0
# Kubernetes: deploy/k8s (docs/kubernetes.md). Base images are pinned by tag; pin them by
# digest too (@sha256:...) in a release pipeline that can resolve them.

# Builder: the toolchain pinned (rust-version of the workspace is older; this one builds
# the locked dependencies). bookworm: the same glibc as the runtime image below.
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# --locked: exactly Cargo.lock. The Redis directory (cluster.directory.kind: redis) is
# built in. The cache mounts keep the registry and target directory between builds on
# one builder.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p openrtmp-cli --bin openrtmp --features openrtmp-server/redis \
    && install -D -m 0755 target/release/openrtmp /out/openrtmp

# Runtime: glibc and libgcc (cc) on Debian 12, no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/openrtmp /usr/local/bin/openrtmp
# nonroot is 65532:65532; numeric, so runAsNonRoot can verify it.
USER 65532:65532
# RTMP, RTMPS (rtmps_listen), the HTTP API (api.listen), WebRTC media (webrtc.udp_port,
# webrtc.tcp_port).
EXPOSE 1935/tcp 1936/tcp 8080/tcp 8189/udp 8189/tcp
# SIGTERM drains (readiness 503, Reconnect Request, shutdown.grace); a second one forces.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/openrtmp"]
CMD ["serve"]
