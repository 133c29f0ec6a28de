//! Integration tests of the warnings service over real gRPC, beside the real personnel service
//! whose feed it follows; on SQLite by default and on PostgreSQL when SHEQU_TEST_POSTGRES_URL is
//! set (each test gets its own databases).

mod brain;
mod deadlines;
mod failures;
mod helpers;
mod interop;
mod partitions;
mod policy;
mod statistics;
mod warnings;
mod webhooks;
