//! E-values: the chance that a random sequence shows as many germline k-mers as
//! observed, from a binomial tail on the index load.

const TABLE: usize = 4096;

pub struct LnFactorial {
    table: Vec<f64>,
}

impl Default for LnFactorial {
    fn default() -> Self {
        Self::new()
    }
}

impl LnFactorial {
    pub fn new() -> LnFactorial {
        let mut table = Vec::with_capacity(TABLE);
        let mut acc = 0.0f64;
        table.push(0.0);
        for i in 1..TABLE {
            acc += (i as f64).ln();
            table.push(acc);
        }
        LnFactorial { table }
    }

    #[inline]
    pub fn get(&self, n: usize) -> f64 {
        if n < TABLE {
            self.table[n]
        } else {
            // Stirling's series, exact to ~1e-12 here.
            let x = n as f64;
            x * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI * x).ln() + 1.0 / (12.0 * x)
        }
    }

    /// Upper bound of P(X >= k) for X ~ Binomial(n, p), within a factor 1/(1-r)
    /// of its first term (a geometric bound on the ratio of successive terms).
    pub fn binomial_tail(&self, k: usize, n: usize, p: f64) -> f64 {
        if k == 0 {
            return 1.0;
        }
        if k > n {
            return 0.0;
        }
        let q = 1.0 - p;
        let r = (n - k) as f64 * p / ((k + 1) as f64 * q);
        if r >= 1.0 {
            return 1.0;
        }
        let ln_term =
            self.get(n) - self.get(k) - self.get(n - k) + k as f64 * p.ln() + (n - k) as f64 * q.ln();
        (ln_term - (1.0 - r).ln()).exp().min(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact_tail(k: usize, n: usize, p: f64) -> f64 {
        let f = LnFactorial::new();
        (k..=n)
            .map(|i| {
                (f.get(n) - f.get(i) - f.get(n - i) + i as f64 * p.ln() + (n - i) as f64 * (1.0 - p).ln())
                    .exp()
            })
            .sum()
    }

    #[test]
    fn tail_bound_is_tight_and_above_the_exact_value() {
        let f = LnFactorial::new();
        for &(k, n, p) in &[
            (5usize, 100usize, 0.01f64),
            (20, 150, 0.006),
            (3, 40, 0.03),
            (60, 200, 0.1),
        ] {
            let exact = exact_tail(k, n, p);
            let bound = f.binomial_tail(k, n, p);
            assert!(bound >= exact * 0.999_999, "{k} {n} {p}: {bound} < {exact}");
            assert!(bound <= exact * 3.0, "{k} {n} {p}: {bound} >> {exact}");
        }
        assert_eq!(f.binomial_tail(0, 10, 0.1), 1.0);
        assert_eq!(f.binomial_tail(1, 100, 0.5), 1.0);
    }

    #[test]
    fn stirling_matches_the_table() {
        let f = LnFactorial::new();
        let x = 4095.0f64;
        let stirling = x * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI * x).ln() + 1.0 / (12.0 * x);
        assert!((stirling - f.get(4095)).abs() < 1e-6);
    }
}
