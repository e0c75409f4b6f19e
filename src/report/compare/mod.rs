//! `volley compare`: two sides (a baseline and a candidate, each one result
//! or several merged exactly, [`side`]) compared per request name, step,
//! flow and stream row, with a verdict per name that says whether the
//! candidate is worse beyond noise.
//!
//! The verdict rests on percentiles ([`stats`]): each percentile's change
//! is a ratio of two exact histogram values, and its interval takes per
//! side the largest of three spreads: independent samples' (from the rank
//! of the percentile), the per-second series' (batch quantiles) and, with
//! several runs a side, the runs'. Latencies within a run are not
//! independent: a noisy second moves hundreds of requests together, and
//! with millions of requests the independent interval is so narrow that
//! two identical runs differ "significantly". A change counts only when
//! its whole interval lies beyond a practical bound (`--min-change`, 5%):
//! the candidate is confidently worse by more than the bound. Noise that
//! lasts a whole run shows only between runs, and most in the tails, so
//! one run a side judges p50 and p90 by default. docs/compare.md says why,
//! and docs/results.md how often identical runs are flagged.
//!
//! The work is split by job: `verdict` (what may decide and what a name
//! can become), `document` (what a comparison says), `format` (how its
//! numbers read) and `judge` (the comparison itself); [`text`], [`html`]
//! and [`files`] write it.

mod document;
pub mod files;
mod format;
pub mod html;
mod judge;
mod side;
pub mod stats;
pub mod text;
mod verdict;

use super::merge::LoadError;

pub use document::{Comparison, ErrorRow, Figures, NameComparison, Row, SideSummary};
pub use format::{confidence, interval, percent, points, signed, signed_points};
pub use judge::compare;
pub use side::Side;
pub use verdict::{Judged, Mark, ONE_RUN_JUDGED, SEVERAL_RUNS_JUDGED, Settings, Verdict};

/// Why two sides could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Merge(#[from] LoadError),
    #[error(
        "the baseline and the candidate have no request, step or flow in common (baseline: {baseline}; candidate: {candidate})"
    )]
    NothingInCommon { baseline: String, candidate: String },
}

#[cfg(test)]
mod tests;
