//! vidjil_core: detection of V(D)J recombinations in reads and their clustering
//! into clones. Plain Rust; the Python bindings live behind the `python` feature.

pub mod align;
pub mod clone_build;
pub mod clone_reads;
pub mod clones;
pub mod designate;
pub mod detect;
pub mod diversity;
pub mod error;
pub mod evalue;
pub mod germline;
pub mod index;
pub mod mates;
pub mod molecule_reads;
pub mod nuc;
pub mod pairs;
pub mod params;
pub mod per_read;
pub mod pipeline;
pub mod reader;
pub mod results;
pub mod runner;
pub mod samples;
pub mod seed;
pub mod table_out;
pub mod umi;

#[cfg(feature = "python")]
mod python;

#[cfg(test)]
pub(crate) mod testutil {
    use crate::germline::Germline;

    /// Property tests: `cases` cases drawn from a fixed seed, so that every run (CI
    /// included) tries the same inputs, and no regression file written into the tree.
    /// PROPTEST_RNG_SEED and PROPTEST_CASES, when set, pick other runs.
    pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
        use proptest::test_runner::{Config, RngAlgorithm, RngSeed};
        let env = Config::default();
        Config {
            cases: if std::env::var_os("PROPTEST_CASES").is_some() {
                env.cases
            } else {
                cases
            },
            failure_persistence: None,
            rng_algorithm: RngAlgorithm::ChaCha,
            rng_seed: match env.rng_seed {
                RngSeed::Random => RngSeed::Fixed(0x5eed_2016),
                seed => seed,
            },
            ..env
        }
    }

    /// Deterministic pseudo-random DNA.
    pub fn dna(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b"ACGT"[(x >> 33) as usize % 4]
            })
            .collect()
    }

    /// A one-system preset (`TRG`, V and J of one allele each) written in a temp dir.
    pub fn tiny_germline(v: &[u8], j: &[u8], seed: &str, tag: &str) -> Germline {
        let dir = std::env::temp_dir().join(format!("vidjil_core_{tag}_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("V.fa"),
            format!(">TRGV9*01\n{}\n", String::from_utf8_lossy(v)),
        )
        .unwrap();
        std::fs::write(
            dir.join("J.fa"),
            format!(">TRGJ1*01\n{}\n", String::from_utf8_lossy(j)),
        )
        .unwrap();
        let preset = format!(
            r#"{{"systems": {{"TRG": {{"recombinations": [{{"5": ["V.fa"], "3": ["J.fa"]}}],
            "parameters": {{"seed": "{seed}"}}}}}}}}"#
        );
        std::fs::write(dir.join("t.g"), preset).unwrap();
        Germline::load(dir.join("t.g").to_str().unwrap()).unwrap()
    }
}
