//! The threads of a pass over the reads: a reader thread cuts the input into
//! batches, workers process them, and the calling thread consumes the results in
//! input order (so that nothing depends on the number of threads).

use crate::detect::Scratch;
use crate::error::{InputError, RunError};
use crate::reader::{Batch, BatchReader};
use crossbeam_channel::{bounded, RecvTimeoutError};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Reads processed so far and their rate on stderr, at most once a second (and when `done`).
pub fn progress(quiet: bool, reads: u64, started: Instant, last: &mut Instant, done: bool) {
    if quiet || (!done && last.elapsed() < Duration::from_secs(1)) {
        return;
    }
    *last = Instant::now();
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r  {reads} reads processed, {:.0} reads/s   ",
        reads as f64 / secs
    );
    if done {
        let _ = writeln!(err);
    }
    let _ = err.flush();
}

/// How often the calling thread asks whether to stop while it waits for batches.
const STOP_POLL: Duration = Duration::from_millis(100);

/// Asked on the calling thread between batches (and at least every `STOP_POLL`):
/// true stops the run (the bindings answer from Python's pending signals).
pub type StopProbe<'a> = &'a dyn Fn() -> bool;

/// Read `reader` on one thread, run `process` on each batch on `threads` workers,
/// and hand the results to `consume` on the calling thread in input order.
/// Returns the reads counted per input file, or `Interrupted` once `stop` says so:
/// the threads then end after the batch in hand, or sooner for a `process` that
/// looks at its `cancelled` flag (a slow one: the per-read mode).
pub fn run_batches<R: Send>(
    mut reader: BatchReader,
    threads: usize,
    process: impl Fn(&Batch, &mut Scratch, &AtomicBool) -> R + Sync,
    mut consume: impl FnMut(R),
    stop: StopProbe,
) -> Result<Vec<u64>, RunError> {
    let mut stopped = false;
    let cancelled = AtomicBool::new(false);
    let read_error: Mutex<Option<InputError>> = Mutex::new(None);
    let reads_per_file: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        let (batch_tx, batch_rx) = bounded::<Batch>(threads * 4);
        let (out_tx, out_rx) = bounded::<(u64, R)>(threads * 4);
        let read_error = &read_error;
        let reads_per_file = &reads_per_file;
        scope.spawn(move || {
            loop {
                match reader.next_batch() {
                    Ok(Some(batch)) => {
                        if batch_tx.send(batch).is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        *read_error.lock().unwrap() = Some(e);
                        break;
                    }
                }
            }
            *reads_per_file.lock().unwrap() = reader.reads_per_file.clone();
        });
        for _ in 0..threads {
            let batch_rx = batch_rx.clone();
            let out_tx = out_tx.clone();
            let (process, cancelled) = (&process, &cancelled);
            scope.spawn(move || {
                let mut scratch = Scratch::default();
                for batch in batch_rx {
                    let out = process(&batch, &mut scratch, cancelled);
                    if out_tx.send((batch.number, out)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(batch_rx);
        drop(out_tx);
        let mut pending: BTreeMap<u64, R> = BTreeMap::new();
        let mut next = 0u64;
        loop {
            if stop() {
                stopped = true;
                cancelled.store(true, Ordering::Relaxed);
                break; // dropping out_rx ends the workers, then the reader
            }
            match out_rx.recv_timeout(STOP_POLL) {
                Ok((number, out)) => {
                    pending.insert(number, out);
                    while let Some(out) = pending.remove(&next) {
                        consume(out);
                        next += 1;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        drop(out_rx);
    });
    if stopped {
        return Err(RunError::Interrupted);
    }
    if let Some(e) = read_error.into_inner().unwrap() {
        return Err(e.into());
    }
    Ok(reads_per_file.into_inner().unwrap())
}

/// Map `f` over `items` on `threads` threads, keeping the order.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.is_empty() {
        return Vec::new();
    }
    let chunk = items.len().div_ceil(threads.max(1));
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| scope.spawn(|| c.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread panicked"))
            .collect()
    })
}

/// Only decompress and parse the inputs (the benchmark's baseline).
pub fn parse_only(paths: Vec<String>) -> Result<(u64, u64), InputError> {
    let mut reader = BatchReader::new(paths);
    let (mut reads, mut bases) = (0u64, 0u64);
    while let Some(b) = reader.next_batch()? {
        reads += b.len() as u64;
        bases += b.bases() as u64;
    }
    Ok((reads, bases))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn fasta(reads: usize) -> String {
        let dir = std::env::temp_dir().join(format!("vidjil_core_runner_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{reads}.fa"));
        let text: String = (0..reads)
            .map(|i| format!(">r{i}\nACGTACGTACGTACGTACGT\n"))
            .collect();
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    #[test]
    fn every_batch_is_consumed_in_order() {
        let mut seen = Vec::new();
        let counts = run_batches(
            BatchReader::new(vec![fasta(20_000)]),
            2,
            |batch, _, _| batch.number,
            |number| seen.push(number),
            &|| false,
        )
        .unwrap();
        assert_eq!(counts, vec![20_000]);
        assert_eq!(seen, (0..seen.len() as u64).collect::<Vec<_>>());
    }

    #[test]
    fn a_stop_request_ends_the_run_early() {
        let asked = AtomicUsize::new(0);
        let mut consumed = 0;
        let result = run_batches(
            BatchReader::new(vec![fasta(200_000)]),
            2,
            |batch, _, _| batch.len(),
            |_| consumed += 1,
            &|| asked.fetch_add(1, Ordering::Relaxed) >= 3,
        );
        assert_eq!(result, Err(RunError::Interrupted));
        assert!(consumed <= 3, "{consumed} batches consumed after the stop");
    }
}
