//! The binary as `cargo build` makes it: what it links and how it is linked (memory at
//! scale depends on both: docs/performance.md). tests/shipped.rs checks the release
//! build too.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

use crate::support::elf::Elf;

fn built() -> Elf {
    Elf::read(env!("CARGO_BIN_EXE_ecsfleet"))
}

#[test]
fn the_binary_packs_its_relative_relocations() {
    built().assert_packed_relocations();
}

/// The AWS SDK crates' default features add a second, unused HTTP and TLS stack (hyper
/// 0.14, rustls 0.21 and ring) and a second elliptic-curve library (p256, for SigV4a):
/// Cargo.toml turns them off, and neither the lock file nor the binary may bring them
/// back (ring stays in the lock file as an optional dependency of rustls-webpki).
#[test]
fn one_http_stack_and_one_tls_library() {
    assert!(!built().contains("ring_core_0_"), "ring's code is linked");
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
    let versions = |name: &str| {
        let entry = format!("name = \"{name}\"\n");
        lock.matches(&entry).count()
    };
    for name in ["hyper", "rustls", "h2", "tokio-rustls", "hyper-rustls"] {
        assert!(versions(name) <= 1, "{name}: {} versions", versions(name));
    }
    assert_eq!(versions("p256"), 0, "p256 (SigV4a) is linked");
}

/// jemalloc gives the pages a converging controller freed back to the system; glibc's
/// allocator keeps them, scattered between the objects that stay (docs/performance.md).
#[test]
fn the_binary_allocates_with_jemalloc() {
    let functions = built().functions();
    for name in ["_rjem_malloc", "_rjem_sdallocx"] {
        assert!(functions.contains_key(name), "{name} is not linked");
    }
}

/// The image builds the binary from what build.rs reads, or it ships without packed
/// relocations.
#[test]
fn the_image_builds_with_the_link_time_choices() {
    let dockerfile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile"))
        .expect("the Dockerfile");
    let copied: Vec<&str> = dockerfile
        .lines()
        .filter_map(|line| line.strip_prefix("COPY "))
        .filter(|args| !args.starts_with("--from"))
        .flat_map(|args| args.split_whitespace())
        .collect();
    for input in ["build.rs", "Cargo.toml", "Cargo.lock", "src"] {
        assert!(
            copied.contains(&input),
            "the Dockerfile does not copy {input}"
        );
    }
}
