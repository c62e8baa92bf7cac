//! Clones: reads sharing a window (packed windows, their counts) and the merge of
//! sequencing-error variants and shifted windows into much larger clones.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

pub const MAX_WINDOW: usize = 63;

/// A window packed 2 bits per base below a sentinel bit, so that windows of
/// different lengths never collide. Only A/C/G/T windows are packed.
pub fn pack_window(seq: &[u8]) -> u128 {
    debug_assert!(seq.len() <= MAX_WINDOW);
    let mut key: u128 = 1;
    for &b in seq {
        key = (key << 2) | crate::nuc::CODES[b as usize] as u128 & 3;
    }
    key
}

pub fn unpack_window(mut key: u128) -> Vec<u8> {
    let len = (127 - key.leading_zeros() as usize) / 2;
    let mut out = vec![b'A'; len];
    for i in (0..len).rev() {
        out[i] = b"ACGT"[(key & 3) as usize];
        key >>= 2;
    }
    out
}

/// Multiply-fold hasher for packed windows (the keys are already well spread).
#[derive(Default)]
pub struct WindowHasher(u64);

impl Hasher for WindowHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u128(&mut self, k: u128) {
        let folded = (k as u64) ^ ((k >> 64) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = (folded ^ (folded >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        self.0 ^= self.0 >> 32;
    }
}

pub type WindowMap<V> = HashMap<u128, V, BuildHasherDefault<WindowHasher>>;

/// splitmix64: the sampling hash of a read ordinal.
#[inline]
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// `WindowStat::system` of unexpected recombinations (their systems are in `pair`).
pub const UNEXPECTED_CODE: u16 = u16::MAX;

/// Counts of one window.
#[derive(Clone, Copy, Debug, Default)]
pub struct WindowStat {
    pub reads: u32,
    /// Reads whose window was shifted or shrunk.
    pub shifted: u32,
    pub length_sum: u64,
    /// System of the read with the smallest sampling hash (order-independent).
    pub min_hash: u64,
    pub system: u16,
    /// For unexpected recombinations: systems of the 5' and 3' genes.
    pub pair: (u8, u8),
    /// Reads merged from variants (already included in `reads`).
    pub merged_reads: u32,
    /// Merged into a larger window (its reads are counted there).
    pub merged: bool,
    /// Molecules (distinct UMIs) and reads of the UMI table evicted for memory
    /// (`umi::UmiTables`): the reads of the window outside any table count as
    /// molecules at that ratio (not carried by a merge: a window merged into a
    /// clone is taken as made of that clone's molecules).
    pub umi_lost: u32,
    pub umi_lost_reads: u32,
}

impl WindowStat {
    pub fn add(&mut self, hash: u64, system: u16, pair: (u8, u8), shifted: bool, length: u32) {
        if self.reads == 0 || hash < self.min_hash {
            self.min_hash = hash;
            self.system = system;
            self.pair = pair;
        }
        self.reads += 1;
        self.shifted += shifted as u32;
        self.length_sum += length as u64;
    }

    /// Add the counts of the same window seen in another batch.
    pub fn absorb(&mut self, other: &WindowStat) {
        if self.reads == 0 || other.min_hash < self.min_hash {
            self.min_hash = other.min_hash;
            self.system = other.system;
            self.pair = other.pair;
        }
        self.reads += other.reads;
        self.shifted += other.shifted;
        self.length_sum += other.length_sum;
    }
}

/// All single (or double) substitutions of `window`, calling `f` on each packed key.
pub fn for_each_variant(window: &[u8], distance: usize, f: &mut impl FnMut(u128)) {
    if distance == 1 {
        // The packed key with the 2 bits of one position replaced (same keys, same
        // order as packing each variant).
        let base = pack_window(window);
        let len = window.len();
        for (i, &orig) in window.iter().enumerate() {
            let shift = 2 * (len - 1 - i);
            let cleared = base & !(3u128 << shift);
            for (code, &b) in b"ACGT".iter().enumerate() {
                if b != orig {
                    f(cleared | (code as u128) << shift);
                }
            }
        }
        return;
    }
    fn rec(w: &mut Vec<u8>, from: usize, left: usize, f: &mut impl FnMut(u128)) {
        if left == 0 {
            return;
        }
        for i in from..w.len() {
            let orig = w[i];
            for &b in b"ACGT" {
                if b != orig {
                    w[i] = b;
                    f(pack_window(w));
                    rec(w, i + 1, left - 1, f);
                }
            }
            w[i] = orig;
        }
    }
    let mut w = window.to_vec();
    rec(&mut w, 0, distance, f);
}

/// A single read one substitution away from a clone of this many reads is taken
/// as a sequencing error of that clone, whatever the ratio (2 since issue 17: with
/// 3, clones of 5-9 reads often stayed as 2 reads plus error singletons).
pub const SINGLETON_ABSORBER: u32 = 2;

fn is_error_variant(small: u32, large: u32, ratio: f64) -> bool {
    (small as f64) * ratio <= large as f64 || (small == 1 && large >= SINGLETON_ABSORBER)
}

/// What else decides the merge of a window one or two substitutions from a larger
/// one, and follows the merges made: with UMIs, a window whose reads carry the UMIs
/// of the larger one is its PCR or sequencing errors, one with UMIs of its own is a
/// neighbouring clone (`umi::UmiTables`). `Counts`: the read counts alone.
pub trait MergeJudge {
    /// Some(true): `small` is made of `large`'s molecules; Some(false): of its own; None: cannot tell.
    fn shared(&self, _small: u128, _large: u128) -> Option<bool> {
        None
    }
    /// `from` was merged into `into`.
    fn merged(&mut self, _into: u128, _from: u128) {}
    /// `window` was dropped (memory).
    fn dropped(&mut self, _window: u128) {}
}

/// The read counts alone decide.
pub struct Counts;
impl MergeJudge for Counts {}

/// A variant of `small` reads next to a window of `large` reads (`small_key`,
/// `large_key`): the counts rule, unless the UMIs tell otherwise (a variant made of
/// the larger window's molecules merges whenever it has fewer reads).
fn variant_merges(
    judge: &dyn MergeJudge,
    small_key: u128,
    small: u32,
    large_key: u128,
    large: u32,
    ratio: f64,
) -> bool {
    match judge.shared(small_key, large_key) {
        Some(true) => small < large || is_error_variant(small, large, ratio),
        Some(false) => false,
        None => is_error_variant(small, large, ratio),
    }
}

/// Merge each window into a window of the same system that differs by at most
/// `distance` substitutions and has at least `ratio` times its reads. Larger
/// windows absorb first; ties by key. Returns (absorber, absorbed) pairs.
pub fn merge_variants(stats: &mut WindowMap<WindowStat>, distance: usize, ratio: f64) -> Vec<(u128, u128)> {
    merge_variants_with(stats, distance, ratio, &mut Counts)
}

/// `merge_variants`, with `judge` deciding too and told of every merge.
pub fn merge_variants_with(
    stats: &mut WindowMap<WindowStat>,
    distance: usize,
    ratio: f64,
    judge: &mut dyn MergeJudge,
) -> Vec<(u128, u128)> {
    let mut merges = Vec::new();
    if distance == 0 {
        return merges;
    }
    let mut large: Vec<(u32, u128)> = stats
        .iter()
        .filter(|(_, s)| s.reads as f64 >= ratio || s.reads >= SINGLETON_ABSORBER)
        .map(|(&k, s)| (s.reads, k))
        .collect();
    large.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, key) in &large {
        let me = stats[&key];
        if me.merged {
            continue;
        }
        let window = unpack_window(key);
        let mut absorbed: Vec<u128> = Vec::new();
        for_each_variant(&window, distance, &mut |v| {
            if let Some(other) = stats.get(&v) {
                if !other.merged
                    && other.system == me.system
                    && other.pair == me.pair
                    && variant_merges(&*judge, v, other.reads, key, me.reads, ratio)
                {
                    absorbed.push(v);
                }
            }
        });
        absorbed.sort_unstable();
        absorbed.dedup();
        for v in absorbed {
            absorb(stats, key, v);
            judge.merged(key, v);
            merges.push((key, v));
        }
    }
    merges
}

/// Move the reads of window `from` into window `into`.
pub fn absorb(stats: &mut WindowMap<WindowStat>, into: u128, from: u128) {
    let other = stats.get_mut(&from).expect("absorbed window exists");
    other.merged = true;
    // (The molecules of an evicted UMI table, `umi_lost`, stay with the absorbed
    // window: a window merged into a clone is made of its molecules.)
    let (reads, shifted, length) = (other.reads, other.shifted, other.length_sum);
    let me = stats.get_mut(&into).expect("absorbing window exists");
    me.reads += reads;
    me.merged_reads += reads;
    me.shifted += shifted;
    me.length_sum += length;
}

/// Largest shift of a window of the same clone (the window is shifted by up to 10
/// nt to fit, and the breakpoint estimate moves with errors near the junction).
pub const MAX_SHIFT: usize = 12;

/// Windows of `seq` (a clone's sequence, its window `key` at `window_start`) within
/// `MAX_SHIFT` nt of that window, and shrunk ones down to `min_window` nt, that are
/// in `stats` with the same system, not merged: `(window, exact)`. With
/// `substitutions`, windows of the same length one substitution away too (`exact`
/// false). Sorted, deduplicated. Reads `stats` only (run on all threads).
pub fn shifted_candidates(
    stats: &WindowMap<WindowStat>,
    key: u128,
    seq: &[u8],
    window_start: usize,
    min_window: usize,
    substitutions: bool,
) -> Vec<(u128, bool)> {
    let mut found: Vec<(u128, bool)> = Vec::new();
    let Some(me) = stats.get(&key).copied() else {
        return found;
    };
    let w = unpack_window(key).len();
    for len in (min_window..=w).rev() {
        for start in window_start.saturating_sub(MAX_SHIFT)..=window_start + MAX_SHIFT {
            if start + len > seq.len() || (len == w && start == window_start) {
                continue;
            }
            let candidate = &seq[start..start + len];
            if candidate.iter().any(|&b| crate::nuc::CODES[b as usize] > 3) {
                continue;
            }
            let mut check = |v: u128, exact: bool| {
                if v == key {
                    return;
                }
                if let Some(other) = stats.get(&v) {
                    if !other.merged && other.system == me.system && other.pair == me.pair {
                        found.push((v, exact));
                    }
                }
            };
            check(pack_window(candidate), true);
            if substitutions && len == w {
                for_each_variant(candidate, 1, &mut |v| check(v, false));
            }
        }
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// One turn of `merge_shifted` for the clone `key` and its `candidates`: the
/// candidates it absorbs (an exact one with fewer reads, or as many and a larger
/// key; one with a substitution by the error-variant rule), judged on the counts at
/// the start of the turn. With `join_larger`, a clone that shows, exactly, a
/// larger clone (more reads, or as many and a smaller key) is itself absorbed
/// into the largest of them instead.
fn shifted_turn(
    stats: &mut WindowMap<WindowStat>,
    key: u128,
    candidates: &[(u128, bool)],
    ratio: f64,
    join_larger: bool,
    merges: &mut Vec<(u128, u128)>,
    judge: &mut dyn MergeJudge,
) {
    let Some(me) = stats.get(&key).copied() else {
        return;
    };
    if me.merged {
        return;
    }
    if join_larger {
        let larger = candidates
            .iter()
            .filter(|(_, exact)| *exact)
            .filter_map(|&(v, _)| stats.get(&v).map(|o| (o, v)))
            .filter(|(o, v)| !o.merged && (o.reads > me.reads || (o.reads == me.reads && *v < key)))
            .max_by(|a, b| a.0.reads.cmp(&b.0.reads).then(b.1.cmp(&a.1)));
        if let Some((_, into)) = larger {
            absorb(stats, into, key);
            judge.merged(into, key);
            merges.push((into, key));
            return;
        }
    }
    let mut taken: Vec<u128> = Vec::new();
    for &(v, exact) in candidates {
        let Some(other) = stats.get(&v) else { continue };
        let enough = if exact {
            other.reads < me.reads || (other.reads == me.reads && v > key)
        } else {
            variant_merges(&*judge, v, other.reads, key, me.reads, ratio)
        };
        if !other.merged && enough {
            taken.push(v);
        }
    }
    taken.dedup();
    for v in taken {
        if !stats[&v].merged {
            absorb(stats, key, v);
            judge.merged(key, v);
            merges.push((key, v));
        }
    }
}

/// Merge windows that are the same clone seen through a shifted or shrunk window:
/// for each clone with a representative sequence (largest first), every window of
/// that sequence within `MAX_SHIFT` nt of its own window. An exact match merges
/// into a clone with at least as many reads; a match with one substitution only
/// into a clone with `ratio` times more reads.
pub fn merge_shifted(
    stats: &mut WindowMap<WindowStat>,
    representatives: &[(u128, Vec<u8>, usize)],
    ratio: f64,
    min_window: usize,
    substitutions: bool,
) -> Vec<(u128, u128)> {
    merge_shifted_with(
        stats,
        representatives,
        ratio,
        min_window,
        substitutions,
        &mut Counts,
    )
}

/// `merge_shifted` with a judge (see `MergeJudge`).
pub fn merge_shifted_with(
    stats: &mut WindowMap<WindowStat>,
    representatives: &[(u128, Vec<u8>, usize)],
    ratio: f64,
    min_window: usize,
    substitutions: bool,
    judge: &mut dyn MergeJudge,
) -> Vec<(u128, u128)> {
    let mut merges = Vec::new();
    for (key, seq, window_start) in representatives {
        if stats.get(key).is_none_or(|s| s.merged) {
            continue;
        }
        let candidates = shifted_candidates(stats, *key, seq, *window_start, min_window, substitutions);
        shifted_turn(stats, *key, &candidates, ratio, false, &mut merges, judge);
    }
    merges
}

/// Whether a clone of `reads` reads may absorb a window one substitution away.
pub fn may_absorb_variants(reads: u32, ratio: f64) -> bool {
    reads >= SINGLETON_ABSORBER || reads as f64 >= ratio
}

/// `merge_shifted` for every other clone (issue 17: clones of a few reads came out
/// as 4 reads plus a stray read). `sequences` are (window, a sequence of the clone
/// around it, window start), largest clones first; `candidates` their
/// `shifted_candidates` (computed beforehand on all threads from the same `stats`).
/// Besides absorbing the windows it shows, a clone that shows exactly the window of
/// a larger clone joins it (that clone's own sequence may not have covered it).
/// Returns (absorber, absorbed) pairs, in order.
pub fn merge_shifted_all(
    stats: &mut WindowMap<WindowStat>,
    sequences: &[u128],
    candidates: &[Vec<(u128, bool)>],
    ratio: f64,
) -> Vec<(u128, u128)> {
    merge_shifted_all_with(stats, sequences, candidates, ratio, &mut Counts)
}

/// `merge_shifted_all` with a judge (see `MergeJudge`).
pub fn merge_shifted_all_with(
    stats: &mut WindowMap<WindowStat>,
    sequences: &[u128],
    candidates: &[Vec<(u128, bool)>],
    ratio: f64,
    judge: &mut dyn MergeJudge,
) -> Vec<(u128, u128)> {
    let mut merges = Vec::new();
    for (key, found) in sequences.iter().zip(candidates) {
        shifted_turn(stats, *key, found, ratio, true, &mut merges, judge);
    }
    merges
}

/// A window of at most this many reads, two substitutions away from a large
/// clone, is taken as a read with two errors of that clone (issue 17: about 1% of
/// a clone's reads carry two errors in a 50-nt window at 0.3% errors per base).
pub const FAR_VARIANT_MAX_READS: u32 = 2;
/// ... when that clone has at least this many times its reads.
pub const FAR_VARIANT_RATIO: u32 = 100;

/// Windows of `FAR_VARIANT_MAX_READS` reads or fewer, of the same system and length
/// as a window of a large clone's sequence within `MAX_SHIFT` nt of that clone's own
/// window, at most two substitutions from it, merge into the largest such clone with
/// `FAR_VARIANT_RATIO` times their reads. `representatives` are (window, sequence,
/// window start). The candidates are found through the three thirds of the window
/// (two substitutions leave one third intact), so the cost is a few lookups per
/// small window. Returns (absorber, absorbed) pairs, small windows in key order.
pub fn merge_far_variants(
    stats: &mut WindowMap<WindowStat>,
    representatives: &[(u128, Vec<u8>, usize)],
) -> Vec<(u128, u128)> {
    merge_far_variants_with(stats, representatives, &mut Counts)
}

/// `merge_far_variants`, telling `judge` of the merges (1-2 reads: the counts decide).
pub fn merge_far_variants_with(
    stats: &mut WindowMap<WindowStat>,
    representatives: &[(u128, Vec<u8>, usize)],
    judge: &mut dyn MergeJudge,
) -> Vec<(u128, u128)> {
    let mut parents: Vec<(u32, u128, &[u8], usize)> = representatives
        .iter()
        .filter_map(|(k, seq, start)| stats.get(k).map(|s| (s, *k, seq.as_slice(), *start)))
        .filter(|(s, _, _, _)| !s.merged && s.reads >= FAR_VARIANT_RATIO)
        .map(|(s, k, seq, start)| (s.reads, k, seq, start))
        .collect();
    parents.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    // (third, window length, packed third) -> (parent rank, candidate window)
    let mut thirds: HashMap<ThirdKey, Vec<(usize, &[u8])>> = HashMap::new();
    for (rank, &(_, key, seq, start)) in parents.iter().enumerate() {
        let w = unpack_window(key).len();
        for s in start.saturating_sub(MAX_SHIFT)..=start + MAX_SHIFT {
            let Some(candidate) = seq.get(s..s + w) else {
                continue;
            };
            if candidate.iter().any(|&b| crate::nuc::CODES[b as usize] > 3) {
                continue;
            }
            for (t, piece) in window_thirds(candidate).into_iter().enumerate() {
                thirds
                    .entry((t, w, pack_window(piece)))
                    .or_default()
                    .push((rank, candidate));
            }
        }
    }
    let mut small: Vec<u128> = stats
        .iter()
        .filter(|(_, s)| !s.merged && s.reads <= FAR_VARIANT_MAX_READS)
        .map(|(&k, _)| k)
        .collect();
    small.sort_unstable();
    let mut merges = Vec::new();
    for key in small {
        let me = stats[&key];
        let window = unpack_window(key);
        let best = window_thirds(&window)
            .into_iter()
            .enumerate()
            .filter_map(|(t, piece)| thirds.get(&(t, window.len(), pack_window(piece))))
            .flatten()
            .filter(|(_, candidate)| hamming(candidate, &window) <= 2)
            .map(|&(rank, _)| rank)
            .filter(|&rank| {
                let parent = &stats[&parents[rank].1];
                parent.system == me.system
                    && parent.pair == me.pair
                    && parent.reads >= FAR_VARIANT_RATIO * me.reads
            })
            .min();
        if let Some(rank) = best {
            absorb(stats, parents[rank].1, key);
            judge.merged(parents[rank].1, key);
            merges.push((parents[rank].1, key));
        }
    }
    merges
}

/// (which third, window length, the third packed)
type ThirdKey = (usize, usize, u128);

fn window_thirds(window: &[u8]) -> [&[u8]; 3] {
    let (a, b) = (window.len() / 3, 2 * window.len() / 3);
    [&window[..a], &window[a..b], &window[b..]]
}

fn hamming(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

/// Keep at most `max` windows: error variants are first merged into their clones,
/// then the windows with the fewest reads are dropped (1 read, then 2, ...) until
/// 3/4 of `max` remain. Returns (windows, reads) dropped. Called between batches in
/// input order, so that the result does not depend on the number of threads.
pub fn compact(stats: &mut WindowMap<WindowStat>, max: usize, distance: usize, ratio: f64) -> (u64, u64) {
    compact_logged(stats, max, distance, ratio, &mut |_, _| {})
}

/// `compact`, telling `log` the fate of each window it removes: `(window, into)`
/// for a window merged into `into`, `(window, 0)` for a window dropped (merges
/// first, in their order, then drops).
pub fn compact_logged(
    stats: &mut WindowMap<WindowStat>,
    max: usize,
    distance: usize,
    ratio: f64,
    log: &mut dyn FnMut(u128, u128),
) -> (u64, u64) {
    compact_with(stats, max, distance, ratio, log, &mut Counts)
}

/// `compact_logged` with a judge (see `MergeJudge`), told of merges and drops.
pub fn compact_with(
    stats: &mut WindowMap<WindowStat>,
    max: usize,
    distance: usize,
    ratio: f64,
    log: &mut dyn FnMut(u128, u128),
    judge: &mut dyn MergeJudge,
) -> (u64, u64) {
    if stats.len() <= max {
        return (0, 0);
    }
    for (into, from) in merge_variants_with(stats, distance, ratio, judge) {
        log(from, into);
    }
    stats.retain(|_, s| !s.merged);
    let target = max * 3 / 4;
    let (mut windows, mut reads) = (0u64, 0u64);
    let mut limit = 1;
    while stats.len() > target {
        stats.retain(|&k, s| {
            let keep = s.reads > limit;
            if !keep {
                windows += 1;
                reads += s.reads as u64;
                log(k, 0);
                judge.dropped(k);
            }
            keep
        });
        limit += 1;
    }
    (windows, reads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_and_keeps_lengths_apart() {
        let w = b"ACGTTGCAAC";
        assert_eq!(unpack_window(pack_window(w)), w.to_vec());
        assert_ne!(pack_window(b"AAC"), pack_window(b"AC"));
        let long = vec![b'T'; MAX_WINDOW];
        assert_eq!(unpack_window(pack_window(&long)), long);
    }

    #[test]
    fn variants_at_distance_one_are_the_packed_substitutions() {
        let window = b"ACGTTGCAACNT";
        let mut fast = Vec::new();
        for_each_variant(window, 1, &mut |k| fast.push(k));
        let mut slow = Vec::new();
        for i in 0..window.len() {
            for &b in b"ACGT" {
                if b != window[i] {
                    let mut w = window.to_vec();
                    w[i] = b;
                    slow.push(pack_window(&w));
                }
            }
        }
        assert_eq!(fast, slow);
    }

    #[test]
    fn variants_at_distance_one_and_two() {
        let mut n = 0;
        for_each_variant(b"ACGTA", 1, &mut |_| n += 1);
        assert_eq!(n, 15);
        let mut keys = Vec::new();
        for_each_variant(b"ACGTA", 2, &mut |k| keys.push(k));
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 15 + 10 * 9);
    }

    fn stat(reads: u32, system: u16) -> WindowStat {
        WindowStat {
            reads,
            system,
            length_sum: 100 * reads as u64,
            ..Default::default()
        }
    }

    #[test]
    fn error_variants_merge_into_the_large_clone_only() {
        let mut stats = WindowMap::default();
        let big = pack_window(b"ACGTACGTAC");
        let error = pack_window(b"ACGTTCGTAC"); // 1 substitution, 3 reads
        let sibling = pack_window(b"ACGTACGTAA"); // 1 substitution but 40 reads: a real clone
        let other_system = pack_window(b"ACGTACGTAG");
        let far = pack_window(b"TTTTACGTAC");
        stats.insert(big, stat(100, 0));
        stats.insert(error, stat(3, 0));
        stats.insert(sibling, stat(40, 0));
        stats.insert(other_system, stat(2, 1));
        stats.insert(far, stat(1, 0));
        let merges = merge_variants(&mut stats, 1, 10.0);
        assert_eq!(merges, vec![(big, error)]);
        assert_eq!(stats[&big].reads, 103);
        assert_eq!(stats[&big].merged_reads, 3);
        assert!(stats[&error].merged);
        assert!(!stats[&sibling].merged);
        assert!(merge_variants(&mut stats.clone(), 0, 10.0).is_empty());
    }

    #[test]
    fn compaction_merges_errors_then_drops_the_smallest_windows() {
        let mut stats = WindowMap::default();
        let big = b"ACGTACGTACGTACGTACGT".to_vec();
        stats.insert(pack_window(&big), stat(100, 0));
        let mut error = big.clone();
        error[3] = b'A';
        stats.insert(pack_window(&error), stat(1, 0));
        for i in 0..40u64 {
            let w = crate::testutil::dna(20, 100 + i);
            stats.insert(pack_window(&w), stat(if i < 30 { 1 } else { 2 }, 0));
        }
        assert_eq!(compact(&mut stats, 100, 1, 20.0), (0, 0));
        let (windows, reads) = compact(&mut stats, 20, 1, 20.0);
        assert_eq!((windows, reads), (30, 30));
        assert_eq!(stats.len(), 11);
        assert_eq!(stats[&pack_window(&big)].reads, 101);
    }

    #[test]
    fn shifted_windows_of_a_clone_merge_into_it() {
        //                    0         1         2         3
        let rep: &[u8] = b"TTGACCATGCAGTCAGTTCAGGACTTACGGA";
        let main = pack_window(&rep[10..20]);
        let shifted = pack_window(&rep[7..17]); // same clone, window 3 nt earlier, 6 reads
        let mut with_error = rep[12..22].to_vec(); // 2 nt later and one substitution, 2 reads
        with_error[4] = b'A';
        let with_error = pack_window(&with_error);
        let unrelated = pack_window(b"GGGGGCCCCC");
        let mut stats = WindowMap::default();
        stats.insert(main, stat(50, 0));
        stats.insert(shifted, stat(6, 0));
        stats.insert(with_error, stat(2, 0));
        stats.insert(unrelated, stat(9, 0));
        let merges = merge_shifted(&mut stats, &[(main, rep.to_vec(), 10)], 20.0, 8, true);
        let mut absorbed: Vec<u128> = merges.iter().map(|m| m.1).collect();
        absorbed.sort();
        let mut expected = vec![shifted, with_error];
        expected.sort();
        assert_eq!(absorbed, expected);
        assert_eq!(stats[&main].reads, 58);
        assert!(!stats[&unrelated].merged);
    }

    /// The merge of `merge_shifted_all` for one clone of `seq` (window at 10, 10 nt).
    fn merge_all_from(
        stats: &mut WindowMap<WindowStat>,
        order: &[(u128, &[u8], usize)],
    ) -> Vec<(u128, u128)> {
        let candidates: Vec<Vec<(u128, bool)>> = order
            .iter()
            .map(|&(k, seq, start)| {
                shifted_candidates(
                    stats,
                    k,
                    seq,
                    start,
                    8,
                    may_absorb_variants(stats[&k].reads, 20.0),
                )
            })
            .collect();
        let keys: Vec<u128> = order.iter().map(|o| o.0).collect();
        merge_shifted_all(stats, &keys, &candidates, 20.0)
    }

    #[test]
    fn every_small_clone_takes_back_its_shifted_reads_but_not_a_neighbouring_clone() {
        //                    0         1         2         3
        let rep: &[u8] = b"TTGACCATGCAGTCAGTTCAGGACTTACGGA";
        let main = pack_window(&rep[10..20]); // a clone of 4 reads
        let shifted = pack_window(&rep[7..17]); // a stray read, its window 3 nt earlier
        let mut err = rep[12..22].to_vec(); // a stray read 2 nt later, with an error
        err[4] = b'A';
        let err = pack_window(&err);
        let mut sibling = rep[14..24].to_vec(); // a real clone: 1 substitution, 2 reads
        sibling[1] = b'T';
        let sibling = pack_window(&sibling);
        let mut stats = WindowMap::default();
        stats.insert(main, stat(4, 0));
        stats.insert(shifted, stat(1, 0));
        stats.insert(err, stat(1, 0));
        stats.insert(sibling, stat(2, 0));
        let merges = merge_all_from(&mut stats, &[(main, rep, 10)]);
        assert_eq!(merges.len(), 2);
        assert!(merges.contains(&(main, shifted)) && merges.contains(&(main, err)));
        assert_eq!(stats[&main].reads, 6);
        assert!(!stats[&sibling].merged);
    }

    #[test]
    fn a_neighbour_as_large_is_kept_and_a_clone_joins_a_larger_clone_it_shows() {
        let rep: &[u8] = b"TTGACCATGCAGTCAGTTCAGGACTTACGGA";
        let two = pack_window(&rep[10..20]);
        let mut variant = rep[11..21].to_vec();
        variant[0] = b'C';
        let variant = pack_window(&variant);
        let mut stats = WindowMap::default();
        stats.insert(two, stat(2, 0));
        stats.insert(variant, stat(2, 0)); // as large: a neighbouring clone, kept
        assert!(merge_all_from(&mut stats, &[(two, rep, 10)]).is_empty());
        // The window of a larger clone whose own sequence did not reach this one.
        let larger = pack_window(&rep[5..15]);
        stats.insert(larger, stat(7, 0));
        stats.insert(pack_window(&rep[12..22]), stat(2, 1)); // another system: untouched
        let merges = merge_all_from(&mut stats, &[(two, rep, 10)]);
        assert_eq!(merges, vec![(larger, two)]);
        assert_eq!(stats[&larger].reads, 9);
        assert!(stats[&two].merged && !stats[&variant].merged);
    }

    #[test]
    fn a_single_read_joins_a_clone_of_two_reads_but_two_reads_stay_apart() {
        let mut stats = WindowMap::default();
        let two = pack_window(b"ACGTACGTAC");
        let single = pack_window(b"ACGTACGTTC");
        let pair = pack_window(b"ACGAACGTAC");
        stats.insert(two, stat(2, 0));
        stats.insert(single, stat(1, 0));
        stats.insert(pair, stat(2, 0));
        // `pair` is one substitution from `two`, two from `single`: a neighbour as large, kept.
        assert_eq!(merge_variants(&mut stats, 1, 20.0), vec![(two, single)]);
        assert!(!stats[&pair].merged && !stats[&two].merged);
        assert_eq!((stats[&two].reads, stats[&pair].reads), (3, 2));
    }
    #[test]
    fn two_error_reads_join_a_large_clone_but_not_a_small_one() {
        //                    0         1         2         3
        let rep: &[u8] = b"TTGACCATGCAGTCAGTTCAGGACTTACGGATCCA";
        let main = pack_window(&rep[10..22]);
        let mut two_errors = rep[12..24].to_vec(); // shifted by 2, two substitutions
        two_errors[1] = b'A';
        two_errors[9] = b'T';
        let two_errors = pack_window(&two_errors);
        let mut three_errors = rep[10..22].to_vec();
        three_errors[1] = b'T';
        three_errors[4] = b'C';
        three_errors[8] = b'A';
        let three_errors = pack_window(&three_errors);
        let mut doubleton = rep[10..22].to_vec(); // 2 reads: needs 200
        doubleton[3] = b'T';
        doubleton[7] = b'T';
        let doubleton = pack_window(&doubleton);
        let mut stats = WindowMap::default();
        stats.insert(main, stat(150, 0));
        stats.insert(two_errors, stat(1, 0));
        stats.insert(three_errors, stat(1, 0));
        stats.insert(doubleton, stat(2, 0));
        let reps = vec![(main, rep.to_vec(), 10)];
        assert_eq!(merge_far_variants(&mut stats, &reps), vec![(main, two_errors)]);
        assert_eq!(stats[&main].reads, 151);
        assert!(!stats[&three_errors].merged && !stats[&doubleton].merged);
        // A clone of fewer than 100 times the reads keeps its neighbours apart.
        let mut stats2 = WindowMap::default();
        stats2.insert(main, stat(99, 0));
        stats2.insert(two_errors, stat(1, 0));
        assert!(merge_far_variants(&mut stats2, &reps).is_empty());
        // Another system: untouched.
        stats.insert(main, stat(400, 0));
        stats.insert(doubleton, stat(2, 1));
        assert!(merge_far_variants(&mut stats, &reps).is_empty());
    }
}
