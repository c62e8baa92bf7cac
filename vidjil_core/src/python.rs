//! PyO3 bindings: a thin layer over the Rust core. The heavy work runs with the
//! GIL released.

use crate::designate::{airr_cigar, DesignParams, Designation, Designer, Role};
use crate::detect::{DetectParams, Detector, Outcome, Reason, Scratch, UNEXPECTED};
use crate::germline::{AnchorSource, Germline};
use crate::index::KmerIndex;
use crate::merge::MergeParams;
use crate::pipeline::{self, RunParams, RunResult, Tally};
use crate::reader::Input;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

pyo3::create_exception!(
    vidjil.vidjil_core,
    InputError,
    PyValueError,
    "Bad input: the message names the file and the problem."
);

fn input_error(e: crate::error::InputError) -> PyErr {
    InputError::new_err(e.to_string())
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
        let (germline, index, secs) = py
            .detach(move || {
                let t = Instant::now();
                let g = Germline::load(&spec)?;
                let i = KmerIndex::build(&g);
                Ok::<_, crate::error::InputError>((g, i, t.elapsed().as_secs_f64()))
            })
            .map_err(input_error)?;
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

    #[getter]
    fn table_bytes(&self) -> usize {
        self.index.table_bytes()
    }

    /// Names of the selected systems, in preset order.
    #[getter]
    fn system_names(&self) -> Vec<String> {
        self.germline.systems.iter().map(|s| s.name.clone()).collect()
    }

    /// One dict per system: name, shortcut, color, description, seed, incomplete,
    /// follows, recombinations (lists of file paths for "5", "4", "3").
    fn systems<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let g = &self.germline;
        let list = PyList::empty(py);
        for s in &g.systems {
            let d = PyDict::new(py);
            d.set_item("name", &s.name)?;
            d.set_item("shortcut", &s.shortcut)?;
            d.set_item("color", &s.color)?;
            d.set_item("description", &s.description)?;
            d.set_item("seed", &s.seed.shape)?;
            d.set_item("incomplete", s.incomplete)?;
            d.set_item("follows", &s.follows)?;
            let recs = PyList::empty(py);
            for r in &s.recombinations {
                let rd = PyDict::new(py);
                for (k, files) in [("5", &r.five), ("4", &r.four), ("3", &r.three)] {
                    let names: Vec<&str> = files.iter().map(|&f| g.files[f].rel_path.as_str()).collect();
                    rd.set_item(k, names)?;
                }
                recs.append(rd)?;
            }
            d.set_item("recombinations", recs)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// One dict per germline file: rel_path, path, alleles (count).
    fn files<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for f in &self.germline.files {
            let d = PyDict::new(py);
            d.set_item("rel_path", &f.rel_path)?;
            d.set_item("path", f.path.display().to_string())?;
            d.set_item("alleles", f.alleles.len())?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// Junction anchors: (file, allele, anchor or None, source) for every allele.
    fn anchors(&self) -> Vec<(String, String, Option<usize>, &'static str)> {
        let mut out = Vec::new();
        for f in &self.germline.files {
            for a in &f.alleles {
                let source = match a.anchor_source {
                    AnchorSource::Gaps => "imgt-gaps",
                    AnchorSource::Motif => "motif",
                    AnchorSource::NotFound => "not-found",
                    AnchorSource::NotApplicable => "none",
                };
                out.push((f.rel_path.clone(), a.name.clone(), a.anchor, source));
            }
        }
        out
    }

    /// V and J alleles whose junction anchor could not be found.
    fn missing_anchors(&self) -> Vec<String> {
        self.germline.missing_anchors()
    }

    /// Detect one read: a dict with `detected` and either `reason` or the
    /// system, strand, breakpoint, window and e-values.
    #[pyo3(signature = (sequence, window=50, e_value=1.0, unexpected=false))]
    fn detect_read<'py>(
        &self,
        py: Python<'py>,
        sequence: &str,
        window: usize,
        e_value: f64,
        unexpected: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let params = detect_params(window, e_value, unexpected);
        let detector = Detector::new(&self.index, &self.germline, params);
        let mut scratch = Scratch::default();
        let d = PyDict::new(py);
        match detector.detect(sequence.as_bytes(), &mut scratch) {
            Outcome::Undetected(reason) => {
                d.set_item("detected", false)?;
                d.set_item("reason", reason.key())?;
            }
            Outcome::Detected(det) => {
                d.set_item("detected", true)?;
                d.set_item("system", self.system_name(det.system))?;
                if let Some((a, b)) = det.pair {
                    d.set_item("pair", (self.system_name(a), self.system_name(b)))?;
                }
                d.set_item("reverse", det.reverse)?;
                d.set_item("breakpoint", det.breakpoint)?;
                crate::detect::orient(sequence.as_bytes(), det.reverse, &mut scratch.oriented);
                let oriented = String::from_utf8_lossy(&scratch.oriented).to_string();
                d.set_item(
                    "window",
                    &oriented[det.window_start..det.window_start + det.window_len],
                )?;
                d.set_item("window_start", det.window_start)?;
                d.set_item("shifted", det.shifted)?;
                d.set_item("oriented", oriented)?;
                d.set_item("evalue", det.evalue)?;
                d.set_item("evalue_v", det.evalue_v)?;
                d.set_item("evalue_j", det.evalue_j)?;
            }
        }
        Ok(d)
    }

    /// Detect then designate one read: the dict of `detect_read`, plus
    /// `designation` (a dict, see `designation_to_dict`) for a detected read.
    #[pyo3(signature = (sequence, window=50, e_value=1.0, unexpected=false, e_value_d=0.05,
        several_d=false, alternatives=0))]
    #[allow(clippy::too_many_arguments)]
    fn designate_read<'py>(
        &self,
        py: Python<'py>,
        sequence: &str,
        window: usize,
        e_value: f64,
        unexpected: bool,
        e_value_d: f64,
        several_d: bool,
        alternatives: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let d = self.detect_read(py, sequence, window, e_value, unexpected)?;
        if let Some(oriented) = d.get_item("oriented")? {
            let oriented: String = oriented.extract()?;
            let name: String = d.get_item("system")?.expect("detected").extract()?;
            let system = self
                .germline
                .systems
                .iter()
                .position(|s| s.name == name)
                .unwrap_or(UNEXPECTED);
            let pair = match d.get_item("pair")? {
                Some(p) => {
                    let (a, b): (String, String) = p.extract()?;
                    let find = |n: &str| self.germline.systems.iter().position(|s| s.name == n);
                    find(&a).zip(find(&b))
                }
                None => None,
            };
            let params = design_params(e_value, e_value_d, several_d, alternatives);
            let designer = self.designer();
            let result = designer.designate(oriented.as_bytes(), system, pair, &params);
            d.set_item(
                "designation",
                designation_to_dict(py, &result, oriented.as_bytes())?,
            )?;
        }
        Ok(d)
    }
}

