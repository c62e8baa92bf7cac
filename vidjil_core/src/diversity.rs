//! Diversity of a repertoire from its clone sizes: Shannon, Pielou evenness,
//! Simpson and Chao1.

use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Diversity {
    /// Shannon entropy H (natural log).
    pub shannon: f64,
    /// Pielou evenness H / ln(S).
    pub evenness: f64,
    /// Simpson diversity 1 - sum n(n-1) / N(N-1).
    pub simpson: f64,
    pub clones: u64,
    /// Reads, and clones of one and of two reads (Chao1's f1, f2).
    pub reads: u64,
    pub singletons: u64,
    pub doubletons: u64,
    /// Bias-corrected Chao1 richness: S + f1 (f1 - 1) / (2 (f2 + 1)).
    pub chao1: f64,
}

impl Diversity {
    pub fn of(sizes: impl Iterator<Item = u64>) -> Diversity {
        let (mut n, mut s, mut n_ln_n, mut pairs) = (0f64, 0u64, 0f64, 0f64);
        let (mut f1, mut f2) = (0u64, 0u64);
        for x in sizes.filter(|&x| x > 0) {
            f1 += (x == 1) as u64;
            f2 += (x == 2) as u64;
            let x = x as f64;
            n += x;
            s += 1;
            n_ln_n += x * x.ln();
            pairs += x * (x - 1.0);
        }
        if n == 0.0 {
            return Diversity::default();
        }
        let shannon = n.ln() - n_ln_n / n;
        let singletons = f1 as f64;
        Diversity {
            shannon,
            evenness: if s > 1 { shannon / (s as f64).ln() } else { 0.0 },
            simpson: if n > 1.0 {
                1.0 - pairs / (n * (n - 1.0))
            } else {
                0.0
            },
            clones: s,
            reads: n as u64,
            singletons: f1,
            doubletons: f2,
            chao1: s as f64 + singletons * (singletons - 1.0).max(0.0) / (2.0 * (f2 as f64 + 1.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diversity_by_hand() {
        // 2 clones of 5 reads: H = ln 2, evenness 1, Simpson 1 - 2*20/90
        let d = Diversity::of([5u64, 5].into_iter());
        assert!((d.shannon - 2f64.ln()).abs() < 1e-12);
        assert!((d.evenness - 1.0).abs() < 1e-12);
        assert!((d.simpson - (1.0 - 40.0 / 90.0)).abs() < 1e-12);
        assert_eq!(Diversity::of([7u64].into_iter()).shannon, 0.0);
        // Chao1: S + f1 (f1 - 1) / (2 (f2 + 1)) = 5 + 3 * 2 / (2 * 2) = 6.5
        let d = Diversity::of([1u64, 1, 1, 2, 9].into_iter());
        assert_eq!((d.singletons, d.doubletons, d.reads), (3, 1, 14));
        assert_eq!(d.chao1, 6.5);
        assert_eq!(Diversity::of(std::iter::empty()).chao1, 0.0);
    }
}
