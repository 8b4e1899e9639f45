//! Behaviours of containers: lifecycle, idempotence, errors, listing and limits.

use std::collections::BTreeSet;

use caas_core::labels;
use caas_core::model::ResourceLimits;
use caas_core::ports::runtime::{
    ALLOWED_CAPABILITIES, ContainerInfo, ContainerStatus, CreateOutcome, LogOptions,
    NetworkAttachment, RemoveOutcome, StartOutcome, StopOutcome, UpdateOutcome,
};
use caas_core::units::MIB;
use caas_core::{DeploymentId, Error, ServiceId};
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};

use super::{
    MISSING_IMAGE, RuntimeFixture, STOP, assert_labels_kept, capability, create, create_started,
    expect_err, inspect, read_logs, small_limits,
};

/// The engine answers and says what it is.
pub async fn ping_reports_an_engine(fx: &RuntimeFixture) {
    fx.scoped(async {
        let info = fx.runtime.ping().await.expect("ping");
        assert!(!info.backend.is_empty(), "{info:?}");
        assert!(!info.version.is_empty(), "{info:?}");
    })
    .await
}

/// A container goes created → running → exited → gone, with its name, labels, env and limits
/// reported as requested.
pub async fn create_start_inspect_stop_remove_roundtrip(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let mut spec = fx.container_spec("roundtrip");
        spec.env
            .push(("CAAS_GREETING".into(), "hello world".into()));
        spec.limits = ResourceLimits {
            cpu_millis: 300,
            memory_bytes: 48 * MIB,
            pids: 80,
        };
        let before = Utc::now() - chrono::Duration::seconds(5);
        let id = create(fx, &spec).await;

        let info = inspect(fx, &id).await;
        assert_eq!(info.id, id);
        assert_eq!(info.name, spec.name);
        assert_eq!(info.status, ContainerStatus::Created);
        assert_eq!(info.started_at, None);
        assert_labels_kept(&info.labels, &spec.labels);
        assert_eq!(
            info.limits, spec.limits,
            "limits in force must be those requested"
        );
        assert!(
            info.env.iter().any(|e| e == "CAAS_GREETING=hello world"),
            "env not preserved: {:?}",
            info.env
        );
        let by_name = rt
            .inspect_container_opt(&spec.name)
            .await
            .expect("inspect by name");
        assert_eq!(by_name.map(|i| i.id), Some(id.clone()), "inspect by name");

        assert_eq!(
            rt.start_container(&id).await.expect("start"),
            StartOutcome::Started
        );
        let info = inspect(fx, &id).await;
        assert_eq!(info.status, ContainerStatus::Running);
        let started = info.started_at.expect("started_at set once running");
        assert!(
            started >= before && started <= Utc::now() + chrono::Duration::seconds(5),
            "started_at {started} is not now"
        );
        assert_eq!(info.limits, spec.limits);

        assert_eq!(
            rt.stop_container(&id, STOP).await.expect("stop"),
            StopOutcome::Stopped
        );
        let info = inspect(fx, &id).await;
        assert_eq!(info.status, ContainerStatus::Exited);
        assert!(info.finished_at.is_some(), "finished_at set once exited");
        let listed = rt.list_containers(&fx.selector()).await.expect("list");
        let summary = listed
            .iter()
            .find(|c| c.id == id)
            .expect("a stopped container is still listed");
        assert_eq!(summary.name, spec.name);
        assert_eq!(summary.status, ContainerStatus::Exited);
        assert_labels_kept(&summary.labels, &spec.labels);

        assert_eq!(
            rt.remove_container(&id, false).await.expect("remove"),
            RemoveOutcome::Removed
        );
        assert!(
            rt.inspect_container_opt(&id)
                .await
                .expect("inspect")
                .is_none()
        );
        let listed = rt.list_containers(&fx.selector()).await.expect("list");
        assert!(
            listed.iter().all(|c| c.id != id),
            "removed container still listed"
        );
    })
    .await
}

