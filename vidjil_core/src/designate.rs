//! The second pass: V(D)J designation of a sequence already oriented V -> J (a
//! clone's representative, or one read in the per-read mode).
//!
//! The best 5' and 3' alleles come from dynamic programming against the alleles
//! that share the most k-mers with the sequence; their overlap is split where the
//! two alignments score best together (the 5' gene keeps ambiguous nucleotides);
//! D genes are looked for between them under an e-value threshold; the junction
//! comes from the V Cys and J Trp/Phe anchors.

use crate::align::{best_scores, Matrix, Op, Path, MATCH};
use crate::detect::UNEXPECTED;
use crate::germline::Germline;
use crate::nuc::normalize;
use serde::Serialize;
use std::collections::HashMap;

const KMER: usize = 10;
/// Alleles of a gene set beyond this size go through the k-mer filter first.
const FILTER_ABOVE: usize = 32;
/// Alleles kept by the filter: those with at least this fraction of the best
/// k-mer count, at most `MAX_CANDIDATES`.
const FILTER_FRACTION: f64 = 0.5;
const MAX_CANDIDATES: usize = 24;
/// The D search zone extends this far into V and J.
const D_ZONE_EXTEND: usize = 5;
/// A second D is looked for in a gap of at least this many nucleotides.
const SECOND_D_MIN_GAP: usize = 5;

#[derive(Clone, Debug)]
pub struct DesignParams {
    /// V and J alignments must have an e-value at most this.
    pub max_evalue: f64,
    /// D alignments must have an e-value at most this.
    pub max_evalue_d: f64,
    /// Look for a second D (VDDJ) in every system, not only in TRD, TRD+ and TRA+D.
    pub several_d: bool,
    /// Alternative V and J alleles reported besides the best one.
    pub alternatives: usize,
}

impl Default for DesignParams {
    fn default() -> Self {
        DesignParams {
            max_evalue: 1.0,
            max_evalue_d: 0.05,
            several_d: false,
            alternatives: 0,
        }
    }
}

/// Probability that a random sequence reaches alignment score `score` (a match
/// scores `MATCH`, so 4^-matches), with the reference tool's constant.
fn pvalue(score: i32) -> f64 {
    0.05 * 4f64.powf(-(score as f64) / MATCH as f64)
}

/// The alleles of one side of a recombination (one or several germline files),
/// oriented as they are aligned (3' genes reversed), with a k-mer filter.
struct GeneSet {
    alleles: Vec<(usize, usize)>,
    names: Vec<String>,
    anchors: Vec<Option<usize>>,
    /// As aligned: reversed for a 3' set.
    seqs: Vec<Vec<u8>>,
    /// The gene regions without flanks, oriented the same: alleles are ranked on them.
    regions: Vec<Vec<u8>>,
    reversed: bool,
    total_nt: usize,
    kmers: HashMap<u32, Vec<u16>>,
}

fn kmer_codes(seq: &[u8], mut f: impl FnMut(u32)) {
    let (mut code, mut valid) = (0u32, 0usize);
    let mask = (1u32 << (2 * KMER)) - 1;
    for &b in seq {
        let c = match b {
            b'A' => 0,
            b'C' => 1,
            b'G' => 2,
            b'T' => 3,
            _ => {
                valid = 0;
                continue;
            }
        };
        code = ((code << 2) | c) & mask;
        valid += 1;
        if valid >= KMER {
            f(code);
        }
    }
}

impl GeneSet {
    fn new(germline: &Germline, files: &[usize], reversed: bool) -> GeneSet {
        let mut alleles = Vec::new();
        let (mut names, mut anchors) = (Vec::new(), Vec::new());
        let mut seqs = Vec::new();
        let mut regions = Vec::new();
        for &f in files {
            for (k, a) in germline.files[f].alleles.iter().enumerate() {
                alleles.push((f, k));
                names.push(a.name.clone());
                anchors.push(a.anchor);
                let (lo, hi) = a.region.unwrap_or((0, a.seq.len()));
                let mut s = a.seq.clone();
                let mut r = a.seq[lo..hi].to_vec();
                if reversed {
                    s.reverse();
                    r.reverse();
                }
                seqs.push(s);
                regions.push(r);
            }
        }
        let mut kmers: HashMap<u32, Vec<u16>> = HashMap::new();
        if seqs.len() > FILTER_ABOVE {
            for (k, s) in regions.iter().enumerate() {
                kmer_codes(s, |code| {
                    let list = kmers.entry(code).or_default();
                    if list.last() != Some(&(k as u16)) {
                        list.push(k as u16);
                    }
                });
            }
        }
        let total_nt = seqs.iter().map(Vec::len).sum();
        GeneSet {
            alleles,
            names,
            anchors,
            seqs,
            regions,
            reversed,
            total_nt,
            kmers,
        }
    }

