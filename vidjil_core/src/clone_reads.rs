//! The reads of clones: a second pass over the inputs that detects every read (or
//! pair) again and writes those of some targets as FASTA, in input order. Targets
//! are the top clones of a run (every window whose reads counted in the clone: its
//! own and the windows merged into it) or, for `grep-reads`, a window or a sequence
//! searched on both strands. Memory: the target windows and the batches in flight.

use crate::clones::{pack_window, WindowMap, MAX_WINDOW};
use crate::detect::{window_key, Detector, Outcome};
use crate::error::{InputError, RunError};
use crate::germline::Germline;
use crate::index::KmerIndex;
use crate::nuc::CODES;
use crate::pairs::with_reads_as_detected;
use crate::params::RunParams;
use crate::reader::{BatchReader, Input};
use crate::runner::{progress, run_batches, StopProbe};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;

/// What to write: reads whose window is a key of `windows`, or that contain one of
/// `sequences` (either strand); each names its target (header `clone=RANK window=WINDOW`).
#[derive(Debug, Default, Clone)]
pub struct ReadQuery {
    pub(crate) windows: WindowMap<u32>,
    /// (sequence, its reverse complement, target)
    sequences: Vec<(Vec<u8>, Vec<u8>, u32)>,
    /// (rank, window) of each target.
    pub(crate) targets: Vec<(usize, String)>,
    /// What compactions of the first pass did to windows (empty: none happened).
    pub(crate) history: History,
}

/// What the compactions of the first pass (`max_windows`) did to windows, so that
/// the second pass follows the count of each read to the window that holds it at
/// the end: a window merged into another carries its reads there, a dropped one
/// loses them, and either starts again from zero afterwards. At most `cap` events
/// are kept (48 bytes each); past them the reads of clones are no longer exact.
#[derive(Debug, Default, Clone)]
pub struct History {
    /// Reads counted before each compaction (the ordinal of the first read after it).
    boundaries: Vec<u64>,
    /// (window, compaction, window merged into or 0 when dropped); sorted by `finish`.
    events: Vec<(u128, u32, u128)>,
    cap: usize,
    /// Events were left out: the reads of clones may differ from their counts.
    pub overflow: bool,
}

impl History {
    pub fn new(cap: usize) -> History {
        History {
            cap,
            ..Default::default()
        }
    }

    /// A compaction starts, after `reads` reads were counted.
    pub fn start_compaction(&mut self, reads: u64) {
        self.boundaries.push(reads);
    }

    /// During the last compaction, `window` was merged into `into` (0: dropped).
    pub fn record(&mut self, window: u128, into: u128) {
        if self.events.len() >= self.cap {
            self.overflow = true;
            return;
        }
        let c = self.boundaries.len().saturating_sub(1) as u32;
        self.events.push((window, c, into));
    }

    /// Sort the events for `resolve`.
    pub fn finish(&mut self) {
        self.events.sort_unstable();
    }

    /// The window that holds, at the end of the first pass, the count of read
    /// `ordinal` whose window is `window`; None when a compaction dropped it.
    pub fn resolve(&self, mut window: u128, ordinal: u64) -> Option<u128> {
        if self.events.is_empty() {
            return Some(window);
        }
        // The first compaction after the read.
        let mut c = self.boundaries.partition_point(|&b| b <= ordinal) as u32;
        // Each step follows a merge at this compaction or a later one.
        for _ in 0..self.events.len() {
            let at = self.events.partition_point(|e| (e.0, e.1) < (window, c));
            match self.events.get(at) {
                Some(&(w, when, into)) if w == window => {
                    if into == 0 {
                        return None;
                    }
                    (window, c) = (into, when);
                }
                _ => break,
            }
        }
        Some(window)
    }
}

fn revcomp(seq: &[u8]) -> Vec<u8> {
    seq.iter()
        .rev()
        .map(|&b| match b {
            b'A' => b'T',
            b'C' => b'G',
            b'G' => b'C',
            b'T' => b'A',
            other => other,
        })
        .collect()
}

