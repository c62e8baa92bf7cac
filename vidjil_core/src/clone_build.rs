//! Clones from the windows counted in the first pass: error variants and shifted
//! windows merged, representatives of the top clones, diversity and size
//! distribution.

use crate::clones::{
    for_each_variant, may_absorb_variants, merge_far_variants, merge_shifted, merge_shifted_all,
    merge_variants, shifted_candidates, unpack_window, WindowMap, WindowStat, UNEXPECTED_CODE,
};
use crate::detect::{Detector, Outcome, Scratch, UNEXPECTED};
use crate::diversity::Diversity;
use crate::germline::Germline;
use crate::params::RunParams;
use crate::results::{CloneResult, Representative, RunResult, SystemLabel};
use crate::runner::parallel_map;
use crate::samples::{representative, Sample, SampleStore};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Non-merged windows, most reads first (ties by key: deterministic).
fn ranked(stats: &WindowMap<WindowStat>, min_reads: u32) -> Vec<(u128, WindowStat)> {
    let mut kept: Vec<(u128, WindowStat)> = stats
        .iter()
        .filter(|(_, s)| !s.merged && s.reads >= min_reads)
        .map(|(&k, &s)| (k, s))
        .collect();
    kept.sort_unstable_by(|a, b| b.1.reads.cmp(&a.1.reads).then(a.0.cmp(&b.0)));
    kept
}

/// Representatives of `keys` not computed yet, from their sampled reads, on all threads.
fn compute_representatives(
    keys: &[u128],
    reps: &mut HashMap<u128, Option<Representative>>,
    store: &mut SampleStore,
    detector: &Detector,
    threads: usize,
) {
    let work: Vec<(u128, Vec<Sample>)> = keys
        .iter()
        .filter(|k| !reps.contains_key(k))
        .map(|k| (*k, store.windows.remove(k).unwrap_or_default()))
        .collect();
    let computed = parallel_map(&work, threads, |(key, samples)| {
        let mut samples = samples.clone();
        samples.sort_unstable_by_key(|s| s.hash);
        let window_len = unpack_window(*key).len();
        let (seq, window_start, coverage) = representative(&samples, window_len)?;
        let mut scratch = Scratch::default();
        let (evalue, evalue_v, evalue_j) = match detector.detect(&seq, &mut scratch) {
            Outcome::Detected(d) => (Some(d.evalue), Some(d.evalue_v), Some(d.evalue_j)),
            Outcome::Undetected(_) => (None, None, None),
        };
        Some(Representative {
            sequence: String::from_utf8(seq).expect("ASCII"),
            window_start,
            samples: samples.len(),
            coverage,
            evalue,
            evalue_v,
            evalue_j,
        })
    });
    for ((key, _), rep) in work.iter().zip(computed) {
        reps.insert(*key, rep);
    }
}

/// Shifted windows and error variants of every clone beyond `top` (which have a
/// representative) with at least 2 reads: the consensus of its sampled reads is
/// searched for them on all threads, then the merges are made in rank order (see
/// `merge_shifted_all`), so that the outcome does not depend on the thread count.
fn merge_every_clone(
    stats: &mut WindowMap<WindowStat>,
    store: &SampleStore,
    top: &[u128],
    params: &RunParams,
) -> Vec<(u128, u128)> {
    let top: HashSet<u128> = top.iter().copied().collect();
    let work: Vec<(u128, u32, &[Sample])> = ranked(stats, 2)
        .into_iter()
        .filter(|(k, _)| !top.contains(k))
        .filter_map(|(k, s)| store.windows.get(&k).map(|v| (k, s.reads, v.as_slice())))
        .collect();
    let (ratio, min_window) = (params.merge_ratio, params.detect.min_window);
    let snapshot = &*stats;
    let candidates = parallel_map(&work, params.worker_threads(), |&(key, reads, samples)| {
        let window_len = unpack_window(key).len();
        match representative(samples, window_len) {
            Some((seq, start, _)) => shifted_candidates(
                snapshot,
                key,
                &seq,
                start,
                min_window,
                may_absorb_variants(reads, ratio),
            ),
            None => Vec::new(),
        }
    });
    let keys: Vec<u128> = work.iter().map(|w| w.0).collect();
    merge_shifted_all(stats, &keys, &candidates, ratio)
}