    /// Alleles worth aligning: all of a small set, else the best by shared k-mers.
    fn candidates(&self, read: &[u8]) -> Vec<usize> {
        if self.seqs.len() <= FILTER_ABOVE {
            return (0..self.seqs.len()).collect();
        }
        let mut counts = vec![0u32; self.seqs.len()];
        kmer_codes(read, |code| {
            if let Some(list) = self.kmers.get(&code) {
                for &k in list {
                    counts[k as usize] += 1;
                }
            }
        });
        let best = counts.iter().copied().max().unwrap_or(0);
        if best == 0 {
            return (0..self.seqs.len()).collect();
        }
        let floor = ((best as f64 * FILTER_FRACTION).ceil() as u32).max(1);
        let mut kept: Vec<usize> = (0..counts.len()).filter(|&k| counts[k] >= floor).collect();
        kept.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
        kept.truncate(MAX_CANDIDATES);
        kept.sort_unstable();
        kept
    }

    /// Candidate alleles, best first, with their score on the gene region (end
    /// penalty included), and the best score of all with flanks. The gene is chosen
    /// on whole sequences, flanks included (they are genomic evidence); its allele
    /// on the region only (flanks are known for some alleles, not others). Ties keep
    /// the germline order.
    fn rank(&self, read: &[u8]) -> (Vec<Ranked>, i32) {
        let mut rows = Default::default();
        let scored: Vec<(usize, i32, (i32, i32))> = self
            .candidates(read)
            .into_iter()
            .map(|k| {
                let region = best_scores(read, &self.regions[k], &mut rows);
                let full = if self.regions[k].len() == self.seqs[k].len() {
                    region.0
                } else {
                    best_scores(read, &self.seqs[k], &mut rows).0
                };
                (k, full, region)
            })
            .filter(|&(_, full, _)| full > 0)
            .collect();
        let mut gene_best: HashMap<&str, i32> = HashMap::new();
        for &(k, full, _) in &scored {
            let best = gene_best.entry(gene_of(&self.names[k])).or_insert(full);
            *best = (*best).max(full);
        }
        let mut ranked: Vec<Ranked> = scored
            .iter()
            .map(|&(k, _, (region, local))| Ranked {
                gene: gene_best[gene_of(&self.names[k])],
                region,
                local,
                k,
            })
            .collect();
        ranked.sort_by(|a, b| {
            b.gene
                .cmp(&a.gene)
                .then(b.region.cmp(&a.region))
                .then(a.k.cmp(&b.k))
        });
        let best_full = ranked.first().map_or(0, |x| x.gene);
        (ranked, best_full)
    }
}

/// An allele of a gene set as ranked: its gene's best score (flanks included), its
/// own score on the region with and without the end penalty, its index in the set.
#[derive(Clone, Copy, Debug)]
struct Ranked {
    gene: i32,
    region: i32,
    local: i32,
    k: usize,
}

/// `IGHV3-23*01` -> `IGHV3-23`.
fn gene_of(name: &str) -> &str {
    name.split('*').next().unwrap_or(name)
}

/// Which gene sets a recombination of a system uses.
#[derive(Clone, Copy, Debug)]
struct Layout {
    five: usize,
    four: Option<usize>,
    three: usize,
}

/// The designation engine of one germline: gene sets prepared once, shared by threads.
pub struct Designer {
    sets: Vec<GeneSet>,
    system_names: Vec<String>,
    /// Per system, one layout per recombination.
    layouts: Vec<Vec<Layout>>,
    /// Per system, all its 5' files and all its 3' files (for unexpected recombinations).
    sides: Vec<(usize, usize)>,
}

/// One aligned gene of a designation. Positions are 0-based, ends exclusive.
#[derive(Clone, Debug)]
pub struct Segment {
    pub name: String,
    /// (file, allele) in the germline.
    pub allele: (usize, usize),
    pub role: Role,
    pub path: Path,
    pub germ_len: usize,
    pub evalue: f64,
    /// Other alleles with the same best score (5' and 3' genes).
    pub tied: Vec<String>,
    /// Best alternatives with their scores (`--alternative-genes`).
    pub alternatives: Vec<(String, i32)>,
    /// The aligned read and germline (`-` for gaps).
    pub rows: (String, String),
    anchor: Option<usize>,
}

impl Segment {
    pub fn del_left(&self) -> usize {
        self.path.germ_start
    }
    pub fn del_right(&self) -> usize {
        self.germ_len - self.path.germ_end
    }
}

/// Role of a gene in a recombination, shown as the preset's keys `5`, `4`, `3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Role {
    #[serde(rename = "5")]
    Five,
    #[serde(rename = "4")]
    Four,
    #[serde(rename = "3")]
    Three,
}

#[derive(Clone, Debug, Serialize)]
pub struct Junction {
    /// [start, end) in the sequence: from the first nt of the V Cys to the last nt
    /// of the J Trp/Phe.
    pub start: usize,
    pub end: usize,
    pub nt: String,
    /// Translation; out of frame, both ends are translated in their own frame and
    /// `#` marks the incomplete codon.
    pub aa: String,
    pub in_frame: bool,
    pub stop_codon: bool,
    pub productive: bool,
    /// `too-short`, `out-of-frame`, `stop-codon`, `mutated-anchor` (the junction
    /// does not start with Cys or end with Trp/Phe) or `no-WPGxG-pattern` (IGH).
    pub unproductive: Option<&'static str>,
}

impl Junction {
    /// The CDR3: the junction without its two anchor codons.
    pub fn cdr3(&self) -> Option<(usize, usize)> {
        (self.end - self.start >= 7).then(|| (self.start + 3, self.end - 3))
    }
}

