//! The parts of an ELF64 little-endian file that the tests of the built and the shipped
//! binary read: sections, function symbols, strings.

use std::collections::HashMap;

/// The parts of an ELF64 little-endian file these tests read.
pub struct Elf {
    bytes: Vec<u8>,
    sections: Vec<Section>,
}

struct Section {
    name: String,
    offset: usize,
    size: u64,
    link: usize,
}

impl Elf {
    pub fn read(path: &str) -> Elf {
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
    pub fn size(&self, name: &str) -> u64 {
        self.sections
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.size)
            .sum()
    }

    /// The functions of the symbol table: name -> (address, size).
    pub fn functions(&self) -> HashMap<String, (u64, u64)> {
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

    pub fn contains(&self, text: &str) -> bool {
        regex::bytes::Regex::new(&regex::escape(text))
            .unwrap()
            .is_match(&self.bytes)
    }

    /// The relocation table the dynamic loader reads at every start stays mapped for the
    /// process's life: packed (DT_RELR, build.rs) it is a few KB instead of 1.5 MB.
    pub fn assert_packed_relocations(&self) {
        assert!(self.size(".relr.dyn") > 0, "no packed relocations");
        // The binary asks for the glibc that reads them, so an older one refuses to start
        // it (docs/operations.md) instead of running it unrelocated.
        assert!(
            self.contains("GLIBC_ABI_DT_RELR"),
            "no GLIBC_ABI_DT_RELR version need"
        );
        let unpacked = self.size(".rela.dyn");
        assert!(unpacked < 64 * 1024, ".rela.dyn holds {unpacked} bytes");
    }
}
