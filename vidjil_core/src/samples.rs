//! Read samples of the windows and the representative sequence of a clone: the
//! bottom-k reads by hash under a global memory budget, and their consensus.

use crate::clones::WindowMap;

/// One sampled read: the read on the V->J strand and where the window starts in it.
#[derive(Clone, Debug)]
pub struct Sample {
    pub hash: u64,
    pub window_start: u32,
    /// The read's UMI (0: none).
    pub umi: u64,
    pub seq: Box<[u8]>,
}

/// Bottom-k samples of each window by read hash, under a global memory budget:
/// when the budget is passed, the hash threshold halves and samples above it are
/// dropped. The result depends only on the set of reads, not on their order.
pub struct SampleStore {
    pub per_window: usize,
    pub budget_bytes: usize,
    pub threshold: u64,
    pub bytes: usize,
    pub windows: WindowMap<Vec<Sample>>,
}

const SAMPLE_OVERHEAD: usize = 48;

impl SampleStore {
    pub fn new(per_window: usize, budget_bytes: usize) -> SampleStore {
        SampleStore {
            per_window,
            budget_bytes,
            threshold: u64::MAX,
            bytes: 0,
            windows: WindowMap::default(),
        }
    }

    pub fn wants(&self, hash: u64) -> bool {
        hash < self.threshold
    }

    /// Keep this read if it is among the `per_window` lowest hashes of its window
    /// (the sequence is copied only then).
    pub fn offer(&mut self, key: u128, hash: u64, window_start: u32, umi: u64, seq: &[u8]) {
        if !self.wants(hash) {
            return;
        }
        let samples = self.windows.entry(key).or_default();
        let sample = || Sample {
            hash,
            window_start,
            umi,
            seq: seq.into(),
        };
        // samples[0] always holds the largest hash of the window.
        if samples.len() >= self.per_window {
            if hash >= samples[0].hash {
                return;
            }
            self.bytes = self.bytes + seq.len() - samples[0].seq.len();
            samples[0] = sample();
            let max = (0..samples.len()).max_by_key(|&i| samples[i].hash).unwrap_or(0);
            samples.swap(0, max);
        } else {
            self.bytes += seq.len() + SAMPLE_OVERHEAD;
            samples.push(sample());
            let last = samples.len() - 1;
            if samples[last].hash > samples[0].hash {
                samples.swap(0, last);
            }
        }
    }

    /// Drop the samples of windows no longer counted.
    pub fn retain_windows(&mut self, keep: impl Fn(&u128) -> bool) {
        let mut bytes = 0;
        self.windows.retain(|k, samples| {
            let kept = keep(k);
            if kept {
                bytes += samples
                    .iter()
                    .map(|s| s.seq.len() + SAMPLE_OVERHEAD)
                    .sum::<usize>();
            }
            kept
        });
        self.bytes = bytes;
    }

    /// Called between batches, in input order.
    pub fn enforce_budget(&mut self) {
        while self.bytes > self.budget_bytes && self.threshold > 1 {
            self.threshold /= 2;
            let t = self.threshold;
            let mut bytes = 0;
            self.windows.retain(|_, samples| {
                samples.retain(|s| s.hash < t);
                if let Some(max) = (0..samples.len()).max_by_key(|&i| samples[i].hash) {
                    samples.swap(0, max);
                }
                bytes += samples
                    .iter()
                    .map(|s| s.seq.len() + SAMPLE_OVERHEAD)
                    .sum::<usize>();
                !samples.is_empty()
            });
            self.bytes = bytes;
        }
    }
}

/// Column-wise consensus of the samples, aligned on their window, over the
/// longest stretch around the window covered by a strict majority of them.
/// Returns (sequence, window start in it, fraction of samples covering it all).
pub fn representative(samples: &[Sample], window_len: usize) -> Option<(Vec<u8>, usize, f64)> {
    consensus(samples, window_len, false)
}

