//! Integration tests of the personnel service over real gRPC, on SQLite by default and on
//! PostgreSQL when SHEQU_TEST_POSTGRES_URL is set (each test gets its own database).

mod audit_and_idempotency;
mod careers;
mod corrections;
mod helpers;
mod policies;
mod reserve_and_statistics;
mod secretaries;
mod service;
mod time_and_retention;
