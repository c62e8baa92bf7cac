//! Pairwise alignment of a read against one germline gene: dynamic programming with
//! linear gaps, scored like the reference tool (match +4, mismatch -6, indel -10),
//! plus -1 per germline nucleotide left unaligned at the recombined end of the gene.
//!
//! Every alignment here is written "left box" style: the recombined end of the gene
//! is its 3' end (a V). A 3' gene (J) is aligned on the reversed read and the
//! reversed gene, so that the same code serves both sides.

pub const MATCH: i32 = 4;
pub const MISMATCH: i32 = -6;
pub const INDEL: i32 = -10;
/// Per germline nucleotide not aligned at the recombined end (a deletion).
pub const END_DELETION: i32 = -1;

#[inline]
fn substitution(a: u8, b: u8) -> i32 {
    if a == b && a != b'N' {
        MATCH
    } else {
        MISMATCH
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Match,
    Mismatch,
    /// A read nucleotide absent from the germline.
    Insertion,
    /// A germline nucleotide absent from the read.
    Deletion,
}

/// An alignment: read `[read_start, read_end)` against germline `[germ_start, germ_end)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    pub read_start: usize,
    pub read_end: usize,
    pub germ_start: usize,
    pub germ_end: usize,
    pub ops: Vec<Op>,
    pub score: i32,
}

impl Path {
    /// Read position aligned with germline position `g`, if `g` is inside the
    /// alignment (a germline position deleted in the read maps to the next read nt).
    pub fn read_position_of(&self, g: usize) -> Option<usize> {
        if g < self.germ_start || g >= self.germ_end {
            return None;
        }
        let (mut r, mut q) = (self.read_start, self.germ_start);
        for op in &self.ops {
            match op {
                Op::Match | Op::Mismatch => {
                    if q == g {
                        return Some(r);
                    }
                    r += 1;
                    q += 1;
                }
                Op::Insertion => r += 1,
                Op::Deletion => {
                    if q == g {
                        return Some(r);
                    }
                    q += 1;
                }
            }
        }
        None
    }

    /// The same alignment seen on the reversed read (length `read_len`) and the
    /// reversed germline (length `germ_len`).
    pub fn reversed(&self, read_len: usize, germ_len: usize) -> Path {
        Path {
            read_start: read_len - self.read_end,
            read_end: read_len - self.read_start,
            germ_start: germ_len - self.germ_end,
            germ_end: germ_len - self.germ_start,
            ops: self.ops.iter().rev().copied().collect(),
            score: self.score,
        }
    }

    pub fn matches(&self) -> usize {
        self.ops.iter().filter(|&&o| o == Op::Match).count()
    }

    /// Aligned columns (matches, mismatches and gaps).
    pub fn columns(&self) -> usize {
        self.ops.len()
    }
}

/// Best local scores of `read` against `germ` without a traceback (for ranking
/// candidate alleles; two rows of memory): (with the end penalty, without).
pub fn best_scores(read: &[u8], germ: &[u8], rows: &mut (Vec<i32>, Vec<i32>)) -> (i32, i32) {
    let m = germ.len();
    let (prev, cur) = rows;
    prev.clear();
    prev.resize(m + 1, 0);
    cur.clear();
    cur.resize(m + 1, 0);
    let (mut penalized, mut local) = (i32::MIN, 0);
    for &r in read {
        cur[0] = 0;
        for j in 1..=m {
            let h = (prev[j - 1] + substitution(r, germ[j - 1]))
                .max(prev[j] + INDEL)
                .max(cur[j - 1] + INDEL)
                .max(0);
            cur[j] = h;
            if h > 0 {
                penalized = penalized.max(h + END_DELETION * (m - j) as i32);
                local = local.max(h);
            }
        }
        std::mem::swap(prev, cur);
    }
    (penalized, local)
}

/// The full local-alignment matrix of a read against a germline gene.
pub struct Matrix {
    rows: usize,
    cols: usize,
    h: Vec<i32>,
}

impl Matrix {
    pub fn local(read: &[u8], germ: &[u8]) -> Matrix {
        let (rows, cols) = (read.len() + 1, germ.len() + 1);
        let mut h = vec![0i32; rows * cols];
        for i in 1..rows {
            let (done, row) = h.split_at_mut(i * cols);
            let prev = &done[(i - 1) * cols..];
            let r = read[i - 1];
            for j in 1..cols {
                row[j] = (prev[j - 1] + substitution(r, germ[j - 1]))
                    .max(prev[j] + INDEL)
                    .max(row[j - 1] + INDEL)
                    .max(0);
            }
        }
        Matrix { rows, cols, h }
    }

    /// Semi-global: the whole read aligned, the germline's ends free.
    pub fn semi_global(read: &[u8], germ: &[u8]) -> Matrix {
        let (rows, cols) = (read.len() + 1, germ.len() + 1);
        let mut h = vec![0i32; rows * cols];
        for i in 1..rows {
            let (done, row) = h.split_at_mut(i * cols);
            let prev = &done[(i - 1) * cols..];
            row[0] = INDEL * i as i32;
            let r = read[i - 1];
            for j in 1..cols {
                row[j] = (prev[j - 1] + substitution(r, germ[j - 1]))
                    .max(prev[j] + INDEL)
                    .max(row[j - 1] + INDEL);
            }
        }
        Matrix { rows, cols, h }
    }

    #[inline]
    fn at(&self, i: usize, j: usize) -> i32 {
        self.h[i * self.cols + j]
    }

