//! The statistics behind `volley compare`, on exact HDR histograms and on a
//! run's per-second series: distribution-free intervals for a percentile
//! from its rank, the same widened by the spread of the per-second
//! percentiles (batch quantiles, for samples that are not independent),
//! Welch's combination of two sides, a two-proportion test for error rates
//! with bursts counted, and the probability that a candidate request is
//! slower than a baseline one (the Mann-Whitney effect size), from buckets.
//!
//! No random numbers: a multinomial bootstrap of a percentile converges to
//! the binomial distribution of its rank, which is computed here directly,
//! so the same files always give the same verdict.

use crate::stats::Latencies;
use crate::stats::histogram;

/// The standard normal distribution function.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// The complementary error function, with a fractional error under 1.2e-7
/// everywhere (Numerical Recipes' Chebyshev fit): plenty for p-values.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// The inverse of [`normal_cdf`] (Acklam's rational approximation, relative
/// error under 1.2e-9); `p` is clamped into (0, 1).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.024_25 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.024_25 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7): 15 digits.
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = G[1..]
        .iter()
        .enumerate()
        .fold(G[0], |s, (i, g)| s + g / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The continued fraction of the incomplete beta function (modified
/// Lentz), converging fast for x < (a + 1) / (a + b + 2).
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        for aa in [
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ] {
            d = 1.0 + aa * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + aa / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
            if aa == 0.0 {
                break;
            }
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// The regularized incomplete beta function I_x(a, b).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// Degrees of freedom past which Student's t is the normal distribution.
const NORMAL_DF: f64 = 1e7;

/// Student's t distribution function with `df` degrees of freedom (any
/// positive real; infinite is the normal distribution).
pub fn t_cdf(t: f64, df: f64) -> f64 {
    if df.is_nan() || df >= NORMAL_DF {
        return normal_cdf(t);
    }
    let tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
    if t > 0.0 { 1.0 - tail } else { tail }
}

/// The inverse of [`t_cdf`], by bisection (the function is monotone; 200
/// halvings reach f64's precision from any bracket).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if df.is_nan() || df >= NORMAL_DF {
        return normal_quantile(p);
    }
    let p = p.clamp(1e-15, 1.0 - 1e-15);
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    let (mut lo, mut hi) = (0.0, normal_quantile(p).max(1.0));
    while t_cdf(hi, df) < p && hi < 1e15 {
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-12 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// What set the width of a side's spread: its requests taken as
/// independent, the spread of its per-second percentiles, or the spread of
/// its runs' percentiles (several runs per side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Noise {
    Requests,
    Seconds,
    Runs,
}

/// How uncertain one side's log percentile is: a standard error on the
/// natural-log scale, its degrees of freedom (infinite for a large-sample
/// figure), and what set it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub se: f64,
    pub df: f64,
    pub from: Noise,
}

/// The standard error of ln(quantile q) of `h` as if its samples were
/// independent: the distribution-free order-statistic interval (ranks
/// nq ± z·√(nq(1−q))) read from the histogram, turned into a standard
/// error on the log scale; never below the histogram's own resolution at
/// that value.
pub fn rank_se(h: &Latencies, q: f64) -> f64 {
    // The ranks two standard errors either side: an interval four standard
    // errors wide, over enough buckets to see the slope of the distribution.
    let n = h.len() as f64;
    if n < 1.0 {
        return f64::INFINITY;
    }
    let s = 2.0 * (q * (1.0 - q) / n).sqrt();
    let lo = h.quantile((q - s).max(0.0)).max(1) as f64;
    let hi = h.quantile((q + s).min(1.0)).max(1) as f64;
    let v = h.quantile(q).max(1);
    // A value read from a bucket is anywhere in it: a uniform error of the
    // bucket's width.
    let width = (histogram::highest_equivalent(v) - histogram::lowest_equivalent(v) + 1) as f64;
    let resolution = width / v as f64 / 12f64.sqrt();
    ((hi.ln() - lo.ln()) / 4.0).max(resolution)
}

/// The standard error of a mean of `values` and its degrees of freedom;
/// `None` under two values. The values are batches of one run (its
/// per-second log percentiles: the method of batch quantiles, for series
/// whose samples are not independent) or the runs of one side (each run's
/// log percentile: the noise between runs, which no run shows alone).
pub fn batch_se(values: &[f64]) -> Option<(f64, f64)> {
    let t = values.len();
    if t < 2 {
        return None;
    }
    let n = t as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some(((var / n).sqrt(), n - 1.0))
}

/// One side's spread: the largest of the independent-samples figure, the
/// per-second one and the per-run one. The latter two estimate the whole
/// variance but are themselves noisy with few seconds or runs (and carry
/// their few degrees of freedom into the interval), so the largest is the
/// cautious choice.
pub fn spread(rank: f64, seconds: Option<(f64, f64)>, runs: Option<(f64, f64)>) -> Spread {
    let mut best = Spread {
        se: rank,
        df: f64::INFINITY,
        from: Noise::Requests,
    };
    for (estimate, from) in [(seconds, Noise::Seconds), (runs, Noise::Runs)] {
        if let Some((se, df)) = estimate
            && se > best.se
        {
            best = Spread { se, df, from };
        }
    }
    best
}

/// A two-sided interval of a difference `d` of two independent estimates
/// with these spreads, at confidence 1 − alpha: Welch's t with
/// Satterthwaite's degrees of freedom. Returns (low, high, df).
pub fn welch_interval(d: f64, a: Spread, b: Spread, alpha: f64) -> (f64, f64, f64) {
    let (va, vb) = (a.se * a.se, b.se * b.se);
    let v = va + vb;
    let part = |var: f64, df: f64| if df.is_finite() { var * var / df } else { 0.0 };
    let denominator = part(va, a.df) + part(vb, b.df);
    let df = if denominator > 0.0 {
        v * v / denominator
    } else {
        f64::INFINITY
    };
    let half = t_quantile(1.0 - alpha / 2.0, df) * v.sqrt();
    (d - half, d + half, df)
}

/// Failures out of requests, and per second (requests, failures) when the
/// series has them.
pub struct Proportion<'a> {
    pub failures: u64,
    pub requests: u64,
    pub seconds: &'a [(u64, u64)],
}

