//! First pass on one read: label its k-mers, pick strand and system, find the
//! V|J breakpoint, check both sides against chance, and cut the window.

use crate::evalue::LnFactorial;
use crate::germline::{Germline, MAX_SYSTEMS};
use crate::index::{label_bit, KmerIndex, FORWARD, REVERSE, SIDE_J, SIDE_V};
use crate::nuc::{revcomp_into, NOT_ACGT};
use crate::seed::encode;

/// Why a read was not detected. The order is the order of the reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    TooShort = 0,
    Strand,
    TooFewVJ,
    OnlyV,
    OnlyJ,
    Ambiguous,
    TooShortForWindow,
    NInWindow,
}

pub const N_REASONS: usize = 8;

impl Reason {
    pub const ALL: [Reason; N_REASONS] = [
        Reason::TooShort,
        Reason::Strand,
        Reason::TooFewVJ,
        Reason::OnlyV,
        Reason::OnlyJ,
        Reason::Ambiguous,
        Reason::TooShortForWindow,
        Reason::NInWindow,
    ];

    /// Stable key used in every output.
    pub fn key(self) -> &'static str {
        match self {
            Reason::TooShort => "too-short",
            Reason::Strand => "strand-inconsistent",
            Reason::TooFewVJ => "too-few-vj",
            Reason::OnlyV => "only-v",
            Reason::OnlyJ => "only-j",
            Reason::Ambiguous => "ambiguous",
            Reason::TooShortForWindow => "too-short-for-window",
            Reason::NInWindow => "n-in-window",
        }
    }

    /// Vidjil-style label.
    pub fn label(self) -> &'static str {
        match self {
            Reason::TooShort => "UNSEG too short",
            Reason::Strand => "UNSEG strand",
            Reason::TooFewVJ => "UNSEG too few V/J",
            Reason::OnlyV => "UNSEG only V/5'",
            Reason::OnlyJ => "UNSEG only J/3'",
            Reason::Ambiguous => "UNSEG ambiguous",
            Reason::TooShortForWindow => "UNSEG too short w",
            Reason::NInWindow => "UNSEG N in window",
        }
    }
}

#[derive(Clone, Debug)]
pub struct DetectParams {
    pub window: usize,
    pub min_window: usize,
    /// Maximal e-value of each side (`-e`).
    pub max_evalue: f64,
    /// Also report recombinations between genes of two different loci.
    pub unexpected: bool,
    /// Rescue step: a read with only one side found is sampled again at the other
    /// sampling phases (every position of the read is then looked up).
    pub rescue: bool,
}

impl Default for DetectParams {
    fn default() -> Self {
        DetectParams {
            window: 50,
            min_window: 30,
            max_evalue: 1.0,
            unexpected: false,
            rescue: true,
        }
    }
}

/// Multiplier of the e-value of a system whose recombination is incomplete or unusual.
pub const INCOMPLETE_PENALTY: f64 = 1e3;
/// Multiplier of the e-value of a recombination between two loci.
pub const UNEXPECTED_PENALTY: f64 = 1e6;
/// Two systems of different loci whose e-values are closer than this factor: ambiguous.
const AMBIGUITY_FACTOR: f64 = 10.0;

/// k-mers are looked up at every STRIDE-th position; a table is used for a read
/// when at least PROBE_MIN_HITS of them pass its presence filter, and
/// PROBE_CHANCE_FACTOR times what a random sequence would show.
const STRIDE: usize = 4;
/// The rescue tries the other STRIDE - 1 sampling phases: the e-values of a read
/// detected there are multiplied by the STRIDE phases tried (Bonferroni), each of
/// its sides needs RESCUE_MIN_HITS sampled hits (one k-mer near an end of the read
/// is the commonest chance hit) and an e-value RESCUE_STRICTNESS times below `-e`.
/// Measured on simulated reads (bench/rescue_sim.py): V or J alone followed by
/// random sequence reach 0.03 in a rescue phase, rescued recombinations mostly
/// stay below 0.003.
const PHASES: usize = STRIDE;
const RESCUE_MIN_HITS: usize = 2;
const RESCUE_STRICTNESS: f64 = 100.0;

/// How one pass over a read samples and judges it: the first pass, or a rescue phase.
#[derive(Clone, Copy, Debug)]
struct Pass {
    /// k-mers start at phase, phase + STRIDE, ...
    phase: usize,
    /// Every e-value is multiplied by the sampling phases tried.
    tries: f64,
    /// Fewest sampled hits of a side that passes.
    min_hits: usize,
    /// A side passes when its e-value is at most `-e` / strictness.
    strictness: f64,
}

const FIRST_PASS: Pass = Pass {
    phase: 0,
    tries: 1.0,
    min_hits: 1,
    strictness: 1.0,
};
/// Sampled k-mer positions among `positions`.
fn grid(positions: usize) -> usize {
    positions.div_ceil(STRIDE)
}

