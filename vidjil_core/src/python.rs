//! PyO3 bindings: a thin layer over the Rust core. Parameters arrive as keywords
//! (None keeps the default of `RunParams`), results leave as the serde form of the
//! `results` types (pythonize); the heavy work runs with the GIL released.

use crate::designate::Designer;
use crate::detect::{orient, Detector, Outcome, Scratch};
use crate::error::RunError;
use crate::germline::Germline;
use crate::index::KmerIndex;
use crate::params::{self, Overrides, RunParams};
use crate::reader::Input;
use crate::results::{DesignationRecord, GeneFileRecord, ReadRecord, SystemRecord};
use crate::{clone_reads, per_read as per_read_mode, pipeline, runner, table_out};
use pyo3::exceptions::{PyKeyboardInterrupt, PyOverflowError, PyValueError};
use pyo3::prelude::*;
use pythonize::pythonize;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

pyo3::create_exception!(
    vidjil.vidjil_core,
    InputError,
    PyValueError,
    "Bad input: the message names the file and the problem."
);

pyo3::create_exception!(
    vidjil.vidjil_core,
    ParamError,
    PyValueError,
    "A parameter out of its bounds: `field` is the keyword, `bound` what it must be."
);

impl From<crate::error::InputError> for PyErr {
    fn from(e: crate::error::InputError) -> PyErr {
        InputError::new_err(e.to_string())
    }
}

impl From<params::ParamError> for PyErr {
    fn from(e: params::ParamError) -> PyErr {
        Python::attach(|py| {
            let err = ParamError::new_err(e.to_string());
            let value = err.value(py);
            match value
                .setattr("field", e.field)
                .and(value.setattr("bound", e.bound))
            {
                Ok(()) => err,
                Err(setattr_failed) => setattr_failed,
            }
        })
    }
}

/// A Python int as i64, saturated: a value too large either way still reaches the
/// bounds of its keyword (a `ParamError`), not an `OverflowError`.
struct Int(i64);

impl<'a, 'py> FromPyObject<'a, 'py> for Int {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Int> {
        match obj.extract::<i64>() {
            Ok(v) => Ok(Int(v)),
            Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => {
                Ok(Int(if obj.gt(0)? { i64::MAX } else { i64::MIN }))
            }
            Err(e) => Err(e),
        }
    }
}

fn int(v: Option<Int>) -> Option<i64> {
    v.map(|Int(v)| v)
}

/// Python's pending signals, looked at by the engine's calling thread between
/// batches: a handler that raises (Ctrl-C's KeyboardInterrupt, the CLI's SIGTERM
/// handler) stops the run, and its exception is raised once the threads are done.
#[derive(Default)]
struct Signals {
    raised: Mutex<Option<PyErr>>,
}

impl Signals {
    fn stop_requested(&self) -> bool {
        let mut raised = self.raised.lock().unwrap();
        if raised.is_none() {
            *raised = Python::attach(|py| py.check_signals()).err();
        }
        raised.is_some()
    }

    /// The run's outcome, unless a signal was caught during it: a signal caught after
    /// the engine's last look at it still stops the command (it is not swallowed).
    fn outcome<T>(self, run: Result<T, RunError>) -> PyResult<T> {
        match run {
            Ok(_) if self.raised.lock().unwrap().is_some() => Err(self.into_error(RunError::Interrupted)),
            Ok(value) => Ok(value),
            Err(e) => Err(self.into_error(e)),
        }
    }

    fn into_error(self, e: RunError) -> PyErr {
        match e {
            RunError::Input(e) => e.into(),
            RunError::Interrupted => self
                .raised
                .into_inner()
                .unwrap()
                .unwrap_or_else(|| PyKeyboardInterrupt::new_err("interrupted")),
        }
    }
}

/// A loaded germline preset with its k-mer index.
#[pyclass(name = "Germline", module = "vidjil.vidjil_core", frozen)]
struct PyGermline {
    germline: Arc<Germline>,
    index: Arc<KmerIndex>,
    /// Built on first use (designation only).
    designer: OnceLock<Arc<Designer>>,
    #[pyo3(get)]
    load_seconds: f64,
}

