//! Spaced seeds: shapes such as `#####-#####` (Vidjil's `10s`), packed k-mers
//! slid along a sequence 2 bits per base.

use crate::nuc::{CODES, NOT_ACGT};

/// A spaced seed: `#` positions are read, `-` positions are skipped.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Seed {
    pub shape: String,
    /// Number of `#` positions: a key has 2 * weight bits.
    pub weight: u32,
    /// Total length covered on the sequence.
    pub span: usize,
    /// Contiguous runs of `#` as (shift from the right end of the span, length).
    runs: Vec<(u32, u32)>,
    /// The same for one or two runs, as shifts and masks: key =
    /// ((x >> hi_shift) & hi_mask) << lo_bits | ((x >> lo_shift) & lo_mask).
    hi_shift: u32,
    hi_mask: u64,
    lo_bits: u32,
    lo_shift: u32,
    lo_mask: u64,
}

pub const MAX_WEIGHT: u32 = 13;

impl Seed {
    /// Parse a Vidjil seed name (`9c`, `10s`, `12s`, `13s`) or an explicit shape.
    pub fn parse(name: &str) -> Result<Seed, String> {
        let shape = match name {
            "9c" => "#########".to_string(),
            "10s" => "#####-#####".to_string(),
            "12s" => "######-######".to_string(),
            "13s" => "#######-######".to_string(),
            other => {
                if let Some(w) = other.strip_suffix('c').and_then(|n| n.parse::<usize>().ok()) {
                    "#".repeat(w)
                } else if let Some(w) = other.strip_suffix('s').and_then(|n| n.parse::<usize>().ok()) {
                    format!("{}-{}", "#".repeat(w.div_ceil(2)), "#".repeat(w / 2))
                } else {
                    other.to_string()
                }
            }
        };
        if shape.is_empty()
            || !shape.bytes().all(|b| b == b'#' || b == b'-')
            || !shape.starts_with('#')
            || !shape.ends_with('#')
        {
            return Err(format!(
                "invalid seed '{name}' (expected e.g. 10s, 12s, 9c or #####-#####)"
            ));
        }
        let weight = shape.bytes().filter(|&b| b == b'#').count() as u32;
        if !(4..=MAX_WEIGHT).contains(&weight) || shape.len() > 32 {
            return Err(format!(
                "seed '{name}' has weight {weight}; allowed 4..={MAX_WEIGHT}, span <= 32"
            ));
        }
        let span = shape.len();
        let mut runs = Vec::new();
        let bytes = shape.as_bytes();
        let mut i = 0;
        while i < span {
            if bytes[i] == b'#' {
                let start = i;
                while i < span && bytes[i] == b'#' {
                    i += 1;
                }
                runs.push(((span - i) as u32, (i - start) as u32));
            } else {
                i += 1;
            }
        }
        let mask = |len: u32| {
            if len == 32 {
                u64::MAX
            } else {
                (1u64 << (2 * len)) - 1
            }
        };
        let (hi, lo) = match runs.as_slice() {
            [one] => (*one, (0, 0)),
            [first, second] => (*first, *second),
            _ => ((0, 0), (0, 0)),
        };
        Ok(Seed {
            hi_shift: 2 * hi.0,
            hi_mask: mask(hi.1),
            lo_bits: 2 * lo.1,
            lo_shift: 2 * lo.0,
            lo_mask: if lo.1 == 0 { 0 } else { mask(lo.1) },
            shape,
            weight,
            span,
            runs,
        })
    }

    /// Number of distinct keys (size of a direct-address table).
    pub fn table_size(&self) -> usize {
        1usize << (2 * self.weight)
    }

    /// Key of the packed span `x` (base j of the span at bits 2*(span-1-j)).
    #[inline(always)]
    pub fn key(&self, x: u64) -> usize {
        if self.runs.len() <= 2 {
            let hi = ((x >> self.hi_shift) & self.hi_mask) << self.lo_bits;
            return (hi | ((x >> self.lo_shift) & self.lo_mask)) as usize;
        }
        let mut key = 0u64;
        for &(shift, len) in &self.runs {
            key = (key << (2 * len)) | ((x >> (2 * shift)) & ((1u64 << (2 * len)) - 1));
        }
        key as usize
    }

    /// Call `f(position, key)` for every span of `seq` made of A/C/G/T only.
    #[inline]
    pub fn for_each_key(&self, codes: &[u8], mut f: impl FnMut(usize, usize)) {
        let span = self.span;
        if codes.len() < span {
            return;
        }
        let mask: u64 = if span == 32 {
            u64::MAX
        } else {
            (1u64 << (2 * span)) - 1
        };
        let mut x = 0u64;
        // Number of consecutive A/C/G/T codes ending at the current base.
        let mut valid = 0usize;
        for (i, &c) in codes.iter().enumerate() {
            if c >= NOT_ACGT {
                valid = 0;
                x = 0;
                continue;
            }
            x = ((x << 2) | c as u64) & mask;
            valid += 1;
            if valid >= span {
                f(i + 1 - span, self.key(x));
            }
        }
    }
}

/// 2-bit codes of a sequence (`NOT_ACGT` for N and other letters).
pub fn encode(seq: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend(seq.iter().map(|&b| CODES[b as usize].min(NOT_ACGT)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(s: &[u8]) -> usize {
        s.iter()
            .fold(0usize, |k, &b| (k << 2) | CODES[b as usize] as usize)
    }

    #[test]
    fn parses_vidjil_seed_names() {
        assert_eq!(Seed::parse("10s").unwrap().shape, "#####-#####");
        assert_eq!(Seed::parse("12s").unwrap().span, 13);
        assert_eq!(Seed::parse("13s").unwrap().weight, 13);
        assert_eq!(Seed::parse("9c").unwrap().span, 9);
        assert!(Seed::parse("##-x#").is_err());
        assert!(Seed::parse("20c").is_err());
    }

    #[test]
    fn spaced_key_skips_the_gap() {
        let seed = Seed::parse("###-##").unwrap();
        let mut codes = Vec::new();
        encode(b"ACGTTGCA", &mut codes);
        let mut keys = Vec::new();
        seed.for_each_key(&codes, |pos, key| keys.push((pos, key)));
        // spans: ACGTTG, CGTTGC, GTTGCA -> keys ACG+TG, CGT+GC, GTT+CA
        assert_eq!(
            keys,
            vec![(0, pack(b"ACGTG")), (1, pack(b"CGTGC")), (2, pack(b"GTTCA"))]
        );
    }

    #[test]
    fn keys_of_three_runs_use_the_general_path() {
        let seed = Seed::parse("##-#-##").unwrap();
        let mut codes = Vec::new();
        encode(b"ACGTTGCA", &mut codes);
        let mut keys = Vec::new();
        seed.for_each_key(&codes, |_, key| keys.push(key));
        // ACGTTGC -> AC + T + GC ; CGTTGCA -> CG + T + CA
        assert_eq!(keys, vec![pack(b"ACTGC"), pack(b"CGTCA")]);
    }

    #[test]
    fn spans_with_n_are_skipped() {
        let seed = Seed::parse("9c").unwrap();
        let mut codes = Vec::new();
        encode(b"ACGTACGTANACGTACGTAC", &mut codes);
        let mut positions = Vec::new();
        seed.for_each_key(&codes, |pos, _| positions.push(pos));
        assert_eq!(positions, vec![0, 10, 11]);
    }
}
