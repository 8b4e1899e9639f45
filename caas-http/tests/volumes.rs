//! Volumes, backups, schedules and restores over HTTP: `/v1/orgs/{org}/volumes[/{volume}]`,
//! `…/volumes/{volume}/backups`, `…/volumes/{volume}/backup-schedule`,
//! `/v1/orgs/{org}/backups[/{backup}]` and `…/backups/{backup}/restore`.

#![allow(clippy::unwrap_used)]

mod common;

use caas_core::memory::{Fault, RuntimeOp};
use caas_core::model::Role;
use common::{IMAGE, SERVICES, World, assert_error, assert_invalid, world, world_without_backups};
use http::{Method, StatusCode};
use object_store::ObjectStore;
use serde_json::{Value, json};

const VOLUMES: &str = "/v1/orgs/acme/volumes";
const BACKUPS: &str = "/v1/orgs/acme/backups";
const MIB: u64 = 1024 * 1024;

fn new_volume(name: &str) -> Value {
    json!({"project": "shop", "name": name, "size_bytes": 64 * MIB})
}

/// The busybox httpd app mounting `data` at `/data`.
fn app_mounting_data(name: &str) -> Value {
    json!({
        "name": name,
        "spec": {
            "image": IMAGE,
            "command": ["httpd", "-f", "-p", "8080"],
            "volumes": [{"volume": "data", "target": "/data"}]
        }
    })
}

impl World {
    async fn create_volume(&self, token: &str, name: &str) -> Value {
        let (status, v) = self.post(VOLUMES, token, new_volume(name)).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v
    }