#[pymethods]
impl PyGermline {
    /// Load `FILE.g` or `FILE.g:SYS1,SYS2` and build its index.
    #[new]
    fn new(py: Python<'_>, spec: String) -> PyResult<Self> {
        let (germline, index, secs) = py.detach(move || {
            let t = Instant::now();
            let g = Germline::load(&spec)?;
            let i = KmerIndex::build(&g);
            Ok::<_, crate::error::InputError>((g, i, t.elapsed().as_secs_f64()))
        })?;
        Ok(PyGermline {
            germline: Arc::new(germline),
            index: Arc::new(index),
            designer: OnceLock::new(),
            load_seconds: secs,
        })
    }

    #[getter]
    fn path(&self) -> String {
        self.germline.path.display().to_string()
    }

    #[getter]
    fn species(&self) -> String {
        self.germline.species.clone()
    }

    #[getter]
    fn species_taxon_id(&self) -> i64 {
        self.germline.species_taxon_id
    }

    /// Names of the selected systems, in preset order.
    #[getter]
    fn system_names(&self) -> Vec<String> {
        self.germline.systems.iter().map(|s| s.name.clone()).collect()
    }

    /// One dict per system: name, shortcut, color, description, seed, incomplete,
    /// follows, recombinations (lists of file paths for "5", "4", "3").
    fn systems<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize(py, &SystemRecord::all(&self.germline))?)
    }

    /// One dict per germline file: rel_path, path, alleles (count).
    fn files<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize(py, &GeneFileRecord::all(&self.germline))?)
    }

    /// Junction anchors: (file, allele, anchor or None, source) for every allele.
    fn anchors(&self) -> Vec<(String, String, Option<usize>, &'static str)> {
        let files = self.germline.files.iter();
        let alleles = files.flat_map(|f| f.alleles.iter().map(move |a| (f, a)));
        alleles
            .map(|(f, a)| {
                (
                    f.rel_path.clone(),
                    a.name.clone(),
                    a.anchor,
                    a.anchor_source.key(),
                )
            })
            .collect()
    }

    /// V and J alleles whose junction anchor could not be found.
    fn missing_anchors(&self) -> Vec<String> {
        self.germline.missing_anchors()
    }

    /// Detect one read: a dict with `detected` and either `reason` or the
    /// system, strand, breakpoint, window and e-values.
    #[pyo3(signature = (sequence, window=None, e_value=None, unexpected=None, rescue=None))]
    fn detect_read<'py>(
        &self,
        py: Python<'py>,
        sequence: &str,
        window: Option<Int>,
        e_value: Option<f64>,
        unexpected: Option<bool>,
        rescue: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let params = RunParams::with(&Overrides {
            window: int(window),
            e_value,
            unexpected,
            rescue,
            ..Default::default()
        })?;
        let (record, _) = self.read_record(sequence.as_bytes(), &params);
        Ok(pythonize(py, &record)?)
    }

    /// Detect then designate one read: the dict of `detect_read`, plus
    /// `designation` for a detected read.
    #[pyo3(signature = (sequence, window=None, e_value=None, unexpected=None, e_value_d=None,
        several_d=None, alternatives=None, rescue=None))]
    #[allow(clippy::too_many_arguments)]
    fn designate_read<'py>(
        &self,
        py: Python<'py>,
        sequence: &str,
        window: Option<Int>,
        e_value: Option<f64>,
        unexpected: Option<bool>,
        e_value_d: Option<f64>,
        several_d: Option<bool>,
        alternatives: Option<Int>,
        rescue: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let params = RunParams::with(&Overrides {
            window: int(window),
            e_value,
            unexpected,
            rescue,
            e_value_d,
            several_d,
            alternatives: int(alternatives),
            ..Default::default()
        })?;
        let (mut record, outcome) = self.read_record(sequence.as_bytes(), &params);
        if let (ReadRecord::Detected(read), Outcome::Detected(d)) = (&mut record, outcome) {
            let oriented = read.oriented.as_bytes();
            let designation = self
                .designer()
                .designate(oriented, d.system, d.pair, &params.design);
            read.designation = Some(DesignationRecord::new(&designation, oriented));
        }
        Ok(pythonize(py, &record)?)
    }
}

