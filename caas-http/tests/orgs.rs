//! `/v1/orgs/...`: organizations, subscriptions, usage and projects.

#![allow(clippy::unwrap_used)]

mod common;

use caas_core::ContainerRuntime;
use caas_core::labels;
use caas_core::ports::runtime::LabelSelector;
use caas_core::ports::store::prelude::*;
use common::{PlanLimits, SERVICES, assert_error, assert_invalid, limits, world, world_with};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn anyone_creates_an_organization_and_owns_it() {
    let w = world().await;
    let (status, org) = w
        .post(
            "/v1/orgs",
            &w.stranger,
            json!({"slug": "initech", "display_name": "Initech"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    assert_eq!(org["slug"], "initech");
    assert_eq!(org["display_name"], "Initech");
    assert_eq!(org["status"], "active");
    let (status, got) = w.get("/v1/orgs/initech", &w.stranger).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, org);
    // The creator is its owner: they may rename it.
    let (status, renamed) = w
        .call(
            Method::PATCH,
            "/v1/orgs/initech",
            Some(&w.stranger),
            Some(json!({"display_name": "Initech Corp."})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["display_name"], "Initech Corp.");

    let got = w
        .post("/v1/orgs", &w.owner, json!({"slug": "initech"}))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "ALREADY_EXISTS");
    // Only administrators may name another owner.
    let got = w
        .post(
            "/v1/orgs",
            &w.owner,
            json!({"slug": "hooli", "owner": "0190a0a0-0000-7000-8000-000000000000"}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let got = w
        .post(
            "/v1/orgs",
            &w.admin,
            json!({"slug": "hooli", "owner": "0190a0a0-0000-7000-8000-000000000000"}),
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn organizations_are_listed_per_caller_and_filtered() {
    let w = world().await;
    let slugs = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|o| o["slug"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, all) = w.get("/v1/orgs", &w.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(slugs(&all), ["acme", "globex"]);
    let (_, mine) = w.get("/v1/orgs", &w.viewer).await;
    assert_eq!(slugs(&mine), ["acme"]);
    let (_, found) = w
        .get("/v1/orgs?search=glob&limit=10&offset=0", &w.admin)
        .await;
    assert_eq!(slugs(&found), ["globex"]);
    let (_, suspended) = w.get("/v1/orgs?status=suspended", &w.admin).await;
    assert_eq!(slugs(&suspended), Vec::<String>::new());
    assert_invalid(&w.get("/v1/orgs?limit=0", &w.admin).await, "limit");
    assert_invalid(&w.get("/v1/orgs?limit=ten", &w.admin).await, "limit");
    assert_invalid(&w.get("/v1/orgs?status=gone", &w.admin).await, "status");
    assert_invalid(&w.get("/v1/orgs?serach=acme", &w.admin).await, "serach");
}

#[tokio::test]
async fn administrators_change_slug_and_status_owners_only_the_name() {
    let w = world().await;
    let got = w
        .call(
            Method::PATCH,
            "/v1/orgs/acme",
            Some(&w.owner),
            Some(json!({"slug": "acme-corp"})),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let (status, org) = w
        .call(
            Method::PATCH,
            "/v1/orgs/acme",
            Some(&w.admin),
            Some(json!({"slug": "acme-corp", "status": "suspended"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{org}");
    assert_eq!(org["slug"], "acme-corp");
    assert_eq!(org["status"], "suspended");
    assert_error(
        &w.get("/v1/orgs/acme", &w.owner).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let got = w
        .call(
            Method::PATCH,
            "/v1/orgs/acme-corp",
            Some(&w.admin),
            Some(json!({"slug": "globex"})),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "ALREADY_EXISTS");
    for (body, field) in [
        (json!({"slug": "No Slug"}), "slug"),
        (json!({"status": "deleted"}), "status"),
        (json!({"displayname": "x"}), "displayname"),
        (json!({"display_name": "x".repeat(201)}), "display_name"),
    ] {
        let got = w
            .call(
                Method::PATCH,
                "/v1/orgs/acme-corp",
                Some(&w.admin),
                Some(body),
            )
            .await;
        assert_invalid(&got, field);
    }
}

#[tokio::test]
async fn deleting_an_organization_removes_everything_it_runs() {
    let w = world().await;
    let service = w.deploy_web().await;
    let org_id = service["org"].as_str().unwrap().to_string();
    let got = w
        .call(Method::DELETE, "/v1/orgs/acme", Some(&w.member), None)
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let got = w
        .call(
            Method::DELETE,
            "/v1/orgs/acme?volume=true",
            Some(&w.owner),
            None,
        )
        .await;
    assert_invalid(&got, "volume");
    let (status, body) = w
        .call(
            Method::DELETE,
            "/v1/orgs/acme?volumes=true",
            Some(&w.owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let acme = LabelSelector::managed().with(labels::ORG, &org_id);
    assert!(w.runtime.list_containers(&acme).await.unwrap().is_empty());
    assert!(w.runtime.list_networks(&acme).await.unwrap().is_empty());
    assert!(w.store.org_by_slug_opt("acme").await.unwrap().is_none());
    assert_error(
        &w.get("/v1/orgs/acme", &w.admin).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}

#[tokio::test]
async fn subscriptions_are_read_by_members_and_set_by_administrators() {
    let w = world().await;
    let (status, sub) = w.get("/v1/orgs/acme/subscription", &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "{sub}");
    assert_eq!(sub["status"], "active");
    let (_, plan) = w.get("/v1/admin/plans/starter", &w.viewer).await;
    assert_eq!(sub["plan"], plan["id"]);

    let (status, sub) = w
        .call(
            Method::PUT,
            "/v1/orgs/acme/subscription",
            Some(&w.admin),
            Some(json!({"plan": "starter", "status": "suspended"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sub}");
    assert_eq!(sub["status"], "suspended");
    // A suspended subscription blocks deploys with a clear reason.
    let got = w.post(SERVICES, &w.owner, common::web_app("web")).await;
    assert_error(&got, StatusCode::CONFLICT, "CONFLICT");

    let got = w
        .call(
            Method::PUT,
            "/v1/orgs/acme/subscription",
            Some(&w.admin),
            Some(json!({"plan": "platinum"})),
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let got = w
        .call(
            Method::PUT,
            "/v1/orgs/acme/subscription",
            Some(&w.admin),
            Some(json!({"plan": "starter", "status": "paused"})),
        )
        .await;
    assert_invalid(&got, "status");
    let got = w
        .call(
            Method::PUT,
            "/v1/orgs/acme/subscription",
            Some(&w.admin),
            Some(json!({"status": "active"})),
        )
        .await;
    assert_invalid(&got, "plan");
}

#[tokio::test]
async fn usage_reports_each_dimension_against_the_plan() {
    let w = world().await;
    w.deploy_web().await;
    let (status, usage) = w.get("/v1/orgs/acme/usage", &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    assert_eq!(usage["org"], "acme");
    assert_eq!(usage["plan"], "starter");
    assert_eq!(usage["subscription"], "active");
    let containers = usage["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dimension"] == "containers")
        .unwrap();
    assert_eq!(containers["used"], 1);
    assert_eq!(containers["limit"], 10);
    assert_eq!(usage["usage"]["committed"]["projects"], 1);
}

#[tokio::test]
async fn projects_are_created_listed_read_and_deleted() {
    let w = world().await;
    let (status, project) = w
        .post("/v1/orgs/acme/projects", &w.owner, json!({"name": "blog"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{project}");
    assert_eq!(project["name"], "blog");
    let (status, got) = w.get("/v1/orgs/acme/projects/blog", &w.viewer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, project);
    let (_, all) = w.get("/v1/orgs/acme/projects", &w.viewer).await;
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["shop", "blog"]);

    let got = w
        .post("/v1/orgs/acme/projects", &w.owner, json!({"name": "blog"}))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "ALREADY_EXISTS");
    assert_invalid(
        &w.post("/v1/orgs/acme/projects", &w.owner, json!({"name": "Blog!"}))
            .await,
        "name",
    );
    assert_invalid(
        &w.post("/v1/orgs/acme/projects", &w.owner, json!({"nam": "x"}))
            .await,
        "nam",
    );

    let (status, _) = w
        .call(
            Method::DELETE,
            "/v1/orgs/acme/projects/blog?volumes=false",
            Some(&w.owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(
        &w.get("/v1/orgs/acme/projects/blog", &w.owner).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let got = w
        .call(
            Method::DELETE,
            "/v1/orgs/acme/projects/shop?volumes=maybe",
            Some(&w.owner),
            None,
        )
        .await;
    assert_invalid(&got, "volumes");
}

#[tokio::test]
async fn the_plans_project_limit_is_409_quota_exceeded_with_the_dimension() {
    let w = world_with(PlanLimits {
        max_projects: 1,
        ..limits()
    })
    .await;
    let got = w
        .post("/v1/orgs/acme/projects", &w.owner, json!({"name": "blog"}))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "QUOTA_EXCEEDED");
    let details = &got.1["details"];
    assert_eq!(details["plan"], "starter");
    assert_eq!(details["org"], "acme");
    assert_eq!(details["dimensions"][0]["dimension"], "projects");
    assert_eq!(details["dimensions"][0]["used"], 1);
    assert_eq!(details["dimensions"][0]["requested"], 1);
    assert_eq!(details["dimensions"][0]["limit"], 1);
    assert_eq!(got.1["retryable"], false);
}
