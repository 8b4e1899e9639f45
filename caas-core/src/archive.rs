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
//! | anything that is not a well-formed tar (bad checksums, truncated headers) | |
//!
//! The check is order-independent: links are collected first and every entry is then checked
//! against all of them. It needs memory for the paths of the archive (bounded by
//! [`ArchiveLimits::max_entries`]), never for contents. It never panics, whatever the bytes
//! (fuzzed: `fuzz/fuzz_targets/archive.rs`).

use std::collections::HashMap;
use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest path accepted in an archive (bytes), and longest single component.
const MAX_PATH_BYTES: usize = 4096;
const MAX_COMPONENT_BYTES: usize = 255;

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

/// One entry as collected in the first pass.
struct Collected {
    path: Vec<Vec<u8>>,
    kind: Kind,
    /// Symlink target as written, or hard-link target normalized to the archive root.
    target: Option<Vec<u8>>,
    /// Position in the archive.
    index: u64,
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

/// Splits an entry path into its components, relative to the archive root: `./a//b/` is
/// `[a, b]`, `./` is `[]` (the root itself). Refuses absolute paths, `..`, NUL bytes and
/// over-long paths or components.
fn components(raw: &[u8]) -> Result<Vec<Vec<u8>>> {
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
    let mut out = Vec::new();
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
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
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
/// path → target). Absolute targets were refused before.
fn resolve(links: &HashMap<&[Vec<u8>], &[u8]>, dir: &[Vec<u8>], target: &[u8]) -> Resolved {
    let mut cur: Vec<Vec<u8>> = dir.to_vec();
    let mut queue: std::collections::VecDeque<Vec<u8>> =
        target.split(|b| *b == b'/').map(<[u8]>::to_vec).collect();
    let mut hops = 0;
    while let Some(c) = queue.pop_front() {
        match c.as_slice() {
            b"" | b"." => {}
            b".." => {
                if cur.pop().is_none() {
                    return Resolved::Escapes;
                }
            }
            _ => {
                cur.push(c);
                if let Some(next) = links.get(cur.as_slice()) {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Resolved::Loop;
                    }
                    cur.pop();
                    for part in next.split(|b| *b == b'/').rev() {
                        queue.push_front(part.to_vec());
                    }
                }
            }
        }
    }
    Resolved::Inside
}

fn joined(path: &[Vec<u8>]) -> Vec<u8> {
    path.join(&b'/')
}

/// Reads the whole archive from `reader` and checks every entry (see the module docs).
/// Returns what it holds. Errors: `InvalidInput` (field `archive`) naming the first
/// offending entry and why.
pub fn validate(reader: impl Read, limits: &ArchiveLimits) -> Result<ArchiveSummary> {
    let mut archive = tar::Archive::new(reader);
    let mut summary = ArchiveSummary::default();
    let mut collected: Vec<Collected> = Vec::new();
    for (index, entry) in archive.entries().map_err(malformed)?.enumerate() {
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
                let name = entry.path_bytes().to_vec();
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
        let raw = entry.path_bytes().to_vec();
        summary.entries += 1;
        if summary.entries > limits.max_entries {
            return Err(Error::invalid(
                "archive",
                format!("has more than {} entries", limits.max_entries),
            ));
        }
        let path = components(&raw)?;
        let target = match kind {
            Kind::Symlink | Kind::Hardlink => {
                let link = entry
                    .link_name_bytes()
                    .ok_or_else(|| refuse(&raw, "is a link without a target"))?
                    .to_vec();
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
        collected.push(Collected {
            path,
            kind,
            target,
            index: u64::try_from(index).unwrap_or(u64::MAX),
        });
    }
    check_links(&collected)?;
    Ok(summary)
}

/// The second pass: links against the whole archive.
fn check_links(entries: &[Collected]) -> Result<()> {
    let links: HashMap<&[Vec<u8>], &[u8]> = entries
        .iter()
        .filter(|e| e.kind == Kind::Symlink)
        .filter_map(|e| e.target.as_deref().map(|t| (e.path.as_slice(), t)))
        .collect();
    // The kind of each path (the first entry of it) and where regular files first appear.
    let mut kinds: HashMap<&[Vec<u8>], Kind> = HashMap::new();
    let mut first_file: HashMap<&[Vec<u8>], u64> = HashMap::new();
    for e in entries {
        let name = joined(&e.path);
        match kinds.get(e.path.as_slice()) {
            Some(k) if *k != e.kind && (*k == Kind::Symlink || e.kind == Kind::Symlink) => {
                return Err(refuse(&name, "is both a symbolic link and something else"));
            }
            Some(_) => {}
            None => {
                kinds.insert(&e.path, e.kind);
            }
        }
        if e.kind == Kind::File {
            first_file.entry(&e.path).or_insert(e.index);
        }
        // Nothing may be written below a symbolic link.
        for depth in 1..e.path.len() {
            if e.path.get(..depth).is_some_and(|p| links.contains_key(p)) {
                return Err(refuse(&name, "lies below a symbolic link of the archive"));
            }
        }
    }
    for e in entries {
        let name = joined(&e.path);
        let Some(target) = &e.target else { continue };
        match e.kind {
            Kind::Symlink => {
                let dir = e.path.get(..e.path.len().saturating_sub(1)).unwrap_or(&[]);
                match resolve(&links, dir, target) {
                    Resolved::Inside => {}
                    Resolved::Escapes => {
                        return Err(refuse(&name, "links outside the volume"));
                    }
                    Resolved::Loop => {
                        return Err(refuse(
                            &name,
                            format!("links in a loop (more than {MAX_HOPS} links deep)"),
                        ));
                    }
                }
            }
            Kind::Hardlink => {
                // Hard-link targets are archive paths, like entry names.
                let to = components(target)
                    .map_err(|_| refuse(&name, "is a hard link to a path outside the volume"))?;
                for depth in 1..=to.len() {
                    if to.get(..depth).is_some_and(|p| links.contains_key(p)) {
                        return Err(refuse(
                            &name,
                            "is a hard link to or through a symbolic link",
                        ));
                    }
                }
                match first_file.get(to.as_slice()) {
                    Some(i) if *i < e.index => {}
                    _ => {
                        return Err(refuse(
                            &name,
                            "is a hard link to no earlier regular file of the archive",
                        ));
                    }
                }
            }
            Kind::File | Kind::Dir => {}
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
}