#[derive(Clone, Debug)]
pub struct Designation {
    /// Genes in sequence order (5', D..., 3').
    pub segments: Vec<Segment>,
    pub name: String,
    pub junction: Option<Junction>,
    pub evalue: f64,
    pub evalue_v: f64,
    pub evalue_j: f64,
}

impl Designation {
    /// The inserted nucleotides between consecutive genes: [start, end) ranges.
    pub fn inserts(&self) -> Vec<(usize, usize)> {
        self.segments
            .windows(2)
            .map(|w| (w[0].path.read_end, w[1].path.read_start.max(w[0].path.read_end)))
            .collect()
    }

    /// Several 5' or 3' alleles fitting equally well (warning W69).
    pub fn tied_genes(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.segments {
            if !s.tied.is_empty() {
                out.push(s.name.clone());
                out.extend(s.tied.iter().cloned());
            }
        }
        out
    }
}

/// A box being placed: the alignment matrix of one allele over a stretch of the
/// sequence, and its current boundary with the neighbouring box.
struct Placed {
    /// Allele index in its gene set.
    k: usize,
    /// The stretch `[lo, hi)`; a 3' box is aligned on it reversed.
    lo: usize,
    hi: usize,
    three_prime: bool,
    matrix: Matrix,
    /// Recombined end: exclusive read end of a 5' box, read start of a 3' box.
    boundary: usize,
    /// Germline end (in the matrix's orientation) at the boundary.
    germ_end: usize,
}

impl Placed {
    fn row(&self, boundary: usize) -> usize {
        if self.three_prime {
            self.hi - boundary
        } else {
            boundary - self.lo
        }
    }

    /// Best score of the box if its recombined end were at `boundary`.
    fn score_at(&self, boundary: usize) -> (i32, usize) {
        if boundary < self.lo || boundary > self.hi {
            return (0, 0);
        }
        self.matrix.best_on_row(self.row(boundary))
    }

    fn set_boundary(&mut self, boundary: usize) {
        self.boundary = boundary;
        self.germ_end = self.score_at(boundary).1;
    }

    /// The final alignment in sequence coordinates.
    fn path(&self, seq: &[u8], germ: &[u8]) -> Path {
        let stretch: Vec<u8> = if self.three_prime {
            seq[self.lo..self.hi].iter().rev().copied().collect()
        } else {
            seq[self.lo..self.hi].to_vec()
        };
        let row = self.row(self.boundary);
        let p = self.matrix.traceback(&stretch, germ, row, self.germ_end, false);
        let mut p = if self.three_prime {
            p.reversed(stretch.len(), germ.len())
        } else {
            p
        };
        p.read_start += self.lo;
        p.read_end += self.lo;
        p
    }
}

/// A D gene settled between its neighbours: `[start, end)` in the sequence.
#[derive(Clone, Copy, Debug)]
struct PlacedD {
    k: usize,
    start: usize,
    end: usize,
}

/// Split the overlap of two neighbouring boxes where their scores add up best;
/// on ties the 5' box keeps the nucleotides.
fn resolve_overlap(left: &mut Placed, right: &mut Placed) {
    if left.boundary <= right.boundary {
        return;
    }
    let overlap = left.boundary - right.boundary;
    let mut best: Option<(i32, usize, usize)> = None;
    for trim_left in 0..=overlap {
        let end = left.boundary - trim_left;
        let l = left.score_at(end).0;
        for trim_right in overlap - trim_left..=overlap {
            let start = right.boundary + trim_right;
            let s = l + right.score_at(start).0;
            if best.is_none_or(|b| s > b.0) {
                best = Some((s, end, start));
            }
        }
    }
    let (_, end, start) = best.expect("overlap >= 1");
    left.set_boundary(end);
    right.set_boundary(start);
}

fn translate_codon(c: &[u8]) -> u8 {
    const AA: &[u8; 64] = b"KNKNTTTTRSRSIIMIQHQHPPPPRRRRLLLLEDEDAAAAGGGGVVVV*Y*YSSSS*CWCLFLF";
    let mut k = 0usize;
    for &b in c {
        k = k * 4
            + match b {
                b'A' => 0,
                b'C' => 1,
                b'G' => 2,
                b'T' => 3,
                _ => return b'X',
            };
    }
    AA[k]
}

/// Codons from the start of `seq`; a last incomplete codon gives `#`.
pub fn translate(seq: &[u8]) -> String {
    let mut out: String = seq.chunks_exact(3).map(|c| translate_codon(c) as char).collect();
    if seq.len() % 3 != 0 {
        out.push('#');
    }
    out
}

