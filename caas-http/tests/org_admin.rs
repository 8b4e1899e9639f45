//! Organization administration through the API: the overview with its filters, pages and
//! total, suspension and reactivation (customers refused with a clear error, administrators
//! still reading), bulk calls answering per item, and the audit log with validated filters.

#![allow(clippy::unwrap_used)]

mod common;

use common::{SERVICES, World, assert_error, assert_invalid, web_app, world};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const ORGS: &str = "/v1/admin/orgs";

fn slugs(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["org"]["slug"].as_str().unwrap())
        .collect()
}

async fn post_empty(w: &World, path: &str, token: &str) -> (StatusCode, Value) {
    w.call(Method::POST, path, Some(token), None).await
}

/// acme and globex on `starter`, initech on `big` (9 EUR), umbrella without a plan.
async fn four_orgs() -> World {
    let w = world().await;
    let plan = json!({"name": "big", "limits": {"cpu_millis": 8000, "memory_bytes": 8_589_934_592u64, "storage_bytes": 0, "max_containers": 20, "max_projects": 5}, "monthly_price_cents": 900, "currency": "EUR"});
    let (status, body) = w.post("/v1/admin/plans", &w.admin, plan).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for slug in ["initech", "umbrella"] {
        let (status, body) = w.post("/v1/orgs", &w.admin, json!({"slug": slug})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = w
        .put(
            "/v1/orgs/initech/subscription",
            &w.admin,
            json!({"plan": "big"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    w
}

#[tokio::test]
async fn administrators_page_through_organizations_with_filters_and_a_total() {
    let w = four_orgs().await;
    w.deploy_web().await;
    let (status, page) = w.get(ORGS, &w.admin).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(slugs(&page), ["acme", "globex", "initech", "umbrella"]);
    assert_eq!(
        (
            &page["total"],
            &page["more"],
            &page["limit"],
            &page["offset"]
        ),
        (&json!(4), &json!(false), &json!(50), &json!(0))
    );
    let acme = &page["items"][0];
    assert_eq!(
        (&acme["members"], &acme["containers"]),
        (&json!(3), &json!(1))
    );
    assert_eq!(acme["plan"], "starter");
    assert_eq!(acme["subscription"], "active");
    assert!(acme["period_end"].as_str().unwrap() > acme["period_start"].as_str().unwrap());
    assert_eq!(acme["usage"]["org"], "acme");
    let containers = acme["usage"]["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dimension"] == "containers")
        .unwrap();
    assert_eq!(containers["used"], 1);
    let initech = &page["items"][2];
    assert_eq!(
        (
            &initech["plan"],
            &initech["monthly_price_cents"],
            &initech["currency"]
        ),
        (&json!("big"), &json!(900), &json!("EUR"))
    );
    let umbrella = &page["items"][3];
    assert_eq!(
        (&umbrella["plan"], &umbrella["subscription"]),
        (&Value::Null, &Value::Null)
    );

    for (query, want, total, more) in [
        ("?limit=1", vec!["acme"], 4, true),
        ("?limit=2&offset=1", vec!["globex", "initech"], 4, true),
        ("?limit=2&offset=3", vec!["umbrella"], 4, false),
        ("?offset=4294967295", vec![], 4, false),
        ("?plan=big", vec!["initech"], 1, false),
        ("?plan=starter&limit=1&offset=1", vec!["globex"], 2, false),
        ("?search=GLO", vec!["globex"], 1, false),
        (
            "?subscription=active",
            vec!["acme", "globex", "initech"],
            3,
            false,
        ),
        ("?status=suspended", vec![], 0, false),
        (
            "?status=active&search=a&limit=2",
            vec!["acme", "umbrella"],
            2,
            false,
        ),
    ] {
        let (status, page) = w.get(&format!("{ORGS}{query}"), &w.admin).await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        assert_eq!(slugs(&page), want, "{query}");
        assert_eq!(page["total"], total, "{query}");
        assert_eq!(page["more"], more, "{query}");
    }

    // Bad filters name the query parameter.
    let long = "x".repeat(101);
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?limit=ten", "limit"),
        ("?offset=-1", "offset"),
        ("?status=frozen", "status"),
        ("?subscription=paused", "subscription"),
        ("?plan=nope", "plan"),
        ("?sort=slug", "sort"),
        (&format!("?search={long}"), "search"),
    ] {
        assert_invalid(&w.get(&format!("{ORGS}{query}"), &w.admin).await, field);
    }
    for token in [&w.owner, &w.viewer, &w.stranger] {
        let got = w.get(ORGS, token).await;
        assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    }
}

#[tokio::test]
async fn a_suspended_organization_refuses_its_customers_while_administrators_read_and_reactivate() {
    let w = world().await;
    w.deploy_web().await;
    let (status, _) = w
        .post(
            "/v1/orgs/acme/volumes",
            &w.owner,
            json!({"project": "shop", "name": "data", "size_bytes": 1_048_576}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    for token in [&w.owner, &w.stranger] {
        let got = post_empty(&w, "/v1/admin/orgs/acme/suspend", token).await;
        assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    }
    let (status, done) = post_empty(&w, "/v1/admin/orgs/acme/suspend", &w.admin).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        done,
        json!({"org": "acme", "status": "suspended", "changed": true})
    );
    let (_, again) = post_empty(&w, "/v1/admin/orgs/acme/suspend", &w.admin).await;
    assert_eq!(again["changed"], false);
    let got = post_empty(&w, "/v1/admin/orgs/nope/suspend", &w.admin).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Customers read, but change nothing; the error says why and what to do.
    let (status, org) = w.get("/v1/orgs/acme", &w.viewer).await;
    assert_eq!(
        (status, &org["status"]),
        (StatusCode::OK, &json!("suspended"))
    );
    let (status, web) = w.get(&format!("{SERVICES}/web"), &w.viewer).await;
    assert_eq!(
        (status, &web["status"]),
        (StatusCode::OK, &json!("stopped"))
    );
    let refused: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, SERVICES.into(), Some(web_app("api"))),
        (Method::POST, format!("{SERVICES}/web/start"), None),
        (Method::POST, format!("{SERVICES}/web/restart"), None),
        (
            Method::PATCH,
            format!("{SERVICES}/web"),
            Some(json!({"env_set": [{"key": "A", "value": "1"}]})),
        ),
        (
            Method::POST,
            "/v1/orgs/acme/projects".into(),
            Some(json!({"name": "blog"})),
        ),
        (
            Method::POST,
            "/v1/orgs/acme/volumes".into(),
            Some(json!({"project": "shop", "name": "more", "size_bytes": 1_048_576})),
        ),
        (
            Method::POST,
            "/v1/orgs/acme/volumes/data/backups".into(),
            None,
        ),
    ];
    for (i, (method, path, body)) in refused.iter().enumerate() {
        // The member too, where the role alone would allow it (all but the project).
        let tokens = if i == 4 {
            vec![&w.owner]
        } else {
            vec![&w.owner, &w.member]
        };
        for token in tokens {
            let got = w
                .call(method.clone(), path, Some(token), body.clone())
                .await;
            assert_error(&got, StatusCode::CONFLICT, "CONFLICT");
            let message = got.1["message"].as_str().unwrap();
            assert!(
                message.contains("organization 'acme' is suspended")
                    && message.contains("reactivates"),
                "{method} {path}: {message}"
            );
        }
    }
    let (_, services) = w.get(SERVICES, &w.owner).await;
    assert_eq!(
        services.as_array().unwrap().len(),
        1,
        "nothing was deployed"
    );

    // Administrators still read everything, find it in the overview and reactivate it.
    for path in [
        "/v1/orgs/acme",
        SERVICES,
        "/v1/orgs/acme/members",
        "/v1/orgs/acme/volumes",
        "/v1/orgs/acme/usage",
    ] {
        let (status, body) = w.get(path, &w.admin).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (_, page) = w.get(&format!("{ORGS}?status=suspended"), &w.admin).await;
    assert_eq!(slugs(&page), ["acme"]);
    let got = post_empty(&w, "/v1/admin/orgs/acme/reactivate", &w.owner).await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let (status, done) = post_empty(&w, "/v1/admin/orgs/acme/reactivate", &w.admin).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        done,
        json!({"org": "acme", "status": "active", "changed": true})
    );
    let (_, again) = post_empty(&w, "/v1/admin/orgs/acme/reactivate", &w.admin).await;
    assert_eq!(again["changed"], false);
    let (_, web) = w.get(&format!("{SERVICES}/web"), &w.viewer).await;
    assert_eq!(web["status"], "running", "started again");
    let (status, body) = w.post(SERVICES, &w.member, web_app("api")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn bulk_calls_answer_per_item_and_a_partial_failure_is_not_an_error() {
    let w = four_orgs().await;
    w.token_for_new_user("ops@example.com").await;
    let bulk = |action: Value, orgs: &[&str]| json!({"action": action, "orgs": orgs});

    let (status, r) = w
        .post(
            "/v1/admin/orgs/bulk",
            &w.admin,
            bulk(json!({"type": "suspend"}), &["acme", "nope", "globex"]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!((&r["succeeded"], &r["failed"]), (&json!(2), &json!(1)));
    let items = r["items"].as_array().unwrap();
    assert_eq!(
        items
            .iter()
            .map(|i| i["org"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["acme", "nope", "globex"],
        "in the order given"
    );
    assert_eq!(
        items[0],
        json!({"org": "acme", "ok": true, "changed": true, "code": null, "error": null})
    );
    assert_eq!(
        (&items[1]["ok"], &items[1]["code"]),
        (&json!(false), &json!("NOT_FOUND"))
    );
    assert!(
        items[1]["error"].as_str().unwrap().contains("nope"),
        "{}",
        items[1]
    );
    assert_eq!(items[2]["changed"], true);
    let (_, org) = w.get("/v1/orgs/globex", &w.stranger).await;
    assert_eq!(org["status"], "suspended");
    // Repeating is harmless.
    let (_, r) = w
        .post(
            "/v1/admin/orgs/bulk",
            &w.admin,
            bulk(json!({"type": "suspend"}), &["acme", "globex"]),
        )
        .await;
    assert!(
        r["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["ok"] == true && i["changed"] == false),
        "{r}"
    );

    for (action, orgs, changed) in [
        (
            json!({"type": "reactivate"}),
            vec!["acme", "globex", "initech"],
            vec![true, true, false],
        ),
        (
            json!({"type": "change_plan", "plan": "big"}),
            vec!["acme", "initech"],
            vec![true, false],
        ),
        (
            json!({"type": "add_member", "user": "ops@example.com", "role": "viewer"}),
            vec!["acme", "umbrella"],
            vec![true, true],
        ),
        (
            json!({"type": "add_member", "user": "ops@example.com", "role": "viewer"}),
            vec!["acme"],
            vec![false],
        ),
        (
            json!({"type": "remove_member", "user": "ops@example.com"}),
            vec!["umbrella"],
            vec![true],
        ),
        (
            json!({"type": "remove_member", "user": "ops@example.com"}),
            vec!["umbrella"],
            vec![false],
        ),
        (
            json!({"type": "delete", "volumes": true}),
            vec!["umbrella"],
            vec![true],
        ),
        (json!({"type": "delete"}), vec!["umbrella"], vec![false]),
    ] {
        let (status, r) = w
            .post("/v1/admin/orgs/bulk", &w.admin, bulk(action.clone(), &orgs))
            .await;
        assert_eq!(status, StatusCode::OK, "{action}: {r}");
        let got: Vec<(bool, bool)> = r["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["ok"].as_bool().unwrap(), i["changed"].as_bool().unwrap()))
            .collect();
        let want: Vec<(bool, bool)> = changed.iter().map(|c| (true, *c)).collect();
        assert_eq!(got, want, "{action}: {r}");
    }
    let (_, page) = w.get(&format!("{ORGS}?plan=big"), &w.admin).await;
    assert_eq!(slugs(&page), ["acme", "initech"]);
    let (_, members) = w.get("/v1/orgs/acme/members", &w.owner).await;
    assert!(members.to_string().contains("ops@example.com"), "{members}");
    let got = w.get("/v1/orgs/umbrella", &w.admin).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");

    // A failing item in the middle: the others still happen.
    let (status, r) = w
        .post(
            "/v1/admin/orgs/bulk",
            &w.admin,
            bulk(
                json!({"type": "change_plan", "plan": "starter"}),
                &["acme", "umbrella", "initech"],
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let ok: Vec<bool> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ok"].as_bool().unwrap())
        .collect();
    assert_eq!(ok, [true, false, true], "{r}");
    let (_, page) = w.get(&format!("{ORGS}?plan=big"), &w.admin).await;
    assert_eq!(slugs(&page), Vec::<&str>::new());

    // A malformed call is an error of its own, naming the field.
    for (body, field) in [
        (bulk(json!({"type": "suspend"}), &[]), "orgs"),
        (bulk(json!({"type": "suspend"}), &["acme", "acme"]), "orgs"),
        (json!({"action": {"type": "suspend"}}), "orgs"),
        (json!({"orgs": ["acme"]}), "action"),
        (bulk(json!({"type": "freeze"}), &["acme"]), "action.type"),
        (
            bulk(json!({"type": "change_plan"}), &["acme"]),
            "action.plan",
        ),
        (
            bulk(json!({"type": "delete", "volume": true}), &["acme"]),
            "action.volume",
        ),
        (
            json!({"action": {"type": "suspend"}, "orgs": ["acme"], "dry_run": true}),
            "dry_run",
        ),
    ] {
        assert_invalid(&w.post("/v1/admin/orgs/bulk", &w.admin, body).await, field);
    }
    let too_many: Vec<String> = (0..501).map(|i| format!("org-{i}")).collect();
    assert_invalid(
        &w.post(
            "/v1/admin/orgs/bulk",
            &w.admin,
            json!({"action": {"type": "suspend"}, "orgs": too_many}),
        )
        .await,
        "orgs",
    );
    let got = w
        .post(
            "/v1/admin/orgs/bulk",
            &w.owner,
            bulk(json!({"type": "suspend"}), &["acme"]),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let (_, org) = w.get("/v1/orgs/acme", &w.owner).await;
    assert_eq!(org["status"], "active");
}

#[tokio::test]
async fn the_audit_log_filters_by_org_action_actor_and_time_and_validates_its_query() {
    let w = world().await;
    let (status, _) = w
        .post(
            "/v1/orgs/globex/members",
            &w.stranger,
            json!({"user": "viewer@acme.example", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    for action in ["suspend", "reactivate"] {
        let (status, _) = post_empty(&w, &format!("/v1/admin/orgs/acme/{action}"), &w.admin).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, all) = w.get("/v1/admin/audit", &w.admin).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let all = all.as_array().unwrap().clone();
    assert!(all.len() >= 6, "{all:?}");
    // Compared as instants: RFC 3339 text carries 0, 3, 6 or 9 fraction digits, so its order
    // as strings is not the order in time.
    let ats: Vec<chrono::DateTime<chrono::Utc>> = all
        .iter()
        .map(|e| e["at"].as_str().unwrap().parse().unwrap())
        .collect();
    let mut sorted = ats.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ats, sorted, "newest first");
    assert_eq!(all[0]["action"], "org.reactivate");
    assert_eq!(all[0]["before"]["status"], "suspended");
    assert_eq!(all[0]["after"]["status"], "active");
    let admin_id = all[0]["actor"].as_str().unwrap().to_string();
    let acme_id = all[0]["org"].as_str().unwrap().to_string();

    let actions = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, got) = w.get("/v1/admin/audit?action=org.", &w.admin).await;
    assert!(actions(&got).iter().all(|a| a.starts_with("org.")), "{got}");
    assert!(actions(&got).contains(&"org.suspend".to_string()));
    let (_, got) = w.get("/v1/admin/audit?action=member.add", &w.admin).await;
    assert_eq!(actions(&got), ["member.add"]);
    let globex_owner = got[0]["actor"].as_str().unwrap().to_string();
    let (_, got) = w
        .get(&format!("/v1/admin/audit?actor={globex_owner}"), &w.admin)
        .await;
    assert_eq!(actions(&got), ["member.add"]);
    let (_, got) = w.get("/v1/admin/audit?org=acme&limit=2", &w.admin).await;
    assert_eq!(actions(&got), ["org.reactivate", "org.suspend"]);
    assert!(
        got.as_array()
            .unwrap()
            .iter()
            .all(|e| e["org"] == acme_id.as_str())
    );
    let (_, got) = w
        .get(
            &format!("/v1/admin/audit?actor={admin_id}&org=acme&action=org.s"),
            &w.admin,
        )
        .await;
    assert_eq!(actions(&got), ["org.suspend"]);
    // Paging back in time, and a window.
    let newest = all[0]["at"].as_str().unwrap();
    let (_, got) = w
        .get(&format!("/v1/admin/audit?before={newest}"), &w.admin)
        .await;
    assert!(
        got.as_array()
            .unwrap()
            .iter()
            .all(|e| e["at"].as_str().unwrap() < newest),
        "{got}"
    );
    assert_eq!(got.as_array().unwrap().len(), all.len() - 1);
    // Page by page with the last entry's `at` and `id`: every entry once, in order.
    let mut paged: Vec<Value> = Vec::new();
    let mut query = "limit=1".to_string();
    loop {
        let (status, page) = w.get(&format!("/v1/admin/audit?{query}"), &w.admin).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let Some(last) = page.as_array().unwrap().last().cloned() else {
            break;
        };
        paged.push(last.clone());
        let at = last["at"].as_str().unwrap().replace('+', "%2B");
        query = format!(
            "limit=1&before={at}&before_id={}",
            last["id"].as_str().unwrap()
        );
        assert!(paged.len() <= all.len(), "paging ends");
    }
    assert_eq!(Value::Array(paged), Value::Array(all.clone()));
    let (_, got) = w
        .get(&format!("/v1/admin/audit?since={newest}"), &w.admin)
        .await;
    assert_eq!(actions(&got), ["org.reactivate"]);
    let (_, got) = w
        .get("/v1/admin/audit?since=2999-01-01T00:00:00Z", &w.admin)
        .await;
    assert_eq!(got, json!([]));

    for (query, field) in [
        ("since=yesterday", "since"),
        ("since=2030-01-01", "since"),
        ("before=soon", "before"),
        (
            "before_id=0190b7a6-5d2e-7c3b-8a1e-9f2d4c6b8a01",
            "before_id",
        ),
        ("before=2030-01-01T00:00:00Z&before_id=nope", "before_id"),
        (
            "since=2030-01-02T00:00:00Z&before=2030-01-01T00:00:00Z",
            "before",
        ),
        (
            "since=2030-01-01T00:00:00Z&before=2030-01-01T00:00:00Z",
            "before",
        ),
        ("actor=root@example.com", "actor"),
        ("action=Org.Suspend", "action"),
        ("action=", "action"),
        ("action=org%20suspend", "action"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=many", "limit"),
        ("organization=acme", "organization"),
    ] {
        assert_invalid(
            &w.get(&format!("/v1/admin/audit?{query}"), &w.admin).await,
            field,
        );
    }

    // Owners read their own organization's log, nobody else's; nobody else reads any.
    let (status, own) = w.get("/v1/admin/audit?org=acme", &w.owner).await;
    assert_eq!(status, StatusCode::OK, "{own}");
    assert!(!own.as_array().unwrap().is_empty());
    assert!(
        own.as_array()
            .unwrap()
            .iter()
            .all(|e| e["org"] == acme_id.as_str()),
        "{own}"
    );
    let got = w.get("/v1/admin/audit", &w.owner).await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let admin = w
        .token_with_role("admin@acme.example", caas_core::model::Role::Admin)
        .await;
    for token in [&w.viewer, &w.member, &admin] {
        let got = w.get("/v1/admin/audit?org=acme", token).await;
        assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    }
    // Another organization is 404, exactly as one that does not exist.
    let theirs = w.get("/v1/admin/audit?org=globex", &w.owner).await;
    assert_error(&theirs, StatusCode::NOT_FOUND, "NOT_FOUND");
    let missing = w.get("/v1/admin/audit?org=nope", &w.owner).await;
    assert_eq!(
        (theirs.0, &theirs.1["code"]),
        (missing.0, &missing.1["code"])
    );
    let got = w.get("/v1/admin/audit?org=acme", &w.stranger).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
}
