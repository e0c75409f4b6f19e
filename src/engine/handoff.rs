//! How the open model's arrivals reach its executors: an arrival goes
//! straight to an executor waiting for one (the one idle longest, so every
//! connection of the pool stays in use), or waits in a bounded queue while
//! every executor is busy; one that finds the queue full is missed.
//!
//! This replaced a general channel whose every send and receive went
//! through an event listener: the dispatcher and the executors share one
//! short lock, a hand-off is a slot written and one task woken, and whether
//! an arrival found a connection free is known exactly (it was handed to an
//! idle executor), not estimated from two counters read apart.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use parking_lot::Mutex;

/// One arrival, as the dispatcher hands it to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Arrival<T = ()> {
    /// When it was meant to start.
    pub intended: Instant,
    /// Whether an executor was idle when it was dispatched: it found a free
    /// connection, and any delay before it leaves is the generator's.
    pub free: bool,
    /// What it sends (a replay's request; nothing for the open model, whose
    /// executors pick).
    pub item: T,
}

/// What became of an arrival given to [`Handoff::offer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Offered {
    /// An idle executor has it.
    Taken,
    /// Every executor is busy: it waits for the first one free.
    Queued,
    /// The queue was full (or the hand-off closed): it is not sent.
    Missed,
}

/// The meeting point of the dispatcher and the executors.
pub(super) struct Handoff<T = ()> {
    inner: Mutex<Inner<T>>,
    /// The most arrivals that wait at once.
    capacity: usize,
}

struct Inner<T> {
    /// Arrivals every executor was busy for, oldest first.
    queue: VecDeque<Arrival<T>>,
    /// Executors waiting, longest first.
    idle: VecDeque<usize>,
    /// Per executor: the arrival handed to it, and its waker while it
    /// waits (an executor waits in at most one place: `idle` lists it
    /// once).
    slots: Vec<Slot<T>>,
    /// Arrivals waiting in executors' own queues ([`Handoff::offer_to`]).
    owned: usize,
    closed: bool,
}

struct Slot<T> {
    handed: Option<Arrival<T>>,
    /// Arrivals for this executor only, oldest first: a session's requests
    /// go in order on one executor's state.
    own: VecDeque<Arrival<T>>,
    waker: Option<Waker>,
    waiting: bool,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            handed: None,
            own: VecDeque::new(),
            waker: None,
            waiting: false,
        }
    }
}

impl Handoff<()> {
    /// Gives an arrival to the executor idle longest, else queues it.
    pub(super) fn offer(&self, intended: Instant) -> Offered {
        self.offer_item(intended, ())
    }
}

impl<T> Handoff<T> {
    /// A hand-off for executors numbered from 0, with up to `capacity`
    /// arrivals waiting (at least one).
    pub(super) fn new(capacity: usize) -> Self {
        Handoff {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                idle: VecDeque::new(),
                slots: Vec::new(),
                owned: 0,
                closed: false,
            }),
            capacity: capacity.max(1),
        }
    }

    /// Gives an arrival carrying `item` to the executor idle longest, else
    /// queues it.
    pub(super) fn offer_item(&self, intended: Instant, item: T) -> Offered {
        let mut g = self.inner.lock();
        if g.closed {
            return Offered::Missed;
        }
        while let Some(id) = g.idle.pop_front() {
            let Some(slot) = g.slots.get_mut(id) else {
                continue;
            };
            if !slot.waiting {
                continue;
            }
            return hand(g, id, intended, item);
        }
        if g.queue.len().saturating_add(g.owned) >= self.capacity {
            return Offered::Missed;
        }
        g.queue.push_back(Arrival {
            intended,
            free: false,
            item,
        });
        Offered::Queued
    }

    /// Gives an arrival to executor `id` and no other: at once if it waits
    /// with nothing of its own before it, else after what it has.
    pub(super) fn offer_to(&self, id: usize, intended: Instant, item: T) -> Offered {
        let mut g = self.inner.lock();
        if g.closed {
            return Offered::Missed;
        }
        if g.slots.len() <= id {
            g.slots.resize_with(id + 1, Slot::default);
        }
        let slot = &g.slots[id];
        if slot.waiting && slot.handed.is_none() && slot.own.is_empty() {
            // Its entry in `idle` goes stale: `waiting` is checked there.
            return hand(g, id, intended, item);
        }
        if g.queue.len().saturating_add(g.owned) >= self.capacity {
            return Offered::Missed;
        }
        g.owned += 1;
        g.slots[id].own.push_back(Arrival {
            intended,
            free: false,
            item,
        });
        Offered::Queued
    }

    /// Executor `id`'s next arrival: one handed to it, else the oldest
    /// queued, else it waits. None once closed and nothing is left for it.
    pub(super) fn poll_next(&self, id: usize, cx: &mut Context<'_>) -> Poll<Option<Arrival<T>>> {
        let mut g = self.inner.lock();
        if g.slots.len() <= id {
            g.slots.resize_with(id + 1, Slot::default);
        }
        if let Some(a) = g.slots[id].handed.take() {
            return Poll::Ready(Some(a));
        }
        if let Some(a) = g.slots[id].own.pop_front() {
            g.owned = g.owned.saturating_sub(1);
            return Poll::Ready(Some(a));
        }
        if let Some(a) = g.queue.pop_front() {
            return Poll::Ready(Some(a));
        }
        if g.closed {
            return Poll::Ready(None);
        }
        let was_waiting = g.slots[id].waiting;
        let slot = &mut g.slots[id];
        slot.waiting = true;
        match &mut slot.waker {
            Some(w) => w.clone_from(cx.waker()),
            None => slot.waker = Some(cx.waker().clone()),
        }
        if !was_waiting {
            g.idle.push_back(id);
        }
        Poll::Pending
    }

    /// Executor `id`'s next arrival (see [`Handoff::poll_next`]).
    pub(super) async fn next(&self, id: usize) -> Option<Arrival<T>> {
        std::future::poll_fn(|cx| self.poll_next(id, cx)).await
    }

    /// No more arrivals: executors take what is queued, then get None.
    pub(super) fn close(&self) {
        let mut g = self.inner.lock();
        g.closed = true;
        let wakers: Vec<Waker> = g.slots.iter_mut().filter_map(|s| s.waker.take()).collect();
        drop(g);
        for w in wakers {
            w.wake();
        }
    }
}