impl PyGermline {
    fn designer(&self) -> Arc<Designer> {
        self.designer
            .get_or_init(|| Arc::new(Designer::new(&self.germline)))
            .clone()
    }

    /// The record of one read, and its detection.
    fn read_record(&self, read: &[u8], params: &RunParams) -> (ReadRecord, Outcome) {
        let detector = Detector::new(&self.index, &self.germline, params.detect.clone());
        let mut scratch = Scratch::default();
        let outcome = detector.detect(read, &mut scratch);
        if let Outcome::Detected(d) = &outcome {
            orient(read, d.reverse, &mut scratch.oriented);
        }
        (
            ReadRecord::new(&self.germline, &outcome, &scratch.oriented),
            outcome,
        )
    }
}

/// Pairs first, then single files, in the order given.
fn inputs_of(paths: Vec<String>, pairs: Vec<(String, String)>) -> Vec<Input> {
    let pairs = pairs.into_iter().map(|(r1, r2)| Input::Pair(r1, r2));
    pairs.chain(paths.into_iter().map(Input::Single)).collect()
}

/// The defaults of the keywords of `detect()` (a dict, keyword -> value).
#[pyfunction]
fn default_params(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    Ok(pythonize(py, &RunParams::default().keywords())?)
}

/// Detect V(D)J recombinations in reads and cluster them into clones.
#[pyfunction]
#[pyo3(signature = (germline, paths, *, pairs=Vec::new(), window=None, e_value=None, unexpected=None,
    threads=None, min_reads=None, max_clones=None, designate=None, e_value_d=None, several_d=None,
    alternatives=None, merge_distance=None, merge_ratio=None, max_windows=None, min_overlap=None,
    max_mismatch_rate=None, rescue=None, quiet=true, clone_reads=None, clone_reads_path=None, umi=None,
    umi_spacer=None, min_reads_per_umi=None, max_umis=None))]
#[allow(clippy::too_many_arguments)]
fn detect<'py>(
    py: Python<'py>,
    germline: &PyGermline,
    paths: Vec<String>,
    pairs: Vec<(String, String)>,
    window: Option<Int>,
    e_value: Option<f64>,
    unexpected: Option<bool>,
    threads: Option<Int>,
    min_reads: Option<Int>,
    max_clones: Option<Int>,
    designate: Option<Int>,
    e_value_d: Option<f64>,
    several_d: Option<bool>,
    alternatives: Option<Int>,
    merge_distance: Option<Int>,
    merge_ratio: Option<f64>,
    max_windows: Option<Int>,
    min_overlap: Option<Int>,
    max_mismatch_rate: Option<f64>,
    rescue: Option<bool>,
    quiet: bool,
    clone_reads: Option<Int>,
    clone_reads_path: Option<String>,
    umi: Option<String>,
    umi_spacer: Option<String>,
    min_reads_per_umi: Option<Int>,
    max_umis: Option<Int>,
) -> PyResult<Bound<'py, PyAny>> {
    let params = RunParams {
        quiet,
        ..RunParams::with(&Overrides {
            window: int(window),
            e_value,
            unexpected,
            threads: int(threads),
            min_reads: int(min_reads),
            max_clones: int(max_clones),
            designate: int(designate),
            e_value_d,
            several_d,
            alternatives: int(alternatives),
            merge_distance: int(merge_distance),
            merge_ratio,
            max_windows: int(max_windows),
            min_overlap: int(min_overlap),
            max_mismatch_rate,
            rescue,
            umi,
            umi_spacer,
            min_reads_per_umi: int(min_reads_per_umi),
            max_umis: int(max_umis),
        })?
    };
    let (g, i) = (germline.germline.clone(), germline.index.clone());
    let inputs = inputs_of(paths, pairs);
    let signals = Signals::default();
    let stop = || signals.stop_requested();
    let result = py.detach(|| match (int(clone_reads), clone_reads_path) {
        (Some(n), Some(path)) => {
            let n = usize::try_from(n.max(0)).unwrap_or(usize::MAX);
            let mut out = create(&path)?;
            pipeline::run_with_clone_reads(&g, &i, inputs, &params, n, &mut out, &stop)
        }
        (None, None) => pipeline::run(&g, &i, inputs, &params, &stop),
        _ => Err(
            crate::error::InputError::new("clone_reads", "give both clone_reads and clone_reads_path").into(),
        ),
    });
    let result = signals.outcome(result)?;
    Ok(pythonize(py, &result)?)
}

