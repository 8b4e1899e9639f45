//! Whole-volume archives read straight from the host (the default when the engine is local)
//! against the engine's own archive API: the same entries, owners, modes, times, links and
//! bytes; nothing outside the volume, whatever links its content plants; and the archive
//! behaviours of the conformance suite through the engine's API as well.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use caas_core::ContainerRuntime;
use caas_core::labels;
use caas_core::model::RestartPolicy;
use caas_core::ports::runtime::{ContainerSpec, ContainerStatus, Mount, VolumeSpec};
use caas_docker::DockerRuntime;
use caas_testkit::runtime::RuntimeFixture;
use futures::TryStreamExt;

/// What an archive says about one entry.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: Option<String>,
    data: Vec<u8>,
}

/// Entries by name, `./` prefixes and trailing slashes removed (spellings differ, paths do not).
fn entries(tar: &[u8]) -> BTreeMap<Vec<u8>, Entry> {
    let norm = |b: &[u8]| {
        let b = b.strip_prefix(b"./").unwrap_or(b);
        let b = b.strip_suffix(b"/").unwrap_or(b);
        if b.is_empty() {
            b".".to_vec()
        } else {
            b.to_vec()
        }
    };
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(tar);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let name = norm(&e.path_bytes());
        // Hard links name entries (spelled either way); symbolic links hold any text.
        let link = e.link_name_bytes().map(|l| {
            let l = if h.entry_type().is_hard_link() {
                norm(&l)
            } else {
                l.to_vec()
            };
            String::from_utf8_lossy(&l).into_owned()
        });
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(
            name,
            Entry {
                kind: h.entry_type().as_byte(),
                mode: h.mode().unwrap() & 0o7777,
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                mtime: h.mtime().unwrap(),
                // Symbolic links' modes differ by platform; their targets are what counts.
                link,
                data,
            },
        );
    }
    out
}

async fn read_all(rt: &DockerRuntime, volume: &str) -> Vec<u8> {
    let chunks: Vec<bytes::Bytes> = rt
        .read_archive(volume, "/")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    chunks.concat()
}

