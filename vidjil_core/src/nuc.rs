//! Nucleotide encoding: 2 bits per base (A=0, C=1, G=2, T=3), with a marker for
//! anything that is not A/C/G/T (N and the other IUPAC letters).

/// Code of a base that cannot be packed (N, IUPAC ambiguity letters).
pub const NOT_ACGT: u8 = 4;
/// Code of a byte that is not a nucleotide letter at all.
pub const INVALID: u8 = 255;

const fn build_codes() -> [u8; 256] {
    let mut t = [INVALID; 256];
    let acgt = [(b'A', 0u8), (b'C', 1), (b'G', 2), (b'T', 3), (b'U', 3)];
    let mut i = 0;
    while i < acgt.len() {
        let (b, c) = acgt[i];
        t[b as usize] = c;
        t[(b + 32) as usize] = c;
        i += 1;
    }
    let ambiguous = b"NRYKMSWBDHV";
    let mut j = 0;
    while j < ambiguous.len() {
        t[ambiguous[j] as usize] = NOT_ACGT;
        t[(ambiguous[j] + 32) as usize] = NOT_ACGT;
        j += 1;
    }
    t
}

/// Byte -> 2-bit code, `NOT_ACGT` or `INVALID`.
pub static CODES: [u8; 256] = build_codes();

const fn build_complement() -> [u8; 256] {
    let mut t = [b'N'; 256];
    let pairs = [
        (b'A', b'T'),
        (b'C', b'G'),
        (b'G', b'C'),
        (b'T', b'A'),
        (b'U', b'A'),
        (b'N', b'N'),
    ];
    let mut i = 0;
    while i < pairs.len() {
        let (a, b) = pairs[i];
        t[a as usize] = b;
        t[(a + 32) as usize] = b;
        i += 1;
    }
    t
}

static COMPLEMENT: [u8; 256] = build_complement();

/// Reverse complement, upper case (any non-ACGT letter becomes N).
pub fn revcomp(seq: &[u8]) -> Vec<u8> {
    seq.iter().rev().map(|&b| COMPLEMENT[b as usize]).collect()
}

/// Append the reverse complement of `seq` to `out` (no allocation).
pub fn revcomp_into(seq: &[u8], out: &mut Vec<u8>) {
    out.extend(seq.iter().rev().map(|&b| COMPLEMENT[b as usize]));
}

/// Upper-case ACGT; anything else that is a nucleotide letter becomes N.
pub fn normalize(seq: &[u8]) -> Vec<u8> {
    seq.iter()
        .map(|&b| match CODES[b as usize] {
            0 => b'A',
            1 => b'C',
            2 => b'G',
            3 => b'T',
            _ => b'N',
        })
        .collect()
}

/// Whether every byte is a nucleotide letter (ACGTU, N or IUPAC, any case).
pub fn first_invalid(seq: &[u8]) -> Option<usize> {
    seq.iter().position(|&b| CODES[b as usize] == INVALID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_revcomp() {
        assert_eq!(CODES[b'a' as usize], 0);
        assert_eq!(CODES[b'T' as usize], 3);
        assert_eq!(CODES[b'n' as usize], NOT_ACGT);
        assert_eq!(CODES[b'R' as usize], NOT_ACGT);
        assert_eq!(CODES[b'*' as usize], INVALID);
        assert_eq!(revcomp(b"AACGTn"), b"NACGTT");
        assert_eq!(normalize(b"acgRt"), b"ACGNT");
        assert_eq!(first_invalid(b"ACG TA"), Some(3));
        assert_eq!(first_invalid(b"ACGNTA"), None);
    }
}
