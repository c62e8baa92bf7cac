//! What the engine hands out: the result of a run (counts, clones and their
//! designations), one read detected or designated, and the description of a
//! germline. Plain values deriving `Serialize`: their serde form is what Python
//! receives (key for key), so names and shapes here are those of the Python dicts.

use crate::designate::{airr_cigar, Designation, Junction, Role};
use crate::detect::{Detection, Outcome, Reason, N_REASONS, UNEXPECTED};
use crate::diversity::Diversity;
use crate::germline::Germline;
use crate::pairs::PairTally;
use serde::{Serialize, Serializer};

/// Reads and total length of a category.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub reads: u64,
    pub length: u64,
}

impl Tally {
    pub fn add(&mut self, length: u64) {
        self.reads += 1;
        self.length += length;
    }
    pub fn absorb(&mut self, other: Tally) {
        self.reads += other.reads;
        self.length += other.length;
    }
}

/// Name of a per-system slot: a system of the germline, or `UNEXPECTED`.
pub fn system_name(germline: &Germline, system: usize) -> String {
    if system == UNEXPECTED {
        "unexpected".to_string()
    } else {
        germline.systems[system].name.clone()
    }
}

/// Names of the per-system slots of a run: every system, then unexpected recombinations.
pub fn slot_names(germline: &Germline) -> Vec<String> {
    let names = germline.systems.iter().map(|s| s.name.clone());
    names.chain(["unexpected".to_string()]).collect()
}

/// The system of a read or clone by name; for an unexpected recombination, also the
/// systems of its 5' and 3' genes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SystemLabel {
    #[serde(rename = "system")]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pair: Option<(String, String)>,
}

