//! The first pass over all reads: a reader thread cuts the input into batches,
//! worker threads detect each read, and the calling thread merges the batches
//! back in input order, so results never depend on the number of threads.

use crate::clones::{
    compact, for_each_variant, merge_shifted, merge_variants, mix64, representative, unpack_window, Sample,
    SampleStore, WindowMap, WindowStat, MAX_WINDOW,
};
use crate::designate::{DesignParams, Designation, Designer};
use crate::detect::{
    orient, window_key, DetectParams, Detector, Outcome, Reason, Scratch, N_REASONS, UNEXPECTED,
};
use crate::error::InputError;
use crate::germline::Germline;
use crate::index::KmerIndex;
use crate::merge::{merge_pair, MergeParams};
use crate::reader::{Batch, BatchReader, Input};
use crossbeam_channel::bounded;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct RunParams {
    pub detect: DetectParams,
    pub threads: usize,
    /// Clones with fewer reads are counted but not reported (`-r`).
    pub min_reads: u32,
    /// At most this many clones reported; 0 = all.
    pub max_clones: usize,
    /// The top N clones get a representative sequence and a designation (`-z`).
    pub designate: usize,
    pub design: DesignParams,
    /// 0 = no merge, 1 or 2 substitutions.
    pub merge_distance: usize,
    pub merge_ratio: f64,
    pub samples_per_window: usize,
    pub sample_budget_bytes: usize,
    /// Distinct windows kept while reading (memory bound, see `clones::compact`).
    pub max_windows: usize,
    /// Overlap of paired-end mates.
    pub merge: MergeParams,
    pub quiet: bool,
}

impl Default for RunParams {
    fn default() -> Self {
        RunParams {
            detect: DetectParams::default(),
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            min_reads: 5,
            max_clones: 0,
            designate: 100,
            design: DesignParams::default(),
            merge_distance: 1,
            merge_ratio: 20.0,
            samples_per_window: 200,
            sample_budget_bytes: 32 << 20,
            max_windows: 1 << 20,
            merge: MergeParams::default(),
            quiet: true,
        }
    }
}

impl RunParams {
    pub fn validate(&self) -> Result<(), String> {
        let d = &self.detect;
        if d.window > MAX_WINDOW || d.window < d.min_window || d.min_window < 10 {
            return Err(format!(
                "--window must be between {} and {MAX_WINDOW}",
                d.min_window.max(10)
            ));
        }
        if d.max_evalue.is_nan() || d.max_evalue <= 0.0 {
            return Err("--e-value must be positive".into());
        }
        if self.merge_distance > 2 {
            return Err("--merge-distance must be 0, 1 or 2".into());
        }
        if self.merge_ratio.is_nan() || self.merge_ratio < 1.0 {
            return Err("--merge-ratio must be at least 1".into());
        }
        if self.max_windows < 100 {
            return Err("--max-windows must be at least 100".into());
        }
        if self.design.max_evalue_d.is_nan() || self.design.max_evalue_d <= 0.0 {
            return Err("--e-value-d must be positive".into());
        }
        if self.threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        if self.merge.min_overlap < 5 {
            return Err("--min-overlap must be at least 5".into());
        }
        let rate = self.merge.max_mismatch_rate;
        if rate.is_nan() || !(0.0..0.5).contains(&rate) {
            return Err("--max-mismatch-rate must be at least 0 and below 0.5".into());
        }
        Ok(())
    }
}

/// Reads and total length of a category.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub reads: u64,
    pub length: u64,
}

impl Tally {
    fn add(&mut self, length: u64) {
        self.reads += 1;
        self.length += length;
    }
    fn absorb(&mut self, other: Tally) {
        self.reads += other.reads;
        self.length += other.length;
    }
}