/// The clones of `result` from the window counts and read samples of the first pass.
/// Returns the merges made, (absorber, absorbed) windows in the order they happened.
pub fn build_clones(
    result: &mut RunResult,
    mut stats: WindowMap<WindowStat>,
    mut store: SampleStore,
    germline: &Germline,
    detector: &Detector,
    params: &RunParams,
) -> Vec<(u128, u128)> {
    result.distinct_windows = stats.len() as u64 + result.dropped_windows;
    result.sample_threshold = store.threshold as f64 / u64::MAX as f64;
    let mut merges = merge_variants(&mut stats, params.merge_distance, params.merge_ratio);

    // Representatives of the largest clones, then the windows they show shifted.
    let mut reps: HashMap<u128, Option<Representative>> = HashMap::new();
    let n_rep = params.designate;
    let top: Vec<u128> = ranked(&stats, params.min_reads)
        .iter()
        .take(n_rep)
        .map(|(k, _)| *k)
        .collect();
    compute_representatives(&top, &mut reps, &mut store, detector, params.worker_threads());
    if params.merge_distance > 0 {
        let with_rep: Vec<(u128, Vec<u8>, usize)> = top
            .iter()
            .filter_map(|k| {
                reps[k]
                    .as_ref()
                    .map(|r| (*k, r.sequence.as_bytes().to_vec(), r.window_start))
            })
            .collect();
        merges.extend(merge_shifted(
            &mut stats,
            &with_rep,
            params.merge_ratio,
            params.detect.min_window,
            params.merge_distance > 0,
        ));
        merges.extend(merge_every_clone(&mut stats, &store, &top, params));
        merges.extend(merge_far_variants(&mut stats, &with_rep));
    }
    result.merged_windows = merges.len() as u64;
    let mut absorbed: HashMap<u128, Vec<u128>> = HashMap::new();
    for &(into, from) in &merges {
        absorbed.entry(into).or_default().push(from);
    }

    let all = ranked(&stats, 1);
    let mut decades: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for (_, s) in &all {
        let decade = 10u64.pow((s.reads as f64).log10().floor() as u32);
        let e = decades.entry(decade).or_default();
        e.0 += 1;
        e.1 += s.reads as u64;
    }
    result.distribution = decades.into_iter().map(|(d, (w, r))| (d, w, r)).collect();
    result.diversity = Diversity::of(all.iter().map(|(_, s)| s.reads as u64));
    let n_systems = result.systems.len() - 1;
    result.diversity_by_system = (result.systems.iter().enumerate())
        .map(|(k, (name, _))| {
            let code = if k == n_systems { UNEXPECTED_CODE } else { k as u16 };
            let sizes = all
                .iter()
                .filter(|(_, s)| s.system == code)
                .map(|(_, s)| s.reads as u64);
            (name.clone(), Diversity::of(sizes))
        })
        .collect();
    let mut kept: Vec<(u128, WindowStat)> = all
        .into_iter()
        .filter(|(_, s)| s.reads >= params.min_reads)
        .collect();
    result.clones_above_min = kept.len() as u64;
    result.reads_in_clones_above_min = kept.iter().map(|(_, s)| s.reads as u64).sum();
    if params.max_clones > 0 {
        kept.truncate(params.max_clones);
    }
    let top: Vec<u128> = kept.iter().take(n_rep).map(|(k, _)| *k).collect();
    compute_representatives(&top, &mut reps, &mut store, detector, params.worker_threads());
    drop(store);

    let to_string = |k: u128| String::from_utf8(unpack_window(k)).expect("ASCII");
    result.clones = kept
        .iter()
        .enumerate()
        .map(|(rank, (key, s))| {
            let mut merged: Vec<(u32, u128)> = absorbed
                .get(key)
                .map(|v| v.iter().map(|k| (stats[k].reads, *k)).collect())
                .unwrap_or_default();
            merged.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let window = unpack_window(*key);
            let mut near: Option<(u32, u128)> = None;
            for_each_variant(&window, 1, &mut |v| {
                if let Some(o) = stats.get(&v) {
                    if !o.merged && o.reads > s.reads && near.is_none_or(|n| (o.reads, v) > n) {
                        near = Some((o.reads, v));
                    }
                }
            });
            let (system, pair) = if s.system == UNEXPECTED_CODE {
                (UNEXPECTED, Some((s.pair.0 as usize, s.pair.1 as usize)))
            } else {
                (s.system as usize, None)
            };
            let systems = &germline.systems;
            CloneResult {
                window: to_string(*key),
                system,
                pair,
                label: SystemLabel::new(germline, system, pair),
                loci: pair.map(|(a, b)| (systems[a].left_locus.clone(), systems[b].right_locus.clone())),
                reads: s.reads as u64,
                shifted_reads: s.shifted as u64,
                merged_reads: s.merged_reads as u64,
                merged_count: merged.len(),
                merged_windows: merged.iter().take(20).map(|&(_, k)| to_string(k)).collect(),
                average_length: s.length_sum as f64 / s.reads.max(1) as f64,
                representative: if rank < n_rep {
                    reps.get(key).cloned().flatten()
                } else {
                    None
                },
                near_duplicate_of: near.map(|(_, k)| to_string(k)),
                designation: None,
            }
        })
        .collect();
    merges
}
