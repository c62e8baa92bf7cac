//! The k-mer index: for every distinct seed shape of the selected systems, a
//! table of 4^weight one-byte label-set ids. A label is (system, side V/J,
//! strand); a k-mer found in several genes carries the set of their labels, so
//! one lookup answers for every system sharing that seed.
//!
//! Tables are direct-address (one byte per key, 64 MB for a 13-nt seed): a
//! bitmap-and-rank layout 5x smaller was measured slower, its two dependent
//! loads costing more than the cache misses it saves.

use crate::germline::Germline;
use crate::nuc::revcomp;
use crate::seed::{encode, Seed};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

pub const SIDE_V: usize = 0;
pub const SIDE_J: usize = 1;
pub const FORWARD: usize = 0;
pub const REVERSE: usize = 1;

/// Label bit of (system, side, strand) in a label-set mask.
#[inline(always)]
pub fn label_bit(system: usize, side: usize, strand: usize) -> u64 {
    1u64 << (system * 4 + side * 2 + strand)
}

/// Set id stored when more than 254 distinct label sets exist: no information.
const OVERFLOW_ID: u8 = 255;

pub struct SeedTable {
    pub seed: Seed,
    pub table: DirectTable,
    /// Fraction of the keys carrying any label.
    pub load: f64,
    /// Small presence filter of the keys, for the probe of each read.
    pub filter: PresenceFilter,
}

/// One bit per (hashed) key with a label: 256 kB at most, so that probing a read
/// stays in cache whatever the size of the table.
pub struct PresenceFilter {
    bits: Vec<u64>,
    /// Hash bits kept; keys are used as they are when the key space is that small.
    log_size: u32,
    hashed: bool,
    /// Fraction of bits set: the chance that a random key passes.
    pub load: f64,
}

const FILTER_LOG_SIZE: u32 = 21;

impl PresenceFilter {
    fn new(key_bits: u32, keys: impl Iterator<Item = u32>) -> PresenceFilter {
        let hashed = key_bits > FILTER_LOG_SIZE;
        let log_size = key_bits.min(FILTER_LOG_SIZE);
        let mut filter = PresenceFilter {
            bits: vec![0u64; (1usize << log_size).div_ceil(64)],
            log_size,
            hashed,
            load: 0.0,
        };
        for k in keys {
            let i = filter.index(k as usize);
            filter.bits[i >> 6] |= 1u64 << (i & 63);
        }
        let set: u32 = filter.bits.iter().map(|w| w.count_ones()).sum();
        filter.load = set as f64 / (1u64 << log_size) as f64;
        filter
    }

    #[inline(always)]
    fn index(&self, key: usize) -> usize {
        if self.hashed {
            ((key as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - self.log_size)) as usize
        } else {
            key
        }
    }

    #[inline(always)]
    pub fn may_contain(&self, key: usize) -> bool {
        let i = self.index(key);
        self.bits[i >> 6] & (1u64 << (i & 63)) != 0
    }
}

/// Label-set ids of a key space, one byte per key: one memory access per lookup.
pub struct DirectTable {
    ids: Vec<u8>,
}

impl DirectTable {
    fn from_entries(size: usize, entries: impl Iterator<Item = (u32, u8)>) -> DirectTable {
        let mut ids = huge_page_zeroed(size);
        for (k, id) in entries {
            ids[k as usize] = id;
        }
        DirectTable { ids }
    }

    #[inline(always)]
    pub fn contains(&self, key: usize) -> bool {
        self.ids[key] != 0
    }

    /// Label-set id of `key` (0: none).
    #[inline(always)]
    pub fn get(&self, key: usize) -> u8 {
        self.ids[key]
    }

    pub fn bytes(&self) -> usize {
        self.ids.len()
    }
}

/// A zeroed buffer that the kernel may back with huge pages, which saves most
/// TLB misses of random lookups in a table of several megabytes.
fn huge_page_zeroed(size: usize) -> Vec<u8> {
    let buffer = vec![0u8; size];
    #[cfg(target_os = "linux")]
    if size >= 1 << 21 {
        let start = (buffer.as_ptr() as usize) & !4095;
        let len = buffer.as_ptr() as usize + size - start;
        // SAFETY: the range lies within the pages of this fresh allocation, and
        // MADV_HUGEPAGE changes only how the kernel backs them, never their content.
        unsafe {
            libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
        }
    }
    buffer
}

/// Multiply-shift hasher for the k-mer keys while building.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, k: u32) {
        self.0 = (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
}

pub struct KmerIndex {
    pub tables: Vec<SeedTable>,
    /// Table used by each system.
    pub system_table: Vec<usize>,
    /// Label-set id -> mask of label bits (id 0 = no label); 256 entries.
    pub label_sets: Vec<u64>,
    /// Per label bit: fraction of the key space carrying that label (index load).
    pub load: Vec<f64>,
}

