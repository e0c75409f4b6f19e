//! The latency histogram: HDR, microseconds, 1 µs to one hour at three
//! significant digits, and its wire form (HDR V2 with deflate), so that
//! histograms from many places add up exactly.
//!
//! A histogram starts small and grows with the largest latency recorded
//! (hdrhistogram's auto-resize): 2,048 counters (16 KB) cover latencies up to
//! 2 ms, each doubling of the range adds 1,024, and the whole hour is 23,552
//! (188 KB). Bucket boundaries do not depend on the size, so histograms of
//! any sizes add exactly.

use std::io::Read;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// Latencies in microseconds.
pub type Latency = Histogram<u64>;

/// The largest latency recorded as itself; longer ones are clamped to it.
pub const MAX_MICROS: u64 = 3_600_000_000;
/// Significant decimal digits kept for every value.
pub const SIGNIFICANT_DIGITS: u8 = 3;
/// Counters of a histogram that reaches [`MAX_MICROS`]: no histogram of
/// volley's is larger.
pub const MAX_COUNTERS: usize = 23_552;
/// The highest value a histogram of [`MAX_COUNTERS`] counters tracks (the
/// top of the bucket that holds [`MAX_MICROS`]).
const MAX_TRACKABLE: u64 = (1 << 32) - 1;

/// Why a histogram could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("decoding an HDR histogram: {0}")]
pub struct DecodeError(String);

/// An empty latency histogram: small, growing with what it records.
pub fn new() -> Latency {
    // Bounds are constants that hdrhistogram accepts.
    let mut h = Histogram::new_with_bounds(1, 2, SIGNIFICANT_DIGITS)
        .unwrap_or_else(|_| unreachable!("constant histogram bounds are valid"));
    h.auto(true);
    h
}

/// Records one latency, clamped into the histogram's range.
#[inline]
pub fn record(h: &mut Latency, micros: u64) {
    record_n(h, micros, 1);
}

/// Records `count` latencies of `micros`, clamped into the histogram's range.
#[inline]
pub fn record_n(h: &mut Latency, micros: u64, count: u64) {
    let v = micros.clamp(1, MAX_MICROS);
    // `saturating_record` never grows a histogram: record, which does (an
    // auto-resizing one cannot fail on a value this small); a fixed-size one
    // from elsewhere clamps.
    if h.record_n(v, count).is_err() {
        h.saturating_record_n(v, count);
    }
}

/// Adds `other` into `into`; both share the bucket layout, so this is exact.
pub fn add(into: &mut Latency, other: &Latency) {
    if other.is_empty() {
        return;
    }
    if into.add(other).is_err() {
        // Only a fixed-size `into` smaller than `other` gets here.
        for v in other.iter_recorded() {
            record_n(into, v.value_iterated_to(), v.count_at_value());
        }
    }
}

/// Whether two histograms hold the same counts. hdrhistogram's `==` compares
/// the counters index by index over the left side's length, so two equal
/// histograms of different sizes can compare unequal; this does not.
pub fn equal(a: &Latency, b: &Latency) -> bool {
    let buckets = |h: &Latency| {
        h.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect::<Vec<_>>()
    };
    a.len() == b.len()
        && (a.is_empty() || (a.max() == b.max() && a.min_nz() == b.min_nz()))
        && buckets(a) == buckets(b)
}

/// The lowest value counted in the same bucket as `v` (for volley's layout:
/// a lowest value of 1 and 3 significant digits).
#[inline]
pub fn lowest_equivalent(v: u64) -> u64 {
    let shift = bucket_shift(v);
    (v >> shift) << shift
}

/// The highest value counted in the same bucket as `v`.
#[inline]
pub fn highest_equivalent(v: u64) -> u64 {
    lowest_equivalent(v).saturating_add((1 << bucket_shift(v)) - 1)
}

/// The middle of `v`'s bucket, as hdrhistogram takes it for the mean.
#[inline]
pub fn median_equivalent(v: u64) -> u64 {
    lowest_equivalent(v).saturating_add((1u64 << bucket_shift(v)) >> 1)
}

/// log2 of the width of `v`'s bucket: values below 2,048 have buckets of
/// one, and each doubling above doubles the width (2,048 sub-buckets).
#[inline]
fn bucket_shift(v: u64) -> u32 {
    53 - (v | 2047).leading_zeros()
}

/// Encodes in the HDR V2 deflate format. The header carries the highest
/// value the histogram can hold, which depends on how it grew (recorded
/// value by value, or added whole); the histogram is written as decoding
/// builds it (added whole into a new one), so that a result read back and
/// written again is the same bytes.
pub fn encode(h: &Latency) -> Vec<u8> {
    let mut canonical = new();
    add(&mut canonical, h);
    let mut out = Vec::new();
    // Serializing into a Vec only fails on an internal HDR error.
    let _ = V2DeflateSerializer::new().serialize(&canonical, &mut out);
    out
}

