//! A run: the first pass over all reads (a reader thread, workers detecting each
//! read and aggregating the windows of their batch, batches collected back in input
//! order, so that results never depend on the number of threads), then clone
//! building and the designation of the top clones.

use crate::clone_build::build_clones;
use crate::clone_reads::{write_reads, History, ReadQuery};
use crate::clones::{compact_with, mix64, Counts, MergeJudge, WindowMap, WindowStat, UNEXPECTED_CODE};
use crate::designate::Designer;
use crate::detect::{orient, window_key, Detector, Outcome, Scratch, N_REASONS, UNEXPECTED};
use crate::error::{InputError, RunError};
use crate::germline::Germline;
use crate::index::KmerIndex;
use crate::molecule_reads::{window_offsets, write_molecules, MoleculeModel};
use crate::pairs::{with_reads_as_detected, PairTally};
use crate::params::RunParams;
use crate::reader::{Batch, BatchReader, Input};
use crate::results::{slot_names, CloneReads, CloneResult, DesignationRecord, RunResult, Tally};
use crate::runner::{parallel_map, progress, run_batches, StopProbe};
use crate::samples::SampleStore;
use crate::umi::{self, FastMap, UmiSource, UmiTables};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Detect every read (or pair) of `inputs` and cluster them into clones; `stop` is
/// asked between batches and between the steps after reading.
pub fn run(
    germline: &Germline,
    index: &KmerIndex,
    inputs: Vec<Input>,
    params: &RunParams,
    stop: StopProbe,
) -> Result<RunResult, RunError> {
    run_clones(germline, index, inputs, params, false, stop).map(|run| run.result)
}

/// A run's result, with what the reads of its clones need: the window merges of
/// the clone building and what compactions did to windows during the pass.
pub struct Run {
    pub result: RunResult,
    /// (absorber, absorbed) windows of the clone building, in order.
    pub merges: Vec<(u128, u128)>,
    pub history: History,
    /// With UMIs: the molecules (UMIs) that left a clone's window for a neighbour's.
    pub moved_molecules: FastMap<u128, Vec<u64>>,
}

/// `run()`, then a second pass over the inputs that writes the reads of the top
/// `clone_reads` clones to `out` (gzip): FASTA, input order (see `clone_reads`);
/// with UMIs, one consensus read per molecule (see `molecule_reads`).
pub fn run_with_clone_reads(
    germline: &Germline,
    index: &KmerIndex,
    inputs: Vec<Input>,
    params: &RunParams,
    clone_reads: usize,
    out: &mut dyn std::io::Write,
    stop: StopProbe,
) -> Result<RunResult, RunError> {
    if let Some(path) = inputs.iter().flat_map(|i| i.paths()).find(|p| *p == "-") {
        return Err(InputError::new(
            path,
            "the reads of clones need a second pass over the input: give a file, not standard input",
        )
        .into());
    }
    let run = run_clones(germline, index, inputs.clone(), params, true, stop)?;
    let (mut result, moved_molecules) = (run.result, run.moved_molecules);
    let started = Instant::now();
    let n = clone_reads.min(result.clones.len());
    let windows = result.clones.iter().map(|c| c.window.as_str());
    let query = ReadQuery::top_clones(windows, &run.merges, run.history, n);
    if !params.quiet {
        eprintln!("  writing the reads of the top {n} clones (second pass)");
    }
    if params.umi.source.is_some() {
        // With UMIs: one consensus read per molecule.
        let sequences: Vec<Option<(String, usize)>> = (result.clones.iter().take(n))
            .map(|c| {
                c.representative
                    .as_ref()
                    .map(|r| (r.sequence.clone(), r.window_start))
            })
            .collect();
        let offsets = window_offsets(&query, &sequences);
        let molecules = MoleculeModel {
            umis: result.umi.as_ref().map(|u| u.model).unwrap_or_default(),
            moved: &moved_molecules,
        };
        let written = write_molecules(
            germline, index, inputs, params, &query, &offsets, &molecules, out, stop,
        )?;
        result.clone_reads = Some(CloneReads {
            clones: n,
            reads: written.per_target.iter().sum(),
            per_clone: written.per_target,
            exact: query.exact(),
            seconds: started.elapsed().as_secs_f64(),
            molecules: true,
        });
        return Ok(result);
    }
    let written = write_reads(germline, index, inputs, params, &query, true, out, stop)?;
    result.clone_reads = Some(CloneReads {
        clones: n,
        reads: written.written,
        per_clone: written.per_target,
        exact: query.exact(),
        seconds: started.elapsed().as_secs_f64(),
        molecules: false,
    });
    Ok(result)
}

/// Events of compactions kept for `--clone-reads` at least (48 bytes each): else
/// `max_windows`.
const HISTORY_MIN_EVENTS: usize = 1 << 16;

