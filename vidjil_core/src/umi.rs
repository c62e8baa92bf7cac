//! UMIs (unique molecular identifiers): where a read's UMI is (its name, or the
//! first bases of a mate, trimmed before detection), the UMI tables of windows under
//! a memory budget, and the molecules of a clone (UMIs one substitution from a much
//! more abundant UMI merged into it: the directional rule of UMI-tools).

use crate::clones::{absorb, unpack_window, MergeJudge, WindowMap, WindowStat, MAX_SHIFT};
use crate::reader::Batch;
use std::borrow::Cow;
use std::collections::HashMap;

/// Longest UMI: packed 2 bits per base below a sentinel bit in a `u64`.
pub const MAX_UMI: usize = 31;

/// Where the UMI of a read is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UmiSource {
    /// The last `_` field of the read name (UMI-tools extract: `READ_UMI`).
    Name,
    /// The 8th `:` field of an Illumina read name (`+` between two UMIs dropped).
    Illumina,
    /// The first N bases of the first mate (or of a single read).
    R1(usize),
    /// The first N bases of the second mate.
    R2(usize),
}

impl UmiSource {
    /// `name`, `illumina`, `r1:N` or `r2:N` (1 <= N <= `MAX_UMI`).
    pub fn parse(text: &str) -> Option<UmiSource> {
        match text {
            "name" => return Some(UmiSource::Name),
            "illumina" => return Some(UmiSource::Illumina),
            _ => {}
        }
        let (mate, n) = text.split_once(':')?;
        let n: usize = n.parse().ok().filter(|n| (1..=MAX_UMI).contains(n))?;
        match mate {
            "r1" => Some(UmiSource::R1(n)),
            "r2" => Some(UmiSource::R2(n)),
            _ => None,
        }
    }

    pub fn key(&self) -> String {
        match self {
            UmiSource::Name => "name".into(),
            UmiSource::Illumina => "illumina".into(),
            UmiSource::R1(n) => format!("r1:{n}"),
            UmiSource::R2(n) => format!("r2:{n}"),
        }
    }
}

/// The UMI options of a run.
#[derive(Clone, Debug)]
pub struct UmiParams {
    /// None: no UMI (reads are counted).
    pub source: Option<UmiSource>,
    /// Checked and trimmed after an `r1:N` / `r2:N` UMI.
    pub spacer: Vec<u8>,
    /// Molecules seen in fewer reads are dropped.
    pub min_reads_per_umi: u32,
    /// (window, UMI) entries kept in the UMI tables (16 bytes each); past it the
    /// tables of the windows with the fewest reads are evicted.
    pub max_umis: usize,
}

impl Default for UmiParams {
    fn default() -> Self {
        UmiParams {
            source: None,
            spacer: Vec::new(),
            min_reads_per_umi: 1,
            max_umis: 1 << 22,
        }
    }
}

/// A UMI packed 2 bits per base below a sentinel bit; None unless 1..=`MAX_UMI` of A/C/G/T.
pub fn pack_umi(seq: &[u8]) -> Option<u64> {
    if seq.is_empty() || seq.len() > MAX_UMI {
        return None;
    }
    let mut key: u64 = 1;
    for &b in seq {
        let code = crate::nuc::CODES[b as usize];
        if code > 3 {
            return None;
        }
        key = (key << 2) | code as u64;
    }
    Some(key)
}

pub fn unpack_umi(mut key: u64) -> Vec<u8> {
    let len = (63 - key.leading_zeros() as usize) / 2;
    let mut out = vec![b'A'; len];
    for i in (0..len).rev() {
        out[i] = b"ACGT"[(key & 3) as usize];
        key >>= 2;
    }
    out
}

/// The UMIs one substitution from `key`.
pub fn umi_neighbours(key: u64, f: &mut impl FnMut(u64)) {
    let len = (63 - key.leading_zeros() as usize) / 2;
    for i in 0..len {
        let shift = 2 * i;
        let orig = (key >> shift) & 3;
        let cleared = key & !(3u64 << shift);
        for code in 0..4u64 {
            if code != orig {
                f(cleared | code << shift);
            }
        }
    }
}

/// The read id: the name up to its first blank.
fn read_id(name: &[u8]) -> &[u8] {
    let end = name
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(name.len());
    &name[..end]
}

/// The UMI written in a read name, by `source` (`Name` or `Illumina`).
pub fn umi_of_name(name: &[u8], source: &UmiSource) -> Option<u64> {
    let id = read_id(name);
    match source {
        UmiSource::Name => {
            let at = id.iter().rposition(|&b| b == b'_')?;
            pack_umi(&id[at + 1..])
        }
        UmiSource::Illumina => {
            let field = id.split(|&b| b == b':').nth(7)?;
            if field.contains(&b'+') {
                let joined: Vec<u8> = field.iter().copied().filter(|&b| b != b'+').collect();
                pack_umi(&joined)
            } else {
                pack_umi(field)
            }
        }
        _ => None,
    }
}

/// The UMI at the start of `seq` (`n` bases, then `spacer`) and the bases to trim.
fn umi_of_bases(seq: &[u8], n: usize, spacer: &[u8]) -> Option<(u64, usize)> {
    let trim = n + spacer.len();
    if seq.len() < trim || !seq[n..trim].eq_ignore_ascii_case(spacer) {
        return None;
    }
    pack_umi(&seq[..n]).map(|u| (u, trim))
}

/// The UMI of each read (or pair) of `batch`, None when it has no valid one, and the
/// batch to detect: for `r1:N` / `r2:N`, that mate without its UMI and spacer.
/// A pair takes its UMI once: from R1's name, or from the mate named.
pub fn extract<'b>(batch: &'b Batch, p: &UmiParams) -> (Cow<'b, Batch>, Vec<Option<u64>>) {
    let Some(source) = &p.source else {
        return (Cow::Borrowed(batch), vec![None; batch.len()]);
    };
    match source {
        UmiSource::Name | UmiSource::Illumina => {
            let umis = (0..batch.len())
                .map(|i| umi_of_name(batch.name(i), source))
                .collect();
            (Cow::Borrowed(batch), umis)
        }
        &UmiSource::R1(n) | &UmiSource::R2(n) => {
            let on_r2 = matches!(source, UmiSource::R2(_));
            let mates = batch.mates.as_deref();
            let mut umis = Vec::with_capacity(batch.len());
            let trim_of = |b: &Batch, i: usize, umis: &mut Vec<Option<u64>>| {
                let found = umi_of_bases(b.seq(i), n, &p.spacer);
                umis.push(found.map(|f| f.0));
                found.map_or(0, |f| f.1)
            };
            let copy = |b: &Batch, trims: &[usize]| {
                let mut out = Batch {
                    number: b.number,
                    first_ordinal: b.first_ordinal,
                    ..Default::default()
                };
                for (i, &t) in trims.iter().enumerate() {
                    let qual = b.qual(i);
                    out.push(
                        b.name(i),
                        &b.seq(i)[t..],
                        if qual.is_empty() { qual } else { &qual[t..] },
                    );
                }
                out
            };
            match (on_r2, mates) {
                (false, _) => {
                    let trims: Vec<usize> = (0..batch.len()).map(|i| trim_of(batch, i, &mut umis)).collect();
                    let mut out = copy(batch, &trims);
                    out.mates = batch.mates.clone();
                    (Cow::Owned(out), umis)
                }
                (true, Some(m)) => {
                    let trims: Vec<usize> = (0..m.len()).map(|i| trim_of(m, i, &mut umis)).collect();
                    let mut out = batch.clone();
                    out.mates = Some(Box::new(copy(m, &trims)));
                    (Cow::Owned(out), umis)
                }
                // A single-end read has no second mate (refused before the run).
                (true, None) => (Cow::Borrowed(batch), vec![None; batch.len()]),
            }
        }
    }
}

