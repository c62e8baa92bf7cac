//! Times the detection of every read of a file on one thread, reads held in memory.
//! cargo run --release --example detect_profile -- GERMLINE.g READS.fastq.gz [N]

use std::time::Instant;
use vidjil_core::detect::{DetectParams, Detector, Outcome, Scratch};
use vidjil_core::germline::Germline;
use vidjil_core::index::KmerIndex;
use vidjil_core::reader::BatchReader;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let limit: usize = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(200_000);
    let t = Instant::now();
    let germline = Germline::load(&args[1]).unwrap();
    let index = KmerIndex::build(&germline);
    eprintln!("germline + index: {:.3} s", t.elapsed().as_secs_f64());
    let mut reader = BatchReader::new(vec![args[2].clone()]);
    let mut reads: Vec<Vec<u8>> = Vec::new();
    while let Some(b) = reader.next_batch().unwrap() {
        for i in 0..b.len() {
            reads.push(b.seq(i).to_vec());
        }
        if reads.len() >= limit {
            break;
        }
    }
    let detector = Detector::new(&index, &germline, DetectParams::default());
    let mut scratch = Scratch::default();
    let t = Instant::now();
    let mut detected = 0;
    for r in &reads {
        if let Outcome::Detected(_) = detector.detect(r, &mut scratch) {
            detected += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "{} reads, {} detected, {:.3} s, {:.0} reads/s, {:.2} us/read",
        reads.len(),
        detected,
        secs,
        reads.len() as f64 / secs,
        secs * 1e6 / reads.len() as f64
    );
}
