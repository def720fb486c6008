//! LDAP login: the password is checked by binding as the user against a
//! directory, and the user's roles come from their groups.
//!
//! [`LdapConfig`] is the `[ldap]` section of the config file; [`Directory`]
//! is it checked and ready (the service account's password read). A login
//! opens one connection, finds the user's DN (from a template, or by a
//! search as the service account), binds as the user with the typed
//! password, reads their groups and closes. Every step has a deadline, so a
//! directory that is down or hangs is a prompt [`DirectoryError`], never a
//! hung login. The password is only ever sent to the directory; it is never
//! stored.

use std::collections::BTreeMap;
use std::time::Duration;

use gatehouse_domain::RoleName;
use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry, dn_escape, ldap_escape};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The `[ldap]` section of the config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS.
    #[serde(default)]
    pub starttls: bool,
    /// Seconds allowed for connecting and for each operation (default 5).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// The user's DN with `{username}` in it, e.g.
    /// `uid={username},ou=people,dc=example,dc=com` (no search needed).
    #[serde(default)]
    pub user_dn: Option<String>,
    /// Where to search for the user instead of a template.
    #[serde(default)]
    pub user_search_base: Option<String>,
    /// The search filter, `{username}` escaped per RFC 4515 (default `(uid={username})`).
    #[serde(default)]
    pub user_search_filter: Option<String>,
    /// The service account that searches (optional: anonymous otherwise).
    #[serde(default)]
    pub bind_dn: Option<String>,
    /// The environment variable holding the service account's password.
    #[serde(default)]
    pub bind_password_env: Option<String>,
    /// A file holding the service account's password.
    #[serde(default)]
    pub bind_password_file: Option<std::path::PathBuf>,
    /// Where groups live.
    #[serde(default)]
    pub group_search_base: Option<String>,
    /// Which groups hold the user: `{dn}` is the user's DN, `{username}`
    /// the name, both escaped (default `(|(member={dn})(uniqueMember={dn}))`).
    #[serde(default)]
    pub group_search_filter: Option<String>,
    /// The group entry's attribute that names it (default `cn`).
    #[serde(default)]
    pub group_name_attribute: Option<String>,
    /// Read the groups from this attribute of the user's own entry (e.g.
    /// `memberOf`) instead of searching; each value's first RDN names it.
    #[serde(default)]
    pub member_of_attribute: Option<String>,
    /// Group name → gateway role. A user in no mapped group cannot log in.
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
    /// Create a gateway account at a directory user's first login
    /// (default `true`); otherwise only directory accounts already known
    /// may log in.
    #[serde(default)]
    pub create_users: Option<bool>,
}

/// The directory a login is checked against: an [`LdapConfig`] checked.
#[derive(Clone)]
pub struct Directory {
    url: String,
    starttls: bool,
    timeout: Duration,
    user: UserLookup,
    service: Option<(String, SecretString)>,
    groups: GroupLookup,
    roles: Vec<(String, RoleName)>,
    pub(crate) create_users: bool,
}

#[derive(Clone)]
enum UserLookup {
    Template(String),
    Search { base: String, filter: String },
}

#[derive(Clone)]
enum GroupLookup {
    Search {
        base: String,
        filter: String,
        name: String,
    },
    MemberOf(String),
}

/// The directory could not answer (down, slow, or refusing the service
/// account): the login is refused without counting as a guess.
#[derive(Debug, thiserror::Error)]
#[error("the login directory is unavailable: {0}")]
pub struct DirectoryError(String);

/// What the directory said about a name and password.
pub(crate) enum Verdict {
    /// The password is right; the user is in these groups.
    Member(Vec<String>),
    /// Unknown user or wrong password.
    Refused,
}

/// The password stored for an account the directory manages: no Argon2
/// hash, so a local password check never passes, and it marks the account
/// as the directory's.
pub(crate) const DIRECTORY_ACCOUNT: &str = "!ldap";

/// LDAP result codes that mean "not this user or password".
const INVALID_CREDENTIALS: u32 = 49;
const INAPPROPRIATE_AUTHENTICATION: u32 = 48;
const NO_SUCH_OBJECT: u32 = 32;

