//! Rebuild the crate when a migration is added or changed: `sqlx::migrate!` embeds the
//! `migrations/` files at compile time, and cargo does not know it reads them (without
//! this, a new migration file is silently left out of an incremental build).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
