use std::time::Duration;

use gatehouse_domain::{
    ConnectionName, HttpTarget, Injection, RoleName, SshAuth, SshTarget, Target, Username,
};
use gatehouse_store::Store;
use secrecy::{ExposeSecret, SecretString};

use crate::*;

fn ssh_target() -> Target {
    Target::Ssh(SshTarget {
        host: "127.0.0.1".into(),
        port: 22,
        username: "root".into(),
        auth: SshAuth::Password,
        host_key: None,
        host_key_source: None,
        allow_forwarding: false,
    })
}

fn app(url: &str) -> Target {
    Target::Http(HttpTarget {
        url: url.into(),
        tls_verify: true,
        ca_certificate: None,
        host_header: Default::default(),
        publish: Default::default(),
        redact_query: false,
        inject: None,
        identity_header: None,
    })
}

#[test]
fn web_application_urls_are_checked_before_they_are_stored() {
    for good in [
        "http://10.0.0.7:3000",
        "https://grafana.internal",
        "http://[::1]:8080/base/",
    ] {
        assert_eq!(check_target(&app(good)), Ok(()), "{good}");
    }
    for bad in [
        "ftp://x",
        "http://",
        "http://user:pw@host",
        "http://host/?q=1",
        "http://host:0",
        "http://host:99999",
        "http://ho st",
        "grafana:3000",
    ] {
        assert!(check_target(&app(bad)).is_err(), "{bad}");
    }
    let Target::Http(mut injected) = app("http://x") else {
        unreachable!()
    };
    injected.inject = Some(Injection::Header {
        name: "X-Api Key".into(),
    });
    assert!(check_target(&Target::Http(injected)).is_err());
}

async fn access() -> (tempfile::TempDir, Access) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).await.unwrap();
    let secrets = SecretBox::load_or_create(&dir.path().join("secret.key")).unwrap();
    (dir, Access::new(store, secrets, Duration::from_secs(3600)))
}

/// The first administrator, created and logged in.
async fn signed_in_admin(access: &Access) -> Principal {
    access
        .bootstrap_admin(Some(pw("admin-password")))
        .await
        .unwrap();
    let (_, admin) = access
        .login("admin", pw("admin-password"), "test")
        .await
        .unwrap();
    admin
}

fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

#[test]
fn sealed_secrets_open_only_under_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let a = SecretBox::load_or_create(&dir.path().join("a")).unwrap();
    let again = SecretBox::load_or_create(&dir.path().join("a")).unwrap();
    let b = SecretBox::load_or_create(&dir.path().join("b")).unwrap();
    let sealed = a.seal(b"hunter2");
    assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
    assert_eq!(again.open(&sealed).unwrap(), b"hunter2");
    assert!(b.open(&sealed).is_none());
    assert!(a.open(&sealed[..5]).is_none());
    assert!(SecretBox::from_base64("c2hvcnQ=").is_err());
}

#[test]
fn fingerprints_match_ssh_keygen() {
    // `ssh-keygen -lf` of this key prints SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU.
    let key =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test";
    assert_eq!(
        fingerprint(key).unwrap(),
        "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"
    );
    assert!(fingerprint("garbage").is_none());
}

#[tokio::test]
async fn login_yields_a_token_that_authenticates_until_logout() {
    let (_dir, access) = access().await;
    let first = access
        .bootstrap_admin(Some(pw("correct horse")))
        .await
        .unwrap();
    assert_eq!(first.unwrap().expose_secret(), "correct horse");
    assert!(
        access.bootstrap_admin(None).await.unwrap().is_none(),
        "only on first start"
    );

    assert!(matches!(
        access.login("admin", pw("wrong password"), "test").await,
        Err(AccessError::BadCredentials)
    ));
    assert!(matches!(
        access.login("nobody", pw("correct horse"), "test").await,
        Err(AccessError::BadCredentials)
    ));
    let (token, who) = access
        .login("ADMIN", pw("correct horse"), "test")
        .await
        .unwrap();
    assert!(who.has(gatehouse_domain::Permission::UsersManage));
    assert_eq!(
        access.authenticate(token.expose_secret()).await.unwrap(),
        who
    );
    assert!(access.logout(token.expose_secret()).await.unwrap());
    assert!(matches!(
        access.authenticate(token.expose_secret()).await,
        Err(AccessError::Unauthenticated)
    ));
}

#[tokio::test]
async fn short_passwords_are_refused() {
    let (_dir, access) = access().await;
    let err = access
        .create_user(Username::parse("ops1").unwrap(), pw("short"), vec![])
        .await
        .unwrap_err();
    assert!(matches!(err, AccessError::Invalid(_)));
}

