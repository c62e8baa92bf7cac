//! Paired-end reads: two mates of one molecule merged into one read where they
//! overlap, before detection.
//!
//! R2 is read on the other strand: its reverse complement is slid along R1, and the
//! placement with the best score (+1 per agreeing base, -4 per disagreeing one) whose
//! mismatch rate is low enough wins; longer overlaps win ties. A placement where the
//! reverse-complemented R2 starts before R1 is an insert shorter than the reads: the
//! bases past the other mate's start are adapter and are dropped. Where the mates
//! disagree, the base with the better quality is kept.

use crate::nuc::{revcomp, CODES, NOT_ACGT};

#[derive(Clone, Copy, Debug)]
pub struct MateParams {
    /// Fewest overlapping bases to merge.
    pub min_overlap: usize,
    /// Most disagreeing bases per overlapping base.
    pub max_mismatch_rate: f64,
}

impl Default for MateParams {
    fn default() -> Self {
        MateParams {
            min_overlap: 12,
            max_mismatch_rate: 0.1,
        }
    }
}

/// A merged read: bases, qualities (Phred+33) and how many bases overlapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merged {
    pub seq: Vec<u8>,
    pub qual: Vec<u8>,
    pub overlap: usize,
    pub mismatches: usize,
}

const MATCH: i64 = 1;
const MISMATCH: i64 = -4;

fn same(a: u8, b: u8) -> bool {
    let (x, y) = (CODES[a as usize], CODES[b as usize]);
    x == y && x < NOT_ACGT
}

/// Bases packed 2 bits each, 32 per word, and whether any base is not A/C/G/T
/// (packed as A: placements are then re-counted base by base).
fn pack(seq: &[u8]) -> (Vec<u64>, bool) {
    let mut words = Vec::with_capacity(seq.len().div_ceil(32) + 1);
    let mut ambiguous = 0u8;
    for chunk in seq.chunks(32) {
        let mut word = 0u64;
        for (j, &b) in chunk.iter().enumerate() {
            let code = CODES[b as usize];
            ambiguous |= code;
            word |= ((code & 3) as u64) << (2 * j);
        }
        words.push(word);
    }
    words.push(0);
    (words, ambiguous >= NOT_ACGT)
}

/// `n` (at most 32) bases from `pos`, packed as in `pack`.
fn bases_at(words: &[u64], pos: usize, n: usize) -> u64 {
    let (w, shift) = (pos / 32, 2 * (pos % 32));
    let mut x = words[w] >> shift;
    if shift > 0 {
        x |= words[w + 1] << (64 - shift);
    }
    if n < 32 {
        x &= (1u64 << (2 * n)) - 1;
    }
    x
}

/// Disagreeing bases of `a[a_start..]` and `b[b_start..]` over `len` bases, 32 at a
/// time; stops early once past `limit`.
fn packed_mismatches(
    a: &[u64],
    a_start: usize,
    b: &[u64],
    b_start: usize,
    len: usize,
    limit: usize,
) -> usize {
    let mut count = 0;
    let mut done = 0;
    while done < len {
        let n = (len - done).min(32);
        let x = bases_at(a, a_start + done, n) ^ bases_at(b, b_start + done, n);
        count += ((x | (x >> 1)) & 0x5555_5555_5555_5555).count_ones() as usize;
        if count > limit {
            return count;
        }
        done += n;
    }
    count
}

