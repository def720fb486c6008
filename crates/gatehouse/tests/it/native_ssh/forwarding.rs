//! Port and agent forwarding: refused unless the connection allows it,
//! audited, and listed on the session while open.

use super::*;

/// An administrator lets the connection forward ports and the agent.
async fn allow_forwarding(gw: &TestGateway, admin: &str, conn: &str) {
    let (status, body) = gw
        .patch(
            Some(admin),
            &format!("/connections/{conn}"),
            json!({ "allow_forwarding": true }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["allow_forwarding"], true);
}

/// Starts `ssh -N -L`, connects to the local end and reads what comes out;
/// the connection stays open until the stream is dropped.
async fn through_local_forward(
    client: &Client,
    target_port: u16,
) -> (Child, tokio::net::TcpStream, Vec<u8>) {
    let local = free_port();
    let forward = format!("{local}:127.0.0.1:{target_port}");
    let mut cmd = client.ssh("ops1:box", &["-N", "-L", &forward]);
    cmd.stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let stream = eventually(Duration::from_secs(10), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", local))
            .await
            .ok()
    })
    .await
    .expect("ssh listens on the local end");
    let mut stream = stream;
    let mut got = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut got))
        .await
        .expect("the forward answers or closes")
        .unwrap_or(0);
    got.truncate(n);
    (child, stream, got)
}