impl Designer {
    pub fn new(germline: &Germline) -> Designer {
        let mut sets: Vec<GeneSet> = Vec::new();
        let mut known: HashMap<(Vec<usize>, bool), usize> = HashMap::new();
        let mut set_of = |files: &[usize], reversed: bool, sets: &mut Vec<GeneSet>| -> usize {
            *known.entry((files.to_vec(), reversed)).or_insert_with(|| {
                sets.push(GeneSet::new(germline, files, reversed));
                sets.len() - 1
            })
        };
        let mut layouts = Vec::new();
        let mut sides = Vec::new();
        for system in &germline.systems {
            let mut list = Vec::new();
            for r in &system.recombinations {
                let four = (!r.four.is_empty()).then(|| set_of(&r.four, false, &mut sets));
                list.push(Layout {
                    five: set_of(&r.five, false, &mut sets),
                    four,
                    three: set_of(&r.three, true, &mut sets),
                });
            }
            layouts.push(list);
            sides.push((
                set_of(&system.side_files(0), false, &mut sets),
                set_of(&system.side_files(1), true, &mut sets),
            ));
        }
        Designer {
            sets,
            system_names: germline.systems.iter().map(|s| s.name.clone()).collect(),
            layouts,
            sides,
        }
    }

    /// Whether this system looks for a second D: always where TRDD genes recombine
    /// (TRD, TRD+, TRA+D: Dd2-Dd3 is common), elsewhere with `several_d`.
    fn allows_second_d(&self, system: usize, params: &DesignParams) -> bool {
        let name = &self.system_names[system];
        params.several_d || name.starts_with("TRD") || name == "TRA+D"
    }

    /// Designate `seq` (oriented V -> J) in `system` (or between the two systems of
    /// `pair` for an unexpected recombination). `Err` names why it failed (W68).
    pub fn designate(
        &self,
        seq: &[u8],
        system: usize,
        pair: Option<(usize, usize)>,
        params: &DesignParams,
    ) -> Result<Designation, String> {
        let seq = normalize(seq);
        let rev: Vec<u8> = seq.iter().rev().copied().collect();
        let layouts: Vec<Layout> = if system == UNEXPECTED {
            let (a, b) = pair.ok_or("unexpected recombination without its two systems")?;
            vec![Layout {
                five: self.sides[a].0,
                four: None,
                three: self.sides[b].1,
            }]
        } else {
            self.layouts[system].clone()
        };

        // Per gene set: alleles ranked on their regions, and the full score (flanks
        // included) of the best one, which chooses the recombination and the e-value.
        let mut ranked: HashMap<usize, (Vec<Ranked>, i32)> = HashMap::new();
        let mut rank = |set: usize, read: &[u8]| -> Option<i32> {
            let (list, full) = ranked.entry(set).or_insert_with(|| self.sets[set].rank(read));
            (!list.is_empty()).then_some(*full)
        };
        let mut best: Option<(i32, Layout)> = None;
        for layout in layouts {
            if let (Some(f), Some(t)) = (rank(layout.five, &seq), rank(layout.three, &rev)) {
                if best.is_none_or(|b| f + t > b.0) {
                    best = Some((f + t, layout));
                }
            }
        }
        let (_, layout) = best.ok_or("no 5' or no 3' gene aligns")?;
        let (v_set, j_set) = (&self.sets[layout.five], &self.sets[layout.three]);
        let ((v_rank, v_full), (j_rank, j_full)) = (&ranked[&layout.five], &ranked[&layout.three]);
        let n = seq.len() as f64;
        let evalue_v = n * v_set.total_nt as f64 * pvalue(*v_full);
        let evalue_j = n * j_set.total_nt as f64 * pvalue(*j_full);
        if evalue_v > params.max_evalue {
            return Err(format!("5' gene e-value {evalue_v:.2e} above the threshold"));
        }
        if evalue_j > params.max_evalue {
            return Err(format!("3' gene e-value {evalue_j:.2e} above the threshold"));
        }

        let mut v = place(v_set, v_rank[0].k, &seq, 0, seq.len(), false)?;
        let mut j = place(j_set, j_rank[0].k, &seq, 0, seq.len(), true)?;
        resolve_overlap(&mut v, &mut j);

        let mut ds: Vec<PlacedD> = Vec::new();
        if let Some(d_set) = layout.four {
            let d_set = &self.sets[d_set];
            let (v_keep, j_keep) = (v.boundary, j.boundary);
            let lo = v.boundary.saturating_sub(D_ZONE_EXTEND + 1);
            let hi = (j.boundary + D_ZONE_EXTEND).min(seq.len());
            if let Some((mut d_fwd, mut d_rev)) = find_d(d_set, &seq, lo, hi, None, params) {
                resolve_overlap(&mut v, &mut d_rev);
                resolve_overlap(&mut d_fwd, &mut j);
                let d = PlacedD {
                    k: d_fwd.k,
                    start: d_rev.boundary,
                    end: d_fwd.boundary,
                };
                if confirm_d(d_set, &seq, &d, params) {
                    ds.push(d);
                } else {
                    v.set_boundary(v_keep);
                    j.set_boundary(j_keep);
                }
            }
            if !ds.is_empty() && system != UNEXPECTED && self.allows_second_d(system, params) {
                second_d(d_set, &seq, &mut v, &mut ds, &mut j, params);
            }
        }

        let mut segments = Vec::new();
        segments.push(segment(Role::Five, &v, v_set, v_rank, evalue_v, &seq, params));
        for d in &ds {
            let d_set = &self.sets[layout.four.expect("D placed")];
            let germ = &d_set.seqs[d.k];
            let path = semi_global_path(&seq, d.start, d.end, germ);
            segments.push(Segment {
                name: d_set.names[d.k].clone(),
                allele: d_set.alleles[d.k],
                role: Role::Four,
                evalue: (d.end - d.start) as f64 * d_set.total_nt as f64 * pvalue(path.score),
                rows: aligned_rows(&path, &seq, germ),
                path,
                germ_len: germ.len(),
                tied: Vec::new(),
                alternatives: Vec::new(),
                anchor: None,
            });
        }
        segments.push(segment(Role::Three, &j, j_set, j_rank, evalue_j, &seq, params));

        let name = designation_name(&segments, &seq);
        let is_igh = system != UNEXPECTED && self.system_names[system] == "IGH";
        let junction = junction(&segments, &seq, is_igh);
        Ok(Designation {
            segments,
            name,
            junction,
            evalue: evalue_v + evalue_j,
            evalue_v,
            evalue_j,
        })
    }
}