impl PyGermline {
    fn designer(&self) -> Arc<Designer> {
        self.designer
            .get_or_init(|| Arc::new(Designer::new(&self.germline)))
            .clone()
    }

    /// Name of a per-system slot of the results: one per system, then unexpected recombinations.
    fn slot_name(&self, i: usize) -> String {
        if i == self.germline.systems.len() {
            "unexpected".to_string()
        } else {
            self.system_name(i)
        }
    }

    fn system_name(&self, s: usize) -> String {
        if s == UNEXPECTED {
            "unexpected".to_string()
        } else {
            self.germline.systems[s].name.clone()
        }
    }
}

fn detect_params(window: usize, e_value: f64, unexpected: bool) -> DetectParams {
    DetectParams {
        window,
        max_evalue: e_value,
        unexpected,
        ..Default::default()
    }
}

/// V/J designation under the detection's e-value threshold, D under its own.
fn design_params(e_value: f64, e_value_d: f64, several_d: bool, alternatives: usize) -> DesignParams {
    DesignParams {
        max_evalue: e_value,
        max_evalue_d: e_value_d,
        several_d,
        alternatives,
    }
}

/// Pairs first, then single files, in the order given.
fn inputs_of(paths: Vec<String>, pairs: Vec<(String, String)>) -> Vec<Input> {
    let pairs = pairs.into_iter().map(|(r1, r2)| Input::Pair(r1, r2));
    pairs.chain(paths.into_iter().map(Input::Single)).collect()
}

