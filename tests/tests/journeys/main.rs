//! Journeys through the REST gateway against the real personnel and identity services: all
//! started on port 0, each service over a fresh database (SQLite, or PostgreSQL when SHEQU_TEST_POSTGRES_URL is set),
//! called with a plain HTTP client as any other government system would.

mod authorization;
mod between_services;
mod evaluation;
mod helpers;
mod interop;
mod operations;
mod replicas;
mod secretaries;
mod security;
mod training;