/// Align allele `k` of `set` on `seq[lo..hi)` and place its recombined end.
fn place(
    set: &GeneSet,
    k: usize,
    seq: &[u8],
    lo: usize,
    hi: usize,
    three_prime: bool,
) -> Result<Placed, String> {
    let stretch: Vec<u8> = if three_prime {
        seq[lo..hi].iter().rev().copied().collect()
    } else {
        seq[lo..hi].to_vec()
    };
    let matrix = Matrix::local(&stretch, &set.seqs[k]);
    let (row, germ_end, _) = matrix.best_end().ok_or("no alignment")?;
    let boundary = if three_prime { hi - row } else { lo + row };
    Ok(Placed {
        k,
        lo,
        hi,
        three_prime,
        matrix,
        boundary,
        germ_end,
    })
}

/// The best D of `set` in `seq[lo..hi)` under the e-value threshold: its box as
/// the 5' side of the next junction (forward, placed by its end) and as the 3'
/// side of the previous one (reversed, placed by its start).
fn find_d(
    set: &GeneSet,
    seq: &[u8],
    lo: usize,
    hi: usize,
    forbidden: Option<usize>,
    params: &DesignParams,
) -> Option<(Placed, Placed)> {
    if hi <= lo + 2 {
        return None;
    }
    let zone = &seq[lo..hi];
    let mut best: Option<(i32, usize, Matrix, usize, usize)> = None;
    for (k, germ) in set.seqs.iter().enumerate() {
        // A second D is another gene, not another allele of the first one.
        if forbidden.is_some_and(|f| gene_of(&set.names[f]) == gene_of(&set.names[k])) {
            continue;
        }
        let m = Matrix::local(zone, germ);
        let mut top = (0, 0, 0);
        for i in 1..=zone.len() {
            let (s, g) = m.best_on_row(i);
            if s > top.0 {
                top = (s, i, g);
            }
        }
        if top.0 > 0 && best.as_ref().is_none_or(|b| top.0 > b.0) {
            best = Some((top.0, k, m, top.1, top.2));
        }
    }
    let (score, k, fwd, end_row, germ_end) = best?;
    let evalue = (hi - lo) as f64 * set.total_nt as f64 * pvalue(score);
    if evalue > params.max_evalue_d {
        return None;
    }
    let germ = &set.seqs[k];
    let start = lo + fwd.traceback(zone, germ, end_row, germ_end, false).read_start;
    let rev_zone: Vec<u8> = zone.iter().rev().copied().collect();
    let rev_germ: Vec<u8> = germ.iter().rev().copied().collect();
    let mut d_rev = Placed {
        k,
        lo,
        hi,
        three_prime: true,
        matrix: Matrix::local(&rev_zone, &rev_germ),
        boundary: start,
        germ_end: 0,
    };
    d_rev.set_boundary(start);
    let d_fwd = Placed {
        k,
        lo,
        hi,
        three_prime: false,
        matrix: fwd,
        boundary: lo + end_row,
        germ_end,
    };
    Some((d_fwd, d_rev))
}

/// Whether a placed D still passes the threshold once its ends are settled.
fn confirm_d(set: &GeneSet, seq: &[u8], d: &PlacedD, params: &DesignParams) -> bool {
    if d.end <= d.start {
        return false;
    }
    let path = semi_global_path(seq, d.start, d.end, &set.seqs[d.k]);
    let evalue = (d.end - d.start) as f64 * set.total_nt as f64 * pvalue(path.score);
    path.score > 0 && evalue <= params.max_evalue_d
}