fn merge_params(min_overlap: usize, max_mismatch_rate: f64) -> MergeParams {
    MergeParams {
        min_overlap,
        max_mismatch_rate,
    }
}

fn role_key(role: Role) -> &'static str {
    match role {
        Role::Five => "5",
        Role::Four => "4",
        Role::Three => "3",
    }
}

/// A designation as a dict: name, e-values, segments (0-based, ends exclusive),
/// inserts, junction, alignment rows; or `{"failed": reason}`.
fn designation_to_dict<'py>(
    py: Python<'py>,
    result: &Result<Designation, String>,
    seq: &[u8],
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let des = match result {
        Err(reason) => {
            d.set_item("failed", reason)?;
            return Ok(d);
        }
        Ok(des) => des,
    };
    d.set_item("name", &des.name)?;
    d.set_item("evalue", des.evalue)?;
    d.set_item("evalue_v", des.evalue_v)?;
    d.set_item("evalue_j", des.evalue_j)?;
    let segments = PyList::empty(py);
    for s in &des.segments {
        let sd = PyDict::new(py);
        sd.set_item("role", role_key(s.role))?;
        sd.set_item("name", &s.name)?;
        sd.set_item("start", s.path.read_start)?;
        sd.set_item("end", s.path.read_end)?;
        sd.set_item("germline_start", s.path.germ_start)?;
        sd.set_item("germline_end", s.path.germ_end)?;
        sd.set_item("germline_length", s.germ_len)?;
        sd.set_item("del_left", s.del_left())?;
        sd.set_item("del_right", s.del_right())?;
        sd.set_item("score", s.path.score)?;
        sd.set_item(
            "identity",
            s.path.matches() as f64 / s.path.columns().max(1) as f64,
        )?;
        sd.set_item("evalue", s.evalue)?;
        sd.set_item("cigar", airr_cigar(&s.path, seq.len()))?;
        sd.set_item("sequence_alignment", &s.rows.0)?;
        sd.set_item("germline_alignment", &s.rows.1)?;
        sd.set_item("tied", s.tied.clone())?;
        sd.set_item("alternatives", s.alternatives.clone())?;
        segments.append(sd)?;
    }
    d.set_item("segments", segments)?;
    d.set_item("inserts", des.inserts())?;
    d.set_item("tied_genes", des.tied_genes())?;
    let (query, germ) = des.alignment_rows(seq);
    d.set_item("sequence_alignment", query)?;
    d.set_item("germline_alignment", germ)?;
    match &des.junction {
        None => d.set_item("junction", py.None())?,
        Some(j) => {
            let jd = PyDict::new(py);
            jd.set_item("start", j.start)?;
            jd.set_item("end", j.end)?;
            jd.set_item("nt", &j.nt)?;
            jd.set_item("aa", &j.aa)?;
            jd.set_item("in_frame", j.in_frame)?;
            jd.set_item("stop_codon", j.stop_codon)?;
            jd.set_item("productive", j.productive)?;
            jd.set_item("unproductive", j.unproductive)?;
            jd.set_item("cdr3", j.cdr3())?;
            d.set_item("junction", jd)?;
        }
    }
    Ok(d)
}

fn diversity_to_dict<'py>(py: Python<'py>, div: &crate::pipeline::Diversity) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("shannon", div.shannon)?;
    d.set_item("evenness", div.evenness)?;
    d.set_item("simpson", div.simpson)?;
    d.set_item("clones", div.clones)?;
    d.set_item("reads", div.reads)?;
    d.set_item("singletons", div.singletons)?;
    d.set_item("doubletons", div.doubletons)?;
    d.set_item("chao1", div.chao1())?;
    Ok(d)
}

fn tally<'py>(py: Python<'py>, t: Tally) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("reads", t.reads)?;
    d.set_item("length", t.length)?;
    Ok(d)
}