impl SystemLabel {
    pub fn new(germline: &Germline, system: usize, pair: Option<(usize, usize)>) -> SystemLabel {
        SystemLabel {
            name: system_name(germline, system),
            pair: pair.map(|(a, b)| (system_name(germline, a), system_name(germline, b))),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Representative {
    pub sequence: String,
    pub window_start: usize,
    /// Sampled reads used, and the fraction of them covering the whole sequence.
    pub samples: usize,
    pub coverage: f64,
    pub evalue: Option<f64>,
    pub evalue_v: Option<f64>,
    pub evalue_j: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CloneResult {
    pub window: String,
    /// Index into `Germline::systems`, or `UNEXPECTED`, and the pair of systems of
    /// an unexpected recombination.
    #[serde(skip)]
    pub system: usize,
    #[serde(skip)]
    pub pair: Option<(usize, usize)>,
    #[serde(flatten)]
    pub label: SystemLabel,
    /// Unexpected recombinations: loci of the 5' and 3' genes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loci: Option<(String, String)>,
    pub reads: u64,
    pub shifted_reads: u64,
    pub merged_reads: u64,
    pub merged_count: usize,
    /// Windows merged into this clone, largest first (at most 20 listed).
    pub merged_windows: Vec<String>,
    pub average_length: f64,
    /// A larger clone one substitution away that this one was not merged into (W53).
    pub near_duplicate_of: Option<String>,
    /// With UMIs: its molecules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub umi: Option<CloneUmi>,
    pub representative: Option<Representative>,
    /// Of the representative (the top clones only); W68 when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub designation: Option<DesignationRecord>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct RunResult {
    pub total: Tally,
    pub detected: Tally,
    /// Per system, plus one last entry for unexpected recombinations (see `slot_names`).
    #[serde(serialize_with = "by_name")]
    pub systems: Vec<(String, Tally)>,
    #[serde(serialize_with = "reasons_by_key")]
    pub reasons: [Tally; N_REASONS],
    /// Reads detected whose window had to be shifted or shrunk.
    pub shifted_reads: u64,
    pub distinct_windows: u64,
    pub merged_windows: u64,
    /// Windows (and their reads) dropped to keep at most `max_windows`.
    pub dropped_windows: u64,
    pub dropped_reads: u64,
    /// Clones with at least `min_reads` reads (before `max_clones`).
    pub clones_above_min: u64,
    pub reads_in_clones_above_min: u64,
    /// (smallest size of the decade, windows, reads): 1, 10, 100, ...
    pub distribution: Vec<(u64, u64, u64)>,
    pub reads_per_file: Vec<u64>,
    pub pairs: PairTally,
    pub seconds_detection: f64,
    pub seconds_clones: f64,
    pub seconds_designation: f64,
    pub sample_threshold: f64,
    /// Over all clones (windows after merging), whatever their size, on their reads
    /// (on their molecules with UMIs).
    pub diversity: Diversity,
    /// The same per system slot.
    #[serde(serialize_with = "by_name")]
    pub diversity_by_system: Vec<(String, Diversity)>,
    pub clones: Vec<CloneResult>,
    /// Worker threads used.
    pub threads: usize,
    /// What the second pass of `--clone-reads` wrote (None without it).
    pub clone_reads: Option<CloneReads>,
    /// With UMIs: molecules, reads per molecule, UMIs merged, collisions (None without).
    pub umi: Option<UmiRun>,
}

/// The molecules of a clone (with UMIs).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CloneUmi {
    /// Molecules of at least `min_reads_per_umi` reads (plus those of evicted UMI tables).
    pub molecules: u64,
    /// Distinct UMIs seen, and those merged into a more abundant one (directional rule).
    pub umis: u64,
    pub umis_merged: u64,
    /// Of those, single-read UMIs two substitutions from an abundant UMI.
    pub umis_merged_far: u64,
    /// Reads of the molecules counted.
    pub reads_in_molecules: u64,
    /// Molecules of fewer than `min_reads_per_umi` reads.
    pub molecules_dropped: u64,
    /// Molecules expected hidden by UMI collisions, counted in `molecules`.
    pub molecules_hidden: u64,
    /// Molecules counted from UMI tables evicted for memory (not deduplicated).
    pub molecules_evicted: u64,
    /// The most abundant molecules: (UMI, reads), at most 5.
    pub top_umis: Vec<(String, u64)>,
}

/// The UMIs of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct UmiRun {
    /// `name`, `illumina`, `r1:N` or `r2:N`.
    pub source: String,
    pub min_reads_per_umi: u32,
    pub max_umis: u64,
    /// Reads (or pairs) without a valid UMI: not detected.
    pub reads_without_umi: Tally,
    /// Over every clone (all windows after merging): molecules, per system slot too.
    pub molecules: u64,
    #[serde(serialize_with = "by_name")]
    pub molecules_by_system: Vec<(String, u64)>,
    pub reads_in_molecules: u64,
    pub umis: u64,
    pub umis_merged: u64,
    pub umis_merged_far: u64,
    /// Molecules expected hidden by UMI collisions (same or neighbouring UMIs), counted.
    pub molecules_hidden: u64,
    /// Clones whose UMIs are too crowded for a reliable count (UMIs short for their size).
    pub crowded_clones: u64,
    pub molecules_dropped: u64,
    pub reads_in_dropped_molecules: u64,
    /// UMI error rate and reads per molecule, estimated from the run.
    pub model: crate::umi::UmiModel,
    /// (smallest reads of the bin, molecules): 1, 2, ... 10, 20, 50, 100, 1000, 10000.
    pub reads_per_molecule: Vec<(u64, u64)>,
    /// Molecules of a clone kept apart from a larger clone one substitution away that
    /// the larger one has with at least as many reads: counted there only.
    pub molecules_reassigned: u64,
    /// UMIs of molecules found in two or more reported clones, and those clones.
    pub collisions: u64,
    pub clones_with_collisions: u64,
    /// UMI tables evicted to stay within `max_umis` entries, and their reads.
    pub evicted_tables: u64,
    pub evicted_reads: u64,
    /// Most (window, UMI) entries held at once (16 bytes each).
    pub peak_entries: u64,
}

/// The reads of the top clones written by a second pass.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CloneReads {
    /// Clones whose reads were written (the top N, at most the clones reported).
    pub clones: usize,
    /// Reads written, and per clone in rank order.
    pub reads: u64,
    pub per_clone: Vec<u64>,
    /// Every window compaction (`max_windows`) was recorded: the counts are those of the clones.
    pub exact: bool,
    pub seconds: f64,
    /// With UMIs: one consensus read per molecule (`reads`, `per_clone`: molecules).
    pub molecules: bool,
}

/// (name, value) pairs as a map, in their order.
fn by_name<S: Serializer, T: Serialize>(slots: &[(String, T)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(slots.iter().map(|(name, value)| (name, value)))
}

/// The tallies of undetected reads by reason key, each with its label.
fn reasons_by_key<S: Serializer>(reasons: &[Tally; N_REASONS], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Labelled {
        reads: u64,
        length: u64,
        label: &'static str,
    }
    s.collect_map(Reason::ALL.iter().map(|&r| {
        let t = reasons[r as usize];
        let labelled = Labelled {
            reads: t.reads,
            length: t.length,
            label: r.label(),
        };
        (r.key(), labelled)
    }))
}

/// A designation as reported, or why it failed (`{"failed": reason}`).
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum DesignationRecord {
    Done(Box<DesignationReport>),
    Failed { failed: String },
}

/// Positions are 0-based, ends exclusive.
#[derive(Clone, Debug, Serialize)]
pub struct DesignationReport {
    pub name: String,
    pub evalue: f64,
    pub evalue_v: f64,
    pub evalue_j: f64,
    pub segments: Vec<SegmentReport>,
    /// Inserted nucleotides between consecutive genes.
    pub inserts: Vec<(usize, usize)>,
    pub tied_genes: Vec<String>,
    pub sequence_alignment: String,
    pub germline_alignment: String,
    pub junction: Option<JunctionReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SegmentReport {
    pub role: Role,
    pub name: String,
    pub start: usize,
    pub end: usize,
    pub germline_start: usize,
    pub germline_end: usize,
    pub germline_length: usize,
    pub del_left: usize,
    pub del_right: usize,
    pub score: i32,
    pub identity: f64,
    pub evalue: f64,
    /// AIRR CIGAR.
    pub cigar: String,
    pub sequence_alignment: String,
    pub germline_alignment: String,
    pub tied: Vec<String>,
    pub alternatives: Vec<(String, i32)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct JunctionReport {
    #[serde(flatten)]
    pub junction: Junction,
    pub cdr3: Option<(usize, usize)>,
}

impl DesignationRecord {
    /// The designation of `seq` (the sequence that was designated).
    pub fn new(result: &Result<Designation, String>, seq: &[u8]) -> DesignationRecord {
        let des = match result {
            Err(reason) => {
                return DesignationRecord::Failed {
                    failed: reason.clone(),
                }
            }
            Ok(des) => des,
        };
        let segments = des.segments.iter().map(|s| SegmentReport {
            role: s.role,
            name: s.name.clone(),
            start: s.path.read_start,
            end: s.path.read_end,
            germline_start: s.path.germ_start,
            germline_end: s.path.germ_end,
            germline_length: s.germ_len,
            del_left: s.del_left(),
            del_right: s.del_right(),
            score: s.path.score,
            identity: s.path.matches() as f64 / s.path.columns().max(1) as f64,
            evalue: s.evalue,
            cigar: airr_cigar(&s.path, seq.len()),
            sequence_alignment: s.rows.0.clone(),
            germline_alignment: s.rows.1.clone(),
            tied: s.tied.clone(),
            alternatives: s.alternatives.clone(),
        });
        let (sequence_alignment, germline_alignment) = des.alignment_rows(seq);
        DesignationRecord::Done(Box::new(DesignationReport {
            name: des.name.clone(),
            evalue: des.evalue,
            evalue_v: des.evalue_v,
            evalue_j: des.evalue_j,
            segments: segments.collect(),
            inserts: des.inserts(),
            tied_genes: des.tied_genes(),
            sequence_alignment,
            germline_alignment,
            junction: des.junction.as_ref().map(|j| JunctionReport {
                junction: j.clone(),
                cdr3: j.cdr3(),
            }),
        }))
    }
}

/// One read as `Germline.detect_read` and `designate_read` report it.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum ReadRecord {
    Undetected { detected: bool, reason: &'static str },
    Detected(Box<DetectedRead>),
}

/// Positions on the V->J strand (`oriented`).
#[derive(Clone, Debug, Serialize)]
pub struct DetectedRead {
    pub detected: bool,
    #[serde(flatten)]
    pub label: SystemLabel,
    pub reverse: bool,
    pub breakpoint: usize,
    pub window: String,
    pub window_start: usize,
    pub shifted: bool,
    pub oriented: String,
    pub evalue: f64,
    pub evalue_v: f64,
    pub evalue_j: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub designation: Option<DesignationRecord>,
}

impl ReadRecord {
    /// `oriented`: the read on the V->J strand (for a detected read).
    pub fn new(germline: &Germline, outcome: &Outcome, oriented: &[u8]) -> ReadRecord {
        let d: &Detection = match outcome {
            Outcome::Undetected(reason) => {
                return ReadRecord::Undetected {
                    detected: false,
                    reason: reason.key(),
                }
            }
            Outcome::Detected(d) => d,
        };
        let oriented = String::from_utf8_lossy(oriented).to_string();
        ReadRecord::Detected(Box::new(DetectedRead {
            detected: true,
            label: SystemLabel::new(germline, d.system, d.pair),
            reverse: d.reverse,
            breakpoint: d.breakpoint,
            window: oriented[d.window_start..d.window_start + d.window_len].to_string(),
            window_start: d.window_start,
            shifted: d.shifted,
            oriented,
            evalue: d.evalue,
            evalue_v: d.evalue_v,
            evalue_j: d.evalue_j,
            designation: None,
        }))
    }
}

/// A system of a germline preset: its files per recombination by role.
#[derive(Clone, Debug, Serialize)]
pub struct SystemRecord<'a> {
    pub name: &'a str,
    pub shortcut: &'a str,
    pub color: &'a str,
    pub description: &'a str,
    pub seed: &'a str,
    pub incomplete: bool,
    pub follows: Option<&'a str>,
    pub recombinations: Vec<RecombinationRecord<'a>>,
}

/// Relative paths of the 5', 4' (D) and 3' files of one recombination.
#[derive(Clone, Debug, Serialize)]
pub struct RecombinationRecord<'a> {
    #[serde(rename = "5")]
    pub five: Vec<&'a str>,
    #[serde(rename = "4")]
    pub four: Vec<&'a str>,
    #[serde(rename = "3")]
    pub three: Vec<&'a str>,
}

/// A germline file and its number of alleles.
#[derive(Clone, Debug, Serialize)]
pub struct GeneFileRecord<'a> {
    pub rel_path: &'a str,
    pub path: String,
    pub alleles: usize,
}

impl<'a> SystemRecord<'a> {
    pub fn all(germline: &'a Germline) -> Vec<SystemRecord<'a>> {
        let paths = |files: &[usize]| -> Vec<&'a str> {
            files
                .iter()
                .map(|&f| germline.files[f].rel_path.as_str())
                .collect()
        };
        let system = |s: &'a crate::germline::System| SystemRecord {
            name: &s.name,
            shortcut: &s.shortcut,
            color: &s.color,
            description: &s.description,
            seed: &s.seed.shape,
            incomplete: s.incomplete,
            follows: s.follows.as_deref(),
            recombinations: s
                .recombinations
                .iter()
                .map(|r| RecombinationRecord {
                    five: paths(&r.five),
                    four: paths(&r.four),
                    three: paths(&r.three),
                })
                .collect(),
        };
        germline.systems.iter().map(system).collect()
    }
}