impl Directory {
    /// Checks the section and reads the service account's password.
    pub fn new(c: LdapConfig) -> Result<Self, String> {
        if !(c.url.starts_with("ldap://") || c.url.starts_with("ldaps://")) {
            return Err(format!(
                "url {:?} must start with ldap:// or ldaps://",
                c.url
            ));
        }
        let user = match (c.user_dn, c.user_search_base) {
            (Some(t), None) if t.contains("{username}") => UserLookup::Template(t),
            (Some(_), None) => return Err("user_dn must contain {username}".into()),
            (None, Some(base)) => {
                let filter = c
                    .user_search_filter
                    .unwrap_or_else(|| "(uid={username})".into());
                if !filter.contains("{username}") {
                    return Err("user_search_filter must contain {username}".into());
                }
                UserLookup::Search { base, filter }
            }
            (Some(_), Some(_)) => {
                return Err("set user_dn or user_search_base, not both".into());
            }
            (None, None) => return Err("set user_dn or user_search_base".into()),
        };
        let password = match (&c.bind_password_env, &c.bind_password_file) {
            (Some(var), None) => {
                Some(SecretString::from(std::env::var(var).map_err(|_| {
                    format!("bind_password_env: {var} is not set")
                })?))
            }
            (None, Some(path)) => Some(SecretString::from(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("bind_password_file {}: {e}", path.display()))?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
            )),
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err("set bind_password_env or bind_password_file, not both".into());
            }
        };
        let service = match (c.bind_dn, password) {
            (Some(dn), Some(pw)) => Some((dn, pw)),
            (None, None) => None,
            _ => return Err("bind_dn and its password go together".into()),
        };
        let groups = match (c.member_of_attribute, c.group_search_base) {
            (Some(attr), None) => GroupLookup::MemberOf(attr),
            (None, Some(base)) => GroupLookup::Search {
                base,
                filter: c
                    .group_search_filter
                    .unwrap_or_else(|| "(|(member={dn})(uniqueMember={dn}))".into()),
                name: c.group_name_attribute.unwrap_or_else(|| "cn".into()),
            },
            (Some(_), Some(_)) => {
                return Err("set member_of_attribute or group_search_base, not both".into());
            }
            (None, None) => {
                return Err(
                    "set group_search_base or member_of_attribute: roles come from groups".into(),
                );
            }
        };
        if c.roles.is_empty() {
            return Err("roles maps no group to a role: nobody could log in".into());
        }
        let roles = c
            .roles
            .into_iter()
            .map(|(group, role)| {
                RoleName::parse(&role)
                    .map(|r| (group.to_lowercase(), r))
                    .map_err(|e| format!("roles.{group}: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            url: c.url,
            starttls: c.starttls,
            timeout: Duration::from_secs(c.timeout_seconds.unwrap_or(5).max(1)),
            user,
            service,
            groups,
            roles,
            create_users: c.create_users.unwrap_or(true),
        })
    }

    /// The gateway roles `groups` map to, each once, in the map's order.
    pub(crate) fn roles_of(&self, groups: &[String]) -> Vec<RoleName> {
        let groups: Vec<String> = groups.iter().map(|g| g.to_lowercase()).collect();
        let mut roles: Vec<RoleName> = Vec::new();
        for (group, role) in &self.roles {
            if groups.contains(group) && !roles.contains(role) {
                roles.push(role.clone());
            }
        }
        roles
    }

    /// Binds as `username` with `password` and reads their groups, all
    /// within a few timeouts.
    pub(crate) async fn check(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<Verdict, DirectoryError> {
        // An empty password is an unauthenticated bind, which directories
        // accept for any DN (RFC 4513 5.1.2): never a login.
        if password.expose_secret().is_empty() {
            return Ok(Verdict::Refused);
        }
        // Connect, search, bind and read groups: a few round trips, each
        // bounded; the whole is bounded too, whatever the library does.
        let whole = self.timeout * 4;
        match tokio::time::timeout(whole, self.check_inner(username, password)).await {
            Ok(verdict) => verdict,
            Err(_) => Err(DirectoryError(format!(
                "no answer within {} s",
                whole.as_secs()
            ))),
        }
    }

    async fn check_inner(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<Verdict, DirectoryError> {
        let down = |e: ldap3::LdapError| DirectoryError(e.to_string());
        let settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout)
            .set_starttls(self.starttls);
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.url)
            .await
            .map_err(down)?;
        ldap3::drive!(conn);
        let verdict = self.converse(&mut ldap, username, password).await;
        let _ = ldap.with_timeout(self.timeout).unbind().await;
        verdict
    }

    async fn converse(
        &self,
        ldap: &mut ldap3::Ldap,
        username: &str,
        password: &SecretString,
    ) -> Result<Verdict, DirectoryError> {
        let down = |e: ldap3::LdapError| DirectoryError(e.to_string());
        let t = self.timeout;
        let dn = match &self.user {
            UserLookup::Template(template) => template.replace("{username}", &dn_escape(username)),
            UserLookup::Search { base, filter } => {
                self.bind_service(ldap).await?;
                let filter = filter.replace("{username}", &ldap_escape(username));
                let (entries, _) = ldap
                    .with_timeout(t)
                    .search(base, Scope::Subtree, &filter, vec!["1.1"])
                    .await
                    .and_then(|r| r.success())
                    .map_err(down)?;
                let mut found = entries.into_iter().filter(|e| !e.is_ref());
                match (found.next(), found.next()) {
                    (Some(entry), None) => match entry_of(entry) {
                        Some(entry) => entry.dn,
                        None => return Err(DirectoryError("an unreadable search entry".into())),
                    },
                    (None, _) => return Ok(Verdict::Refused),
                    (Some(_), Some(_)) => {
                        tracing::warn!(
                            "LDAP: user_search_filter matched more than one entry for a login; refused"
                        );
                        return Ok(Verdict::Refused);
                    }
                }
            }
        };
        let bound = ldap
            .with_timeout(t)
            .simple_bind(&dn, password.expose_secret())
            .await
            .map_err(down)?;
        match bound.rc {
            0 => {}
            INVALID_CREDENTIALS | INAPPROPRIATE_AUTHENTICATION | NO_SUCH_OBJECT => {
                return Ok(Verdict::Refused);
            }
            rc => {
                return Err(DirectoryError(format!(
                    "bind answered {rc} ({})",
                    bound.text
                )));
            }
        }
        // Groups are read as the service account when there is one (users
        // often may not read group entries), else as the user.
        let groups = match &self.groups {
            GroupLookup::MemberOf(attr) => {
                let (entries, _) = ldap
                    .with_timeout(t)
                    .search(&dn, Scope::Base, "(objectClass=*)", vec![attr.as_str()])
                    .await
                    .and_then(|r| r.success())
                    .map_err(down)?;
                entries
                    .into_iter()
                    .filter_map(entry_of)
                    .flat_map(|e| attribute(&e, attr))
                    .filter_map(|group_dn| first_rdn_value(&group_dn))
                    .collect()
            }
            GroupLookup::Search { base, filter, name } => {
                self.bind_service(ldap).await?;
                let filter = filter
                    .replace("{dn}", &ldap_escape(&dn))
                    .replace("{username}", &ldap_escape(username));
                let (entries, _) = ldap
                    .with_timeout(t)
                    .search(base, Scope::Subtree, &filter, vec![name.as_str()])
                    .await
                    .and_then(|r| r.success())
                    .map_err(down)?;
                entries
                    .into_iter()
                    .filter_map(entry_of)
                    .flat_map(|e| attribute(&e, name))
                    .collect()
            }
        };
        Ok(Verdict::Member(groups))
    }

    /// Binds as the service account, if one is configured.
    async fn bind_service(&self, ldap: &mut ldap3::Ldap) -> Result<(), DirectoryError> {
        let Some((dn, password)) = &self.service else {
            return Ok(());
        };
        let bound = ldap
            .with_timeout(self.timeout)
            .simple_bind(dn, password.expose_secret())
            .await
            .map_err(|e| DirectoryError(e.to_string()))?;
        if bound.rc != 0 {
            return Err(DirectoryError(format!(
                "the service account bind_dn was refused ({}: {})",
                bound.rc, bound.text
            )));
        }
        Ok(())
    }
}

