//! The store's tests run once per backend: on a SQLite file in a temp
//! directory and on a fresh database of a real PostgreSQL (one cluster per
//! test process, see the pgtest crate).

use crate::Store;

/// A store on a new SQLite file; keep the directory while using it.
pub(crate) async fn sqlite() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("gatehouse.db")).await.unwrap();
    (dir, store)
}

/// A store on a new, empty PostgreSQL database.
pub(crate) async fn postgres() -> Store {
    let pg = gatehouse_pgtest::Postgres::shared();
    let url = tokio::task::spawn_blocking(|| pg.create_database())
        .await
        .unwrap();
    Store::connect(&url).await.unwrap()
}

/// For each `async fn NAME(store: Store)` named, a module `NAME` with two
/// tests, `NAME::sqlite` and `NAME::postgres`, running it on each backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let (_dir, store) = $crate::testdb::sqlite().await;
                super::$name(store).await
            }

            #[tokio::test]
            async fn postgres() {
                super::$name($crate::testdb::postgres().await).await
            }
        }
    )*};
}
pub(crate) use on_both_backends;