impl Proportion<'_> {
    fn rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.failures as f64 / self.requests as f64
        }
    }

    /// The variance of the rate with seconds as clusters (failures come in
    /// bursts: one bad second is one observation, not a thousand):
    /// T/(T−1) · Σ (f_t − p·n_t)² / N².
    fn cluster_variance(&self) -> Option<f64> {
        let t = self.seconds.len();
        if t < 2 || self.requests == 0 {
            return None;
        }
        let p = self.rate();
        let n = self.requests as f64;
        let sum: f64 = self
            .seconds
            .iter()
            .map(|&(r, f)| (f as f64 - p * r as f64).powi(2))
            .sum();
        Some(t as f64 / (t as f64 - 1.0) * sum / (n * n))
    }
}

/// Error rates compared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateChange {
    /// Candidate minus baseline, as fractions.
    pub difference: f64,
    pub low: f64,
    pub high: f64,
    /// Two-sided p-value of "no difference" (the two-proportion z-test,
    /// its variance raised to the per-second one where that is larger).
    pub p_value: f64,
}

/// The two-proportion z-test with a pooled variance, each side's variance
/// raised to its per-second (cluster) variance when failures came in
/// bursts; the interval at confidence 1 − alpha.
pub fn rate_change(base: &Proportion, cand: &Proportion, alpha: f64) -> Option<RateChange> {
    if base.requests == 0 || cand.requests == 0 {
        return None;
    }
    let (nb, nc) = (base.requests as f64, cand.requests as f64);
    let pooled = (base.failures as f64 + cand.failures as f64) / (nb + nc);
    let binomial = |n: f64| pooled * (1.0 - pooled) / n;
    let side = |p: &Proportion, n: f64| binomial(n).max(p.cluster_variance().unwrap_or(0.0));
    let se = (side(base, nb) + side(cand, nc)).sqrt();
    let difference = cand.rate() - base.rate();
    if se <= 0.0 {
        // No failures on either side (or all failed on both): no change.
        return Some(RateChange {
            difference,
            low: difference,
            high: difference,
            p_value: 1.0,
        });
    }
    let z = normal_quantile(1.0 - alpha / 2.0);
    Some(RateChange {
        difference,
        low: difference - z * se,
        high: difference + z * se,
        p_value: (2.0 * (1.0 - normal_cdf((difference / se).abs()))).clamp(0.0, 1.0),
    })
}

