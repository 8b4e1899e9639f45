//! Checking a tar archive before any of it is written into a volume.
//!
//! [`validate`] reads a whole archive (headers only; contents are skipped) and refuses it,
//! naming the first offending entry, when anything in it could write outside the volume or
//! create something a volume must not hold:
//!
//! | refused | why |
//! |---|---|
//! | absolute paths, `..` components, NUL bytes, over-long paths | writes outside the volume |
//! | symbolic links with an absolute target, or whose target leaves the volume once the archive's own links are followed (or loops) | later writes (or readers) follow them out; a chain of links can leave although each one alone stays inside |
//! | entries below a symbolic link of the archive | written through the link |
//! | hard links to a path outside the volume, to a link, or to no earlier regular file | they share an inode with whatever they point at |
//! | a path that is both a link and something else | extraction order would decide what it is |
//! | character and block devices, FIFOs, sparse files, unknown entry types | no place in a volume |
//! | more content than the limit, more entries than the limit | over-size archives |
//! | more than [`MAX_LINKS`] links, or links whose paths and targets exceed [`MAX_LINK_BYTES`] | the checks hold every link in memory |
//! | anything that is not a well-formed tar (bad checksums, truncated headers) | |
//!
//! The check is order-independent: a link may come after the entries it concerns, so the
//! archive is read once, and every entry is then checked against all the links of the archive.
//! It never panics, whatever the bytes (fuzzed: `fuzz/fuzz_targets/archive.rs`).
//!
//! # Memory
//!
//! Memory does not grow with the number of entries. Only links (symbolic and hard) are held,
//! with their paths and targets, because the checks look them up by path: at most
//! [`MAX_LINKS`] of them, with at most [`MAX_LINK_BYTES`] of paths and targets (the archive is
//! refused beyond). Every entry's kind and normalized path is appended to a spool (in memory up
//! to 1 MiB, then an anonymous temporary file in the system's temporary directory, gone when
//! validation ends) and read back once, in archive order, for the checks against the links:
//! three bytes per entry plus its path, less than the archive's own headers (a restore stages
//! the whole archive in a temporary directory already). The checks then
//! keep only what concerns a link: the first kind of each symbolic link's path, and where the
//! targets of hard links first appear as regular files.
//!
//! Re-reading the paths rather than keeping a fingerprint of each (a 128-bit hash would be
//! safe from collisions) makes the same decisions, with the same messages, as holding every
//! path in memory did: a fingerprint of a path cannot tell which of its ancestors is a
//! symbolic link appearing later in the archive, nor name the entry it refuses, and a table of
//! fingerprints would still grow with the archive.
//!
//! Measured (`caas-core/tests/archive_memory.rs` asserts less than 64 MiB): 2,000,000 entries,
//! 4,000 of them links, grow the peak resident memory by 1 MiB, where holding every path took
//! 708 MiB (1,074 MiB with paths of six components). At the link limits (100,000 links whose
//! paths and targets fill 32 MiB) the links held take about 64 MiB.

use std::collections::{HashMap, VecDeque};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use serde::{Deserialize, Serialize};
use tempfile::SpooledTempFile;

use crate::error::{Error, Result};

/// Longest path accepted in an archive (bytes), and longest single component.
const MAX_PATH_BYTES: usize = 4096;
const MAX_COMPONENT_BYTES: usize = 255;

/// Most links (symbolic and hard, together) an archive may hold: validation keeps each in
/// memory.
pub const MAX_LINKS: u64 = 100_000;

/// Most bytes the paths and targets of an archive's links may hold together (32 MiB).
pub const MAX_LINK_BYTES: u64 = 32 << 20;

/// How much of the spool of entry paths stays in memory before it moves to a file.
const SPOOL_IN_MEMORY: usize = 1 << 20;

/// How much an archive may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ArchiveLimits {
    /// Total bytes of file contents (the volume's size for a restore).
    pub max_bytes: u64,
    /// Entries of any kind.
    pub max_entries: u64,
}