/// The UMIs of each window, sorted (UMI, reads), under a budget of entries.
#[derive(Debug, Default)]
pub struct UmiTables {
    pub tables: WindowMap<Vec<(u64, u32)>>,
    pub entries: usize,
    pub budget: usize,
    /// Tables evicted to keep `budget`, and their reads.
    pub evicted_tables: u64,
    pub evicted_reads: u64,
    /// Windows whose table was evicted: no new table (their later reads are
    /// estimated, see `WindowStat::umi_lost`). At most one per window kept.
    pub evicted: FastMap<u128, ()>,
    /// Most entries held at once.
    pub peak_entries: usize,
    next_check: usize,
}

/// Only the tables of windows of at most this many reads are evicted: the UMIs of
/// larger clones stay exact (past the budget, memory grows with their molecules).
pub const EVICT_MAX_READS: u32 = 4;

/// Bytes per entry of a UMI table (the bound stated in the README).
pub const ENTRY_BYTES: usize = 16;

/// Add the sorted entries `b` into the sorted table `a`: in place for a few entries
/// (a binary search and a move each), else by a merge into a new table.
fn add_sorted(a: &mut Vec<(u64, u32)>, b: &[(u64, u32)]) {
    if a.is_empty() {
        a.extend_from_slice(b);
    } else if b.len() <= 16 {
        for &(u, n) in b {
            match a.binary_search_by_key(&u, |e| e.0) {
                Ok(i) => a[i].1 += n,
                Err(i) => a.insert(i, (u, n)),
            }
        }
    } else {
        *a = merge_sorted(a, b);
    }
}

fn merge_sorted(a: &[(u64, u32)], b: &[(u64, u32)]) -> Vec<(u64, u32)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push((a[i].0, a[i].1 + b[j].1));
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// `(window, UMI)` of a batch, one per read, as sorted (window, UMI, reads) runs.
pub fn batch_counts(mut pairs: Vec<(u128, u64)>) -> Vec<(u128, u64, u32)> {
    pairs.sort_unstable();
    let mut out: Vec<(u128, u64, u32)> = Vec::new();
    for (w, u) in pairs {
        match out.last_mut() {
            Some(last) if last.0 == w && last.1 == u => last.2 += 1,
            _ => out.push((w, u, 1)),
        }
    }
    out
}

impl UmiTables {
    pub fn new(budget: usize) -> UmiTables {
        UmiTables {
            budget,
            ..Default::default()
        }
    }

    /// Add a batch's counts (`batch_counts`), but to windows whose table was evicted.
    pub fn add(&mut self, counts: &[(u128, u64, u32)]) {
        let mut start = 0;
        while start < counts.len() {
            let w = counts[start].0;
            let end = start + counts[start..].iter().take_while(|c| c.0 == w).count();
            if self.evicted.contains_key(&w) {
                start = end;
                continue;
            }
            let run: Vec<(u64, u32)> = counts[start..end].iter().map(|c| (c.1, c.2)).collect();
            let table = self.tables.entry(w).or_default();
            let before = table.len();
            add_sorted(table, &run);
            self.entries += table.len() - before;
            start = end;
        }
    }

    /// The UMIs of window `from` join those of `into`.
    pub fn absorb(&mut self, into: u128, from: u128) {
        let Some(moved) = self.tables.remove(&from) else {
            return;
        };
        self.entries -= moved.len();
        let table = self.tables.entry(into).or_default();
        let before = table.len();
        add_sorted(table, &moved);
        self.entries += table.len() - before;
    }

    pub fn remove(&mut self, window: u128) {
        if let Some(t) = self.tables.remove(&window) {
            self.entries -= t.len();
        }
        self.evicted.remove(&window);
    }

    /// Past the budget, evict the tables of the windows with the fewest reads (1,
    /// then 2, 3, 4: `EVICT_MAX_READS`) down to 3/4 of it; their distinct UMIs and reads are kept
    /// (`WindowStat::umi_lost`, `umi_lost_reads`), and the window gets no table again:
    /// its other reads count as molecules at that ratio. Called between batches in
    /// input order.
    pub fn enforce_budget(&mut self, stats: &mut WindowMap<WindowStat>) {
        self.peak_entries = self.peak_entries.max(self.entries);
        if self.entries <= self.budget.max(self.next_check) {
            return;
        }
        let target = self.budget * 3 / 4;
        let mut limit = 1u32;
        while self.entries > target && limit <= EVICT_MAX_READS {
            let (entries, tables, reads) = (
                &mut self.entries,
                &mut self.evicted_tables,
                &mut self.evicted_reads,
            );
            let evicted = &mut self.evicted;
            self.tables.retain(|w, table| {
                let n: u32 = table.iter().map(|e| e.1).sum();
                if n > limit {
                    return true;
                }
                *entries -= table.len();
                *tables += 1;
                *reads += n as u64;
                if let Some(s) = stats.get_mut(w) {
                    s.umi_lost += table.len() as u32;
                    s.umi_lost_reads += n;
                }
                evicted.insert(*w, ());
                false
            });
            limit += 1;
        }
        // Windows of more reads keep their tables: past the budget, look again only
        // once the tables have grown by a quarter of it.
        self.next_check = if self.entries > target {
            self.entries + self.budget / 4
        } else {
            0
        };
    }

