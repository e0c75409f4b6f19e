//! Whether the generator, not the target, limited a measurement. A run is
//! INVALID when its generator started arrivals late, dropped arrivals, ran
//! its CPU to the limit, or published its statistics late: the latencies
//! then say as much about the generator as about the target. This module
//! only judges what the engines measured; the report shows the verdict and
//! the command line turns it into an exit code.

use super::Snapshot;

/// A generator whose mean CPU is above this (percent of the cores it may
/// use) is saturated: its own queueing is in every latency.
pub const BUSY_CPU_PERCENT: f64 = 90.0;

/// Late starts above this share of the requests make a run INVALID ...
pub const LATE_SHARE: f64 = 0.01;
/// ... once there are at least this many (a handful is noise, not a
/// generator that cannot keep the schedule).
pub const LATE_MIN: u64 = 10;

/// Reports published more than two intervals late, above this share of
/// all reports, make a run INVALID: the engine's runtime was starved.
pub const LATE_REPORT_SHARE: f64 = 0.1;

/// What one engine (or all of them) measured of itself.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Health {
    /// Requests recorded (flows' iterations excluded).
    pub requests: u64,
    pub late_starts: u64,
    pub missed_starts: u64,
    pub waited_starts: u64,
    pub abandoned: u64,
    pub late_reports: u64,
    pub reports: u64,
    cpu_sum: f64,
    cpu_readings: u64,
}

impl Health {
    /// Adds one snapshot; `requests` is what it recorded of requests.
    pub fn add<H>(&mut self, snap: &Snapshot<H>, requests: u64) {
        self.add_counts(&Health {
            requests,
            late_starts: snap.late_starts,
            missed_starts: snap.missed_starts,
            waited_starts: snap.waited_starts,
            abandoned: snap.abandoned,
            late_reports: snap.late_reports.min(1),
            reports: 1,
            ..Health::default()
        });
        // A zero-length interval (a last snapshot right after another) has
        // no meaningful CPU reading.
        if snap.cpu_percent.is_finite() && snap.interval_ms > 0 {
            self.cpu_sum += snap.cpu_percent.clamp(0.0, 100.0);
            self.cpu_readings = self.cpu_readings.saturating_add(1);
        }
    }

    /// Adds another engine's health (counts only; CPU stays per engine).
    pub fn add_counts(&mut self, o: &Health) {
        self.requests = self.requests.saturating_add(o.requests);
        self.late_starts = self.late_starts.saturating_add(o.late_starts);
        self.missed_starts = self.missed_starts.saturating_add(o.missed_starts);
        self.waited_starts = self.waited_starts.saturating_add(o.waited_starts);
        self.abandoned = self.abandoned.saturating_add(o.abandoned);
        self.late_reports = self.late_reports.saturating_add(o.late_reports);
        self.reports = self.reports.saturating_add(o.reports);
    }

    /// The mean of the CPU readings, if there were any.
    pub fn mean_cpu(&self) -> Option<f64> {
        (self.cpu_readings > 0).then(|| self.cpu_sum / self.cpu_readings as f64)
    }

    /// Why this generator limited its measurement; empty when it did not.
    pub fn reasons(&self) -> Vec<String> {
        let mut why = Vec::new();
        if self.missed_starts > 0 {
            why.push(format!(
                "{} arrivals missed: max_in_flight arrivals were already waiting or in flight",
                self.missed_starts
            ));
        }
        why.extend(self.own_reasons());
        why
    }

    /// The reasons that lie with the generator alone: late starts (an
    /// executor was free and the start still left late), late reports and
    /// its CPU. Missed starts are left out: they come when the arrivals in
    /// flight fill up, which a target slower than the rate does as surely
    /// as a slow generator (a capacity search counts them against the
    /// target; a saturated generator shows in its CPU).
    pub fn own_reasons(&self) -> Vec<String> {
        let mut why = Vec::new();
        let starts = self.requests.saturating_add(self.abandoned).max(1);
        if self.late_starts >= LATE_MIN && self.late_starts as f64 > LATE_SHARE * starts as f64 {
            why.push(format!(
                "{} starts ({:.1}%) left more than {} ms after they could (above {}%)",
                self.late_starts,
                100.0 * self.late_starts as f64 / starts as f64,
                crate::stats::LATE_AFTER_MS,
                LATE_SHARE * 100.0
            ));
        }
        if let Some(cpu) = self.mean_cpu()
            && cpu > BUSY_CPU_PERCENT
        {
            why.push(format!(
                "generator CPU averaged {cpu:.0}% of the cores it may use (above {BUSY_CPU_PERCENT:.0}%)"
            ));
        }
        if self.late_reports > 0
            && self.late_reports as f64 > LATE_REPORT_SHARE * self.reports.max(1) as f64
        {
            why.push(format!(
                "{} of {} statistics reports came more than two intervals late",
                self.late_reports, self.reports
            ));
        }
        why
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::snapshot::Sparse;

    fn snap(cpu: f64) -> Snapshot<Sparse> {
        Snapshot {
            interval_ms: 1000,
            cpu_percent: cpu,
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_healthy_generator_has_no_reasons() {
        let mut h = Health::default();
        for _ in 0..10 {
            h.add(&snap(40.0), 1000);
        }
        assert!(h.reasons().is_empty());
        assert_eq!(h.mean_cpu(), Some(40.0));
    }

    #[test]
    fn each_limit_gives_its_reason() {
        let mut h = Health::default();
        h.add(
            &Snapshot {
                missed_starts: 3,
                ..snap(10.0)
            },
            100,
        );
        assert!(
            h.reasons()[0].starts_with("3 arrivals missed"),
            "{:?}",
            h.reasons()
        );

        // 9 late of 100 is noise; 11 of 1,000 is above 1%; 10 of 1,000 is not.
        let late = |late_starts, requests| {
            let mut h = Health::default();
            h.add(
                &Snapshot {
                    late_starts,
                    ..snap(10.0)
                },
                requests,
            );
            h.reasons()
        };
        assert!(late(9, 100).is_empty());
        assert!(late(10, 1000).is_empty());
        assert!(late(11, 1000)[0].contains("(1.1%)"), "{:?}", late(11, 1000));

        let mut busy = Health::default();
        busy.add(&snap(95.0), 10);
        busy.add(&snap(91.0), 10);
        assert!(
            busy.reasons()[0].contains("averaged 93%"),
            "{:?}",
            busy.reasons()
        );
        // A zero-length interval carries no reading.
        busy.add(
            &Snapshot {
                interval_ms: 0,
                ..snap(0.0)
            },
            0,
        );
        assert_eq!(busy.mean_cpu(), Some(93.0));

        let mut lag = Health::default();
        for i in 0..10 {
            lag.add(
                &Snapshot {
                    late_reports: u64::from(i < 2),
                    ..snap(10.0)
                },
                10,
            );
        }
        assert!(lag.reasons()[0].starts_with("2 of 10 statistics reports"));
    }

    #[test]
    fn peers_figures_cannot_overflow_or_poison_the_mean() {
        let mut h = Health::default();
        h.add(
            &Snapshot {
                late_starts: u64::MAX,
                missed_starts: u64::MAX,
                late_reports: u64::MAX,
                cpu_percent: f64::NAN,
                ..snap(0.0)
            },
            u64::MAX,
        );
        h.add(&snap(1e300), u64::MAX);
        assert_eq!(h.requests, u64::MAX);
        assert_eq!(h.late_reports, 1);
        assert_eq!(h.mean_cpu(), Some(100.0));
        assert_eq!(h.reasons().len(), 4);
    }
}
