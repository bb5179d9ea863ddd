//! Link-time choices for the ecsfleet binary.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=ECSFLEET_UNPACKED_RELOCATIONS");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let unpacked = std::env::var_os("ECSFLEET_UNPACKED_RELOCATIONS").is_some();
    // Packed relative relocations (DT_RELR, glibc 2.36 and later): the 1.5 MB table of
    // relative relocations that the dynamic loader reads at every start, and whose pages
    // then stay mapped for the process's life, shrinks to a few KB. For an older glibc,
    // build with ECSFLEET_UNPACKED_RELOCATIONS=1.
    if os == "linux" && env == "gnu" && !unpacked {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
