//! The archive validator under mutation: valid archives with random bytes changed, cut or
//! spliced, 20 000 times from a fixed seed. It never panics, and what it accepts keeps the
//! promises of `caas_core::archive` (no absolute paths, no `..`, only files, directories and
//! links). The coverage-guided fuzz target is `fuzz/fuzz_targets/archive.rs`.

#![allow(clippy::unwrap_used)]

use caas_core::archive::{ArchiveLimits, validate};
use rand::{Rng, SeedableRng};

fn seed_archives() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in [
        ("conf/app.toml", &b"port = 1\n"[..]),
        ("a/b/c.bin", &[9u8; 700][..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, path, data).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "current", "conf").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    b.append_link(&mut h, "a/hard", "a/b/c.bin").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_size(0);
    b.append_data(&mut h, "empty/", std::io::empty()).unwrap();
    out.push(b.into_inner().unwrap());
    // A long name (GNU long-name entry) and a PAX header.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(3);
    h.set_mode(0o600);
    b.append_data(&mut h, format!("{}/file", "d".repeat(150)), &b"abc"[..])
        .unwrap();
    b.append_pax_extensions([("comment", &b"hello"[..])])
        .unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_size(1);
    b.append_data(&mut h, "x", &b"1"[..]).unwrap();
    out.push(b.into_inner().unwrap());
    out
}

fn check_promises(data: &[u8]) {
    let mut a = tar::Archive::new(data);
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        let p = e.path_bytes().to_vec();
        assert!(p.first() != Some(&b'/'), "absolute path accepted: {p:?}");
        assert!(
            !p.split(|b| *b == b'/').any(|c| c == b".."),
            "'..' accepted: {p:?}"
        );
        use tar::EntryType::*;
        match e.header().entry_type() {
            Regular | Continuous | Directory | XGlobalHeader => {}
            Symlink | Link => {
                let t = e.link_name_bytes().unwrap().to_vec();
                assert!(t.first() != Some(&b'/'), "absolute link accepted: {t:?}");
            }
            other => panic!("entry type {other:?} accepted"),
        }
    }
}

#[test]
fn mutated_archives_never_panic_and_accepted_ones_keep_the_promises() {
    let seeds = seed_archives();
    for s in &seeds {
        validate(s.as_slice(), &ArchiveLimits::new(1 << 20, 1000)).unwrap();
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x0caa5);
    let (mut accepted, mut refused) = (0u32, 0u32);
    for _ in 0..20_000 {
        let mut data = seeds[rng.random_range(0..seeds.len())].clone();
        match rng.random_range(0..4) {
            0 => {
                for _ in 0..rng.random_range(1..8) {
                    let i = rng.random_range(0..data.len());
                    data[i] = rng.random();
                }
            }
            1 => {
                let cut = rng.random_range(0..data.len());
                data.truncate(cut);
            }
            2 => {
                // Paste a slice of the archive elsewhere (headers into data and back).
                let from = rng.random_range(0..data.len());
                let len = rng.random_range(1..=512.min(data.len() - from));
                let chunk = data[from..from + len].to_vec();
                let to = rng.random_range(0..data.len());
                for (k, b) in chunk.into_iter().enumerate() {
                    if let Some(slot) = data.get_mut(to + k) {
                        *slot = b;
                    }
                }
            }
            _ => {
                // Header bytes only: names, types, link targets, sizes.
                let block = rng.random_range(0..data.len() / 512) * 512;
                let i = block + rng.random_range(0..512);
                if let Some(slot) = data.get_mut(i) {
                    *slot = [b'/', b'.', 0, b'5', b'2', b'3', b'4', 0xff][rng.random_range(0..8)];
                }
            }
        }
        match validate(data.as_slice(), &ArchiveLimits::new(1 << 20, 1000)) {
            Ok(_) => {
                accepted += 1;
                check_promises(&data);
            }
            Err(e) => {
                refused += 1;
                assert_eq!(e.field(), Some("archive"), "{e}");
            }
        }
    }
    assert!(
        accepted > 100 && refused > 100,
        "accepted {accepted}, refused {refused}"
    );
}
