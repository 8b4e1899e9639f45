//! Behaviours of networks, volumes and volume archives.

use std::collections::BTreeMap;

use bytes::Bytes;
use caas_core::Error;
use caas_core::labels;
use caas_core::ports::runtime::{
    CreateOutcome, Mount, NetworkAttachment, NetworkSpec, RemoveOutcome, VolumeSpec,
};
use caas_core::units::MIB;
use futures::StreamExt;

use super::{
    RuntimeFixture, STOP, assert_labels_kept, create_started, expect_err, inspect, read_archive,
};

/// Networks: create, create again (`AlreadyExists`, same id), other labels (`Conflict`),
/// inspect, list, remove, remove again (`NotFound`).
pub async fn networks_create_is_idempotent_and_remove_reports_missing(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let name = fx.name("net");
        let spec = NetworkSpec::new(&name, fx.labels());
        let id = match rt.create_network(&spec).await.expect("create network") {
            CreateOutcome::Created(id) => id,
            other => panic!("first create: {other:?}"),
        };
        assert_eq!(
            rt.create_network(&spec).await.expect("create again"),
            CreateOutcome::AlreadyExists(id.clone())
        );
        let mut other = spec.clone();
        other
            .labels
            .insert(labels::KIND.into(), "something-else".into());
        expect_err(
            "other labels",
            rt.create_network(&other).await,
            Error::is_conflict,
        );

        let info = rt
            .inspect_network_opt(&name)
            .await
            .expect("inspect")
            .expect("network exists");
        assert_eq!(info.id, id);
        assert_eq!(info.name, name);
        assert_labels_kept(&info.labels, &spec.labels);
        let listed = rt.list_networks(&fx.selector()).await.expect("list");
        assert_eq!(
            listed.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
            [name.as_str()]
        );
        let none = rt
            .list_networks(&fx.selector().has("caas.no-such-label"))
            .await
            .expect("list none");
        assert!(none.is_empty(), "{none:?}");

        assert_eq!(
            rt.remove_network(&name).await.expect("remove"),
            RemoveOutcome::Removed
        );
        assert!(
            rt.inspect_network_opt(&name)
                .await
                .expect("inspect")
                .is_none()
        );
        assert_eq!(
            rt.remove_network(&name).await.expect("remove again"),
            RemoveOutcome::NotFound
        );
    })
    .await
}

/// A container joins its network (with an alias) and gets an address there once running; the
/// network cannot be removed under it.
pub async fn container_joins_network_with_alias_and_gets_an_address(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let net = fx.name("appnet");
        rt.create_network(&NetworkSpec::new(&net, fx.labels()))
            .await
            .expect("create network");
        let mut spec = fx.container_spec("member");
        spec.networks = vec![NetworkAttachment {
            network: net.clone(),
            aliases: vec!["db".into()],
        }];
        let id = create_started(fx, &spec).await;
        let info = inspect(fx, &id).await;
        let ip = info
            .ip_addresses
            .get(&net)
            .unwrap_or_else(|| panic!("no address on {net}: {:?}", info.ip_addresses));
        assert!(
            ip.parse::<std::net::IpAddr>().is_ok(),
            "address on {net} is not an IP: {ip:?}"
        );
        assert_ne!(info.security.network_mode, "host");
        expect_err(
            "remove network in use",
            rt.remove_network(&net).await,
            Error::is_conflict,
        );
        assert!(
            rt.inspect_network_opt(&net)
                .await
                .expect("inspect")
                .is_some()
        );
    })
    .await
}

