//! Bakes the prebuilt DuckDB library's directory into every binary and test of this crate
//! as an rpath, so that they run without LD_LIBRARY_PATH, and fails early with the fix when
//! the library has not been fetched (the `duckdb` crate's own error is a linker error).

use std::path::{Path, PathBuf};

const SETUP: &str = "run `make setup` (or scripts/duckdb-setup.sh)";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");

    // From the workspace's .cargo/config.toml unless the user set it: worktrees and a
    // CARGO_TARGET_DIR elsewhere still share the one fetched library.
    let Some(dir) = std::env::var_os("DUCKDB_LIB_DIR") else {
        return fail(&format!("DUCKDB_LIB_DIR is not set; {SETUP}"));
    };
    let dir = PathBuf::from(dir);
    // A relative value is taken from the package directory, where build scripts run.
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let file = match std::env::var("CARGO_CFG_TARGET_OS").as_deref() {
        Ok("macos") => "libduckdb.dylib",
        _ => "libduckdb.so",
    };
    let lib = dir.join(file);
    println!("cargo:rerun-if-changed={}", lib.display());
    if !lib.is_file() {
        return fail(&format!(
            "DuckDB library {} is missing; {SETUP}",
            lib.display()
        ));
    }
    if std::env::var("CARGO_CFG_TARGET_FAMILY").as_deref() == Ok("unix") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", rpath(&dir));
    }
}

/// The directory as the linker should record it (canonical, so a symlinked checkout
/// still resolves).
fn rpath(dir: &Path) -> String {
    dir.canonicalize()
        .unwrap_or_else(|_| dir.to_path_buf())
        .display()
        .to_string()
}

fn fail(message: &str) {
    // `cargo::error` fails the build with this one line; a non-zero exit would also make
    // cargo dump the script's whole output.
    println!("cargo::error={message}");
}
