//! The cluster: one master and many workers over QUIC. The master
//! ([`master`]) accepts workers, hands each a [`wire::Plan`] with its share of
//! the load and merges the statistics they stream back; a worker ([`worker`])
//! runs the engine on the plans it receives. [`coordinator`] drives one run
//! over the connected workers; [`local`] starts workers in this process, which
//! is how `volley run` works, so one code path serves both; [`capacity`] runs a
//! capacity search as one run per probe on one pool of workers. The wire format
//! is proto/volley/v1/cluster.proto ([`wire`]), framed on QUIC streams
//! ([`framing`]); TLS identities and their checks are in [`identity`], join
//! tokens in [`token`], the conversions between engine and wire types in
//! [`convert`], and what a run publishes for the console in [`live`]. docs/protocol.md describes the exchange.

pub mod capacity;
pub mod convert;
pub mod coordinator;
pub mod framing;
pub mod identity;
pub mod live;
pub mod local;
pub mod master;
pub mod shared;
pub mod token;
pub mod worker;

/// The generated protocol types.
#[allow(clippy::large_enum_variant)] // generated: a plan is rare, boxing it buys nothing
pub mod wire {
    include!(concat!(env!("OUT_DIR"), "/volley.cluster.v1.rs"));
}

/// The protocol version this build speaks; a peer of another is refused.
/// 2: snapshots carry time-to-first-byte rows after the streams' (a
/// version-1 master would refuse their indices).
pub const PROTOCOL_VERSION: u32 = 3;

/// TLS application protocol of the cluster connection.
pub const ALPN: &[u8] = b"volley/1";

/// The default port of `volley master` (UDP).
pub const DEFAULT_PORT: u16 = 7700;

/// The largest frame a master reads from a worker.
pub const MAX_WORKER_FRAME: usize = 16 * 1024 * 1024;

/// The largest frame a worker reads from its master (plans carry data files).
pub const MAX_MASTER_FRAME: usize = 1024 * 1024 * 1024;