const V2_COOKIE: u32 = 0x1c84_9313;
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9314;
/// The V2 header after the cookie: payload length, normalizing offset,
/// significant digits, lowest and highest value, conversion ratio.
const V2_HEADER: usize = 36;

/// Checks the header of an encoded histogram before hdrhistogram reads it
/// (which allocates what the header says): volley's layout, a range no
/// wider than an hour, a payload no longer than such a histogram's.
fn check_header(bytes: &[u8]) -> Result<(), DecodeError> {
    let bad = |what: String| Err(DecodeError(what));
    let u32_at = |b: &[u8], i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let u64_at = |b: &[u8], i: usize| (u64::from(u32_at(b, i)) << 32) | u64::from(u32_at(b, i + 4));
    if bytes.len() < 8 {
        return bad("too short".into());
    }
    let mut header = [0u8; 4 + V2_HEADER];
    match u32_at(bytes, 0) {
        V2_COOKIE => {
            let Some(h) = bytes.get(..header.len()) else {
                return bad("the header is cut short".into());
            };
            header.copy_from_slice(h);
        }
        V2_COMPRESSED_COOKIE => {
            let mut inflate = flate2::read::ZlibDecoder::new(&bytes[8..]);
            inflate
                .read_exact(&mut header)
                .map_err(|e| DecodeError(format!("the compressed header: {e}")))?;
            if u32_at(&header, 0) != V2_COOKIE {
                return bad("not an HDR V2 histogram inside the compression".into());
            }
        }
        _ => return bad("not an HDR V2 histogram".into()),
    }
    let payload = u32_at(&header, 4) as usize;
    let digits = u32_at(&header, 12);
    let (low, high) = (u64_at(&header, 16), u64_at(&header, 24));
    if digits != u32::from(SIGNIFICANT_DIGITS) || low != 1 {
        return bad(format!(
            "{digits} significant digits from {low}: volley's histograms have {SIGNIFICANT_DIGITS} from 1"
        ));
    }
    if high > MAX_TRACKABLE {
        return bad(format!(
            "a range up to {high} µs, past volley's {MAX_MICROS} (one hour)"
        ));
    }
    // Each counter takes at most 9 bytes (a varint).
    if payload > MAX_COUNTERS * 9 {
        return bad(format!(
            "{payload} bytes of counters, more than any histogram of volley's"
        ));
    }
    Ok(())
}