fn result_to_dict<'py>(py: Python<'py>, g: &PyGermline, r: &RunResult) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("total", tally(py, r.total)?)?;
    d.set_item("detected", tally(py, r.detected)?)?;
    let systems = PyDict::new(py);
    for (i, t) in r.systems.iter().enumerate() {
        systems.set_item(g.slot_name(i), tally(py, *t)?)?;
    }
    d.set_item("systems", systems)?;
    let reasons = PyDict::new(py);
    for reason in Reason::ALL {
        let t = tally(py, r.reasons[reason as usize])?;
        t.set_item("label", reason.label())?;
        reasons.set_item(reason.key(), t)?;
    }
    d.set_item("reasons", reasons)?;
    d.set_item("shifted_reads", r.shifted_reads)?;
    d.set_item("distinct_windows", r.distinct_windows)?;
    d.set_item("merged_windows", r.merged_windows)?;
    d.set_item("dropped_windows", r.dropped_windows)?;
    d.set_item("dropped_reads", r.dropped_reads)?;
    d.set_item("clones_above_min", r.clones_above_min)?;
    d.set_item("reads_in_clones_above_min", r.reads_in_clones_above_min)?;
    d.set_item("distribution", r.distribution.clone())?;
    d.set_item("reads_per_file", r.reads_per_file.clone())?;
    let pairs = PyDict::new(py);
    pairs.set_item("merged", r.pairs.merged)?;
    pairs.set_item("not_merged", r.pairs.not_merged)?;
    pairs.set_item("unpaired", r.pairs.unpaired)?;
    pairs.set_item("overlap_bases", r.pairs.overlap_bases)?;
    d.set_item("pairs", pairs)?;
    d.set_item("seconds_detection", r.seconds_detection)?;
    d.set_item("seconds_clones", r.seconds_clones)?;
    d.set_item("seconds_designation", r.seconds_designation)?;
    d.set_item("sample_threshold", r.sample_threshold)?;
    d.set_item("diversity", diversity_to_dict(py, &r.diversity)?)?;
    let by_system = PyDict::new(py);
    for (i, div) in r.diversity_by_system.iter().enumerate() {
        by_system.set_item(g.slot_name(i), diversity_to_dict(py, div)?)?;
    }
    d.set_item("diversity_by_system", by_system)?;
    let clones = PyList::empty(py);
    for c in &r.clones {
        let cd = PyDict::new(py);
        cd.set_item("window", &c.window)?;
        cd.set_item("system", g.system_name(c.system))?;
        if let Some((a, b)) = c.pair {
            cd.set_item("pair", (g.system_name(a), g.system_name(b)))?;
            let sys = &g.germline.systems;
            cd.set_item("loci", (&sys[a].left_locus, &sys[b].right_locus))?;
        }
        cd.set_item("reads", c.reads)?;
        cd.set_item("shifted_reads", c.shifted_reads)?;
        cd.set_item("merged_reads", c.merged_reads)?;
        cd.set_item("merged_count", c.merged_count)?;
        cd.set_item("merged_windows", c.merged_windows.clone())?;
        cd.set_item("average_length", c.average_length)?;
        cd.set_item("near_duplicate_of", &c.near_duplicate_of)?;
        if let Some(rep) = &c.representative {
            let rd = PyDict::new(py);
            rd.set_item("sequence", &rep.sequence)?;
            rd.set_item("window_start", rep.window_start)?;
            rd.set_item("samples", rep.samples)?;
            rd.set_item("coverage", rep.coverage)?;
            rd.set_item("evalue", rep.evalue)?;
            rd.set_item("evalue_v", rep.evalue_v)?;
            rd.set_item("evalue_j", rep.evalue_j)?;
            cd.set_item("representative", rd)?;
            if let Some(des) = &c.designation {
                cd.set_item(
                    "designation",
                    designation_to_dict(py, des, rep.sequence.as_bytes())?,
                )?;
            }
        } else {
            cd.set_item("representative", py.None())?;
        }
        clones.append(cd)?;
    }
    d.set_item("clones", clones)?;
    Ok(d)
}

/// Detect V(D)J recombinations in reads and cluster them into clones.
#[pyfunction]
#[pyo3(signature = (germline, paths, *, pairs=Vec::new(), window=50, e_value=1.0, unexpected=false, threads=0,
    min_reads=5, max_clones=0, designate=100, e_value_d=0.05, several_d=false, alternatives=0, merge_distance=1,
    merge_ratio=20.0, max_windows=1048576, min_overlap=12, max_mismatch_rate=0.1, quiet=true))]