#[tokio::test]
async fn only_granted_users_get_a_connections_opened_secret() {
    let (_dir, access) = access().await;
    let admin = signed_in_admin(&access).await;
    let user = |n: &str| Username::parse(n).unwrap();
    let role = |n: &str| RoleName::parse(n).unwrap();
    access
        .create_user(user("ops1"), pw("ops1-password"), vec![role("user")])
        .await
        .unwrap();
    access
        .create_user(user("dev2"), pw("dev2-password"), vec![role("user")])
        .await
        .unwrap();
    let (_, ops1) = access
        .login("ops1", pw("ops1-password"), "test")
        .await
        .unwrap();
    let (_, dev2) = access
        .login("dev2", pw("dev2-password"), "test")
        .await
        .unwrap();

    let request = || NewConnectionRequest {
        name: ConnectionName::parse("prod-db").unwrap(),
        target: ssh_target(),
        secret: Some(pw("target-secret")),
        users: vec![user("ops1")],
        roles: vec![],
    };
    assert!(matches!(
        access.create_connection(&ops1, request()).await,
        Err(AccessError::Forbidden(_))
    ));
    let conn = access.create_connection(&admin, request()).await.unwrap();
    assert!(matches!(
        access.create_connection(&admin, request()).await,
        Err(AccessError::Conflict(_))
    ));

    let spec = access.target_for(&ops1, conn.id).await.unwrap();
    assert_eq!(
        spec.secret.as_ref().map(|p| p.expose_secret()),
        Some("target-secret")
    );
    assert!(matches!(
        access.target_for(&dev2, conn.id).await,
        Err(AccessError::Forbidden(_))
    ));
    let shown = access.connection_info(&ops1, &conn).await.unwrap();
    let json = serde_json::to_string(&shown).unwrap();
    assert!(
        !json.contains("target-secret") && !json.contains("root"),
        "{json}"
    );
}

