//! Link-time choices for the ecsfleet binary.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=link-order.txt");
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
    // The functions the controller runs, laid out together at the start of `.text`, those
    // it runs idle first (link-order.txt, written by scripts/link-order from an idle run,
    // the demo and a scale run): the kernel maps code in 64 KiB runs around each page
    // touched, so code spread over the binary keeps most of it resident. rustc links
    // x86_64-unknown-linux-gnu with its own LLD, which reads the list; names a build does
    // not have (another profile, a changed dependency) are skipped, and only the layout
    // suffers.
    if linux_gnu && var("CARGO_CFG_TARGET_ARCH") == "x86_64" && var("PROFILE") == "release" {
        let list = format!("{}/link-order.txt", var("CARGO_MANIFEST_DIR"));
        println!("cargo::rustc-link-arg-bins=-Wl,--symbol-ordering-file={list}");
        println!("cargo::rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