impl KmerIndex {
    pub fn build(germline: &Germline) -> KmerIndex {
        let mut tables: Vec<Seed> = Vec::new();
        let mut system_table = Vec::new();
        for system in &germline.systems {
            let t = match tables.iter().position(|t| t.shape == system.seed.shape) {
                Some(t) => t,
                None => {
                    tables.push(system.seed.clone());
                    tables.len() - 1
                }
            };
            system_table.push(t);
        }
        let n_labels = germline.systems.len() * 4;
        let mut builder = SetBuilder::new();
        let mut distinct = vec![0u64; n_labels];
        let mut codes = Vec::new();
        let mut maps: Vec<HashMap<u32, u8, BuildHasherDefault<KeyHasher>>> =
            tables.iter().map(|_| HashMap::default()).collect();
        for (s, system) in germline.systems.iter().enumerate() {
            let seed = &tables[system_table[s]];
            let map = &mut maps[system_table[s]];
            for side in [SIDE_V, SIDE_J] {
                for f in system.side_files(side) {
                    for allele in &germline.files[f].alleles {
                        for (strand, seq) in [(FORWARD, allele.seq.clone()), (REVERSE, revcomp(&allele.seq))]
                        {
                            let bit = label_bit(s, side, strand);
                            let bit_index = bit.trailing_zeros() as usize;
                            encode(&seq, &mut codes);
                            seed.for_each_key(&codes, |_, key| {
                                let entry = map.entry(key as u32).or_insert(0);
                                let old = *entry;
                                if old == OVERFLOW_ID || builder.sets[old as usize] & bit != 0 {
                                    return;
                                }
                                *entry = builder.add(old, bit);
                                distinct[bit_index] += 1;
                            });
                        }
                    }
                }
            }
        }
        let tables: Vec<SeedTable> = tables
            .into_iter()
            .zip(maps)
            .map(|(seed, map)| {
                let size = seed.table_size();
                let load = map.len() as f64 / size as f64;
                let filter = PresenceFilter::new(2 * seed.weight, map.keys().copied());
                SeedTable {
                    table: DirectTable::from_entries(size, map.into_iter()),
                    seed,
                    load,
                    filter,
                }
            })
            .collect();
        let load = (0..n_labels)
            .map(|b| {
                let size = tables[system_table[b / 4]].seed.table_size() as f64;
                (distinct[b] as f64 / size).max(1.0 / size)
            })
            .collect();
        let mut label_sets = builder.sets;
        label_sets.resize(256, 0);
        KmerIndex {
            tables,
            system_table,
            label_sets,
            load,
        }
    }

    /// Bytes held by the lookup tables and their filters.
    pub fn table_bytes(&self) -> usize {
        self.tables
            .iter()
            .map(|t| t.table.bytes() + t.filter.bits.len() * 8)
            .sum()
    }
}

/// Interns label sets: (set id, added bit) -> new set id.
struct SetBuilder {
    sets: Vec<u64>,
    transitions: Vec<[u8; 64]>,
}

impl SetBuilder {
    fn new() -> SetBuilder {
        SetBuilder {
            sets: vec![0],
            transitions: vec![[0u8; 64]],
        }
    }

    fn add(&mut self, id: u8, bit: u64) -> u8 {
        let b = bit.trailing_zeros() as usize;
        let cached = self.transitions[id as usize][b];
        if cached != 0 {
            return cached;
        }
        let mask = self.sets[id as usize] | bit;
        let new_id = match self.sets.iter().position(|&m| m == mask) {
            Some(i) => i as u8,
            None if self.sets.len() < OVERFLOW_ID as usize => {
                self.sets.push(mask);
                self.transitions.push([0u8; 64]);
                (self.sets.len() - 1) as u8
            }
            None => OVERFLOW_ID,
        };
        self.transitions[id as usize][b] = new_id;
        new_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::germline::Germline;

    #[test]
    fn germline_kmers_are_labelled_on_both_strands() {
        let dir = std::env::temp_dir().join(format!("vidjil_core_index_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("V.fa"), ">TRGV9*01\nACGTACGGTCAGTCCATGACTTGACCAGT\n").unwrap();
        std::fs::write(dir.join("J.fa"), ">TRGJ1*01\nTTGCCAGGACCATTGGATCAGGTTTAC\n").unwrap();
        let preset = r#"{"systems": {"TRG": {"recombinations": [{"5": ["V.fa"], "3": ["J.fa"]}],
            "parameters": {"seed": "9c"}}}}"#;
        std::fs::write(dir.join("t.g"), preset).unwrap();
        let g = Germline::load(dir.join("t.g").to_str().unwrap()).unwrap();
        let index = KmerIndex::build(&g);
        let table = &index.tables[0];
        let key_of = |s: &[u8]| {
            let mut codes = Vec::new();
            encode(s, &mut codes);
            let mut k = 0;
            table.seed.for_each_key(&codes, |_, key| k = key);
            k
        };
        let v_fwd = index.label_sets[table.table.get(key_of(b"ACGTACGGT")) as usize];
        assert_eq!(v_fwd, label_bit(0, SIDE_V, FORWARD));
        let v_rev = index.label_sets[table.table.get(key_of(&revcomp(b"ACGTACGGT"))) as usize];
        assert_eq!(v_rev, label_bit(0, SIDE_V, REVERSE));
        let j_fwd = index.label_sets[table.table.get(key_of(b"GGATCAGGT")) as usize];
        assert_eq!(j_fwd, label_bit(0, SIDE_J, FORWARD));
        assert!(!table.table.contains(key_of(b"AAAAAAAAA")));
        assert!(table.filter.may_contain(key_of(b"ACGTACGGT")));
        assert!(!table.filter.may_contain(key_of(b"AAAAAAAAA")));
        // 2 x 21 + 2 x 19 distinct 9-mers, at most, over 4^9 keys
        assert!(table.load > 0.0 && table.load <= 80.0 / 262144.0);
    }
}
