//! Paired-end inputs in the pipeline: each pair becomes the one read that is
//! detected (the merged mates, or the better mate), so that a pair counts once.

use crate::detect::{Detector, Outcome, Scratch};
use crate::mates::{merge_mates, MateParams};
use crate::params::RunParams;
use crate::reader::Batch;
use serde::Serialize;
use std::borrow::Cow;

/// How the reads of paired-end inputs were used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
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
    pub fn absorb(&mut self, other: PairTally) {
        self.merged += other.merged;
        self.not_merged += other.not_merged;
        self.unpaired += other.unpaired;
        self.overlap_bases += other.overlap_bases;
    }
}

/// A batch as detection sees it: the reads' UMIs taken (mate bases trimmed), then the
/// pairs resolved. Every pass over the reads goes through here, so that a second pass
/// sees the reads as the first one did. `f` gets the reads, their UMIs (all None
/// without `--umi`) and the pair tally.
pub fn with_reads_as_detected<R>(
    batch: &Batch,
    detector: &Detector,
    params: &RunParams,
    scratch: &mut Scratch,
    f: impl FnOnce(&Batch, &[Option<u64>], PairTally, &mut Scratch) -> R,
) -> R {
    let (batch, umis) = crate::umi::extract(batch, &params.umi);
    let (batch, pairs) = resolve_pairs(batch.as_ref(), detector, &params.mates, scratch);
    f(batch.as_ref(), &umis, pairs, scratch)
}

/// The reads to detect in `batch`, one per read or pair: a pair becomes its merged
/// read when the mates overlap, else the mate detected with the better e-value
/// (R1 when neither or both equally), so that a pair counts once.
pub fn resolve_pairs<'b>(
    batch: &'b Batch,
    detector: &Detector,
    mates_params: &MateParams,
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
        if let Some(m) = merge_mates(r1, batch.qual(i), r2, mates.qual(i), mates_params) {
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