    /// Whether the UMIs of `small` are mostly those of `large` (PCR or sequencing
    /// errors of its molecules: Some(true)), its own (two UMIs or more, fewer than
    /// half in `large`: a neighbouring clone, Some(false)), or cannot tell (None).
    pub fn shares(&self, small: u128, large: u128) -> Option<bool> {
        let (s, l) = (self.tables.get(&small)?, self.tables.get(&large)?);
        let found = s
            .iter()
            .filter(|(u, _)| l.binary_search_by_key(u, |e| e.0).is_ok())
            .count();
        if 2 * found >= s.len() && !s.is_empty() {
            Some(true)
        } else if s.len() >= 2 {
            Some(false)
        } else {
            None
        }
    }
}

impl MergeJudge for UmiTables {
    fn shared(&self, small: u128, large: u128) -> Option<bool> {
        self.shares(small, large)
    }
    fn merged(&mut self, into: u128, from: u128) {
        self.absorb(into, from);
    }
    fn dropped(&mut self, window: u128) {
        self.remove(window);
    }
}

/// Multiply-fold hasher for UMIs and windows (keys already well spread; std's SipHash
/// is several times slower on the molecule tables).
#[derive(Default)]
pub struct UmiHasher(u64);

impl std::hash::Hasher for UmiHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, k: u64) {
        self.0 = (self.0 ^ k).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 ^= self.0 >> 29;
    }
    fn write_u128(&mut self, k: u128) {
        self.write_u64(k as u64 ^ ((k >> 64) as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9));
    }
    fn write_usize(&mut self, k: usize) {
        self.write_u64(k as u64);
    }
}

/// A map keyed by UMI or window, with `UmiHasher`.
pub type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<UmiHasher>>;

/// A window needs this many reads to absorb windows made of its molecules.
pub const UMI_ABSORBER_READS: u32 = 10;

/// Molecules a window must share with a larger clone to join it whatever its system
/// and window: by chance, a window of a few UMIs shares three with a clone holding 1%
/// of the 12-nt UMIs a few times in a million.
pub const UNRELATED_SHARED_UMIS: usize = 3;

/// Windows made of the molecules of a larger clone (more than twice their reads, at
/// least half of their UMIs in it) join it: reads of its molecules whose errors put
/// them in another window, when the window is alike (the same system,
/// `related_windows`, shifted by up to `2 * MAX_SHIFT`: an error near the junction can
/// move the breakpoint that far), or whatever the window when they share at least
/// `UNRELATED_SHARED_UMIS` molecules (reads of a V(D)J recombination detected as its
/// D-J part only, say). Windows of their own UMIs stay apart. Candidates are
/// judged against the tables as they are at the start (smallest windows first, then
/// by key): deterministic. Returns (absorber, absorbed) pairs.
pub fn merge_shared_umis(stats: &mut WindowMap<WindowStat>, tables: &mut UmiTables) -> Vec<(u128, u128)> {
    let mut by_umi: FastMap<u64, Vec<u128>> = FastMap::default();
    let mut absorbers: Vec<(u128, u32)> = stats
        .iter()
        .filter(|(k, s)| !s.merged && s.reads >= UMI_ABSORBER_READS && tables.tables.contains_key(k))
        .map(|(&k, s)| (k, s.reads))
        .collect();
    absorbers.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for &(k, _) in &absorbers {
        for &(u, _) in &tables.tables[&k] {
            by_umi.entry(u).or_default().push(k);
        }
    }
    let mut small: Vec<(u32, u128)> = stats
        .iter()
        .filter(|(k, s)| !s.merged && tables.tables.contains_key(k))
        .map(|(&k, s)| (s.reads, k))
        .collect();
    small.sort_unstable();
    let mut merges = Vec::new();
    let mut shared: FastMap<u128, usize> = FastMap::default();
    for (reads, key) in small {
        let me = stats[&key];
        if me.merged {
            continue;
        }
        shared.clear();
        let table = &tables.tables[&key];
        for (u, _) in table {
            for &k in by_umi.get(u).map_or(&[][..], |v| v.as_slice()) {
                if k != key {
                    *shared.entry(k).or_default() += 1;
                }
            }
        }
        let window = unpack_window(key);
        let best = shared
            .iter()
            .filter(|&(_, &n)| 2 * n >= table.len())
            .filter_map(|(&k, &n)| stats.get(&k).map(|s| (k, n, s)))
            .filter(|(_, _, s)| !s.merged && s.reads > 2 * reads)
            .filter(|(k, n, s)| {
                *n >= UNRELATED_SHARED_UMIS
                    || (s.system == me.system
                        && s.pair == me.pair
                        && related_windows(&window, &unpack_window(*k), 2 * MAX_SHIFT))
            })
            .max_by(|a, b| a.1.cmp(&b.1).then(a.2.reads.cmp(&b.2.reads)).then(b.0.cmp(&a.0)));
        if let Some((into, _, _)) = best {
            absorb(stats, into, key);
            tables.absorb(into, key);
            merges.push((into, key));
        }
    }
    merges
}

/// A window of one molecule has few distinct UMIs (its errors): past this many, not
/// looked at as one.
const ONE_MOLECULE_MAX_UMIS: usize = 16;

/// Bases of the pieces of windows that find the clones a single read may join.
const PIECE: usize = 12;

