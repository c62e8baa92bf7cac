//! vidjil_core: detection of V(D)J recombinations in reads and their clustering
//! into clones. Plain Rust; the Python bindings live behind the `python` feature.

pub mod clones;
pub mod detect;
pub mod error;
pub mod evalue;
pub mod germline;
pub mod index;
pub mod nuc;
pub mod pipeline;
pub mod reader;
pub mod seed;

#[cfg(feature = "python")]
mod python;