impl ArchiveLimits {
    /// At most `max_bytes` of contents and `max_entries` entries.
    pub fn new(max_bytes: u64, max_entries: u64) -> Self {
        Self {
            max_bytes,
            max_entries,
        }
    }
}

/// What a valid archive holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArchiveSummary {
    /// Entries (metadata entries such as PAX headers not counted).
    pub entries: u64,
    /// Regular files.
    pub files: u64,
    /// Directories.
    pub directories: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Hard links.
    pub hardlinks: u64,
    /// Bytes of file contents.
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::File, Kind::Dir, Kind::Symlink, Kind::Hardlink];

    fn byte(self) -> u8 {
        self as u8
    }

    fn from_byte(b: u8) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| k.byte() == b)
    }
}

/// A link as held for the second pass.
struct Link {
    /// Normalized path (see [`normalized`]).
    path: Vec<u8>,
    /// Position among the archive's entries.
    index: u64,
    target: Target,
}

enum Target {
    /// A symbolic link's target, as written.
    Symbolic(Vec<u8>),
    /// A hard link's target normalized to the archive root; `None` when it is no path inside
    /// the volume.
    Hard(Option<Vec<u8>>),
}

fn refuse(entry: &[u8], reason: impl std::fmt::Display) -> Error {
    Error::invalid(
        "archive",
        format!("entry '{}' {reason}", String::from_utf8_lossy(entry)),
    )
}

fn malformed(e: std::io::Error) -> Error {
    Error::invalid("archive", format!("not a well-formed tar archive: {e}"))
}

/// An entry path relative to the archive root, its components joined by single slashes:
/// `./a//b/` is `a/b`, `./` is empty (the root itself). Components are never empty, `.` or
/// `..`, so two paths are the same file exactly when their normalized forms are equal.
/// Refuses absolute paths, `..`, NUL bytes and over-long paths or components.
fn normalized(raw: &[u8]) -> Result<Vec<u8>> {
    if raw.is_empty() {
        return Err(refuse(raw, "has an empty path"));
    }
    if raw.len() > MAX_PATH_BYTES {
        return Err(refuse(
            raw.get(..64).unwrap_or(raw),
            format!("has a path longer than {MAX_PATH_BYTES} bytes"),
        ));
    }
    if raw.contains(&0) {
        return Err(refuse(raw, "has a NUL byte in its path"));
    }
    if raw.first() == Some(&b'/') {
        return Err(refuse(raw, "has an absolute path"));
    }
    let mut out = Vec::with_capacity(raw.len());
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(refuse(raw, "has a '..' component")),
            c if c.len() > MAX_COMPONENT_BYTES => {
                return Err(refuse(
                    raw,
                    format!("has a path component longer than {MAX_COMPONENT_BYTES} bytes"),
                ));
            }
            c => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    Ok(out)
}

/// The directories a normalized path lies in, shortest first: `a/b/c` lies in `a` and `a/b`.
fn ancestors(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'/')
        .filter_map(|(i, _)| path.get(..i))
}

/// The directory a normalized path lies in (empty: the root).
fn parent(path: &[u8]) -> &[u8] {
    path.iter()
        .rposition(|b| *b == b'/')
        .and_then(|i| path.get(..i))
        .unwrap_or_default()
}

/// Most symbolic links followed while resolving one target (as Linux's `MAXSYMLINKS`).
const MAX_HOPS: u32 = 40;

/// Where resolving a link target ends up.
enum Resolved {
    /// Inside the volume (the path may not exist).
    Inside,
    /// Above the volume root.
    Escapes,
    /// More than [`MAX_HOPS`] links: a loop.
    Loop,
}

