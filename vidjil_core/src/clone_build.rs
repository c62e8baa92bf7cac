//! Clones from the windows counted in the first pass: error variants and shifted
//! windows merged, representatives of the top clones, diversity and size
//! distribution.

use crate::clones::{
    for_each_variant, may_absorb_variants, merge_far_variants_with, merge_shifted_all_with,
    merge_shifted_with, merge_variants_with, shifted_candidates, unpack_window, Counts, MergeJudge,
    WindowMap, WindowStat, UNEXPECTED_CODE,
};
use crate::detect::{Detector, Outcome, Scratch, UNEXPECTED};
use crate::diversity::Diversity;
use crate::germline::Germline;
use crate::params::RunParams;
use crate::results::{CloneResult, CloneUmi, Representative, RunResult, SystemLabel, UmiRun};
use crate::runner::parallel_map;
use crate::samples::{consensus, Sample, SampleStore};
use crate::umi::{
    directional, merge_shared_umis, merge_single_reads, molecules_of_groups, related_windows, unpack_umi,
    FastMap, Molecules, TableSummary, UmiGroup, UmiModel, UmiTables,
};
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
    by_molecule: bool,
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
        let (seq, window_start, coverage) = consensus(&samples, window_len, by_molecule)?;
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
    judge: &mut dyn MergeJudge,
) -> Vec<(u128, u128)> {
    let top: HashSet<u128> = top.iter().copied().collect();
    let work: Vec<(u128, u32, &[Sample])> = ranked(stats, 2)
        .into_iter()
        .filter(|(k, _)| !top.contains(k))
        .filter_map(|(k, s)| store.windows.get(&k).map(|v| (k, s.reads, v.as_slice())))
        .collect();
    let (ratio, min_window) = (params.merge_ratio, params.detect.min_window);
    let snapshot = &*stats;
    let by_molecule = params.umi.source.is_some();
    let candidates = parallel_map(&work, params.worker_threads(), |&(key, reads, samples)| {
        let window_len = unpack_window(key).len();
        match consensus(samples, window_len, by_molecule) {
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
    merge_shifted_all_with(stats, &keys, &candidates, ratio, judge)
}

/// What building the clones did beyond `result`.
#[derive(Debug, Default)]
pub struct CloneBuild {
    /// (absorber, absorbed) windows in the order they were merged.
    pub merges: Vec<(u128, u128)>,
    /// With UMIs: the molecules (UMIs) that left a clone for a neighbour holding them.
    pub moved_molecules: FastMap<u128, Vec<u64>>,
}

/// The clones of `result` from the window counts and read samples of the first pass.
/// With `umis` (the UMI tables of the windows), merges also follow the UMIs
/// (`MergeJudge`), and clones are ranked and thresholded on their molecules.
pub fn build_clones(
    result: &mut RunResult,
    mut stats: WindowMap<WindowStat>,
    mut store: SampleStore,
    mut umis: Option<UmiTables>,
    germline: &Germline,
    detector: &Detector,
    params: &RunParams,
) -> CloneBuild {
    result.distinct_windows = stats.len() as u64 + result.dropped_windows;
    result.sample_threshold = store.threshold as f64 / u64::MAX as f64;
    let by_molecule = umis.is_some();
    let mut counts = Counts;
    let judge: &mut dyn MergeJudge = match umis.as_mut() {
        Some(u) => u,
        None => &mut counts,
    };
    let mut merges = merge_variants_with(&mut stats, params.merge_distance, params.merge_ratio, judge);

    // Representatives of the largest clones, then the windows they show shifted.
    let mut reps: HashMap<u128, Option<Representative>> = HashMap::new();
    let n_rep = params.designate;
    let top: Vec<u128> = ranked(&stats, params.min_reads)
        .iter()
        .take(n_rep)
        .map(|(k, _)| *k)
        .collect();
    compute_representatives(
        &top,
        &mut reps,
        &mut store,
        detector,
        params.worker_threads(),
        by_molecule,
    );
    if params.merge_distance > 0 {
        let with_rep: Vec<(u128, Vec<u8>, usize)> = top
            .iter()
            .filter_map(|k| {
                reps[k]
                    .as_ref()
                    .map(|r| (*k, r.sequence.as_bytes().to_vec(), r.window_start))
            })
            .collect();
        merges.extend(merge_shifted_with(
            &mut stats,
            &with_rep,
            params.merge_ratio,
            params.detect.min_window,
            params.merge_distance > 0,
            judge,
        ));
        merges.extend(merge_every_clone(&mut stats, &store, &top, params, judge));
        merges.extend(merge_far_variants_with(&mut stats, &with_rep, judge));
        if let Some(tables) = umis.as_mut() {
            merges.extend(merge_shared_umis(&mut stats, tables));
            merges.extend(merge_single_reads(&mut stats, tables));
        }
    }
    result.merged_windows = merges.len() as u64;
    let mut absorbed: HashMap<u128, Vec<u128>> = HashMap::new();
    for &(into, from) in &merges {
        absorbed.entry(into).or_default().push(from);
    }

    let mut all = ranked(&stats, 1);
    // With UMIs: the molecules of every clone, then clones ranked on them.
    let mut umi_model = UmiModel::default();
    let mols: FastMap<u128, Molecules> = match &umis {
        Some(tables) => {
            let keys: Vec<u128> = all.iter().map(|(k, _)| *k).collect();
            let min = params.umi.min_reads_per_umi;
            let table = |k: &u128| tables.tables.get(k).map_or(&[][..], |t| t.as_slice());
            // The directional groups once: the run's model from them, then each clone's molecules.
            let grouped = parallel_map(&keys, params.worker_threads(), |k| directional(table(k)));
            let summaries: Vec<TableSummary> = (keys.iter().zip(&grouped))
                .map(|(k, g)| TableSummary::of(table(k), g))
                .collect();
            umi_model = UmiModel::estimate(&summaries);
            let work: Vec<(u128, Vec<UmiGroup>)> = keys.into_iter().zip(grouped).collect();
            let found = parallel_map(&work, params.worker_threads(), |(k, g)| {
                molecules_of_groups(table(k), g.clone(), min, &umi_model)
            });
            work.into_iter().map(|(k, _)| k).zip(found).collect()
        }
        None => FastMap::default(),
    };
    let mut mols = mols;
    let moved = if by_molecule {
        reassign_molecules(&all, &mut mols)
    } else {
        FastMap::default()
    };
    let molecule_count = |k: &u128, s: &WindowStat| {
        let m = mols.get(k);
        m.map_or(0, |m| m.count()) + evicted_molecules(m, s)
    };
    if by_molecule {
        all.sort_by_cached_key(|(k, s)| {
            (
                std::cmp::Reverse(molecule_count(k, s)),
                std::cmp::Reverse(s.reads),
                *k,
            )
        });
    }
    let size = |k: &u128, s: &WindowStat| {
        if by_molecule {
            molecule_count(k, s)
        } else {
            s.reads as u64
        }
    };
    let mut decades: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for (_, s) in &all {
        let decade = 10u64.pow((s.reads as f64).log10().floor() as u32);
        let e = decades.entry(decade).or_default();
        e.0 += 1;
        e.1 += s.reads as u64;
    }
    result.distribution = decades.into_iter().map(|(d, (w, r))| (d, w, r)).collect();
    // Diversity on what clones are counted in: molecules with UMIs (PCR bias removed).
    result.diversity = Diversity::of(all.iter().map(|(k, s)| size(k, s)));
    let n_systems = result.systems.len() - 1;
    result.diversity_by_system = (result.systems.iter().enumerate())
        .map(|(k, (name, _))| {
            let code = if k == n_systems { UNEXPECTED_CODE } else { k as u16 };
            let sizes = all
                .iter()
                .filter(|(_, s)| s.system == code)
                .map(|(k, s)| size(k, s));
            (name.clone(), Diversity::of(sizes))
        })
        .collect();
    if let Some(tables) = &umis {
        result.umi = Some(umi_run(&all, &mols, tables, result, params, &molecule_count));
        if let Some(u) = result.umi.as_mut() {
            u.molecules_reassigned = moved.values().map(|v| v.len() as u64).sum();
            u.model = umi_model;
        }
    }
    let mut kept: Vec<(u128, WindowStat)> = all
        .into_iter()
        .filter(|(k, s)| size(k, s) >= params.min_reads as u64)
        .collect();
    result.clones_above_min = kept.len() as u64;
    result.reads_in_clones_above_min = kept.iter().map(|(_, s)| s.reads as u64).sum();
    if params.max_clones > 0 {
        kept.truncate(params.max_clones);
    }
    let top: Vec<u128> = kept.iter().take(n_rep).map(|(k, _)| *k).collect();
    compute_representatives(
        &top,
        &mut reps,
        &mut store,
        detector,
        params.worker_threads(),
        by_molecule,
    );
    drop(store);
    if let Some(u) = result.umi.as_mut() {
        let keys: Vec<u128> = kept.iter().map(|(k, _)| *k).collect();
        (u.collisions, u.clones_with_collisions) = collisions(&keys, &mols);
    }

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
                umi: by_molecule.then(|| {
                    let m = mols.get(key).cloned().unwrap_or_default();
                    CloneUmi {
                        molecules: molecule_count(key, s),
                        umis: m.umis as u64,
                        umis_merged: m.umis_merged as u64,
                        umis_merged_far: m.umis_merged_far as u64,
                        reads_in_molecules: m.molecules.iter().map(|x| x.1 as u64).sum(),
                        molecules_dropped: m.dropped as u64,
                        molecules_hidden: m.hidden.round() as u64,
                        molecules_evicted: evicted_molecules(Some(&m), s),
                        top_umis: (m.molecules.iter().take(5))
                            .map(|&(u, r)| (String::from_utf8(unpack_umi(u)).expect("ASCII"), r as u64))
                            .collect(),
                    }
                }),
                designation: None,
            }
        })
        .collect();
    CloneBuild {
        merges,
        moved_molecules: moved,
    }
}

