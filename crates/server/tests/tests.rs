//! The server over real HTTP on loopback: one test binary, a module per area.
//!
//! Every test starts its own server on `127.0.0.1:0` over a fresh SQLite file in a
//! temporary directory, scoring with `examples/b2b.toml`, and talks to it with reqwest;
//! `postgres` runs the ingestion flow once more on the PostgreSQL at `127.0.0.1:5432`
//! (`LEADSCORE_TEST_POSTGRES` overrides the URL), in a schema of its own. `clients`
//! drives the server with the official Segment SDKs (Node and Python), installed in
//! `tests/clients/` by `.ci/run`.

mod support;

mod accounts;
mod adjustments;
mod api;
mod clients;
mod group;
mod incremental;
mod ingest;
mod models;
mod ops;
mod outcomes;
mod postgres;
mod transfer;