/// Merge R1 and R2 (as sequenced, R2 on the other strand), or `None` when they do
/// not overlap well enough. Qualities may be empty (FASTA): every base then counts
/// the same and R1 wins disagreements.
pub fn merge_mates(r1: &[u8], q1: &[u8], r2: &[u8], q2: &[u8], params: &MateParams) -> Option<Merged> {
    let m2 = revcomp(r2);
    let mq2: Vec<u8> = q2.iter().rev().copied().collect();
    let (n1, n2) = (r1.len() as i64, m2.len() as i64);
    let min = params.min_overlap.max(1) as i64;
    if n1 < min || n2 < min {
        return None;
    }
    let ((p1, ambiguous1), (p2, ambiguous2)) = (pack(r1), pack(&m2));
    let recount = ambiguous1 || ambiguous2;
    let rate = params.max_mismatch_rate;
    // (score, overlap, offset, mismatches) of the best placement; offset = where m2 starts in r1.
    let mut best: Option<(i64, i64, i64, usize)> = None;
    // Placements by decreasing overlap: those of the longest overlap (one mate
    // within the other), then one step further out on each side. A placement
    // scores at most its overlap, so the search stops below the best score.
    let (lo, hi) = ((n1 - n2).min(0), (n1 - n2).max(0));
    let longest = n1.min(n2);
    for step in 0..=longest - min {
        let overlap = longest - step;
        if best.is_some_and(|(s, _, _, _)| overlap <= s) {
            break;
        }
        let offsets = if step == 0 { lo..=hi } else { lo - step..=hi + step };
        for offset in offsets.step_by(if step == 0 {
            1
        } else {
            (hi - lo + 2 * step) as usize
        }) {
            let (a, b) = (offset.max(0), (offset + n2).min(n1));
            let limit = (rate * overlap as f64) as usize;
            let packed = packed_mismatches(
                &p1,
                a as usize,
                &p2,
                (a - offset) as usize,
                (b - a) as usize,
                limit,
            );
            if packed > limit {
                continue;
            }
            let mismatches = if recount {
                (a..b)
                    .filter(|&i| !same(r1[i as usize], m2[(i - offset) as usize]))
                    .count()
            } else {
                packed
            };
            if mismatches > limit {
                continue;
            }
            let score = (overlap - mismatches as i64) * MATCH + mismatches as i64 * MISMATCH;
            if best.is_none_or(|(s, o, _, _)| (score, overlap) > (s, o)) {
                best = Some((score, overlap, offset, mismatches));
            }
        }
    }
    let (_, overlap, offset, mismatches) = best?;
    let quality = |q: &[u8], i: usize| q.get(i).copied().unwrap_or(b'I');
    let mut seq = Vec::new();
    let mut qual = Vec::new();
    // R1 before the other mate's start (none for an insert shorter than the reads).
    let head = offset.max(0) as usize;
    seq.extend_from_slice(&r1[..head]);
    qual.extend((0..head).map(|i| quality(q1, i)));
    for i in offset.max(0)..(offset + n2).min(n1) {
        let (i1, i2) = (i as usize, (i - offset) as usize);
        let (b1, b2, x1, x2) = (r1[i1], m2[i2], quality(q1, i1), quality(&mq2, i2));
        if same(b1, b2) {
            seq.push(b1);
            qual.push(x1.max(x2));
        } else {
            let known = |b: u8| CODES[b as usize] < NOT_ACGT;
            let (base, high, low) = if known(b2) && (!known(b1) || x2 > x1) {
                (b2, x2, x1)
            } else {
                (b1, x1, x2)
            };
            seq.push(base);
            // A disagreement lowers the confidence: the difference of the two (Phred+33, at least 2).
            qual.push((high - low + b'!').max(b'#'));
        }
    }
    // The other mate past R1's end.
    if offset + n2 > n1 {
        let tail = (n1 - offset) as usize;
        seq.extend_from_slice(&m2[tail..]);
        qual.extend((tail..m2.len()).map(|i| quality(&mq2, i)));
    }
    Some(Merged {
        seq,
        qual,
        overlap: overlap as usize,
        mismatches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::dna;

    fn quals(n: usize, q: u8) -> Vec<u8> {
        vec![q; n]
    }

    /// R1 and R2 of a fragment: R1 its start, R2 the reverse complement of its end.
    fn mates(fragment: &[u8], len: usize) -> (Vec<u8>, Vec<u8>) {
        let r1 = fragment[..len.min(fragment.len())].to_vec();
        let r2 = revcomp(&fragment[fragment.len().saturating_sub(len)..]);
        (r1, r2)
    }

    #[test]
    fn partial_overlap_rebuilds_the_fragment() {
        let fragment = dna(400, 1);
        let (r1, r2) = mates(&fragment, 250); // overlap of 100
        let m = merge_mates(
            &r1,
            &quals(250, b'I'),
            &r2,
            &quals(250, b'I'),
            &MateParams::default(),
        )
        .unwrap();
        assert_eq!(m.seq, fragment);
        assert_eq!((m.overlap, m.mismatches), (100, 0));
        assert_eq!(m.qual.len(), 400);
    }

    #[test]
    fn full_overlap_and_a_read_through_adapter() {
        let fragment = dna(250, 2);
        let (r1, r2) = mates(&fragment, 250);
        let m = merge_mates(&r1, &[], &r2, &[], &MateParams::default()).unwrap();
        assert_eq!((m.seq.clone(), m.overlap), (fragment.clone(), 250));
        // A 180-nt insert read 250 nt on each side: both mates run into adapters.
        let insert = dna(180, 3);
        let adapter = b"AGATCGGAAGAGCACACGTCTGAACTCCAGTCACAGATCGGAAGAGCGTCGTGTAGGGAAAGAGTGT";
        let r1 = [&insert[..], &adapter[..60]].concat();
        let r2 = [revcomp(&insert), adapter[..60].to_vec()].concat();
        let m = merge_mates(&r1, &[], &r2, &[], &MateParams::default()).unwrap();
        assert_eq!(m.seq, insert);
    }

    #[test]
    fn no_overlap_is_not_merged() {
        let fragment = dna(600, 4);
        let (r1, r2) = mates(&fragment, 250); // 100 nt between the mates
        assert!(merge_mates(&r1, &[], &r2, &[], &MateParams::default()).is_none());
        let short = MateParams {
            min_overlap: 30,
            ..Default::default()
        };
        let (r1, r2) = mates(&dna(480, 5), 250); // overlap of 20 < 30
        assert!(merge_mates(&r1, &[], &r2, &[], &short).is_none());
    }

    #[test]
    fn disagreements_take_the_better_quality() {
        let fragment = dna(300, 6);
        let (mut r1, mut r2) = mates(&fragment, 200);
        let mut q1 = quals(200, b'I');
        let mut q2 = quals(200, b'I');
        // Position 150 of the fragment: wrong and poor in R1; position 160: wrong and poor in R2.
        r1[150] = if r1[150] == b'A' { b'C' } else { b'A' };
        q1[150] = b'#';
        let i2 = 300 - 1 - 160; // R2 reads the fragment backwards
        r2[i2] = if r2[i2] == b'A' { b'C' } else { b'A' };
        q2[i2] = b'%';
        let m = merge_mates(&r1, &q1, &r2, &q2, &MateParams::default()).unwrap();
        assert_eq!(m.seq, fragment);
        assert_eq!(m.mismatches, 2);
        assert_eq!(m.qual[150], b'I' - b'#' + b'!');
        assert_eq!(m.qual[100], b'I');
    }

    #[test]
    fn too_many_mismatches_are_refused() {
        let fragment = dna(300, 7);
        let (r1, mut r2) = mates(&fragment, 200);
        // R2's bases 100..200 are the overlap (fragment 200..100): 20% of them changed.
        for k in (100..200).step_by(5) {
            r2[k] = if r2[k] == b'G' { b'T' } else { b'G' };
        }
        assert!(merge_mates(&r1, &[], &r2, &[], &MateParams::default()).is_none());
    }

    /// Substitutions at about `rate` per base, at quality '#' (the others 'I').
    fn sequenced(read: &[u8], rate: f64, seed: u64) -> (Vec<u8>, Vec<u8>) {
        let noise = dna(read.len() * 2, seed);
        let mut out = read.to_vec();
        let mut qual = quals(read.len(), b'I');
        for i in 0..read.len() {
            // Two pseudo-random bases make 1/16 steps: error when below rate.
            let x = (noise[2 * i] as u64 * 7 + noise[2 * i + 1] as u64 * 13 + seed + i as u64 * 31) % 1000;
            if (x as f64) < rate * 1000.0 {
                out[i] = if out[i] == b'A' { b'C' } else { b'A' };
                qual[i] = b'#';
            }
        }
        (out, qual)
    }

    #[test]
    fn defaults_merge_true_overlaps_with_errors_and_refuse_unrelated_mates() {
        let params = MateParams::default();
        // 2 x 250 reads of fragments of 260..=488 nt (overlaps 240 down to 12), 1% errors.
        let (mut tried, mut exact, mut errors) = (0, 0, 0);
        for (k, len) in (260..=488).step_by(4).enumerate() {
            let fragment = dna(len, 100 + k as u64);
            let (r1, r2) = mates(&fragment, 250);
            let (r1, q1) = sequenced(&r1, 0.01, 2 * k as u64);
            let (r2, q2) = sequenced(&r2, 0.01, 2 * k as u64 + 1);
            tried += 1;
            errors += [&q1, &q2]
                .iter()
                .map(|q| q.iter().filter(|&&x| x == b'#').count())
                .sum::<usize>();
            if let Some(m) = merge_mates(&r1, &q1, &r2, &q2, &params) {
                assert_eq!(m.overlap, 500 - len, "fragment of {len}: wrong placement");
                // Outside the overlap the errors stay: compare the overlap only.
                let (a, b) = (len - 250, 250);
                exact += (m.seq[a..b] == fragment[a..b]) as usize;
            }
        }
        assert!(
            (500..1500).contains(&(errors * 100_000 / (tried * 500))),
            "{errors} errors: not 1%"
        );
        assert!(exact * 100 >= tried * 98, "{exact} of {tried} merged exactly");
        // Unrelated mates: no false merge.
        let false_merges = (0..5000u64)
            .filter(|&k| {
                merge_mates(&dna(250, 10_000 + k), &[], &dna(250, 50_000 + k), &[], &params).is_some()
            })
            .count();
        assert_eq!(false_merges, 0);
    }

    #[test]
    fn lower_case_and_n_bases() {
        let fragment = dna(300, 8);
        let (r1, mut r2) = mates(&fragment, 200);
        let r1 = r1.to_ascii_lowercase();
        r2[150] = b'N'; // fragment position 149, in the overlap: R1's base is kept
        let m = merge_mates(&r1, &[], &r2, &[], &MateParams::default()).unwrap();
        assert_eq!(m.seq.to_ascii_uppercase(), fragment);
        assert_eq!(m.overlap, 100);
    }
}