/// Molecules of a clone's reads outside any table (their window's table was evicted
/// for memory): at the ratio of molecules to reads of the evicted tables.
fn evicted_molecules(m: Option<&Molecules>, s: &WindowStat) -> u64 {
    let outside = (s.reads as u64).saturating_sub(m.map_or(0, |m| m.reads));
    if s.umi_lost_reads > 0 {
        (outside as f64 * s.umi_lost as f64 / s.umi_lost_reads as f64).round() as u64
    } else {
        0
    }
}

/// A clone kept apart from a neighbouring clone (its own UMIs) still gets the reads
/// of that clone's molecules that carry an error right where they differ: a molecule
/// (UMI) found in two clones whose windows are alike (`related_windows`: two
/// substitutions at most, shifted by up to `MAX_SHIFT`) belongs to the clone with more
/// reads when that clone has it with at least as many reads, or to the clone having
/// it with twice the reads of the other, and leaves the other one. UMIs shared by unrelated clones (collisions, chimeras) are left alone.
/// Decided on the molecules before any change (deterministic). Returns the UMIs of
/// the molecules that left each window.
fn reassign_molecules(
    all: &[(u128, WindowStat)],
    mols: &mut FastMap<u128, Molecules>,
) -> FastMap<u128, Vec<u64>> {
    // (UMI, rank of the clone, reads of the molecule there), sorted by UMI.
    let mut holders: Vec<(u64, usize, u32)> = all
        .iter()
        .enumerate()
        .flat_map(|(rank, (k, _))| {
            let m = mols.get(k).map_or(&[][..], |m| m.molecules.as_slice());
            m.iter().map(move |&(u, r)| (u, rank, r))
        })
        .collect();
    holders.sort_unstable();
    let mut gone: Vec<(usize, u64)> = Vec::new();
    for h in holders.chunk_by(|a, b| a.0 == b.0).filter(|h| h.len() >= 2) {
        // The owner: most reads of this molecule, then the larger clone (`all` is ranked).
        let &(u, owner, owner_reads) = h
            .iter()
            .min_by(|a, b| b.2.cmp(&a.2).then(a.1.cmp(&b.1)))
            .expect("two holders");
        let owner_window = unpack_window(all[owner].0);
        for &(_, rank, reads) in h {
            // The owner's molecule: a larger clone's with at least as many reads here,
            // or any clone's with twice the reads (the other reads carry an error).
            let dominant =
                owner_reads >= 2 * reads || (all[owner].1.reads > all[rank].1.reads && owner_reads >= reads);
            if rank != owner
                && dominant
                && related_windows(
                    &unpack_window(all[rank].0),
                    &owner_window,
                    crate::clones::MAX_SHIFT,
                )
            {
                gone.push((rank, u));
            }
        }
    }
    gone.sort_unstable();
    let mut moved: FastMap<u128, Vec<u64>> = FastMap::default();
    for &(rank, u) in &gone {
        if let Some(m) = mols.get_mut(&all[rank].0) {
            m.molecules.retain(|x| x.0 != u);
        }
        moved.entry(all[rank].0).or_default().push(u);
    }
    moved
}