/// Windows of a single read (a molecule seen once, or one read of a molecule), or of
/// the reads of one molecule (a PCR error early in its amplification), alike the window of a clone of at least `UMI_ABSORBER_READS` reads
/// (and more than twice theirs) of the same system
/// (two substitutions at most, shifted by up to `MAX_SHIFT`: `related_windows`) join
/// the closest such clone (fewest mismatches, then least shift, then most reads): a
/// read with two errors in its window, or with an error that moved its window. With
/// UMIs this matters: such a read is a whole molecule of a small clone (the same read
/// without UMIs is one read of many, and is left to `merge_far_variants`). Candidates
/// come from pieces of `PIECE` bases (with two mismatches over an overlap of at least
/// 3 pieces, one is intact). Deterministic: windows in key order. Returns (absorber,
/// absorbed) pairs.
pub fn merge_single_reads(stats: &mut WindowMap<WindowStat>, tables: &mut UmiTables) -> Vec<(u128, u128)> {
    let mut absorbers: Vec<(u128, Vec<u8>)> = stats
        .iter()
        .filter(|(_, s)| !s.merged && s.reads >= UMI_ABSORBER_READS)
        .map(|(&k, _)| (k, unpack_window(k)))
        .collect();
    absorbers.sort_unstable_by_key(|a| a.0);
    let mut pieces: FastMap<u128, Vec<(u32, u32)>> = FastMap::default();
    for (a, (_, window)) in absorbers.iter().enumerate() {
        for (at, piece) in window.windows(PIECE).enumerate() {
            pieces
                .entry(crate::clones::pack_window(piece))
                .or_default()
                .push((a as u32, at as u32));
        }
    }
    let one_molecule = |k: &u128| {
        tables
            .tables
            .get(k)
            .is_some_and(|t| !t.is_empty() && t.len() <= ONE_MOLECULE_MAX_UMIS && directional(t).len() == 1)
    };
    let mut singles: Vec<u128> = stats
        .iter()
        .filter(|(k, s)| !s.merged && (s.reads == 1 || one_molecule(k)))
        .map(|(&k, _)| k)
        .collect();
    singles.sort_unstable();
    let mut merges = Vec::new();
    let mut candidates: Vec<(u32, isize)> = Vec::new();
    for key in singles {
        let me = stats[&key];
        let window = unpack_window(key);
        candidates.clear();
        for from in (0..window.len().saturating_sub(PIECE - 1)).step_by(PIECE) {
            let piece = crate::clones::pack_window(&window[from..from + PIECE]);
            for &(a, at) in pieces.get(&piece).map_or(&[][..], |v| v.as_slice()) {
                let shift = at as isize - from as isize;
                if shift.unsigned_abs() <= MAX_SHIFT {
                    candidates.push((a, shift));
                }
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let best = candidates
            .iter()
            .filter_map(|&(a, shift)| {
                let (k, other) = &absorbers[a as usize];
                let s = &stats[k];
                if s.merged || s.system != me.system || s.pair != me.pair || s.reads <= 2 * me.reads {
                    return None;
                }
                let mismatches = shifted_mismatches(&window, other, shift, MAX_SHIFT)?;
                Some((
                    (mismatches, shift.unsigned_abs(), std::cmp::Reverse(s.reads), *k),
                    *k,
                ))
            })
            .min();
        if let Some((_, into)) = best {
            absorb(stats, into, key);
            tables.absorb(into, key);
            merges.push((into, key));
        }
    }
    merges
}

/// Mismatches of window `a` against `b` read `shift` bases further, when they are at
/// most two over an overlap of at least the shorter length minus `max_shift`.
fn shifted_mismatches(a: &[u8], b: &[u8], shift: isize, max_shift: usize) -> Option<usize> {
    let (mut overlap, mut mismatches) = (0usize, 0usize);
    for (i, &x) in a.iter().enumerate() {
        let j = i as isize + shift;
        if j >= 0 && (j as usize) < b.len() {
            overlap += 1;
            mismatches += (x != b[j as usize]) as usize;
        }
    }
    (overlap + max_shift >= a.len().min(b.len()) && mismatches <= 2).then_some(mismatches)
}

/// Two windows of one clone, or of two clones one or two substitutions apart: at
/// most two mismatches where they overlap, shifted by up to `max_shift` nt (an
/// overlap of at least the shorter window's length minus `max_shift`).
pub fn related_windows(a: &[u8], b: &[u8], max_shift: usize) -> bool {
    let shift = max_shift as isize;
    (-shift..=shift).any(|d| shifted_mismatches(a, b, d, max_shift).is_some())
}

/// The molecules of one table: UMIs grouped (`group_umis`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Molecules {
    /// (UMI of the molecule, its reads), most reads first, at least `min_reads` reads.
    pub molecules: Vec<(u64, u32)>,
    /// Distinct UMIs seen, those merged into a more abundant one (one or two
    /// substitutions away), and of those the ones two substitutions away.
    pub umis: usize,
    pub umis_merged: usize,
    pub umis_merged_far: usize,
    /// Molecules of fewer than `min_reads` reads, dropped, and their reads.
    pub dropped: usize,
    pub dropped_reads: u64,
    /// Reads of the table.
    pub reads: u64,
    /// Molecules expected behind the groups but hidden by UMI collisions (two molecules
    /// of the clone with the same UMI, or neighbouring UMIs grouped as one): see
    /// `UmiModel::hidden_molecules`.
    pub hidden: f64,
    /// More molecules hidden than the estimate is tested for (UMIs short for the clone).
    pub crowded: bool,
}

impl Molecules {
    /// The molecules counted: those kept and the hidden ones (rounded).
    pub fn count(&self) -> u64 {
        self.molecules.len() as u64 + self.hidden.round() as u64
    }
}

/// What the UMIs of a run say about their errors and their spread, estimated from the
/// directional groups of all its clones (`UmiModel::estimate`): used to join UMIs two
/// substitutions from an abundant UMI (`group_umis`) and to count the molecules hidden
/// by collisions (`hidden_molecules`).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct UmiModel {
    /// Chance that a read's UMI carries an error at a given base.
    pub error_rate: f64,
    /// Share of the molecules seen in one read.
    pub single_read_share: f64,
    /// Chance that two molecules with neighbouring UMIs (one substitution apart) are
    /// grouped as one by the directional rule, from the reads per molecule.
    pub neighbour_loss: f64,
}

/// What `UmiModel::estimate` needs of one table and its `directional` groups: the
/// groups' reads, the table's reads, the reads of its merged UMIs, its UMI length.
#[derive(Clone, Debug, Default)]
pub struct TableSummary {
    pub group_reads: Vec<u32>,
    pub reads: u64,
    pub merged_reads: u64,
    pub umi_length: u32,
}

impl TableSummary {
    pub fn of(table: &[(u64, u32)], groups: &[UmiGroup]) -> TableSummary {
        let reads: u64 = table.iter().map(|e| e.1 as u64).sum();
        let roots: u64 = groups.iter().map(|g| table[g.0].1 as u64).sum();
        TableSummary {
            group_reads: groups.iter().map(|g| g.2).collect(),
            reads,
            merged_reads: reads - roots,
            umi_length: table.first().map_or(0, |e| umi_length(e.0) as u32),
        }
    }
}

/// A clone's UMIs are sparse enough to count the errors it shows as errors when a UMI
/// one substitution away from one of its molecules is this unlikely to be another.
const SPARSE: f64 = 0.01;

/// Tables needed (reads) before the error rate is taken from the sparse tables only.
const MIN_SPARSE_READS: u64 = 1000;