/// Distinct seeds of the selected systems (16 systems at most, 4 seeds in Vidjil presets).
const MAX_TABLES: usize = 16;
const PROBE_MIN_HITS: f64 = 2.0;
const PROBE_CHANCE_FACTOR: f64 = 2.0;
/// A system with fewer than 1/SUPPORT_RATIO of the best system's k-mers is not fitted.
const SUPPORT_RATIO: u32 = 8;

/// System index reported for recombinations between two loci.
pub const UNEXPECTED: usize = usize::MAX;

#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// Index of the system, or `UNEXPECTED`.
    pub system: usize,
    /// For unexpected recombinations: systems giving the 5' and 3' genes.
    pub pair: Option<(usize, usize)>,
    pub reverse: bool,
    /// V|J breakpoint, 0-based, on the V->J strand.
    pub breakpoint: usize,
    /// Window start and length on the V->J strand.
    pub window_start: usize,
    pub window_len: usize,
    /// The window had to be shifted or shrunk to fit in the read (W50).
    pub shifted: bool,
    pub evalue: f64,
    pub evalue_v: f64,
    pub evalue_j: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Detected(Detection),
    Undetected(Reason),
}

/// Per-thread buffers, reused from read to read.
#[derive(Default)]
pub struct Scratch {
    codes: Vec<u8>,
    hits: Vec<Vec<(u32, u64)>>,
    sparse: Vec<Vec<(u32, u32)>>,
    packed: Vec<u64>,
    run: Vec<u32>,
    labels: Vec<(usize, bool)>,
    ids: Vec<u8>,
    merged: Vec<(u32, u64)>,
    /// The read on the V->J strand, upper case, filled by `orient` when needed.
    pub oriented: Vec<u8>,
}

pub struct Detector<'a> {
    index: &'a KmerIndex,
    germline: &'a Germline,
    params: DetectParams,
    lnf: LnFactorial,
    /// Label bits with V and J of the same system and strand removed (ambiguous k-mers).
    clean_sets: Vec<u64>,
    n_systems: f64,
    min_span: usize,
}

/// Result of the breakpoint search for one system.
#[derive(Clone, Copy, Debug, Default)]
struct Fit {
    /// Start of the last left k-mer and of the first right k-mer, read coordinates.
    last_left: usize,
    first_right: usize,
    left_span: usize,
    e_left: f64,
    e_right: f64,
    /// Sampled hits counted on each side.
    k_left: usize,
    k_right: usize,
}

impl Fit {
    /// A side with fewer than `min_hits` hits does not pass.
    fn with_min_hits(self, min_hits: usize) -> Fit {
        let cut = |e: f64, k: usize| if k < min_hits { f64::INFINITY } else { e };
        Fit {
            e_left: cut(self.e_left, self.k_left),
            e_right: cut(self.e_right, self.k_right),
            ..self
        }
    }
}