/// Decodes the HDR V2 (plain or deflate) format, refusing histograms that are
/// not volley's (other significant digits or lowest value, a range past
/// [`MAX_MICROS`]) before allocating them, so that adding it in is exact and
/// a bad file costs nothing. The result is an auto-resizing histogram sized
/// to what it holds.
pub fn decode(bytes: &[u8]) -> Result<Latency, DecodeError> {
    check_header(bytes)?;
    let decoded: Latency = Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .map_err(|e| DecodeError(format!("{e:?}")))?;
    if decoded.sigfig() != SIGNIFICANT_DIGITS || decoded.low() != 1 {
        return Err(DecodeError("not volley's histogram layout".into()));
    }
    if !decoded.is_empty() && decoded.max() > highest_equivalent(MAX_MICROS) {
        return Err(DecodeError(format!(
            "a latency of {} µs, past volley's {MAX_MICROS} (one hour)",
            decoded.max()
        )));
    }
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

    /// A deterministic spread of values over many magnitudes.
    fn spread(n: u64) -> impl Iterator<Item = u64> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..n).map(move |i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            1 + x % (1 + 10u64.pow((i % 11) as u32))
        })
    }

    /// The histogram volley used before: dense, the whole hour up front.
    fn dense() -> Latency {
        Histogram::new_with_bounds(1, MAX_MICROS, SIGNIFICANT_DIGITS).unwrap()
    }

    #[test]
    fn encode_decode_round_trip() {
        let mut h = new();
        for v in [1, 10, 999, 1_000, 12_345, 60_000_000, u64::MAX] {
            record(&mut h, v);
        }
        let back = decode(&encode(&h)).unwrap();
        assert!(equal(&back, &h));
        assert_eq!(back.max(), h.max());
        assert_eq!(back.len(), 7);
        assert!(back.is_auto_resize());
        assert!(decode(b"garbage").is_err());
        assert!(decode(&[]).is_err());
        // Empty, and small: both come back as they went.
        let back = decode(&encode(&new())).unwrap();
        assert!(back.is_empty() && equal(&back, &new()));
        let mut small = new();
        record(&mut small, 150);
        assert!(equal(&decode(&encode(&small)).unwrap(), &small));
        // Written, read back and written again: the same bytes, however the
        // histogram grew (value by value here, added whole when decoded).
        let mut grown = new();
        for v in spread(5_000) {
            record(&mut grown, v);
        }
        let once = encode(&grown);
        assert_eq!(encode(&decode(&once).unwrap()), once);
    }

    #[test]
    fn decodes_what_the_dense_histogram_of_earlier_versions_wrote() {
        let (mut old, mut now) = (dense(), new());
        for v in spread(20_000).chain([MAX_MICROS, u64::MAX]) {
            old.saturating_record(v.clamp(1, MAX_MICROS));
            record(&mut now, v);
        }
        let back = decode(&encode(&old)).unwrap();
        assert!(equal(&back, &now) && equal(&back, &old));
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(quantile(&back, q), quantile(&old, q));
        }
        assert_eq!(
            (back.min(), back.max(), back.mean()),
            (old.min(), old.max(), old.mean())
        );
    }

    #[test]
    fn decode_refuses_other_layouts_and_ranges() {
        // Written as other tools would (encode() writes volley's layout).
        let refused = |h: &Latency| {
            let mut bytes = Vec::new();
            V2DeflateSerializer::new().serialize(h, &mut bytes).unwrap();
            let e = decode(&bytes).unwrap_err().to_string();
            assert!(e.contains("volley"), "{e}");
        };
        let mut two_digits = Histogram::<u64>::new_with_bounds(1, MAX_MICROS, 2).unwrap();
        two_digits.record(100).unwrap();
        refused(&two_digits);
        let mut from_ten = Histogram::<u64>::new_with_bounds(10, MAX_MICROS, 3).unwrap();
        from_ten.record(100).unwrap();
        refused(&from_ten);
        // A range up to u64::MAX: refused from its header, never allocated.
        let mut wide = Histogram::<u64>::new_with_bounds(1, u64::MAX, 3).unwrap();
        wide.record(100).unwrap();
        refused(&wide);
        // A range just past the hour's bucket, holding a value past it.
        let mut past = Histogram::<u64>::new_with_bounds(1, MAX_TRACKABLE, 3).unwrap();
        past.record(MAX_TRACKABLE).unwrap();
        refused(&past);
        // The same header, uncompressed, with a payload length past any of volley's.
        let mut plain = Vec::new();
        hdrhistogram::serialization::V2Serializer::new()
            .serialize(&new(), &mut plain)
            .unwrap();
        assert!(decode(&plain).is_ok());
        plain[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(
            decode(&plain)
                .unwrap_err()
                .to_string()
                .contains("bytes of counters")
        );
        assert!(decode(&plain[..20]).is_err());
    }

    #[test]
    fn the_layout_constants_are_hdrhistograms() {
        let mut h = new();
        record(&mut h, MAX_MICROS);
        assert_eq!(h.distinct_values(), MAX_COUNTERS);
        assert_eq!(h.high(), MAX_TRACKABLE);
        assert_eq!(dense().distinct_values(), MAX_COUNTERS);
        for v in spread(50_000).chain([0, 1, 2047, 2048, 2049, 4095, 4096, MAX_MICROS]) {
            assert_eq!(lowest_equivalent(v), h.lowest_equivalent(v), "{v}");
            assert_eq!(highest_equivalent(v), h.highest_equivalent(v), "{v}");
        }
    }

    #[test]
    fn a_histogram_of_a_few_small_values_is_small() {
        let mut h = new();
        assert!(h.distinct_values() <= 2048);
        for v in [90, 120, 150, 1_900] {
            record(&mut h, v);
        }
        // 2,048 counters (16 KB), not the hour's 23,552 (188 KB).
        assert!(h.distinct_values() <= 2048, "{}", h.distinct_values());
        record(&mut h, 10_000);
        assert!(h.distinct_values() <= 5 * 1024, "{}", h.distinct_values());
        assert_eq!(h.max(), highest_equivalent(10_000));
    }

    #[test]
    fn merging_n_snapshots_equals_one_histogram_of_all_samples() {
        let mut all = new();
        let mut old = dense();
        let mut parts: Vec<Latency> = (0..7).map(|_| new()).collect();
        for (i, v) in spread(70_000).enumerate() {
            record(&mut all, v);
            old.saturating_record(v.clamp(1, MAX_MICROS));
            record(&mut parts[i % 7], v);
        }
        let mut merged = new();
        for p in &parts {
            // Through the wire format, as the master will.
            add(&mut merged, &decode(&encode(p)).unwrap());
        }
        assert!(equal(&merged, &all));
        assert_eq!(merged, all);
        // The same numbers as the dense histogram of earlier versions.
        assert!(equal(&merged, &old));
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(quantile(&merged, q), quantile(&all, q));
            assert_eq!(quantile(&merged, q), quantile(&old, q));
        }
        // Adding into a fixed-size histogram still works.
        let mut fixed = dense();
        add(&mut fixed, &merged);
        assert!(equal(&fixed, &old));
    }

    #[test]
    fn equal_ignores_the_size() {
        let (mut small, mut big) = (new(), new());
        record(&mut big, 1_000_000);
        big.reset();
        record(&mut small, 5);
        record(&mut big, 5);
        assert!(small.distinct_values() < big.distinct_values());
        assert!(equal(&small, &big) && equal(&big, &small));
        // What hdrhistogram's == says, one way round.
        assert_ne!(big, small);
        record(&mut small, 6);
        assert!(!equal(&small, &big));
    }
}