/// Resolves `target` from directory `dir` the way the kernel would once the archive is
/// extracted: component by component, following the archive's own symbolic links (`links`,
/// normalized path → target). Absolute targets were refused before.
fn resolve<'a>(links: &HashMap<&'a [u8], &'a [u8]>, dir: &[u8], target: &'a [u8]) -> Resolved {
    let mut cur = dir.to_vec();
    let mut queue: VecDeque<&[u8]> = target.split(|b| *b == b'/').collect();
    let mut hops = 0;
    while let Some(c) = queue.pop_front() {
        match c {
            b"" | b"." => {}
            b".." => {
                if cur.is_empty() {
                    return Resolved::Escapes;
                }
                cur.truncate(parent(&cur).len());
            }
            _ => {
                let len = cur.len();
                if len > 0 {
                    cur.push(b'/');
                }
                cur.extend_from_slice(c);
                if let Some(next) = links.get(cur.as_slice()) {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Resolved::Loop;
                    }
                    cur.truncate(len);
                    for part in next.split(|b| *b == b'/').rev() {
                        queue.push_front(part);
                    }
                }
            }
        }
    }
    Resolved::Inside
}

fn spool_failed(e: std::io::Error) -> Error {
    Error::backend_source(
        "platform",
        "archive validation could not use its temporary file (in the system's temporary \
         directory)",
        e,
    )
}

/// Every entry's kind and normalized path, in archive order: written during the first pass,
/// read back once in the second. A record is the kind (1 byte), the path's length (2 bytes,
/// little-endian) and the path.
struct Spool {
    out: BufWriter<SpooledTempFile>,
}

impl Spool {
    fn new() -> Self {
        Self {
            out: BufWriter::new(SpooledTempFile::new(SPOOL_IN_MEMORY)),
        }
    }

    fn push(&mut self, kind: Kind, path: &[u8]) -> Result<()> {
        // Normalized paths are at most MAX_PATH_BYTES (4096) long.
        let len = u16::try_from(path.len()).map_err(|_| {
            refuse(
                path,
                format!("has a path longer than {MAX_PATH_BYTES} bytes"),
            )
        })?;
        self.out.write_all(&[kind.byte()]).map_err(spool_failed)?;
        self.out
            .write_all(&len.to_le_bytes())
            .map_err(spool_failed)?;
        self.out.write_all(path).map_err(spool_failed)
    }

