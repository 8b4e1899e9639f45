//! The archive validator on arbitrary bytes: it never panics, and whatever it accepts is
//! safe to extract into a volume.
//!
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run archive -- -max_total_time=300`
//! (cargo-fuzz installed with `cargo install cargo-fuzz`; `RUSTC_BOOTSTRAP=1` lets the stable toolchain build with the
//! sanitizer flags it needs).

#![no_main]

use caas_core::archive::{ArchiveLimits, validate};

const MAX_BYTES: u64 = 1 << 20;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let limits = ArchiveLimits::new(MAX_BYTES, 10_000);
    let Ok(summary) = validate(data, &limits) else {
        return;
    };
    assert!(summary.bytes <= MAX_BYTES);
    // Every entry of an accepted archive is relative, without `..`, and of a kind a volume
    // may hold; links stay inside.
    let mut archive = tar::Archive::new(data);
    let Ok(entries) = archive.entries() else {
        panic!("accepted, but the tar crate cannot list it");
    };
    for entry in entries {
        let entry = entry.expect("accepted archives parse");
        let path = entry.path_bytes().to_vec();
        assert!(path.first() != Some(&b'/'), "absolute path accepted");
        assert!(
            !path.split(|b| *b == b'/').any(|c| c == b".."),
            "'..' accepted: {:?}",
            String::from_utf8_lossy(&path)
        );
        use tar::EntryType::*;
        match entry.header().entry_type() {
            Regular | Continuous | Directory | XGlobalHeader => {}
            Symlink | Link => {
                let target = entry.link_name_bytes().expect("links have targets").to_vec();
                assert!(target.first() != Some(&b'/'), "absolute link accepted");
            }
            other => panic!("entry type {other:?} accepted"),
        }
    }
});