/// Creating the same spec (same name, same `caas.deployment`) twice reports `AlreadyExists`
/// with the first container's id.
pub async fn create_is_idempotent_for_the_same_deployment(fx: &RuntimeFixture) {
    fx.scoped(async {
        let spec = fx.container_spec("idem");
        let id = create(fx, &spec).await;
        let again = fx
            .runtime
            .create_container(&spec)
            .await
            .expect("second create");
        assert_eq!(again, CreateOutcome::AlreadyExists(id));
        let listed = fx
            .runtime
            .list_containers(&fx.selector())
            .await
            .expect("list");
        assert_eq!(listed.len(), 1, "exactly one container: {listed:?}");
    })
    .await
}

/// The same name with another `caas.deployment` is a `Conflict`; the first container stays.
pub async fn create_with_same_name_other_deployment_conflicts(fx: &RuntimeFixture) {
    fx.scoped(async {
        let spec = fx.container_spec("clash");
        let id = create(fx, &spec).await;
        let mut other = spec.clone();
        other
            .labels
            .insert(labels::DEPLOYMENT.into(), DeploymentId::new().to_string());
        let r = fx.runtime.create_container(&other).await;
        expect_err("same name, other deployment", r, Error::is_conflict);
        let info = inspect(fx, &spec.name).await;
        assert_eq!(info.id, id);
        assert_eq!(
            info.labels.get(labels::DEPLOYMENT),
            spec.labels.get(labels::DEPLOYMENT)
        );
    })
    .await
}

/// A missing image or network is `NotFound`, and nothing is left behind.
pub async fn create_with_missing_image_or_network_reports_not_found(fx: &RuntimeFixture) {
    fx.scoped(async {
        let mut spec = fx.container_spec("noimage");
        spec.image = MISSING_IMAGE.into();
        let r = fx.runtime.create_container(&spec).await;
        expect_err("missing image", r, Error::is_not_found);

        let mut spec = fx.container_spec("nonet");
        spec.networks = vec![NetworkAttachment {
            network: fx.name("no-such-network"),
            aliases: vec![],
        }];
        let r = fx.runtime.create_container(&spec).await;
        expect_err("missing network", r, Error::is_not_found);

        let left = fx
            .runtime
            .list_containers(&fx.selector())
            .await
            .expect("list");
        assert!(left.is_empty(), "failed creates left containers: {left:?}");
    })
    .await
}

/// Starting a running container reports `AlreadyRunning`.
pub async fn start_twice_reports_already_running(fx: &RuntimeFixture) {
    fx.scoped(async {
        let id = create_started(fx, &fx.container_spec("start2")).await;
        let first = inspect(fx, &id).await.started_at;
        let again = fx.runtime.start_container(&id).await.expect("second start");
        assert_eq!(again, StartOutcome::AlreadyRunning);
        let info = inspect(fx, &id).await;
        assert_eq!(info.status, ContainerStatus::Running);
        assert_eq!(info.started_at, first, "a second start must not restart it");
    })
    .await
}

/// Stopping a stopped (or never started) container reports `AlreadyStopped`.
pub async fn stop_twice_reports_already_stopped(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let fresh = create(fx, &fx.container_spec("never-started")).await;
        assert_eq!(
            rt.stop_container(&fresh, STOP).await.expect("stop created"),
            StopOutcome::AlreadyStopped
        );

        let id = create_started(fx, &fx.container_spec("stop2")).await;
        assert_eq!(
            rt.stop_container(&id, STOP).await.expect("stop"),
            StopOutcome::Stopped
        );
        assert_eq!(
            rt.stop_container(&id, STOP).await.expect("second stop"),
            StopOutcome::AlreadyStopped
        );
        assert_eq!(inspect(fx, &id).await.status, ContainerStatus::Exited);
    })
    .await
}

/// A restart leaves the same container running, started again.
pub async fn restart_runs_the_container_again(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let id = create_started(fx, &fx.container_spec("restart")).await;
        let first = inspect(fx, &id).await.started_at.expect("started_at");
        rt.stop_container(&id, STOP).await.expect("stop");
        rt.restart_container(&id, STOP)
            .await
            .expect("restart a stopped one");
        let info = inspect(fx, &id).await;
        assert_eq!(info.status, ContainerStatus::Running);
        assert!(info.started_at.expect("started_at") >= first);
        rt.restart_container(&id, STOP)
            .await
            .expect("restart a running one");
        let info = inspect(fx, &id).await;
        assert_eq!(info.id, id);
        assert_eq!(info.status, ContainerStatus::Running);
    })
    .await
}