/// `run()` with the merges of its clones and, with `history`, what compactions did
/// to windows (at most `max_windows` or `HISTORY_MIN_EVENTS` events).
pub fn run_clones(
    germline: &Germline,
    index: &KmerIndex,
    inputs: Vec<Input>,
    params: &RunParams,
    history: bool,
    stop: StopProbe,
) -> Result<Run, RunError> {
    params
        .validate()
        .map_err(|e| InputError::new("options", e.to_string()))?;
    let params = &RunParams {
        threads: params.worker_threads(),
        ..params.clone()
    };
    let started = Instant::now();
    let detector = Detector::new(index, germline, params.detect.clone());
    let n_systems = germline.systems.len();
    check_umi_inputs(&inputs, params)?;
    let reader = BatchReader::with_inputs(inputs);
    reader.check_inputs()?;
    let threshold = AtomicU64::new(u64::MAX);
    let mut collector = BatchCollector {
        result: RunResult {
            systems: slot_names(germline)
                .into_iter()
                .map(|n| (n, Tally::default()))
                .collect(),
            threads: params.threads,
            ..Default::default()
        },
        stats: WindowMap::default(),
        store: SampleStore::new(params.samples_per_window, params.sample_budget_bytes),
        params,
        history: History::new(if history {
            params.max_windows.max(HISTORY_MIN_EVENTS)
        } else {
            0
        }),
        umis: params
            .umi
            .source
            .as_ref()
            .map(|_| UmiTables::new(params.umi.max_umis)),
        no_umi: Tally::default(),
    };
    let mut last = Instant::now();
    let reads_per_file = run_batches(
        reader,
        params.threads,
        |batch, scratch, _| {
            process_batch(
                &detector,
                batch,
                params,
                threshold.load(Ordering::Relaxed),
                n_systems,
                scratch,
            )
        },
        |out| {
            collector.add(out);
            threshold.store(collector.store.threshold, Ordering::Relaxed);
            progress(
                params.quiet,
                collector.result.total.reads,
                started,
                &mut last,
                false,
            );
        },
        stop,
    );
    // The last progress line, also when the run stops early or fails.
    progress(
        params.quiet,
        collector.result.total.reads,
        started,
        &mut Instant::now(),
        true,
    );
    let reads_per_file = reads_per_file?;
    let mut result = collector.result;
    result.reads_per_file = reads_per_file;
    result.seconds_detection = started.elapsed().as_secs_f64();
    let clones_started = Instant::now();
    let (stats, store, mut history) = (collector.stats, collector.store, collector.history);
    let (umis, no_umi) = (collector.umis, collector.no_umi);
    history.finish();
    let built = build_clones(&mut result, stats, store, umis, germline, &detector, params);
    if let Some(u) = result.umi.as_mut() {
        u.reads_without_umi = no_umi;
    }
    result.seconds_clones = clones_started.elapsed().as_secs_f64();
    if stop() {
        return Err(RunError::Interrupted);
    }
    let designation_started = Instant::now();
    let n = result.clones.len().min(params.designate);
    designate_clones(&mut result.clones[..n], germline, params);
    result.seconds_designation = designation_started.elapsed().as_secs_f64();
    Ok(Run {
        result,
        merges: built.merges,
        history,
        moved_molecules: built.moved_molecules,
    })
}

/// What a worker hands back for one batch: counts, and the windows of the batch
/// already aggregated (collecting it then costs one update per window, not per read).
struct BatchOut {
    reads: u64,
    length: u64,
    reasons: [Tally; N_REASONS],
    /// Per system, plus unexpected recombinations last.
    systems: Vec<Tally>,
    shifted: u64,
    windows: Vec<(u128, WindowStat)>,
    /// With UMIs: sorted (window, UMI, reads), and the reads without a valid UMI.
    umis: Vec<(u128, u64, u32)>,
    no_umi: Tally,
    pairs: PairTally,
    /// Reads that may be sampled, on the V->J strand, concatenated in `sample_bases`.
    samples: Vec<SampleRef>,
    sample_bases: Vec<u8>,
}

struct SampleRef {
    key: u128,
    hash: u64,
    umi: u64,
    window_start: u32,
    range: (u32, u32),
}

fn process_batch(
    detector: &Detector,
    batch: &Batch,
    params: &RunParams,
    threshold: u64,
    n_systems: usize,
    scratch: &mut Scratch,
) -> BatchOut {
    with_reads_as_detected(batch, detector, params, scratch, |batch, umis, pairs, scratch| {
        process_reads(
            detector, batch, umis, pairs, params, threshold, n_systems, scratch,
        )
    })
}

