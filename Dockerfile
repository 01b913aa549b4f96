# The portcullis image: one static binary (controller and dataplane are subcommands) in an
# empty image, running as a non-root user. Build from the repository root:
#
#   docker build -t portcullis:dev .
#
# Stage 1 builds the binary statically linked against glibc (`crt-static`): the very build the
# real-cluster tests put in their image (tests/src/node/images.rs). Name resolution needs no
# NSS library: glibc (2.34 and later) reads /etc/hosts and /etc/resolv.conf itself, and the
# kubelet mounts both. aws-lc-rs (the TLS crypto) needs a C toolchain, cmake and perl.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake perl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked --target x86_64-unknown-linux-gnu --bin portcullis \
 && strip target/x86_64-unknown-linux-gnu/release/portcullis

# Stage 2: nothing but the binary. No shell, no package manager: there is nothing else to
# patch or to use after a compromise. UID 65532 is the conventional "nonroot" user; the chart
# also sets runAsNonRoot, a read-only root filesystem and drops every capability.
FROM scratch
COPY --from=build /src/target/x86_64-unknown-linux-gnu/release/portcullis /portcullis
USER 65532:65532
ENTRYPOINT ["/portcullis"]