/// Removing a container that does not exist reports `NotFound`, forced or not.
pub async fn remove_missing_reports_not_found(fx: &RuntimeFixture) {
    fx.scoped(async {
        let missing = fx.name("missing");
        for force in [false, true] {
            let r = fx.runtime.remove_container(&missing, force).await;
            assert_eq!(
                r.expect("remove missing"),
                RemoveOutcome::NotFound,
                "force={force}"
            );
        }
    })
    .await
}

/// Start, stop, restart, update, logs and stats of a missing container are `NotFound`.
pub async fn operations_on_a_missing_container_report_not_found(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let missing = fx.name("missing");
        let nf = Error::is_not_found;
        expect_err("start", rt.start_container(&missing).await, nf);
        expect_err("stop", rt.stop_container(&missing, STOP).await, nf);
        expect_err("restart", rt.restart_container(&missing, STOP).await, nf);
        expect_err(
            "update",
            rt.update_limits(&missing, &small_limits()).await,
            nf,
        );
        expect_err(
            "logs",
            read_logs(fx, &missing, &LogOptions::tail(5)).await,
            nf,
        );
        expect_err("stats", rt.stats_once(&missing).await, nf);
    })
    .await
}

/// Removing a running container without force is a `Conflict` and leaves it running; with
/// force it goes.
pub async fn remove_running_without_force_conflicts(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let id = create_started(fx, &fx.container_spec("busy")).await;
        expect_err(
            "remove running",
            rt.remove_container(&id, false).await,
            Error::is_conflict,
        );
        assert_eq!(inspect(fx, &id).await.status, ContainerStatus::Running);
        assert_eq!(
            rt.remove_container(&id, true).await.expect("forced remove"),
            RemoveOutcome::Removed
        );
        assert!(
            rt.inspect_container_opt(&id)
                .await
                .expect("inspect")
                .is_none()
        );
    })
    .await
}

/// Inspecting a missing container, network or volume is `None`, not an error.
pub async fn inspect_missing_is_none(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let missing = fx.name("missing");
        assert!(
            rt.inspect_container_opt(&missing)
                .await
                .expect("container")
                .is_none()
        );
        assert!(
            rt.inspect_network_opt(&missing)
                .await
                .expect("network")
                .is_none()
        );
        assert!(
            rt.inspect_volume_opt(&missing)
                .await
                .expect("volume")
                .is_none()
        );
    })
    .await
}

/// Listing returns running and stopped containers, exactly those the selector matches.
pub async fn list_filters_by_labels(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let (svc_a, svc_b) = (ServiceId::new().to_string(), ServiceId::new().to_string());
        let mut a = fx.container_spec("list-a");
        a.labels.insert(labels::SERVICE.into(), svc_a.clone());
        let mut b = fx.container_spec("list-b");
        b.labels.insert(labels::SERVICE.into(), svc_b.clone());
        let id_a = create_started(fx, &a).await;
        let id_b = create(fx, &b).await;

        let ids = |v: Vec<caas_core::ports::runtime::ContainerSummary>| -> BTreeSet<String> {
            v.into_iter().map(|c| c.id).collect()
        };
        let all = rt.list_containers(&fx.selector()).await.expect("list run");
        assert_eq!(ids(all), BTreeSet::from([id_a.clone(), id_b.clone()]));
        let only_a = rt
            .list_containers(&fx.selector().with(labels::SERVICE, &svc_a))
            .await
            .expect("list a");
        assert_eq!(only_a.len(), 1, "{only_a:?}");
        assert_eq!(only_a[0].id, id_a);
        assert_eq!(only_a[0].status, ContainerStatus::Running);
        let only_b = rt
            .list_containers(&fx.selector().with(labels::SERVICE, &svc_b))
            .await
            .expect("list b");
        assert_eq!(ids(only_b), BTreeSet::from([id_b.clone()]));
        let with_service = rt
            .list_containers(&fx.selector().has(labels::SERVICE))
            .await
            .expect("list has");
        assert_eq!(ids(with_service), BTreeSet::from([id_a, id_b]));
        let none = rt
            .list_containers(&fx.selector().with(labels::SERVICE, "no-such-service"))
            .await
            .expect("list none");
        assert!(none.is_empty(), "{none:?}");
        let none = rt
            .list_containers(&fx.selector().has("caas.no-such-label"))
            .await
            .expect("list has none");
        assert!(none.is_empty(), "{none:?}");
    })
    .await
}

