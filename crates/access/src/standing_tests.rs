use std::time::Duration;

use gatehouse_domain::{Permission, RoleName, Username};
use gatehouse_store::Store;
use secrecy::{ExposeSecret, SecretString};

use crate::*;

async fn access(ttl: Duration) -> (tempfile::TempDir, Access, Principal) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).await.unwrap();
    let secrets = SecretBox::load_or_create(&dir.path().join("secret.key")).unwrap();
    let access = Access::new(store, secrets, ttl);
    access
        .bootstrap_admin(Some(pw("admin-password")))
        .await
        .unwrap();
    let (_, admin) = access
        .login("admin", pw("admin-password"), "t")
        .await
        .unwrap();
    (dir, access, admin)
}

fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn role(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

/// Creates `name` with `roles`, logs in, and watches that login.
async fn watched(
    access: &Access,
    name: &str,
    roles: &[&str],
    need: Option<Permission>,
) -> (Principal, Standing) {
    access
        .create_user(
            Username::parse(name).unwrap(),
            pw("a-good-password"),
            roles.iter().map(|r| role(r)).collect(),
        )
        .await
        .unwrap();
    let (token, who) = access
        .login(name, pw("a-good-password"), "t")
        .await
        .unwrap();
    let standing = access.standing(token, who.user_id, need);
    (who, standing)
}

async fn soon(standing: &mut Standing) -> Result<Principal, Lost> {
    tokio::time::timeout(Duration::from_secs(5), standing.recheck())
        .await
        .expect("the standing was looked at again in time")
}

#[tokio::test]
async fn a_standing_is_lost_with_the_login_the_account_or_the_permission() {
    let (_dir, access, admin) = access(Duration::from_secs(3600)).await;

    let (who, mut watch) = watched(
        &access,
        "aud1",
        &["auditor"],
        Some(Permission::SessionsWatch),
    )
    .await;
    assert_eq!(
        soon(&mut watch).await,
        Ok(who.clone()),
        "the first look is at once"
    );
    let idle = tokio::time::timeout(Duration::from_millis(200), watch.recheck()).await;
    assert!(idle.is_err(), "nothing changed, so nothing to look at");
    let roles = UserUpdate {
        roles: Some(vec![role("user")]),
        ..UserUpdate::default()
    };
    access
        .update_user(&admin, who.user_id, roles)
        .await
        .unwrap();
    assert_eq!(
        soon(&mut watch).await,
        Err(Lost::Permission(Permission::SessionsWatch))
    );

    let (who, mut locked) = watched(&access, "ops1", &["user"], None).await;
    let (_, mut bystander) = watched(&access, "ops2", &["user"], None).await;
    soon(&mut locked).await.unwrap();
    soon(&mut bystander).await.unwrap();
    let lock = UserUpdate {
        disabled: Some(true),
        ..UserUpdate::default()
    };
    access.update_user(&admin, who.user_id, lock).await.unwrap();
    assert_eq!(soon(&mut locked).await, Err(Lost::Locked));
    let untouched = tokio::time::timeout(Duration::from_millis(200), bystander.recheck()).await;
    assert!(
        untouched.is_err(),
        "another account's lock is not looked at"
    );

    let (who, mut deleted) = watched(&access, "ops3", &["user"], None).await;
    soon(&mut deleted).await.unwrap();
    access.delete_user(&admin, who.user_id).await.unwrap();
    assert_eq!(soon(&mut deleted).await, Err(Lost::Deleted));

    access
        .create_user(
            Username::parse("ops4").unwrap(),
            pw("a-good-password"),
            vec![role("user")],
        )
        .await
        .unwrap();
    let (token, who) = access
        .login("ops4", pw("a-good-password"), "t")
        .await
        .unwrap();
    let mut out = access.standing(
        SecretString::from(token.expose_secret().to_owned()),
        who.user_id,
        None,
    );
    soon(&mut out).await.unwrap();
    access.logout(token.expose_secret()).await.unwrap();
    assert_eq!(soon(&mut out).await, Err(Lost::LoggedOut));
}

#[tokio::test]
async fn a_standing_is_lost_when_its_token_expires() {
    let (_dir, access, _) = access(Duration::from_secs(1)).await;
    let (_, mut watch) = watched(&access, "ops1", &["user"], None).await;
    soon(&mut watch).await.unwrap();
    assert_eq!(
        soon(&mut watch).await,
        Err(Lost::Expired),
        "no change needed: the expiry is a timer"
    );
}
