//! A real OpenLDAP `slapd` on a loopback port, with its own config and
//! database in a temp dir, seeded with people and groups through `ldapadd`
//! and changed through `ldapmodify` — as a directory administrator would.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

use super::sshd::free_port;

/// The directory's suffix.
pub const BASE: &str = "dc=example,dc=com";
const ROOT_DN: &str = "cn=admin,dc=example,dc=com";
const ROOT_PW: &str = "directory-admin-password";

pub struct Slapd {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Slapd {
    /// Starts slapd with `ou=people` and `ou=groups` under [`BASE`].
    pub async fn start() -> Slapd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let config = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             pidfile {d}/slapd.pid\n\
             database mdb\nmaxsize 10485760\n\
             suffix \"{BASE}\"\nrootdn \"{ROOT_DN}\"\nrootpw {ROOT_PW}\n\
             directory {d}/db\n\
             access to attrs=userPassword by anonymous auth by * none\n\
             access to * by * read\n"
        );
        std::fs::write(dir.path().join("slapd.conf"), config).unwrap();
        let mut slapd = Slapd {
            port: free_port(),
            dir,
            child: None,
        };
        slapd.run().await;
        slapd
            .add(&format!(
                "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
                 dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
                 dn: ou=groups,{BASE}\nobjectClass: organizationalUnit\nou: groups\n"
            ))
            .await;
        slapd
    }

    async fn run(&mut self) {
        let d = self.dir.path();
        let child = Command::new("/usr/sbin/slapd")
            .args(["-d", "0", "-h"])
            .arg(self.url())
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start slapd (scripts/prerequisites installs it)");
        self.child = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("slapd did not start listening on {}", self.port);
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// Adds a person `uid` with `password` under `ou=people`.
    pub async fn person(&self, uid: &str, password: &str) {
        self.add(&format!(
            "dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\nuserPassword: {password}\n"
        ))
        .await;
    }

    /// Adds a group `cn` under `ou=groups` with `members` (uids).
    pub async fn group(&self, cn: &str, members: &[&str]) {
        let mut ldif =
            format!("dn: cn={cn},ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: {cn}\n");
        // groupOfNames needs one member: the group's own DN stands in.
        ldif.push_str(&format!("member: cn={cn},ou=groups,{BASE}\n"));
        for uid in members {
            ldif.push_str(&format!("member: uid={uid},ou=people,{BASE}\n"));
        }
        self.add(&ldif).await;
    }

    /// Takes `uid` out of group `cn`.
    pub async fn remove_member(&self, cn: &str, uid: &str) {
        self.tool(
            "ldapmodify",
            &format!(
                "dn: cn={cn},ou=groups,{BASE}\nchangetype: modify\ndelete: member\nmember: uid={uid},ou=people,{BASE}\n"
            ),
        )
        .await;
    }

    async fn add(&self, ldif: &str) {
        self.tool("ldapadd", ldif).await;
    }

    async fn tool(&self, tool: &str, ldif: &str) {
        let mut child = Command::new(tool)
            .args(["-x", "-H", &self.url(), "-D", ROOT_DN, "-w", ROOT_PW])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ldap-utils (scripts/prerequisites installs them)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .await
            .unwrap();
        let out = child.wait_with_output().await.unwrap();
        assert!(
            out.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the directory (a directory outage).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.ok();
        }
    }
}

/// The gateway's `[ldap]` section for `slapd`: users by DN template,
/// groups by search, `ops → admin` and `staff → user`.
pub fn config(slapd: &Slapd) -> gatehouse_access::LdapConfig {
    let text = format!(
        "url = \"{}\"\ntimeout_seconds = 2\nuser_dn = \"uid={{username}},ou=people,{BASE}\"\n\
         group_search_base = \"ou=groups,{BASE}\"\n[roles]\nops = \"admin\"\nstaff = \"user\"\n",
        slapd.url()
    );
    toml::from_str(&text).unwrap()
}

/// The same directory found by search: `(uid={username})` under
/// `ou=people`, as a service account (the directory's root DN here) whose
/// password is read from `password_file`.
pub fn search_config(
    slapd: &Slapd,
    password_file: &std::path::Path,
) -> gatehouse_access::LdapConfig {
    std::fs::write(password_file, format!("{ROOT_PW}\n")).unwrap();
    let text = format!(
        "url = \"{}\"\ntimeout_seconds = 2\nuser_search_base = \"ou=people,{BASE}\"\n\
         user_search_filter = \"(&(objectClass=inetOrgPerson)(uid={{username}}))\"\n\
         bind_dn = \"{ROOT_DN}\"\nbind_password_file = \"{}\"\n\
         group_search_base = \"ou=groups,{BASE}\"\n[roles]\nops = \"admin\"\nstaff = \"user\"\n",
        slapd.url(),
        password_file.display()
    );
    toml::from_str(&text).unwrap()
}
