//! A WebSocket frame header announcing a huge payload makes the server
//! allocate nothing of that size: the largest single allocation is recorded
//! by a global allocator that this test binary alone installs.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Largest = Largest;

#[tokio::test]
async fn huge_frame_headers_allocate_nothing_of_their_size() {
    let server = common::start_rest(None).await;
    for length in [1u64 << 63, 1 << 40, 1 << 31, 16 << 20] {
        let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        s.write_all(
            b"GET /predict/ws HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\
              sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .unwrap();
        let mut head = Vec::new();
        // Up to the end of the head, bounded by its size.
        while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
            let mut b = [0u8; 1];
            assert_eq!(s.read(&mut b).await.unwrap(), 1);
            head.push(b[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 101"));
        LARGEST.store(0, Ordering::SeqCst);
        let mut frame = vec![0x81, 0xff];
        frame.extend_from_slice(&length.to_be_bytes());
        frame.extend_from_slice(&[1, 2, 3, 4]);
        // A little of the announced payload too.
        frame.extend_from_slice(&[b'x'; 4096]);
        s.write_all(&frame).await.unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("the server reacts in time")
            .unwrap_or(0);
        assert!(n >= 4 && buf[0] == 0x88, "a close: {:?}", &buf[..n]);
        assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), 1009);
        let largest = LARGEST.load(Ordering::SeqCst);
        assert!(
            largest < 1 << 20,
            "a {length}-byte frame header led to a {largest}-byte allocation"
        );
    }
}