/// A buffered output file, or an `InputError` naming it.
fn create(path: &str) -> Result<std::io::BufWriter<std::fs::File>, crate::error::InputError> {
    let file = std::fs::File::create(path)
        .map_err(|e| crate::error::InputError::new(path, format!("cannot create: {e}")))?;
    Ok(std::io::BufWriter::new(file))
}

/// `write` given a buffered writer to `output` (`-`: standard output).
fn with_output<T, E: From<crate::error::InputError>>(
    output: &str,
    write: impl FnOnce(&mut dyn std::io::Write) -> Result<T, E>,
) -> Result<T, E> {
    if output == "-" {
        write(&mut std::io::BufWriter::new(std::io::stdout().lock()))
    } else {
        write(&mut create(output)?)
    }
}

/// Reads whose detected window is `query` (a window's length, unless `contains`),
/// or that contain it on either strand, as FASTA (`>ID clone=RANK window=QUERY`) to
/// `output` (`-`: standard output), gzip when `gzip`. Returns (reads, reads written).
#[pyfunction]
#[pyo3(signature = (germline, query, paths, output, *, pairs=Vec::new(), rank=0, contains=false, gzip=false, window=None,
    e_value=None, unexpected=None, threads=None, min_overlap=None, max_mismatch_rate=None, quiet=true, umi=None,
    umi_spacer=None))]
#[allow(clippy::too_many_arguments)]
fn grep_reads(
    py: Python<'_>,
    germline: &PyGermline,
    query: &str,
    paths: Vec<String>,
    output: String,
    pairs: Vec<(String, String)>,
    rank: usize,
    contains: bool,
    gzip: bool,
    window: Option<Int>,
    e_value: Option<f64>,
    unexpected: Option<bool>,
    threads: Option<Int>,
    min_overlap: Option<Int>,
    max_mismatch_rate: Option<f64>,
    quiet: bool,
    umi: Option<String>,
    umi_spacer: Option<String>,
) -> PyResult<(u64, u64)> {
    let params = RunParams {
        quiet,
        ..RunParams::with(&Overrides {
            window: int(window),
            e_value,
            unexpected,
            threads: int(threads),
            min_overlap: int(min_overlap),
            max_mismatch_rate,
            umi,
            umi_spacer,
            ..Default::default()
        })?
    };
    let query = clone_reads::ReadQuery::grep(query, rank, params.detect.min_window, contains)?;
    let (g, i) = (germline.germline.clone(), germline.index.clone());
    let inputs = inputs_of(paths, pairs);
    let signals = Signals::default();
    let stop = || signals.stop_requested();
    let written = py.detach(|| {
        with_output(&output, |out| {
            clone_reads::write_reads(&g, &i, inputs, &params, &query, gzip, out, &stop)
        })
    });
    let written = signals.outcome(written)?;
    Ok((written.reads, written.written))
}

