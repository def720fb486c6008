//! Every operation in the gateway's OpenAPI document enforces its
//! permission on the server. The table below gives, for each operation, the
//! status an administrator, an auditor, a plain user and nobody-logged-in
//! get, called on real resources. The test reads the operations from the
//! running gateway's `/api/v1/openapi.json` and fails for any operation
//! without a row, so a new endpoint cannot ship unchecked.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::{Sshd, Terminal, TestGateway, eventually};
use crate::watching::Watch;

/// Who calls, in the order of every row's expected statuses.
const CALLERS: [&str; 4] = ["admin", "auditor", "user", "anonymous"];

/// One way of calling one operation, and what each caller must get.
struct Row {
    /// The operation, as the OpenAPI document names it.
    method: Method,
    template: &'static str,
    /// Which resource this row calls it on, where an operation has several rows.
    on: &'static str,
    /// The status for admin, auditor, user and anonymous.
    expect: [u16; 4],
    /// Each caller's path (under `/api/v1`) and body: fresh resources where
    /// a first success would otherwise hide a later refusal.
    paths: [String; 4],
    bodies: [Option<Value>; 4],
    /// Tokens other than the callers' usual ones (fresh ones for logout).
    tokens: Option<[Option<String>; 4]>,
}

impl Row {
    fn new(method: Method, template: &'static str, expect: [u16; 4]) -> Row {
        Row {
            method,
            template,
            on: "",
            expect,
            paths: [(); 4].map(|_| template.to_owned()),
            bodies: [None, None, None, None],
            tokens: None,
        }
    }

    fn on(mut self, what: &'static str) -> Row {
        self.on = what;
        self
    }

    fn at(mut self, path: impl Into<String>) -> Row {
        let path = path.into();
        self.paths = [(); 4].map(|_| path.clone());
        self
    }

    /// Each caller on its own resource.
    fn each_at(mut self, path: impl Fn(usize) -> String) -> Row {
        self.paths = [0, 1, 2, 3].map(path);
        self
    }

    fn body(mut self, body: Value) -> Row {
        self.bodies = [(); 4].map(|_| Some(body.clone()));
        self
    }

    /// Each caller with its own body.
    fn each_body(mut self, body: impl Fn(usize) -> Value) -> Row {
        self.bodies = [0, 1, 2, 3].map(|i| Some(body(i)));
        self
    }

    fn with_tokens(mut self, tokens: [Option<String>; 4]) -> Row {
        self.tokens = Some(tokens);
        self
    }

    fn operation(&self) -> (String, String) {
        (self.method.to_string(), self.template.to_owned())
    }
}

/// How an operation is spoken to, as its OpenAPI description says.
#[derive(Clone, Copy)]
enum Kind {
    Plain,
    /// A WebSocket (its success is `101`): called as a real upgrade.
    Upgrade,
    /// Server-Sent Events: the status is checked, the endless body is not read.
    Stream,
}