/// Runs `script` as root in a one-off container with `volume` at /v until it exits 0.
async fn run_on(fx: &RuntimeFixture, volume: &str, script: &str) {
    let mut spec = ContainerSpec::new(fx.name("fill"), fx.image.clone());
    spec.command = Some(vec!["sh".into(), "-c".into(), script.into()]);
    spec.mounts = vec![Mount {
        volume: volume.into(),
        target: "/v".into(),
        read_only: false,
    }];
    spec.labels = fx.labels();
    spec.labels.insert(labels::MANAGED.into(), "true".into());
    spec.restart_policy = RestartPolicy::No;
    let rt = &fx.runtime;
    let id = rt.create_container(&spec).await.unwrap().id().to_string();
    rt.start_container(&id).await.unwrap();
    for _ in 0..300 {
        let info = rt.inspect_container_opt(&id).await.unwrap().unwrap();
        if info.status == ContainerStatus::Exited {
            assert_eq!(info.exit_code, Some(0), "{script}");
            rt.remove_container(&id, true).await.unwrap();
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the filling container did not finish");
}

/// Content a tenant could write: owners and modes a database uses, links pointing out of
/// the volume (absolute, relative, to the host's root), a hard link, a FIFO, a name that is
/// not UTF-8, a long path, an empty and a multi-megabyte file.
const FILL: &str = r#"set -e
cd /v
mkdir -p pgdata/base/1 && chmod 700 pgdata && chown -R 999:999 pgdata
printf 'row' > pgdata/base/1/16384 && chmod 600 pgdata/base/1/16384 && chown 999:999 pgdata/base/1/16384
ln -s / root-link
ln -s /etc/passwd passwd-link
ln -s ../../../../../etc up-link
mkdir sub && ln -s /etc sub/etc
echo linked > a && ln a z-hard
mkfifo fifo
printf 'x' > "$(printf 'latin1-\351')"
mkdir -p "$(printf 'd%.0s' $(seq 1 60))/$(printf 'e%.0s' $(seq 1 60))"
echo deep > "$(printf 'd%.0s' $(seq 1 60))/$(printf 'e%.0s' $(seq 1 60))/leaf"
: > empty
dd if=/dev/urandom of=big bs=1M count=3 2>/dev/null
chmod 4755 big
touch -d '2020-01-02 03:04:05' a
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_reads_match_the_engines_archive_entry_for_entry() {
    let Some((host, image)) = common::docker_with(true).await else {
        return;
    };
    let (engine, _) = common::docker_with(false).await.expect("engine");
    let fx = RuntimeFixture::new(Arc::new(host.clone()), image);
    fx.scoped(async {
        let vol = fx.name("host-archive");
        fx.runtime
            .create_volume(&VolumeSpec::new(&vol, fx.labels()))
            .await
            .unwrap();
        run_on(&fx, &vol, FILL).await;
        let ours = entries(&read_all(&host, &vol).await);
        let theirs = entries(&read_all(&engine, &vol).await);
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "the same names"
        );
        for (name, e) in &theirs {
            let o = &ours[name];
            let what = String::from_utf8_lossy(name);
            assert_eq!(o.kind, e.kind, "{what}: type");
            assert_eq!(o.link, e.link, "{what}: link target");
            assert_eq!(o.data, e.data, "{what}: contents");
            assert_eq!((o.uid, o.gid, o.mtime), (e.uid, e.gid, e.mtime), "{what}");
            if e.kind != b'2' {
                assert_eq!(o.mode, e.mode, "{what}: mode");
            }
        }
        // Spot checks, so the comparison cannot pass on two empty archives.
        assert_eq!(ours[&b"pgdata"[..]].mode, 0o700);
        assert_eq!(ours[&b"pgdata/base/1/16384"[..]].uid, 999);
        assert_eq!(ours[&b"big"[..]].data.len(), 3 << 20);
        assert_eq!(ours[&b"big"[..]].mode, 0o4755);
        assert_eq!(ours[&b"root-link"[..]].link.as_deref(), Some("/"));
        assert_eq!(ours[&b"z-hard"[..]].kind, b'1', "a hard link entry");
        assert_eq!(ours[&b"fifo"[..]].kind, b'6');
        assert!(
            ours.contains_key(&b"latin1-\xe9"[..]),
            "a name kept as bytes"
        );
        // Nothing from the host: no entry under a link, no link read as a file.
        assert!(
            ours.keys()
                .all(|n| !n.starts_with(b"root-link/") && !n.starts_with(b"sub/etc/")),
            "walked through a link"
        );
        for link in ["root-link", "passwd-link", "up-link", "sub/etc"] {
            let e = &ours[link.as_bytes()];
            assert_eq!(e.kind, b'2', "{link} stays a link");
            assert!(e.data.is_empty(), "{link}: its target was read");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_read_backs_up_and_restores_through_the_engine() {
    let Some((host, image)) = common::docker_with(true).await else {
        return;
    };
    let fx = RuntimeFixture::new(Arc::new(host.clone()), image);
    fx.scoped(async {
        let (from, to) = (fx.name("from"), fx.name("to"));
        for v in [&from, &to] {
            fx.runtime
                .create_volume(&VolumeSpec::new(v, fx.labels()))
                .await
                .unwrap();
        }
        // The engine refuses to extract a relative link that climbs out of the volume
        // ("invalid symlink"), wherever the archive came from.
        run_on(
            &fx,
            &from,
            &FILL.replace("ln -s ../../../../../etc up-link\n", ""),
        )
        .await;
        let tar = read_all(&host, &from).await;
        let stream = futures::stream::iter([Ok(bytes::Bytes::from(tar.clone()))]);
        host.write_archive(&to, "/", Box::pin(stream))
            .await
            .unwrap();
        // The engine extracts into the volume's existing root and leaves that directory's
        // time alone (it is when the extraction ended): every other entry must be the same.
        let without_root_time = |tar: &[u8]| {
            let mut m = entries(tar);
            if let Some(root) = m.get_mut(&b"."[..]) {
                root.mtime = 0;
            }
            m
        };
        assert_eq!(
            without_root_time(&read_all(&host, &to).await),
            without_root_time(&tar)
        );
    })
    .await;
}

async fn engine_fixture() -> Option<RuntimeFixture> {
    let (rt, image) = common::docker_with(false).await?;
    Some(RuntimeFixture::new(Arc::new(rt), image))
}

macro_rules! through_the_engine {
    ($($name:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(fx) = engine_fixture().await else { return };
            caas_testkit::runtime::$name(&fx).await;
        }
    )+};
}

through_the_engine!(
    archive_roundtrip_preserves_files,
    archive_entries_with_dot_prefixes_land_at_their_paths,
    archive_errors_name_what_is_wrong,
);
