//! Archive validation in bounded memory: a 2-million-entry archive (the most a restore
//! accepts), made entry by entry as the validator reads it (never held in memory nor written
//! to disk), is validated with the process's peak resident memory growing by less than
//! [`MAX_RSS_GROWTH_MIB`]. Measured: 1 MiB, in about 12 s of CPU in the debug profile; holding
//! every path, as validation did before, took 708 MiB. The peak is the whole process's, so this
//! file holds this one test.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::io::{self, Read};

use caas_core::archive::{ArchiveLimits, ArchiveSummary, validate};
use caas_core::platform::MAX_ARCHIVE_ENTRIES;

/// The bound the module docs of `caas_core::archive` state for 2 million entries.
const MAX_RSS_GROWTH_MIB: u64 = 64;

/// A tar archive made as it is read: `entry(i, buf)` appends the bytes of entry `i` to an
/// empty buffer, which is handed out before the next entry is made.
struct Streamed<F> {
    entry: F,
    next: u64,
    count: u64,
    buf: Vec<u8>,
    pos: usize,
    ended: bool,
}

fn streamed<F: FnMut(u64, &mut Vec<u8>)>(count: u64, entry: F) -> Streamed<F> {
    Streamed {
        entry,
        next: 0,
        count,
        buf: Vec::new(),
        pos: 0,
        ended: false,
    }
}

impl<F: FnMut(u64, &mut Vec<u8>)> Read for Streamed<F> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            if self.next < self.count {
                (self.entry)(self.next, &mut self.buf);
                self.next += 1;
            } else if !self.ended {
                // The end-of-archive marker: two zero blocks.
                self.ended = true;
                self.buf.resize(1024, 0);
            } else {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Header blocks of empty entries with short names (at most 100 bytes), made from one
/// template whose checksum is summed once: summing each 512-byte header would make this test
/// a quarter slower in the debug profile.
struct Headers {
    template: tar::Header,
    /// The template's checksum, its name, link name and type zero.
    sum: u32,
}

impl Headers {
    fn new() -> Self {
        let mut template = tar::Header::new_gnu();
        template.set_size(0);
        template.set_mode(0o644);
        let raw = template.as_old_mut();
        raw.linkflag = [0];
        raw.cksum = [b' '; 8];
        let sum = template.as_bytes().iter().map(|b| u32::from(*b)).sum();
        Self { template, sum }
    }

    /// Appends an empty entry of `kind` (a link when `link` is given).
    fn append(&self, out: &mut Vec<u8>, kind: tar::EntryType, path: &str, link: Option<&str>) {
        let link = link.unwrap_or_default();
        let mut h = self.template.clone();
        let raw = h.as_old_mut();
        raw.linkflag = [kind.as_byte()];
        raw.name[..path.len()].copy_from_slice(path.as_bytes());
        raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
        let sum = self.sum
            + u32::from(kind.as_byte())
            + path.bytes().chain(link.bytes()).map(u32::from).sum::<u32>();
        raw.cksum.copy_from_slice(format!("{sum:07o}\0").as_bytes());
        out.extend_from_slice(h.as_bytes());
    }
}

/// Resident memory figures of this process, in KiB (`VmRSS`, `VmHWM`, ...).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

#[test]
fn a_two_million_entry_archive_validates_in_bounded_memory() {
    // 2000 directories of 1000 entries: the directory, 997 empty files, a symbolic link and
    // a hard link (so links are kept too).
    const DIRS: u64 = 2000;
    const PER_DIR: u64 = 1000;
    let count = DIRS * PER_DIR;
    assert_eq!(count, MAX_ARCHIVE_ENTRIES);
    let headers = Headers::new();
    let archive = streamed(count, |i, b| {
        let (d, j) = (i / PER_DIR, i % PER_DIR);
        let mut append = |kind, path: &str, link| headers.append(b, kind, path, link);
        match j {
            0 => append(tar::EntryType::Directory, &format!("d{d}/"), None),
            1 => append(tar::EntryType::Symlink, &format!("d{d}/l"), Some("f2")),
            3 => append(
                tar::EntryType::Link,
                &format!("d{d}/h"),
                Some(&format!("d{d}/f2")),
            ),
            _ => append(tar::EntryType::Regular, &format!("d{d}/f{j}"), None),
        }
    });

    let before = status_kib("VmRSS:");
    // Resets the peak (VmHWM) to the current size; if the kernel refuses, the peak so far
    // stays and the measured growth can only be larger.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let started = std::time::Instant::now();
    let summary = validate(archive, &ArchiveLimits::new(1 << 30, MAX_ARCHIVE_ENTRIES)).unwrap();
    let elapsed = started.elapsed();
    let peak = status_kib("VmHWM:");
    let growth_mib = peak.saturating_sub(before) / 1024;
    eprintln!(
        "2,000,000 entries validated in {elapsed:.1?}: peak RSS {} MiB, {growth_mib} MiB above \
         the {} MiB before",
        peak / 1024,
        before / 1024
    );

    assert_eq!(
        summary,
        ArchiveSummary {
            entries: count,
            files: DIRS * (PER_DIR - 3),
            directories: DIRS,
            symlinks: DIRS,
            hardlinks: DIRS,
            bytes: 0,
        }
    );
    assert!(
        growth_mib < MAX_RSS_GROWTH_MIB,
        "validation grew the peak RSS by {growth_mib} MiB (bound {MAX_RSS_GROWTH_MIB} MiB)"
    );
}
