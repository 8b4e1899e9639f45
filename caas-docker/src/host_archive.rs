//! Reading a whole volume as tar straight from the host's filesystem, when this process runs
//! next to the engine and may read the volume's directory (the engine's archive API through a
//! helper container is several times slower: it stats every file through the container's root
//! and sends the archive over the API socket).
//!
//! The volume's content is written by tenants' containers, so the walk never follows a
//! symbolic link and never resolves a path: every step opens one directory entry relative to
//! its parent's file descriptor with `O_NOFOLLOW` (a directory swapped for a link to `/` while
//! the walk runs cannot lead it out of the volume), and every header comes from `fstat` of the
//! descriptor whose bytes are archived. The archive matches the engine's: the root as `./`,
//! then entries named from it (`a/b`) in lexical order per directory, depth first, ownership, modes and times kept, hard links as link
//! entries, FIFOs and device nodes as headers, sockets left out (as the engine does). A file
//! that grows or shrinks while it is read is archived at the size it had when opened (cut, or
//! padded with zeros), so the archive stays well-formed; extended attributes are not copied.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Stat, fstat, openat, readlinkat, statat};
use tokio::sync::mpsc;

use caas_core::ports::runtime::ChunkSender;
use caas_core::{Error, Result};

use crate::error::SERVICE;

/// How many directories deep the walk goes before it refuses (each level holds a descriptor).
const MAX_DEPTH: usize = 512;
/// Size of the chunks sent to the consumer.
const CHUNK: usize = 1024 * 1024;

/// Opens the directory at `mountpoint` for a walk, or `None` when this process cannot (the
/// engine is elsewhere, another mount namespace, no permission): the caller then uses the
/// engine's archive API.
pub(crate) fn open_root(mountpoint: &Path) -> Option<OwnedFd> {
    let fd = openat(
        rustix::fs::CWD,
        mountpoint,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    // Listing it must work too (a directory opened without read permission cannot be walked).
    Dir::read_from(&fd).ok()?;
    Some(fd)
}

/// Streams the tar of the directory `root` (from [`open_root`]) from a blocking thread; the
/// channel is bounded, so a slow consumer slows the walk down instead of filling memory.
pub(crate) fn stream(root: OwnedFd, volume: String) -> mpsc::Receiver<Result<Bytes>> {
    let (tx, rx) = mpsc::channel::<Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let sink = ChunkSender::new(tx.clone(), CHUNK);
        let mut builder = tar::Builder::new(sink);
        let outcome = Walk::default()
            .archive(&mut builder, root)
            .and_then(|()| builder.into_inner())
            .and_then(|mut sink| sink.flush());
        if let Err(e) = outcome {
            // A consumer that went away is not an error worth reporting to it.
            if e.kind() != io::ErrorKind::BrokenPipe {
                let _ = tx.blocking_send(Err(Error::backend(
                    SERVICE,
                    format!("reading volume '{volume}' from the host: {e}"),
                )));
            }
        }
    });
    rx
}

/// The state of one walk: hard links seen so far, by (device, inode).
#[derive(Default)]
struct Walk {
    links: HashMap<(u64, u64), PathBuf>,
}

/// A directory being walked: its descriptor, its archive name (`a/b`), its sorted entries
/// and how many of them were handled.
struct Level {
    fd: OwnedFd,
    name: PathBuf,
    entries: Vec<Vec<u8>>,
    next: usize,
}

impl Walk {
    fn archive<W: Write>(&mut self, ar: &mut tar::Builder<W>, root: OwnedFd) -> io::Result<()> {
        let st = fstat(&root)?;
        append_header(ar, header(&st, tar::EntryType::Directory, 0), "./")?;
        let mut stack = vec![Level {
            entries: sorted_entries(&root)?,
            fd: root,
            name: PathBuf::new(),
            next: 0,
        }];
        while let Some(level) = stack.last_mut() {
            let Some(entry) = level.entries.get(level.next).cloned() else {
                stack.pop();
                continue;
            };
            level.next += 1;
            // Names are bytes: one that is not UTF-8 is kept as it is.
            let name = level.name.join(OsStr::from_bytes(&entry));
            if let Some(dir) = self.entry(ar, &level.fd, &entry, name)? {
                if stack.len() >= MAX_DEPTH {
                    return Err(io::Error::other(format!(
                        "'{}' is more than {MAX_DEPTH} directories deep",
                        dir.name.display()
                    )));
                }
                stack.push(dir);
            }
        }
        Ok(())
    }

