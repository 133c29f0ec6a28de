//! Integration tests of the evaluation service over real gRPC, beside the real personnel,
//! training and warnings services whose feeds and figures it reads; on SQLite by default and on
//! PostgreSQL when SHEQU_TEST_POSTGRES_URL is set (each test gets its own databases).

mod helpers;
mod rankings;
mod results;
mod schemes;