impl ReadQuery {
    /// The top `n` clones of a run, by their windows in rank order (ranks 1..n): each clone's window and every
    /// window merged into it, directly or through a window it had absorbed
    /// (`merges`: (absorber, absorbed) pairs, in the order they happened).
    pub fn top_clones<'a>(
        windows: impl IntoIterator<Item = &'a str>,
        merges: &[(u128, u128)],
        history: History,
        n: usize,
    ) -> ReadQuery {
        let mut absorbed: HashMap<u128, Vec<u128>> = HashMap::new();
        for &(into, from) in merges {
            absorbed.entry(into).or_default().push(from);
        }
        let mut query = ReadQuery {
            history,
            ..Default::default()
        };
        for (rank, window) in windows.into_iter().take(n).enumerate() {
            let target = query.targets.len() as u32;
            query.targets.push((rank + 1, window.to_string()));
            let mut todo = vec![pack_window(window.as_bytes())];
            while let Some(key) = todo.pop() {
                if query.windows.insert(key, target).is_none() {
                    todo.extend(absorbed.get(&key).into_iter().flatten());
                }
            }
        }
        query
    }

    /// `grep-reads`: reads whose detected window is `query` when it has the length
    /// of a window (`min_window`..=63 nt) and `contains` is false, else reads that
    /// contain it on either strand.
    pub fn grep(
        query: &str,
        rank: usize,
        min_window: usize,
        contains: bool,
    ) -> Result<ReadQuery, InputError> {
        let seq = query.to_ascii_uppercase().into_bytes();
        if seq.is_empty() || seq.iter().any(|&b| CODES[b as usize] > 3) {
            return Err(InputError::new(
                "query",
                format!("'{query}' is not a DNA sequence (A, C, G, T only)"),
            ));
        }
        let mut q = ReadQuery::default();
        q.targets
            .push((rank, String::from_utf8(seq.clone()).expect("ASCII")));
        if !contains && (min_window..=MAX_WINDOW).contains(&seq.len()) {
            q.windows.insert(pack_window(&seq), 0);
        } else {
            let rc = revcomp(&seq);
            q.sequences.push((seq, rc, 0));
        }
        Ok(q)
    }

    /// Whether the reads written are exactly those counted in the clones.
    pub fn exact(&self) -> bool {
        !self.history.overflow
    }

    /// Windows searched (own and merged), for the tests.
    pub fn window_count(&self) -> usize {
        self.windows.len()
    }
}

/// zlib-rs level 5: measured on clone reads, a third of level 6's time for 15% more
/// bytes (level 1 writes three times as many).
pub(crate) const GZIP_LEVEL: u32 = 5;

/// What the pass wrote.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ReadsWritten {
    /// Reads (or pairs) read.
    pub reads: u64,
    /// Reads written.
    pub written: u64,
    /// Reads written per target, in target order.
    pub per_target: Vec<u64>,
}

/// The first word of a read's name (its id), or `read<ordinal>` for an empty name.
fn read_id(name: &[u8], ordinal: u64) -> String {
    let end = name
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(name.len());
    if end == 0 {
        format!("read{}", ordinal + 1)
    } else {
        String::from_utf8_lossy(&name[..end]).into_owned()
    }
}