#[derive(Clone, Debug)]
pub struct Representative {
    pub sequence: String,
    pub window_start: usize,
    /// Sampled reads used, and the fraction of them covering the whole sequence.
    pub samples: usize,
    pub coverage: f64,
    pub evalue: Option<f64>,
    pub evalue_v: Option<f64>,
    pub evalue_j: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct CloneResult {
    pub window: String,
    /// Index into `Germline::systems`, or `UNEXPECTED`.
    pub system: usize,
    pub pair: Option<(usize, usize)>,
    pub reads: u64,
    pub shifted_reads: u64,
    pub merged_reads: u64,
    /// Windows merged into this clone, largest first (at most 20 listed).
    pub merged_windows: Vec<String>,
    pub merged_count: usize,
    pub average_length: f64,
    pub representative: Option<Representative>,
    /// Of the representative; `Err` says why it failed (W68).
    pub designation: Option<Result<Designation, String>>,
    /// A larger clone one substitution away that this one was not merged into (W53).
    pub near_duplicate_of: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct RunResult {
    pub total: Tally,
    pub detected: Tally,
    /// Per system, plus one last entry for unexpected recombinations.
    pub systems: Vec<Tally>,
    pub reasons: [Tally; N_REASONS],
    /// Reads detected whose window had to be shifted or shrunk.
    pub shifted_reads: u64,
    pub distinct_windows: u64,
    pub merged_windows: u64,
    /// Windows (and their reads) dropped to keep at most `max_windows`.
    pub dropped_windows: u64,
    pub dropped_reads: u64,
    pub clones: Vec<CloneResult>,
    /// Clones with at least `min_reads` reads (before `max_clones`).
    pub clones_above_min: u64,
    pub reads_in_clones_above_min: u64,
    /// (smallest size of the decade, windows, reads): 1, 10, 100, ...
    pub distribution: Vec<(u64, u64, u64)>,
    pub reads_per_file: Vec<u64>,
    pub pairs: PairTally,
    pub seconds_detection: f64,
    pub seconds_clones: f64,
    pub seconds_designation: f64,
    pub sample_threshold: f64,
    /// Over all clones (windows after merging), whatever their size.
    pub diversity: Diversity,
    /// The same per system (unexpected recombinations last).
    pub diversity_by_system: Vec<Diversity>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Diversity {
    /// Shannon entropy H (natural log).
    pub shannon: f64,
    /// Pielou evenness H / ln(S).
    pub evenness: f64,
    /// Simpson diversity 1 - sum n(n-1) / N(N-1).
    pub simpson: f64,
    pub clones: u64,
    /// Reads, and clones of one and of two reads (Chao1's f1, f2).
    pub reads: u64,
    pub singletons: u64,
    pub doubletons: u64,
}

impl Diversity {
    pub fn of(sizes: impl Iterator<Item = u64>) -> Diversity {
        let (mut n, mut s, mut n_ln_n, mut pairs) = (0f64, 0u64, 0f64, 0f64);
        let (mut f1, mut f2) = (0u64, 0u64);
        for x in sizes.filter(|&x| x > 0) {
            f1 += (x == 1) as u64;
            f2 += (x == 2) as u64;
            let x = x as f64;
            n += x;
            s += 1;
            n_ln_n += x * x.ln();
            pairs += x * (x - 1.0);
        }
        if n == 0.0 {
            return Diversity::default();
        }
        let shannon = n.ln() - n_ln_n / n;
        Diversity {
            shannon,
            evenness: if s > 1 { shannon / (s as f64).ln() } else { 0.0 },
            simpson: if n > 1.0 {
                1.0 - pairs / (n * (n - 1.0))
            } else {
                0.0
            },
            clones: s,
            reads: n as u64,
            singletons: f1,
            doubletons: f2,
        }
    }

    /// Bias-corrected Chao1 richness: S + f1 (f1 - 1) / (2 (f2 + 1)).
    pub fn chao1(&self) -> f64 {
        let f1 = self.singletons as f64;
        self.clones as f64 + f1 * (f1 - 1.0).max(0.0) / (2.0 * (self.doubletons as f64 + 1.0))
    }
}

/// How the reads of paired-end inputs were used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PairTally {
    /// Pairs whose mates overlapped: detected once, on the merged read.
    pub merged: u64,
    /// Pairs whose mates did not overlap: each mate detected, the pair counted once.
    pub not_merged: u64,
    /// Reads of single-end inputs.
    pub unpaired: u64,
    /// Overlapping bases over the merged pairs.
    pub overlap_bases: u64,
}

impl PairTally {
    fn absorb(&mut self, other: PairTally) {
        self.merged += other.merged;
        self.not_merged += other.not_merged;
        self.unpaired += other.unpaired;
        self.overlap_bases += other.overlap_bases;
    }
}

/// The reads to detect in `batch`, one per read or pair: a pair becomes its merged
/// read when the mates overlap, else the mate detected with the better e-value
/// (R1 when neither or both equally), so that a pair counts once.
fn resolve_pairs<'b>(
    batch: &'b Batch,
    detector: &Detector,
    merge: &MergeParams,
    scratch: &mut Scratch,
) -> (Cow<'b, Batch>, PairTally) {
    let Some(mates) = batch.mates.as_deref() else {
        let tally = PairTally {
            unpaired: batch.len() as u64,
            ..Default::default()
        };
        return (Cow::Borrowed(batch), tally);
    };
    let mut tally = PairTally::default();
    let mut reads = Batch {
        number: batch.number,
        first_ordinal: batch.first_ordinal,
        ..Default::default()
    };
    for i in 0..batch.len() {
        let (r1, r2) = (batch.seq(i), mates.seq(i));
        if let Some(m) = merge_pair(r1, batch.qual(i), r2, mates.qual(i), merge) {
            tally.merged += 1;
            tally.overlap_bases += m.overlap as u64;
            reads.push(batch.name(i), &m.seq, &m.qual);
            continue;
        }
        tally.not_merged += 1;
        let evalue = |read: &[u8], scratch: &mut Scratch| match detector.detect(read, scratch) {
            Outcome::Detected(d) => d.evalue,
            Outcome::Undetected(_) => f64::INFINITY,
        };
        let use_r2 = evalue(r2, scratch) < evalue(r1, scratch);
        let (name, seq, qual) = if use_r2 {
            (mates.name(i), r2, mates.qual(i))
        } else {
            (batch.name(i), r1, batch.qual(i))
        };
        reads.push(name, seq, qual);
    }
    (Cow::Owned(reads), tally)
}

/// What a worker hands back for one batch: counts, and the windows of the batch
/// already aggregated (the merge then costs one update per window, not per read).
struct BatchOut {
    reads: u64,
    length: u64,
    reasons: [Tally; N_REASONS],
    /// Per system, plus unexpected recombinations last.
    systems: Vec<Tally>,
    shifted: u64,
    windows: Vec<(u128, WindowStat)>,
    pairs: PairTally,
    /// Reads that may be sampled, on the V->J strand, concatenated in `sample_bases`.
    samples: Vec<SampleRef>,
    sample_bases: Vec<u8>,
}

struct SampleRef {
    key: u128,
    hash: u64,
    window_start: u32,
    range: (u32, u32),
}

const UNEXPECTED_CODE: u16 = u16::MAX;

fn process_batch(
    detector: &Detector,
    batch: &Batch,
    params: &RunParams,
    threshold: u64,
    n_systems: usize,
    scratch: &mut Scratch,
) -> BatchOut {
    let (batch, pairs) = resolve_pairs(batch, detector, &params.merge, scratch);
    let batch = batch.as_ref();
    let mut out = BatchOut {
        pairs,
        reads: batch.len() as u64,
        length: batch.bases() as u64,
        reasons: [Tally::default(); N_REASONS],
        systems: vec![Tally::default(); n_systems + 1],
        shifted: 0,
        windows: Vec::new(),
        samples: Vec::new(),
        sample_bases: Vec::new(),
    };
    let mut windows: WindowMap<WindowStat> = WindowMap::default();
    for i in 0..batch.len() {
        let read = batch.seq(i);
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
                windows
                    .entry(key)
                    .or_default()
                    .add(hash, system, pair, d.shifted, read.len() as u32);
            }
        }
    }
    out.windows = windows.into_iter().collect();
    out
}