impl UmiModel {
    /// The model of a run from the summaries of its tables. The error rate comes from the
    /// reads merged by the directional rule in clones whose UMIs are sparse (where a
    /// neighbouring UMI is an error, not another molecule), or from all of them.
    pub fn estimate(tables: &[TableSummary]) -> UmiModel {
        let sparse = |t: &&TableSummary| {
            let n = 4f64.powi(t.umi_length as i32);
            t.group_reads.len() as f64 * 3.0 * t.umi_length as f64 / n <= SPARSE
        };
        let rate = |ts: &mut dyn Iterator<Item = &TableSummary>| {
            // An error is seen only in a molecule of two reads or more (alone, an erred
            // UMI is a molecule of one read): over the reads of those molecules.
            let (mut merged, mut bases, mut reads) = (0u64, 0f64, 0u64);
            for t in ts {
                let seen: u64 = t.group_reads.iter().filter(|&&r| r >= 2).map(|&r| r as u64).sum();
                merged += t.merged_reads;
                reads += t.reads;
                bases += seen as f64 * t.umi_length as f64;
            }
            (if bases > 0.0 { merged as f64 / bases } else { 0.0 }, reads)
        };
        let (sparse_rate, sparse_reads) = rate(&mut tables.iter().filter(sparse));
        let error_rate = if sparse_reads >= MIN_SPARSE_READS {
            sparse_rate
        } else {
            rate(&mut tables.iter()).0
        };
        let mut histogram: std::collections::BTreeMap<u32, u64> = Default::default();
        for &r in tables.iter().flat_map(|t| &t.group_reads) {
            *histogram.entry(r).or_default() += 1;
        }
        let total: u64 = histogram.values().sum();
        if total == 0 {
            return UmiModel::default();
        }
        let share: Vec<(u32, f64)> = histogram
            .iter()
            .map(|(&r, &n)| (r, n as f64 / total as f64))
            .collect();
        // Two molecules of a and b reads (a >= b) are grouped when a + 1 >= 2 b.
        let mut neighbour_loss = 0.0;
        for &(a, pa) in &share {
            for &(b, pb) in &share {
                if a.max(b) + 1 >= 2 * a.min(b) {
                    neighbour_loss += pa * pb;
                }
            }
        }
        UmiModel {
            error_rate,
            single_read_share: histogram.get(&1).map_or(0.0, |&n| n as f64 / total as f64),
            neighbour_loss,
        }
    }

