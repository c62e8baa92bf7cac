//! The per-read mode: every read detected and designated on its own (to check
//! curated reads), one TSV line each, in input order, on all threads.

use crate::designate::{Designation, Designer};
use crate::detect::{orient, Detector, Outcome, UNEXPECTED};
use crate::error::{InputError, RunError};
use crate::germline::Germline;
use crate::index::KmerIndex;
use crate::pairs::with_reads_as_detected;
use crate::params::RunParams;
use crate::reader::{BatchReader, Input};
use crate::runner::{progress, run_batches, StopProbe};
use crate::umi::unpack_umi;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// What the per-read mode counted.
#[derive(Clone, Copy, Debug, Default)]
pub struct PerReadSummary {
    pub reads: u64,
    pub detected: u64,
    pub designated: u64,
}

/// Columns of the per-read mode's TSV.
pub const PER_READ_HEADER: &str = "read\tsystem\tname\tjunction\tjunction_aa\tproductive\tevalue\tnote";

/// A read's name as a TSV cell.
fn label_of(name: &[u8]) -> String {
    String::from_utf8_lossy(name).replace(['\t', '\n', '\r'], " ")
}

/// One TSV line: the read's label, its system, designation and junction, or why
/// it was not detected or designated.
fn per_read_line(
    name: &[u8],
    outcome: &Outcome,
    designation: Option<&Result<Designation, String>>,
    germline: &Germline,
) -> String {
    let label = label_of(name);
    let d = match outcome {
        Outcome::Undetected(reason) => return format!("{label}\t-\t-\t-\t-\t-\t-\t{}\n", reason.key()),
        Outcome::Detected(d) => d,
    };
    let system = if d.system == UNEXPECTED {
        "unexpected"
    } else {
        germline.systems[d.system].name.as_str()
    };
    match designation {
        Some(Ok(des)) => {
            let (junction, aa, productive) = match &des.junction {
                Some(j) => (
                    j.nt.as_str(),
                    j.aa.as_str(),
                    if j.productive {
                        "yes"
                    } else {
                        j.unproductive.unwrap_or("no")
                    },
                ),
                None => ("-", "-", "-"),
            };
            let tied = des.tied_genes();
            let note = if tied.is_empty() {
                "-".to_string()
            } else {
                format!("W69 {}", tied.join(","))
            };
            format!(
                "{label}\t{system}\t{}\t{junction}\t{aa}\t{productive}\t{:.1e}\t{note}\n",
                des.name, des.evalue
            )
        }
        Some(Err(why)) => format!("{label}\t{system}\t-\t-\t-\t-\t{:.1e}\tW68 {why}\n", d.evalue),
        None => format!("{label}\t{system}\t-\t-\t-\t-\t{:.1e}\t-\n", d.evalue),
    }
}

/// Detect and designate every read on its own (to check curated reads): one TSV
/// line per read to `out`, in input order, on all threads.
pub fn per_read(
    germline: &Germline,
    index: &KmerIndex,
    inputs: Vec<Input>,
    params: &RunParams,
    out: &mut dyn Write,
    stop: StopProbe,
) -> Result<PerReadSummary, RunError> {
    params
        .validate()
        .map_err(|e| InputError::new("options", e.to_string()))?;
    let started = Instant::now();
    let detector = Detector::new(index, germline, params.detect.clone());
    let designer = Designer::new(germline);
    let reader = BatchReader::with_inputs(inputs);
    reader.check_inputs()?;
    let write_error = |e: std::io::Error| InputError::new("output", format!("cannot write: {e}"));
    // With UMIs: a last column, the read's UMI (its bases trimmed from the read).
    let with_umi = params.umi.source.is_some();
    let header = if with_umi { "\tumi" } else { "" };
    writeln!(out, "{PER_READ_HEADER}{header}").map_err(write_error)?;
    let mut summary = PerReadSummary::default();
    let mut failed: Option<std::io::Error> = None;
    let mut last = Instant::now();
    let finished = run_batches(
        reader,
        params.worker_threads(),
        |batch, scratch, cancelled| {
            with_reads_as_detected(batch, &detector, params, scratch, |batch, umis, _, scratch| {
                let mut text = String::new();
                let mut counts = PerReadSummary::default();
                for (i, read_umi) in umis.iter().enumerate() {
                    if cancelled.load(Ordering::Relaxed) {
                        break; // the run is stopping: this batch is not written
                    }
                    let umi =
                        with_umi.then(|| read_umi.map(|u| String::from_utf8(unpack_umi(u)).expect("ASCII")));
                    if let Some(None) = umi {
                        text.push_str(&format!(
                            "{}\t-\t-\t-\t-\t-\t-\tno-umi\t-\n",
                            label_of(batch.name(i))
                        ));
                        continue;
                    }
                    let outcome = detector.detect(batch.seq(i), scratch);
                    let designation = match &outcome {
                        Outcome::Detected(d) => {
                            orient(batch.seq(i), d.reverse, &mut scratch.oriented);
                            counts.detected += 1;
                            Some(designer.designate(&scratch.oriented, d.system, d.pair, &params.design))
                        }
                        Outcome::Undetected(_) => None,
                    };
                    counts.designated += matches!(designation, Some(Ok(_))) as u64;
                    text.push_str(&per_read_line(
                        batch.name(i),
                        &outcome,
                        designation.as_ref(),
                        germline,
                    ));
                    if let Some(Some(umi)) = umi {
                        text.insert_str(text.len() - 1, &format!("\t{umi}"));
                    }
                }
                counts.reads = batch.len() as u64;
                (text, counts)
            })
        },
        |(text, counts)| {
            if failed.is_none() {
                if let Err(e) = out.write_all(text.as_bytes()) {
                    failed = Some(e);
                }
            }
            summary.reads += counts.reads;
            summary.detected += counts.detected;
            summary.designated += counts.designated;
            progress(params.quiet, summary.reads, started, &mut last, false);
        },
        stop,
    );
    progress(params.quiet, summary.reads, started, &mut Instant::now(), true);
    finished?;
    if let Some(e) = failed {
        return Err(write_error(e).into());
    }
    out.flush().map_err(write_error)?;
    Ok(summary)
}
