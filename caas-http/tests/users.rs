//! Users and API tokens over HTTP: administrators create and list users and hand them their
//! first token; everyone creates, lists and revokes their own tokens, whose secrets are
//! answered once and never again (nor logged); `GET /v1/me` says who the caller is. And the
//! whole members journey over HTTP alone: a new user and their token, added by address,
//! invited and accepting with their own token.

#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_error, assert_invalid, secret, world, world_with_manual_clock};
use http::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn administrators_create_users_and_page_through_them() {
    let w = world().await;
    let got = w
        .post(
            "/v1/admin/users",
            &w.admin,
            json!({"email": "Bob@Example.com", "display_name": "Bob"}),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    assert_eq!(got.1["email"], "bob@example.com", "stored lowercase");
    assert_eq!(got.1["display_name"], "Bob");
    assert_eq!(got.1["platform_admin"], false);
    assert!(got.1["id"].is_string());
    let got = w
        .post(
            "/v1/admin/users",
            &w.admin,
            json!({"email": "ops@example.com", "platform_admin": true}),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    assert_eq!(got.1["platform_admin"], true);

    // Refusals name the field.
    let got = w
        .post(
            "/v1/admin/users",
            &w.admin,
            json!({"email": "bob@example.com"}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "ALREADY_EXISTS");
    for (body, field) in [
        (json!({"email": "not an address"}), "email"),
        (
            json!({"email": "x@example.com", "display_name": 5}),
            "display_name",
        ),
        (json!({"email": "x@example.com", "role": "admin"}), "role"),
        (json!({"display_name": "No address"}), "email"),
    ] {
        let got = w.post("/v1/admin/users", &w.admin, body.clone()).await;
        assert_invalid(&got, field);
    }
    for token in [&w.owner, &w.viewer, &w.stranger] {
        let got = w
            .post(
                "/v1/admin/users",
                token,
                json!({"email": "sneaky@example.com"}),
            )
            .await;
        assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
        let got = w.get("/v1/admin/users", token).await;
        assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    }

    // Ordered by address; pages say whether more follow.
    let (status, page) = w.get("/v1/admin/users", &w.admin).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let emails: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        [
            "bob@example.com",
            "boss@globex.example",
            "member@acme.example",
            "ops@example.com",
            "owner@acme.example",
            "root@example.com",
            "viewer@acme.example",
        ]
    );
    assert_eq!(page["limit"], 50);
    assert_eq!(page["offset"], 0);
    assert_eq!(page["more"], false);
    let (_, page) = w.get("/v1/admin/users?limit=3&offset=3", &w.admin).await;
    let emails: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["ops@example.com", "owner@acme.example", "root@example.com"]
    );
    assert_eq!(page["more"], true);
    let (_, page) = w.get("/v1/admin/users?limit=3&offset=6", &w.admin).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["more"], false);
    let (_, page) = w.get("/v1/admin/users?offset=4000000000", &w.admin).await;
    assert_eq!(page["items"], json!([]), "past the end: an empty page");

    // The search matches the address or the name.
    let (_, page) = w.get("/v1/admin/users?search=ACME", &w.admin).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 3, "{page}");
    let (_, page) = w.get("/v1/admin/users?search=bo", &w.admin).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");
    let (_, page) = w.get("/v1/admin/users?search=bob", &w.admin).await;
    assert_eq!(page["items"][0]["display_name"], "Bob", "{page}");

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=many", "limit"),
        ("offset=-1", "offset"),
        ("sort=email", "sort"),
    ] {
        let got = w.get(&format!("/v1/admin/users?{query}"), &w.admin).await;
        assert_invalid(&got, field);
    }
    let long = "x".repeat(101);
    let got = w
        .get(&format!("/v1/admin/users?search={long}"), &w.admin)
        .await;
    assert_invalid(&got, "search");
}