/// Every container gets the hardened default, and no capability outside the allowlist.
pub async fn hardened_defaults_are_applied(fx: &RuntimeFixture) {
    fx.scoped(async {
        let allowed: BTreeSet<String> =
            ALLOWED_CAPABILITIES.iter().map(|c| capability(c)).collect();
        let check = |info: &ContainerInfo| {
            let s = &info.security;
            assert!(!s.privileged, "privileged: {s:?}");
            assert!(
                s.cap_drop.iter().any(|c| capability(c) == "ALL"),
                "CapDrop ALL: {s:?}"
            );
            for c in &s.cap_add {
                assert!(
                    allowed.contains(&capability(c)),
                    "capability {c} not allowed: {s:?}"
                );
            }
            assert!(s.no_new_privileges, "no-new-privileges: {s:?}");
            assert_ne!(s.network_mode, "host", "{s:?}");
            assert_ne!(s.pid_mode, "host", "{s:?}");
            assert_ne!(s.ipc_mode, "host", "{s:?}");
            assert!(s.bind_mounts.is_empty(), "bind mounts: {s:?}");
        };

        let id = create_started(fx, &fx.container_spec("hardened")).await;
        check(&inspect(fx, &id).await);

        let mut greedy = fx.container_spec("greedy");
        greedy.security.cap_add = vec!["SYS_ADMIN".into(), "NET_BIND_SERVICE".into()];
        match fx.runtime.create_container(&greedy).await {
            // Refusing is fine; granting is not.
            Err(e) if e.is_invalid_input() => {}
            Ok(CreateOutcome::Created(id)) => {
                let info = inspect(fx, &id).await;
                check(&info);
                assert!(
                    info.security
                        .cap_add
                        .iter()
                        .all(|c| capability(c) != "SYS_ADMIN"),
                    "SYS_ADMIN was granted: {:?}",
                    info.security
                );
            }
            other => panic!("create with SYS_ADMIN: {other:?}"),
        }
    })
    .await
}

/// Limits change on the running container, in one of the ways the port documents: live
/// (same container, not restarted), by the runtime's own rolling update (same id, running, new
/// limits; the instances may have restarted), or not at all when the runtime says the
/// container must be recreated (then nothing changed). Invalid limits are refused either way.
pub async fn update_limits_applies_live(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let id = create_started(fx, &fx.container_spec("update")).await;
        let before = inspect(fx, &id).await;
        let new = ResourceLimits {
            cpu_millis: 500,
            memory_bytes: 96 * MIB,
            pids: 128,
        };
        let outcome = rt.update_limits(&id, &new).await.expect("update");
        let after = inspect(fx, &id).await;
        assert_eq!(after.id, before.id);
        assert_eq!(after.status, ContainerStatus::Running);
        let in_force = match outcome {
            UpdateOutcome::Live => {
                assert_eq!(after.limits, new);
                assert_eq!(
                    after.started_at, before.started_at,
                    "a live update must not restart"
                );
                new
            }
            UpdateOutcome::Rolled => {
                assert_eq!(after.limits, new, "a rolled update applies the new limits");
                new
            }
            UpdateOutcome::RequiresRecreate => {
                assert_eq!(
                    after.limits, before.limits,
                    "RequiresRecreate must leave the container as it was"
                );
                assert_eq!(after.started_at, before.started_at);
                before.limits
            }
        };

        let invalid = ResourceLimits {
            memory_bytes: MIB,
            ..new
        };
        let r = rt.update_limits(&id, &invalid).await;
        expect_err("1 MiB of memory", r, Error::is_invalid_input);
        assert_eq!(
            inspect(fx, &id).await.limits,
            in_force,
            "a refused update changes nothing"
        );
    })
    .await
}