/// A search entry, parsed; `None` for one the library cannot read (its
/// parser panics on malformed input, which must not take a login down).
fn entry_of(entry: ldap3::ResultEntry) -> Option<SearchEntry> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        SearchEntry::construct(entry)
    }))
    .ok()
}

/// An attribute's values, its name matched without regard to case.
fn attribute(entry: &SearchEntry, name: &str) -> Vec<String> {
    entry
        .attrs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.iter().cloned())
        .collect()
}

/// `ops` from `cn=ops,ou=groups,dc=example,dc=com`.
fn first_rdn_value(dn: &str) -> Option<String> {
    let rdn = dn.split(',').next()?;
    let (_, value) = rdn.split_once('=')?;
    Some(value.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Result<Directory, String> {
        let text = format!(
            "url = \"ldap://127.0.0.1:1\"\nuser_dn = \"uid={{username}},ou=people,dc=x\"\n\
             group_search_base = \"ou=groups,dc=x\"\n{extra}\n[roles]\nOps = \"admin\"\ndevs = \"user\"\n"
        );
        Directory::new(toml::from_str(&text).unwrap())
    }

    #[test]
    fn groups_map_to_roles_without_regard_to_case_each_role_once() {
        let d = config("").unwrap();
        let roles = d.roles_of(&["ops".into(), "DEVS".into(), "other".into()]);
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        assert_eq!(names, ["admin", "user"]);
        assert!(d.roles_of(&["other".into()]).is_empty());
    }

    #[test]
    fn a_section_that_could_not_work_is_refused_with_the_reason() {
        let both = config("user_search_base = \"ou=people,dc=x\"")
            .err()
            .unwrap();
        assert!(both.contains("not both"), "{both}");
        let half = config("bind_dn = \"cn=svc,dc=x\"").err().unwrap();
        assert!(half.contains("go together"), "{half}");
        let unset =
            config("bind_password_env = \"GATEHOUSE_TEST_SURELY_UNSET\"\nbind_dn = \"cn=s\"")
                .err()
                .unwrap();
        assert!(unset.contains("is not set"), "{unset}");
    }

    #[test]
    fn names_are_escaped_for_dns_and_filters() {
        assert_eq!(dn_escape("a,b=c"), "a\\2cb\\3dc");
        assert_eq!(ldap_escape("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
        assert_eq!(
            first_rdn_value("cn=ops,ou=groups,dc=x").as_deref(),
            Some("ops")
        );
    }
}
