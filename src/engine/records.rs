//! Per-user records (`pick = "per_user"` data sources): each user holds one
//! row of its own for its life, and no row is held by two users at once. An
//! engine hands out only its slice of the rows, cut from the file by its
//! [`Share`] exactly as its users are, so the engines of a cluster never hand
//! out the same row.

use std::ops::Range;

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::share::Share;
use crate::scenario::DataSource;
use crate::scenario::data::Pick;

/// The rows of one per-user source that this engine may hand out.
struct Pool {
    range: Range<usize>,
    held: Vec<bool>,
    /// Where the next search starts: rows go out in file order.
    next: usize,
}

impl Pool {
    fn take(&mut self) -> Option<usize> {
        let len = self.range.len();
        let from = self.next.clamp(self.range.start, self.range.end);
        for i in 0..len {
            let row = self.range.start + (from - self.range.start + i) % len;
            if !self.held[row] {
                self.held[row] = true;
                self.next = row + 1;
                return Some(row);
            }
        }
        None
    }
}

/// Every per-user source's pool (None for other sources).
pub struct Records {
    pools: Vec<Option<Mutex<Pool>>>,
    /// Bumped when a new share moves the slices: users check their rows
    /// only then, not on every turn.
    epoch: AtomicU64,
}

impl Records {
    pub fn new(data: &[DataSource], share: Share) -> Self {
        let pools = data
            .iter()
            .map(|d| {
                (d.pick == Pick::PerUser).then(|| {
                    let range = share.range(d.rows.len());
                    Mutex::new(Pool {
                        next: range.start,
                        range,
                        held: vec![false; d.rows.len()],
                    })
                })
            })
            .collect();
        Records {
            pools,
            epoch: AtomicU64::new(0),
        }
    }

    /// Changes with every new share that moved a slice.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Whether any source is per-user.
    pub fn any(&self) -> bool {
        self.pools.iter().any(Option::is_some)
    }

    /// How many users can hold records at once (None: no per-user source).
    pub fn capacity(&self) -> Option<usize> {
        self.pools
            .iter()
            .flatten()
            .map(|p| p.lock().range.len())
            .min()
    }

    /// A new share: from now on only rows of the new slice go out.
    pub fn set_share(&self, share: Share) {
        for p in self.pools.iter().flatten() {
            let mut p = p.lock();
            let range = share.range(p.held.len());
            if p.range != range {
                p.next = range.start;
                p.range = range;
                self.epoch.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// Takes a row of every per-user source into `own`, all or none; on
    /// failure, the index of a source with no free row.
    pub fn take(&self, own: &mut [Option<usize>]) -> Result<(), usize> {
        for (i, p) in self.pools.iter().enumerate() {
            let Some(p) = p else { continue };
            if own[i].is_some() {
                continue;
            }
            match p.lock().take() {
                Some(row) => own[i] = Some(row),
                None => {
                    self.release(own);
                    return Err(i);
                }
            }
        }
        Ok(())
    }

    /// Gives the rows in `own` back.
    pub fn release(&self, own: &mut [Option<usize>]) {
        for (p, slot) in self.pools.iter().zip(own.iter_mut()) {
            if let (Some(p), Some(row)) = (p, slot.take()) {
                p.lock().held[row] = false;
            }
        }
    }

    /// Whether every row in `own` is still in this engine's slice (a new
    /// share may have moved it to another engine).
    pub fn still_own(&self, own: &[Option<usize>]) -> bool {
        self.pools.iter().zip(own).all(|(p, slot)| match (p, slot) {
            (Some(p), Some(row)) => p.lock().range.contains(row),
            (Some(_), None) => false,
            (None, _) => true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts(n: usize) -> Vec<DataSource> {
        let text: String = std::iter::once("user\n".to_string())
            .chain((0..n).map(|i| format!("u{i}\n")))
            .collect();
        vec![DataSource::from_csv("acct", "a.csv", text.clone(), None, Pick::PerUser).unwrap()]
    }

    #[test]
    fn rows_go_out_in_order_once_and_come_back() {
        let r = Records::new(&accounts(3), Share::WHOLE);
        assert_eq!(r.capacity(), Some(3));
        let mut users = [[None]; 4];
        for u in users.iter_mut().take(3) {
            r.take(u).unwrap();
        }
        assert_eq!(users[..3], [[Some(0)], [Some(1)], [Some(2)]]);
        // A fourth user finds nothing free.
        assert_eq!(r.take(&mut users[3]), Err(0));
        assert_eq!(users[3], [None]);
        r.release(&mut users[1]);
        r.take(&mut users[3]).unwrap();
        assert_eq!(users[3], [Some(1)]);
    }

    #[test]
    fn engines_get_disjoint_slices_and_follow_a_new_share() {
        let data = accounts(10);
        let shares = Share::split(&[1, 2, 1]);
        let engines: Vec<Records> = shares.iter().map(|s| Records::new(&data, *s)).collect();
        let mut seen = Vec::new();
        for e in &engines {
            loop {
                let mut own = [None];
                if e.take(&mut own).is_err() {
                    break;
                }
                seen.push(own[0].unwrap());
            }
        }
        seen.sort();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        // Engine 0 grows to half: its old rows stay its own, new ones go out.
        let mut own = [None];
        let before = engines[0].epoch();
        engines[0].set_share(Share { lo: 0.0, hi: 0.5 });
        assert!(engines[0].epoch() > before);
        assert!(engines[0].still_own(&[Some(0)]));
        engines[0].take(&mut own).unwrap();
        assert!((3..5).contains(&own[0].unwrap()), "{own:?}");
        // Engine 2 shrinks away from row 9.
        engines[2].set_share(Share { lo: 0.5, hi: 0.8 });
        assert!(!engines[2].still_own(&[Some(9)]));
    }
}