/// A second D in the gap between V and the first D or between it and J, the
/// better of the two (VDDJ).
fn second_d(
    set: &GeneSet,
    seq: &[u8],
    v: &mut Placed,
    ds: &mut Vec<PlacedD>,
    j: &mut Placed,
    params: &DesignParams,
) {
    let d = ds[0];
    let before = (d.start >= v.boundary + SECOND_D_MIN_GAP)
        .then(|| {
            let lo = v.boundary.saturating_sub(D_ZONE_EXTEND + 1);
            find_d(set, seq, lo, d.start, Some(d.k), params)
        })
        .flatten();
    let after = (j.boundary >= d.end + SECOND_D_MIN_GAP)
        .then(|| {
            let hi = (j.boundary + D_ZONE_EXTEND).min(seq.len());
            find_d(set, seq, d.end, hi, Some(d.k), params)
        })
        .flatten();
    let score = |p: &Option<(Placed, Placed)>| p.as_ref().map_or(0, |(f, _)| f.score_at(f.boundary).0);
    let (v_keep, j_keep) = (v.boundary, j.boundary);
    if score(&before) > 0 && score(&before) >= score(&after) {
        let (fwd, mut rev) = before.expect("scored");
        resolve_overlap(v, &mut rev);
        let second = PlacedD {
            k: fwd.k,
            start: rev.boundary,
            end: fwd.boundary.min(d.start),
        };
        if confirm_d(set, seq, &second, params) {
            ds.insert(0, second);
        } else {
            v.set_boundary(v_keep);
        }
    } else if score(&after) > 0 {
        let (mut fwd, rev) = after.expect("scored");
        resolve_overlap(&mut fwd, j);
        let second = PlacedD {
            k: fwd.k,
            start: rev.boundary.max(d.end),
            end: fwd.boundary,
        };
        if confirm_d(set, seq, &second, params) {
            ds.push(second);
        } else {
            j.set_boundary(j_keep);
        }
    }
}

/// The read and germline rows of one gene's alignment (`-` for gaps).
fn aligned_rows(path: &Path, seq: &[u8], germ_forward: &[u8]) -> (String, String) {
    let (mut query, mut germ) = (String::new(), String::new());
    let (mut r, mut q) = (path.read_start, path.germ_start);
    for op in &path.ops {
        match op {
            Op::Match | Op::Mismatch => {
                query.push(seq[r] as char);
                germ.push(germ_forward[q] as char);
                r += 1;
                q += 1;
            }
            Op::Insertion => {
                query.push(seq[r] as char);
                germ.push('-');
                r += 1;
            }
            Op::Deletion => {
                query.push('-');
                germ.push(germ_forward[q] as char);
                q += 1;
            }
        }
    }
    (query, germ)
}

fn segment(
    role: Role,
    placed: &Placed,
    set: &GeneSet,
    ranked: &[Ranked],
    evalue: f64,
    seq: &[u8],
    params: &DesignParams,
) -> Segment {
    let k = placed.k;
    let path = placed.path(seq, &set.seqs[k]);
    let forward: Vec<u8> = if set.reversed {
        set.seqs[k].iter().rev().copied().collect()
    } else {
        set.seqs[k].clone()
    };
    let best = ranked[0];
    // Tied: alleles that the sequence supports as well. Without the end penalty, a
    // germline sequence partial at its recombined end (TRGJ1*02) ties with the
    // complete allele it equals (TRGJ2*01).
    let tied = ranked[1..]
        .iter()
        .filter(|x| x.local >= best.local)
        .map(|x| set.names[x.k].clone())
        .collect();
    let mut alternatives: Vec<(String, i32)> = Vec::new();
    for r in &ranked[1..] {
        if alternatives.len() >= params.alternatives && alternatives.last().is_none_or(|l| l.1 != r.region) {
            break;
        }
        alternatives.push((set.names[r.k].clone(), r.region));
    }
    Segment {
        name: set.names[k].clone(),
        allele: set.alleles[k],
        role,
        rows: aligned_rows(&path, seq, &forward),
        germ_len: forward.len(),
        evalue,
        path,
        tied,
        alternatives,
        anchor: set.anchors[k],
    }
}

fn junction(segments: &[Segment], seq: &[u8], is_igh: bool) -> Option<Junction> {
    let (v, j) = (segments.first()?, segments.last()?);
    let start = v.path.read_position_of(v.anchor?)?;
    let end = j.path.read_position_of(j.anchor?)? + 1;
    if end < start + 6 {
        return None;
    }
    let nt = &seq[start..end];
    let len = end - start;
    let in_frame = len % 3 == 0;
    let aa = if in_frame {
        translate(nt)
    } else {
        // The J side keeps its own frame: whole codons from the J start.
        let j_codons = (end.saturating_sub(j.path.read_start.max(start)) / 3) * 3;
        let split = len - j_codons.min(len - len % 3);
        format!("{}{}", translate(&nt[..split]), translate(&nt[split..]))
    };
    let coding = &seq[v.path.read_start..j.path.read_end];
    let frame = (start - v.path.read_start) % 3;
    let stop_codon = in_frame
        && coding[frame..]
            .chunks_exact(3)
            .any(|c| translate_codon(c) == b'*');
    let fr4 = &seq[end - 3..(end + 9).min(seq.len())];
    // The anchors of the germline are a Cys and a Trp/Phe: another amino acid there
    // is a mutated conserved residue (AIRR: not productive).
    let conserved = in_frame
        && translate_codon(&nt[..3]) == b'C'
        && matches!(translate_codon(&nt[len - 3..]), b'W' | b'F');
    let unproductive = if len < 7 {
        Some("too-short")
    } else if !in_frame {
        Some("out-of-frame")
    } else if stop_codon {
        Some("stop-codon")
    } else if !conserved {
        Some("mutated-anchor")
    } else if is_igh && fr4.len() == 12 && !wpgxg(fr4) {
        Some("no-WPGxG-pattern")
    } else {
        None
    };
    Some(Junction {
        start,
        end,
        nt: String::from_utf8(nt.to_vec()).expect("ASCII"),
        aa,
        in_frame,
        stop_codon,
        productive: unproductive.is_none(),
        unproductive,
    })
}