/// More replicas than [`RuntimeCapabilities::max_replicas`](caas_core::ports::runtime::RuntimeCapabilities)
/// are refused with `InvalidInput` naming `spec.replicas`, creating nothing; a runtime that
/// runs several replicas starts two and reports them as one running container.
pub async fn replicas_beyond_the_capability_are_refused(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let max = rt.capabilities().max_replicas;
        assert!(max >= 1, "a runtime runs at least one replica");
        if let Some(over) = max.checked_add(1) {
            let mut spec = fx.container_spec("too-many");
            spec.replicas = over;
            let e = expect_err(
                "more replicas than the runtime runs",
                rt.create_container(&spec).await,
                Error::is_invalid_input,
            );
            assert_eq!(e.field(), Some("spec.replicas"), "{e}");
            assert!(
                rt.inspect_container_opt(&spec.name)
                    .await
                    .expect("inspect")
                    .is_none(),
                "a refused create left a container behind"
            );
        }
        if max >= 2 {
            let mut spec = fx.container_spec("pair");
            spec.replicas = 2;
            let id = create_started(fx, &spec).await;
            let info = inspect(fx, &id).await;
            assert_eq!(info.status, ContainerStatus::Running, "{info:?}");
            assert_eq!(info.limits, spec.limits);
        }
    })
    .await
}

/// A running container on a network has upstream hosts a proxy can use; a missing one is
/// `NotFound`.
pub async fn upstream_hosts_name_a_running_container(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let net = fx.name("upnet");
        rt.create_network(&caas_core::ports::runtime::NetworkSpec::new(
            &net,
            fx.labels(),
        ))
        .await
        .expect("create network");
        let mut spec = fx.container_spec("upstream");
        spec.networks = vec![NetworkAttachment {
            network: net.clone(),
            aliases: vec!["web".into()],
        }];
        let id = create_started(fx, &spec).await;
        let hosts = rt.upstream_hosts(&id).await.expect("upstream_hosts");
        assert!(
            !hosts.is_empty(),
            "no upstream host for a running container"
        );
        for h in &hosts {
            assert!(
                !h.is_empty() && !h.contains(char::is_whitespace) && !h.contains(':')
                    || h.parse::<std::net::IpAddr>().is_ok(),
                "not a host name or address: {h:?}"
            );
        }
        expect_err(
            "upstream_hosts of a missing container",
            rt.upstream_hosts(&fx.name("missing")).await,
            Error::is_not_found,
        );
    })
    .await
}

/// Pausing freezes a running container (`Paused`) and unpausing thaws it (`Running`); both
/// are idempotent, a stopped container cannot be paused (`Conflict`), a missing one is
/// `NotFound`. A backend that cannot pause says `Unsupported` for both calls.
pub async fn pause_and_unpause_or_unsupported(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let id = create_started(fx, &fx.container_spec("pause")).await;
        match rt.pause_container(&id).await {
            Err(e) if e.is_unsupported() => {
                let again = rt.unpause_container(&id).await;
                expect_err(
                    "unpause where pause is unsupported",
                    again,
                    Error::is_unsupported,
                );
                assert_eq!(inspect(fx, &id).await.status, ContainerStatus::Running);
                return;
            }
            other => other.expect("pause a running container"),
        }
        assert_eq!(inspect(fx, &id).await.status, ContainerStatus::Paused);
        rt.pause_container(&id).await.expect("pause a paused one");
        assert_eq!(inspect(fx, &id).await.status, ContainerStatus::Paused);
        rt.unpause_container(&id).await.expect("unpause");
        assert_eq!(inspect(fx, &id).await.status, ContainerStatus::Running);
        rt.unpause_container(&id)
            .await
            .expect("unpause a running one");
        assert_eq!(inspect(fx, &id).await.status, ContainerStatus::Running);
        // A paused container can be stopped.
        rt.pause_container(&id).await.expect("pause again");
        rt.stop_container(&id, STOP)
            .await
            .expect("stop a paused one");
        assert_ne!(inspect(fx, &id).await.status, ContainerStatus::Paused);
        expect_err(
            "pause a stopped one",
            rt.pause_container(&id).await,
            Error::is_conflict,
        );
        let missing = fx.name("missing");
        expect_err(
            "pause missing",
            rt.pause_container(&missing).await,
            Error::is_not_found,
        );
        expect_err(
            "unpause missing",
            rt.unpause_container(&missing).await,
            Error::is_not_found,
        );
    })
    .await
}