/// Volumes: create, create again (`AlreadyExists`), inspect, list, usage, remove, remove again.
pub async fn volumes_create_inspect_list_remove(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let name = fx.name("vol");
        let mut spec = VolumeSpec::new(&name, fx.labels());
        spec.labels.insert(labels::KIND.into(), "volume".into());
        assert_eq!(
            rt.create_volume(&spec).await.expect("create volume"),
            CreateOutcome::Created(name.clone())
        );
        let again = rt.create_volume(&spec).await.expect("create again");
        assert!(
            matches!(again, CreateOutcome::AlreadyExists(_)),
            "{again:?}"
        );
        let info = rt
            .inspect_volume_opt(&name)
            .await
            .expect("inspect")
            .expect("volume exists");
        assert_eq!(info.name, name);
        assert_eq!(info.driver, "local");
        assert_labels_kept(&info.labels, &spec.labels);
        let listed = rt.list_volumes(&fx.selector()).await.expect("list");
        assert_eq!(
            listed.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
            [name.as_str()]
        );
        let none = rt
            .list_volumes(&fx.selector().has("caas.no-such-label"))
            .await
            .expect("list none");
        assert!(none.is_empty(), "{none:?}");
        if let Some(used) = rt.volume_usage(&name).await.expect("usage") {
            assert!(used < MIB, "an empty volume uses {used} bytes");
        }

        assert_eq!(
            rt.remove_volume(&name).await.expect("remove"),
            RemoveOutcome::Removed
        );
        assert!(
            rt.inspect_volume_opt(&name)
                .await
                .expect("inspect")
                .is_none()
        );
        assert_eq!(
            rt.remove_volume(&name).await.expect("remove again"),
            RemoveOutcome::NotFound
        );
        expect_err(
            "usage of a missing volume",
            rt.volume_usage(&name).await,
            Error::is_not_found,
        );
    })
    .await
}

/// A volume mounted by a container (even a stopped one) cannot be removed until the container
/// is gone.
pub async fn volume_in_use_cannot_be_removed(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let vol = fx.name("data");
        rt.create_volume(&VolumeSpec::new(&vol, fx.labels()))
            .await
            .expect("create volume");
        let mut spec = fx.container_spec("user");
        let mount = Mount {
            volume: vol.clone(),
            target: "/data".into(),
            read_only: false,
        };
        spec.mounts = vec![mount.clone()];
        let id = create_started(fx, &spec).await;
        let info = inspect(fx, &id).await;
        assert!(
            info.mounts.contains(&mount),
            "mount not reported: {:?}",
            info.mounts
        );

        expect_err(
            "remove in use",
            rt.remove_volume(&vol).await,
            Error::is_conflict,
        );
        rt.stop_container(&id, STOP).await.expect("stop");
        expect_err(
            "remove in use by a stopped one",
            rt.remove_volume(&vol).await,
            Error::is_conflict,
        );
        assert!(
            rt.inspect_volume_opt(&vol)
                .await
                .expect("inspect")
                .is_some()
        );

        rt.remove_container(&id, false)
            .await
            .expect("remove container");
        assert_eq!(
            rt.remove_volume(&vol).await.expect("remove"),
            RemoveOutcome::Removed
        );
    })
    .await
}

/// A tar of `(name, contents)` entries, names written verbatim (`./` kept: `tar -C dir -c .`
/// writes such names, and the `tar` crate's own path setter would drop it); `None` contents make
/// a directory.
fn tar_of(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        let raw = name.as_bytes();
        assert!(raw.len() < 100, "test entry name too long: {name}");
        h.as_old_mut().name[..raw.len()].copy_from_slice(raw);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let data = data.unwrap_or_default();
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
        }
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).expect("tar entry");
    }
    b.into_inner().expect("tar")
}

/// Entries of a tar: normalized name (no `./`, no trailing `/`) → contents (`None` for dirs).
fn untar(bytes: &[u8]) -> BTreeMap<String, Option<Vec<u8>>> {
    use std::io::Read;
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().expect("read tar") {
        let mut entry = entry.expect("tar entry");
        let raw = entry
            .path()
            .expect("entry path")
            .to_string_lossy()
            .to_string();
        let name = raw.trim_start_matches("./").trim_matches('/').to_string();
        if name.is_empty() || name == "." {
            continue;
        }
        let contents = match entry.header().entry_type() {
            tar::EntryType::Directory => None,
            _ => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).expect("entry contents");
                Some(data)
            }
        };
        out.insert(name, contents);
    }
    out
}

fn one_chunk(bytes: Vec<u8>) -> caas_core::ports::runtime::ByteStream {
    futures::stream::iter([Ok(Bytes::from(bytes))]).boxed()
}