/// The IGH FR4 motif: W or P, then G, any, G.
fn wpgxg(codons: &[u8]) -> bool {
    let aa: Vec<u8> = codons.chunks_exact(3).map(translate_codon).collect();
    aa.len() == 4 && (aa[0] == b'W' || aa[0] == b'P') && aa[1] == b'G' && aa[3] == b'G'
}

fn semi_global_path(seq: &[u8], start: usize, end: usize, germ: &[u8]) -> Path {
    let stretch = &seq[start..end];
    let m = Matrix::semi_global(stretch, germ);
    let (_, j) = m.best_on_last_row();
    let mut p = m.traceback(stretch, germ, stretch.len(), j, true);
    p.read_start += start;
    p.read_end += start;
    p
}

/// `V delV/N1/delD5 D delD3/N2/delJ J`.
fn designation_name(segments: &[Segment], seq: &[u8]) -> String {
    let mut name = segments[0].name.clone();
    for w in segments.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let insert = if b.path.read_start > a.path.read_end {
            String::from_utf8_lossy(&seq[a.path.read_end..b.path.read_start]).into_owned()
        } else {
            String::new()
        };
        name.push_str(&format!(
            " {}/{}/{} {}",
            a.del_right(),
            insert,
            b.del_left(),
            b.name
        ));
    }
    name
}

/// CIGAR of one gene in the AIRR convention: query soft-clipped (`S`) before and
/// after, germline skipped (`N`) before the alignment start.
pub fn airr_cigar(path: &Path, seq_len: usize) -> String {
    let mut out = String::new();
    if path.read_start > 0 {
        out.push_str(&format!("{}S", path.read_start));
    }
    if path.germ_start > 0 {
        out.push_str(&format!("{}N", path.germ_start));
    }
    let mut run: Option<(char, usize)> = None;
    for op in &path.ops {
        let c = match op {
            Op::Match | Op::Mismatch => 'M',
            Op::Insertion => 'I',
            Op::Deletion => 'D',
        };
        run = match run {
            Some((k, n)) if k == c => Some((k, n + 1)),
            Some((k, n)) => {
                out.push_str(&format!("{n}{k}"));
                Some((c, 1))
            }
            None => Some((c, 1)),
        };
    }
    if let Some((k, n)) = run {
        out.push_str(&format!("{n}{k}"));
    }
    if seq_len > path.read_end {
        out.push_str(&format!("{}S", seq_len - path.read_end));
    }
    out
}

impl Designation {
    /// The read and germline rows from the start of the first gene to the end of the
    /// last one, inserted nucleotides facing `N`.
    pub fn alignment_rows(&self, seq: &[u8]) -> (String, String) {
        let (mut query, mut germ) = (String::new(), String::new());
        let mut pos = self.segments[0].path.read_start;
        for s in &self.segments {
            while pos < s.path.read_start {
                query.push(seq[pos] as char);
                germ.push('N');
                pos += 1;
            }
            // A gene that starts inside the previous one (never after overlap
            // resolution) would repeat read nucleotides: skip them.
            let skip = pos.saturating_sub(s.path.read_start);
            let mut kept = 0;
            for (qc, gc) in s.rows.0.chars().zip(s.rows.1.chars()) {
                if qc != '-' && kept < skip {
                    kept += 1;
                    continue;
                }
                query.push(qc);
                germ.push(gc);
            }
            pos = pos.max(s.path.read_end);
        }
        (query, germ)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::dna;

    const J: &[u8] = b"ACTACTTTGACTACTGGGGCCAGGGAACCCTGGTCACCGTCTCCTCAG";
    const D: &[u8] = b"GTATTACGATTTTTGGAGTGGTTATTATACC";

    /// A V of 293 nt whose Cys (TGT) starts at 282.
    fn v_gene() -> Vec<u8> {
        let mut v = dna(282, 7);
        // No stop codon, and no other in-frame Cys for the motif to find.
        for c in v.chunks_mut(3) {
            if matches!(&c[..], b"TAA" | b"TAG" | b"TGA" | b"TGT" | b"TGC") {
                c.copy_from_slice(b"GCA");
            }
        }
        v.extend_from_slice(b"TGTGCGAGAGA");
        v
    }

    /// An `IGH`-like preset (V, D, J files) written in a temp dir.
    fn germline_vdj(tag: &str) -> Germline {
        let dir = std::env::temp_dir().join(format!("vidjil_core_des_{tag}_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fasta = |name: &str, seq: &[u8]| format!(">{name}\n{}\n", String::from_utf8_lossy(seq));
        std::fs::write(dir.join("V.fa"), fasta("IGHV9-1*01", &v_gene())).unwrap();
        std::fs::write(dir.join("D.fa"), fasta("IGHD3-3*01", D)).unwrap();
        std::fs::write(dir.join("J.fa"), fasta("IGHJ4*02", J)).unwrap();
        let preset = r#"{"systems": {"IGH": {"recombinations": [{"5": ["V.fa"], "4": ["D.fa"], "3": ["J.fa"]}],
            "parameters": {"seed": "12s"}}}}"#;
        std::fs::write(dir.join("t.g"), preset).unwrap();
        Germline::load(dir.join("t.g").to_str().unwrap()).unwrap()
    }