    fn into_records(self) -> Result<Records> {
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| spool_failed(e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(spool_failed)?;
        Ok(Records {
            input: BufReader::new(file),
            path: Vec::new(),
        })
    }
}

/// The spool read back, record by record.
struct Records {
    input: BufReader<SpooledTempFile>,
    path: Vec<u8>,
}

impl Records {
    /// The next record (there is one per entry counted in the first pass).
    fn next(&mut self) -> Result<(Kind, &[u8])> {
        let mut head = [0u8; 3];
        self.input.read_exact(&mut head).map_err(spool_failed)?;
        let [kind, len @ ..] = head;
        let kind = Kind::from_byte(kind).ok_or_else(|| {
            spool_failed(std::io::Error::other("an unknown entry kind was read back"))
        })?;
        self.path.resize(usize::from(u16::from_le_bytes(len)), 0);
        self.input
            .read_exact(&mut self.path)
            .map_err(spool_failed)?;
        Ok((kind, &self.path))
    }
}

/// Reads the whole archive from `reader` and checks every entry (see the module docs).
/// Returns what it holds. Errors: `InvalidInput` (field `archive`) naming the first
/// offending entry and why; `Backend` when the temporary file of entry paths cannot be
/// written or read back.
pub fn validate(reader: impl Read, limits: &ArchiveLimits) -> Result<ArchiveSummary> {
    let mut archive = tar::Archive::new(reader);
    let mut summary = ArchiveSummary::default();
    let mut spool = Spool::new();
    let mut links: Vec<Link> = Vec::new();
    let mut link_bytes: u64 = 0;
    for entry in archive.entries().map_err(malformed)? {
        let entry = entry.map_err(malformed)?;
        let header = entry.header();
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink,
            tar::EntryType::Link => Kind::Hardlink,
            // Archive-wide metadata, not a file.
            tar::EntryType::XGlobalHeader => continue,
            other => {
                let name = entry.path_bytes();
                let what = match other {
                    tar::EntryType::Char => "is a character device",
                    tar::EntryType::Block => "is a block device",
                    tar::EntryType::Fifo => "is a FIFO",
                    tar::EntryType::GNUSparse => "is a sparse file (not supported)",
                    _ => "has an entry type a volume cannot hold",
                };
                return Err(refuse(&name, what));
            }
        };
        let raw = entry.path_bytes();
        let index = summary.entries;
        summary.entries += 1;
        if summary.entries > limits.max_entries {
            return Err(Error::invalid(
                "archive",
                format!("has more than {} entries", limits.max_entries),
            ));
        }
        let path = normalized(&raw)?;
        let link = match kind {
            Kind::Symlink | Kind::Hardlink => {
                let link = entry
                    .link_name_bytes()
                    .ok_or_else(|| refuse(&raw, "is a link without a target"))?;
                if link.is_empty() {
                    return Err(refuse(&raw, "is a link with an empty target"));
                }
                if link.contains(&0) || link.len() > MAX_PATH_BYTES {
                    return Err(refuse(&raw, "has a malformed link target"));
                }
                if link.first() == Some(&b'/') {
                    return Err(refuse(&raw, "links to an absolute path"));
                }
                Some(link)
            }
            _ => None,
        };
        if path.is_empty() && kind != Kind::Dir {
            return Err(refuse(&raw, "is the volume root but not a directory"));
        }
        match kind {
            Kind::File => {
                summary.files += 1;
                let size = entry.size();
                summary.bytes = summary.bytes.saturating_add(size);
                if summary.bytes > limits.max_bytes {
                    return Err(Error::invalid(
                        "archive",
                        format!(
                            "holds more than {} bytes (at entry '{}')",
                            limits.max_bytes,
                            String::from_utf8_lossy(&raw)
                        ),
                    ));
                }
            }
            Kind::Dir => summary.directories += 1,
            Kind::Symlink => summary.symlinks += 1,
            Kind::Hardlink => summary.hardlinks += 1,
        }
        spool.push(kind, &path)?;
        if let Some(link) = link {
            link_bytes = link_bytes.saturating_add((raw.len() + link.len()) as u64);
            if summary.symlinks + summary.hardlinks > MAX_LINKS {
                return Err(Error::invalid(
                    "archive",
                    format!("has more than {MAX_LINKS} links (symbolic and hard, together)"),
                ));
            }
            if link_bytes > MAX_LINK_BYTES {
                return Err(Error::invalid(
                    "archive",
                    format!(
                        "has links whose paths and targets exceed {} MiB together (at entry \
                         '{}')",
                        MAX_LINK_BYTES >> 20,
                        String::from_utf8_lossy(&raw)
                    ),
                ));
            }
            let target = if kind == Kind::Symlink {
                Target::Symbolic(link.into_owned())
            } else {
                // Hard-link targets are archive paths, like entry names.
                Target::Hard(normalized(&link).ok())
            };
            links.push(Link {
                path,
                index,
                target,
            });
        }
    }
    check_links(&links, spool.into_records()?, summary.entries)?;
    Ok(summary)
}

