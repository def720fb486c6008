//! Listing this node's sessions together with other nodes' (a cluster):
//! the same search, sort and paging as [`Registry::list`], over the local
//! table and pictures of remote sessions the caller hands in.

use std::cmp::Ordering;

use crate::{ListQuery, Page, Registry, SessionView, SortKey, Visibility};

impl ListQuery {
    /// Whether `view` contains every word of the search, in the fields the
    /// registry searches (user, connection, protocol, client address,
    /// target, id, node).
    pub fn matches_view(&self, view: &SessionView) -> bool {
        if self.words.is_empty() {
            return true;
        }
        let id = view.id.to_string();
        let haystack = [
            view.user.as_str(),
            view.connection.name.as_str(),
            view.protocol.as_str(),
            view.client_addr.as_str(),
            view.target.as_str(),
            id.as_str(),
            view.node.as_str(),
        ]
        .join("\0")
        .to_lowercase();
        self.words.iter().all(|w| haystack.contains(w.as_str()))
    }

    /// Listing order of two pictures: the order [`Registry::list`] gives.
    pub fn compare_views(&self, a: &SessionView, b: &SessionView) -> Ordering {
        let ord = match self.sort {
            SortKey::StartedAt => a.started_at.cmp(&b.started_at),
            SortKey::User => a.user.cmp(&b.user),
            SortKey::Connection => a.connection.name.cmp(&b.connection.name),
            SortKey::Protocol => a.protocol.as_str().cmp(b.protocol.as_str()),
            SortKey::ClientAddr => a.client_addr.cmp(&b.client_addr),
            SortKey::Target => a.target.cmp(&b.target),
            SortKey::LastActivityAt => a.last_activity_at.cmp(&b.last_activity_at),
        };
        let ord = ord.then_with(|| a.id.cmp(&b.id));
        if self.descending { ord.reverse() } else { ord }
    }
}

impl Registry {
    /// [`Registry::list`] over this node's sessions and `remote` ones
    /// (other nodes' sessions, as they published them): one search, one
    /// order, one page, `total` counting both.
    pub fn list_with<'a>(
        &self,
        query: &ListQuery,
        visibility: Visibility,
        remote: impl IntoIterator<Item = &'a SessionView>,
    ) -> Page {
        let mut others: Vec<&SessionView> = remote
            .into_iter()
            .filter(|v| visibility.allows(v.user_id) && query.matches_view(v))
            .collect();
        if others.is_empty() {
            return self.list(query, visibility);
        }
        // Every local match that could land on the page: the first
        // offset + limit in order.
        let wanted = query.offset.saturating_add(query.limit);
        let local = self.list(
            &ListQuery {
                offset: 0,
                limit: wanted,
                ..query.clone()
            },
            visibility,
        );
        others.sort_unstable_by(|a, b| query.compare_views(a, b));
        let total = local.total + others.len();
        let mut merged = Vec::with_capacity(wanted.min(total));
        let (mut mine, mut theirs) = (local.items.into_iter().peekable(), others.into_iter());
        let mut next_theirs = theirs.next();
        while merged.len() < wanted {
            let take_mine = match (mine.peek(), next_theirs) {
                (Some(m), Some(t)) => query.compare_views(m, t) != Ordering::Greater,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if take_mine {
                merged.extend(mine.next());
            } else {
                merged.extend(next_theirs.cloned());
                next_theirs = theirs.next();
            }
        }
        let items = merged.into_iter().skip(query.offset).collect();
        Page { total, items }
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_domain::UserId;

    use crate::tests::new_session;
    use crate::*;

    #[tokio::test]
    async fn remote_sessions_are_searched_sorted_and_paged_with_local_ones() {
        let (here, _l1) = Registry::new("gw-a");
        let (there, _l2) = Registry::new("gw-b");
        let alice = UserId::new();
        let _h1 = here.open(new_session("alice", alice, "prod-db", "10.0.0.1"));
        let _h2 = there.open(new_session("alice", alice, "prod-web", "10.0.0.2"));
        let _h3 = here.open(new_session("bob", UserId::new(), "prod-db", "10.0.0.3"));
        let _h4 = there.open(new_session("bob", UserId::new(), "dev-db", "10.0.0.4"));
        let remote = there.list(&ListQuery::default(), Visibility::All).items;

        let all = here.list_with(&ListQuery::default(), Visibility::All, &remote);
        assert_eq!(all.total, 4);
        let users: Vec<_> = all.items.iter().map(|s| (&*s.user, &*s.node)).collect();
        // Newest first, whichever node relays it.
        assert_eq!(
            users,
            [
                ("bob", "gw-b"),
                ("bob", "gw-a"),
                ("alice", "gw-b"),
                ("alice", "gw-a")
            ]
        );
        // AND-words over the same fields, the node's name included.
        let q = ListQuery::search("ALICE gw-b");
        let found = here.list_with(&q, Visibility::All, &remote);
        assert_eq!(
            (found.total, &*found.items[0].connection.name),
            (1, "prod-web")
        );
        // Sorted by user, second page of two.
        let q = ListQuery::parse(None, Some("user"), Some(2), Some(2)).unwrap();
        let page = here.list_with(&q, Visibility::All, &remote);
        assert_eq!(page.total, 4);
        assert!(page.items.iter().all(|s| s.user == "bob"), "{page:?}");
        // Only one's own without sessions.view.
        let mine = here.list_with(&ListQuery::default(), Visibility::OwnedBy(alice), &remote);
        assert_eq!(mine.total, 2);
    }
}
