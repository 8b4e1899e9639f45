//! Behaviours of invitations: found by id and by token hash, unique by both, listed per
//! organization in creation order, deleted once, and going with their organization.

use std::sync::Arc;

use caas_core::model::{Invitation, Organization, Role, User};
use caas_core::{InvitationId, OrgId, Store};

use super::{assert_already_exists, assert_not_found, ids, now, seed_org, seed_user, unique};

/// A random SHA-256-shaped hex digest (64 lowercase hex digits).
pub fn random_sha256() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// An invitation of a unique address to `org` with `role`, sent by `inviter`, valid for seven
/// days, with a random token hash (not stored).
pub fn invitation_of(org: &Organization, inviter: &User, role: Role) -> Invitation {
    let at = now();
    Invitation {
        id: InvitationId::new(),
        org: org.id,
        email: format!("{}@example.com", unique("invitee")),
        role,
        projects: None,
        token_sha256: random_sha256(),
        invited_by: inviter.id,
        expires_at: at + chrono::Duration::days(7),
        created_at: at,
    }
}

/// Records an invitation to `org` (see [`invitation_of`]).
pub async fn seed_invitation(
    store: &dyn Store,
    org: &Organization,
    inviter: &User,
    role: Role,
) -> Invitation {
    let invitation = invitation_of(org, inviter, role);
    store
        .create_invitation(&invitation)
        .await
        .expect("create_invitation");
    invitation
}

/// An invitation reads back with every field unchanged, by id, by token hash and in its
/// organization's list.
pub async fn invitations_roundtrip_with_every_field(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "inv").await;
    let inviter = seed_user(&*store, "inviter").await;
    let mut inv = invitation_of(&org, &inviter, Role::Admin);
    // Distinct, non-round times: a store that swaps or rounds them is caught.
    inv.created_at -= chrono::Duration::microseconds(1_234_567);
    inv.expires_at = inv.created_at + chrono::Duration::days(3) + chrono::Duration::microseconds(7);
    // A scope of two projects, in the order given.
    let (p1, p2) = (
        super::seed_project(&*store, &org, "b").await,
        super::seed_project(&*store, &org, "a").await,
    );
    inv.projects = Some(vec![p1.id, p2.id]);
    store.create_invitation(&inv).await.expect("create");

    assert_eq!(store.invitation(inv.id).await.expect("invitation"), inv);
    assert_eq!(
        store
            .invitation_by_hash_opt(&inv.token_sha256)
            .await
            .expect("invitation_by_hash_opt"),
        Some(inv.clone())
    );
    assert_eq!(
        store.list_invitations(org.id).await.expect("list"),
        vec![inv.clone()]
    );

    // No scope (every project) and an empty one are told apart.
    let mut none = invitation_of(&org, &inviter, Role::Viewer);
    none.projects = Some(Vec::new());
    store.create_invitation(&none).await.expect("create");
    assert_eq!(
        store
            .invitation(none.id)
            .await
            .expect("invitation")
            .projects,
        Some(Vec::new())
    );

    // Every role survives the trip.
    for role in [Role::Viewer, Role::Member, Role::Owner] {
        let other = seed_invitation(&*store, &org, &inviter, role).await;
        assert_eq!(
            store.invitation(other.id).await.expect("invitation").role,
            role
        );
    }
}

/// A second invitation with an existing id, or with an existing token hash, is refused with
/// `AlreadyExists` and stores nothing.
pub async fn invitation_ids_and_token_hashes_are_unique(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "inv-uniq").await;
    let other_org = seed_org(&*store, "inv-uniq2").await;
    let inviter = seed_user(&*store, "inviter").await;
    let first = seed_invitation(&*store, &org, &inviter, Role::Member).await;

    let same_id = Invitation {
        token_sha256: random_sha256(),
        email: format!("{}@example.com", unique("twin")),
        ..first.clone()
    };
    assert_already_exists(store.create_invitation(&same_id).await, "same id");
    assert_eq!(
        store
            .invitation_by_hash_opt(&same_id.token_sha256)
            .await
            .expect("by hash"),
        None,
        "the refused invitation's hash finds nothing"
    );

    // Token hashes are unique across organizations, not only within one.
    let same_hash = Invitation {
        token_sha256: first.token_sha256.clone(),
        ..invitation_of(&other_org, &inviter, Role::Viewer)
    };
    assert_already_exists(store.create_invitation(&same_hash).await, "same token hash");
    assert_not_found(
        store.invitation(same_hash.id).await,
        "invitation(refused same hash)",
    );

    assert_eq!(
        store.invitation(first.id).await.expect("first"),
        first,
        "the first invitation is untouched"
    );
    assert_eq!(
        store
            .invitation_by_hash_opt(&first.token_sha256)
            .await
            .expect("by hash"),
        Some(first.clone())
    );
    assert_eq!(
        store.list_invitations(org.id).await.expect("list"),
        vec![first]
    );
    assert!(
        store
            .list_invitations(other_org.id)
            .await
            .expect("list(other)")
            .is_empty()
    );
}

/// An invitation to an organization that does not exist is `NotFound` and stores nothing.
pub async fn create_invitation_requires_an_existing_org(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "inv-real").await;
    let inviter = seed_user(&*store, "inviter").await;
    let mut stray = invitation_of(&org, &inviter, Role::Member);
    stray.org = OrgId::new();
    assert_not_found(store.create_invitation(&stray).await, "missing org");
    assert_not_found(store.invitation(stray.id).await, "invitation(refused)");
    assert_eq!(
        store
            .invitation_by_hash_opt(&stray.token_sha256)
            .await
            .expect("by hash"),
        None
    );
}