impl<'a> Detector<'a> {
    pub fn new(index: &'a KmerIndex, germline: &'a Germline, params: DetectParams) -> Detector<'a> {
        let v_plus: u64 = (0..16).map(|s| label_bit(s, SIDE_V, FORWARD)).sum();
        let v_minus: u64 = (0..16).map(|s| label_bit(s, SIDE_V, REVERSE)).sum();
        let clean_sets = index
            .label_sets
            .iter()
            .map(|&m| {
                let amb = (m & (m >> 2)) & (v_plus | v_minus);
                m & !(amb | (amb << 2))
            })
            .collect();
        let min_span = index.tables.iter().map(|t| t.seed.span).min().unwrap_or(10);
        Detector {
            index,
            germline,
            params,
            lnf: LnFactorial::new(),
            clean_sets,
            n_systems: germline.systems.len() as f64,
            min_span,
        }
    }

    pub fn detect(&self, read: &[u8], scratch: &mut Scratch) -> Outcome {
        let len = read.len();
        if len < self.params.min_window.max(2 * self.min_span) {
            return Outcome::Undetected(Reason::TooShort);
        }
        encode(read, &mut scratch.codes);
        scratch.hits.resize_with(self.index.tables.len(), Vec::new);
        // One pass over the read: for each table, the k-mers starting at every
        // STRIDE-th position (x holds the last 32 bases; each seed reads its key
        // from the low bits), kept when the table's small presence filter may
        // hold them. Statistics are computed on this sample; the breakpoint is
        // refined at every position afterwards.
        // x and the count of consecutive A/C/G/T bases ending at each position.
        let (packed, run) = (&mut scratch.packed, &mut scratch.run);
        packed.resize(len, 0);
        run.resize(len, 0);
        let (mut x, mut valid) = (0u64, 0u32);
        for ((&c, p), r) in scratch.codes.iter().zip(packed.iter_mut()).zip(run.iter_mut()) {
            let acgt = c < NOT_ACGT;
            // Branch-free: a non-ACGT code resets the k-mer and the run.
            x = ((x << 2) | (c & 3) as u64) * acgt as u64;
            valid = (valid + 1) * acgt as u32;
            *p = x;
            *r = valid;
        }
        let first = self.classify(read, scratch, FIRST_PASS);
        if !self.params.rescue || !matches!(first, Outcome::Undetected(Reason::OnlyV | Reason::OnlyJ)) {
            return first;
        }
        // Rescue: one side was found, the other may hide between the sampled
        // positions (a short or mutated side). The other phases look up every
        // remaining position; the first phase that detects the read wins, its
        // e-values multiplied by the phases tried.
        for phase in 1..PHASES {
            let pass = Pass {
                phase,
                tries: PHASES as f64,
                min_hits: RESCUE_MIN_HITS,
                strictness: RESCUE_STRICTNESS,
            };
            let outcome = self.classify(read, scratch, pass);
            if matches!(outcome, Outcome::Detected(_)) {
                return outcome;
            }
        }
        first
    }

    /// Detection of a read whose codes and packed k-mers are in `scratch`, from
    /// the k-mers sampled and judged as `pass` says.
    fn classify(&self, read: &[u8], scratch: &mut Scratch, pass: Pass) -> Outcome {
        let len = read.len();
        let Pass {
            phase,
            tries,
            min_hits,
            strictness,
        } = pass;
        let tables = &self.index.tables;
        let (packed, run) = (&scratch.packed, &scratch.run);
        let mut sampled = [0u32; MAX_TABLES];
        scratch.sparse.resize_with(tables.len(), Vec::new);
        for (t, table) in tables.iter().enumerate() {
            let span = table.seed.span;
            let keys = &mut scratch.sparse[t];
            keys.clear();
            keys.resize(len / STRIDE + 2, (0, 0));
            let mut kept = 0;
            // k-mers starting at phase + multiples of STRIDE end at span-1+phase, span-1+phase+STRIDE, ...
            for i in (span - 1 + phase..len).step_by(STRIDE) {
                if run[i] as usize >= span {
                    // Written whatever the filter says, kept by moving on: no
                    // branch waits on the filter's memory.
                    let key = table.seed.key(packed[i]);
                    keys[kept] = ((i + 1 - span) as u32, key as u32);
                    kept += table.filter.may_contain(key) as usize;
                    sampled[t] += 1;
                }
            }
            keys.truncate(kept);
        }
        // Hits per label bit (system, side, strand).
        let mut counts = [0u32; 64];
        for (t, table) in tables.iter().enumerate() {
            let hits = &mut scratch.hits[t];
            hits.clear();
            // Skip a table that shows no more germline k-mers than chance would.
            let keys = &scratch.sparse[t];
            let chance = PROBE_CHANCE_FACTOR * sampled[t] as f64 * table.filter.load;
            if (keys.len() as f64) < chance.max(PROBE_MIN_HITS) {
                continue;
            }
            // The loads in a tight loop without branches, so that the cache
            // misses of a large table overlap instead of queueing.
            let ids = &mut scratch.ids;
            ids.clear();
            ids.extend(keys.iter().map(|&(_, k)| table.table.get(k as usize)));
            let sets = &self.clean_sets;
            for (&(pos, _), &id) in keys.iter().zip(ids.iter()) {
                if id != 0 {
                    let mut m = sets[id as usize];
                    hits.push((pos, m));
                    while m != 0 {
                        counts[m.trailing_zeros() as usize] += 1;
                        m &= m - 1;
                    }
                }
            }
        }
        // Best fit of each system on each strand. The split point is chosen among
        // the sampled positions of the read, so the e-value is corrected by their number.
        // At most 2 strands x 16 systems: on the stack.
        let mut passing_buffer = [(0f64, 0usize, Fit::default(), 0usize); 2 * MAX_SYSTEMS];
        let mut n_passing = 0;
        let mut only_v = [false; 2];
        let mut only_j = [false; 2];
        let mut hits_per_strand = [0u32; 2];
        for (b, &c) in counts.iter().enumerate() {
            hits_per_strand[b % 2] += c;
        }
        if hits_per_strand[0] + hits_per_strand[1] == 0 {
            return Outcome::Undetected(Reason::TooFewVJ);
        }
        // Systems with far fewer germline k-mers than the best one cannot win:
        // their breakpoint is not searched (their one-sided evidence still counts).
        let support = |s: usize, strand: usize| {
            counts[label_bit(s, SIDE_V, strand).trailing_zeros() as usize]
                + counts[label_bit(s, SIDE_J, strand).trailing_zeros() as usize]
        };
        let best_support = (0..self.germline.systems.len())
            .flat_map(|s| [support(s, FORWARD), support(s, REVERSE)])
            .max()
            .unwrap_or(0);
        for strand in [FORWARD, REVERSE] {
            let reverse = strand == REVERSE;
            for (s, system) in self.germline.systems.iter().enumerate() {
                let v_bit = label_bit(s, SIDE_V, strand);
                let j_bit = label_bit(s, SIDE_J, strand);
                if support(s, strand) * SUPPORT_RATIO < best_support {
                    continue;
                }
                let (left, right) = if reverse { (j_bit, v_bit) } else { (v_bit, j_bit) };
                let table = self.index.system_table[s];
                let span = self.index.tables[table].seed.span;
                let multiplier = tries * self.n_systems * grid((len + 1).saturating_sub(span)) as f64;
                let Some(fit) = self.fit(
                    &scratch.hits[table],
                    left,
                    right,
                    span,
                    span,
                    len,
                    &counts,
                    multiplier,
                ) else {
                    continue;
                };
                let fit = fit.with_min_hits(min_hits);
                let (e_v, e_j) = if reverse {
                    (fit.e_right, fit.e_left)
                } else {
                    (fit.e_left, fit.e_right)
                };
                // Incomplete systems need stronger evidence, and lose ties to complete ones.
                let penalty = if system.incomplete {
                    INCOMPLETE_PENALTY
                } else {
                    1.0
                };
                let max = self.params.max_evalue / penalty / strictness;
                if e_v <= max && e_j <= max {
                    passing_buffer[n_passing] = ((e_v + e_j) * penalty, s, fit, strand);
                    n_passing += 1;
                } else if e_v <= max {
                    only_v[strand] = true;
                } else if e_j <= max {
                    only_j[strand] = true;
                }
            }
        }

        let passing = &mut passing_buffer[..n_passing];
        if passing.is_empty() {
            let strand = if hits_per_strand[1] > hits_per_strand[0] {
                REVERSE
            } else {
                FORWARD
            };
            if self.params.unexpected {
                if let Some((_, fit, pair)) = self.unexpected(scratch, read, &counts, strand, pass) {
                    let (left, right) = self.sides(pair.0, pair.1, strand);
                    let fit = self.refine(scratch, fit, left, right);
                    return self.finish(read, scratch, UNEXPECTED, Some(pair), strand == REVERSE, fit);
                }
            }
            let any_v = only_v[0] || only_v[1];
            let any_j = only_j[0] || only_j[1];
            return Outcome::Undetected(if (only_v[0] && only_j[1]) || (only_v[1] && only_j[0]) {
                Reason::Strand
            } else if any_v && !any_j {
                Reason::OnlyV
            } else if any_j && !any_v {
                Reason::OnlyJ
            } else {
                Reason::TooFewVJ
            });
        }
        passing.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.3.cmp(&b.3)).then(a.1.cmp(&b.1)));
        let (best_e, s, fit, strand) = passing[0];
        if self.params.unexpected {
            // A weak fit in one system loses to a much stronger V and J of two loci.
            if let Some((e, u_fit, pair)) = self.unexpected(scratch, read, &counts, strand, pass) {
                if e < best_e {
                    let (left, right) = self.sides(pair.0, pair.1, strand);
                    let u_fit = self.refine(scratch, u_fit, left, right);
                    return self.finish(read, scratch, UNEXPECTED, Some(pair), strand == REVERSE, u_fit);
                }
            }
        }
        let systems = &self.germline.systems;
        for &(other_e, s2, _, strand2) in &passing[1..] {
            if other_e >= best_e * AMBIGUITY_FACTOR {
                break;
            }
            if strand2 != strand {
                return Outcome::Undetected(Reason::Strand);
            }
            let related = systems[s].left_locus == systems[s2].left_locus
                || systems[s].right_locus == systems[s2].right_locus;
            if !related {
                return Outcome::Undetected(Reason::Ambiguous);
            }
        }
        let (left, right) = self.sides(s, s, strand);
        let fit = self.refine(scratch, fit, left, right);
        self.finish(read, scratch, s, None, strand == REVERSE, fit)
    }

    /// (table, label bit) of the left and right sides of a read on `strand`,
    /// with V from system `v` and J from system `j`.
    fn sides(&self, v: usize, j: usize, strand: usize) -> ((usize, u64), (usize, u64)) {
        let v_side = (self.index.system_table[v], label_bit(v, SIDE_V, strand));
        let j_side = (self.index.system_table[j], label_bit(j, SIDE_J, strand));
        if strand == REVERSE {
            (j_side, v_side)
        } else {
            (v_side, j_side)
        }
    }

    /// Breakpoint maximising left labels before it and right labels after it.
    #[allow(clippy::too_many_arguments)]
    fn fit(
        &self,
        hits: &[(u32, u64)],
        left: u64,
        right: u64,
        left_span: usize,
        right_span: usize,
        len: usize,
        counts: &[u32; 64],
        multiplier: f64,
    ) -> Option<Fit> {
        let total_left = counts[left.trailing_zeros() as usize] as usize;
        let total_right = counts[right.trailing_zeros() as usize] as usize;
        if total_left == 0 && total_right == 0 {
            return None;
        }
        let p_left = self.index.load[left.trailing_zeros() as usize];
        let p_right = self.index.load[right.trailing_zeros() as usize];
        let positions = |span: usize| grid((len + 1).saturating_sub(span));
        // One side only (or sides in the wrong order): each side's evidence over the whole read.
        let whole_read = || {
            let side = |k: usize, span: usize, p: f64| {
                if k == 0 {
                    f64::INFINITY
                } else {
                    multiplier * self.lnf.binomial_tail(k, positions(span), p)
                }
            };
            Fit {
                last_left: 0,
                first_right: 0,
                left_span,
                e_left: side(total_left, left_span, p_left),
                e_right: side(total_right, right_span, p_right),
                k_left: total_left,
                k_right: total_right,
            }
        };
        if total_left == 0 || total_right == 0 {
            return Some(whole_read());
        }
        let mut best: i64 = -1;
        let mut best_split = (0usize, 0usize, 0usize, 0usize); // (k_left, last_left_pos, first_right_pos, k_right)
        let mut seen_left = 0usize;
        let mut seen_right = 0usize;
        let mut last_left_pos: Option<usize> = None;
        for &(pos, mask) in hits {
            let is_left = mask & left != 0;
            let is_right = mask & right != 0;
            if !is_left && !is_right {
                continue;
            }
            if is_right {
                if let Some(lp) = last_left_pos {
                    let score = (seen_left + total_right - seen_right) as i64;
                    if score > best {
                        best = score;
                        best_split = (seen_left, lp, pos as usize, total_right - seen_right);
                    }
                }
                seen_right += 1;
            }
            if is_left {
                seen_left += 1;
                last_left_pos = Some(pos as usize);
            }
        }
        if best < 0 {
            // Every right label lies before every left label: at most one side counts.
            let f = whole_read();
            return Some(if f.e_left <= f.e_right {
                Fit {
                    e_right: f64::INFINITY,
                    ..f
                }
            } else {
                Fit {
                    e_left: f64::INFINITY,
                    ..f
                }
            });
        }
        let (k_left, last_left, first_right, k_right) = best_split;
        // Sampled positions up to the last left hit, and from the first right hit.
        let n_left = last_left / STRIDE + 1;
        let n_right = ((len + 1).saturating_sub(right_span) - first_right)
            .div_ceil(STRIDE)
            .max(k_right);
        Some(Fit {
            last_left,
            first_right,
            left_span,
            e_left: multiplier * self.lnf.binomial_tail(k_left, n_left.max(k_left), p_left),
            e_right: multiplier * self.lnf.binomial_tail(k_right, n_right, p_right),
            k_left,
            k_right,
        })
    }

    /// V of one locus joined to J of another (`--unexpected`): the penalised
    /// e-value, the fit and the two systems, when both sides pass.
    fn unexpected(
        &self,
        scratch: &mut Scratch,
        read: &[u8],
        counts: &[u32; 64],
        strand: usize,
        pass: Pass,
    ) -> Option<(f64, Fit, (usize, usize))> {
        let reverse = strand == REVERSE;
        let systems = &self.germline.systems;
        let best_side = |side: usize| {
            (0..systems.len()).max_by_key(|&s| {
                (
                    counts[label_bit(s, side, strand).trailing_zeros() as usize],
                    usize::MAX - s,
                )
            })
        };
        let a = best_side(SIDE_V)?;
        let b = best_side(SIDE_J)?;
        if systems[a].left_locus == systems[b].right_locus {
            return None;
        }
        let v_bit = label_bit(a, SIDE_V, strand);
        let j_bit = label_bit(b, SIDE_J, strand);
        let (ta, tb) = (self.index.system_table[a], self.index.system_table[b]);
        scratch.merged.clear();
        scratch.merged.extend(
            scratch.hits[ta]
                .iter()
                .map(|&(p, m)| (p, m & v_bit))
                .filter(|&(_, m)| m != 0),
        );
        scratch.merged.extend(
            scratch.hits[tb]
                .iter()
                .map(|&(p, m)| (p, m & j_bit))
                .filter(|&(_, m)| m != 0),
        );
        scratch.merged.sort_unstable_by_key(|&(p, m)| (p, m));
        let (span_v, span_j) = (self.index.tables[ta].seed.span, self.index.tables[tb].seed.span);
        let (left, right, ls, rs) = if reverse {
            (j_bit, v_bit, span_j, span_v)
        } else {
            (v_bit, j_bit, span_v, span_j)
        };
        let merged = std::mem::take(&mut scratch.merged);
        let positions = grid((read.len() + 1).saturating_sub(span_v.min(span_j))) as f64;
        let fit = self.fit(
            &merged,
            left,
            right,
            ls,
            rs,
            read.len(),
            counts,
            pass.tries * self.n_systems * self.n_systems * positions,
        );
        scratch.merged = merged;
        let fit = fit?.with_min_hits(pass.min_hits);
        let max = self.params.max_evalue / UNEXPECTED_PENALTY / pass.strictness;
        (fit.e_left <= max && fit.e_right <= max).then_some((
            (fit.e_left + fit.e_right) * UNEXPECTED_PENALTY,
            fit,
            (a, b),
        ))
    }

    /// The breakpoint at every position between the last sampled left hit and
    /// the first sampled right hit: the split there that maximises left labels
    /// before it and right labels after it.
    fn refine(&self, scratch: &mut Scratch, fit: Fit, left: (usize, u64), right: (usize, u64)) -> Fit {
        let codes = &scratch.codes;
        let (a, b) = (fit.last_left, fit.first_right);
        if b <= a + 1 {
            return fit;
        }
        let labels = &mut scratch.labels;
        labels.clear();
        // One scan per table (V and J share it, unless the recombination is unexpected).
        let scans: &[(usize, u64, u64)] = if left.0 == right.0 {
            &[(left.0, left.1, right.1)]
        } else {
            &[(left.0, left.1, 0), (right.0, 0, right.1)]
        };
        for &(table, left_bit, right_bit) in scans {
            let t = &self.index.tables[table];
            let end = (b - 1 + t.seed.span).min(codes.len());
            t.seed.for_each_key(&codes[a + 1..end], |offset, key| {
                let pos = a + 1 + offset;
                // The filter (in cache) spares most loads of the large table.
                if pos < b && t.filter.may_contain(key) {
                    let mask = self.clean_sets[t.table.get(key) as usize];
                    if mask & left_bit != 0 {
                        labels.push((pos, true));
                    }
                    if mask & right_bit != 0 {
                        labels.push((pos, false));
                    }
                }
            });
        }
        labels.sort_unstable();
        // Split before labels[j]: lefts among labels[..j] + rights among labels[j..].
        let rights = labels.iter().filter(|l| !l.1).count();
        let (mut best, mut best_j) = (rights, 0);
        let (mut lefts_before, mut rights_before) = (0, 0);
        for (j, &(_, is_left)) in labels.iter().enumerate() {
            if is_left {
                lefts_before += 1;
            } else {
                rights_before += 1;
            }
            let score = lefts_before + rights - rights_before;
            if score > best {
                (best, best_j) = (score, j + 1);
            }
        }
        let last_left = labels[..best_j].iter().rev().find(|l| l.1).map_or(a, |l| l.0);
        let first_right = labels[best_j..].iter().find(|l| !l.1).map_or(b, |l| l.0);
        Fit {
            last_left,
            first_right,
            ..fit
        }
    }

    fn finish(
        &self,
        read: &[u8],
        scratch: &mut Scratch,
        system: usize,
        pair: Option<(usize, usize)>,
        reverse: bool,
        fit: Fit,
    ) -> Outcome {
        let len = read.len();
        // V end and J start on the V->J strand; the breakpoint is their midpoint,
        // rounded the same way whatever the strand of the read.
        let left_end = (fit.last_left + fit.left_span).min(len);
        let (v_end, j_start) = if reverse {
            (len - fit.first_right, len - left_end)
        } else {
            (left_end, fit.first_right)
        };
        let breakpoint = (v_end + j_start).div_ceil(2);
        let (e_v, e_j) = if reverse {
            (fit.e_right, fit.e_left)
        } else {
            (fit.e_left, fit.e_right)
        };
        // N in a window of the V->J strand, looked up in the codes of the read.
        let codes = &scratch.codes;
        let has_n = |start: usize, w: usize| {
            let range = if reverse {
                len - start - w..len - start
            } else {
                start..start + w
            };
            codes[range].iter().any(|&c| c >= NOT_ACGT)
        };
        match place_window_by(len, breakpoint, self.params.window, self.params.min_window, has_n) {
            Ok((window_start, window_len, shifted)) => Outcome::Detected(Detection {
                system,
                pair,
                reverse,
                breakpoint,
                window_start,
                window_len,
                shifted,
                evalue: e_v + e_j,
                evalue_v: e_v,
                evalue_j: e_j,
            }),
            Err(reason) => Outcome::Undetected(reason),
        }
    }
}