/// Smallest number of reads of each bin of the reads-per-molecule histogram.
const MOLECULE_BINS: [u64; 15] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 50, 100, 1000, 10000];

/// The UMI summary of a run from the molecules of every clone (`all`, ranked).
fn umi_run(
    all: &[(u128, WindowStat)],
    mols: &FastMap<u128, Molecules>,
    tables: &UmiTables,
    result: &RunResult,
    params: &RunParams,
    molecule_count: &dyn Fn(&u128, &WindowStat) -> u64,
) -> UmiRun {
    let mut run = UmiRun {
        source: params.umi.source.as_ref().map(|s| s.key()).unwrap_or_default(),
        min_reads_per_umi: params.umi.min_reads_per_umi,
        max_umis: params.umi.max_umis as u64,
        evicted_tables: tables.evicted_tables,
        evicted_reads: tables.evicted_reads,
        peak_entries: tables.peak_entries as u64,
        ..Default::default()
    };
    let mut bins = vec![0u64; MOLECULE_BINS.len()];
    let n_systems = result.systems.len() - 1;
    let mut by_system = vec![0u64; n_systems + 1];
    for (k, s) in all {
        let n = molecule_count(k, s);
        run.molecules += n;
        let slot = if s.system == UNEXPECTED_CODE {
            n_systems
        } else {
            s.system as usize
        };
        by_system[slot] += n;
        if let Some(m) = mols.get(k) {
            run.umis += m.umis as u64;
            run.umis_merged += m.umis_merged as u64;
            run.umis_merged_far += m.umis_merged_far as u64;
            run.molecules_hidden += m.hidden.round() as u64;
            run.crowded_clones += m.crowded as u64;
            run.molecules_dropped += m.dropped as u64;
            run.reads_in_dropped_molecules += m.dropped_reads;
            for &(_, reads) in &m.molecules {
                let bin = MOLECULE_BINS
                    .iter()
                    .rposition(|&b| b <= reads as u64)
                    .unwrap_or(0);
                bins[bin] += 1;
                run.reads_in_molecules += reads as u64;
            }
        }
    }
    run.reads_per_molecule = MOLECULE_BINS
        .iter()
        .zip(bins)
        .filter(|(_, n)| *n > 0)
        .map(|(&b, n)| (b, n))
        .collect();
    run.molecules_by_system = result
        .systems
        .iter()
        .map(|(name, _)| name.clone())
        .zip(by_system)
        .collect();
    run
}

/// UMIs (of molecules) found in two or more of the reported `clones`, and the
/// clones holding one: collisions of UMIs, or chimeras.
fn collisions(clones: &[u128], mols: &FastMap<u128, Molecules>) -> (u64, u64) {
    let mut seen: FastMap<u64, u32> = FastMap::default();
    for k in clones {
        for &(u, _) in mols.get(k).map_or(&[][..], |m| m.molecules.as_slice()) {
            *seen.entry(u).or_default() += 1;
        }
    }
    let colliding: HashSet<u64> = seen.iter().filter(|(_, &n)| n >= 2).map(|(u, _)| *u).collect();
    let clones_hit = clones
        .iter()
        .filter(|k| {
            mols.get(k)
                .is_some_and(|m| m.molecules.iter().any(|(u, _)| colliding.contains(u)))
        })
        .count();
    (colliding.len() as u64, clones_hit as u64)
}