/// `process_batch` on the reads as detection sees them.
#[allow(clippy::too_many_arguments)]
fn process_reads(
    detector: &Detector,
    batch: &Batch,
    umis: &[Option<u64>],
    pairs: PairTally,
    params: &RunParams,
    threshold: u64,
    n_systems: usize,
    scratch: &mut Scratch,
) -> BatchOut {
    let with_umi = params.umi.source.is_some();
    let mut umi_pairs: Vec<(u128, u64)> = Vec::new();
    let mut out = BatchOut {
        pairs,
        reads: batch.len() as u64,
        length: batch.bases() as u64,
        reasons: [Tally::default(); N_REASONS],
        systems: vec![Tally::default(); n_systems + 1],
        shifted: 0,
        windows: Vec::new(),
        umis: Vec::new(),
        no_umi: Tally::default(),
        samples: Vec::new(),
        sample_bases: Vec::new(),
    };
    let mut windows: WindowMap<WindowStat> = WindowMap::default();
    for (i, &umi) in umis.iter().enumerate() {
        let read = batch.seq(i);
        if with_umi && umi.is_none() {
            out.no_umi.add(read.len() as u64);
            continue;
        }
        match detector.detect(read, scratch) {
            Outcome::Undetected(reason) => out.reasons[reason as usize].add(read.len() as u64),
            Outcome::Detected(d) => {
                let key = window_key(scratch, &d);
                let hash = mix64(batch.first_ordinal + i as u64);
                if hash < threshold {
                    let start = out.sample_bases.len() as u32;
                    orient(read, d.reverse, &mut scratch.oriented);
                    out.sample_bases.extend_from_slice(&scratch.oriented);
                    let range = (start, out.sample_bases.len() as u32);
                    out.samples.push(SampleRef {
                        key,
                        hash,
                        umi: umi.unwrap_or(0),
                        window_start: d.window_start as u32,
                        range,
                    });
                }
                let (system, pair) = if d.system == UNEXPECTED {
                    let (a, b) = d.pair.unwrap_or((0, 0));
                    (UNEXPECTED_CODE, (a as u8, b as u8))
                } else {
                    (d.system as u16, (0, 0))
                };
                out.systems[if d.system == UNEXPECTED {
                    n_systems
                } else {
                    d.system
                }]
                .add(read.len() as u64);
                out.shifted += d.shifted as u64;
                if let Some(u) = umi {
                    umi_pairs.push((key, u));
                }
                windows
                    .entry(key)
                    .or_default()
                    .add(hash, system, pair, d.shifted, read.len() as u32);
            }
        }
    }
    out.windows = windows.into_iter().collect();
    out.umis = umi::batch_counts(umi_pairs);
    out
}

/// `r2:N` needs the second mate of every read: refuse single-end inputs.
fn check_umi_inputs(inputs: &[Input], params: &RunParams) -> Result<(), InputError> {
    if let Some(UmiSource::R2(_)) = params.umi.source {
        if let Some(Input::Single(path)) = inputs.iter().find(|i| matches!(i, Input::Single(_))) {
            return Err(InputError::new(
                path,
                "single-end reads have no second mate: --umi r2:N needs paired-end inputs (--r1/--r2)",
            ));
        }
    }
    Ok(())
}

/// Adds up the batch outputs, in input order.
struct BatchCollector<'a> {
    result: RunResult,
    stats: WindowMap<WindowStat>,
    store: SampleStore,
    params: &'a RunParams,
    /// Fates of the windows compactions removed (kept for `--clone-reads` only).
    history: History,
    /// The UMI tables of the windows (with UMIs only).
    umis: Option<UmiTables>,
    no_umi: Tally,
}

impl BatchCollector<'_> {
    fn add(&mut self, out: BatchOut) {
        let r = &mut self.result;
        r.total.reads += out.reads;
        r.total.length += out.length;
        for (t, o) in r.reasons.iter_mut().zip(out.reasons) {
            t.absorb(o);
        }
        for ((_, t), o) in r.systems.iter_mut().zip(out.systems) {
            r.detected.absorb(o);
            t.absorb(o);
        }
        r.shifted_reads += out.shifted;
        r.pairs.absorb(out.pairs);
        for (key, window) in out.windows {
            self.stats.entry(key).or_default().absorb(&window);
        }
        self.no_umi.absorb(out.no_umi);
        if let Some(umis) = self.umis.as_mut() {
            umis.add(&out.umis);
            umis.enforce_budget(&mut self.stats);
        }
        for s in out.samples {
            let seq = &out.sample_bases[s.range.0 as usize..s.range.1 as usize];
            self.store.offer(s.key, s.hash, s.window_start, s.umi, seq);
        }
        self.store.enforce_budget();
        if self.stats.len() > self.params.max_windows {
            let p = self.params;
            let history = &mut self.history;
            history.start_compaction(self.result.total.reads);
            let mut log = |window, into| history.record(window, into);
            let judge: &mut dyn MergeJudge = match self.umis.as_mut() {
                Some(u) => u,
                None => &mut Counts,
            };
            let (windows, reads) = compact_with(
                &mut self.stats,
                p.max_windows,
                p.merge_distance,
                p.merge_ratio,
                &mut log,
                judge,
            );
            self.result.dropped_windows += windows;
            self.result.dropped_reads += reads;
            let stats = &self.stats;
            self.store.retain_windows(|k| stats.contains_key(k));
        }
    }
}

/// Designate the representatives of the clones, on all threads.
fn designate_clones(clones: &mut [CloneResult], germline: &Germline, params: &RunParams) {
    let designer = Designer::new(germline);
    let designations = parallel_map(clones, params.worker_threads(), |c| {
        c.representative.as_ref().map(|r| {
            let seq = r.sequence.as_bytes();
            let designation = designer.designate(seq, c.system, c.pair, &params.design);
            DesignationRecord::new(&designation, seq)
        })
    });
    for (clone, d) in clones.iter_mut().zip(designations) {
        clone.designation = d;
    }
}
