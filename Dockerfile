# syntax=docker/dockerfile:1
# The ecsfleet image: the binary and CA certificates, nothing else.

FROM rust:1.95-bookworm AS build
# aws-lc-rs (the TLS crypto) builds C code with cmake.
RUN apt-get update && apt-get install -y --no-install-recommends cmake clang && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# build.rs packs the binary's relocations.
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
# The manifest names the demo's helper example; only the binary is built.
COPY tests/support ./tests/support
RUN cargo build --release --locked --bin ecsfleet && strip target/release/ecsfleet

# glibc, CA certificates and nothing else; no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/ecsfleet /usr/local/bin/ecsfleet
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ecsfleet"]
CMD ["run", "--leader-elect"]
