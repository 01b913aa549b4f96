# The portcullis image: one static binary (controller and dataplane are subcommands) in an
# empty image, running as a non-root user. Build from the repository root:
#
#   docker build -t portcullis:dev .
#
# Stage 1 builds a static musl binary. aws-lc-rs (the TLS crypto) needs a C toolchain, cmake
# and perl; Go is not needed (prebuilt bindings).
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools cmake perl \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin portcullis \
 && strip target/x86_64-unknown-linux-musl/release/portcullis

# Stage 2: nothing but the binary. No shell, no package manager: there is nothing else to
# patch or to use after a compromise. UID 65532 is the conventional "nonroot" user; the chart
# also sets runAsNonRoot, a read-only root filesystem and drops every capability.
FROM scratch
COPY --from=build /src/target/x86_64-unknown-linux-musl/release/portcullis /portcullis
USER 65532:65532
ENTRYPOINT ["/portcullis"]