/// `representative`, each molecule (the samples of one UMI) voting once when
/// `by_molecule`: a PCR error copied into many reads of one molecule stays one vote.
pub fn consensus(samples: &[Sample], window_len: usize, by_molecule: bool) -> Option<(Vec<u8>, usize, f64)> {
    if samples.is_empty() {
        return None;
    }
    let mut per_umi: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
    if by_molecule {
        for s in samples {
            *per_umi.entry(s.umi).or_default() += 1;
        }
    }
    // Each read weighs 1, or 1 / (reads of its molecule among the samples).
    let weight = |s: &Sample| {
        if by_molecule {
            1.0 / per_umi[&s.umi] as f64
        } else {
            1.0
        }
    };
    let left = samples.iter().map(|s| s.window_start as usize).max()?;
    let right = samples
        .iter()
        .map(|s| s.seq.len() - s.window_start as usize)
        .max()?;
    let width = left + right;
    let mut counts = vec![[0f64; 5]; width];
    let mut total = 0.0;
    for s in samples {
        let offset = left - s.window_start as usize;
        let w = weight(s);
        total += w;
        for (i, &b) in s.seq.iter().enumerate() {
            let code = crate::nuc::CODES[b as usize].min(4) as usize;
            counts[offset + i][code] += w;
        }
    }
    // A strict majority of the weight (of the samples, without UMIs).
    let covered = |c: &[f64; 5]| 2.0 * c.iter().sum::<f64>() > total + 1e-9;
    let mut start = left;
    while start > 0 && covered(&counts[start - 1]) {
        start -= 1;
    }
    let mut end = left + window_len;
    while end < width && covered(&counts[end]) {
        end += 1;
    }
    let seq: Vec<u8> = counts[start..end]
        .iter()
        .map(|c| {
            let (best, n) = c[..4]
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                .unwrap();
            if *n == 0.0 {
                b'N'
            } else {
                b"ACGT"[best]
            }
        })
        .collect();
    let full = samples
        .iter()
        .filter(|s| {
            let offset = left - s.window_start as usize;
            offset <= start && offset + s.seq.len() >= end
        })
        .count();
    Some((seq, left - start, full as f64 / samples.len() as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clones::mix64;

    #[test]
    fn sample_store_is_bounded_and_keeps_lowest_hashes() {
        let mut store = SampleStore::new(3, 10_000);
        for h in [50u64, 10, 40, 30, 20] {
            store.offer(7, h, 0, 0, &[b'A'; 10]);
        }
        let mut hashes: Vec<u64> = store.windows[&7].iter().map(|s| s.hash).collect();
        hashes.sort();
        assert_eq!(hashes, vec![10, 20, 30]);
        let mut small = SampleStore::new(100, 2_000);
        for h in 0..1000u64 {
            small.offer(h as u128, mix64(h), 0, 0, &[b'C'; 50]);
            small.enforce_budget();
        }
        assert!(small.bytes <= 2_000);
        assert!(small.threshold < u64::MAX);
        assert!(small.windows.values().flatten().all(|s| s.hash < small.threshold));
    }

    #[test]
    fn representative_is_the_majority_consensus_around_the_window() {
        let truth = b"GGGGGACGTACGTACTTTTT";
        let mk = |from: usize, to: usize, hash: u64| Sample {
            hash,
            window_start: (5 - from) as u32,
            umi: hash,
            seq: truth[from..to].to_vec().into(),
        };
        let mut with_error = mk(0, 20, 4);
        with_error.seq[7] = b'T';
        let samples = vec![mk(0, 20, 1), mk(2, 18, 2), mk(1, 20, 3), with_error];
        let (seq, window_start, full) = representative(&samples, 10).unwrap();
        assert_eq!(seq, truth[1..20].to_vec());
        assert_eq!(window_start, 4);
        assert!((full - 0.75).abs() < 1e-9);
    }
}
