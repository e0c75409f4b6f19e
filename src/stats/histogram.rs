//! The latency histogram: HDR, microseconds, 1 µs to one hour at three
//! significant digits, and its wire form (HDR V2 with deflate), so that
//! histograms from many places add up exactly.

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// Latencies in microseconds.
pub type Latency = Histogram<u64>;

/// The largest latency recorded as itself; longer ones are clamped to it.
pub const MAX_MICROS: u64 = 3_600_000_000;
/// Significant decimal digits kept for every value.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// Why a histogram could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("decoding an HDR histogram: {0}")]
pub struct DecodeError(String);

/// An empty latency histogram.
pub fn new() -> Latency {
    // Bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_MICROS, SIGNIFICANT_DIGITS)
        .unwrap_or_else(|_| unreachable!("constant histogram bounds are valid"))
}

/// Records one latency, clamped into the histogram's range.
#[inline]
pub fn record(h: &mut Latency, micros: u64) {
    h.saturating_record(micros.clamp(1, MAX_MICROS));
}

/// Adds `other` into `into`; both share the bounds above, so this is exact.
pub fn add(into: &mut Latency, other: &Latency) {
    if other.is_empty() {
        return;
    }
    // Same bounds on both sides: add cannot fail for range reasons.
    let _ = into.add(other);
}

/// Encodes in the HDR V2 deflate format.
pub fn encode(h: &Latency) -> Vec<u8> {
    let mut out = Vec::new();
    // Serializing into a Vec only fails on an internal HDR error.
    let _ = V2DeflateSerializer::new().serialize(h, &mut out);
    out
}

/// Decodes the HDR V2 (plain or deflate) format, checking that the bounds
/// are the ones volley uses, so that adding it in is exact.
pub fn decode(bytes: &[u8]) -> Result<Latency, DecodeError> {
    let decoded: Latency = Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .map_err(|e| DecodeError(format!("{e:?}")))?;
    let mut h = new();
    h.add(&decoded)
        .map_err(|e| DecodeError(format!("histogram out of range: {e:?}")))?;
    Ok(h)
}

/// Latency at quantile `q` (0..=1), in microseconds; 0 when empty.
pub fn quantile(h: &Latency, q: f64) -> u64 {
    if h.is_empty() {
        0
    } else {
        h.value_at_quantile(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let mut h = new();
        for v in [1, 10, 999, 1_000, 12_345, 60_000_000, u64::MAX] {
            record(&mut h, v);
        }
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.max(), h.max());
        assert_eq!(back.len(), 7);
        assert!(decode(b"garbage").is_err());
    }

    #[test]
    fn merging_n_snapshots_equals_one_histogram_of_all_samples() {
        let mut all = new();
        let mut parts: Vec<Latency> = (0..7).map(|_| new()).collect();
        // A deterministic spread of values over many magnitudes.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..70_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = 1 + x % (1 + 10u64.pow((i % 8) as u32));
            record(&mut all, v);
            record(&mut parts[(i % 7) as usize], v);
        }
        let mut merged = new();
        for p in &parts {
            // Through the wire format, as the master will.
            add(&mut merged, &decode(&encode(p)).unwrap());
        }
        assert_eq!(merged, all);
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(quantile(&merged, q), quantile(&all, q));
        }
    }
}