/// Detect every read of `inputs` again and write those of `query`'s targets to `out`
/// (`>ID clone=RANK window=WINDOW`, then the read as given, or the merged pair), in
/// input order. With `gzip`, each batch is compressed by its worker into a gzip
/// member of its own (a multi-member gzip file: same bytes on any number of threads).
#[allow(clippy::too_many_arguments)]
pub fn write_reads(
    germline: &Germline,
    index: &KmerIndex,
    inputs: Vec<Input>,
    params: &RunParams,
    query: &ReadQuery,
    gzip: bool,
    out: &mut dyn Write,
    stop: StopProbe,
) -> Result<ReadsWritten, RunError> {
    params
        .validate()
        .map_err(|e| InputError::new("options", e.to_string()))?;
    let started = Instant::now();
    let detector = Detector::new(index, germline, params.detect.clone());
    let reader = BatchReader::with_inputs(inputs);
    reader.check_inputs()?;
    let mut summary = ReadsWritten {
        per_target: vec![0; query.targets.len()],
        ..Default::default()
    };
    let mut failed: Option<std::io::Error> = None;
    let mut last = Instant::now();
    let finished = run_batches(
        reader,
        params.worker_threads(),
        |batch, scratch, _| {
            with_reads_as_detected(batch, &detector, params, scratch, |batch, umis, _, scratch| {
                let with_umi = params.umi.source.is_some();
                let mut text = Vec::new();
                let mut hits: Vec<u32> = Vec::new();
                let mut upper = Vec::new();
                for (i, umi) in umis.iter().enumerate() {
                    let read = batch.seq(i);
                    if with_umi && umi.is_none() {
                        continue;
                    }
                    let mut target = None;
                    if !query.sequences.is_empty() {
                        upper.clear();
                        upper.extend(read.iter().map(|b| b.to_ascii_uppercase()));
                        target = query.sequences.iter().find_map(|(fwd, rc, t)| {
                            let found = memchr::memmem::find(&upper, fwd).is_some()
                                || memchr::memmem::find(&upper, rc).is_some();
                            found.then_some(*t)
                        });
                    }
                    if target.is_none() && !query.windows.is_empty() {
                        if let Outcome::Detected(d) = detector.detect(read, scratch) {
                            let ordinal = batch.first_ordinal + i as u64;
                            target = (query.history)
                                .resolve(window_key(scratch, &d), ordinal)
                                .and_then(|w| query.windows.get(&w).copied());
                        }
                    }
                    let Some(t) = target else { continue };
                    hits.push(t);
                    let (rank, window) = &query.targets[t as usize];
                    let id = read_id(batch.name(i), batch.first_ordinal + i as u64);
                    text.extend_from_slice(format!(">{id} clone={rank} window={window}").as_bytes());
                    if let Some(umi) = umi {
                        text.extend_from_slice(b" umi=");
                        text.extend_from_slice(&crate::umi::unpack_umi(*umi));
                    }
                    text.push(b'\n');
                    text.extend_from_slice(read);
                    text.push(b'\n');
                }
                let bytes = if gzip && !text.is_empty() {
                    let mut gz = GzEncoder::new(Vec::new(), Compression::new(GZIP_LEVEL));
                    gz.write_all(&text)
                        .and_then(|_| gz.finish())
                        .expect("compressing to memory")
                } else {
                    text
                };
                (bytes, hits, batch.len() as u64)
            })
        },
        |(bytes, hits, reads)| {
            if failed.is_none() {
                if let Err(e) = out.write_all(&bytes) {
                    failed = Some(e);
                }
            }
            summary.reads += reads;
            summary.written += hits.len() as u64;
            for t in hits {
                summary.per_target[t as usize] += 1;
            }
            progress(params.quiet, summary.reads, started, &mut last, false);
        },
        stop,
    );
    progress(params.quiet, summary.reads, started, &mut Instant::now(), true);
    finished?;
    let write_error = |e: std::io::Error| InputError::new("output", format!("cannot write: {e}"));
    if let Some(e) = failed {
        return Err(write_error(e).into());
    }
    if gzip && summary.written == 0 {
        // An empty gzip member: the file is still a valid (empty) gzip file.
        let gz = GzEncoder::new(Vec::new(), Compression::default());
        out.write_all(&gz.finish().map_err(write_error)?)
            .map_err(write_error)?;
    }
    out.flush().map_err(write_error)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::Input;

    #[test]
    fn top_clones_follow_merges_transitively() {
        let (a, b, c, d, e) = (
            pack_window(b"AAAACCCC"),
            pack_window(b"AAAACCCG"),
            pack_window(b"TAAACCCC"),
            pack_window(b"GGGGTTTT"),
            pack_window(b"GGGGTTTA"),
        );
        // b merged into c (variants), then c into a (shifted); e into d.
        let merges = [(c, b), (a, c), (d, e)];
        let clones = ["AAAACCCC", "GGGGTTTT"];
        let q = ReadQuery::top_clones(clones, &merges, History::default(), 1);
        assert_eq!(q.window_count(), 3);
        assert_eq!(q.windows[&b], 0);
        assert!(!q.windows.contains_key(&e));
        let q = ReadQuery::top_clones(clones, &merges, History::default(), usize::MAX);
        assert_eq!(q.window_count(), 5);
        assert_eq!(q.targets, vec![(1, "AAAACCCC".into()), (2, "GGGGTTTT".into())]);
        assert_eq!(q.windows[&e], 1);
    }

    #[test]
    fn compactions_send_earlier_reads_where_their_counts_went() {
        let (a, b, c) = (pack_window(b"AAAA"), pack_window(b"CCCC"), pack_window(b"GGGG"));
        let mut h = History::new(10);
        // After 100 reads: b merged into a, c dropped. After 200: a dropped.
        h.start_compaction(100);
        h.record(b, a);
        h.record(c, 0);
        h.start_compaction(200);
        h.record(a, 0);
        h.finish();
        assert_eq!(h.resolve(b, 50), None); // into a, then a dropped
        assert_eq!(h.resolve(b, 150), Some(b)); // after the merge: b again
        assert_eq!(h.resolve(c, 99), None);
        assert_eq!(h.resolve(c, 100), Some(c));
        assert_eq!(h.resolve(a, 199), None);
        assert_eq!(h.resolve(a, 200), Some(a));
        let mut h = History::new(1);
        h.start_compaction(10);
        h.record(b, a);
        h.finish();
        assert_eq!(h.resolve(b, 3), Some(a));
        assert!(!h.overflow);
        h.record(c, a);
        assert!(h.overflow);
        assert_eq!(History::default().resolve(c, 5), Some(c));
    }

    #[test]
    fn a_grep_query_is_dna() {
        assert!(ReadQuery::grep("acgtn", 0, 30, false).is_err());
        let q = ReadQuery::grep("AACG", 3, 30, false).unwrap();
        assert_eq!(q.sequences[0].1, b"CGTT");
        assert_eq!(q.targets, vec![(3, "AACG".into())]);
        assert_eq!(q.window_count(), 0);
        let long = "A".repeat(70);
        assert_eq!(ReadQuery::grep(&long, 0, 30, false).unwrap().window_count(), 0);
        // A window: by detected window, or by sequence when asked.
        let window = "ACGT".repeat(10);
        let q = ReadQuery::grep(&window, 0, 30, false).unwrap();
        assert_eq!((q.window_count(), q.sequences.len()), (1, 0));
        let q = ReadQuery::grep(&window, 0, 30, true).unwrap();
        assert_eq!((q.window_count(), q.sequences.len()), (0, 1));
    }

    #[test]
    fn a_run_writes_every_read_of_its_top_clones_merged_windows_included() {
        use crate::testutil::{dna, tiny_germline};
        use std::io::Read;
        let (v, j) = (dna(150, 11), dna(60, 12));
        let germline = tiny_germline(&v, &j, "10s", "clone_reads_run");
        let index = KmerIndex::build(&germline);
        let clone = |n: &[u8]| [&v[40..], n, &j[..50]].concat();
        let (a, b) = (clone(b"GGGTTTCCCAGT"), clone(b"TTACAGGACCAA"));
        let mut variant = a.clone();
        variant[115] = if variant[115] == b'A' { b'C' } else { b'A' }; // an error in A's window
        let mut fasta = String::new();
        let mut expected = Vec::new();
        for i in 0..60 {
            let (read, name) = match i % 6 {
                0 | 2 | 4 => (&a, "a"),
                1 | 5 => (&b, "b"),
                _ if i < 6 => (&variant, "v"),
                _ => (&a, "a"),
            };
            fasta.push_str(&format!(">{name}{i} x\n{}\n", String::from_utf8_lossy(read)));
            expected.push(format!("{name}{i}"));
        }
        let dir = std::env::temp_dir().join(format!("vidjil_core_clone_reads_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("reads.fa");
        std::fs::write(&path, fasta).unwrap();
        let params = RunParams {
            threads: 2,
            quiet: true,
            ..RunParams::default()
        };
        let inputs = vec![Input::Single(path.display().to_string())];
        let mut out = Vec::new();
        let result =
            crate::pipeline::run_with_clone_reads(&germline, &index, inputs, &params, 1, &mut out, &|| false)
                .unwrap();
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&out[..])
            .read_to_string(&mut text)
            .unwrap();
        let top = &result.clones[0];
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix('>'))
            .map(|h| {
                assert_eq!(
                    h.split_once(' ').unwrap().1,
                    format!("clone=1 window={}", top.window)
                );
                h.split(' ').next().unwrap()
            })
            .collect();
        // A and its error variant (merged into it), in input order.
        let of_a: Vec<&str> = expected
            .iter()
            .map(String::as_str)
            .filter(|n| !n.starts_with('b'))
            .collect();
        assert_eq!(top.reads, 40);
        assert_eq!(top.merged_reads, 1);
        assert_eq!(names, of_a);
        let summary = result.clone_reads.unwrap();
        assert_eq!((summary.clones, summary.reads, summary.exact), (1, 40, true));
        // Standard input cannot be read twice.
        let stdin = vec![Input::Single("-".into())];
        let refused =
            crate::pipeline::run_with_clone_reads(&germline, &index, stdin, &params, 1, &mut out, &|| false);
        assert!(refused.is_err());
    }

    #[test]
    fn read_ids_are_the_first_word() {
        assert_eq!(read_id(b"r1 some text", 0), "r1");
        assert_eq!(read_id(b"", 4), "read5");
    }
}