/// Hands an arrival to executor `id`, which waits for one, and wakes it
/// (after the lock is let go).
fn hand<T>(
    mut g: parking_lot::MutexGuard<'_, Inner<T>>,
    id: usize,
    intended: Instant,
    item: T,
) -> Offered {
    let Some(slot) = g.slots.get_mut(id) else {
        return Offered::Missed;
    };
    slot.waiting = false;
    slot.handed = Some(Arrival {
        intended,
        free: true,
        item,
    });
    let waker = slot.waker.take();
    drop(g);
    if let Some(w) = waker {
        w.wake();
    }
    Offered::Taken
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn an_idle_executor_gets_the_arrival_free_the_longest_idle_first() {
        let h = Handoff::new(4);
        let (c0, w0) = waker();
        let (c1, w1) = waker();
        let t = Instant::now();
        assert!(h.poll_next(0, &mut Context::from_waker(&w0)).is_pending());
        assert!(h.poll_next(1, &mut Context::from_waker(&w1)).is_pending());
        // Polled again while waiting: listed once, not twice.
        assert!(h.poll_next(0, &mut Context::from_waker(&w0)).is_pending());
        assert_eq!(h.offer(t), Offered::Taken);
        assert_eq!(c0.0.load(Ordering::Relaxed), 1);
        assert_eq!(c1.0.load(Ordering::Relaxed), 0);
        assert_eq!(
            h.poll_next(0, &mut Context::from_waker(&w0)),
            Poll::Ready(Some(Arrival {
                intended: t,
                free: true,
                item: ()
            }))
        );
        assert_eq!(h.offer(t), Offered::Taken);
        assert_eq!(c1.0.load(Ordering::Relaxed), 1);
        // Nobody idle: queued, not free, up to the capacity, then missed.
        for _ in 0..4 {
            assert_eq!(h.offer(t), Offered::Queued);
        }
        assert_eq!(h.offer(t), Offered::Missed);
        assert_eq!(
            h.poll_next(0, &mut Context::from_waker(&w0)),
            Poll::Ready(Some(Arrival {
                intended: t,
                free: false,
                item: ()
            }))
        );
        assert_eq!(h.offer(t), Offered::Queued);
    }

    #[test]
    fn an_arrival_for_one_executor_waits_for_it_in_order() {
        let h: Handoff<u32> = Handoff::new(3);
        let (c0, w0) = waker();
        let (_, w1) = waker();
        let t = Instant::now();
        assert!(h.poll_next(0, &mut Context::from_waker(&w0)).is_pending());
        assert!(h.poll_next(1, &mut Context::from_waker(&w1)).is_pending());
        // To 0, waiting: handed at once.
        assert_eq!(h.offer_to(0, t, 1), Offered::Taken);
        assert_eq!(c0.0.load(Ordering::Relaxed), 1);
        // To 0 again, busy: its own queue, not 1's, although 1 is idle.
        assert_eq!(h.offer_to(0, t, 2), Offered::Queued);
        assert_eq!(h.offer_to(0, t, 3), Offered::Queued);
        assert!(h.poll_next(1, &mut Context::from_waker(&w1)).is_pending());
        let items: Vec<u32> = (0..3)
            .map(|_| match h.poll_next(0, &mut Context::from_waker(&w0)) {
                Poll::Ready(Some(a)) => a.item,
                other => panic!("{:?}", other.map(|o| o.map(|a| a.item))),
            })
            .collect();
        assert_eq!(items, [1, 2, 3]);
        // Own queues count against the capacity shared with the pool's.
        assert_eq!(h.offer_to(0, t, 4), Offered::Queued);
        assert_eq!(h.offer_to(0, t, 5), Offered::Queued);
        assert_eq!(h.offer_item(t, 6), Offered::Taken);
        assert_eq!(h.offer_item(t, 7), Offered::Queued);
        assert_eq!(h.offer_to(0, t, 8), Offered::Missed);
    }

    #[test]
    fn closing_drains_the_queue_then_ends_every_executor() {
        let h = Handoff::new(8);
        let (c, w) = waker();
        let t = Instant::now();
        assert_eq!(h.offer(t), Offered::Queued);
        assert!(h.poll_next(1, &mut Context::from_waker(&w)).is_ready());
        assert!(h.poll_next(1, &mut Context::from_waker(&w)).is_pending());
        h.close();
        assert_eq!(c.0.load(Ordering::Relaxed), 1);
        assert_eq!(h.offer(t), Offered::Missed);
        assert_eq!(
            h.poll_next(1, &mut Context::from_waker(&w)),
            Poll::Ready(None)
        );
    }
}