/// Merges batch outputs in input order.
struct Merger<'a> {
    result: RunResult,
    stats: WindowMap<WindowStat>,
    store: SampleStore,
    params: &'a RunParams,
}

impl Merger<'_> {
    fn merge(&mut self, out: BatchOut) {
        let r = &mut self.result;
        r.total.reads += out.reads;
        r.total.length += out.length;
        for (t, o) in r.reasons.iter_mut().zip(out.reasons) {
            t.absorb(o);
        }
        for (t, o) in r.systems.iter_mut().zip(out.systems) {
            r.detected.absorb(o);
            t.absorb(o);
        }
        r.shifted_reads += out.shifted;
        r.pairs.absorb(out.pairs);
        for (key, window) in out.windows {
            self.stats.entry(key).or_default().absorb(&window);
        }
        for s in out.samples {
            let seq = &out.sample_bases[s.range.0 as usize..s.range.1 as usize];
            self.store.offer(s.key, s.hash, s.window_start, seq);
        }
        self.store.enforce_budget();
        if self.stats.len() > self.params.max_windows {
            let p = self.params;
            let (windows, reads) = compact(&mut self.stats, p.max_windows, p.merge_distance, p.merge_ratio);
            self.result.dropped_windows += windows;
            self.result.dropped_reads += reads;
            let stats = &self.stats;
            self.store.retain_windows(|k| stats.contains_key(k));
        }
    }
}