#[tokio::test]
async fn an_administrator_hands_a_new_user_a_token_and_it_signs_them_in() {
    let w = world().await;
    let (_, bob) = w
        .post(
            "/v1/admin/users",
            &w.admin,
            json!({"email": "bob@example.com"}),
        )
        .await;
    let bob_id = bob["id"].as_str().unwrap();

    // By address or by id.
    let got = w
        .post(
            "/v1/admin/users/BOB@example.com/tokens",
            &w.admin,
            json!({"name": "first", "expires_in_days": 30}),
        )
        .await;
    let first = secret(&got);
    assert_eq!(got.1["user"], bob_id);
    assert_eq!(got.1["name"], "first");
    assert!(got.1["expires_at"].is_string(), "{}", got.1);
    let second = secret(
        &w.post(
            &format!("/v1/admin/users/{bob_id}/tokens"),
            &w.admin,
            json!({"name": "second"}),
        )
        .await,
    );
    assert_ne!(first, second);

    let (status, me) = w.get("/v1/me", &first).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["email"], "bob@example.com");
    assert_eq!(me["memberships"], json!([]));
    let (_, listed) = w.get("/v1/tokens", &second).await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["first", "second"], "the user's own tokens");
    // The administrator's own list is theirs alone.
    let (_, mine) = w.get("/v1/tokens", &w.admin).await;
    assert!(
        mine.as_array().unwrap().iter().all(|t| t["user"] != bob_id),
        "{mine}"
    );

    let got = w
        .post(
            "/v1/admin/users/nobody@example.com/tokens",
            &w.admin,
            json!({"name": "x"}),
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let got = w
        .post(
            "/v1/admin/users/not-an-address/tokens",
            &w.admin,
            json!({"name": "x"}),
        )
        .await;
    assert_invalid(&got, "user");
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (
            json!({"name": "x", "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            json!({"name": "x", "expires_in_days": 3651}),
            "expires_in_days",
        ),
        (json!({"name": "x", "scope": "all"}), "scope"),
        (json!({}), "name"),
    ] {
        let got = w
            .post("/v1/admin/users/bob@example.com/tokens", &w.admin, body)
            .await;
        assert_invalid(&got, field);
    }
    // Nobody else learns whether an address has an account.
    for user in [
        "bob@example.com",
        "nobody@example.com",
        "owner@acme.example",
    ] {
        let got = w
            .post(
                &format!("/v1/admin/users/{user}/tokens"),
                &w.owner,
                json!({"name": "x"}),
            )
            .await;
        assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    }
}

#[tokio::test]
async fn own_tokens_show_their_secret_once_and_stop_working_when_revoked() {
    let w = world().await;
    let got = w
        .post("/v1/tokens", &w.member, json!({"name": "laptop"}))
        .await;
    let laptop = secret(&got);
    let id = got.1["id"].as_str().unwrap().to_string();
    assert_eq!(got.1["expires_at"], Value::Null, "valid until revoked");

    // Never again: not in the list, not its hash either.
    let (status, listed) = w.get("/v1/tokens", &laptop).await;
    assert_eq!(status, StatusCode::OK);
    let text = listed.to_string();
    assert!(!text.contains(&laptop), "{text}");
    assert!(!text.contains(&w.member), "{text}");
    assert!(
        !text.contains(&caas_core::platform::token_hash(&laptop)),
        "{text}"
    );
    for t in listed.as_array().unwrap() {
        let keys: Vec<&String> = t.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["created_at", "expires_at", "id", "name", "scope", "user"],
            "{t}"
        );
    }
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    // The audit log does not carry it either.
    let (_, audit) = w.get("/v1/admin/audit?action=token.", &w.admin).await;
    assert!(!audit.to_string().contains(&laptop), "{audit}");
    assert!(
        !audit
            .to_string()
            .contains(&caas_core::platform::token_hash(&laptop))
    );

    // Someone else's token is not found, and keeps working.
    for token in [&w.owner, &w.viewer, &w.stranger] {
        let got = w.delete(&format!("/v1/tokens/{id}"), token).await;
        assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    assert_eq!(w.get("/v1/me", &laptop).await.0, StatusCode::OK);
    let got = w.delete("/v1/tokens/not-an-id", &w.member).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Revoked with itself: it stops working at once; the other token still works.
    let got = w.delete(&format!("/v1/tokens/{id}"), &laptop).await;
    assert_eq!(got.0, StatusCode::NO_CONTENT, "{}", got.1);
    let got = w.get("/v1/me", &laptop).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let got = w.delete(&format!("/v1/tokens/{id}"), &w.member).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(w.get("/v1/me", &w.member).await.0, StatusCode::OK);

    // Platform administrators revoke anyone's.
    let got = w.post("/v1/tokens", &w.viewer, json!({"name": "ci"})).await;
    let ci = secret(&got);
    let got = w
        .delete(
            &format!("/v1/tokens/{}", got.1["id"].as_str().unwrap()),
            &w.admin,
        )
        .await;
    assert_eq!(got.0, StatusCode::NO_CONTENT, "{}", got.1);
    assert_eq!(w.get("/v1/me", &ci).await.0, StatusCode::UNAUTHORIZED);

    for (body, field) in [
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (
            json!({"name": "x", "expires_in_days": -1}),
            "expires_in_days",
        ),
        (json!({"nmae": "x"}), "nmae"),
    ] {
        let got = w.post("/v1/tokens", &w.member, body).await;
        assert_invalid(&got, field);
    }
    let got = w
        .call(Method::POST, "/v1/tokens", None, Some(json!({"name": "x"})))
        .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_token_with_an_expiry_stops_working_then() {
    let w = world_with_manual_clock().await;
    let clock = w.clock.clone().unwrap();
    let got = w
        .post(
            "/v1/tokens",
            &w.owner,
            json!({"name": "temp", "expires_in_days": 1}),
        )
        .await;
    let temp = secret(&got);
    assert_eq!(w.get("/v1/me", &temp).await.0, StatusCode::OK);
    clock.advance(chrono::Duration::hours(23));
    assert_eq!(w.get("/v1/me", &temp).await.0, StatusCode::OK);
    clock.advance(chrono::Duration::hours(1));
    let got = w.get("/v1/me", &temp).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    // Still listed (and revocable) until revoked.
    let (_, listed) = w.get("/v1/tokens", &w.owner).await;
    assert!(listed.to_string().contains("temp"), "{listed}");
}

#[tokio::test]
async fn who_am_i_answers_the_user_and_every_membership() {
    let w = world().await;
    let (status, me) = w.get("/v1/me", &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["email"], "viewer@acme.example");
    assert_eq!(me["user"]["platform_admin"], false);
    assert_eq!(
        me["memberships"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["org"].as_str().unwrap(), m["role"].as_str().unwrap()))
            .collect::<Vec<_>>(),
        [("acme", "viewer")]
    );
    assert_eq!(me["memberships"][0]["org_name"], "acme");
    assert_eq!(me["memberships"][0]["projects"], Value::Null);

    // A second organization, and a scope to one project.
    let got = w
        .post(
            "/v1/orgs/globex/members",
            &w.stranger,
            json!({"user": "viewer@acme.example", "role": "admin"}),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    let got = w
        .call(
            Method::PATCH,
            "/v1/orgs/acme/members/viewer@acme.example",
            Some(&w.owner),
            Some(json!({"projects": ["shop"]})),
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    let (_, me) = w.get("/v1/me", &w.viewer).await;
    assert_eq!(
        me["memberships"],
        json!([
            {"org": "acme", "org_name": "acme", "role": "viewer", "projects": ["shop"], "joined_at": me["memberships"][0]["joined_at"]},
            {"org": "globex", "org_name": "globex", "role": "admin", "projects": null, "joined_at": me["memberships"][1]["joined_at"]},
        ])
    );

    let (_, me) = w.get("/v1/me", &w.admin).await;
    assert_eq!(me["user"]["platform_admin"], true);
    assert_eq!(me["memberships"], json!([]));
    let got = w.call(Method::GET, "/v1/me", None, None).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

#[tokio::test]
async fn the_members_journey_works_over_http_alone() {
    let w = world().await;
    // Two new people, each with a token handed over by the administrator.
    for email in ["erin@example.com", "dave@example.com"] {
        let got = w
            .post("/v1/admin/users", &w.admin, json!({"email": email}))
            .await;
        assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    }
    let erin = secret(
        &w.post(
            "/v1/admin/users/erin@example.com/tokens",
            &w.admin,
            json!({"name": "first"}),
        )
        .await,
    );
    let dave = secret(
        &w.post(
            "/v1/admin/users/dave@example.com/tokens",
            &w.admin,
            json!({"name": "first"}),
        )
        .await,
    );

    // Erin is added by address; Dave is invited and accepts with his own token.
    let got = w
        .post(
            "/v1/orgs/acme/members",
            &w.owner,
            json!({"user": "erin@example.com", "role": "admin"}),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    let got = w
        .post(
            "/v1/orgs/acme/invitations",
            &erin,
            json!({"email": "dave@example.com", "role": "member"}),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    assert!(got.1.get("token").is_none(), "{}", got.1);
    let invitation = w.mailed_token("dave@example.com");
    let accept = format!("/v1/invitations/{invitation}/accept");
    let got = w.call(Method::POST, &accept, Some(&erin), None).await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let got = w.call(Method::POST, &accept, Some(&dave), None).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.1["role"], "member");
    let got = w.call(Method::POST, &accept, Some(&dave), None).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");

    let (_, me) = w.get("/v1/me", &dave).await;
    assert_eq!(me["memberships"][0]["org"], "acme", "{me}");
    assert_eq!(me["memberships"][0]["role"], "member", "{me}");
    let (_, members) = w.get("/v1/orgs/acme/members", &dave).await;
    let emails: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert!(emails.contains(&"erin@example.com") && emails.contains(&"dave@example.com"));
    let (status, projects) = w.get("/v1/orgs/acme/projects", &dave).await;
    assert_eq!(status, StatusCode::OK, "{projects}");

    // The audit log, read by owners and administrators, has the invitation but neither its
    // token nor the token's hash.
    let (status, audit) = w
        .get("/v1/admin/audit?org=acme&action=invitation.", &w.owner)
        .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["invitation.accept", "invitation.create"]);
    let text = audit.to_string();
    assert!(text.contains("dave@example.com"), "{text}");
    assert!(!text.contains(&invitation), "{text}");
    assert!(!text.contains("token_sha256"), "{text}");
    assert!(
        !text.contains(&caas_core::platform::token_hash(&invitation)),
        "{text}"
    );
}