    /// Molecules of a clone hidden by UMI collisions, given the `groups` seen with UMIs
    /// of `umi_length` bases. M molecules spread over the N = 4^L UMIs (lambda = M / N
    /// per UMI) occupy N (1 - e^-lambda) of them (identical UMIs: Fu et al. 2011), and
    /// a molecule survives its 3L neighbouring UMIs, each held by another molecule with
    /// chance lambda, of which it loses half of the `neighbour_loss` pairs: groups =
    /// N (1 - e^-lambda) e^-(3L lambda neighbour_loss / 2), solved for M on its rising
    /// side. Within 2% with up to 27% of the molecules hidden (tested). Also
    /// whether the clone is *crowded*: more than `CROWDED` of its molecules hidden, or
    /// more groups than the UMIs can show (then nothing is added): UMIs too short for it.
    pub fn hidden_molecules(&self, groups: usize, umi_length: usize) -> (f64, bool) {
        if groups == 0 || umi_length == 0 {
            return (0.0, false);
        }
        let n = 4f64.powi(umi_length as i32);
        let k = 1.5 * umi_length as f64 * self.neighbour_loss;
        let seen = |lambda: f64| n * (1.0 - (-lambda).exp()) * (-k * lambda).exp();
        // The peak: e^-lambda (1 + k) = k.
        let peak = if k > 0.0 { ((1.0 + k) / k).ln() } else { 40.0 };
        let d = groups as f64;
        if seen(peak) <= d {
            return (0.0, true);
        }
        let (mut lo, mut hi) = (d / n, peak);
        for _ in 0..100 {
            let mid = (lo + hi) / 2.0;
            if seen(mid) < d {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let hidden = (hi * n - d).max(0.0);
        (hidden, hidden > Self::CROWDED * (d + hidden))
    }

    /// More than this share of a clone's molecules hidden: past the tested range of
    /// `hidden_molecules` (UMIs short for the clone's size).
    pub const CROWDED: f64 = 0.3;

    /// Fewest reads a UMI needs for a single-read UMI two substitutions away to join it:
    /// when a read of it is likelier to carry those two errors (reads x (e/3)^2) than a
    /// molecule of the clone to have that UMI (density x share of single-read molecules).
    /// None when no error rate was seen.
    fn far_join_reads(&self, groups: usize, umi_length: usize) -> Option<f64> {
        if self.error_rate <= 0.0 || umi_length == 0 {
            return None;
        }
        let density = groups as f64 / 4f64.powi(umi_length as i32);
        let per_read = (self.error_rate / 3.0).powi(2);
        Some((density * self.single_read_share / per_read).max(1.0))
    }
}

/// Bases of a packed UMI.
fn umi_length(key: u64) -> usize {
    (63 - key.leading_zeros() as usize) / 2
}

/// Substitutions between two packed UMIs of one length.
fn umi_distance(a: u64, b: u64) -> u32 {
    let x = a ^ b;
    ((x | (x >> 1)) & 0x5555_5555_5555_5555).count_ones()
}

/// A group of UMIs of a table: (index of its most abundant UMI, indices of its UMIs,
/// reads).
pub type UmiGroup = (usize, Vec<usize>, u32);

/// Directional grouping (UMI-tools) of a sorted table: from the most abundant UMI, a
/// UMI b one substitution from a UMI a of the group with count(a) >= 2 count(b) - 1
/// joins it. Most abundant roots first; deterministic (ties by UMI).
pub fn directional(table: &[(u64, u32)]) -> Vec<UmiGroup> {
    let mut order: Vec<usize> = (0..table.len()).collect();
    order.sort_unstable_by(|&a, &b| table[b].1.cmp(&table[a].1).then(table[a].0.cmp(&table[b].0)));
    let mut taken = vec![false; table.len()];
    let mut out = Vec::new();
    for &root in &order {
        if taken[root] {
            continue;
        }
        taken[root] = true;
        let mut members = vec![root];
        let mut reads = table[root].1;
        let mut next = 0;
        while next < members.len() {
            let a = members[next];
            next += 1;
            let count_a = table[a].1 as u64;
            umi_neighbours(table[a].0, &mut |v| {
                if let Ok(b) = table.binary_search_by_key(&v, |e| e.0) {
                    if !taken[b] && count_a + 1 >= 2 * table[b].1 as u64 {
                        taken[b] = true;
                        reads += table[b].1;
                        members.push(b);
                    }
                }
            });
        }
        out.push((root, members, reads));
    }
    out
}

/// The molecules of a sorted table: its directional groups, then each UMI of a single
/// read left alone that is two substitutions from the UMI of a group of enough reads
/// (`UmiModel::far_join_reads`: where two errors in one UMI are likelier than another
/// molecule) joins the largest such group. Groups in `directional` order, and how
/// many UMIs joined one two substitutions away.
pub fn group_umis(table: &[(u64, u32)], model: &UmiModel) -> (Vec<UmiGroup>, usize) {
    join_far_umis(table, directional(table), model)
}

/// `group_umis` from the table's `directional` groups, already made.
pub fn join_far_umis(
    table: &[(u64, u32)],
    mut groups: Vec<UmiGroup>,
    model: &UmiModel,
) -> (Vec<UmiGroup>, usize) {
    let length = table.first().map_or(0, |e| umi_length(e.0));
    let Some(min_reads) = model.far_join_reads(groups.len(), length) else {
        return (groups, 0);
    };
    let absorbers: Vec<usize> = (0..groups.len())
        .take_while(|&g| table[groups[g].0].1 as f64 >= min_reads)
        .collect();
    let mut joined = vec![false; groups.len()];
    let mut grown = vec![false; groups.len()];
    for g in 0..groups.len() {
        let (root, ref members, reads) = groups[g];
        if reads != 1 || members.len() != 1 || grown[g] {
            continue;
        }
        let umi = table[root].0;
        let into = absorbers.iter().copied().find(|&a| {
            let other = table[groups[a].0].0;
            a != g && !joined[a] && umi_length(other) == length && umi_distance(other, umi) == 2
        });
        if let Some(a) = into {
            groups[a].1.push(root);
            groups[a].2 += 1;
            joined[g] = true;
            grown[a] = true;
        }
    }
    let mut k = 0;
    groups.retain(|_| {
        k += 1;
        !joined[k - 1]
    });
    let far = joined.iter().filter(|&&j| j).count();
    (groups, far)
}

/// `molecules_of_groups` from the table alone.
#[cfg(test)]
fn molecules(table: &[(u64, u32)], min_reads: u32, model: &UmiModel) -> Molecules {
    molecules_of_groups(table, directional(table), min_reads, model)
}

/// The molecules of a sorted table from its `directional` groups (then `join_far_umis`),
/// those of fewer than `min_reads` reads dropped, and the molecules hidden by
/// collisions among the kept ones.
pub fn molecules_of_groups(
    table: &[(u64, u32)],
    directional_groups: Vec<UmiGroup>,
    min_reads: u32,
    model: &UmiModel,
) -> Molecules {
    let (groups, far) = join_far_umis(table, directional_groups, model);
    let mut result = Molecules {
        umis: table.len(),
        umis_merged: table.len() - groups.len(),
        umis_merged_far: far,
        reads: table.iter().map(|e| e.1 as u64).sum(),
        ..Default::default()
    };
    for (root, _, reads) in &groups {
        if *reads >= min_reads {
            result.molecules.push((table[*root].0, *reads));
        } else {
            result.dropped += 1;
            result.dropped_reads += *reads as u64;
        }
    }
    let length = table.first().map_or(0, |e| umi_length(e.0));
    if !groups.is_empty() {
        let kept = result.molecules.len() as f64 / groups.len() as f64;
        let (hidden, crowded) = model.hidden_molecules(groups.len(), length);
        result.hidden = hidden * kept;
        result.crowded = crowded;
    }
    result
        .molecules
        .sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> u64 {
        pack_umi(s.as_bytes()).unwrap()
    }

    #[test]
    fn sources_parse_and_umis_pack() {
        assert_eq!(UmiSource::parse("r1:12"), Some(UmiSource::R1(12)));
        assert_eq!(UmiSource::parse("r2:8").unwrap().key(), "r2:8");
        for bad in ["r1:0", "r1:32", "r3:8", "r1", "names", "r1:x"] {
            assert_eq!(UmiSource::parse(bad), None, "{bad}");
        }
        assert_eq!(unpack_umi(u("ACGTTGCA")), b"ACGTTGCA".to_vec());
        assert_ne!(u("AAC"), u("AC"));
        assert_eq!(pack_umi(b"ACNT"), None);
        assert_eq!(pack_umi(&[b'A'; 32]), None);
        assert_eq!(unpack_umi(u(&"T".repeat(31))).len(), 31);
        let mut n = 0;
        umi_neighbours(u("ACG"), &mut |v| {
            n += 1;
            assert_eq!(unpack_umi(v).len(), 3);
        });
        assert_eq!(n, 9);
    }

    #[test]
    fn umis_are_read_from_names() {
        let name = UmiSource::Name;
        assert_eq!(umi_of_name(b"SRR1.7_ACGTAC 1:N:0:1", &name), Some(u("ACGTAC")));
        assert_eq!(umi_of_name(b"read_1_GGTT", &name), Some(u("GGTT")));
        assert_eq!(umi_of_name(b"read1 x_ACGT", &name), None);
        assert_eq!(umi_of_name(b"read_ACNT", &name), None);
        let ill = UmiSource::Illumina;
        let id = b"M001:12:000-AB:1:1101:1558:1332:TTACGGAC 1:N:0:ATCACG";
        assert_eq!(umi_of_name(id, &ill), Some(u("TTACGGAC")));
        assert_eq!(
            umi_of_name(b"M001:12:000-AB:1:1101:1558:1332:AC+GT", &ill),
            Some(u("ACGT"))
        );
        assert_eq!(
            umi_of_name(b"M001:12:000-AB:1:1101:1558:1332 1:N:0:1", &ill),
            None
        );
    }

    #[test]
    fn bases_of_a_mate_are_the_umi_and_trimmed_with_the_spacer() {
        let mut batch = Batch::default();
        batch.push(b"a", b"ACGTTTGGGCCCAAA", b"IIIIIIIIIIIIIII");
        batch.push(b"b", b"ACGTAAGGGCCC", b"IIIIIIIIIIII"); // spacer mismatch
        batch.push(b"c", b"ACG", b"III"); // too short
        let p = UmiParams {
            source: Some(UmiSource::R1(4)),
            spacer: b"TT".to_vec(),
            ..Default::default()
        };
        let (out, umis) = extract(&batch, &p);
        assert_eq!(umis, vec![Some(u("ACGT")), None, None]);
        assert_eq!(out.seq(0), b"GGGCCCAAA");
        assert_eq!(out.qual(0).len(), 9);
        assert_eq!(out.seq(1), b"ACGTAAGGGCCC");
        // r2: the second mate is trimmed, the UMI taken once per pair.
        let mut pair = Batch::default();
        pair.push(b"p", b"CCCCCC", b"IIIIII");
        let mut mates = Batch::default();
        mates.push(b"p", b"GGATTTAAAA", b"IIIIIIIIII");
        pair.mates = Some(Box::new(mates));
        let p2 = UmiParams {
            source: Some(UmiSource::R2(4)),
            ..p
        };
        let (out, umis) = extract(&pair, &p2);
        assert_eq!(umis, vec![Some(u("GGAT"))]);
        assert_eq!(out.seq(0), b"CCCCCC");
        assert_eq!(out.mates.as_ref().unwrap().seq(0), b"AAAA");
    }

    #[test]
    fn directional_grouping_merges_umi_errors_into_abundant_umis_only() {
        // AAAA 10 reads; AAAC 1 read (error of AAAA: 10 >= 2*1-1); AAGA 6 reads (not: 10 < 11);
        // AAGC 3 reads (error of AAGA: 6 >= 5); CCCC 1 read.
        let mut table = vec![
            (u("AAAA"), 10),
            (u("AAAC"), 1),
            (u("AAGA"), 6),
            (u("AAGC"), 3),
            (u("CCCC"), 1),
        ];
        table.sort();
        let none = UmiModel::default();
        let m = molecules(&table, 1, &none);
        assert_eq!(m.molecules, vec![(u("AAAA"), 11), (u("AAGA"), 9), (u("CCCC"), 1)]);
        assert_eq!((m.umis, m.umis_merged, m.dropped), (5, 2, 0));
        let m = molecules(&table, 2, &none);
        assert_eq!(m.molecules.len(), 2);
        assert_eq!((m.dropped, m.dropped_reads), (1, 1));
        // The groups behind them: the same molecules, with their UMIs.
        let (g, far) = group_umis(&table, &none);
        assert_eq!(far, 0);
        let named: Vec<(u64, usize, u32)> = g.iter().map(|(r, m, n)| (table[*r].0, m.len(), *n)).collect();
        assert_eq!(
            named,
            vec![(u("AAAA"), 2, 11), (u("AAGA"), 2, 9), (u("CCCC"), 1, 1)]
        );
    }

    #[test]
    fn tables_merge_share_and_stay_under_budget() {
        let (a, b, c) = (1u128, 2u128, 3u128);
        let mut t = UmiTables::new(8);
        t.add(&batch_counts(vec![
            (a, u("AAAA")),
            (a, u("AAAA")),
            (a, u("CCCC")),
            (b, u("AAAA")),
            (c, u("GGGG")),
            (c, u("TTTT")),
        ]));
        t.add(&batch_counts(vec![(a, u("GGGG")), (a, u("AAAA"))]));
        assert_eq!(t.tables[&a], vec![(u("AAAA"), 3), (u("CCCC"), 1), (u("GGGG"), 1)]);
        assert_eq!(t.entries, 6);
        assert_eq!(t.shares(b, a), Some(true));
        assert_eq!(t.shares(c, a), Some(true)); // GGGG shared, TTTT not: half counts as shared
        t.add(&batch_counts(vec![(c, u("ACAC")), (c, u("CACA"))]));
        assert_eq!(t.shares(c, a), Some(false));
        t.absorb(a, b);
        assert_eq!(t.tables[&a][0], (u("AAAA"), 4));
        assert!(!t.tables.contains_key(&b));
        let mut stats: WindowMap<WindowStat> = WindowMap::default();
        for w in [a, c] {
            stats.insert(
                w,
                WindowStat {
                    reads: 1,
                    ..Default::default()
                },
            );
        }
        t.add(&batch_counts(
            (0..6).map(|k| (10 + k as u128, u("ACGT"))).collect(),
        ));
        t.enforce_budget(&mut stats);
        assert!(t.entries <= 6, "{}", t.entries);
        assert!(t.tables.contains_key(&a));
        assert!(t.evicted_tables >= 6);
        // An evicted window gets no table again; its stats keep what the table held.
        assert!(!t.tables.contains_key(&10) && t.evicted.contains_key(&10));
        t.add(&batch_counts(vec![(10, u("ACGT")), (a, u("TTTT"))]));
        assert!(!t.tables.contains_key(&10) && t.tables[&a].len() == 4);
        assert_eq!((stats[&c].umi_lost, stats[&c].umi_lost_reads), (4, 4));
    }

    /// A tiny deterministic generator for the tests (xorshift).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        /// 1 + a geometric number of mean `mean - 1` (reads of a molecule).
        fn reads(&mut self, mean: f64) -> u32 {
            let p = 1.0 / mean;
            let x = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
            1 + ((1.0 - x).ln() / (1.0 - p).ln()) as u32
        }
    }

    #[test]
    fn a_single_read_umi_two_errors_away_joins_an_abundant_umi_of_a_sparse_clone_only() {
        let model = UmiModel {
            error_rate: 0.002,
            single_read_share: 0.17,
            neighbour_loss: 0.8,
        };
        // AAAAAAAAAAAA of 20 reads; AAAAAAAAAACC (two errors) and CCCCCCCCCCCC once.
        let mut table = vec![
            (u("AAAAAAAAAAAA"), 20),
            (u("AAAAAAAAAACC"), 1),
            (u("CCCCCCCCCCCC"), 1),
        ];
        table.sort();
        let m = molecules(&table, 1, &model);
        assert_eq!(m.molecules, vec![(u("AAAAAAAAAAAA"), 21), (u("CCCCCCCCCCCC"), 1)]);
        assert_eq!((m.umis_merged, m.umis_merged_far), (1, 1));
        // Without an error rate seen: apart.
        assert_eq!(molecules(&table, 1, &UmiModel::default()).molecules.len(), 3);
        // Two single reads two substitutions apart in a clone of a few molecules: one
        // molecule (two errors in a UMI are likelier than another molecule there).
        table[0].1 = 1;
        assert_eq!(molecules(&table, 1, &model).molecules.len(), 2);
        // A clone so dense that a UMI two substitutions away is likely another molecule:
        // apart (the absorber would need more reads than it has).
        let mut rng = Rng(7);
        let mut dense: Vec<(u64, u32)> = (0..200_000)
            .map(|_| ((1u64 << 24) | (rng.next() & 0xff_ffff), 5))
            .collect();
        dense.push((u("AAAAAAAAAAAA"), 20));
        dense.push((u("AAAAAAAAAACC"), 1));
        dense.sort();
        dense.dedup_by_key(|e| e.0);
        let (groups, far) = group_umis(&dense, &model);
        assert_eq!(far, 0);
        assert!(groups.iter().any(|g| table_umi(&dense, g.0) == u("AAAAAAAAAACC")));
    }

    fn table_umi(table: &[(u64, u32)], i: usize) -> u64 {
        table[i].0
    }

    #[test]
    fn molecules_hidden_by_collisions_bring_a_dense_clone_back_to_its_true_count() {
        // Molecules of one clone on random UMIs of `bits / 2` bases, 1 + geometric reads
        // each, no UMI errors: the directional groups lose the molecules sharing or
        // neighbouring a UMI; the hidden ones bring them back.
        for (n, bits, lost) in [(40_000, 24, 0.02), (30_000, 22, 0.05), (30_000, 20, 0.2)] {
            let mut rng = Rng(2121);
            let mut reads: FastMap<u64, u32> = FastMap::default();
            for _ in 0..n {
                let umi = (1u64 << bits) | (rng.next() & ((1 << bits) - 1));
                *reads.entry(umi).or_default() += rng.reads(6.0);
            }
            let mut table: Vec<(u64, u32)> = reads.into_iter().collect();
            table.sort();
            let model = UmiModel::estimate(&[TableSummary::of(&table, &directional(&table))]);
            assert!(
                model.neighbour_loss > 0.5 && model.neighbour_loss < 1.0,
                "{model:?}"
            );
            let m = molecules(&table, 1, &model);
            let seen = m.molecules.len() as f64;
            assert!(seen < (1.0 - lost) * n as f64, "{seen} of {n}");
            let counted = m.count() as f64;
            assert!(
                (counted - n as f64).abs() < 0.02 * n as f64,
                "{counted} for {n} ({seen} seen)"
            );
        }
        // A sparse clone: nothing hidden.
        let model = UmiModel {
            neighbour_loss: 0.8,
            ..Default::default()
        };
        assert!(model.hidden_molecules(50, 12).0 < 0.01);
        assert_eq!(model.hidden_molecules(0, 12), (0.0, false));
        // 8-nt UMIs: 1,000 groups hide a few molecules; 2,000 more than 30%
        // (crowded); 60,000 are more than the UMIs can show (crowded, nothing added).
        assert!(!model.hidden_molecules(1_000, 8).1);
        assert!(model.hidden_molecules(2_000, 8).1);
        assert_eq!(model.hidden_molecules(60_000, 8), (0.0, true));
    }

    #[test]
    fn the_error_rate_comes_from_the_umis_merged_in_sparse_clones() {
        // 100 molecules of 10 reads on 12-nt UMIs, one read in 50 with an error.
        let mut rng = Rng(99);
        let mut reads: FastMap<u64, u32> = FastMap::default();
        for _ in 0..100 {
            let umi = (1u64 << 24) | (rng.next() & 0xff_ffff);
            for r in 0..10 {
                let read = if (rng.next() % 50) == 0 {
                    umi ^ (1 << (2 * (r % 12)))
                } else {
                    umi
                };
                *reads.entry(read).or_default() += 1;
            }
        }
        let mut table: Vec<(u64, u32)> = reads.into_iter().collect();
        table.sort();
        let model = UmiModel::estimate(&[TableSummary::of(&table, &directional(&table))]);
        // About 1/50 of the reads carry an error somewhere in 12 bases.
        let per_read = model.error_rate * 12.0;
        assert!(per_read > 0.005 && per_read < 0.05, "{model:?}");
        assert_eq!(model.single_read_share, 0.0);
    }

    #[test]
    fn a_single_read_window_joins_the_closest_alike_clone() {
        let clone = b"ACGTTGCAAGGCTTACCGATAGGCATCGATTACGGCTAAGCTTCGATCGA";
        let near: Vec<u8> = {
            // Two substitutions and a shift of 3.
            let mut w = clone[3..].to_vec();
            w.extend_from_slice(b"TTT");
            w[10] = if w[10] == b'A' { b'C' } else { b'A' };
            w[20] = if w[20] == b'A' { b'C' } else { b'A' };
            w
        };
        let mut far = near.clone();
        far[30] = if far[30] == b'A' { b'C' } else { b'A' };
        let key = |w: &[u8]| crate::clones::pack_window(w);
        let mut stats: WindowMap<WindowStat> = WindowMap::default();
        let stat = |reads| WindowStat {
            reads,
            ..Default::default()
        };
        stats.insert(key(clone), stat(20));
        stats.insert(key(&near), stat(1));
        stats.insert(key(&far), stat(1));
        let mut tables = UmiTables::new(1000);
        let merges = merge_single_reads(&mut stats, &mut tables);
        assert_eq!(merges, vec![(key(clone), key(&near))]);
        assert_eq!(stats[&key(clone)].reads, 21);
        assert!(!stats[&key(&far)].merged);
        // Three reads of one molecule (a PCR error early on) join it too; three reads
        // of three molecules (a clone of its own) do not.
        let mut pcr = clone.to_vec();
        pcr[25] = b'A'; // a T in the clone
        let mut other = pcr.clone();
        other[40] = if other[40] == b'A' { b'C' } else { b'A' };
        for (w, umis) in [
            (&pcr, ["ACGTACGTACGT"; 3]),
            (&other, ["ACGTACGTACGT", "TTTTGGGGCCCC", "GAGAGAGATCTC"]),
        ] {
            stats.insert(key(w), stat(3));
            tables.add(&batch_counts(umis.iter().map(|x| (key(w), u(x))).collect()));
        }
        let merges = merge_single_reads(&mut stats, &mut tables);
        assert_eq!(merges, vec![(key(clone), key(&pcr))]);
        // A clone of fewer reads absorbs nothing.
        let mut small: WindowMap<WindowStat> = WindowMap::default();
        small.insert(key(clone), stat(UMI_ABSORBER_READS - 1));
        small.insert(key(&near), stat(1));
        assert!(merge_single_reads(&mut small, &mut tables).is_empty());
    }

    #[test]
    fn a_window_of_another_system_made_of_three_molecules_of_a_clone_joins_it() {
        let key = |w: &[u8]| crate::clones::pack_window(w);
        let (vdj, dj, other) = (
            key(b"ACGTTGCAAGGCTTACCGATAGGCATCGATTACGG"),
            key(b"TTTTCCCCGGGGAAAATTTTCCCCGGGGAAAATTT"),
            key(b"GGGGAAAACCCCTTTTGGGGAAAACCCCTTTTGGG"),
        );
        let umis = [
            "AAAACCCC", "AAAAGGGG", "AAAATTTT", "CCCCAAAA", "CCCCGGGG", "GGGGTTTT",
        ];
        let mut stats: WindowMap<WindowStat> = WindowMap::default();
        let mut tables = UmiTables::new(1000);
        let mut add = |w: u128, system: u16, reads: &[&str]| {
            stats.insert(
                w,
                WindowStat {
                    reads: reads.len() as u32,
                    system,
                    ..Default::default()
                },
            );
            tables.add(&batch_counts(reads.iter().map(|x| (w, u(x))).collect()));
        };
        // The clone: 30 reads of its six molecules; a D-J window (another system) of
        // three of them and one more; another window of one of them and one of its own.
        let reads: Vec<&str> = umis.iter().cycle().take(30).copied().collect();
        add(vdj, 0, &reads);
        add(dj, 1, &umis[..3]);
        add(dj, 1, &["TTTTAAAA"]);
        add(other, 1, &[umis[3], "TTTTGGGG"]);
        stats.get_mut(&dj).unwrap().reads = 4;
        let merges = merge_shared_umis(&mut stats, &mut tables);
        assert_eq!(merges, vec![(vdj, dj)]);
        assert!(!stats[&other].merged);
        assert_eq!(tables.tables[&vdj].len(), 7);
    }
}
