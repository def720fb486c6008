//! Latency samples and their percentiles.

use std::time::Duration;

/// A set of timings.
#[derive(Default, Clone)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// Adds one timing.
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// The `p` quantile (0.0–1.0), nearest rank.
    pub fn at(&self, p: f64) -> Duration {
        let mut v = self.0.clone();
        v.sort();
        v[((v.len() - 1) as f64 * p).round() as usize]
    }

    /// Median in milliseconds.
    pub fn p50_ms(&self) -> f64 {
        self.at(0.5).as_secs_f64() * 1e3
    }

    /// 99th percentile in milliseconds.
    pub fn p99_ms(&self) -> f64 {
        self.at(0.99).as_secs_f64() * 1e3
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// All the samples of `parts` in one set.
    #[allow(dead_code)] // not every benchmark that includes this module uses it
    pub fn merged(parts: &[Samples]) -> Samples {
        Samples(parts.iter().flat_map(|s| s.0.iter().copied()).collect())
    }
}

/// The median of a few throughput runs.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
