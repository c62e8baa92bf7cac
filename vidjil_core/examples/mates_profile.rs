//! Times the merging of every pair of two files on one thread, pairs held in memory.
//! cargo run --release --example mates_profile -- R1.fastq.gz R2.fastq.gz [N]

use std::time::Instant;
use vidjil_core::mates::{merge_mates, MateParams};
use vidjil_core::reader::{BatchReader, Input};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let limit: usize = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(200_000);
    let mut reader = BatchReader::with_inputs(vec![Input::Pair(args[1].clone(), args[2].clone())]);
    let mut batches = Vec::new();
    let mut n = 0;
    while let Some(b) = reader.next_batch().unwrap() {
        n += b.len();
        batches.push(b);
        if n >= limit {
            break;
        }
    }
    let params = MateParams::default();
    let t = Instant::now();
    let (mut merged, mut overlap) = (0u64, 0u64);
    for b in &batches {
        let mates = b.mates.as_deref().expect("pairs");
        for i in 0..b.len() {
            if let Some(m) = merge_mates(b.seq(i), b.qual(i), mates.seq(i), mates.qual(i), &params) {
                merged += 1;
                overlap += m.overlap as u64;
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "{n} pairs, {merged} merged (average overlap {:.1}), {secs:.3} s, {:.2} us/pair",
        overlap as f64 / merged.max(1) as f64,
        secs * 1e6 / n as f64
    );
}
