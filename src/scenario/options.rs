//! What a scenario is compiled with besides its text: where the files it
//! names come from ([`Sources`]: the disk next to it, or the copies a
//! master sent) and the options given outside the file ([`Options`]).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;

/// Where the files a scenario names come from: the disk next to the scenario,
/// or (on a worker) the copies the master sent.
pub trait Sources: Sync {
    fn read(&self, relative: &str) -> std::io::Result<Bytes>;
}

/// Files relative to a folder on disk.
pub struct DiskSources(pub PathBuf);

impl Sources for DiskSources {
    fn read(&self, relative: &str) -> std::io::Result<Bytes> {
        std::fs::read(self.0.join(relative)).map(Bytes::from)
    }
}

/// Files held in memory, by relative path (shared, not copied: a data file
/// of 100 MB read by the master and its local workers is held once).
pub struct MemorySources(pub BTreeMap<String, Bytes>);

impl Sources for MemorySources {
    fn read(&self, relative: &str) -> std::io::Result<Bytes> {
        self.0.get(&normalize(relative)).cloned().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{relative} was not sent"),
            )
        })
    }
}

/// Options given outside the file.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// --host: replaces the base URL of every HTTP request.
    pub host: Option<String>,
    /// -H/--header: added to every HTTP request, replacing the file's
    /// header of the same name.
    pub headers: Vec<(String, String)>,
    /// Values for `${NAME}` that take precedence over the environment
    /// (`volley demo` points the scenario at its embedded servers this way).
    pub vars: BTreeMap<String, String>,
    /// Look names up in `vars` only, never in this process's environment (a
    /// worker compiles with the values its master resolved).
    pub isolated: bool,
    /// The schema the gRPC endpoint gave by server reflection: with it, a
    /// scenario that says `reflection = true` has its methods and messages
    /// checked now, each mistake at its place in the file, as with .proto
    /// files.
    pub reflected: Option<prost_reflect::DescriptorPool>,
}

/// "a/./b/../c" → "a/c", with forward slashes.
pub fn normalize(relative: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in Path::new(relative).components() {
        match c {
            Component::ParentDir => {
                if parts.last().is_some_and(|p| p != "..") {
                    parts.pop();
                } else {
                    parts.push("..".into());
                }
            }
            Component::CurDir => {}
            other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    parts.join("/")
}