#[tokio::test]
async fn every_operation_in_the_openapi_document_enforces_its_permission_for_every_role() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let auditor = gw.user(&admin, "eve", "auditor").await;
    let user = gw.user(&admin, "ops1", "user").await;
    let kim = gw.user(&admin, "kim", "user").await;
    gw.user(&admin, "lee", "user").await;
    let callers = [
        Some(admin.clone()),
        Some(auditor.clone()),
        Some(user.clone()),
        None,
    ];
    let shell = gw
        .ssh_connection(&admin, &sshd, "shell", &["admin", "eve", "ops1", "kim"])
        .await;
    let vault = gw.ssh_connection(&admin, &sshd, "vault", &[]).await;
    let port = gw
        .connection(
            &admin,
            json!({ "name": "port", "protocol": "tcp", "host": "127.0.0.1", "port": sshd.port,
                    "users": ["admin", "eve", "ops1", "kim"] }),
        )
        .await;
    // Nothing listens there: opening it upgrades, then the dial fails.
    let screen = gw
        .connection(
            &admin,
            json!({ "name": "screen", "protocol": "vnc", "host": "127.0.0.1", "port": 1,
                    "password": "vnc-pw", "users": ["admin", "eve", "ops1", "kim"] }),
        )
        .await;

    // An ended session of ops1's with a recording.
    let mut recorded = Terminal::open(&gw, &user, &shell).await;
    recorded.run("echo recorded-$((6*7)); exit").await;
    recorded.ended().await;
    gw.recordings_complete().await;
    let recorded = recorded.session_id;
    // Live sessions: ops1's (shared with eve, watched by the administrator
    // once per caller so each caller removes a participant of its own),
    // another of kim's, and one of kim's per caller to end.
    let ops_term = Terminal::open(&gw, &user, &shell).await;
    let ops_session = ops_term.session_id.clone();
    let (status, body) = gw
        .post(
            Some(&user),
            &format!("/sessions/{ops_session}/share"),
            json!({ "user": "eve", "mode": "observer" }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    // Invitations to withdraw: one for the administrator, one for the owner.
    for invitee in ["kim", "lee"] {
        let invite = json!({ "user": invitee, "mode": "observer" });
        let path = format!("/sessions/{ops_session}/share");
        assert_eq!(gw.post(Some(&user), &path, invite).await.0, 204);
    }
    let kims = Terminal::open(&gw, &kim, &shell).await;
    let mut to_end = Vec::new();
    for _ in CALLERS {
        to_end.push(Terminal::open(&gw, &kim, &shell).await);
    }
    let mut watchers = Vec::new();
    for _ in CALLERS {
        watchers.push(Watch::open(&gw, &admin, &ops_session).await.unwrap());
    }
    let observers = eventually(Duration::from_secs(5), || async {
        let ids = observers_of(&gw, &admin, &ops_session).await;
        (ids.len() == CALLERS.len()).then_some(ids)
    })
    .await
    .expect("the administrator's four watches are participants");

    // SSH keys: one to add and one to remove per caller, and kim's, which
    // nobody else may remove.
    let keys = KeyMaker::new();
    let mut own_keys = Vec::new();
    for token in &callers {
        let token = token.as_deref().unwrap_or(&kim);
        own_keys.push(add_key(&gw, token, &keys.public()).await);
    }
    let mut kims_keys = Vec::new();
    for _ in CALLERS {
        kims_keys.push(add_key(&gw, &kim, &keys.public()).await);
    }
    let new_keys: Vec<String> = CALLERS.iter().map(|_| keys.public()).collect();

    // Accounts and connections to change, lock and delete: fresh per caller.
    let victims = |what: &str| CALLERS.map(|c| format!("{what}-{c}"));
    let mut users = std::collections::BTreeMap::new();
    for name in ["patch", "delete", "lock", "unlock"]
        .iter()
        .flat_map(|w| victims(w))
    {
        users.insert(name.clone(), create_user(&gw, &admin, &name).await);
    }
    for name in victims("unlock") {
        let (status, _) = gw
            .post(
                Some(&admin),
                &format!("/users/{}/lock", users[&name]),
                json!({}),
            )
            .await;
        assert_eq!(status, 200);
    }
    let new_conn = |name: &str| json!({ "name": name, "host": "127.0.0.1", "port": sshd.port, "username": "x", "password": "y" });
    let mut conns = std::collections::BTreeMap::new();
    for name in ["patch-conn", "delete-conn"]
        .iter()
        .flat_map(|w| victims(w))
    {
        conns.insert(name.clone(), gw.connection(&admin, new_conn(&name)).await);
    }
    let user_of = |what: &str, i: usize| users[&format!("{what}-{}", CALLERS[i])].clone();
    let conn_of = |what: &str, i: usize| conns[&format!("{what}-{}", CALLERS[i])].clone();
    let mut fresh_tokens = Vec::new();
    for (name, password) in [
        ("admin", crate::harness::ADMIN_PASSWORD.to_owned()),
        ("eve", "eve-password".into()),
        ("ops1", "ops1-password".into()),
    ] {
        fresh_tokens.push(Some(gw.login(name, &password).await));
    }
    fresh_tokens.push(None);
    let fresh_tokens: [Option<String>; 4] = fresh_tokens.try_into().unwrap();
    let (_, recording_settings) = gw
        .get(Some(&admin), &format!("/connections/{vault}/recording"))
        .await;

    use Method as M;
    let rows = vec![
        Row::new(M::POST, "/auth/login", [200, 200, 200, 200])
            .body(json!({ "username": "kim", "password": "kim-password" })),
        Row::new(M::POST, "/auth/logout", [204, 204, 204, 401]).with_tokens(fresh_tokens.clone()),
        Row::new(M::GET, "/auth/me", [200, 200, 200, 401]),
        Row::new(M::GET, "/gateway", [200, 200, 200, 401]),
        // Single sign-on needs no login (it is how one logs in); this
        // gateway has no provider, so the flow's steps find none.
        Row::new(M::GET, "/auth/providers", [200, 200, 200, 200]),
        Row::new(M::GET, "/auth/oidc/{name}/start", [404, 404, 404, 404])
            .at("/auth/oidc/nosuch/start"),
        Row::new(M::GET, "/auth/oidc/{name}/callback", [404, 404, 404, 404])
            .at("/auth/oidc/nosuch/callback?state=forged&code=forged"),
        Row::new(M::POST, "/auth/oidc/token", [400, 400, 400, 400])
            .body(json!({ "code": "forged", "verifier": "forged" })),
        Row::new(M::GET, "/profile/keys", [200, 200, 200, 401]),
        Row::new(M::POST, "/profile/keys", [201, 201, 201, 401])
            .each_body(|i| json!({ "name": "new", "public_key": new_keys[i] })),
        Row::new(M::DELETE, "/profile/keys/{id}", [204, 204, 204, 401])
            .on("the caller's own key")
            .each_at(|i| format!("/profile/keys/{}", own_keys[i])),
        Row::new(M::DELETE, "/profile/keys/{id}", [404, 404, 404, 401])
            .on("another user's key")
            .each_at(|i| format!("/profile/keys/{}", kims_keys[i])),
        // Approval requests are only their own user's (tests/it/approvals.rs
        // checks another user's is 403); an unknown one is nobody's.
        Row::new(M::GET, "/ssh-approvals/{id}", [404, 404, 404, 401])
            .on("an unknown login request")
            .each_at(|_| "/ssh-approvals/00000000-0000-4000-8000-000000000000".into()),
        Row::new(M::POST, "/ssh-approvals/{id}/approve", [404, 404, 404, 401])
            .on("an unknown login request")
            .each_at(|_| "/ssh-approvals/00000000-0000-4000-8000-000000000000/approve".into()),
        Row::new(M::POST, "/ssh-approvals/{id}/deny", [404, 404, 404, 401])
            .on("an unknown login request")
            .each_at(|_| "/ssh-approvals/00000000-0000-4000-8000-000000000000/deny".into()),
        // A pending login nobody started: refused alike, whoever calls.
        Row::new(M::POST, "/auth/login/code", [401, 401, 401, 401])
            .on("a pending login that does not exist")
            .body(json!({ "pending": "no-such-login", "code": "123456" })),
        Row::new(M::GET, "/profile/second-factor", [200, 200, 200, 401]),
        Row::new(M::POST, "/profile/second-factor/enrol", [200, 200, 200, 401]),
        // After the row above each caller has an enrolment waiting for a
        // code; letters are never a right code.
        Row::new(M::POST, "/profile/second-factor/confirm", [401, 401, 401, 401])
            .on("a wrong code")
            .body(json!({ "code": "abcdef" })),
        Row::new(M::POST, "/profile/second-factor/disable", [404, 404, 404, 401])
            .on("no second factor switched on")
            .body(json!({ "code": "abcdef" })),
        Row::new(M::DELETE, "/users/{id}/second-factor", [204, 403, 403, 401])
            .at(format!("/users/{}/second-factor", user_of("patch", 0))),
        Row::new(M::PUT, "/roles/{name}/second-factor", [200, 403, 403, 401])
            .at("/roles/auditor/second-factor")
            .body(json!({ "required": false })),
        Row::new(M::GET, "/users", [200, 403, 403, 401]),
        Row::new(M::POST, "/users", [201, 403, 403, 401]).each_body(|i| {
            json!({ "username": format!("new-{}", CALLERS[i]), "password": "long-enough-pw", "roles": ["user"] })
        }),
        Row::new(M::PATCH, "/users/{id}", [200, 403, 403, 401])
            .each_at(|i| format!("/users/{}", user_of("patch", i)))
            .body(json!({ "roles": ["auditor"] })),
        Row::new(M::DELETE, "/users/{id}", [204, 403, 403, 401])
            .each_at(|i| format!("/users/{}", user_of("delete", i))),
        Row::new(M::POST, "/users/{id}/lock", [200, 403, 403, 401])
            .each_at(|i| format!("/users/{}/lock", user_of("lock", i))),
        Row::new(M::POST, "/users/{id}/unlock", [200, 403, 403, 401])
            .each_at(|i| format!("/users/{}/unlock", user_of("unlock", i))),
        Row::new(M::GET, "/roles", [200, 403, 403, 401]),
        Row::new(M::PUT, "/roles/{name}/limits", [200, 403, 403, 401])
            .at("/roles/auditor/limits")
            .body(json!({ "idle_timeout_seconds": 3600 })),
        Row::new(M::GET, "/connections", [200, 200, 200, 401]).on("the caller's own"),
        Row::new(M::GET, "/connections", [200, 403, 403, 401])
            .on("all of them")
            .at("/connections?all=true"),
        Row::new(M::POST, "/connections", [201, 403, 403, 401])
            .each_body(|i| new_conn(&format!("new-{}", CALLERS[i]))),
        Row::new(M::PATCH, "/connections/{id}", [200, 403, 403, 401])
            .each_at(|i| format!("/connections/{}", conn_of("patch-conn", i)))
            .body(json!({ "allow_forwarding": true })),
        Row::new(M::DELETE, "/connections/{id}", [204, 403, 403, 401])
            .each_at(|i| format!("/connections/{}", conn_of("delete-conn", i))),
        Row::new(M::GET, "/connections/{id}/limits", [200, 403, 403, 401])
            .at(format!("/connections/{vault}/limits")),
        Row::new(M::PUT, "/connections/{id}/limits", [200, 403, 403, 401])
            .at(format!("/connections/{vault}/limits"))
            .body(json!({ "max_session_seconds": 7200 })),
        Row::new(M::GET, "/connections/{id}/recording", [200, 403, 403, 401])
            .at(format!("/connections/{vault}/recording")),
        Row::new(M::PUT, "/connections/{id}/recording", [200, 403, 403, 401])
            .at(format!("/connections/{vault}/recording"))
            .body(recording_settings),
        Row::new(M::GET, "/connections/{id}/terminal", [101, 101, 101, 401])
            .on("a connection granted to the caller")
            .at(format!("/connections/{shell}/terminal")),
        // Not granted to anyone: even an administrator may not open it.
        Row::new(M::GET, "/connections/{id}/terminal", [403, 403, 403, 401])
            .on("a connection granted to nobody")
            .at(format!("/connections/{vault}/terminal")),
        Row::new(M::GET, "/connections/{id}/tunnel", [101, 101, 101, 401])
            .on("a tcp connection granted to the caller")
            .at(format!("/connections/{port}/tunnel")),
        Row::new(M::GET, "/connections/{id}/tunnel", [403, 403, 403, 401])
            .on("a connection granted to nobody")
            .at(format!("/connections/{vault}/tunnel")),
        Row::new(M::GET, "/connections/{id}/desktop", [101, 101, 101, 401])
            .on("a vnc connection granted to the caller")
            .at(format!("/connections/{screen}/desktop")),
        Row::new(M::GET, "/connections/{id}/desktop", [403, 403, 403, 401])
            .on("a connection granted to nobody")
            .at(format!("/connections/{vault}/desktop")),
        Row::new(M::GET, "/sessions", [200, 200, 200, 401]),
        Row::new(M::GET, "/sessions/events", [200, 200, 200, 401]),
        Row::new(M::GET, "/sessions/shared", [200, 200, 200, 401]),
        Row::new(M::GET, "/sessions/{id}", [200, 200, 200, 401])
            .on("the user's own live session")
            .at(format!("/sessions/{ops_session}")),
        Row::new(M::GET, "/sessions/{id}", [200, 200, 404, 401])
            .on("another user's live session")
            .at(format!("/sessions/{}", kims.session_id)),
        // ops1 cannot see kim's session: it is "missing" to them (checked below).
        Row::new(M::POST, "/sessions/end", [200, 403, 200, 401])
            .on("another user's live session")
            .each_body(|i| json!({ "ids": [to_end[i].session_id] })),
        Row::new(M::GET, "/sessions/{id}/watch", [101, 101, 403, 401])
            .at(format!("/sessions/{ops_session}/watch")),
        Row::new(M::GET, "/sessions/{id}/desktop/watch", [404, 404, 403, 401])
            .on("a live session that is not a desktop")
            .at(format!("/sessions/{ops_session}/desktop/watch")),
        Row::new(M::GET, "/sessions/{id}/join", [404, 101, 404, 401])
            .on("a session shared with the auditor only")
            .at(format!("/sessions/{ops_session}/join")),
        Row::new(M::GET, "/sessions/{id}/desktop/join", [404, 404, 404, 401])
            .on("a session shared with the auditor that is not a desktop")
            .at(format!("/sessions/{ops_session}/desktop/join")),
        Row::new(M::POST, "/sessions/{id}/share", [403, 403, 204, 401])
            .on("the user's session")
            .at(format!("/sessions/{ops_session}/share"))
            .body(json!({ "user": "kim", "mode": "observer" })),
        Row::new(M::GET, "/sessions/{id}/share/suggestions", [403, 403, 200, 401])
            .on("the user's session")
            .at(format!("/sessions/{ops_session}/share/suggestions?q=ki")),
        Row::new(M::POST, "/sessions/{id}/unshare", [204, 403, 204, 401])
            .on("invitations to the user's session")
            .at(format!("/sessions/{ops_session}/unshare"))
            .each_body(|i| json!({ "user": if i == 2 { "lee" } else { "kim" } })),
        Row::new(
            M::POST,
            "/sessions/{id}/participants/{participant}/remove",
            [204, 403, 403, 401],
        )
        // The owner alone may not send away someone holding sessions.watch
        // (a supervisor): that takes sessions.end.
        .on("an administrator watching the user's session")
        .each_at(|i| format!("/sessions/{ops_session}/participants/{}/remove", observers[i])),
        Row::new(M::GET, "/history", [200, 200, 200, 401]),
        Row::new(M::GET, "/history/{id}", [200, 200, 200, 401])
            .on("the user's ended session")
            .at(format!("/history/{recorded}")),
        Row::new(M::GET, "/history/{id}/recording", [200, 200, 403, 401])
            .on("the user's ended, recorded session")
            .at(format!("/history/{recorded}/recording")),
        Row::new(M::GET, "/audit", [200, 200, 403, 401]),
    ];

    // The table covers the document, and nothing but the document.
    let documented = operations(&gw).await;
    let tabled: BTreeSet<(String, String)> = rows.iter().map(Row::operation).collect();
    let untested: Vec<_> = documented
        .keys()
        .filter(|op| !tabled.contains(*op))
        .collect();
    let undocumented: Vec<_> = tabled
        .iter()
        .filter(|op| !documented.contains_key(*op))
        .collect();
    assert!(
        untested.is_empty() && undocumented.is_empty(),
        "operations in the OpenAPI document with no row in permissions.rs \
         (add one with the status each role must get): {untested:?}\n\
         rows whose operation is not in the document: {undocumented:?}"
    );

    let mut failures = Vec::new();
    for row in &rows {
        let kind = documented[&row.operation()];
        for (i, caller) in CALLERS.iter().enumerate() {
            let token = row.tokens.as_ref().unwrap_or(&callers)[i].as_deref();
            let (got, body) = send(&gw, kind, row, i, token).await;
            let what = format!("{caller} {} {} ({})", row.method, row.template, row.on);
            if got != row.expect[i] {
                failures.push(format!("{what}: got {got}, want {}: {body}", row.expect[i]));
            }
            if let (Kind::Stream, 200) = (kind, got)
                && !body["content-type"]
                    .as_str()
                    .unwrap()
                    .starts_with("text/event-stream")
            {
                failures.push(format!("{what}: not an event stream: {body}"));
            }
            if got == 403 && body["error"]["code"] != "forbidden" {
                failures.push(format!("{what}: a 403 without the JSON error: {body}"));
            }
            // The second step of a login needs no login; its refusals say why.
            let public_refusal = ["login_expired", "bad_code"]
                .iter()
                .any(|c| body["error"]["code"] == *c);
            if token.is_none()
                && got == 401
                && body["error"]["code"] != "unauthenticated"
                && !public_refusal
            {
                failures.push(format!("{what}: a 401 without the JSON error: {body}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "permission matrix failures:\n{}",
        failures.join("\n")
    );

    // What was refused did not happen; what was allowed did.
    for (i, token) in fresh_tokens.iter().take(3).enumerate() {
        let (status, _) = gw.get(token.as_deref(), "/auth/me").await;
        assert_eq!(status, 401, "{}'s logged-out token still works", CALLERS[i]);
    }
    let (_, listed) = gw.get(Some(&kim), "/profile/keys").await;
    for (i, key) in kims_keys.iter().enumerate() {
        assert!(
            listed
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["id"] == key.as_str()),
            "kim's key survives {}'s attempt to remove it: {listed}",
            CALLERS[i]
        );
    }
    let (_, all_users) = gw.get(Some(&admin), "/users").await;
    let account = |name: &str| {
        all_users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == name)
            .cloned()
    };
    for (i, caller) in CALLERS.iter().enumerate() {
        let allowed = i == 0;
        let deleted = account(&format!("delete-{caller}")).is_none();
        let locked = account(&format!("lock-{caller}")).unwrap()["disabled"] == true;
        let unlocked = account(&format!("unlock-{caller}")).unwrap()["disabled"] == false;
        let patched = account(&format!("patch-{caller}")).unwrap()["roles"] == json!(["auditor"]);
        assert_eq!(
            [deleted, locked, unlocked, patched],
            [allowed; 4],
            "{caller}'s account changes (delete, lock, unlock, patch)"
        );
    }
    let (_, all_conns) = gw.get(Some(&admin), "/connections?all=true").await;
    let connection = |name: &str| {
        all_conns
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
    };
    for (i, caller) in CALLERS.iter().enumerate() {
        let deleted = connection(&format!("delete-conn-{caller}")).is_none();
        let patched =
            connection(&format!("patch-conn-{caller}")).unwrap()["allow_forwarding"] == true;
        assert_eq!(
            [deleted, patched],
            [i == 0; 2],
            "{caller}'s connection changes"
        );
    }
    for (i, term) in to_end.iter().enumerate() {
        let live = eventually(Duration::from_secs(5), || async {
            let (status, _) = gw
                .get(Some(&admin), &format!("/sessions/{}", term.session_id))
                .await;
            ((status == 200) == (i != 0)).then_some(())
        })
        .await;
        assert!(
            live.is_some(),
            "only the administrator ended kim's session ({})",
            CALLERS[i]
        );
    }
    let remaining = observers_of(&gw, &admin, &ops_session).await;
    for (i, id) in observers.iter().enumerate() {
        let removable = i == 0;
        assert_eq!(
            remaining.contains(id),
            !removable,
            "{}'s watcher to remove: {remaining:?}",
            CALLERS[i]
        );
    }
    // The connection granted to nobody was never opened.
    let (_, vault_history) = gw.get(Some(&admin), "/history?q=vault").await;
    assert_eq!(vault_history["total"], 0, "{vault_history}");
    drop((watchers, ops_term, kims, to_end));
}

/// Every (method, path) in the running gateway's OpenAPI document, paths as
/// under `/api/v1`, with how each is spoken to.
async fn operations(gw: &TestGateway) -> std::collections::BTreeMap<(String, String), Kind> {
    let doc: Value = gw
        .http()
        .get(gw.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut found = std::collections::BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths in the document") {
        let path = path.strip_prefix("/api/v1").unwrap_or(path);
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if ![
                "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE",
            ]
            .contains(&method.as_str())
            {
                continue; // "parameters", "summary", …
            }
            let kind = if op["responses"].get("101").is_some() {
                Kind::Upgrade
            } else if op["responses"]["200"]["content"]
                .get("text/event-stream")
                .is_some()
            {
                Kind::Stream
            } else {
                Kind::Plain
            };
            found.insert((method.to_string(), path.to_owned()), kind);
        }
    }
    assert!(!found.is_empty(), "no operations in {doc}");
    found
}

/// Calls `row` as caller `i`: the status, and the JSON error if there is one.
async fn send(
    gw: &TestGateway,
    kind: Kind,
    row: &Row,
    i: usize,
    token: Option<&str>,
) -> (u16, Value) {
    let path = &row.paths[i];
    if let Kind::Upgrade = kind {
        return upgrade(gw, path, token).await;
    }
    let mut req = gw.http().request(row.method.clone(), gw.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = &row.bodies[i] {
        req = req.json(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    if let (Kind::Stream, 200) = (kind, status) {
        let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
        return (status, json!({ "content-type": kind }));
    }
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A real WebSocket upgrade, as a browser sends it: `101` (and the socket
/// closed again) or the refusal's status and JSON error.
async fn upgrade(gw: &TestGateway, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = gw.ws_url(path).into_client_request().unwrap();
    if let Some(t) = token {
        req.headers_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((mut ws, resp)) => {
            let _ = ws.close(None).await;
            (resp.status().as_u16(), Value::Null)
        }
        Err(tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            (resp.status().as_u16(), body)
        }
        Err(e) => panic!("upgrade {path}: {e}"),
    }
}

/// The ids of a session's observers.
async fn observers_of(gw: &TestGateway, token: &str, session: &str) -> Vec<String> {
    let (_, view) = gw.get(Some(token), &format!("/sessions/{session}")).await;
    view["participants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["mode"] == "observer")
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn create_user(gw: &TestGateway, admin: &str, name: &str) -> String {
    let body = json!({ "username": name, "password": "long-enough-pw", "roles": ["user"] });
    let (status, created) = gw.post(Some(admin), "/users", body).await;
    assert_eq!(status, 201, "create {name}: {created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn add_key(gw: &TestGateway, token: &str, public_key: &str) -> String {
    let body = json!({ "name": "laptop", "public_key": public_key });
    let (status, key) = gw.post(Some(token), "/profile/keys", body).await;
    assert_eq!(status, 201, "{key}");
    key["id"].as_str().unwrap().to_owned()
}

/// Fresh SSH public keys, from `ssh-keygen`.
struct KeyMaker {
    dir: tempfile::TempDir,
    made: std::cell::Cell<u32>,
}

impl KeyMaker {
    fn new() -> KeyMaker {
        KeyMaker {
            dir: tempfile::tempdir().unwrap(),
            made: std::cell::Cell::new(0),
        }
    }

    fn public(&self) -> String {
        let n = self.made.get();
        self.made.set(n + 1);
        let path = self.dir.path().join(format!("key{n}"));
        let made = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        std::fs::read_to_string(path.with_extension("pub")).unwrap()
    }
}