/// Detect and designate every read on its own; writes a TSV (one line per read)
/// to `output` (`-`: standard output). Returns the counts (reads, detected,
/// designated).
#[pyfunction]
#[pyo3(signature = (germline, paths, output, *, pairs=Vec::new(), window=None, e_value=None,
    unexpected=None, threads=None, e_value_d=None, several_d=None, alternatives=None, min_overlap=None,
    max_mismatch_rate=None, rescue=None, quiet=true, umi=None, umi_spacer=None))]
#[allow(clippy::too_many_arguments)]
fn per_read(
    py: Python<'_>,
    germline: &PyGermline,
    paths: Vec<String>,
    output: String,
    pairs: Vec<(String, String)>,
    window: Option<Int>,
    e_value: Option<f64>,
    unexpected: Option<bool>,
    threads: Option<Int>,
    e_value_d: Option<f64>,
    several_d: Option<bool>,
    alternatives: Option<Int>,
    min_overlap: Option<Int>,
    max_mismatch_rate: Option<f64>,
    rescue: Option<bool>,
    quiet: bool,
    umi: Option<String>,
    umi_spacer: Option<String>,
) -> PyResult<(u64, u64, u64)> {
    let params = RunParams {
        quiet,
        ..RunParams::with(&Overrides {
            window: int(window),
            e_value,
            unexpected,
            threads: int(threads),
            e_value_d,
            several_d,
            alternatives: int(alternatives),
            min_overlap: int(min_overlap),
            max_mismatch_rate,
            rescue,
            umi,
            umi_spacer,
            ..Default::default()
        })?
    };
    let (g, i) = (germline.germline.clone(), germline.index.clone());
    let inputs = inputs_of(paths, pairs);
    let signals = Signals::default();
    let stop = || signals.stop_requested();
    let summary = py.detach(|| {
        with_output(&output, |out| {
            per_read_mode::per_read(&g, &i, inputs, &params, out, &stop)
        })
    });
    let summary = signals.outcome(summary)?;
    Ok((summary.reads, summary.detected, summary.designated))
}

/// Only decompress and parse the reads: (reads, bases).
#[pyfunction]
fn parse_only(py: Python<'_>, paths: Vec<String>) -> PyResult<(u64, u64)> {
    Ok(py.detach(move || runner::parse_only(paths))?)
}

/// Write a table of typed columns as a Parquet file: `columns` are (name, AIRR type:
/// string, integer, number or boolean, values with None for missing), `metadata`
/// key-value pairs stored in the file.
#[pyfunction]
fn write_table(
    py: Python<'_>,
    path: &str,
    columns: Vec<(String, String, Bound<'_, PyAny>)>,
    metadata: Vec<(String, String)>,
) -> PyResult<()> {
    let mut typed = Vec::with_capacity(columns.len());
    for (name, kind, values) in columns {
        let column = match kind.as_str() {
            "string" => table_out::Column::Text(values.extract()?),
            "integer" => table_out::Column::Integer(values.extract()?),
            "number" => table_out::Column::Number(values.extract()?),
            "boolean" => table_out::Column::Boolean(values.extract()?),
            other => {
                return Err(PyValueError::new_err(format!(
                    "column {name}: unknown type {other}"
                )))
            }
        };
        typed.push((name, column));
    }
    let path = path.to_string();
    py.detach(move || {
        let file = create(&path)?;
        table_out::write_table(file, &typed, &metadata)
            .map_err(|e| crate::error::InputError::new(&path, format!("cannot write: {e}")))
    })?;
    Ok(())
}

#[pymodule]
fn vidjil_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("InputError", m.py().get_type::<InputError>())?;
    m.add("ParamError", m.py().get_type::<ParamError>())?;
    m.add_class::<PyGermline>()?;
    m.add_function(wrap_pyfunction!(default_params, m)?)?;
    m.add_function(wrap_pyfunction!(detect, m)?)?;
    m.add_function(wrap_pyfunction!(grep_reads, m)?)?;
    m.add_function(wrap_pyfunction!(parse_only, m)?)?;
    m.add_function(wrap_pyfunction!(per_read, m)?)?;
    m.add_function(wrap_pyfunction!(write_table, m)?)?;
    Ok(())
}
