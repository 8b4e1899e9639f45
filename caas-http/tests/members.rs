//! Members, roles, ownership and invitations through the API: the last owner stays, the
//! ownership moves, invitation tokens go only to the mailer and are accepted once, by the
//! invited address, before they expire; errors name the request's fields; another
//! organization's members and invitations are 404.

#![allow(clippy::unwrap_used)]

mod common;

use caas_core::model::Role;
use common::{World, assert_error, assert_invalid, world, world_with_manual_clock};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const MEMBERS: &str = "/v1/orgs/acme/members";
const INVITATIONS: &str = "/v1/orgs/acme/invitations";

fn emails_and_roles(list: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap().to_string(),
                m["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = v
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

async fn patch(w: &World, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    w.call(Method::PATCH, path, Some(token), Some(body)).await
}

#[tokio::test]
async fn admins_add_change_and_remove_members_and_the_last_owner_stays() {
    let w = world().await;
    let (status, list) = w.get(MEMBERS, &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(
        emails_and_roles(&list),
        pairs(&[
            ("owner@acme.example", "owner"),
            ("member@acme.example", "member"),
            ("viewer@acme.example", "viewer"),
        ])
    );
    let admin = w.token_with_role("admin@acme.example", Role::Admin).await;
    w.token_for_new_user("dave@example.com").await;

    // An admin adds an existing user (the address in any case), scoped to a project.
    let (status, added) = w
        .post(
            MEMBERS,
            &admin,
            json!({"user": "Dave@Example.com", "role": "member", "projects": ["shop"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["email"], "dave@example.com");
    assert_eq!(added["role"], "member");
    assert_eq!(added["projects"], json!(["shop"]));
    let dave = added["user"].as_str().unwrap().to_string();
    let got = w
        .post(MEMBERS, &admin, json!({"user": dave, "role": "viewer"}))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "ALREADY_EXISTS");
    let got = w
        .post(
            MEMBERS,
            &admin,
            json!({"user": "nobody@example.com", "role": "viewer"}),
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(got.1["details"]["kind"], "user");
    // Errors name the request's fields.
    for (body, field) in [
        (json!({"user": "not an address", "role": "viewer"}), "user"),
        (json!({"user": "dave@example.com", "role": "boss"}), "role"),
        (json!({"user": "dave@example.com"}), "role"),
        (
            json!({"user": "dave@example.com", "role": "viewer", "projetcs": []}),
            "projetcs",
        ),
    ] {
        assert_invalid(&w.post(MEMBERS, &admin, body).await, field);
    }
    w.token_for_new_user("erin@example.com").await;
    assert_invalid(
        &w.post(
            MEMBERS,
            &admin,
            json!({"user": "erin@example.com", "role": "viewer", "projects": ["shop", "nope"]}),
        )
        .await,
        "projects[1]",
    );
    // Only owners add owners.
    let got = w
        .post(
            MEMBERS,
            &admin,
            json!({"user": "erin@example.com", "role": "owner"}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");

    // Role and scope changes, by id or by address; `null` lifts the scope.
    let (status, changed) = patch(
        &w,
        &format!("{MEMBERS}/{dave}"),
        &admin,
        json!({"role": "admin"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["role"], "admin");
    assert_eq!(changed["projects"], json!(["shop"]), "scope untouched");
    let (status, changed) = patch(
        &w,
        &format!("{MEMBERS}/dave@example.com"),
        &admin,
        json!({"projects": null}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["projects"], Value::Null);
    assert_eq!(changed["role"], "admin");
    assert_invalid(
        &patch(
            &w,
            &format!("{MEMBERS}/{dave}"),
            &admin,
            json!({"role": "owner", "extra": 1}),
        )
        .await,
        "extra",
    );
    let got = patch(
        &w,
        &format!("{MEMBERS}/erin@example.com"),
        &admin,
        json!({"role": "viewer"}),
    )
    .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(got.1["details"]["kind"], "member", "erin is not a member");

    // The owner role: admins neither demote nor remove an owner; the last owner stays.
    let got = patch(
        &w,
        &format!("{MEMBERS}/owner@acme.example"),
        &admin,
        json!({"role": "admin"}),
    )
    .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let got = w
        .delete(&format!("{MEMBERS}/owner@acme.example"), &admin)
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let got = patch(
        &w,
        &format!("{MEMBERS}/owner@acme.example"),
        &w.owner,
        json!({"role": "admin"}),
    )
    .await;
    assert_error(&got, StatusCode::CONFLICT, "CONFLICT");
    assert!(
        got.1["message"].as_str().unwrap().contains("last owner"),
        "{}",
        got.1
    );
    let got = w
        .delete(&format!("{MEMBERS}/owner@acme.example"), &w.owner)
        .await;
    assert_error(&got, StatusCode::CONFLICT, "CONFLICT");

    // Viewers and members manage nobody, but leave on their own.
    for token in [&w.viewer, &w.member] {
        let got = w.delete(&format!("{MEMBERS}/{dave}"), token).await;
        assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
        let got = patch(
            &w,
            &format!("{MEMBERS}/{dave}"),
            token,
            json!({"role": "viewer"}),
        )
        .await;
        assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    }
    let (status, _) = w
        .delete(&format!("{MEMBERS}/viewer@acme.example"), &w.viewer)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let got = w.get(MEMBERS, &w.viewer).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, _) = w.delete(&format!("{MEMBERS}/{dave}"), &admin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = w.get(MEMBERS, &w.owner).await;
    assert_eq!(
        emails_and_roles(&list),
        pairs(&[
            ("owner@acme.example", "owner"),
            ("member@acme.example", "member"),
            ("admin@acme.example", "admin"),
        ])
    );
}

#[tokio::test]
async fn ownership_moves_to_a_member_and_the_old_owner_may_then_leave() {
    let w = world().await;
    let admin = w.token_with_role("admin@acme.example", Role::Admin).await;
    let transfer = "/v1/orgs/acme/transfer-ownership";
    let got = w
        .post(transfer, &admin, json!({"to": "admin@acme.example"}))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let got = w
        .post(transfer, &w.owner, json!({"to": "boss@globex.example"}))
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(got.1["details"]["kind"], "member");
    assert_invalid(&w.post(transfer, &w.owner, json!({})).await, "to");
    assert_invalid(
        &w.post(transfer, &w.owner, json!({"to": "not an address"}))
            .await,
        "to",
    );
    let (status, new_owner) = w
        .post(transfer, &w.owner, json!({"to": "member@acme.example"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{new_owner}");
    assert_eq!(new_owner["email"], "member@acme.example");
    assert_eq!(new_owner["role"], "owner");
    let (_, list) = w.get(MEMBERS, &w.viewer).await;
    assert_eq!(
        emails_and_roles(&list),
        pairs(&[
            ("owner@acme.example", "admin"),
            ("member@acme.example", "owner"),
            ("viewer@acme.example", "viewer"),
            ("admin@acme.example", "admin"),
        ])
    );
    // The former owner is an admin now: no more owner-only operations.
    let got = w
        .call(
            Method::PATCH,
            "/v1/orgs/acme",
            Some(&w.owner),
            Some(json!({"display_name": "Mine"})),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let (status, _) = w
        .delete(&format!("{MEMBERS}/owner@acme.example"), &w.owner)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, org) = w
        .call(
            Method::PATCH,
            "/v1/orgs/acme",
            Some(&w.member),
            Some(json!({"display_name": "Acme, new owner"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{org}");
}

#[tokio::test]
async fn invitations_answer_without_the_token_which_only_the_mailer_gets() {
    let w = world().await;
    let invitee = w.token_for_new_user("dave@example.com").await;
    let (status, created) = w
        .post(
            INVITATIONS,
            &w.owner,
            json!({"email": "Dave@Example.com", "role": "member", "expires_in_days": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["email"], "dave@example.com");
    assert_eq!(created["role"], "member");
    let sent = w.mailer.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "dave@example.com");
    assert_eq!(sent[0].org, "acme");
    assert_eq!(sent[0].invited_by, "owner@acme.example");
    let token = w.mailed_token("dave@example.com");
    assert!(token.starts_with("caas_inv_"), "{token}");
    let keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "email",
            "expires_at",
            "id",
            "invited_by",
            "projects",
            "role"
        ],
        "neither the token nor its hash"
    );
    let days = chrono::DateTime::parse_from_rfc3339(created["expires_at"].as_str().unwrap())
        .unwrap()
        - chrono::DateTime::parse_from_rfc3339(created["created_at"].as_str().unwrap()).unwrap();
    assert_eq!(days.num_days(), 3);
    let (status, listed) = w.get(INVITATIONS, &w.owner).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed, json!([created]));
    assert!(!listed.to_string().contains(&token));

    // Twice the same address, or a member's, is a conflict.
    for email in ["dave@example.com", "member@acme.example"] {
        let got = w
            .post(
                INVITATIONS,
                &w.owner,
                json!({"email": email, "role": "viewer"}),
            )
            .await;
        assert_error(&got, StatusCode::CONFLICT, "CONFLICT");
    }
    assert_eq!(w.mailer.sent().len(), 1, "nothing else was mailed");

    // Only the invited address accepts, once.
    let accept = format!("/v1/invitations/{token}/accept");
    for other in [&w.viewer, &w.stranger, &w.admin] {
        let got = w.call(Method::POST, &accept, Some(other), None).await;
        assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    }
    let got = w.call(Method::POST, &accept, None, None).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let (status, member) = w.call(Method::POST, &accept, Some(&invitee), None).await;
    assert_eq!(status, StatusCode::OK, "{member}");
    assert_eq!(member["email"], "dave@example.com");
    assert_eq!(member["role"], "member");
    let got = w.call(Method::POST, &accept, Some(&invitee), None).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, services) = w.get(common::SERVICES, &invitee).await;
    assert_eq!(status, StatusCode::OK, "a member now: {services}");
    let (_, listed) = w.get(INVITATIONS, &w.owner).await;
    assert_eq!(listed, json!([]));
    let got = w
        .call(
            Method::POST,
            "/v1/invitations/caas_inv_madeup/accept",
            Some(&invitee),
            None,
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn invitations_are_declined_revoked_and_expire() {
    let w = world_with_manual_clock().await;
    let clock = w.clock.clone().unwrap();
    let erin = w.token_for_new_user("erin@example.com").await;
    let invite = |role: &'static str| json!({"email": "erin@example.com", "role": role});

    // Declined: used up, nobody joined.
    let (status, _) = w.post(INVITATIONS, &w.owner, invite("viewer")).await;
    assert_eq!(status, StatusCode::CREATED);
    let token = w.mailed_token("erin@example.com");
    let got = w
        .call(
            Method::POST,
            &format!("/v1/invitations/{token}/decline"),
            Some(&w.member),
            None,
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let (status, body) = w
        .call(
            Method::POST,
            &format!("/v1/invitations/{token}/decline"),
            Some(&erin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let got = w
        .call(
            Method::POST,
            &format!("/v1/invitations/{token}/accept"),
            Some(&erin),
            None,
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Revoked by an admin: the token stops working.
    let (status, created) = w.post(INVITATIONS, &w.owner, invite("member")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = w.mailed_token("erin@example.com");
    let id = created["id"].as_str().unwrap();
    let got = w.delete(&format!("{INVITATIONS}/{id}"), &w.member).await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let (status, _) = w.delete(&format!("{INVITATIONS}/{id}"), &w.owner).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let got = w.delete(&format!("{INVITATIONS}/{id}"), &w.owner).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let got = w
        .delete(&format!("{INVITATIONS}/not-an-id"), &w.owner)
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let got = w
        .call(
            Method::POST,
            &format!("/v1/invitations/{token}/accept"),
            Some(&erin),
            None,
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Expired: 409 once, and used up.
    let (status, _) = w
        .post(
            INVITATIONS,
            &w.owner,
            json!({"email": "erin@example.com", "role": "member", "expires_in_days": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = w.mailed_token("erin@example.com");
    clock.advance(chrono::Duration::hours(25));
    let accept = format!("/v1/invitations/{token}/accept");
    let got = w.call(Method::POST, &accept, Some(&erin), None).await;
    assert_error(&got, StatusCode::CONFLICT, "CONFLICT");
    assert!(
        got.1["message"].as_str().unwrap().contains("expired"),
        "{}",
        got.1
    );
    let got = w.call(Method::POST, &accept, Some(&erin), None).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let got = w.get(MEMBERS, &erin).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");

    // An expired invitation no longer blocks a new one.
    let (status, _) = w
        .post(
            INVITATIONS,
            &w.owner,
            json!({"email": "erin@example.com", "role": "member", "expires_in_days": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    clock.advance(chrono::Duration::days(2));
    let (status, created) = w.post(INVITATIONS, &w.owner, invite("viewer")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, listed) = w.get(INVITATIONS, &w.owner).await;
    assert_eq!(listed, json!([created]), "the expired one was replaced");
}

#[tokio::test]
async fn invitation_errors_name_the_field_and_roles_are_checked() {
    let w = world().await;
    for (body, field) in [
        (
            json!({"email": "not an address", "role": "viewer"}),
            "email",
        ),
        (
            json!({"email": "x@example.com", "role": "viewer", "expires_in_days": 31}),
            "expires_in_days",
        ),
        (
            json!({"email": "x@example.com", "role": "viewer", "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            json!({"email": "x@example.com", "role": "viewer", "expires_in_days": -1}),
            "expires_in_days",
        ),
        (json!({"email": "x@example.com", "role": "king"}), "role"),
        (json!({"email": "x@example.com"}), "role"),
        (
            json!({"email": "x@example.com", "role": "viewer", "token": "mine"}),
            "token",
        ),
    ] {
        assert_invalid(&w.post(INVITATIONS, &w.owner, body).await, field);
    }
    let admin = w.token_with_role("admin@acme.example", Role::Admin).await;
    let got = w
        .post(
            INVITATIONS,
            &admin,
            json!({"email": "x@example.com", "role": "owner"}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    for token in [&w.viewer, &w.member] {
        let got = w
            .post(
                INVITATIONS,
                token,
                json!({"email": "x@example.com", "role": "viewer"}),
            )
            .await;
        assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
        let got = w.get(INVITATIONS, token).await;
        assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    }
    assert!(w.mailer.sent().is_empty(), "{:?}", w.mailer.sent());
    let (status, created) = w
        .post(
            INVITATIONS,
            &w.owner,
            json!({"email": "x@example.com", "role": "owner"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

#[tokio::test]
async fn without_a_mailer_invitations_are_unsupported_and_nothing_is_kept() {
    let w = common::world_without_mailer().await;
    let got = w
        .post(
            INVITATIONS,
            &w.owner,
            json!({"email": "x@example.com", "role": "viewer"}),
        )
        .await;
    assert_error(&got, StatusCode::NOT_IMPLEMENTED, "UNSUPPORTED");
    assert!(
        got.1["message"].as_str().unwrap().contains("mailer"),
        "{}",
        got.1
    );
    let (status, listed) = w.get(INVITATIONS, &w.owner).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed, json!([]));
}

#[tokio::test]
async fn another_organizations_members_and_invitations_are_404() {
    let w = world().await;
    let globex_member = w.token_for_new_user("gina@globex.example").await;
    let (status, _) = w
        .post(
            "/v1/orgs/globex/members",
            &w.stranger,
            json!({"user": "gina@globex.example", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, theirs) = w
        .post(
            "/v1/orgs/globex/invitations",
            &w.stranger,
            json!({"email": "hank@example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    let their_invitation = theirs["id"].as_str().unwrap();

    // acme's owner on globex's paths: exactly the answers for an organization that does not
    // exist.
    let member_body = json!({"user": "owner@acme.example", "role": "viewer"});
    let invitation_body = json!({"email": "y@example.com", "role": "viewer"});
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/v1/orgs/{o}/members".into(), None),
        (
            Method::POST,
            "/v1/orgs/{o}/members".into(),
            Some(member_body.clone()),
        ),
        (
            Method::PATCH,
            "/v1/orgs/{o}/members/gina@globex.example".into(),
            Some(json!({"role": "admin"})),
        ),
        (
            Method::DELETE,
            "/v1/orgs/{o}/members/gina@globex.example".into(),
            None,
        ),
        (
            Method::POST,
            "/v1/orgs/{o}/transfer-ownership".into(),
            Some(json!({"to": "gina@globex.example"})),
        ),
        (Method::GET, "/v1/orgs/{o}/invitations".into(), None),
        (
            Method::POST,
            "/v1/orgs/{o}/invitations".into(),
            Some(invitation_body),
        ),
        (
            Method::DELETE,
            format!("/v1/orgs/{{o}}/invitations/{their_invitation}"),
            None,
        ),
    ];
    for (method, template, body) in &cases {
        let theirs = w
            .call(
                method.clone(),
                &template.replace("{o}", "globex"),
                Some(&w.owner),
                body.clone(),
            )
            .await;
        let missing = w
            .call(
                method.clone(),
                &template.replace("{o}", "nope"),
                Some(&w.owner),
                body.clone(),
            )
            .await;
        assert_error(&theirs, StatusCode::NOT_FOUND, "NOT_FOUND");
        assert_eq!(
            theirs.1["details"]["kind"], "organization",
            "{method} {template}"
        );
        assert_eq!(theirs.0, missing.0, "{method} {template}");
        assert_eq!(theirs.1["code"], missing.1["code"], "{method} {template}");
    }
    // globex's ids under acme's path: 404 as well.
    let got = w
        .delete(&format!("{INVITATIONS}/{their_invitation}"), &w.owner)
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(got.1["details"]["kind"], "invitation");
    let got = patch(
        &w,
        &format!("{MEMBERS}/gina@globex.example"),
        &w.owner,
        json!({"role": "admin"}),
    )
    .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let got = w
        .delete(&format!("{MEMBERS}/gina@globex.example"), &w.owner)
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Nothing of globex's changed.
    let (_, members) = w.get("/v1/orgs/globex/members", &globex_member).await;
    assert_eq!(
        emails_and_roles(&members),
        pairs(&[
            ("boss@globex.example", "owner"),
            ("gina@globex.example", "viewer"),
        ])
    );
    let (_, invitations) = w.get("/v1/orgs/globex/invitations", &w.stranger).await;
    assert_eq!(invitations.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_scoped_admin_cannot_widen_its_scope_or_grant_or_touch_anything_wider() {
    let w = world().await;
    w.deploy_web().await;
    let (status, _) = w
        .post("/v1/orgs/acme/projects", &w.owner, json!({"name": "side"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let scoped = w
        .token_with_scope("scoped@acme.example", Role::Admin, Some(&["shop"]))
        .await;
    w.token_with_role("wide@acme.example", Role::Admin).await;
    w.token_for_new_user("newbie@example.com").await;

    // Widening itself, by PATCH of its own membership.
    for body in [
        json!({"projects": null}),
        json!({"projects": ["shop", "side"]}),
        json!({"role": "owner"}),
    ] {
        let got = patch(
            &w,
            "/v1/orgs/acme/members/scoped@acme.example",
            &scoped,
            body.clone(),
        )
        .await;
        assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    }
    // Inviting or adding an organization-wide admin.
    let got = w
        .post(
            "/v1/orgs/acme/invitations",
            &scoped,
            json!({"email": "boss@example.com", "role": "admin"}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let got = w
        .post(
            "/v1/orgs/acme/members",
            &scoped,
            json!({"user": "newbie@example.com", "role": "admin"}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    // A project outside its scope is no project to it.
    let got = w
        .post(
            "/v1/orgs/acme/members",
            &scoped,
            json!({"user": "newbie@example.com", "role": "viewer", "projects": ["side"]}),
        )
        .await;
    assert_invalid(&got, "projects[0]");
    // Removing or demoting an organization-wide admin.
    let got = w
        .delete("/v1/orgs/acme/members/wide@acme.example", &scoped)
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let got = patch(
        &w,
        "/v1/orgs/acme/members/wide@acme.example",
        &scoped,
        json!({"role": "viewer"}),
    )
    .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    // Setting the organization's alert webhook.
    let got = w
        .put(
            "/v1/orgs/acme/alerts",
            &scoped,
            json!({"rules": [], "webhook": {"url": "https://attacker.example/hook", "secret": "0123456789abcdef"}}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    assert!(
        got.1["message"]
            .as_str()
            .unwrap()
            .contains("scoped to projects"),
        "{}",
        got.1
    );

    // Nothing changed: the members are as they were.
    let (_, members) = w.get("/v1/orgs/acme/members", &w.owner).await;
    let of = |email: &str| {
        members
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == email)
            .cloned()
            .unwrap()
    };
    assert_eq!(of("scoped@acme.example")["projects"], json!(["shop"]));
    assert_eq!(of("scoped@acme.example")["role"], "admin");
    assert_eq!(of("wide@acme.example")["role"], "admin");
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["email"] != "newbie@example.com")
    );
    let (_, alerts) = w.get("/v1/orgs/acme/alerts", &w.owner).await;
    assert!(alerts["settings"]["webhook"].is_null(), "{alerts}");

    // Within its scope it may grant up to its own role.
    let (status, added) = w
        .post(
            "/v1/orgs/acme/members",
            &scoped,
            json!({"user": "newbie@example.com", "role": "admin", "projects": ["shop"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["projects"], json!(["shop"]));
    let (status, inv) = w
        .post(
            "/v1/orgs/acme/invitations",
            &scoped,
            json!({"email": "helper@example.com", "role": "member", "projects": ["shop"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inv}");
    assert_eq!(inv["projects"].as_array().unwrap().len(), 1, "{inv}");
}
