//! Files a master lends to the workers of its own process (`volley run`'s
//! local workers): the plan names each file by a key of this process's
//! store instead of carrying its bytes, so a 100 MB data file is held once
//! in the process, not once more per local worker and per plan in flight.
//!
//! A worker proves it runs in the master's process with the process's
//! random key in its hello; another worker (or a forged key) gets the bytes
//! as before, or, holding no such store entry, fails its plan naming the
//! file: the store is never reachable from outside the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;

/// This process's key, random, made on first use.
pub fn process_key() -> &'static [u8; 16] {
    static KEY: OnceLock<[u8; 16]> = OnceLock::new();
    KEY.get_or_init(rand::random)
}

/// Whether a hello's key is this process's.
pub fn is_own_key(key: &[u8]) -> bool {
    key == process_key().as_slice()
}

static STORE: Mutex<BTreeMap<u64, Bytes>> = Mutex::new(BTreeMap::new());
static NEXT: AtomicU64 = AtomicU64::new(1);

fn store() -> std::sync::MutexGuard<'static, BTreeMap<u64, Bytes>> {
    STORE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Files lent for a run; they leave the store when it is dropped (the run's
/// end), so a long-lived master holds only the current run's.
#[derive(Debug, Default)]
pub struct Lease {
    keys: HashMap<String, u64>,
}

impl Lease {
    /// Lends `files` (shared buffers: nothing is copied).
    pub fn lend(files: &BTreeMap<String, Bytes>) -> Lease {
        let mut all = store();
        let keys = files
            .iter()
            .map(|(path, bytes)| {
                let key = NEXT.fetch_add(1, Ordering::Relaxed);
                all.insert(key, bytes.clone());
                (path.clone(), key)
            })
            .collect();
        Lease { keys }
    }

    /// Path → key, for the plan.
    pub fn keys(&self) -> &HashMap<String, u64> {
        &self.keys
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut all = store();
        for key in self.keys.values() {
            all.remove(key);
        }
    }
}

/// The file lent under `key`, if this process holds it.
pub fn borrow(key: u64) -> Option<Bytes> {
    store().get(&key).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lent_files_are_the_same_buffer_until_the_lease_ends() {
        let file = Bytes::from(vec![7u8; 1000]);
        let files = BTreeMap::from([("users.txt".to_owned(), file.clone())]);
        let lease = Lease::lend(&files);
        let key = lease.keys()["users.txt"];
        let got = borrow(key).unwrap();
        assert_eq!(got.as_ptr(), file.as_ptr(), "shared, not copied");
        drop(lease);
        assert!(borrow(key).is_none());
        assert!(is_own_key(process_key()));
        let mut other = *process_key();
        other[0] ^= 1;
        assert!(!is_own_key(&other));
        assert!(!is_own_key(b""));
    }
}
