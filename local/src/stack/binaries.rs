//! The functions' binaries: built with cargo (unless told not to) and found in `target/`.

use super::{StackError, StackOptions};
use crate::template::Stack;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Builds (unless told not to) and locates each function's binary.
pub(super) fn build(
    options: &StackOptions,
    model: &Stack,
) -> Result<BTreeMap<String, PathBuf>, StackError> {
    let names: Vec<&str> = model.functions.iter().map(|f| f.binary.as_str()).collect();
    if options.build {
        let mut cmd =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(&options.root).arg("build").arg("--quiet");
        if options.release {
            cmd.arg("--release");
        }
        for n in &names {
            cmd.args(["--bin", n]);
        }
        let status = cmd.status().map_err(|e| StackError::Build(e.to_string()))?;
        if !status.success() {
            return Err(StackError::Build(format!(
                "cargo build exited with {status}"
            )));
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| options.root.join("target"));
    let dir = target.join(if options.release { "release" } else { "debug" });
    names
        .into_iter()
        .map(|n| {
            let path = dir.join(n);
            if path.exists() {
                Ok((n.to_owned(), path))
            } else {
                Err(StackError::Build(format!(
                    "{} does not exist",
                    path.display()
                )))
            }
        })
        .collect()
}

/// Each function's artifact as `sam build` made it (`<build dir>/<logical id>/bootstrap`),
/// for SAM's local Lambda; nothing is built here: `sam build` takes minutes and its output
/// is what the user means to run.
pub(super) fn built_by_sam(
    options: &StackOptions,
    model: &Stack,
) -> Result<BTreeMap<String, PathBuf>, StackError> {
    let dir = super::sam_build_dir(options);
    model
        .functions
        .iter()
        .map(|f| {
            let path = dir.join(&f.logical_id).join("bootstrap");
            if path.exists() {
                Ok((f.binary.clone(), path))
            } else {
                Err(crate::lambda::sam::SamError::NotBuilt(path).into())
            }
        })
        .collect()
}