    /// Archives one entry of `parent`; a directory is returned to be walked next.
    fn entry<W: Write>(
        &mut self,
        ar: &mut tar::Builder<W>,
        parent: &OwnedFd,
        entry: &[u8],
        name: PathBuf,
    ) -> io::Result<Option<Level>> {
        let st = match statat(parent, entry, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Removed since it was listed: nothing to archive.
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let fd = match open_entry(parent, entry, OFlags::DIRECTORY) {
                    Ok(fd) => fd,
                    Err(e) if vanished(&e) => return Ok(None),
                    Err(e) => return Err(e),
                };
                let st = fstat(&fd)?;
                // Directories end in `/`, as GNU tar and the engine write them.
                let mut slashed = name.clone().into_os_string();
                slashed.push("/");
                append_header(ar, header(&st, tar::EntryType::Directory, 0), slashed)?;
                Ok(Some(Level {
                    entries: sorted_entries(&fd)?,
                    fd,
                    name,
                    next: 0,
                }))
            }
            FileType::RegularFile => {
                self.file(ar, parent, entry, name)?;
                Ok(None)
            }
            FileType::Symlink => {
                let target = match readlinkat(parent, entry, Vec::new()) {
                    Ok(t) => t,
                    Err(rustix::io::Errno::NOENT) => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                let mut h = header(&st, tar::EntryType::Symlink, 0);
                let target = target.as_bytes();
                // Verbatim (the crate's setter would tidy `/` into `//` or drop `./`); a target
                // too long for the header goes into a GNU long-link entry, as it is.
                if target.len() <= 100 {
                    h.set_link_name_literal(target)?;
                    ar.append_data(&mut h, &name, io::empty())?;
                } else {
                    ar.append_link(&mut h, &name, OsStr::from_bytes(target))?;
                }
                Ok(None)
            }
            FileType::Fifo => {
                append_header(ar, header(&st, tar::EntryType::Fifo, 0), &name)?;
                Ok(None)
            }
            FileType::CharacterDevice | FileType::BlockDevice => {
                let kind = if FileType::from_raw_mode(st.st_mode) == FileType::BlockDevice {
                    tar::EntryType::Block
                } else {
                    tar::EntryType::Char
                };
                let mut h = header(&st, kind, 0);
                h.set_device_major(rustix::fs::major(st.st_rdev))?;
                h.set_device_minor(rustix::fs::minor(st.st_rdev))?;
                append_header(ar, h, &name)?;
                Ok(None)
            }
            // Sockets cannot be archived (the engine leaves them out too).
            _ => {
                tracing::debug!(entry = %name.display(), "left a socket out of a volume archive");
                Ok(None)
            }
        }
    }

    fn file<W: Write>(
        &mut self,
        ar: &mut tar::Builder<W>,
        parent: &OwnedFd,
        entry: &[u8],
        name: PathBuf,
    ) -> io::Result<()> {
        // O_NONBLOCK: an entry swapped for a FIFO since it was listed must not block the walk.
        let fd = match open_entry(parent, entry, OFlags::NONBLOCK | OFlags::NOCTTY) {
            Ok(fd) => fd,
            Err(e) if vanished(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        let st = fstat(&fd)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            // Swapped for something else since it was listed: archived at the next backup.
            return Ok(());
        }
        if st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key) {
                let mut h = header(&st, tar::EntryType::Link, 0);
                return ar.append_link(&mut h, &name, first);
            }
            self.links.insert(key, name.clone());
        }
        let size = u64::try_from(st.st_size).unwrap_or(0);
        let mut h = header(&st, tar::EntryType::Regular, size);
        let data = ExactSize {
            inner: std::fs::File::from(fd).take(size),
            left: size,
        };
        ar.append_data(&mut h, &name, data)
    }
}

fn open_entry(parent: &OwnedFd, entry: &[u8], extra: OFlags) -> io::Result<OwnedFd> {
    Ok(openat(
        parent,
        entry,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | extra,
        Mode::empty(),
    )?)
}

/// Whether an entry disappeared (or became a link) between listing and opening.
fn vanished(e: &io::Error) -> bool {
    matches!(
        rustix::io::Errno::from_io_error(e),
        Some(rustix::io::Errno::NOENT | rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR)
    )
}

/// The names in a directory, sorted bytewise (the engine's order), without `.` and `..`.
fn sorted_entries(dir: &OwnedFd) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    for entry in Dir::read_from(dir.as_fd())? {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(name);
        }
    }
    names.sort_unstable();
    Ok(names)
}

fn header(st: &Stat, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
    h.set_size(size);
    h
}

fn append_header<W: Write>(
    ar: &mut tar::Builder<W>,
    mut h: tar::Header,
    name: impl AsRef<Path>,
) -> io::Result<()> {
    ar.append_data(&mut h, name, io::empty())
}

