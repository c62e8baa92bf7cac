//! With UMIs, the reads of clones as one consensus read per molecule: a second pass
//! (as `clone_reads::write_reads`: UMIs trimmed, pairs resolved, every read detected
//! again) piles the reads of each (clone, UMI) up on the clone's window, then the
//! UMIs of each clone are grouped as in the first pass (directional rule) and each
//! molecule is written as the majority base of its reads at each position covered by
//! a strict majority of them, so that PCR and sequencing errors of a few copies do
//! not reach the sequence. Memory: 8 bytes per position of each molecule's pile-up
//! (about 2.5 KB per molecule of 300-nt reads) of the clones written.

use crate::clone_reads::{ReadQuery, GZIP_LEVEL};
use crate::clones::unpack_window;
use crate::detect::{orient, window_key, Detector, Outcome};
use crate::error::{InputError, RunError};
use crate::germline::Germline;
use crate::index::KmerIndex;
use crate::nuc::CODES;
use crate::pairs::with_reads_as_detected;
use crate::params::RunParams;
use crate::reader::{BatchReader, Input};
use crate::runner::{progress, run_batches, StopProbe};
use crate::umi::{group_umis, unpack_umi, FastMap, UmiModel};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use std::time::Instant;

/// Base counts of a molecule's reads around the clone's window: `right[i]` at
/// position i from the window start, `left[i]` at position -1 - i.
#[derive(Clone, Debug, Default)]
struct Pileup {
    left: Vec<[u16; 4]>,
    right: Vec<[u16; 4]>,
    reads: u32,
}

impl Pileup {
    /// A read on the V->J strand whose clone window starts at `anchor`.
    fn add(&mut self, seq: &[u8], anchor: isize) {
        self.reads += 1;
        for (i, &b) in seq.iter().enumerate() {
            let code = CODES[b as usize] as usize;
            if code > 3 {
                continue;
            }
            let p = i as isize - anchor;
            let (side, at) = if p >= 0 {
                (&mut self.right, p as usize)
            } else {
                (&mut self.left, (-p - 1) as usize)
            };
            if side.len() <= at {
                side.resize(at + 1, [0; 4]);
            }
            side[at][code] = side[at][code].saturating_add(1);
        }
    }

    fn absorb(&mut self, other: &Pileup) {
        self.reads += other.reads;
        for (mine, theirs) in [(&mut self.left, &other.left), (&mut self.right, &other.right)] {
            if mine.len() < theirs.len() {
                mine.resize(theirs.len(), [0; 4]);
            }
            for (m, t) in mine.iter_mut().zip(theirs) {
                for k in 0..4 {
                    m[k] = m[k].saturating_add(t[k]);
                }
            }
        }
    }

    /// The majority base at each position covered by a strict majority of the reads,
    /// from the window start outwards (ties: A, C, G, T order).
    fn consensus(&self) -> Vec<u8> {
        let need = self.reads / 2 + 1;
        let covered = |c: &[u16; 4]| c.iter().map(|&n| n as u32).sum::<u32>() >= need;
        let base = |c: &[u16; 4]| {
            let best = (0..4)
                .max_by(|&a, &b| c[a].cmp(&c[b]).then(b.cmp(&a)))
                .unwrap_or(0);
            b"ACGT"[best]
        };
        let left: Vec<u8> = self.left.iter().take_while(|c| covered(c)).map(base).collect();
        let right = self.right.iter().take_while(|c| covered(c)).map(base);
        left.into_iter().rev().chain(right).collect()
    }
}

/// Where each window of `query` starts relative to its clone's window, from the
/// clone's representative (`sequences[target]`: sequence and window start); 0 when
/// not found there (a window one substitution away starts where the clone's does).
pub fn window_offsets(query: &ReadQuery, sequences: &[Option<(String, usize)>]) -> FastMap<u128, isize> {
    let mut offsets = FastMap::default();
    for (&window, &target) in &query.windows {
        let Some(Some((seq, start))) = sequences.get(target as usize) else {
            continue;
        };
        let w = unpack_window(window);
        if let Some(at) = memchr::memmem::find(seq.as_bytes(), &w) {
            offsets.insert(window, at as isize - *start as isize);
        }
    }
    offsets
}

/// How the first pass grouped UMIs into molecules: the run's UMI model, and the
/// molecules that left a clone's window for a neighbour's (`reassign_molecules`).
pub struct MoleculeModel<'a> {
    pub umis: UmiModel,
    pub moved: &'a FastMap<u128, Vec<u64>>,
}

/// What the pass wrote: reads (or pairs) read, reads piled up, molecules per target.
#[derive(Clone, Debug, Default)]
pub struct MoleculesWritten {
    pub reads: u64,
    pub piled: u64,
    pub per_target: Vec<u64>,
}

