//! User administration on the in-memory backends: the administrators' paged and searched
//! list, look-ups by address or id, who-am-I with memberships, and API tokens' validity.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use caas_core::memory::{InMemoryRuntime, InMemoryStore};
use caas_core::model::{NewOrganization, NewUser, Role};
use caas_core::platform::AdminUserFilter;
use caas_core::{Error, Platform, Principal};

async fn platform() -> (Platform, Principal) {
    let platform = Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(Arc::new(InMemoryRuntime::new()))
        .build()
        .expect("platform");
    let admin = platform
        .users()
        .ensure_platform_admin("root@example.com")
        .await
        .expect("admin");
    let admin = platform.principal_for(admin.id).await.expect("principal");
    (platform, admin)
}

#[tokio::test]
async fn administrators_page_through_users_by_address_and_search_them() {
    let (platform, admin) = platform().await;
    for email in [
        "carol@example.com",
        "alice@example.com",
        "bob@other.example",
    ] {
        platform
            .users()
            .create(&admin, NewUser::new(email))
            .await
            .expect("create_user");
    }
    let page = platform
        .users()
        .list(&admin, &AdminUserFilter::default().page(2, 0))
        .await
        .expect("first page");
    let emails: Vec<_> = page.items.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(emails, ["alice@example.com", "bob@other.example"]);
    assert!(page.more);
    let page = platform
        .users()
        .list(&admin, &AdminUserFilter::default().page(2, 2))
        .await
        .expect("second page");
    let emails: Vec<_> = page.items.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(emails, ["carol@example.com", "root@example.com"]);
    assert!(!page.more, "exactly the last page");
    // The largest page still tells whether another follows.
    for i in 0..500 {
        platform
            .users()
            .create(&admin, NewUser::new(format!("u{i:03}@many.example")))
            .await
            .expect("create_user");
    }
    let page = platform
        .users()
        .list(
            &admin,
            &AdminUserFilter::default().search("many").page(500, 0),
        )
        .await
        .expect("a full page");
    assert_eq!(page.items.len(), 500);
    assert!(!page.more, "exactly 500");
    let page = platform
        .users()
        .list(&admin, &AdminUserFilter::default().page(500, 0))
        .await
        .expect("a full page");
    assert!(page.more, "504 users");
    let page = platform
        .users()
        .list(&admin, &AdminUserFilter::default().page(500, u32::MAX))
        .await
        .expect("far past the end");
    assert!(page.items.is_empty() && !page.more);
    let found = platform
        .users()
        .list(&admin, &AdminUserFilter::default().search("OTHER"))
        .await
        .expect("search");
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].email, "bob@other.example");

    let bad = platform
        .users()
        .list(&admin, &AdminUserFilter::default().page(0, 0))
        .await
        .unwrap_err();
    assert!(
        matches!(&bad, Error::InvalidInput { field, .. } if field == "limit"),
        "{bad}"
    );
    let bad = platform
        .users()
        .list(&admin, &AdminUserFilter::default().search("x".repeat(101)))
        .await
        .unwrap_err();
    assert!(
        matches!(&bad, Error::InvalidInput { field, .. } if field == "search"),
        "{bad}"
    );
}

#[tokio::test]
async fn only_administrators_list_and_look_up_users_but_everyone_knows_themselves() {
    let (platform, admin) = platform().await;
    let bob = platform
        .users()
        .create(&admin, NewUser::new("bob@example.com"))
        .await
        .expect("create_user");
    let org = platform
        .orgs()
        .create(&admin, NewOrganization::new("acme"), Some(bob.id))
        .await
        .expect("create_org");
    let who = platform.principal_for(bob.id).await.expect("principal");

    let denied = platform
        .users()
        .list(&who, &AdminUserFilter::default())
        .await
        .unwrap_err();
    assert!(denied.is_permission_denied(), "{denied}");
    // Refused before the look-up: the answer does not tell which addresses exist.
    for user in ["bob@example.com", "nobody@example.com", "not an address"] {
        let denied = platform.users().get(&who, user).await.unwrap_err();
        assert!(denied.is_permission_denied(), "{user}: {denied}");
    }
    assert_eq!(
        platform
            .users()
            .get(&admin, "BOB@example.com")
            .await
            .expect("by address"),
        bob
    );
    assert_eq!(
        platform
            .users()
            .get(&admin, &bob.id.to_string())
            .await
            .expect("by id"),
        bob
    );
    assert!(
        platform
            .users()
            .get(&admin, "nobody@example.com")
            .await
            .unwrap_err()
            .is_not_found()
    );

    let me = platform.users().me(&who).await.expect("me");
    assert_eq!(me.user, bob);
    assert_eq!(me.memberships.len(), 1);
    assert_eq!(me.memberships[0].org, org.slug.as_str());
    assert_eq!(me.memberships[0].role, Role::Owner);
    assert_eq!(me.memberships[0].projects, None);
    let mine = platform
        .users()
        .me(&admin)
        .await
        .expect("admin's own account");
    assert!(mine.user.platform_admin);
    assert!(mine.memberships.is_empty());
}

#[tokio::test]
async fn a_token_is_valid_for_a_positive_time_that_a_calendar_can_hold() {
    let (platform, admin) = platform().await;
    for (valid_for, ok) in [
        (chrono::Duration::days(1), true),
        (chrono::Duration::zero(), false),
        (chrono::Duration::seconds(-1), false),
        (chrono::Duration::MAX, false),
    ] {
        let got = platform
            .tokens()
            .create(
                &admin,
                None,
                caas_core::platform::NewApiToken::new("ci").valid_for(valid_for),
            )
            .await;
        match got {
            Ok((token, _)) => {
                assert!(ok, "{valid_for} was accepted");
                assert!(token.expires_at.is_some());
            }
            Err(e) => {
                assert!(!ok, "{valid_for}: {e}");
                assert!(
                    matches!(&e, Error::InvalidInput { field, .. } if field == "valid_for"),
                    "{e}"
                );
            }
        }
    }
    let tokens = platform.tokens().list(&admin).await.unwrap();
    assert_eq!(tokens.len(), 1, "refused tokens are not stored: {tokens:?}");
}