/// The probability that a candidate request took longer than a baseline
/// one, ties (the same bucket) counting half: the Mann-Whitney U over
/// n_b·n_c (Vargha and Delaney's A). 0.5 is no shift. Exact from the
/// buckets, which both histograms share and list in order.
pub fn p_slower(base: &Latencies, cand: &Latencies) -> Option<f64> {
    if base.is_empty() || cand.is_empty() {
        return None;
    }
    let mut b = base.buckets().peekable();
    let (mut below, mut sum) = (0f64, 0f64);
    for (value, count) in cand.buckets() {
        let count = count as f64;
        while let Some(&(bv, bc)) = b.peek() {
            if bv < value {
                below += bc as f64;
                b.next();
            } else {
                break;
            }
        }
        let tied = match b.peek() {
            Some(&(bv, bc)) if bv == value => bc as f64,
            _ => 0.0,
        };
        sum += count * (below + 0.5 * tied);
    }
    Some(sum / (base.len() as f64 * cand.len() as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Latencies;

    fn new() -> Latencies {
        Latencies::new()
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn distributions_match_their_tables() {
        assert!(close(normal_cdf(1.959_963_985), 0.975, 1e-6));
        assert!(close(normal_cdf(-1.0), 0.158_655_25, 1e-6));
        assert!(close(normal_quantile(0.975), 1.959_963_985, 1e-8));
        assert!(close(normal_quantile(0.001), -3.090_232_306, 1e-8));
        // Student's t from the tables.
        for (df, q) in [
            (1.0, 12.706_204_7),
            (2.0, 4.302_652_7),
            (5.0, 2.570_581_8),
            (10.0, 2.228_138_9),
            (30.0, 2.042_272_5),
        ] {
            assert!(close(t_quantile(0.975, df), q, 1e-6), "df {df}");
            assert!(close(t_cdf(q, df), 0.975, 1e-7), "df {df}");
        }
        assert!(close(t_quantile(0.025, 10.0), -2.228_138_9, 1e-6));
        assert!(close(t_quantile(0.975, 2.5), 3.574_654_8, 1e-6));
        assert!(close(t_quantile(0.975, f64::INFINITY), 1.959_963_985, 1e-8));
    }

    #[test]
    fn identical_histograms_show_no_shift() {
        let mut h = new();
        for v in 1..=10_000u64 {
            h.record(4_000 + v % 2_000);
        }
        assert_eq!(p_slower(&h, &h), Some(0.5));
        let s = spread(rank_se(&h, 0.5), None, None);
        let (lo, hi, _) = welch_interval(0.0, s, s, 0.05);
        assert!(lo < 0.0 && hi > 0.0 && hi < 0.01, "{lo} {hi}");
    }

    #[test]
    fn a_shifted_histogram_is_slower_and_its_interval_excludes_zero() {
        let (mut a, mut b) = (new(), new());
        for v in 0..10_000u64 {
            a.record(5_000 + v % 500);
            b.record(6_000 + v % 500);
        }
        assert_eq!(p_slower(&a, &b), Some(1.0));
        assert_eq!(p_slower(&b, &a), Some(0.0));
        let d = (b.quantile(0.5) as f64).ln() - (a.quantile(0.5) as f64).ln();
        let (sa, sb) = (
            spread(rank_se(&a, 0.5), None, None),
            spread(rank_se(&b, 0.5), None, None),
        );
        let (lo, hi, _) = welch_interval(d, sa, sb, 0.05);
        assert!(lo > 0.15 && hi < 0.2, "{lo} {hi}");
    }

    /// A deterministic generator of uniforms in (0, 1).
    fn uniforms(seed: u64) -> impl Iterator<Item = f64> {
        let mut x = seed | 1;
        std::iter::from_fn(move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Some(((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64)
        })
    }

    #[test]
    fn the_interval_covers_the_true_difference_of_synthetic_runs() {
        // Exponential latencies, mean 2 ms against 2.4 ms: the true log
        // ratio of any percentile is ln 1.2. Over 200 pairs of samples, a
        // 95% interval must cover it about 95% of the time.
        let truth = 1.2f64.ln();
        let mut u = uniforms(0x5eed);
        let mut covered = 0;
        for _ in 0..200 {
            let (mut a, mut b) = (new(), new());
            for _ in 0..2_000 {
                a.record((-2_000.0 * u.next().unwrap().ln()) as u64 + 1);
                b.record((-2_400.0 * u.next().unwrap().ln()) as u64 + 1);
            }
            let d = (b.quantile(0.9) as f64).ln() - (a.quantile(0.9) as f64).ln();
            let (sa, sb) = (
                spread(rank_se(&a, 0.9), None, None),
                spread(rank_se(&b, 0.9), None, None),
            );
            let (lo, hi, _) = welch_interval(d, sa, sb, 0.05);
            covered += usize::from(lo <= truth && truth <= hi);
        }
        assert!((180..=200).contains(&covered), "covered {covered} of 200");
    }

    #[test]
    fn noisy_seconds_widen_the_interval() {
        let mut h = new();
        h.record_n(5_000, 100_000);
        let rank = rank_se(&h, 0.5);
        // One bucket: only the resolution (4 µs at 5 ms) is left.
        assert!(rank > 0.0 && rank < 0.001, "{rank}");
        let quiet = spread(rank, batch_se(&[8.517, 8.517, 8.517]), None);
        assert!(quiet.from == Noise::Requests && quiet.df.is_infinite());
        let values: Vec<f64> = [5_000f64, 5_600.0, 4_700.0, 5_300.0]
            .iter()
            .map(|v| v.ln())
            .collect();
        let noisy = spread(rank, batch_se(&values), None);
        assert!(noisy.from == Noise::Seconds && noisy.df == 3.0 && noisy.se > 0.02);
        // Two runs far apart: their spread, with one degree of freedom.
        let runs = spread(
            rank,
            batch_se(&values),
            batch_se(&[5_000f64.ln(), 6_000f64.ln()]),
        );
        assert!(runs.from == Noise::Runs && runs.df == 1.0 && runs.se > noisy.se);
        let (lo, hi, df) = welch_interval(0.0, noisy, noisy, 0.05);
        assert!(
            lo < -0.1 && hi > 0.1 && df > 3.0 && df < 7.0,
            "{lo} {hi} {df}"
        );
        assert_eq!(batch_se(&[1.0]), None);
    }

    #[test]
    fn error_rates_compare_with_bursts_counted() {
        let none = Proportion {
            failures: 0,
            requests: 10_000,
            seconds: &[],
        };
        let r = rate_change(&none, &none, 0.05).unwrap();
        assert_eq!((r.difference, r.p_value), (0.0, 1.0));
        // 1% against 0%, spread evenly: clearly different.
        let even: Vec<(u64, u64)> = (0..10).map(|_| (1_000, 10)).collect();
        let some = Proportion {
            failures: 100,
            requests: 10_000,
            seconds: &even,
        };
        let r = rate_change(&none, &some, 0.05).unwrap();
        assert!(r.p_value < 1e-6 && r.low > 0.005, "{r:?}");
        // The same 100 failures in one second: far less sure.
        let mut burst: Vec<(u64, u64)> = (0..10).map(|_| (1_000, 0)).collect();
        burst[3].1 = 100;
        let bursty = Proportion {
            seconds: &burst,
            ..some
        };
        let b = rate_change(&none, &bursty, 0.05).unwrap();
        assert!(b.low < 0.0 && b.high > 0.01, "{b:?}");
        assert!(
            rate_change(
                &Proportion {
                    requests: 0,
                    ..none
                },
                &none,
                0.05
            )
            .is_none()
        );
    }
}