impl<'a> GeneFileRecord<'a> {
    pub fn all(germline: &'a Germline) -> Vec<GeneFileRecord<'a>> {
        let file = |f: &'a crate::germline::GeneFile| GeneFileRecord {
            rel_path: &f.rel_path,
            path: f.path.display().to_string(),
            alleles: f.alleles.len(),
        };
        germline.files.iter().map(file).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of the outer JSON object, in order.
    fn keys(json: &str) -> Vec<String> {
        let (mut keys, mut depth, mut string, mut in_string) = (Vec::new(), 0, String::new(), false);
        let mut chars = json.chars().peekable();
        while let Some(c) = chars.next() {
            match (in_string, c) {
                (true, '"') => {
                    in_string = false;
                    if depth == 1 && chars.peek() == Some(&':') {
                        keys.push(std::mem::take(&mut string));
                    }
                    string.clear();
                }
                (true, c) => string.push(c),
                (false, '"') => in_string = true,
                (false, '{' | '[') => depth += 1,
                (false, '}' | ']') => depth -= 1,
                _ => {}
            }
        }
        keys
    }

    #[test]
    fn results_serialize_to_the_python_keys_in_order() {
        let result = RunResult {
            systems: vec![(
                "TRG".into(),
                Tally {
                    reads: 2,
                    length: 300,
                },
            )],
            ..Default::default()
        };
        let json = serde_json::to_string(&result).unwrap();
        let expected = "total detected systems reasons shifted_reads distinct_windows merged_windows \
            dropped_windows dropped_reads clones_above_min reads_in_clones_above_min distribution reads_per_file \
            pairs seconds_detection seconds_clones seconds_designation sample_threshold diversity \
            diversity_by_system clones threads clone_reads umi";
        assert_eq!(keys(&json), expected.split_whitespace().collect::<Vec<_>>());
        assert!(json.contains(r#""systems":{"TRG":{"reads":2,"length":300}}"#));
        assert!(json.contains(r#""too-short":{"reads":0,"length":0,"label":"UNSEG too short"}"#));

        let clone = CloneResult {
            window: "ACGT".into(),
            system: UNEXPECTED,
            pair: Some((0, 1)),
            label: SystemLabel {
                name: "unexpected".into(),
                pair: Some(("IGH".into(), "IGK".into())),
            },
            loci: Some(("IGH".into(), "IGK".into())),
            reads: 3,
            shifted_reads: 0,
            merged_reads: 0,
            merged_count: 0,
            merged_windows: vec![],
            average_length: 250.0,
            near_duplicate_of: None,
            umi: None,
            representative: None,
            designation: None,
        };
        let json = serde_json::to_string(&clone).unwrap();
        let expected =
            "window system pair loci reads shifted_reads merged_reads merged_count merged_windows \
            average_length near_duplicate_of representative";
        assert_eq!(keys(&json), expected.split_whitespace().collect::<Vec<_>>());
        let failed = DesignationRecord::new(&Err("no J".into()), b"ACGT");
        assert_eq!(serde_json::to_string(&failed).unwrap(), r#"{"failed":"no J"}"#);
    }
}
