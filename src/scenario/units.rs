//! Durations and sizes as a person writes them ("1m30s", "4MiB") and as
//! messages show them: one reading and one spelling for the file, the
//! flags and every message about a bound.

use std::time::Duration;

/// A duration that does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// A bare number (seconds) out of `Duration`'s range, or not finite.
    #[error("{0:?} is not a duration; write e.g. 250ms, 10s, 1m30s")]
    Seconds(String),
    /// Text humantime does not read, and why.
    #[error("{text:?} is not a duration ({why}); write e.g. 250ms, 10s, 1m30s")]
    Text { text: String, why: String },
}

/// A size that does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a size; write e.g. 4MiB, 512KiB, 1MB or 100B")]
pub struct SizeError(pub String);

// Flags are parsed by functions that give clap a String; `?` turns these
// errors into their text there.
impl From<DurationError> for String {
    fn from(e: DurationError) -> String {
        e.to_string()
    }
}

impl From<SizeError> for String {
    fn from(e: SizeError) -> String {
        e.to_string()
    }
}

/// Parses "10s", "1m30s", "250ms", "2h".
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let t = s.trim();
    // A bare number is seconds, as Locust's -t 10 and k6's durations read.
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return t
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .and_then(|x| Duration::try_from_secs_f64(x).ok())
            .ok_or_else(|| DurationError::Seconds(s.to_owned()));
    }
    humantime::parse_duration(t).map_err(|e| DurationError::Text {
        text: s.to_owned(),
        why: e.to_string(),
    })
}

/// A size: an integer of bytes, or a number with a unit (any case): B, KB
/// (1000), KiB (1024), MB, MiB, GB, GiB, e.g. "4MiB", "512KiB", "1.5MB".
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    let bad = || SizeError(s.to_owned());
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" => 1 << 10,
        "mb" => 1_000_000,
        "mib" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad());
    }
    if let Ok(n) = number.parse::<u64>() {
        return n.checked_mul(mult).ok_or_else(bad);
    }
    let x: f64 = number.parse().map_err(|_| bad())?;
    let bytes = x * mult as f64;
    if !(bytes.is_finite() && bytes < u64::MAX as f64) {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// A duration as a person writes it (and [`parse_duration`] reads it): the
/// largest unit that divides it.
pub fn show(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_nanos() == 0 && s > 0 {
        for (unit, name) in [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")] {
            if s.is_multiple_of(unit) {
                return format!("{}{name}", s / unit);
            }
        }
    }
    if d.as_nanos().is_multiple_of(1_000_000) {
        return format!("{}ms", d.as_millis());
    }
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_show_alike() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(show(Duration::from_secs(90)), "90s");
        assert_eq!(show(Duration::from_millis(250)), "250ms");
        assert_eq!(
            parse_duration("1e999").unwrap_err().to_string(),
            parse_duration("1e999").map_err(String::from).unwrap_err()
        );
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .to_string()
                .starts_with("\"soon\" is not a duration (")
        );
    }
}