#[tokio::test]
async fn port_forwards_are_refused_unless_the_connection_allows_them() {
    let (gw, sshd, admin, ops, conn) = setup().await;
    let client = Client::registered(&gw, &ops).await;

    let (mut child, _stream, got) = through_local_forward(&client, sshd.port).await;
    assert!(got.is_empty(), "a refused forward passed {got:?}");
    let _ = child.kill().await;
    let (code, _, stderr) = run(client.ssh(
        "ops1:box",
        &[
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            "0:127.0.0.1:22",
        ],
    ))
    .await;
    assert_eq!(code, Some(255), "{stderr}");
    let refused = gw.audit(&admin, "ssh.refused").await;
    let kinds: Vec<&Value> = refused
        .iter()
        .map(|e| &e["details"]["details"]["kind"])
        .collect();
    assert!(kinds.contains(&&json!("local")), "{refused:?}");
    assert!(kinds.contains(&&json!("remote")), "{refused:?}");

    allow_forwarding(&gw, &admin, &conn).await;
    let (mut child, stream, got) = through_local_forward(&client, sshd.port).await;
    assert!(
        got.starts_with(b"SSH-2.0-"),
        "the target's sshd should answer through the forward: {got:?}"
    );
    let forwards = gw.audit(&admin, "ssh.forward").await;
    assert_eq!(
        forwards[0]["details"]["destination"],
        format!("127.0.0.1:{}", sshd.port)
    );
    // The open forward is listed on the session, and gone once closed.
    let listed = gw.sessions(&admin, "box").await["items"][0]["forwards"].clone();
    assert_eq!(listed[0]["kind"], "local", "{listed}");
    assert_eq!(listed[0]["destination"], format!("127.0.0.1:{}", sshd.port));
    drop(stream);
    let closed = eventually(Duration::from_secs(10), || async {
        let items = gw.sessions(&admin, "box").await["items"].clone();
        (items[0]["forwards"].as_array()?.is_empty()).then_some(())
    })
    .await;
    assert!(closed.is_some(), "the closed forward stays listed");
    let _ = child.kill().await;

    // A remote forward is listed while the client holds it.
    let mut cmd = client.ssh(
        "ops1:box",
        &[
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            "127.0.0.1:0:127.0.0.1:22",
        ],
    );
    cmd.stderr(Stdio::piped());
    let mut remote = cmd.spawn().unwrap();
    let listed = eventually(Duration::from_secs(10), || async {
        let items = gw.sessions(&admin, "box").await["items"].clone();
        items
            .as_array()?
            .iter()
            .find_map(|s| s["forwards"].as_array()?.first().cloned())
    })
    .await
    .expect("the remote forward is listed");
    assert_eq!(listed["kind"], "remote");
    assert!(
        listed["destination"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    let _ = remote.kill().await;
}

#[tokio::test]
async fn agent_forwarding_follows_the_connection_setting() {
    let (gw, _sshd, admin, ops, conn) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let (mut agent, socket) = agent_holding_the_key(&client).await;
    let with_agent = || {
        let mut cmd = client.ssh("ops1:box", &["-A", "ssh-add -l"]);
        cmd.env("SSH_AUTH_SOCK", &socket);
        cmd
    };

    let (code, stdout, _) = run(with_agent()).await;
    assert_eq!(
        code,
        Some(2),
        "refused: the target sees no agent ({stdout})"
    );
    let refused = gw.audit(&admin, "ssh.refused").await;
    assert_eq!(
        refused[0]["details"]["details"]["kind"], "agent",
        "{refused:?}"
    );

    allow_forwarding(&gw, &admin, &conn).await;
    let (code, stdout, stderr) = run(with_agent()).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("ED25519"),
        "the target lists the user's key: {stdout}"
    );
    let _ = agent.kill().await;
}

/// Review finding: russh hands `auth-agent-req` to the channel before the
/// handler refuses it, and the channel relayed the agent anyway once the
/// menu's pick allowed forwarding.
#[tokio::test]
async fn an_agent_refused_before_the_menu_stays_refused_after_it() {
    let (gw, _sshd, admin, ops, conn) = setup().await;
    allow_forwarding(&gw, &admin, &conn).await;
    let client = Client::registered(&gw, &ops).await;
    let (mut agent, socket) = agent_holding_the_key(&client).await;

    let mut cmd = client.ssh("ops1", &["-tt", "-A"]);
    cmd.env("SSH_AUTH_SOCK", &socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut ssh = cmd.spawn().unwrap();
    let mut seen = String::new();
    read_until(&mut ssh, &mut seen, "box").await;
    let stdin = ssh.stdin.as_mut().unwrap();
    stdin.write_all(b"\r").await.unwrap();
    read_until(&mut ssh, &mut seen, "Connecting to box").await;
    read_until(&mut ssh, &mut seen, "$ ").await;
    let stdin = ssh.stdin.as_mut().unwrap();
    // ssh-add exits 2 when it finds no agent (1: an agent without keys).
    stdin
        .write_all(b"ssh-add -l >/dev/null 2>&1; echo agent-$?; exit\r")
        .await
        .unwrap();
    read_until(&mut ssh, &mut seen, "agent-2").await;
    hang_up(&mut ssh, &mut seen).await;
    let refused = gw.audit(&admin, "ssh.refused").await;
    assert_eq!(
        refused[0]["details"]["details"]["kind"], "agent",
        "{refused:?}"
    );
    assert!(
        gw.audit(&admin, "ssh.forward").await.is_empty(),
        "no agent forward is audited"
    );
    let _ = agent.kill().await;
}

/// Review finding: a `-R 0:…` forward was kept under port 0, but OpenSSH
/// cancels it by the port the target bound, so it stayed listed.
#[tokio::test]
async fn a_cancelled_remote_forward_on_port_0_leaves_the_session() {
    let (gw, _sshd, admin, ops, conn) = setup().await;
    allow_forwarding(&gw, &admin, &conn).await;
    let client = Client::registered(&gw, &ops).await;
    let control = client.dir.path().join("ctl");
    let control = control.to_str().unwrap();
    let mut master = client.ssh("ops1:box", &["-M", "-S", control, "-N"]);
    let mut master = master.stderr(Stdio::piped()).spawn().unwrap();
    eventually(Duration::from_secs(10), || async {
        std::path::Path::new(control).exists().then_some(())
    })
    .await
    .expect("the master listens");
    // Through the master, which answers once the forward is in place (and
    // so knows its port, which the cancel uses).
    let forward = "127.0.0.1:0:127.0.0.1:22";
    let (code, port, stderr) =
        run(client.ssh("ops1:box", &["-S", control, "-O", "forward", "-R", forward])).await;
    assert_eq!(code, Some(0), "{stderr}");
    let port = port.trim();
    let listed = || async {
        let items = gw.sessions(&admin, "box").await["items"].clone();
        items[0]["forwards"].as_array().cloned()
    };
    let forwards = listed().await.unwrap();
    assert_eq!(
        forwards[0]["destination"],
        format!("127.0.0.1:{port}"),
        "{forwards:?}"
    );

    let (code, _, stderr) =
        run(client.ssh("ops1:box", &["-S", control, "-O", "cancel", "-R", forward])).await;
    assert_eq!(code, Some(0), "{stderr}");
    let gone = eventually(Duration::from_secs(10), || async {
        listed().await?.is_empty().then_some(())
    })
    .await;
    assert!(gone.is_some(), "the cancelled forward stays listed");
    let _ = master.kill().await;
}

/// An `ssh-agent` of the client's, holding its key, and its socket.
async fn agent_holding_the_key(client: &Client) -> (tokio::process::Child, std::path::PathBuf) {
    let socket = client.dir.path().join("agent.sock");
    let agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    eventually(Duration::from_secs(5), || async {
        socket.exists().then_some(())
    })
    .await
    .expect("ssh-agent listens");
    let added = std::process::Command::new("ssh-add")
        .arg(client.key())
        .env("SSH_AUTH_SOCK", &socket)
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    (agent, socket)
}
