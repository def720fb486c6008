//! A throwaway PostgreSQL, shared with the store's tests (crates/pgtest).

pub use gatehouse_pgtest::Postgres;
