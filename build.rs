//! Link-time choices for the ecsfleet binary.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=ECSFLEET_UNPACKED_RELOCATIONS");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let linux_gnu = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    // Packed relative relocations (DT_RELR, glibc 2.36 and later): the 1.5 MB table of
    // relative relocations that the dynamic loader reads at every start, and whose pages
    // then stay mapped for the process's life, shrinks to a few KB. For an older glibc,
    // build with ECSFLEET_UNPACKED_RELOCATIONS=1.
    if linux_gnu && std::env::var_os("ECSFLEET_UNPACKED_RELOCATIONS").is_none() {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