#[tokio::test]
async fn user_updates_need_users_manage_end_logins_and_keep_an_admin() {
    let (_dir, access) = access().await;
    let admin = signed_in_admin(&access).await;
    let ops = access
        .create_user(
            Username::parse("ops1").unwrap(),
            pw("ops1-password"),
            vec![RoleName::parse("user").unwrap()],
        )
        .await
        .unwrap();
    let (token, ops_principal) = access
        .login("ops1", pw("ops1-password"), "test")
        .await
        .unwrap();

    let disable = || UserUpdate {
        disabled: Some(true),
        ..Default::default()
    };
    assert!(matches!(
        access
            .update_user(&ops_principal, admin.user_id, disable())
            .await,
        Err(AccessError::Forbidden(_))
    ));
    assert!(matches!(
        access.update_user(&admin, admin.user_id, disable()).await,
        Err(AccessError::Invalid(_))
    ));
    let demote = UserUpdate {
        roles: Some(vec![]),
        ..Default::default()
    };
    assert!(matches!(
        access.update_user(&admin, admin.user_id, demote).await,
        Err(AccessError::Invalid(_))
    ));

    let changed = access
        .update_user(
            &admin,
            ops.id,
            UserUpdate {
                password: Some(pw("a-new-password")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_ne!(changed.password_hash, ops.password_hash);
    assert!(matches!(
        access.authenticate(token.expose_secret()).await,
        Err(AccessError::Unauthenticated)
    ));
    assert!(
        access
            .login("ops1", pw("a-new-password"), "test")
            .await
            .is_ok()
    );
    let short = UserUpdate {
        password: Some(pw("short")),
        ..Default::default()
    };
    assert!(matches!(
        access.update_user(&admin, ops.id, short).await,
        Err(AccessError::Invalid(_))
    ));
    assert!(matches!(
        access
            .update_user(&admin, gatehouse_domain::UserId::new(), disable())
            .await,
        Err(AccessError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_locked_user_with_the_right_password_is_told_so_and_a_guesser_is_not() {
    let (_dir, access) = access().await;
    let admin = signed_in_admin(&access).await;
    let ops = access
        .create_user(
            Username::parse("ops1").unwrap(),
            pw("ops1-password"),
            vec![RoleName::parse("user").unwrap()],
        )
        .await
        .unwrap();
    let (token, _) = access
        .login("ops1", pw("ops1-password"), "test")
        .await
        .unwrap();
    let lock = |locked| UserUpdate {
        disabled: Some(locked),
        ..Default::default()
    };
    access
        .update_user(&admin, ops.id, lock(true))
        .await
        .unwrap();

    assert!(matches!(
        access.authenticate(token.expose_secret()).await,
        Err(AccessError::Unauthenticated)
    ));
    assert!(matches!(
        access.login("ops1", pw("ops1-password"), "test").await,
        Err(AccessError::AccountLocked)
    ));
    assert!(matches!(
        access.login("ops1", pw("a-wrong-guess"), "test").await,
        Err(AccessError::BadCredentials)
    ));
    access
        .update_user(&admin, ops.id, lock(false))
        .await
        .unwrap();
    assert!(
        access
            .login("ops1", pw("ops1-password"), "test")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn deleting_a_user_needs_users_manage_and_keeps_an_admin() {
    let (_dir, access) = access().await;
    let admin = signed_in_admin(&access).await;
    let ops = access
        .create_user(
            Username::parse("ops1").unwrap(),
            pw("ops1-password"),
            vec![RoleName::parse("user").unwrap()],
        )
        .await
        .unwrap();
    let (token, ops_principal) = access
        .login("ops1", pw("ops1-password"), "test")
        .await
        .unwrap();

    assert!(matches!(
        access.delete_user(&ops_principal, admin.user_id).await,
        Err(AccessError::Forbidden(_))
    ));
    assert!(matches!(
        access.delete_user(&admin, admin.user_id).await,
        Err(AccessError::Invalid(_))
    ));
    let deleted = access.delete_user(&admin, ops.id).await.unwrap();
    assert_eq!(deleted.username.as_str(), "ops1");
    assert!(matches!(
        access.authenticate(token.expose_secret()).await,
        Err(AccessError::Unauthenticated)
    ));
    assert!(matches!(
        access.login("ops1", pw("ops1-password"), "test").await,
        Err(AccessError::BadCredentials)
    ));
    assert!(matches!(
        access.delete_user(&admin, ops.id).await,
        Err(AccessError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_registered_key_logs_in_only_its_owner_and_not_once_they_are_locked() {
    let (_dir, access) = access().await;
    let admin = signed_in_admin(&access).await;
    let user = |name: &str| {
        access.create_user(
            Username::parse(name).unwrap(),
            pw(&format!("{name}-password")),
            vec![RoleName::parse("user").unwrap()],
        )
    };
    let ops = user("ops1").await.unwrap();
    user("dev2").await.unwrap();
    let ops_principal = access
        .password_principal("ops1", pw("ops1-password"), "test")
        .await
        .unwrap();
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    let fp = "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU";
    let added = access
        .add_ssh_key(&ops_principal, "laptop", key)
        .await
        .unwrap();
    assert_eq!(added.fingerprint, fp);
    // A key identifies one person: nobody registers it twice.
    assert!(matches!(
        access.add_ssh_key(&admin, "stolen", key).await,
        Err(AccessError::Conflict(_))
    ));
    assert!(matches!(
        access.add_ssh_key(&ops_principal, " ", key).await,
        Err(AccessError::Invalid(_))
    ));

    let who = access.key_principal("ops1", fp, "10.0.0.1").await.unwrap();
    assert_eq!(who.user_id, ops.id);
    assert!(matches!(
        access.key_principal("dev2", fp, "10.0.0.1").await,
        Err(AccessError::BadCredentials)
    ));
    assert!(matches!(
        access
            .key_principal("ops1", "SHA256:unknown", "10.0.0.1")
            .await,
        Err(AccessError::BadCredentials)
    ));
    assert!(
        access.ssh_keys(&ops_principal).await.unwrap()[0]
            .last_used_at
            .is_some()
    );

    let lock = UserUpdate {
        disabled: Some(true),
        ..Default::default()
    };
    access.update_user(&admin, ops.id, lock).await.unwrap();
    assert!(matches!(
        access.key_principal("ops1", fp, "10.0.0.1").await,
        Err(AccessError::AccountLocked)
    ));

    // Only the owner removes it.
    let dev = access
        .password_principal("dev2", pw("dev2-password"), "test")
        .await
        .unwrap();
    assert!(matches!(
        access.remove_ssh_key(&dev, added.id).await,
        Err(AccessError::NotFound(_))
    ));
    access
        .remove_ssh_key(&ops_principal, added.id)
        .await
        .unwrap();
    assert!(access.ssh_keys(&ops_principal).await.unwrap().is_empty());
}

#[tokio::test]
async fn five_wrong_passwords_make_the_next_attempt_wait_even_with_the_right_one() {
    let (_dir, access) = access().await;
    access
        .bootstrap_admin(Some(pw("admin-password")))
        .await
        .unwrap();
    for _ in 0..5 {
        assert!(matches!(
            access.login("admin", pw("a wrong guess"), "10.0.0.9").await,
            Err(AccessError::BadCredentials)
        ));
    }
    assert!(matches!(
        access
            .login("admin", pw("admin-password"), "10.0.0.9")
            .await,
        Err(AccessError::Throttled(_))
    ));
    assert!(matches!(
        access
            .password_principal("admin", pw("admin-password"), "10.0.0.9")
            .await,
        Err(AccessError::Throttled(_))
    ));
    // The person at another address is not locked out by the guesser.
    assert!(
        access
            .login("admin", pw("admin-password"), "10.0.0.1")
            .await
            .is_ok()
    );
}

/// Padding or case gave each spelling of a name a fresh budget, and the
/// padded name with the right password logged in (issue 16).
#[tokio::test]
async fn a_padded_or_recased_name_shares_the_names_budget_of_failures() {
    let (_dir, access) = access().await;
    access
        .bootstrap_admin(Some(pw("admin-password")))
        .await
        .unwrap();
    for name in ["admin", " admin", "admin\u{3000}", "ADMIN", "\tAdmin "] {
        assert!(matches!(
            access.login(name, pw("a wrong guess"), "10.0.0.9").await,
            Err(AccessError::BadCredentials)
        ));
    }
    for name in ["admin", " admin", "admin\u{3000}"] {
        assert!(matches!(
            access.login(name, pw("admin-password"), "10.0.0.9").await,
            Err(AccessError::Throttled(_))
        ));
    }
}
