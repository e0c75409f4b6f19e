//! Inference allocates nothing: counted with a global allocator that this
//! test binary alone installs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn predict_does_not_allocate() {
    let model = predict::Model::builtin().unwrap();
    let texts = [
        "",
        "GOAL",
        "Central bank holds rates steady as inflation cools; shares rally and the dollar slips against the euro in late trading.",
        "Café naïve 🚀 ümlaut",
    ];
    let mut labels = 0;
    for text in texts {
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        let p = model.predict(text);
        let after = ALLOCATIONS.load(Ordering::SeqCst);
        assert_eq!(after - before, 0, "predict({text:?}) allocated");
        labels += p.label.len();
    }
    assert!(labels > 0);
}
