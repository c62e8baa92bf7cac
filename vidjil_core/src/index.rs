//! The k-mer index: for every distinct seed shape of the selected systems, a
//! direct-address table of 4^weight one-byte label-set ids. A label is
//! (system, side V/J, strand); a k-mer found in several genes carries the set of
//! their labels, so one lookup answers for every system sharing that seed.

use crate::germline::Germline;
use crate::nuc::revcomp;
use crate::seed::{encode, Seed};

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
    pub table: Vec<u8>,
}

pub struct KmerIndex {
    pub tables: Vec<SeedTable>,
    /// Table used by each system.
    pub system_table: Vec<usize>,
    /// Label-set id -> mask of label bits (id 0 = no label).
    pub label_sets: Vec<u64>,
    /// Per label bit: fraction of the key space carrying that label (index load).
    pub load: Vec<f64>,
    /// Number of label bits in use (4 per system).
    pub n_labels: usize,
}

impl KmerIndex {
    pub fn build(germline: &Germline) -> KmerIndex {
        let mut tables: Vec<SeedTable> = Vec::new();
        let mut system_table = Vec::new();
        for system in &germline.systems {
            let t = match tables.iter().position(|t| t.seed.shape == system.seed.shape) {
                Some(t) => t,
                None => {
                    let size = system.seed.table_size();
                    tables.push(SeedTable { seed: system.seed.clone(), table: vec![0u8; size] });
                    tables.len() - 1
                }
            };
            system_table.push(t);
        }
        let n_labels = germline.systems.len() * 4;
        let mut builder = SetBuilder::new();
        let mut distinct = vec![0u64; n_labels];
        let mut codes = Vec::new();
        for (s, system) in germline.systems.iter().enumerate() {
            let table = &mut tables[system_table[s]];
            for side in [SIDE_V, SIDE_J] {
                for f in system.side_files(side) {
                    for allele in &germline.files[f].alleles {
                        for (strand, seq) in [(FORWARD, allele.seq.clone()), (REVERSE, revcomp(&allele.seq))] {
                            let bit = label_bit(s, side, strand);
                            let bit_index = bit.trailing_zeros() as usize;
                            encode(&seq, &mut codes);
                            let seed = table.seed.clone();
                            seed.for_each_key(&codes, |_, key| {
                                let old = table.table[key];
                                if old == OVERFLOW_ID || builder.sets[old as usize] & bit != 0 {
                                    return;
                                }
                                table.table[key] = builder.add(old, bit);
                                distinct[bit_index] += 1;
                            });
                        }
                    }
                }
            }
        }
        let load = (0..n_labels)
            .map(|b| {
                let size = tables[system_table[b / 4]].seed.table_size() as f64;
                (distinct[b] as f64 / size).max(1.0 / size)
            })
            .collect();
        let mut label_sets = builder.sets;
        label_sets.resize(256, 0);
        KmerIndex { tables, system_table, label_sets, load, n_labels }
    }

    /// Bytes held by the lookup tables.
    pub fn table_bytes(&self) -> usize {
        self.tables.iter().map(|t| t.table.len()).sum()
    }
}

/// Interns label sets: (set id, added bit) -> new set id.
struct SetBuilder {
    sets: Vec<u64>,
    transitions: Vec<[u8; 64]>,
}

impl SetBuilder {
    fn new() -> SetBuilder {
        SetBuilder { sets: vec![0], transitions: vec![[0u8; 64]] }
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
