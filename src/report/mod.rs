//! Reports read a run's statistics and never change them: the summary table
//! ([`summary`]), the status line, the JSON result ([`json`]), Locust-style
//! CSV files ([`csv`]), CI thresholds ([`threshold`]) and their JUnit XML
//! ([`junit`]).

pub mod csv;
pub mod json;
pub mod junit;
pub mod summary;
pub mod threshold;

/// Microseconds as a short human figure: 850us, 12.3ms, 1.25s.
pub fn format_micros(us: f64) -> String {
    if us < 1_000.0 {
        format!("{us:.0}us")
    } else if us < 1_000_000.0 {
        let ms = us / 1_000.0;
        if ms < 10.0 {
            format!("{ms:.2}ms")
        } else if ms < 100.0 {
            format!("{ms:.1}ms")
        } else {
            format!("{ms:.0}ms")
        }
    } else {
        format!("{:.2}s", us / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn micros_format() {
        assert_eq!(super::format_micros(850.0), "850us");
        assert_eq!(super::format_micros(1_234.0), "1.23ms");
        assert_eq!(super::format_micros(12_345.0), "12.3ms");
        assert_eq!(super::format_micros(250_000.0), "250ms");
        assert_eq!(super::format_micros(1_250_000.0), "1.25s");
    }
}