    async fn back_up(&self, token: &str, volume: &str) -> Value {
        let (status, b) = self
            .call(
                Method::POST,
                &format!("{VOLUMES}/{volume}/backups"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{b}");
        assert_eq!(b["status"], "succeeded", "{b}");
        b
    }

    /// `POST …/volumes/data/backups` with a `Prefer` header: status, headers, body.
    async fn back_up_preferring(
        &self,
        token: &str,
        prefer: &str,
        body: Option<Value>,
    ) -> (StatusCode, http::HeaderMap, Value) {
        self.call_with(
            Method::POST,
            &format!("{VOLUMES}/data/backups"),
            Some(token),
            &[("prefer", prefer)],
            body,
        )
        .await
    }

    async fn restore(&self, token: &str, backup: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            &format!("{BACKUPS}/{backup}/restore"),
            Some(token),
            body,
        )
        .await
    }

    /// The contents of a file in a volume, through its current runtime volume.
    async fn file_in(&self, volume: &str, path: &str) -> Option<String> {
        let (status, v) = self.get(&format!("{VOLUMES}/{volume}"), &self.owner).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        self.runtime
            .file(v["runtime_name"].as_str().unwrap(), path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    async fn write_file(&self, volume: &str, path: &str, contents: &str) {
        let (_, v) = self.get(&format!("{VOLUMES}/{volume}"), &self.owner).await;
        self.runtime
            .put_file(
                v["runtime_name"].as_str().unwrap(),
                path,
                contents.as_bytes(),
            )
            .unwrap();
    }
}

fn len(v: &Value) -> usize {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .len()
}

#[tokio::test]
async fn a_volume_is_created_mounted_backed_up_scheduled_restored_and_deleted() {
    let w = world().await;

    // Create, refuse duplicates and bad input.
    let data = w.create_volume(&w.member, "data").await;
    assert_eq!(data["name"], "data");
    assert_eq!(data["project_name"], "shop");
    assert_eq!(data["size_bytes"], 64 * MIB);
    assert_eq!(data["state"], "ok");
    assert_eq!(data["mounted_by"], json!([]));
    assert_eq!(data["backup_schedule"], Value::Null);
    let got = w.post(VOLUMES, &w.member, new_volume("data")).await;
    assert_error(&got, StatusCode::CONFLICT, "ALREADY_EXISTS");
    let got = w
        .post(
            VOLUMES,
            &w.member,
            json!({"project": "shop", "name": "tiny", "size_bytes": 1}),
        )
        .await;
    assert_invalid(&got, "size_bytes");
    let got = w
        .post(
            VOLUMES,
            &w.member,
            json!({"project": "shop", "name": "Not A Name", "size_bytes": 64 * MIB}),
        )
        .await;
    assert_invalid(&got, "name");
    let got = w
        .post(
            VOLUMES,
            &w.member,
            json!({"project": "shop", "name": "x", "sise_bytes": 64 * MIB}),
        )
        .await;
    assert_invalid(&got, "sise_bytes");
    let got = w
        .post(
            VOLUMES,
            &w.member,
            json!({"project": "shop", "name": "huge", "size_bytes": 11u64 << 30}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "QUOTA_EXCEEDED");
    let got = w
        .post(
            VOLUMES,
            &w.member,
            json!({"project": "nope", "name": "x", "size_bytes": 64 * MIB}),
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");

    // A service mounts it by name.
    let (status, web) = w.post(SERVICES, &w.member, app_mounting_data("web")).await;
    assert_eq!(status, StatusCode::CREATED, "{web}");

    // List (all, one project), get by name and by id.
    let (status, all) = w.get(VOLUMES, &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(len(&all), 1, "the mount used the existing volume: {all}");
    let (status, shop) = w.get(&format!("{VOLUMES}?project=shop"), &w.viewer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shop, all);
    let got = w.get(&format!("{VOLUMES}?project=nope"), &w.viewer).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let got = w.get(&format!("{VOLUMES}?projekt=shop"), &w.viewer).await;
    assert_invalid(&got, "projekt");
    let id = data["id"].as_str().unwrap();
    let (status, by_name) = w.get(&format!("{VOLUMES}/data"), &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "{by_name}");
    let (_, by_id) = w.get(&format!("{VOLUMES}/{id}"), &w.viewer).await;
    assert_eq!(by_name, by_id);
    assert_eq!(
        by_name["mounted_by"],
        json!([{"service": "web", "target": "/data", "read_only": false}])
    );
    let got = w.get(&format!("{VOLUMES}/nope"), &w.viewer).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Back up: live (empty body) and consistent; the archive is in the object store.
    w.write_file("data", "hello.txt", "v1").await;
    let first = w.back_up(&w.member, "data").await;
    assert_eq!(first["trigger"], "manual");
    assert_eq!(first["consistent"], false);
    assert_eq!(first["volume"], data["id"]);
    assert_eq!(first["volume_name"], "data");
    let location = object_store::path::Path::from(first["location"].as_str().unwrap());
    let meta = w.objects.head(&location).await.unwrap();
    assert_eq!(Some(meta.size), first["size_bytes"].as_u64(), "{first}");
    assert!(first["archive_bytes"].as_u64().unwrap() > 0);
    assert_eq!(first["sha256"].as_str().unwrap().len(), 64);
    let (status, second) = w
        .post(
            &format!("{VOLUMES}/{id}/backups"),
            &w.member,
            json!({"consistent": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["consistent"], true);
    assert_eq!(second["status"], "succeeded");
    let got = w
        .post(
            &format!("{VOLUMES}/data/backups"),
            &w.member,
            json!({"consistant": true}),
        )
        .await;
    assert_invalid(&got, "consistant");
    // Pausing needs consistent; a logical dump is not consistent and needs a database volume.
    let got = w
        .post(
            &format!("{VOLUMES}/data/backups"),
            &w.member,
            json!({"pause": true}),
        )
        .await;
    assert_invalid(&got, "pause");
    let got = w
        .post(
            &format!("{VOLUMES}/data/backups"),
            &w.member,
            json!({"logical": true, "consistent": true}),
        )
        .await;
    assert_invalid(&got, "consistent");
    let got = w
        .post(
            &format!("{VOLUMES}/data/backups"),
            &w.member,
            json!({"logical": true}),
        )
        .await;
    assert_invalid(&got, "logical");
    let (status, paused) = w
        .post(
            &format!("{VOLUMES}/data/backups"),
            &w.member,
            json!({"consistent": true, "pause": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{paused}");
    assert_eq!(
        (&paused["consistent"], &paused["paused"], &paused["format"]),
        (&json!(true), &json!(true), &json!("archive"))
    );
    assert_eq!(second["paused"], false);
    let (status, body) = w
        .delete(
            &format!("{BACKUPS}/{}", paused["id"].as_str().unwrap()),
            &w.member,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, web_after) = w.get(&format!("{SERVICES}/web"), &w.viewer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        web_after["status"], "running",
        "started again after the copy"
    );

    // Lists: of the volume and of the organization, newest first.
    let (status, of_volume) = w.get(&format!("{VOLUMES}/data/backups"), &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "{of_volume}");
    assert_eq!(len(&of_volume), 2);
    assert_eq!(of_volume[0]["id"], second["id"]);
    let (status, of_org) = w.get(BACKUPS, &w.viewer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(of_org, of_volume);

    // Schedule: refused when invalid, set, shown, removed.
    let schedule = format!("{VOLUMES}/data/backup-schedule");
    let got = w
        .put(&schedule, &w.member, json!({"cron": "0 3 * *"}))
        .await;
    assert_invalid(&got, "cron");
    let got = w
        .put(&schedule, &w.member, json!({"cron": "0 25 * * *"}))
        .await;
    assert_invalid(&got, "cron");
    let got = w
        .put(
            &schedule,
            &w.member,
            json!({"cron": "0 3 * * *", "keep_last": 0}),
        )
        .await;
    assert_invalid(&got, "keep_last");
    let got = w
        .put(
            &schedule,
            &w.member,
            json!({"cron": "0 3 * * *", "keep": 3}),
        )
        .await;
    assert_invalid(&got, "keep");
    let got = w
        .put(
            &schedule,
            &w.member,
            json!({"cron": "0 3 * * *", "keep_last": 3, "logical": true}),
        )
        .await;
    assert_invalid(&got, "logical");
    // A schedule keeps a bounded history and runs at most every 15 minutes.
    let got = w
        .put(&schedule, &w.member, json!({"cron": "0 3 * * *"}))
        .await;
    assert_invalid(&got, "keep_last");
    assert!(
        got.1["message"]
            .as_str()
            .unwrap()
            .contains("needs a retention"),
        "{}",
        got.1
    );
    for (body, field) in [
        (json!({"cron": "*/5 * * * *", "keep_last": 3}), "cron"),
        (json!({"cron": "0,10 3 * * *", "keep_last": 3}), "cron"),
        (json!({"cron": "0 3 * * *", "keep_last": 1001}), "keep_last"),
        (
            json!({"cron": "0 3 * * *", "max_age_days": 3651}),
            "max_age_days",
        ),
    ] {
        let got = w.put(&schedule, &w.member, body.clone()).await;
        assert_invalid(&got, field);
    }
    let got = w.put(&schedule, &w.member, json!({"keep_last": 3})).await;
    assert_invalid(&got, "cron");
    let (status, v) = w
        .put(
            &schedule,
            &w.member,
            json!({"cron": "0  3 * * *", "keep_last": 7, "max_age_days": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["id"], data["id"]);
    assert_eq!(v["backup_schedule"]["cron"], "0 3 * * *");
    assert_eq!(v["backup_schedule"]["keep_last"], 7);
    assert_eq!(v["backup_schedule"]["max_age_days"], 30);
    assert_eq!(v["backup_schedule"]["consistent"], false);
    assert_eq!(v["backup_schedule"]["pause"], false);
    assert_eq!(v["backup_schedule"]["logical"], false);
    let (_, shown) = w.get(&format!("{VOLUMES}/data"), &w.viewer).await;
    assert_eq!(shown["backup_schedule"], v["backup_schedule"]);
    let (status, body) = w.delete(&schedule, &w.member).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, shown) = w.get(&format!("{VOLUMES}/data"), &w.viewer).await;
    assert_eq!(shown["backup_schedule"], Value::Null);

    // Restore into the same volume (empty body): the mounting service moves onto the data.
    w.write_file("data", "hello.txt", "v2").await;
    let runtime_before = shown["runtime_name"].clone();
    let first_id = first["id"].as_str().unwrap();
    let (status, outcome) = w.restore(&w.owner, first_id, None).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["backup"]["id"], first["id"]);
    assert_eq!(outcome["volume"]["id"], data["id"]);
    assert_ne!(outcome["volume"]["runtime_name"], runtime_before);
    assert_eq!(outcome["services"], json!(["web"]));
    assert_eq!(outcome["archive"]["files"], 1, "{outcome}");
    assert_eq!(w.file_in("data", "hello.txt").await.as_deref(), Some("v1"));
    let (_, web_after) = w.get(&format!("{SERVICES}/web"), &w.viewer).await;
    assert_eq!(web_after["status"], "running");

    // Into a new volume, then into an existing one by name.
    let got = w
        .restore(
            &w.owner,
            first_id,
            Some(json!({"new_volume": {"project": "shop", "name": "copy", "size_bytes": 5}})),
        )
        .await;
    assert_invalid(&got, "new_volume.size_bytes");
    let got = w
        .restore(
            &w.owner,
            first_id,
            Some(json!({"new_volume": {"project": "shop", "name": "copy", "size": 1}})),
        )
        .await;
    assert_invalid(&got, "new_volume.size");
    let got = w
        .restore(
            &w.owner,
            first_id,
            Some(json!({"volume": "data", "new_volume": new_volume("copy")})),
        )
        .await;
    assert_invalid(&got, "new_volume");
    let (status, outcome) = w
        .restore(
            &w.owner,
            first_id,
            Some(json!({"new_volume": new_volume("copy")})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["volume"]["name"], "copy");
    assert_eq!(outcome["services"], json!([]));
    assert_eq!(w.file_in("copy", "hello.txt").await.as_deref(), Some("v1"));
    w.write_file("copy", "hello.txt", "changed").await;
    let (status, outcome) = w
        .restore(&w.owner, first_id, Some(json!({"volume": "copy"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(w.file_in("copy", "hello.txt").await.as_deref(), Some("v1"));
    let got = w
        .restore(&w.owner, first_id, Some(json!({"volume": "nope"})))
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let got = w.restore(&w.owner, "not-a-backup-id", None).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Delete a backup: the record and its archive go.
    let (status, body) = w.delete(&format!("{BACKUPS}/{first_id}"), &w.member).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(
        w.objects.head(&location).await.is_err(),
        "the archive is gone"
    );
    let (_, of_volume) = w.get(&format!("{VOLUMES}/data/backups"), &w.viewer).await;
    assert_eq!(len(&of_volume), 1);
    let got = w.delete(&format!("{BACKUPS}/{first_id}"), &w.member).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Delete the mounted volume: refused, then forced (the service loses the mount).
    let got = w.delete(&format!("{VOLUMES}/data"), &w.member).await;
    assert_error(&got, StatusCode::CONFLICT, "CONFLICT");
    assert!(
        got.1["message"].as_str().unwrap().contains("web"),
        "{}",
        got.1
    );
    let got = w
        .delete(&format!("{VOLUMES}/data?force=yes"), &w.member)
        .await;
    assert_invalid(&got, "force");
    let (status, body) = w
        .delete(&format!("{VOLUMES}/data?force=true"), &w.member)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let got = w.get(&format!("{VOLUMES}/data"), &w.viewer).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (_, web_after) = w.get(&format!("{SERVICES}/web"), &w.viewer).await;
    assert_eq!(web_after["spec"]["volumes"], json!([]), "{web_after}");
    assert_eq!(web_after["status"], "running");

    // Its backups stay; restoring one needs a target now.
    let (_, of_org) = w.get(BACKUPS, &w.viewer).await;
    assert_eq!(len(&of_org), 1);
    let second_id = second["id"].as_str().unwrap();
    let got = w.restore(&w.owner, second_id, None).await;
    assert_error(&got, StatusCode::CONFLICT, "CONFLICT");
    let (status, outcome) = w
        .restore(
            &w.owner,
            second_id,
            Some(json!({"new_volume": new_volume("data")})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(w.file_in("data", "hello.txt").await.as_deref(), Some("v1"));

    // An unmounted volume is deleted without force.
    let (status, _) = w.delete(&format!("{VOLUMES}/copy"), &w.member).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_failed_copy_is_still_a_created_backup_record() {
    let w = world().await;
    w.create_volume(&w.member, "data").await;
    w.runtime
        .fail_next(RuntimeOp::ReadArchive, Fault::Backend("disk error".into()));
    let (status, b) = w
        .call(
            Method::POST,
            &format!("{VOLUMES}/data/backups"),
            Some(&w.member),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    assert_eq!(b["status"], "failed");
    assert!(b["error"].as_str().unwrap().contains("disk error"), "{b}");
    assert_eq!(b["location"], Value::Null);
    let (_, list) = w.get(BACKUPS, &w.viewer).await;
    assert_eq!(len(&list), 1);
    // Only succeeded backups are restored; a failed one is deleted like any other.
    let id = b["id"].as_str().unwrap();
    let got = w.restore(&w.owner, id, None).await;
    assert_error(&got, StatusCode::CONFLICT, "CONFLICT");
    let (status, _) = w.delete(&format!("{BACKUPS}/{id}"), &w.member).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn an_asynchronous_backup_answers_202_at_once_and_is_polled_until_it_ends() {
    let w = world().await;
    w.create_volume(&w.member, "data").await;
    // The copy takes a while: the answer must not wait for it.
    w.runtime
        .set_latency(RuntimeOp::ReadArchive, std::time::Duration::from_secs(2));
    let (status, headers, b) = w
        .back_up_preferring(
            &w.member,
            "wait=5, Respond-Async",
            Some(json!({"consistent": true})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{b}");
    assert_eq!(b["status"], "running", "{b}");
    assert_eq!(b["consistent"], true);
    let id = b["id"].as_str().unwrap();
    let location = headers["location"].to_str().unwrap();
    assert_eq!(location, format!("{BACKUPS}/{id}"));
    let (_, now) = w.get(location, &w.viewer).await;
    assert_eq!(
        now["status"], "running",
        "answered before the copy was over"
    );
    assert_eq!(headers["preference-applied"], "respond-async");
    // A second backup of the volume is refused while the first runs, async or not.
    let got = w.back_up_preferring(&w.member, "respond-async", None).await;
    assert_error(&(got.0, got.2), StatusCode::CONFLICT, "CONFLICT");
    let (status, body) = w.delete(location, &w.member).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a running backup is not deleted: {body}"
    );
    // Viewers poll it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let done = loop {
        let (status, polled) = w.get(location, &w.viewer).await;
        assert_eq!(status, StatusCode::OK, "{polled}");
        if polled["status"] != "running" || std::time::Instant::now() > deadline {
            break polled;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["id"], b["id"]);
    assert_eq!(done["sha256"].as_str().unwrap().len(), 64);
    let (_, list) = w.get(&format!("{VOLUMES}/data/backups"), &w.viewer).await;
    assert_eq!(list[0], done);
    // Another preference, or none, is the synchronous answer.
    w.runtime.clear_faults();
    let (status, headers, b) = w
        .back_up_preferring(&w.member, "return=minimal", None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    assert_eq!(b["status"], "succeeded");
    assert!(headers.get("preference-applied").is_none());
    // Refusals before a record exists are errors, as without the preference.
    let got = w
        .back_up_preferring(&w.member, "respond-async", Some(json!({"pause": true})))
        .await;
    assert_invalid(&(got.0, got.2), "pause");
    let got = w.back_up_preferring(&w.viewer, "respond-async", None).await;
    assert_error(&(got.0, got.2), StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let got = w
        .get(&format!("{BACKUPS}/{}", uuid::Uuid::new_v4()), &w.viewer)
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let got = w.get(&format!("{BACKUPS}/not-an-id"), &w.viewer).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn viewers_read_members_back_up_and_only_admins_and_owners_restore() {
    let w = world().await;
    let org_admin = w.token_with_role("admin@acme.example", Role::Admin).await;
    w.create_volume(&w.member, "data").await;
    let backup = w.back_up(&w.member, "data").await;
    let backup_id = backup["id"].as_str().unwrap();
    let schedule = format!("{VOLUMES}/data/backup-schedule");
    let denied = |got: &(StatusCode, Value)| {
        assert_error(got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    };

    // Viewers read everything and change nothing.
    for path in [
        VOLUMES.to_string(),
        format!("{VOLUMES}/data"),
        format!("{VOLUMES}/data/backups"),
        BACKUPS.to_string(),
    ] {
        let (status, body) = w.get(&path, &w.viewer).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    denied(&w.post(VOLUMES, &w.viewer, new_volume("other")).await);
    denied(
        &w.call(
            Method::POST,
            &format!("{VOLUMES}/data/backups"),
            Some(&w.viewer),
            None,
        )
        .await,
    );
    denied(
        &w.put(
            &schedule,
            &w.viewer,
            json!({"cron": "0 3 * * *", "keep_last": 7}),
        )
        .await,
    );
    denied(&w.delete(&schedule, &w.viewer).await);
    denied(&w.delete(&format!("{BACKUPS}/{backup_id}"), &w.viewer).await);
    denied(&w.restore(&w.viewer, backup_id, None).await);
    denied(&w.delete(&format!("{VOLUMES}/data"), &w.viewer).await);

    // Members manage volumes and backups but do not restore, whatever the target.
    w.create_volume(&w.member, "other").await;
    let (status, v) = w
        .put(
            &schedule,
            &w.member,
            json!({"cron": "*/15 * * * *", "keep_last": 4}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    denied(&w.restore(&w.member, backup_id, None).await);
    denied(
        &w.restore(&w.member, backup_id, Some(json!({"volume": "other"})))
            .await,
    );
    denied(
        &w.restore(
            &w.member,
            backup_id,
            Some(json!({"new_volume": new_volume("third")})),
        )
        .await,
    );
    let (_, all) = w.get(VOLUMES, &w.viewer).await;
    assert_eq!(len(&all), 2, "a refused restore creates no volume: {all}");

    // Organization administrators and owners restore.
    let (status, out) = w.restore(&org_admin, backup_id, None).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let (status, out) = w
        .restore(&w.owner, backup_id, Some(json!({"volume": "other"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let (status, out) = w
        .restore(
            &org_admin,
            backup_id,
            Some(json!({"new_volume": new_volume("third")})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");

    // Members delete backups and volumes.
    let (status, _) = w.delete(&format!("{BACKUPS}/{backup_id}"), &w.member).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = w.delete(&format!("{VOLUMES}/third"), &w.member).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

/// The volume and backup routes, with a concrete path for `volume` and `backup`.
fn storage_routes(volume: &str, backup: &str, org: &str) -> Vec<(Method, String, Option<Value>)> {
    caas_http::routes()
        .into_iter()
        .filter(|(_, t)| {
            t.starts_with("/v1/orgs/{org}/volumes") || t.starts_with("/v1/orgs/{org}/backups")
        })
        .map(|(m, t)| {
            let body = match (m.as_str(), t) {
                ("POST", "/v1/orgs/{org}/volumes") => Some(new_volume("intruder")),
                ("PUT", _) => Some(json!({"cron": "0 3 * * *", "keep_last": 7})),
                _ => None,
            };
            let path = t
                .replace("{org}", org)
                .replace("{volume}", volume)
                .replace("{backup}", backup);
            (m, path, body)
        })
        .collect()
}

#[tokio::test]
async fn strangers_and_other_organizations_ids_get_404_on_every_volume_and_backup_route() {
    let w = world().await;
    let data = w.create_volume(&w.owner, "data").await;
    let backup = w.back_up(&w.owner, "data").await;
    // globex (the stranger's organization) has its own volume and backup.
    let (status, _) = w
        .post(
            "/v1/orgs/globex/projects",
            &w.stranger,
            json!({"name": "lab"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, vault) = w
        .post(
            "/v1/orgs/globex/volumes",
            &w.stranger,
            json!({"project": "lab", "name": "vault", "size_bytes": 64 * MIB}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{vault}");
    let (status, theirs) = w
        .call(
            Method::POST,
            "/v1/orgs/globex/volumes/vault/backups",
            Some(&w.stranger),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");

    let routes = storage_routes("data", backup["id"].as_str().unwrap(), "acme");
    assert_eq!(routes.len(), 12, "{routes:?}");
    let by_id = storage_routes(
        data["id"].as_str().unwrap(),
        backup["id"].as_str().unwrap(),
        "acme",
    );
    // A stranger to acme, by name and by id: 404 for the organization, as if it did not exist.
    for (method, path, body) in routes.iter().chain(&by_id) {
        let got = w
            .call(method.clone(), path, Some(&w.stranger), body.clone())
            .await;
        assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
        assert_eq!(got.1["details"]["kind"], "organization", "{method} {path}");
    }
    // acme's owner with globex's ids in acme's paths: 404 for the volume or backup.
    let foreign = storage_routes(
        vault["id"].as_str().unwrap(),
        theirs["id"].as_str().unwrap(),
        "acme",
    );
    for (method, path, body) in &foreign {
        if !(path.contains(vault["id"].as_str().unwrap())
            || path.contains(theirs["id"].as_str().unwrap()))
        {
            continue;
        }
        let got = w
            .call(method.clone(), path, Some(&w.owner), body.clone())
            .await;
        assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
        assert_ne!(got.1["details"]["kind"], "organization", "{method} {path}");
    }
    // And in globex's paths: 404 for the organization.
    for (method, path, body) in storage_routes("vault", theirs["id"].as_str().unwrap(), "globex") {
        let got = w.call(method.clone(), &path, Some(&w.owner), body).await;
        assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
        assert_eq!(got.1["details"]["kind"], "organization", "{method} {path}");
    }
    // Nor can a backup of one organization be restored into another's volume.
    let got = w
        .restore(
            &w.owner,
            backup["id"].as_str().unwrap(),
            Some(json!({"volume": vault["id"]})),
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Nothing changed on either side.
    let (_, globex) = w.get("/v1/orgs/globex/volumes", &w.stranger).await;
    assert_eq!(len(&globex), 1);
    assert_eq!(globex[0]["backup_schedule"], Value::Null);
    let (_, globex_backups) = w.get("/v1/orgs/globex/backups", &w.stranger).await;
    assert_eq!(len(&globex_backups), 1);
    let (_, acme) = w.get(VOLUMES, &w.owner).await;
    assert_eq!(len(&acme), 1);
    assert_eq!(acme[0]["backup_schedule"], Value::Null);
    let (_, acme_backups) = w.get(BACKUPS, &w.owner).await;
    assert_eq!(len(&acme_backups), 1);
}

#[tokio::test]
async fn without_a_backup_destination_backup_routes_answer_501() {
    let w = world_without_backups().await;
    // Volumes work as usual.
    let v = w.create_volume(&w.member, "data").await;
    assert_eq!(v["name"], "data");
    let unsupported = |got: &(StatusCode, Value)| {
        assert_error(got, StatusCode::NOT_IMPLEMENTED, "UNSUPPORTED");
        assert!(
            got.1["message"].as_str().unwrap().contains("backup"),
            "{}",
            got.1
        );
    };
    unsupported(
        &w.call(
            Method::POST,
            &format!("{VOLUMES}/data/backups"),
            Some(&w.member),
            None,
        )
        .await,
    );
    let schedule = format!("{VOLUMES}/data/backup-schedule");
    unsupported(
        &w.put(
            &schedule,
            &w.member,
            json!({"cron": "0 3 * * *", "keep_last": 7}),
        )
        .await,
    );
    // Removing a schedule writes nothing anywhere: it needs no destination.
    assert_eq!(
        w.delete(&schedule, &w.member).await.0,
        StatusCode::NO_CONTENT
    );
    // Who asks is checked first: an unknown backup is not found, supported or not.
    assert_error(
        &w.restore(&w.owner, &uuid::Uuid::new_v4().to_string(), None)
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    // The lists answer with what there is: nothing.
    let (status, list) = w.get(&format!("{VOLUMES}/data/backups"), &w.viewer).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
    let (status, list) = w.get(BACKUPS, &w.viewer).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
    let (status, _) = w.delete(&format!("{VOLUMES}/data"), &w.member).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}