/// The second pass: every entry (read back from the spool) against the links of the whole
/// archive, then each link.
fn check_links(links: &[Link], mut records: Records, entries: u64) -> Result<()> {
    let symlinks: HashMap<&[u8], &[u8]> = links
        .iter()
        .filter_map(|l| match &l.target {
            Target::Symbolic(to) => Some((l.path.as_slice(), to.as_slice())),
            Target::Hard(_) => None,
        })
        .collect();
    // Where the targets of hard links first appear as regular files.
    let mut first_file: HashMap<&[u8], Option<u64>> = links
        .iter()
        .filter_map(|l| match &l.target {
            Target::Hard(Some(to)) => Some((to.as_slice(), None)),
            _ => None,
        })
        .collect();
    // The kind of each symbolic link's path (the first entry of it): only a path that is a
    // symbolic link somewhere can be both a symbolic link and something else.
    let mut kinds: HashMap<&[u8], Kind> = HashMap::new();
    if !symlinks.is_empty() || !first_file.is_empty() {
        for index in 0..entries {
            let (kind, path) = records.next()?;
            if let Some((&key, _)) = symlinks.get_key_value(path) {
                match kinds.get(key) {
                    Some(k) if *k != kind && (*k == Kind::Symlink || kind == Kind::Symlink) => {
                        return Err(refuse(path, "is both a symbolic link and something else"));
                    }
                    Some(_) => {}
                    None => {
                        kinds.insert(key, kind);
                    }
                }
            }
            if kind == Kind::File
                && let Some(first @ None) = first_file.get_mut(path)
            {
                *first = Some(index);
            }
            // Nothing may be written below a symbolic link.
            if ancestors(path).any(|p| symlinks.contains_key(p)) {
                return Err(refuse(path, "lies below a symbolic link of the archive"));
            }
        }
    }
    for link in links {
        let name = link.path.as_slice();
        match &link.target {
            Target::Symbolic(to) => match resolve(&symlinks, parent(name), to) {
                Resolved::Inside => {}
                Resolved::Escapes => {
                    return Err(refuse(name, "links outside the volume"));
                }
                Resolved::Loop => {
                    return Err(refuse(
                        name,
                        format!("links in a loop (more than {MAX_HOPS} links deep)"),
                    ));
                }
            },
            Target::Hard(to) => {
                let to = to
                    .as_deref()
                    .ok_or_else(|| refuse(name, "is a hard link to a path outside the volume"))?;
                if ancestors(to)
                    .chain(std::iter::once(to))
                    .any(|p| symlinks.contains_key(p))
                {
                    return Err(refuse(name, "is a hard link to or through a symbolic link"));
                }
                match first_file.get(to) {
                    Some(Some(i)) if *i < link.index => {}
                    _ => {
                        return Err(refuse(
                            name,
                            "is a hard link to no earlier regular file of the archive",
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ArchiveLimits {
        ArchiveLimits::new(1 << 20, 1000)
    }

    /// A tar built entry by entry; names and link targets are written raw, so hostile values
    /// that `tar::Builder`'s safe setters refuse can be expressed.
    struct Tar(tar::Builder<Vec<u8>>);

    impl Tar {
        fn new() -> Self {
            Self(tar::Builder::new(Vec::new()))
        }
        fn entry(
            mut self,
            kind: tar::EntryType,
            name: &str,
            link: Option<&str>,
            data: &[u8],
        ) -> Self {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            let raw = h.as_old_mut();
            raw.name = [0; 100];
            raw.name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(l) = link {
                raw.linkname = [0; 100];
                raw.linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
            h.set_cksum();
            self.0.append(&h, data).unwrap();
            self
        }
        fn file(self, name: &str, data: &[u8]) -> Self {
            self.entry(tar::EntryType::Regular, name, None, data)
        }
        fn dir(self, name: &str) -> Self {
            self.entry(tar::EntryType::Directory, name, None, b"")
        }
        fn symlink(self, name: &str, to: &str) -> Self {
            self.entry(tar::EntryType::Symlink, name, Some(to), b"")
        }
        fn hardlink(self, name: &str, to: &str) -> Self {
            self.entry(tar::EntryType::Link, name, Some(to), b"")
        }
        fn bytes(self) -> Vec<u8> {
            self.0.into_inner().unwrap()
        }
    }

    fn check(t: Tar) -> Result<ArchiveSummary> {
        validate(t.bytes().as_slice(), &limits())
    }

    #[test]
    fn a_normal_tree_is_accepted_and_summarised() {
        let s = check(
            Tar::new()
                .dir("./")
                .dir("./conf/")
                .file("./conf/app.toml", b"port = 80\n")
                .file("data/a.bin", &[7; 100])
                .symlink("current", "conf")
                .symlink("conf/up", "../data/a.bin")
                .hardlink("data/b.bin", "data/a.bin")
                // A chain of links that stays inside, as shared libraries have.
                .symlink("lib.so", "lib.so.1")
                .symlink("lib.so.1", "current/../data/a.bin"),
        )
        .unwrap();
        assert_eq!(
            s,
            ArchiveSummary {
                entries: 9,
                files: 2,
                directories: 2,
                symlinks: 4,
                hardlinks: 1,
                bytes: 110,
            }
        );
    }

    #[test]
    fn hostile_entries_are_refused_naming_the_entry() {
        let cases: Vec<(Tar, &str)> = vec![
            (Tar::new().file("/etc/passwd", b"x"), "absolute path"),
            (Tar::new().file("../escape", b"x"), "'..'"),
            (Tar::new().file("a/../../escape", b"x"), "'..'"),
            (Tar::new().symlink("l", "/etc"), "absolute path"),
            (Tar::new().symlink("l", "../.."), "outside the volume"),
            (
                Tar::new().dir("a/").symlink("a/l", "../../x"),
                "outside the volume",
            ),
            (
                Tar::new().symlink("l", "x").file("l/evil", b"x"),
                "below a symbolic link",
            ),
            (
                Tar::new().file("l/evil", b"x").symlink("l", "x"),
                "below a symbolic link",
            ),
            (
                Tar::new()
                    .dir("a/")
                    .dir("a/b/")
                    .symlink("a/b/s", "../..")
                    .symlink("t", "a/b/s/.."),
                "outside the volume",
            ),
            (
                Tar::new().symlink("up", "..").symlink("t", "up"),
                "outside the volume",
            ),
            (Tar::new().symlink("x", "y").symlink("y", "x"), "loop"),
            (
                Tar::new().hardlink("h", "../etc/shadow"),
                "outside the volume",
            ),
            (Tar::new().hardlink("h", "/etc/shadow"), "absolute path"),
            (
                Tar::new().hardlink("h", "later").file("later", b"x"),
                "no earlier regular file",
            ),
            (
                Tar::new()
                    .symlink("s", "f")
                    .file("f", b"x")
                    .hardlink("h", "s"),
                "symbolic link",
            ),
            (
                Tar::new().dir("d/").symlink("d", "x"),
                "both a symbolic link",
            ),
            (
                Tar::new().entry(tar::EntryType::Char, "null", None, b""),
                "character device",
            ),
            (
                Tar::new().entry(tar::EntryType::Block, "sda", None, b""),
                "block device",
            ),
            (
                Tar::new().entry(tar::EntryType::Fifo, "pipe", None, b""),
                "FIFO",
            ),
            (Tar::new().symlink("./", "x"), "volume root"),
            (Tar::new().file("big", &vec![0; (1 << 20) + 1]), "more than"),
        ];
        for (t, want) in cases {
            let e = check(t).unwrap_err();
            assert_eq!(e.field(), Some("archive"), "{e}");
            assert!(e.to_string().contains(want), "wanted {want:?}: {e}");
        }
    }

    #[test]
    fn too_many_entries_and_garbage_are_refused() {
        let mut t = Tar::new();
        for i in 0..11 {
            t = t.file(&format!("f{i}"), b"");
        }
        let e = validate(t.bytes().as_slice(), &ArchiveLimits::new(1 << 20, 10)).unwrap_err();
        assert!(e.to_string().contains("more than 10 entries"), "{e}");
        let e = validate(&[b'A'; 1024][..], &limits()).unwrap_err();
        assert!(e.to_string().contains("well-formed"), "{e}");
        let mut truncated = Tar::new().file("a", &[1; 2000]).bytes();
        truncated.truncate(1200);
        assert!(validate(truncated.as_slice(), &limits()).is_err());
    }

    #[test]
    fn long_names_through_gnu_headers_are_checked_too() {
        // A GNU long-name entry ('L') carries the real name of the entry after it.
        let long = format!("{}/../../escape", "d".repeat(120));
        let mut data = long.clone().into_bytes();
        data.push(0);
        let t = Tar::new()
            .entry(tar::EntryType::GNULongName, "././@LongLink", None, &data)
            .file("short-name", b"x");
        let e = check(t).unwrap_err();
        assert!(e.to_string().contains("'..'"), "{e}");
        assert!(
            e.to_string().contains(&"d".repeat(120)),
            "the long name is reported: {e}"
        );
    }

    /// An archive of `count` entries made as it is read, never held whole: `entry(i)` is a
    /// [`Tar`] holding entry `i` alone.
    struct Generated<F> {
        entry: F,
        next: u64,
        count: u64,
        buf: Vec<u8>,
        pos: usize,
    }

    fn generated<F: FnMut(u64) -> Tar>(count: u64, entry: F) -> Generated<F> {
        Generated {
            entry,
            next: 0,
            count,
            buf: Vec::new(),
            pos: 0,
        }
    }

    impl<F: FnMut(u64) -> Tar> Read for Generated<F> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.pos == self.buf.len() {
                self.pos = 0;
                self.buf = match self.next.cmp(&self.count) {
                    std::cmp::Ordering::Less => {
                        let mut b = (self.entry)(self.next).bytes();
                        // Without its end-of-archive marker (two zero blocks).
                        b.truncate(b.len() - 1024);
                        b
                    }
                    std::cmp::Ordering::Equal => vec![0; 1024],
                    std::cmp::Ordering::Greater => return Ok(0),
                };
                self.next += 1;
            }
            let n = out.len().min(self.buf.len() - self.pos);
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn more_links_than_validation_holds_are_refused() {
        // A file, then `links` links to it, symbolic and hard in turn.
        let archive = |links: u64| {
            generated(links + 1, |i| match i {
                0 => Tar::new().file("f", b""),
                i if i % 2 == 0 => Tar::new().symlink(&format!("s{i}"), "f"),
                i => Tar::new().hardlink(&format!("h{i}"), "f"),
            })
        };
        let limits = ArchiveLimits::new(1 << 20, 1_000_000);
        let s = validate(archive(MAX_LINKS), &limits).unwrap();
        assert_eq!(s.symlinks + s.hardlinks, MAX_LINKS);
        let e = validate(archive(MAX_LINKS + 1), &limits).unwrap_err();
        assert_eq!(e.field(), Some("archive"), "{e}");
        assert!(e.to_string().contains("more than 100000 links"), "{e}");
    }

    #[test]
    fn links_with_more_path_bytes_than_validation_holds_are_refused() {
        // Each link's path and target are about 3,800 bytes each (GNU long names), so 32 MiB
        // is reached after some 4,400 links.
        let component = |c: &str| c.repeat(250);
        let long_link = |i: u64| {
            let path = format!("{i}/{}", vec![component("p"); 15].join("/"));
            let target = vec![component("t"); 15].join("/");
            let nul = |s: String| {
                let mut b = s.into_bytes();
                b.push(0);
                b
            };
            Tar::new()
                .entry(
                    tar::EntryType::GNULongName,
                    "././@LongLink",
                    None,
                    &nul(path),
                )
                .entry(
                    tar::EntryType::GNULongLink,
                    "././@LongLink",
                    None,
                    &nul(target),
                )
                .symlink("short", "short")
        };
        let limits = ArchiveLimits::new(1 << 20, 1_000_000);
        let e = validate(generated(5000, long_link), &limits).unwrap_err();
        assert_eq!(e.field(), Some("archive"), "{e}");
        assert!(
            e.to_string()
                .contains("links whose paths and targets exceed 32 MiB"),
            "{e}"
        );
    }
}