/// Reads exactly `left` bytes: what the file holds, then zeros if it shrank meanwhile.
struct ExactSize<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for ExactSize<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let Some(window) = buf.get_mut(..want) else {
            return Ok(0);
        };
        let mut n = self.inner.read(window)?;
        if n == 0 {
            window.fill(0);
            n = want;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    async fn archive(dir: &Path) -> Vec<u8> {
        let mut rx = stream(open_root(dir).unwrap(), "v".into());
        let mut out = Vec::new();
        while let Some(chunk) = rx.recv().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn archives_like_the_engine_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/f"), b"hello").unwrap();
        std::fs::write(d.join("b"), vec![7u8; 3 * CHUNK + 5]).unwrap();
        std::fs::hard_link(d.join("sub/f"), d.join("hl")).unwrap();
        std::os::unix::fs::symlink("/etc", d.join("escape")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", d.join("file-link")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            d.join("fifo").as_path(),
            FileType::Fifo,
            Mode::from_raw_mode(0o640),
            0,
        )
        .unwrap();
        let _sock = std::os::unix::net::UnixListener::bind(d.join("sock")).unwrap();
        let tar = archive(d).await;
        let mut seen = Vec::new();
        let mut ar = tar::Archive::new(tar.as_slice());
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let kind = e.header().entry_type();
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned());
            let mut body = Vec::new();
            e.read_to_end(&mut body).unwrap();
            seen.push((name, kind, link, body.len()));
        }
        let names: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "./",
                "b",
                "escape",
                "fifo",
                "file-link",
                "hl",
                "sub/",
                "sub/f"
            ],
            "lexical order, the socket left out, nothing under the linked /etc"
        );
        let by = |n: &str| seen.iter().find(|s| s.0 == n).unwrap();
        assert_eq!(by("b").3, 3 * CHUNK + 5);
        assert_eq!(by("escape").1, tar::EntryType::Symlink);
        assert_eq!(by("escape").2.as_deref(), Some("/etc"));
        assert_eq!(by("file-link").3, 0, "a link's target is not read");
        assert_eq!(by("fifo").1, tar::EntryType::Fifo);
        // The first name of a hard-linked file holds the data, the second links to it.
        assert_eq!(by("hl").1, tar::EntryType::Regular);
        assert_eq!(by("hl").3, 5);
        assert_eq!(by("sub/f").1, tar::EntryType::Link);
        assert_eq!(by("sub/f").2.as_deref(), Some("hl"));
    }

    #[tokio::test]
    async fn long_names_and_deep_trees_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = dir.path().to_path_buf();
        for i in 0..40 {
            p.push(format!("level-{i:02}-{}", "x".repeat(20)));
        }
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("leaf"), b"deep").unwrap();
        let far = format!("/{}/target", "t".repeat(150));
        std::os::unix::fs::symlink(&far, dir.path().join("long-link")).unwrap();
        std::os::unix::fs::symlink("./x//y/", dir.path().join("odd-link")).unwrap();
        let tar = archive(dir.path()).await;
        let out = tempfile::tempdir().unwrap();
        tar::Archive::new(tar.as_slice())
            .unpack(out.path())
            .unwrap();
        let rel = p.strip_prefix(dir.path()).unwrap();
        assert_eq!(
            std::fs::read(out.path().join(rel).join("leaf")).unwrap(),
            b"deep"
        );
        let link = |n: &str| std::fs::read_link(out.path().join(n)).unwrap();
        assert_eq!(link("long-link"), Path::new(&far));
        assert_eq!(
            link("odd-link").as_os_str(),
            "./x//y/",
            "targets are kept verbatim"
        );
    }

    #[test]
    fn a_file_that_shrank_is_padded_and_one_that_grew_is_cut() {
        let mut shrunk = ExactSize {
            inner: &b"abc"[..],
            left: 5,
        };
        let mut out = Vec::new();
        shrunk.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc\0\0");
        let mut grown = ExactSize {
            inner: (&b"abcdef"[..]).take(4),
            left: 4,
        };
        out.clear();
        grown.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcd");
    }

    #[tokio::test]
    async fn a_consumer_that_goes_away_stops_the_walk() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..20 {
            std::fs::write(dir.path().join(format!("f{i}")), vec![1u8; CHUNK]).unwrap();
        }
        let mut rx = stream(open_root(dir.path()).unwrap(), "v".into());
        assert!(rx.recv().await.unwrap().is_ok());
        drop(rx);
        // The blocking thread ends on its next send; nothing hangs or panics.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