    fn read_of(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn vdj_with_deletions_and_insertions() {
        let g = germline_vdj("vdj");
        let v = v_gene();
        let read = read_of(&[&v[..v.len() - 2], b"CCTTC", &D[3..D.len() - 4], b"AGGA", &J[5..]]);
        let des = Designer::new(&g)
            .designate(&read, 0, None, &DesignParams::default())
            .unwrap();
        assert_eq!(des.name, "IGHV9-1*01 2/CCTTC/3 IGHD3-3*01 4/AGGA/5 IGHJ4*02");
        let (vs, ds, js) = (&des.segments[0], &des.segments[1], &des.segments[2]);
        assert_eq!((vs.path.read_start, vs.path.read_end), (0, v.len() - 2));
        assert_eq!((ds.del_left(), ds.del_right()), (3, 4));
        assert_eq!(js.path.read_start, v.len() - 2 + 5 + D.len() - 7 + 4);
        assert_eq!(js.path.germ_start, 5);
        assert_eq!(des.inserts(), vec![(291, 296), (320, 324)]);
        // Junction: from the Cys (282) to the Trp's last nt (J position 16).
        let j = des.junction.as_ref().unwrap();
        assert_eq!(j.start, 282);
        assert_eq!(j.end, js.path.read_start + (16 - 5) + 1);
        assert_eq!(j.nt.as_bytes(), &read[j.start..j.end]);
        assert!(j.aa.starts_with('C') && j.aa.ends_with('W'));
        assert_eq!(j.in_frame, j.nt.len() % 3 == 0);
        assert_eq!(
            airr_cigar(&vs.path, read.len()),
            format!("291M{}S", read.len() - 291)
        );
        assert_eq!(
            airr_cigar(&js.path, read.len()),
            format!("{}S5N{}M", js.path.read_start, J.len() - 5)
        );
        let (query, germ) = des.alignment_rows(&read);
        assert_eq!(query.len(), germ.len());
        assert_eq!(query, String::from_utf8_lossy(&read));
        assert_eq!(&germ[291..296], "NNNNN");
    }

    #[test]
    fn productivity_follows_the_frame_and_stop_codons() {
        let g = germline_vdj("prod");
        let designer = Designer::new(&g);
        let v = v_gene();
        let design = |n: &[u8]| {
            let read = read_of(&[&v, n, &J[8..]]);
            designer
                .designate(&read, 0, None, &DesignParams::default())
                .unwrap()
        };
        // V keeps 11 nt after the Cys, J drops 8 before its Trp (14..17): 11 + n + 9.
        let in_frame = design(b"CCCA").junction.unwrap();
        assert_eq!(in_frame.nt.len() % 3, 0);
        assert!(in_frame.productive, "{in_frame:?}");
        let shifted = design(b"CCCAC").junction.unwrap();
        assert_eq!(shifted.unproductive, Some("out-of-frame"));
        assert!(shifted.aa.contains('#'));
        let stop = design(b"CTAG").junction.unwrap();
        assert_eq!(stop.unproductive, Some("stop-codon"));
        assert!(stop.aa.contains('*'));
    }

    #[test]
    fn the_5_prime_gene_keeps_ambiguous_nucleotides() {
        // V ends ...GAGA, J[3..] starts with A: the read's A after the V could be
        // either gene's; the V keeps it and the J counts one more deletion.
        let g = germline_vdj("overlap");
        let v = v_gene();
        assert_eq!(J[2], b'T');
        let read = read_of(&[&v, &J[2..]]);
        let des = Designer::new(&g)
            .designate(&read, 0, None, &DesignParams::default())
            .unwrap();
        let (vs, js) = (&des.segments[0], des.segments.last().unwrap());
        assert!(vs.path.read_end <= js.path.read_start);
        assert_eq!(vs.del_right(), 0);
        assert_eq!(js.path.read_start, v.len());
    }

    #[test]
    fn no_j_gene_fails_with_a_reason() {
        let g = germline_vdj("fail");
        let v = v_gene();
        let designer = Designer::new(&g);
        // Without a J, the best J alignment is a chance one, with a poor e-value.
        let read = read_of(&[&v, b"CCCCCCCCCCCC"]);
        let strict = DesignParams {
            max_evalue: 1e-3,
            ..Default::default()
        };
        let err = designer.designate(&read, 0, None, &strict).unwrap_err();
        assert!(err.starts_with("3' gene e-value"), "{err}");
        let ok = designer.designate(&read_of(&[&v, b"CCCA", &J[8..]]), 0, None, &strict);
        assert!(ok.is_ok());
        let err = designer
            .designate(&[b'C'; 80], 0, None, &DesignParams::default())
            .unwrap_err();
        assert!(err.contains("aligns"), "{err}");
    }

    #[test]
    fn translation() {
        assert_eq!(translate(b"TGTGCGAGA"), "CAR");
        assert_eq!(translate(b"TGTGC"), "C#");
        assert_eq!(translate(b"TAGNNN"), "*X");
        assert!(wpgxg(b"TGGGGCCAGGGA"));
        assert!(!wpgxg(b"TGGTGCCAGGGA"));
    }
}
