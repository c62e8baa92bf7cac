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
use crate::pairs::resolve_pairs;
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
    windows: WindowMap<u32>,
    /// (sequence, its reverse complement, target)
    sequences: Vec<(Vec<u8>, Vec<u8>, u32)>,
    /// (rank, window) of each target.
    targets: Vec<(usize, String)>,
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
        n: usize,
    ) -> ReadQuery {
        let mut absorbed: HashMap<u128, Vec<u128>> = HashMap::new();
        for &(into, from) in merges {
            absorbed.entry(into).or_default().push(from);
        }
        let mut query = ReadQuery::default();
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

    /// Windows searched (own and merged), for the tests.
    pub fn window_count(&self) -> usize {
        self.windows.len()
    }
}

/// zlib-rs level 5: measured on clone reads, a third of level 6's time for 15% more
/// bytes (level 1 writes three times as many).
const GZIP_LEVEL: u32 = 5;

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
            let (batch, _) = resolve_pairs(batch, &detector, &params.mates, scratch);
            let batch = batch.as_ref();
            let mut text = Vec::new();
            let mut hits: Vec<u32> = Vec::new();
            let mut upper = Vec::new();
            for i in 0..batch.len() {
                let read = batch.seq(i);
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
                        target = query.windows.get(&window_key(scratch, &d)).copied();
                    }
                }
                let Some(t) = target else { continue };
                hits.push(t);
                let (rank, window) = &query.targets[t as usize];
                let id = read_id(batch.name(i), batch.first_ordinal + i as u64);
                text.extend_from_slice(format!(">{id} clone={rank} window={window}\n").as_bytes());
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
        let q = ReadQuery::top_clones(clones, &merges, 1);
        assert_eq!(q.window_count(), 3);
        assert_eq!(q.windows[&b], 0);
        assert!(!q.windows.contains_key(&e));
        let q = ReadQuery::top_clones(clones, &merges, usize::MAX);
        assert_eq!(q.window_count(), 5);
        assert_eq!(q.targets, vec![(1, "AAAACCCC".into()), (2, "GGGGTTTT".into())]);
        assert_eq!(q.windows[&e], 1);
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
    fn read_ids_are_the_first_word() {
        assert_eq!(read_id(b"r1 some text", 0), "r1");
        assert_eq!(read_id(b"", 4), "read5");
    }
}
