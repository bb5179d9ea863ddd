//! The binary as it is built and shipped: what it links, and how its code is laid out.
//! Memory at scale depends on both (README, *At scale*).
#![cfg(all(target_os = "linux", target_env = "gnu"))]

use std::collections::HashMap;

/// The parts of an ELF64 little-endian file these tests read.
struct Elf {
    bytes: Vec<u8>,
    sections: Vec<Section>,
}

struct Section {
    name: String,
    addr: u64,
    offset: usize,
    size: u64,
    link: usize,
}

impl Elf {
    fn read(path: &str) -> Elf {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(&bytes[..6], b"\x7fELF\x02\x01", "{path}: not ELF64 LE");
        let mut elf = Elf {
            bytes,
            sections: Vec::new(),
        };
        let (table, entry, count) = (elf.u64(0x28) as usize, elf.u16(0x3a), elf.u16(0x3c));
        let header = |i: usize| table + i * entry;
        let names = elf.u64(header(elf.u16(0x3e)) + 24) as usize;
        elf.sections = (0..count)
            .map(|i| Section {
                name: elf.string(names + elf.u32(header(i))),
                addr: elf.u64(header(i) + 16),
                offset: elf.u64(header(i) + 24) as usize,
                size: elf.u64(header(i) + 32),
                link: elf.u32(header(i) + 40),
            })
            .collect();
        elf
    }

    fn u16(&self, at: usize) -> usize {
        u16::from_le_bytes(self.bytes[at..at + 2].try_into().unwrap()) as usize
    }

    fn u32(&self, at: usize) -> usize {
        u32::from_le_bytes(self.bytes[at..at + 4].try_into().unwrap()) as usize
    }

    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes[at..at + 8].try_into().unwrap())
    }

    fn string(&self, at: usize) -> String {
        let end = at + self.bytes[at..].iter().position(|&b| b == 0).unwrap();
        String::from_utf8_lossy(&self.bytes[at..end]).into_owned()
    }

    fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Total size of the sections called `name`.
    fn size(&self, name: &str) -> u64 {
        self.sections
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.size)
            .sum()
    }

    /// The functions of the symbol table: name -> (address, size).
    fn functions(&self) -> HashMap<String, (u64, u64)> {
        let symtab = self
            .section(".symtab")
            .expect("a symbol table (not stripped)");
        let strings = self.sections[symtab.link].offset;
        (0..symtab.size as usize / 24)
            .map(|i| symtab.offset + i * 24)
            .filter(|&at| self.bytes[at + 4] & 0xf == 2) // STT_FUNC
            .map(|at| {
                let name = self.string(strings + self.u32(at));
                (name, (self.u64(at + 8), self.u64(at + 16)))
            })
            .collect()
    }

    fn contains(&self, text: &str) -> bool {
        regex::bytes::Regex::new(&regex::escape(text))
            .unwrap()
            .is_match(&self.bytes)
    }
}

fn built() -> Elf {
    Elf::read(env!("CARGO_BIN_EXE_ecsfleet"))
}

/// The release build, as the image ships it (unstripped): scripts/test builds it.
fn shipped() -> Elf {
    let path = std::env::var("ECSFLEET_SHIPPED")
        .expect("ECSFLEET_SHIPPED names the release build of ecsfleet (scripts/test sets it)");
    Elf::read(&path)
}

/// The relocation table the dynamic loader reads at every start stays mapped for the
/// process's life: packed (DT_RELR, build.rs) it is a few KB instead of 1.5 MB.
#[test]
fn the_binary_packs_its_relative_relocations() {
    for elf in [built(), shipped()] {
        assert!(elf.size(".relr.dyn") > 0, "no packed relocations");
        // The binary asks for the glibc that reads them, so an older one refuses to start
        // it (README) instead of running it unrelocated.
        assert!(
            elf.contains("GLIBC_ABI_DT_RELR"),
            "no GLIBC_ABI_DT_RELR version need"
        );
        let unpacked = elf.size(".rela.dyn");
        assert!(unpacked < 64 * 1024, ".rela.dyn holds {unpacked} bytes");
    }
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
/// allocator keeps them, scattered between the objects that stay (README, *At scale*).
#[test]
fn the_binary_allocates_with_jemalloc() {
    let functions = built().functions();
    for name in ["_rjem_malloc", "_rjem_sdallocx"] {
        assert!(functions.contains_key(name), "{name} is not linked");
    }
}

/// The functions the controller runs lie together at the start of `.text` in the
/// release build (link-order.txt, build.rs), those an idle controller runs first, so that
/// the kernel maps a few MiB of code for them and not most of the binary.
#[cfg(target_arch = "x86_64")]
#[test]
fn the_shipped_binary_lays_out_the_code_it_runs_together() {
    let elf = shipped();
    let functions = elf.functions();
    let text = elf.section(".text").expect("a .text section");
    let list = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/link-order.txt"))
        .expect("link-order.txt (scripts/link-order writes it)");
    let parts: Vec<Vec<&str>> = list
        .split("\n#")
        .map(|part| {
            part.lines()
                .skip(1)
                .filter(|line| !line.is_empty())
                .collect()
        })
        .collect();
    let [_, idle, busy] = &parts[..] else {
        panic!("link-order.txt: a header, the idle part and the busy part; run scripts/link-order")
    };
    let listed = idle.len() + busy.len();
    let found = |part: &[&str]| -> Vec<(u64, u64)> {
        part.iter()
            .filter_map(|name| functions.get(*name).copied())
            .collect()
    };
    let (idle, all) = (found(idle), found(&[&idle[..], &busy[..]].concat()));
    assert!(
        idle.len() > 1000 && all.len() * 10 >= listed * 9,
        "{} of the {listed} functions in link-order.txt are in the build: run scripts/link-order",
        all.len(),
    );
    for (part, found) in [("idle", &idle), ("whole", &all)] {
        let end = found.iter().map(|(addr, size)| addr + size).max().unwrap();
        let size: u64 = found.iter().map(|(_, size)| size).sum();
        let span = end - text.addr;
        assert!(
            span <= size + size / 10 && span < text.size / 2,
            "the {part} list's functions ({size} bytes) spread over {span} bytes of .text ({} bytes)",
            text.size
        );
    }
}

/// The image builds the binary from what build.rs reads, or it ships without packed
/// relocations and with its code spread out.
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
    for input in [
        "build.rs",
        "link-order.txt",
        "Cargo.toml",
        "Cargo.lock",
        "src",
    ] {
        assert!(
            copied.contains(&input),
            "the Dockerfile does not copy {input}"
        );
    }
}