/// A tar written into a volume reads back with the same names and byte-identical contents;
/// paths inside the volume work for both directions.
pub async fn archive_roundtrip_preserves_files(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let vol = fx.name("archive");
        rt.create_volume(&VolumeSpec::new(&vol, fx.labels()))
            .await
            .expect("create volume");
        let config = b"[server]\nport = 8080\nname = \"caas \xc3\xa9t\xc3\xa9\"\n".to_vec();
        let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let tar = tar_of(&[
            ("conf/", None),
            ("conf/app.toml", Some(&config)),
            ("data.bin", Some(&binary)),
        ]);
        rt.write_archive(&vol, "/", one_chunk(tar))
            .await
            .expect("write archive");

        let expected = BTreeMap::from([
            ("conf".to_string(), None),
            ("conf/app.toml".to_string(), Some(config.clone())),
            ("data.bin".to_string(), Some(binary.clone())),
        ]);
        let all = untar(&read_archive(fx, &vol, "/").await.expect("read /"));
        assert_eq!(
            all.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>()
        );
        assert!(all == expected, "contents differ after a round trip");

        let extra = tar_of(&[("extra.txt", Some(b"more\n".as_slice()))]);
        rt.write_archive(&vol, "/conf", one_chunk(extra))
            .await
            .expect("write into a directory");
        let conf = untar(&read_archive(fx, &vol, "conf").await.expect("read conf"));
        let want = BTreeMap::from([
            ("conf".to_string(), None),
            ("conf/app.toml".to_string(), Some(config)),
            ("conf/extra.txt".to_string(), Some(b"more\n".to_vec())),
        ]);
        assert!(
            conf == want,
            "reading a directory: {:?}",
            conf.keys().collect::<Vec<_>>()
        );
    })
    .await
}

/// Entries named `./x` (as `tar -C dir -c .` writes them) land at `x`: the volume holds the
/// same paths whichever way the tar spelled them.
pub async fn archive_entries_with_dot_prefixes_land_at_their_paths(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let vol = fx.name("dotted");
        rt.create_volume(&VolumeSpec::new(&vol, fx.labels()))
            .await
            .expect("create volume");
        let tar = tar_of(&[
            ("./", None),
            ("./site/", None),
            ("./site/index.html", Some(b"<h1>hi</h1>\n".as_slice())),
            ("./README", Some(b"readme\n".as_slice())),
        ]);
        rt.write_archive(&vol, "/", one_chunk(tar))
            .await
            .expect("write archive");

        let site = untar(&read_archive(fx, &vol, "site").await.expect("read site"));
        let want = BTreeMap::from([
            ("site".to_string(), None),
            (
                "site/index.html".to_string(),
                Some(b"<h1>hi</h1>\n".to_vec()),
            ),
        ]);
        assert_eq!(site, want);
        let all = untar(&read_archive(fx, &vol, "/").await.expect("read /"));
        let names: Vec<&str> = all.keys().map(String::as_str).collect();
        assert_eq!(names, ["README", "site", "site/index.html"]);
    })
    .await
}

/// Archives of a missing volume or path are `NotFound`; bytes that are not a tar are
/// `InvalidInput`.
pub async fn archive_errors_name_what_is_wrong(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let missing = fx.name("no-such-volume");
        expect_err(
            "read missing volume",
            read_archive(fx, &missing, "/").await,
            Error::is_not_found,
        );
        let tar = tar_of(&[("a.txt", Some(b"a".as_slice()))]);
        let r = rt.write_archive(&missing, "/", one_chunk(tar)).await;
        expect_err("write missing volume", r, Error::is_not_found);

        let vol = fx.name("archive-errors");
        rt.create_volume(&VolumeSpec::new(&vol, fx.labels()))
            .await
            .expect("create volume");
        let r = read_archive(fx, &vol, "no/such/path").await;
        expect_err("read missing path", r, Error::is_not_found);
        let r = rt
            .write_archive(&vol, "/", one_chunk(vec![b'A'; 1024]))
            .await;
        expect_err("write garbage", r, Error::is_invalid_input);
    })
    .await
}
