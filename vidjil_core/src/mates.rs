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
    let min = i64::try_from(params.min_overlap.max(1)).unwrap_or(i64::MAX);
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
            // A disagreement lowers the confidence: the kept base's quality less the other's
            // (Phred+33, at least 2; the kept base may be the worse one when the other is an N).
            qual.push(high.saturating_sub(low).saturating_add(b'!').max(b'#'));
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
    fn an_n_of_better_quality_than_the_kept_base() {
        // R1's base at quality '#' against an N at 'I' in R2: R1's base is kept at
        // quality '#' (the difference used to underflow: a panic in debug builds, a
        // quality byte of 251 in release builds).
        let fragment = dna(300, 9);
        let (r1, mut r2) = mates(&fragment, 200);
        let (mut q1, q2) = (quals(200, b'I'), quals(200, b'I'));
        q1[150] = b'#';
        r2[300 - 1 - 150] = b'N';
        let m = merge_mates(&r1, &q1, &r2, &q2, &MateParams::default()).unwrap();
        assert_eq!((m.seq[150], m.qual[150], m.mismatches), (fragment[150], b'#', 1));
        // Qualities that are not Phred+33 at all saturate.
        let (mut q1, q2) = (quals(200, 0), quals(200, 0));
        q1[150] = 255;
        let m = merge_mates(&r1, &q1, &r2, &q2, &MateParams::default()).unwrap();
        assert_eq!(m.qual[150], 255);
    }

    #[test]
    fn a_minimum_overlap_too_large_for_i64_merges_nothing() {
        // It used to wrap to -1 and let mates merge on any overlap (or panic).
        let (r1, r2) = mates(&dna(300, 10), 200);
        let huge = MateParams {
            min_overlap: usize::MAX,
            ..Default::default()
        };
        assert!(merge_mates(&r1, &[], &r2, &[], &huge).is_none());
        assert!(merge_mates(b"", &[], b"", &[], &huge).is_none());
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

/// Property tests: the packed search against every placement tried the slow way,
/// mates cut from a fragment merging back into it, swapped mates, any input.
#[cfg(test)]
mod properties {
    use super::*;
    use crate::nuc::normalize;
    use crate::testutil::proptest_config;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::{select, Index};

    /// The merge as the module documents it, the slow way: every placement of the
    /// reverse-complemented R2 along R1 (offset = where it starts in R1) with enough
    /// overlap and few enough mismatches, the best score winning, then the longer
    /// overlap, then the smaller offset.
    fn reference(r1: &[u8], q1: &[u8], r2: &[u8], q2: &[u8], params: &MateParams) -> Option<Merged> {
        let m2 = revcomp(r2);
        let mq2: Vec<u8> = q2.iter().rev().copied().collect();
        let (n1, n2) = (r1.len() as i64, m2.len() as i64);
        let mut best: Option<(i64, usize, i64, usize)> = None;
        for offset in -n2..=n1 {
            let (a, b) = (offset.max(0), (offset + n2).min(n1));
            let overlap = (b - a).max(0) as usize;
            if overlap == 0 || overlap < params.min_overlap {
                continue;
            }
            let mismatches = (a..b)
                .filter(|&i| !same(r1[i as usize], m2[(i - offset) as usize]))
                .count();
            if mismatches > (params.max_mismatch_rate * overlap as f64) as usize {
                continue;
            }
            let score = overlap as i64 - 5 * mismatches as i64;
            if best.is_none_or(|(s, o, _, _)| (score, overlap) > (s, o)) {
                best = Some((score, overlap, offset, mismatches));
            }
        }
        let (_, overlap, offset, mismatches) = best?;
        let q = |q: &[u8], i: usize| q.get(i).copied().unwrap_or(b'I');
        let known = |b: u8| CODES[b as usize] < NOT_ACGT;
        let (mut seq, mut qual) = (Vec::new(), Vec::new());
        // Merged read from R1's start to R2's start (where m2 ends).
        for i in 0..offset + n2 {
            let k = i - offset;
            let (base, quality) = match (i < n1, k >= 0) {
                (true, false) => (r1[i as usize], q(q1, i as usize)),
                (false, true) => (m2[k as usize], q(&mq2, k as usize)),
                (true, true) => {
                    let (b1, b2) = (r1[i as usize], m2[k as usize]);
                    let (x1, x2) = (q(q1, i as usize), q(&mq2, k as usize));
                    if same(b1, b2) {
                        (b1, x1.max(x2))
                    } else if known(b2) && (!known(b1) || x2 > x1) {
                        (b2, (x2.saturating_sub(x1).saturating_add(b'!')).max(b'#'))
                    } else {
                        (b1, (x1.saturating_sub(x2).saturating_add(b'!')).max(b'#'))
                    }
                }
                (false, false) => unreachable!("offset <= n1: a merged base comes from a mate"),
            };
            seq.push(base);
            qual.push(quality);
        }
        Some(Merged {
            seq,
            qual,
            overlap,
            mismatches,
        })
    }

    /// Mates of a random fragment (R1 its start, R2 the reverse complement of its end,
    /// of any lengths, overlapping or not) with a few edits, upper or lower case, N and
    /// IUPAC letters.
    fn related_mates() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
        (
            vec(select(b"ACGT".to_vec()), 0..=150),
            any::<Index>(),
            any::<Index>(),
            vec(
                (any::<Index>(), any::<bool>(), select(b"ACGTNacgtnRU".to_vec())),
                0..10,
            ),
        )
            .prop_map(|(fragment, i, j, edits)| {
                let n = fragment.len();
                let mut r1 = fragment[..i.index(n + 1)].to_vec();
                let mut r2 = revcomp(&fragment[j.index(n + 1)..]);
                for (at, second, base) in edits {
                    let read = if second { &mut r2 } else { &mut r1 };
                    if !read.is_empty() {
                        let k = at.index(read.len());
                        read[k] = base;
                    }
                }
                (r1, r2)
            })
    }

    /// Unrelated mates over a small alphabet (placements then often agree).
    fn small_alphabet_mates() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
        select(vec![&b"A"[..], b"AC", b"ACGT", b"AaCN", b"NNNNA"]).prop_flat_map(|alphabet| {
            let read = vec(select(alphabet.to_vec()), 0..=80);
            (read.clone(), read)
        })
    }

    fn mates() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
        prop_oneof![related_mates(), small_alphabet_mates()]
    }

    /// No quality (FASTA), one per base, or any number of any bytes.
    fn quals(n: usize) -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![Just(Vec::new()), vec(b'!'..=b'J', n), vec(any::<u8>(), 0..=n + 4),]
    }

    fn mates_and_quals() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>)> {
        mates().prop_flat_map(|(r1, r2)| {
            let (n1, n2) = (r1.len(), r2.len());
            (Just(r1), quals(n1), Just(r2), quals(n2))
        })
    }

    fn params() -> impl Strategy<Value = MateParams> {
        (0usize..=20, 0.0f64..0.5).prop_map(|(min_overlap, max_mismatch_rate)| MateParams {
            min_overlap,
            max_mismatch_rate,
        })
    }

    /// A pair cut from a random fragment so that the mates overlap by `overlap` (at
    /// least the minimum), with `errors` (at most the rate allows) in the overlap, each
    /// in one mate at a low quality: a substitution or an N. Where the fragment is
    /// shorter than a read, the read goes on into an adapter.
    #[derive(Debug, Clone)]
    struct CutPair {
        fragment: Vec<u8>,
        r1: Vec<u8>,
        q1: Vec<u8>,
        r2: Vec<u8>,
        q2: Vec<u8>,
        overlap: usize,
        /// Fragment positions of the errors.
        errors: Vec<usize>,
        params: MateParams,
    }

    fn cut_pair() -> impl Strategy<Value = CutPair> {
        (
            (12usize..=30, 0.0f64..0.15, 0usize..=270),
            vec(select(b"ACGT".to_vec()), 300),
            (any::<bool>(), any::<bool>(), any::<Index>(), any::<Index>()),
            (
                vec(select(b"ACGT".to_vec()), 0..=40),
                vec(select(b"ACGT".to_vec()), 0..=40),
            ),
            vec((any::<Index>(), any::<bool>(), any::<bool>()), 0..8),
            (any::<bool>(), any::<bool>()),
        )
            .prop_map(
                |(
                    (min, rate, extra),
                    long,
                    (through1, through2, i, j),
                    (adapter1, adapter2),
                    errs,
                    lower,
                )| {
                    let f = min + extra;
                    let fragment = long[..f].to_vec();
                    let pick = |x: Index, lo: usize, hi: usize| lo + x.index(hi - lo + 1);
                    // Bases of the fragment each mate reads (a from the start, b from the end).
                    let (a, b) = match (through1, through2) {
                        (true, true) => (f, f),
                        (true, false) => (f, pick(i, min, f)),
                        (false, true) => (pick(i, min, f), f),
                        (false, false) => {
                            let overlap = pick(i, min, f);
                            let a = pick(j, overlap, f);
                            (a, overlap + f - a)
                        }
                    };
                    let overlap = a + b - f;
                    let mut r1 = fragment[..a].to_vec();
                    let mut r2 = revcomp(&fragment[f - b..]);
                    if a == f {
                        r1.extend_from_slice(&adapter1);
                    }
                    if b == f {
                        r2.extend_from_slice(&adapter2);
                    }
                    if lower.0 {
                        r1.make_ascii_lowercase();
                    }
                    if lower.1 {
                        r2.make_ascii_lowercase();
                    }
                    let (mut q1, mut q2) = (vec![b'I'; r1.len()], vec![b'I'; r2.len()]);
                    let limit = (rate * overlap as f64) as usize;
                    let mut errors = Vec::new();
                    for (at, second, n) in errs {
                        let pos = f - b + at.index(overlap);
                        if errors.len() == limit || errors.contains(&pos) {
                            continue;
                        }
                        errors.push(pos);
                        let (read, qual, k) = if second {
                            (&mut r2, &mut q2, f - 1 - pos)
                        } else {
                            (&mut r1, &mut q1, pos)
                        };
                        read[k] = if n {
                            b'N'
                        } else {
                            b"ACGT"[(CODES[read[k] as usize] as usize + 1) % 4]
                        };
                        qual[k] = b'#';
                    }
                    CutPair {
                        fragment,
                        r1,
                        q1,
                        r2,
                        q2,
                        overlap,
                        errors,
                        params: MateParams {
                            min_overlap: min,
                            max_mismatch_rate: rate,
                        },
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(proptest_config(256))]

        /// The packed search finds the placement the slow search finds, and the
        /// merged read is the documented consensus.
        #[test]
        fn merge_is_the_best_placement_of_a_slow_search(
            (r1, q1, r2, q2) in mates_and_quals(),
            params in params(),
        ) {
            let got = merge_mates(&r1, &q1, &r2, &q2, &params);
            prop_assert_eq!(got, reference(&r1, &q1, &r2, &q2, &params));
        }

        /// Mates cut from a fragment, overlapping by at least the minimum with errors
        /// under the limit (each at a low quality), merge back into the fragment.
        #[test]
        fn mates_cut_from_a_fragment_merge_back_into_it(pair in cut_pair()) {
            let CutPair { fragment, r1, q1, r2, q2, overlap, errors, params } = pair;
            let m = merge_mates(&r1, &q1, &r2, &q2, &params);
            prop_assert!(m.is_some(), "not merged");
            let m = m.unwrap();
            prop_assert_eq!(m.seq.to_ascii_uppercase(), fragment);
            prop_assert_eq!((m.overlap, m.mismatches), (overlap, errors.len()));
            // Agreeing bases keep their quality; a disagreement lowers it ('I' - '#').
            let mut qual = vec![b'I'; m.seq.len()];
            errors.iter().for_each(|&p| qual[p] = b'I' - b'#' + b'!');
            prop_assert_eq!(m.qual, qual);
        }

        /// Swapped mates are placed the same way and, with qualities that never tie,
        /// merge into the reverse complement. (R1 wins a tie, and a disagreement of two
        /// bases that are not A/C/G/T: the quality of such a merged N is not compared.)
        #[test]
        fn swapped_mates_merge_into_the_reverse_complement(
            (r1, q1, r2, q2) in mates().prop_flat_map(|(r1, r2)| {
                let (n1, n2) = (r1.len(), r2.len());
                // Even qualities for R1, odd ones for R2.
                (Just(r1), vec((17u8..=60).prop_map(|x| 2 * x), n1),
                 Just(r2), vec((16u8..=60).prop_map(|x| 2 * x + 1), n2))
            }),
            params in params(),
        ) {
            let summary = |m: &Option<Merged>| m.as_ref().map(|m| (m.overlap, m.mismatches, m.seq.len()));
            let (plain, swapped) = (
                merge_mates(&r1, &[], &r2, &[], &params),
                merge_mates(&r2, &[], &r1, &[], &params),
            );
            prop_assert_eq!(summary(&plain), summary(&swapped));
            let (plain, swapped) = (
                merge_mates(&r1, &q1, &r2, &q2, &params),
                merge_mates(&r2, &q2, &r1, &q1, &params),
            );
            prop_assert_eq!(summary(&plain), summary(&swapped));
            if let (Some(a), Some(b)) = (plain, swapped) {
                let seq = normalize(&a.seq);
                prop_assert_eq!(&seq, &normalize(&revcomp(&b.seq)));
                let known = |qual: &[u8]| -> Vec<u8> {
                    qual.iter().zip(&seq).map(|(&q, &s)| if s == b'N' { 0 } else { q }).collect()
                };
                let b_qual: Vec<u8> = b.qual.iter().rev().copied().collect();
                prop_assert_eq!(known(&a.qual), known(&b_qual));
            }
        }

        /// Any bytes, any lengths (empty included), qualities of any length, any
        /// parameters: no panic, and a merge keeps its promises.
        #[test]
        fn any_mates_and_parameters_merge_without_panic(
            r1 in prop_oneof![vec(any::<u8>(), 0..=70), vec(select(b"NNNNNACGTn".to_vec()), 0..=70)],
            r2 in prop_oneof![vec(any::<u8>(), 0..=70), vec(select(b"NNNNNACGTn".to_vec()), 0..=70)],
            q1 in vec(any::<u8>(), 0..=75),
            q2 in vec(any::<u8>(), 0..=75),
            min_overlap in prop_oneof![0usize..=8, any::<usize>(), Just(usize::MAX)],
            max_mismatch_rate in prop_oneof![0.0f64..1.0, any::<f64>(), Just(f64::NAN), Just(-1.0)],
        ) {
            let params = MateParams { min_overlap, max_mismatch_rate };
            let got = merge_mates(&r1, &q1, &r2, &q2, &params);
            if let Some(m) = &got {
                prop_assert!(m.overlap >= min_overlap.max(1) && m.overlap <= r1.len().min(r2.len()));
                prop_assert!(m.mismatches <= (max_mismatch_rate * m.overlap as f64) as usize);
                prop_assert_eq!(m.seq.len(), m.qual.len());
                prop_assert!(m.overlap <= m.seq.len() && m.seq.len() <= r1.len() + r2.len() - m.overlap);
            }
            prop_assert_eq!(got, reference(&r1, &q1, &r2, &q2, &params));
        }
    }
}