/// One consensus read per molecule of the targets of `query` (the top clones), as
/// gzip FASTA: `>clone<RANK>-<UMI> clone=RANK window=WINDOW umi=UMI reads=N`, clones
/// in rank order, molecules by reads then UMI. Molecules of fewer than
/// `min_reads_per_umi` reads are left out.
#[allow(clippy::too_many_arguments)]
pub fn write_molecules(
    germline: &Germline,
    index: &KmerIndex,
    inputs: Vec<Input>,
    params: &RunParams,
    query: &ReadQuery,
    offsets: &FastMap<u128, isize>,
    molecules_of: &MoleculeModel,
    out: &mut dyn Write,
    stop: StopProbe,
) -> Result<MoleculesWritten, RunError> {
    let started = Instant::now();
    let detector = Detector::new(index, germline, params.detect.clone());
    let reader = BatchReader::with_inputs(inputs);
    reader.check_inputs()?;
    let mut piles: Vec<FastMap<u64, Pileup>> = vec![FastMap::default(); query.targets.len()];
    let mut summary = MoleculesWritten::default();
    let mut last = Instant::now();
    let finished = run_batches(
        reader,
        params.worker_threads(),
        |batch, scratch, _| {
            with_reads_as_detected(batch, &detector, params, scratch, |batch, umis, _, scratch| {
                let mut hits: Vec<(u32, u64, isize, Vec<u8>)> = Vec::new();
                for (i, umi) in umis.iter().enumerate() {
                    let (Some(umi), read) = (umi, batch.seq(i)) else {
                        continue;
                    };
                    if let Outcome::Detected(d) = detector.detect(read, scratch) {
                        let ordinal = batch.first_ordinal + i as u64;
                        let window = query.history.resolve(window_key(scratch, &d), ordinal);
                        let key = window_key(scratch, &d);
                        if let Some(&t) = window.and_then(|w| query.windows.get(&w)) {
                            orient(read, d.reverse, &mut scratch.oriented);
                            let anchor = d.window_start as isize - offsets.get(&key).copied().unwrap_or(0);
                            hits.push((t, *umi, anchor, scratch.oriented.clone()));
                        }
                    }
                }
                (hits, batch.len() as u64)
            })
        },
        |(hits, reads)| {
            summary.reads += reads;
            summary.piled += hits.len() as u64;
            for (t, umi, anchor, seq) in hits {
                piles[t as usize].entry(umi).or_default().add(&seq, anchor);
            }
            progress(params.quiet, summary.reads, started, &mut last, false);
        },
        stop,
    );
    progress(params.quiet, summary.reads, started, &mut Instant::now(), true);
    finished?;
    let write_error = |e: std::io::Error| InputError::new("output", format!("cannot write: {e}"));
    let mut gz = GzEncoder::new(out, Compression::new(GZIP_LEVEL));
    for (t, umis) in piles.iter().enumerate() {
        let (rank, window) = &query.targets[t];
        let mut table: Vec<(u64, u32)> = umis.iter().map(|(&u, p)| (u, p.reads)).collect();
        table.sort_unstable();
        let mut molecules: Vec<(u32, u64, Vec<u8>)> = Vec::new();
        let moved = (molecules_of
            .moved
            .get(&crate::clones::pack_window(window.as_bytes())))
        .map_or(&[][..], |v| v.as_slice());
        for (root, members, reads) in group_umis(&table, &molecules_of.umis).0 {
            if reads < params.umi.min_reads_per_umi || moved.contains(&table[root].0) {
                continue;
            }
            let mut pile = Pileup::default();
            for m in members {
                pile.absorb(&umis[&table[m].0]);
            }
            molecules.push((reads, table[root].0, pile.consensus()));
        }
        molecules.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (reads, umi, seq) in &molecules {
            let umi = String::from_utf8(unpack_umi(*umi)).expect("ASCII");
            writeln!(
                gz,
                ">clone{rank}-{umi} clone={rank} window={window} umi={umi} reads={reads}"
            )
            .and_then(|_| gz.write_all(seq))
            .and_then(|_| gz.write_all(b"\n"))
            .map_err(write_error)?;
        }
        summary.per_target.push(molecules.len() as u64);
    }
    gz.finish().map_err(write_error)?.flush().map_err(write_error)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_molecule_is_the_majority_of_its_reads_around_the_window() {
        let truth = b"GGGGACGTACGTTTTT";
        let mut pile = Pileup::default();
        pile.add(truth, 4);
        let mut pcr_error = truth.to_vec();
        pcr_error[6] = b'A'; // in one copy of three: outvoted
        pile.add(&pcr_error, 4);
        pile.add(&truth[2..], 2); // starts later: the same positions
        assert_eq!(pile.consensus(), truth.to_vec());
        // Positions covered by a strict majority only.
        let mut short = Pileup::default();
        short.add(truth, 4);
        short.add(&truth[3..12], 1);
        short.add(&truth[3..12], 1);
        assert_eq!(short.consensus(), truth[3..12].to_vec());
        let mut both = short.clone();
        both.absorb(&pile);
        assert_eq!(both.reads, 6);
        assert_eq!(both.consensus(), truth[2..].to_vec());
    }
}