/// `invitation_by_hash_opt` finds exactly the invitation of that hash, and nothing for a hash
/// no invitation has (nor for text that cannot be a hash at all).
pub async fn invitation_lookup_by_hash_finds_only_that_token(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "inv-hash").await;
    let inviter = seed_user(&*store, "inviter").await;
    let a = seed_invitation(&*store, &org, &inviter, Role::Member).await;
    let b = seed_invitation(&*store, &org, &inviter, Role::Viewer).await;
    for inv in [&a, &b] {
        assert_eq!(
            store
                .invitation_by_hash_opt(&inv.token_sha256)
                .await
                .expect("by hash"),
            Some(inv.clone())
        );
    }
    for missing in [
        random_sha256(),
        a.token_sha256.to_ascii_uppercase(),
        a.token_sha256[..63].to_string(),
        String::new(),
        "\0".to_string(),
    ] {
        assert_eq!(
            store
                .invitation_by_hash_opt(&missing)
                .await
                .unwrap_or_else(|e| panic!("by hash {missing:?}: {e:?}")),
            None,
            "hash {missing:?}"
        );
    }
}

/// An organization's invitations list oldest first (by id), whatever the insertion order, and
/// only its own.
pub async fn list_invitations_is_per_org_in_creation_order(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "inv-list").await;
    let other = seed_org(&*store, "inv-other").await;
    let empty = seed_org(&*store, "inv-empty").await;
    let inviter = seed_user(&*store, "inviter").await;

    let mut ours: Vec<Invitation> = (0..4)
        .map(|_| invitation_of(&org, &inviter, Role::Member))
        .collect();
    let theirs = invitation_of(&other, &inviter, Role::Admin);
    // Inserted newest first, with the other organization's in between.
    for (i, inv) in ours.iter().rev().enumerate() {
        store.create_invitation(inv).await.expect("create");
        if i == 1 {
            store
                .create_invitation(&theirs)
                .await
                .expect("create(other)");
        }
    }
    ours.sort_by_key(|i| i.id);

    assert_eq!(store.list_invitations(org.id).await.expect("list"), ours);
    assert_eq!(
        store.list_invitations(other.id).await.expect("list(other)"),
        vec![theirs]
    );
    assert!(
        store
            .list_invitations(empty.id)
            .await
            .expect("list(empty)")
            .is_empty()
    );
    assert!(
        store
            .list_invitations(OrgId::new())
            .await
            .expect("list(missing org)")
            .is_empty()
    );
}

/// A deleted invitation is gone by id, by hash and from the list; deleting it again, or an id
/// that never existed, is `NotFound`; its token hash is free again.
pub async fn deleted_invitation_is_not_found(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "inv-del").await;
    let inviter = seed_user(&*store, "inviter").await;
    let gone = seed_invitation(&*store, &org, &inviter, Role::Member).await;
    let kept = seed_invitation(&*store, &org, &inviter, Role::Viewer).await;

    store.delete_invitation(gone.id).await.expect("delete");
    assert_not_found(store.invitation(gone.id).await, "invitation(deleted)");
    assert_eq!(
        store
            .invitation_by_hash_opt(&gone.token_sha256)
            .await
            .expect("by hash"),
        None
    );
    assert_eq!(
        ids(&store.list_invitations(org.id).await.expect("list"), |i| i
            .id),
        vec![kept.id]
    );
    assert_not_found(store.delete_invitation(gone.id).await, "delete(again)");
    assert_not_found(
        store.delete_invitation(InvitationId::new()).await,
        "delete(never existed)",
    );
    assert_not_found(
        store.invitation(InvitationId::new()).await,
        "invitation(never existed)",
    );

    let reissued = Invitation {
        id: InvitationId::new(),
        ..gone.clone()
    };
    store
        .create_invitation(&reissued)
        .await
        .expect("the deleted invitation's hash can be used again");
    assert_eq!(
        store
            .invitation_by_hash_opt(&gone.token_sha256)
            .await
            .expect("by hash"),
        Some(reissued)
    );
}

/// Deleting an organization deletes its invitations and no other organization's.
pub async fn deleting_an_org_removes_its_invitations(store: Arc<dyn Store>) {
    let doomed = seed_org(&*store, "inv-doomed").await;
    let neighbour = seed_org(&*store, "inv-neighbour").await;
    let inviter = seed_user(&*store, "inviter").await;
    let a = seed_invitation(&*store, &doomed, &inviter, Role::Owner).await;
    let b = seed_invitation(&*store, &doomed, &inviter, Role::Member).await;
    let kept = seed_invitation(&*store, &neighbour, &inviter, Role::Member).await;

    store.delete_org(doomed.id).await.expect("delete_org");

    for inv in [&a, &b] {
        assert_not_found(store.invitation(inv.id).await, "invitation(of deleted org)");
        assert_eq!(
            store
                .invitation_by_hash_opt(&inv.token_sha256)
                .await
                .expect("by hash"),
            None
        );
        assert_not_found(
            store.delete_invitation(inv.id).await,
            "delete_invitation(of deleted org)",
        );
    }
    assert!(
        store
            .list_invitations(doomed.id)
            .await
            .expect("list(deleted org)")
            .is_empty()
    );
    assert_eq!(
        store
            .list_invitations(neighbour.id)
            .await
            .expect("list(neighbour)"),
        vec![kept.clone()]
    );
    assert_eq!(store.invitation(kept.id).await.expect("kept"), kept);
    assert_eq!(
        store.user(inviter.id).await.expect("the inviter survives"),
        inviter
    );
}