/// `exec` streams standard input in and standard output out (`sh -c cat` returns its input,
/// also beyond a megabyte); a command exiting non-zero ends the stream with a `Backend` error
/// naming the status and its standard error; an empty command is `InvalidInput`, a stopped
/// container `Conflict`, a missing one `NotFound`. A backend that cannot run commands says
/// `Unsupported`. (A simulated engine answers `sh -c cat` and `sh -c 'echo … >&2; exit 3'`
/// through its exec handler.)
pub async fn exec_streams_input_and_output_or_unsupported(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let id = create_started(fx, &fx.container_spec("exec")).await;
        let cmd = |s: &str| vec!["sh".to_string(), "-c".to_string(), s.to_string()];
        let input: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
        let chunks: Vec<caas_core::Result<bytes::Bytes>> = input
            .chunks(64 * 1024)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        let stdin = futures::stream::iter(chunks).boxed();
        let out = match rt.exec(&id, &cmd("cat"), Some(stdin)).await {
            Err(e) if e.is_unsupported() => return,
            other => other.expect("exec cat"),
        };
        let out: Vec<bytes::Bytes> = out.try_collect().await.expect("cat's output");
        assert!(
            out.concat() == input,
            "cat returned other bytes than it was given"
        );

        // An input that fails half-way ends the command's input there and its output with
        // the error, without hanging.
        let broken: Vec<caas_core::Result<bytes::Bytes>> = vec![
            Ok(bytes::Bytes::from_static(b"partial")),
            Err(Error::backend("test", "the input source broke")),
        ];
        let out = rt
            .exec(
                &id,
                &cmd("cat"),
                Some(futures::stream::iter(broken).boxed()),
            )
            .await
            .expect("exec cat with a failing input");
        let items: Vec<caas_core::Result<bytes::Bytes>> =
            tokio::time::timeout(std::time::Duration::from_secs(30), out.collect())
                .await
                .expect("a failing input does not leave the command waiting");
        let e = items
            .last()
            .expect("an item")
            .as_ref()
            .expect_err("the output ends with the input's error");
        assert!(e.to_string().contains("the input source broke"), "{e}");

        let failing = rt
            .exec(&id, &cmd("echo 'no such table' >&2; exit 3"), None)
            .await
            .expect("exec a failing command");
        let items: Vec<caas_core::Result<bytes::Bytes>> = failing.collect().await;
        let last = items.last().expect("the stream ends with the failure");
        let e = last.as_ref().expect_err("a non-zero exit is an error");
        assert!(e.is_backend(), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains('3') && text.contains("no such table"),
            "the error names the status and standard error: {text}"
        );

        // The stream is not `Debug`: check the call's outcome without it.
        let started = |r: caas_core::Result<caas_core::ports::runtime::ByteStream>| r.map(|_| ());
        expect_err(
            "empty command",
            started(rt.exec(&id, &[], None).await),
            Error::is_invalid_input,
        );
        rt.stop_container(&id, STOP).await.expect("stop");
        expect_err(
            "exec in a stopped container",
            started(rt.exec(&id, &cmd("true"), None).await),
            Error::is_conflict,
        );
        expect_err(
            "exec in a missing container",
            started(rt.exec(&fx.name("missing"), &cmd("true"), None).await),
            Error::is_not_found,
        );
    })
    .await
}