    /// End of the best local alignment counting the end penalty: (read end, germ
    /// end, score). Ties go to the shortest read end, then the longest germline.
    pub fn best_end(&self) -> Option<(usize, usize, i32)> {
        let m = self.cols - 1;
        let mut best: Option<(usize, usize, i32)> = None;
        for i in 1..self.rows {
            for j in 1..self.cols {
                let h = self.at(i, j);
                if h <= 0 {
                    continue;
                }
                let s = h + END_DELETION * (m - j) as i32;
                if best.is_none_or(|b| s > b.2 || (s == b.2 && i == b.0)) {
                    best = Some((i, j, s));
                }
            }
        }
        best
    }

    /// Best score of an alignment whose read part ends at `i` (exclusive), and its
    /// germline end (the longest germline on ties).
    pub fn best_on_row(&self, i: usize) -> (i32, usize) {
        let mut best = (0, 0);
        for j in 1..self.cols {
            let h = self.at(i, j);
            if h >= best.0 && h > 0 {
                best = (h, j);
            }
        }
        best
    }

    /// Best semi-global end on the last row: (score, germ end).
    pub fn best_on_last_row(&self) -> (i32, usize) {
        let i = self.rows - 1;
        let mut best = (i32::MIN, 0);
        for j in 0..self.cols {
            if self.at(i, j) > best.0 {
                best = (self.at(i, j), j);
            }
        }
        best
    }

    /// The alignment ending at (read `i`, germline `j`), traced back to where a local
    /// alignment starts (score 0) or, for a semi-global matrix, to the read's start.
    pub fn traceback(&self, read: &[u8], germ: &[u8], i: usize, j: usize, semi_global: bool) -> Path {
        let score = self.at(i, j);
        let (mut i, mut j) = (i, j);
        let (read_end, germ_end) = (i, j);
        let mut ops = Vec::new();
        loop {
            let h = self.at(i, j);
            if semi_global {
                if i == 0 {
                    break;
                }
            } else if h <= 0 || i == 0 || j == 0 {
                break;
            }
            if i > 0 && j > 0 && h == self.at(i - 1, j - 1) + substitution(read[i - 1], germ[j - 1]) {
                ops.push(if read[i - 1] == germ[j - 1] && read[i - 1] != b'N' {
                    Op::Match
                } else {
                    Op::Mismatch
                });
                i -= 1;
                j -= 1;
            } else if i > 0 && h == self.at(i - 1, j) + INDEL {
                ops.push(Op::Insertion);
                i -= 1;
            } else {
                ops.push(Op::Deletion);
                j -= 1;
            }
        }
        ops.reverse();
        Path {
            read_start: i,
            read_end,
            germ_start: j,
            germ_end,
            ops,
            score,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_alignment_with_a_deleted_end() {
        // The read holds germline[5..26] then unrelated nucleotides.
        let germ = b"ACGTTGCAGGCTAGCTTAGGCATCGATCGGA";
        let mut read = b"CAA".to_vec();
        read.extend_from_slice(&germ[5..26]);
        read.extend_from_slice(b"CCCCCC");
        let m = Matrix::local(&read, germ);
        let (i, j, s) = m.best_end().unwrap();
        assert_eq!((i, j), (24, 26));
        assert_eq!(s, 21 * MATCH + END_DELETION * 5);
        let path = m.traceback(&read, germ, i, j, false);
        assert_eq!((path.read_start, path.germ_start), (3, 5));
        assert_eq!(path.matches(), 21);
        assert_eq!(best_scores(&read, germ, &mut Default::default()), (s, 21 * MATCH));
        assert_eq!(path.read_position_of(10), Some(8));
        assert_eq!(path.read_position_of(2), None);
    }

    #[test]
    fn an_indel_is_aligned_as_such() {
        let germ = b"GATTACAGATTACACCGGTTAACCGGTTAACCGTAGCATGCA";
        let mut read = germ[..20].to_vec();
        read.extend_from_slice(&germ[21..]); // one germline nt deleted
        let m = Matrix::local(&read, germ);
        let (i, j, _) = m.best_end().unwrap();
        let path = m.traceback(&read, germ, i, j, false);
        assert_eq!(path.ops.iter().filter(|&&o| o == Op::Deletion).count(), 1);
        assert_eq!(
            (path.read_start, path.read_end, path.germ_end),
            (0, read.len(), germ.len())
        );
        assert_eq!(path.read_position_of(20), Some(20));
    }

    #[test]
    fn semi_global_aligns_the_whole_read() {
        let germ = b"GGTATAGCAGCAGCTGGTAC";
        let read = b"TAGCAGCAG";
        let m = Matrix::semi_global(read, germ);
        let (score, j) = m.best_on_last_row();
        assert_eq!((score, j), (9 * MATCH, 13));
        let path = m.traceback(read, germ, read.len(), j, true);
        assert_eq!((path.read_start, path.germ_start), (0, 4));
    }

    #[test]
    fn reversing_a_path() {
        let p = Path {
            read_start: 2,
            read_end: 6,
            germ_start: 0,
            germ_end: 4,
            ops: vec![Op::Match, Op::Mismatch, Op::Match, Op::Match],
            score: 6,
        };
        let r = p.reversed(10, 8);
        assert_eq!((r.read_start, r.read_end, r.germ_start, r.germ_end), (4, 8, 4, 8));
        assert_eq!(r.ops[2], Op::Mismatch);
    }
}
