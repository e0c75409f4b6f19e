//! How the comparison's numbers read wherever they are shown: confidence,
//! percentages, percentage points and signed changes with their intervals.

/// "95%" for alpha 0.05.
pub fn confidence(alpha: f64) -> String {
    let c = (1.0 - alpha) * 100.0;
    if (c - c.round()).abs() < 1e-9 {
        format!("{c:.0}%")
    } else {
        format!("{c}%")
    }
}

/// A fraction as a percentage without a sign: 0.05 → "5%".
pub fn percent(x: f64) -> String {
    let p = x * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}%")
    } else {
        format!("{p}%")
    }
}

/// A fraction as percentage points: 0.001 → "0.1pp".
pub fn points(x: f64) -> String {
    format!("{}pp", percent(x).trim_end_matches('%'))
}

/// `x` rounded to `decimals`, never -0 (which would print as "-0.0").
fn rounded(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    let r = (x * scale).round() / scale;
    if r == 0.0 { 0.0 } else { r }
}

/// A relative change: +19.8%.
pub fn signed(x: f64) -> String {
    if x.is_finite() {
        format!("{:+.1}%", rounded(x * 100.0, 1))
    } else {
        "n/a".into()
    }
}

/// A difference of rates in percentage points: +0.12pp.
pub fn signed_points(x: f64) -> String {
    format!("{:+.2}pp", rounded(x * 100.0, 2))
}

/// An interval of relative changes: [+19.2%, +20.4%].
pub fn interval(low: f64, high: f64) -> String {
    format!("[{}, {}]", signed(low), signed(high))
}