const SHIFTS: [isize; 5] = [0, 5, -5, 10, -10];

/// Place a window of `window` nt centred on `breakpoint`, shifted by +-5/+-10 or
/// shrunk (down to `min_window`) to fit in the read and avoid N.
/// Returns (start, length, shifted_or_shrunk).
pub fn place_window(
    seq: &[u8],
    breakpoint: usize,
    window: usize,
    min_window: usize,
) -> Result<(usize, usize, bool), Reason> {
    place_window_by(seq.len(), breakpoint, window, min_window, |s, w| {
        seq[s..s + w]
            .iter()
            .any(|&b| crate::nuc::CODES[b as usize] >= NOT_ACGT)
    })
}

/// `place_window` on a sequence of `len` nt where `has_n(start, w)` tells whether
/// a window holds a base that is not A/C/G/T.
pub fn place_window_by(
    len: usize,
    breakpoint: usize,
    window: usize,
    min_window: usize,
    has_n: impl Fn(usize, usize) -> bool,
) -> Result<(usize, usize, bool), Reason> {
    let len = len as isize;
    let mut saw_n = false;
    let mut w = window;
    while w >= min_window {
        let centred = breakpoint as isize - (w / 2) as isize;
        for &shift in &SHIFTS {
            let start = centred + shift;
            if start < 0 || start + w as isize > len {
                continue;
            }
            let s = start as usize;
            if has_n(s, w) {
                saw_n = true;
                continue;
            }
            return Ok((s, w, shift != 0 || w != window));
        }
        if w == min_window {
            break;
        }
        w = (w - 2).max(min_window);
    }
    Err(if saw_n {
        Reason::NInWindow
    } else {
        Reason::TooShortForWindow
    })
}

