//! Compiles proto/volley/v1/cluster.proto (the master/worker protocol) with
//! protox, so that building needs no protoc, and generates its prost types.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("proto");
    let file = "volley/v1/cluster.proto";
    println!("cargo:rerun-if-changed={}", proto_root.join(file).display());
    let fds = protox::compile([file], [&proto_root])?;
    prost_build::Config::new().compile_fds(fds)?;
    git_commit();
    Ok(())
}

/// VOLLEY_GIT_COMMIT, for `volley --version`: the commit built, with
/// "-dirty" when the tree had changes, or "unknown" where there is no git
/// (a source tarball). A builder that knows the revision without a .git
/// (the Nix flake: nix/packages.nix) sets VOLLEY_GIT_COMMIT itself.
fn git_commit() {
    println!("cargo:rerun-if-env-changed=VOLLEY_GIT_COMMIT");
    if let Ok(given) = std::env::var("VOLLEY_GIT_COMMIT")
        && !given.trim().is_empty()
    {
        println!("cargo:rustc-env=VOLLEY_GIT_COMMIT={}", given.trim());
        return;
    }
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = match git(&["rev-parse", "--short=10", "HEAD"]) {
        Some(c) if !c.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty { format!("{c}-dirty") } else { c }
        }
        _ => "unknown".to_owned(),
    };
    println!("cargo:rustc-env=VOLLEY_GIT_COMMIT={commit}");
    // Again when HEAD moves (a commit, a checkout), where there is a .git.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let dir = root.join(dir);
        let head = dir.join("HEAD");
        if head.exists() {
            println!("cargo:rerun-if-changed={}", head.display());
        }
        if let Ok(text) = std::fs::read_to_string(&head)
            && let Some(r) = text.trim().strip_prefix("ref: ")
            && dir.join(r).exists()
        {
            println!("cargo:rerun-if-changed={}", dir.join(r).display());
        }
        let index = dir.join("index");
        if index.exists() {
            println!("cargo:rerun-if-changed={}", index.display());
        }
    }
}