fn progress(quiet: bool, reads: u64, started: Instant, last: &mut Instant, done: bool) {
    if quiet || (!done && last.elapsed() < Duration::from_secs(1)) {
        return;
    }
    *last = Instant::now();
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r  {reads} reads processed, {:.0} reads/s   ",
        reads as f64 / secs
    );
    if done {
        let _ = writeln!(err);
    }
    let _ = err.flush();
}

/// Read `reader` on one thread, run `process` on each batch on `threads` workers,
/// and hand the results to `consume` on the calling thread in input order.
/// Returns the reads counted per input file.
fn run_batches<R: Send>(
    mut reader: BatchReader,
    threads: usize,
    process: impl Fn(&Batch, &mut Scratch) -> R + Sync,
    mut consume: impl FnMut(R),
) -> Result<Vec<u64>, InputError> {
    let read_error: Mutex<Option<InputError>> = Mutex::new(None);
    let reads_per_file: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        let (batch_tx, batch_rx) = bounded::<Batch>(threads * 4);
        let (out_tx, out_rx) = bounded::<(u64, R)>(threads * 4);
        let read_error = &read_error;
        let reads_per_file = &reads_per_file;
        scope.spawn(move || {
            loop {
                match reader.next_batch() {
                    Ok(Some(batch)) => {
                        if batch_tx.send(batch).is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        *read_error.lock().unwrap() = Some(e);
                        break;
                    }
                }
            }
            *reads_per_file.lock().unwrap() = reader.reads_per_file.clone();
        });
        for _ in 0..threads {
            let batch_rx = batch_rx.clone();
            let out_tx = out_tx.clone();
            let process = &process;
            scope.spawn(move || {
                let mut scratch = Scratch::default();
                for batch in batch_rx {
                    let out = process(&batch, &mut scratch);
                    if out_tx.send((batch.number, out)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(batch_rx);
        drop(out_tx);
        let mut pending: BTreeMap<u64, R> = BTreeMap::new();
        let mut next = 0u64;
        for (number, out) in out_rx {
            pending.insert(number, out);
            while let Some(out) = pending.remove(&next) {
                consume(out);
                next += 1;
            }
        }
    });
    if let Some(e) = read_error.into_inner().unwrap() {
        return Err(e);
    }
    Ok(reads_per_file.into_inner().unwrap())
}

/// Detect every read (or pair) of `inputs` and cluster them into clones.
pub fn run(
    germline: &Germline,
    index: &KmerIndex,
    inputs: Vec<Input>,
    params: &RunParams,
) -> Result<RunResult, InputError> {
    params.validate().map_err(|m| InputError::new("options", m))?;
    let started = Instant::now();
    let detector = Detector::new(index, germline, params.detect.clone());
    let n_systems = germline.systems.len();
    let reader = BatchReader::with_inputs(inputs);
    reader.check_inputs()?;
    let threshold = AtomicU64::new(u64::MAX);
    let mut merger = Merger {
        result: RunResult {
            systems: vec![Tally::default(); n_systems + 1],
            ..Default::default()
        },
        stats: WindowMap::default(),
        store: SampleStore::new(params.samples_per_window, params.sample_budget_bytes),
        params,
    };
    let mut last = Instant::now();
    let reads_per_file = run_batches(
        reader,
        params.threads,
        |batch, scratch| {
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
            merger.merge(out);
            threshold.store(merger.store.threshold, Ordering::Relaxed);
            progress(params.quiet, merger.result.total.reads, started, &mut last, false);
        },
    )?;
    progress(
        params.quiet,
        merger.result.total.reads,
        started,
        &mut Instant::now(),
        true,
    );
    let mut result = merger.result;
    result.reads_per_file = reads_per_file;
    result.seconds_detection = started.elapsed().as_secs_f64();
    let clones_started = Instant::now();
    build_clones(&mut result, merger.stats, merger.store, &detector, params);
    result.seconds_clones = clones_started.elapsed().as_secs_f64();
    let designation_started = Instant::now();
    let n = result.clones.len().min(params.designate);
    designate_clones(&mut result.clones[..n], germline, params);
    result.seconds_designation = designation_started.elapsed().as_secs_f64();
    Ok(result)
}

/// What the per-read mode counted.
#[derive(Clone, Copy, Debug, Default)]
pub struct PerReadSummary {
    pub reads: u64,
    pub detected: u64,
    pub designated: u64,
}

/// Columns of the per-read mode's TSV.
pub const PER_READ_HEADER: &str = "read\tsystem\tname\tjunction\tjunction_aa\tproductive\tevalue\tnote";

/// One TSV line: the read's label, its system, designation and junction, or why
/// it was not detected or designated.
fn per_read_line(
    name: &[u8],
    outcome: &Outcome,
    designation: Option<&Result<Designation, String>>,
    germline: &Germline,
) -> String {
    let label = String::from_utf8_lossy(name).replace(['\t', '\n', '\r'], " ");
    let d = match outcome {
        Outcome::Undetected(reason) => return format!("{label}\t-\t-\t-\t-\t-\t-\t{}\n", reason.key()),
        Outcome::Detected(d) => d,
    };
    let system = if d.system == UNEXPECTED {
        "unexpected"
    } else {
        germline.systems[d.system].name.as_str()
    };
    match designation {
        Some(Ok(des)) => {
            let (junction, aa, productive) = match &des.junction {
                Some(j) => (
                    j.nt.as_str(),
                    j.aa.as_str(),
                    if j.productive {
                        "yes"
                    } else {
                        j.unproductive.unwrap_or("no")
                    },
                ),
                None => ("-", "-", "-"),
            };
            let tied = des.tied_genes();
            let note = if tied.is_empty() {
                "-".to_string()
            } else {
                format!("W69 {}", tied.join(","))
            };
            format!(
                "{label}\t{system}\t{}\t{junction}\t{aa}\t{productive}\t{:.1e}\t{note}\n",
                des.name, des.evalue
            )
        }
        Some(Err(why)) => format!("{label}\t{system}\t-\t-\t-\t-\t{:.1e}\tW68 {why}\n", d.evalue),
        None => format!("{label}\t{system}\t-\t-\t-\t-\t{:.1e}\t-\n", d.evalue),
    }
}

/// Detect and designate every read on its own (to check curated reads): one TSV
/// line per read to `out`, in input order, on all threads.
pub fn per_read(
    germline: &Germline,
    index: &KmerIndex,
    inputs: Vec<Input>,
    params: &RunParams,
    out: &mut dyn Write,
) -> Result<PerReadSummary, InputError> {
    params.validate().map_err(|m| InputError::new("options", m))?;
    let started = Instant::now();
    let detector = Detector::new(index, germline, params.detect.clone());
    let designer = Designer::new(germline);
    let reader = BatchReader::with_inputs(inputs);
    reader.check_inputs()?;
    let write_error = |e: std::io::Error| InputError::new("output", format!("cannot write: {e}"));
    writeln!(out, "{PER_READ_HEADER}").map_err(write_error)?;
    let mut summary = PerReadSummary::default();
    let mut failed: Option<std::io::Error> = None;
    let mut last = Instant::now();
    run_batches(
        reader,
        params.threads,
        |batch, scratch| {
            let (batch, _) = resolve_pairs(batch, &detector, &params.merge, scratch);
            let batch = batch.as_ref();
            let mut text = String::new();
            let mut counts = PerReadSummary::default();
            for i in 0..batch.len() {
                let outcome = detector.detect(batch.seq(i), scratch);
                let designation = match &outcome {
                    Outcome::Detected(d) => {
                        orient(batch.seq(i), d.reverse, &mut scratch.oriented);
                        counts.detected += 1;
                        Some(designer.designate(&scratch.oriented, d.system, d.pair, &params.design))
                    }
                    Outcome::Undetected(_) => None,
                };
                counts.designated += matches!(designation, Some(Ok(_))) as u64;
                text.push_str(&per_read_line(
                    batch.name(i),
                    &outcome,
                    designation.as_ref(),
                    germline,
                ));
            }
            counts.reads = batch.len() as u64;
            (text, counts)
        },
        |(text, counts)| {
            if failed.is_none() {
                if let Err(e) = out.write_all(text.as_bytes()) {
                    failed = Some(e);
                }
            }
            summary.reads += counts.reads;
            summary.detected += counts.detected;
            summary.designated += counts.designated;
            progress(params.quiet, summary.reads, started, &mut last, false);
        },
    )?;
    if let Some(e) = failed {
        return Err(write_error(e));
    }
    out.flush().map_err(write_error)?;
    progress(params.quiet, summary.reads, started, &mut Instant::now(), true);
    Ok(summary)
}

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

fn build_clones(
    result: &mut RunResult,
    mut stats: WindowMap<WindowStat>,
    mut store: SampleStore,
    detector: &Detector,
    params: &RunParams,
) {
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
    compute_representatives(&top, &mut reps, &mut store, detector, params.threads);
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
    }
    result.merged_windows = merges.len() as u64;
    let mut absorbed: HashMap<u128, Vec<u128>> = HashMap::new();
    for (into, from) in merges {
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
    result.diversity_by_system = (0..=n_systems)
        .map(|k| {
            let code = if k == n_systems { UNEXPECTED_CODE } else { k as u16 };
            Diversity::of(
                all.iter()
                    .filter(|(_, s)| s.system == code)
                    .map(|(_, s)| s.reads as u64),
            )
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
    compute_representatives(&top, &mut reps, &mut store, detector, params.threads);
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
            CloneResult {
                window: to_string(*key),
                system: if s.system == UNEXPECTED_CODE {
                    UNEXPECTED
                } else {
                    s.system as usize
                },
                pair: (s.system == UNEXPECTED_CODE).then_some((s.pair.0 as usize, s.pair.1 as usize)),
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
}

/// Designate the representatives of the clones, on all threads.
fn designate_clones(clones: &mut [CloneResult], germline: &Germline, params: &RunParams) {
    let designer = Designer::new(germline);
    let designations = parallel_map(clones, params.threads, |c| {
        c.representative
            .as_ref()
            .map(|r| designer.designate(r.sequence.as_bytes(), c.system, c.pair, &params.design))
    });
    for (clone, d) in clones.iter_mut().zip(designations) {
        clone.designation = d;
    }
}

/// Map `f` over `items` on `threads` threads, keeping the order.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.is_empty() {
        return Vec::new();
    }
    let chunk = items.len().div_ceil(threads.max(1));
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| scope.spawn(|| c.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread panicked"))
            .collect()
    })
}

/// Only decompress and parse the inputs (the benchmark's baseline).
pub fn parse_only(paths: Vec<String>) -> Result<(u64, u64), InputError> {
    let mut reader = BatchReader::new(paths);
    let (mut reads, mut bases) = (0u64, 0u64);
    while let Some(b) = reader.next_batch()? {
        reads += b.len() as u64;
        bases += b.bases() as u64;
    }
    Ok((reads, bases))
}

/// Keys of the reasons, in report order.
pub fn reason_keys() -> Vec<&'static str> {
    Reason::ALL.iter().map(|r| r.key()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diversity_by_hand() {
        // 2 clones of 5 reads: H = ln 2, evenness 1, Simpson 1 - 2*20/90
        let d = Diversity::of([5u64, 5].into_iter());
        assert!((d.shannon - 2f64.ln()).abs() < 1e-12);
        assert!((d.evenness - 1.0).abs() < 1e-12);
        assert!((d.simpson - (1.0 - 40.0 / 90.0)).abs() < 1e-12);
        assert_eq!(Diversity::of([7u64].into_iter()).shannon, 0.0);
        // Chao1: S + f1 (f1 - 1) / (2 (f2 + 1)) = 5 + 3 * 2 / (2 * 2) = 6.5
        let d = Diversity::of([1u64, 1, 1, 2, 9].into_iter());
        assert_eq!((d.singletons, d.doubletons, d.reads), (3, 1, 14));
        assert_eq!(d.chao1(), 6.5);
    }
}
