//! The release build as the image ships it (`ECSFLEET_SHIPPED`: scripts/test builds it
//! and names it; a plain `cargo test` does not run this binary). Its memory at scale is
//! checked by benches/scale.rs on the same build.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

#[allow(dead_code)] // what the tests of the debug build read too
#[path = "support/elf.rs"]
mod elf;

use elf::Elf;

fn shipped() -> Elf {
    let path = std::env::var("ECSFLEET_SHIPPED")
        .expect("ECSFLEET_SHIPPED names the release build of ecsfleet (scripts/test sets it)");
    Elf::read(&path)
}

#[test]
fn the_shipped_binary_packs_its_relative_relocations() {
    shipped().assert_packed_relocations();
}

/// The size-optimized profile (Cargo.toml) keeps the machine code small: its pages are
/// most of the binary's share of a controller's resident memory.
#[test]
fn the_shipped_binary_is_built_for_size() {
    let text = shipped().size(".text");
    assert!(
        text < 20 * 1024 * 1024,
        ".text holds {text} bytes: is the release profile still optimized for size?"
    );
}