#[allow(clippy::too_many_arguments)]
fn detect<'py>(
    py: Python<'py>,
    germline: &PyGermline,
    paths: Vec<String>,
    pairs: Vec<(String, String)>,
    window: usize,
    e_value: f64,
    unexpected: bool,
    threads: usize,
    min_reads: u32,
    max_clones: usize,
    designate: usize,
    e_value_d: f64,
    several_d: bool,
    alternatives: usize,
    merge_distance: usize,
    merge_ratio: f64,
    max_windows: usize,
    min_overlap: usize,
    max_mismatch_rate: f64,
    quiet: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let defaults = RunParams::default();
    let params = RunParams {
        detect: detect_params(window, e_value, unexpected),
        threads: if threads == 0 { defaults.threads } else { threads },
        min_reads,
        max_clones,
        designate,
        design: design_params(e_value, e_value_d, several_d, alternatives),
        merge_distance,
        merge_ratio,
        max_windows,
        merge: merge_params(min_overlap, max_mismatch_rate),
        quiet,
        ..defaults
    };
    let (g, i) = (germline.germline.clone(), germline.index.clone());
    let threads = params.threads;
    let inputs = inputs_of(paths, pairs);
    let result = py
        .detach(move || pipeline::run(&g, &i, inputs, &params))
        .map_err(input_error)?;
    let d = result_to_dict(py, germline, &result)?;
    d.set_item("threads", threads)?;
    Ok(d)
}

/// Detect and designate every read on its own; writes a TSV (one line per read,
/// header `PER_READ_HEADER`) to `output` (`-`: standard output). Returns the counts
/// (reads, detected, designated).
#[pyfunction]
#[pyo3(signature = (germline, paths, output, *, pairs=Vec::new(), window=50, e_value=1.0, unexpected=false,
    threads=0, e_value_d=0.05, several_d=false, alternatives=0, min_overlap=12, max_mismatch_rate=0.1, quiet=true))]
#[allow(clippy::too_many_arguments)]
fn per_read(
    py: Python<'_>,
    germline: &PyGermline,
    paths: Vec<String>,
    output: String,
    pairs: Vec<(String, String)>,
    window: usize,
    e_value: f64,
    unexpected: bool,
    threads: usize,
    e_value_d: f64,
    several_d: bool,
    alternatives: usize,
    min_overlap: usize,
    max_mismatch_rate: f64,
    quiet: bool,
) -> PyResult<(u64, u64, u64)> {
    let defaults = RunParams::default();
    let params = RunParams {
        detect: detect_params(window, e_value, unexpected),
        threads: if threads == 0 { defaults.threads } else { threads },
        design: design_params(e_value, e_value_d, several_d, alternatives),
        merge: merge_params(min_overlap, max_mismatch_rate),
        quiet,
        ..defaults
    };
    let (g, i) = (germline.germline.clone(), germline.index.clone());
    let inputs = inputs_of(paths, pairs);
    let summary = py
        .detach(move || {
            if output == "-" {
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                pipeline::per_read(&g, &i, inputs, &params, &mut out)
            } else {
                let file = std::fs::File::create(&output)
                    .map_err(|e| crate::error::InputError::new(&output, format!("cannot create: {e}")))?;
                let mut out = std::io::BufWriter::new(file);
                pipeline::per_read(&g, &i, inputs, &params, &mut out)
            }
        })
        .map_err(input_error)?;
    Ok((summary.reads, summary.detected, summary.designated))
}

/// Only decompress and parse the reads: (reads, bases).
#[pyfunction]
fn parse_only(py: Python<'_>, paths: Vec<String>) -> PyResult<(u64, u64)> {
    py.detach(move || pipeline::parse_only(paths))
        .map_err(input_error)
}

#[pymodule]
fn vidjil_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("InputError", m.py().get_type::<InputError>())?;
    m.add("REASONS", pipeline::reason_keys())?;
    m.add_class::<PyGermline>()?;
    m.add_function(wrap_pyfunction!(detect, m)?)?;
    m.add_function(wrap_pyfunction!(parse_only, m)?)?;
    m.add_function(wrap_pyfunction!(per_read, m)?)?;
    m.add("PER_READ_HEADER", pipeline::PER_READ_HEADER)?;
    Ok(())
}