/// The read on the V->J strand, upper case.
pub fn orient(read: &[u8], reverse: bool, out: &mut Vec<u8>) {
    out.clear();
    if reverse {
        revcomp_into(read, out);
    } else {
        out.extend(read.iter().map(|&b| b.to_ascii_uppercase()));
    }
}

/// Packed window of a detection, from the codes of the read (no copy of the read).
pub fn window_key(scratch: &Scratch, d: &Detection) -> u128 {
    let codes = &scratch.codes;
    let len = codes.len();
    let mut key: u128 = 1;
    if d.reverse {
        for &c in codes[len - d.window_start - d.window_len..len - d.window_start]
            .iter()
            .rev()
        {
            key = (key << 2) | (3 - c) as u128;
        }
    } else {
        for &c in &codes[d.window_start..d.window_start + d.window_len] {
            key = (key << 2) | c as u128;
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nuc::revcomp;
    use crate::testutil::{dna, tiny_germline};

    #[test]
    fn window_centred_when_it_fits() {
        let seq = vec![b'A'; 200];
        assert_eq!(place_window(&seq, 100, 50, 30), Ok((75, 50, false)));
    }

    #[test]
    fn window_shifted_then_shrunk() {
        let seq = vec![b'A'; 100];
        // 5 nt too far left: shifted by +5
        assert_eq!(place_window(&seq, 20, 50, 30), Ok((0, 50, true)));
        // near the end: shifted by -10
        assert_eq!(place_window(&seq, 84, 50, 30), Ok((49, 50, true)));
        // 40-nt read: only a shrunk window fits
        let short = vec![b'C'; 40];
        assert_eq!(place_window(&short, 20, 50, 30), Ok((0, 40, true)));
        let tiny = vec![b'C'; 25];
        assert_eq!(place_window(&tiny, 12, 50, 30), Err(Reason::TooShortForWindow));
    }

    #[test]
    fn window_avoids_n() {
        let mut seq = vec![b'G'; 200];
        seq[80] = b'N';
        let (start, w, shifted) = place_window(&seq, 100, 50, 30).unwrap();
        assert!(start > 80 && w == 50 && shifted);
        let all_n = vec![b'N'; 200];
        assert_eq!(place_window(&all_n, 100, 50, 30), Err(Reason::NInWindow));
    }

    fn detect(read: &[u8], germline: &Germline) -> Outcome {
        let index = KmerIndex::build(germline);
        let detector = Detector::new(&index, germline, DetectParams::default());
        detector.detect(read, &mut Scratch::default())
    }

    #[test]
    fn breakpoint_and_window_on_a_constructed_read() {
        let v = dna(150, 1);
        let j = dna(60, 2);
        let germline = tiny_germline(&v, &j, "10s", "detect_bp");
        let n_region = b"GGGTTTCCCA";
        let read: Vec<u8> = [&v[40..], n_region.as_slice(), &j[..50]].concat();
        let Outcome::Detected(d) = detect(&read, &germline) else {
            panic!("not detected")
        };
        assert_eq!(d.system, 0);
        assert!(!d.reverse && !d.shifted);
        // V ends at 110, J starts at 120: the breakpoint is in the N region.
        assert!((110..=120).contains(&d.breakpoint), "breakpoint {}", d.breakpoint);
        assert_eq!(d.window_len, 50);
        assert_eq!(d.window_start, d.breakpoint - 25);
        let window = &read[d.window_start..d.window_start + 50];
        assert!(window.windows(10).any(|w| w == n_region));
        assert!(d.evalue < 1e-20 && d.evalue_v < 1e-10 && d.evalue_j < 1e-10);

        let mut scratch = Scratch::default();
        let index = KmerIndex::build(&germline);
        let detector = Detector::new(&index, &germline, DetectParams::default());
        let rc = revcomp(&read);
        let Outcome::Detected(r) = detector.detect(&rc, &mut scratch) else {
            panic!("reverse not detected")
        };
        assert_eq!(window_key(&scratch, &r), crate::clones::pack_window(window));
        orient(&rc, true, &mut scratch.oriented);
        assert_eq!(scratch.oriented, read);
        // The same read on the other strand gives the same window.
        let Outcome::Detected(r) = detect(&revcomp(&read), &germline) else {
            panic!("reverse not detected")
        };
        assert!(r.reverse);
        assert_eq!(
            (r.breakpoint, r.window_start, r.window_len),
            (d.breakpoint, d.window_start, d.window_len)
        );
    }

    fn detect_with(read: &[u8], germline: &Germline, rescue: bool) -> Outcome {
        let index = KmerIndex::build(germline);
        let params = DetectParams {
            rescue,
            ..DetectParams::default()
        };
        Detector::new(&index, germline, params).detect(read, &mut Scratch::default())
    }

    #[test]
    fn rescue_finds_a_short_mutated_side_between_the_sampled_positions() {
        let v = dna(150, 11);
        let j = dna(60, 12);
        let germline = tiny_germline(&v, &j, "10s", "detect_rescue");
        let (mut rescued, mut tried) = (0, 0);
        // Short J ends (14..48 nt), with no substitution, one or two, after V ends of every phase.
        for j_len in 14..48 {
            for v_start in 0..4 {
                for mutations in [vec![], vec![j_len / 2], vec![j_len / 3, 2 * j_len / 3]] {
                    let mut j_part = j[..j_len].to_vec();
                    for m in mutations {
                        j_part[m] = if j_part[m] == b'A' { b'C' } else { b'A' };
                    }
                    let read: Vec<u8> = [&v[v_start..], b"GGGTTTCCCA".as_slice(), &j_part].concat();
                    let off = detect_with(&read, &germline, false);
                    let on = detect_with(&read, &germline, true);
                    match (&off, &on) {
                        // A read detected without the rescue is detected the same way with it.
                        (Outcome::Detected(_), _) => assert_eq!(off, on),
                        (Outcome::Undetected(Reason::OnlyV), Outcome::Detected(d)) => {
                            tried += 1;
                            rescued += 1;
                            // Both sides pass with the phases counted, well below -e.
                            assert!(
                                d.evalue_v <= 1.0 / RESCUE_STRICTNESS
                                    && d.evalue_j <= 1.0 / RESCUE_STRICTNESS
                            );
                            // The breakpoint still falls in the N region (V ends at 150 - v_start).
                            let v_end = 150 - v_start;
                            assert!(
                                (v_end - 2..=v_end + 12).contains(&d.breakpoint),
                                "{}",
                                d.breakpoint
                            );
                        }
                        (Outcome::Undetected(Reason::OnlyV), Outcome::Undetected(r)) => {
                            tried += 1;
                            assert_eq!(*r, Reason::OnlyV);
                        }
                        other => panic!("unexpected outcomes {other:?}"),
                    }
                }
            }
        }
        assert!(rescued >= 5, "rescued {rescued} of {tried}");
    }

    #[test]
    fn rescue_does_not_detect_a_side_alone() {
        let v = dna(150, 13);
        let j = dna(60, 14);
        let germline = tiny_germline(&v, &j, "10s", "detect_rescue_alone");
        let mut by_chance = 0;
        for seed in 0..300 {
            // A V with a random tail, a J after a random head: one side only.
            let tail = dna(20 + (seed as usize % 100), 1000 + seed);
            let only_v: Vec<u8> = [&v[(seed as usize % 50)..], &tail].concat();
            let only_j: Vec<u8> = [&tail, &j[(seed as usize % 20)..]].concat();
            for read in [only_v, only_j] {
                let off = detect_with(&read, &germline, false);
                let on = detect_with(&read, &germline, true);
                if matches!(off, Outcome::Detected(_)) {
                    // The sampled pass itself found the other side by chance.
                    by_chance += 1;
                    assert_eq!(on, off);
                } else {
                    assert!(
                        matches!(on, Outcome::Undetected(Reason::OnlyV | Reason::OnlyJ)),
                        "{seed}: {on:?}"
                    );
                }
            }
            // A random read has no side to start from.
            let random = dna(150, 5000 + seed);
            assert!(matches!(
                detect_with(&random, &germline, true),
                Outcome::Undetected(Reason::TooFewVJ)
            ));
        }
        // The sampled pass (-e 1) detects a few of them; the rescue adds none.
        assert!(by_chance <= 10, "{by_chance} of 600 detected without the rescue");
    }

    #[test]
    fn reasons_for_undetected_reads() {
        let v = dna(150, 3);
        let j = dna(60, 4);
        let germline = tiny_germline(&v, &j, "10s", "detect_reasons");
        assert_eq!(detect(&v[..20], &germline), Outcome::Undetected(Reason::TooShort));
        assert_eq!(
            detect(&dna(200, 5), &germline),
            Outcome::Undetected(Reason::TooFewVJ)
        );
        let only_v: Vec<u8> = [&v[..], &dna(60, 6)].concat();
        assert_eq!(detect(&only_v, &germline), Outcome::Undetected(Reason::OnlyV));
        let only_j: Vec<u8> = [&dna(100, 7), &j[..]].concat();
        assert_eq!(detect(&only_j, &germline), Outcome::Undetected(Reason::OnlyJ));
        // V forward then J reverse-complemented: no strand fits both.
        let mixed: Vec<u8> = [&v[..], &revcomp(&j)].concat();
        assert_eq!(detect(&mixed, &germline), Outcome::Undetected(Reason::Strand));
        // J at the very end: the window is shifted (W50)
        let late: Vec<u8> = [&v[..], b"AAC".as_slice(), &j[..16]].concat();
        let Outcome::Detected(d) = detect(&late, &germline) else {
            panic!("late J not detected")
        };
        assert!(d.shifted && d.window_len == 50);
        assert_eq!(d.window_start, d.breakpoint - 25 - 10);
    }
}
