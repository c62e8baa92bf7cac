//! Vidjil germline presets: a JSON `.g` file naming systems (loci and incomplete
//! recombinations) and the FASTA files of their 5' (V), 4' (D) and 3' (J) genes.

use crate::error::InputError;
use crate::nuc::{first_invalid, normalize};
use crate::seed::Seed;
use serde_json::Value;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// One germline sequence.
#[derive(Clone, Debug)]
pub struct Allele {
    /// e.g. `IGHV3-23*01`, `KDE`, `TRDD2*01`.
    pub name: String,
    /// Upper-case, ungapped nucleotides.
    pub seq: Vec<u8>,
    /// Junction anchor, 0-based in `seq`: first nt of the V Cys codon, last nt of
    /// the J Trp/Phe codon. `None` for D genes, flanks and alleles where not found.
    pub anchor: Option<usize>,
    pub anchor_source: AnchorSource,
    /// The gene region `[start, end)` when `seq` also carries a genomic flank
    /// (`+up`/`+down` files whose plain sibling file holds the region); `None`: all.
    pub region: Option<(usize, usize)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnchorSource {
    /// IMGT gapped position 310 of a V gene.
    Gaps,
    /// Conserved codon motif (V Cys, J W/F-G-X-G).
    Motif,
    NotFound,
    /// Not a V or J gene (D, flanks, KDE, intron): no junction anchor expected.
    NotApplicable,
}

impl AnchorSource {
    /// How the anchor was found, as reported (`imgt-gaps`, `motif`, `not-found`, `none`).
    pub fn key(self) -> &'static str {
        match self {
            AnchorSource::Gaps => "imgt-gaps",
            AnchorSource::Motif => "motif",
            AnchorSource::NotFound => "not-found",
            AnchorSource::NotApplicable => "none",
        }
    }
}

#[derive(Clone, Debug)]
pub struct GeneFile {
    /// Path relative to the `.g` file, as written in it (e.g. `homo-sapiens/IGHV.fa`).
    pub rel_path: String,
    pub path: PathBuf,
    pub alleles: Vec<Allele>,
}

#[derive(Clone, Debug)]
pub struct Recombination {
    pub five: Vec<usize>,
    pub four: Vec<usize>,
    pub three: Vec<usize>,
}

#[derive(Clone, Debug)]
pub struct System {
    pub name: String,
    pub shortcut: String,
    pub color: String,
    pub description: String,
    pub follows: Option<String>,
    pub recombinations: Vec<Recombination>,
    pub seed: Seed,
    /// Incomplete or unusual recombination (`IGH+`, `IGK+`, `TRA+D`, ...): pays an
    /// e-value penalty so that a complete recombination wins when both fit.
    pub incomplete: bool,
    /// Locus of the 5' and 3' genes (`TRD`, `TRA` for TRA+D), for unexpected recombinations.
    pub left_locus: String,
    pub right_locus: String,
}

impl System {
    /// Indices of the files on one side: 0 = 5' (V), 1 = 3' (J), deduplicated.
    pub fn side_files(&self, side: usize) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for r in &self.recombinations {
            for &f in if side == 0 { &r.five } else { &r.three } {
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
        out
    }
}

#[derive(Clone, Debug)]
pub struct Germline {
    /// The `.g` file as given (without the system filter).
    pub path: PathBuf,
    pub species: String,
    pub species_taxon_id: i64,
    pub systems: Vec<System>,
    pub files: Vec<GeneFile>,
}

pub const MAX_SYSTEMS: usize = 16;

impl Germline {
    /// Load `FILE.g` or `FILE.g:SYS1,SYS2` (only these systems).
    pub fn load(spec: &str) -> Result<Germline, InputError> {
        let (path, filter) = split_filter(spec);
        let path = PathBuf::from(path);
        let text = fs::read_to_string(&path)
            .map_err(|e| InputError::new(&path, format!("cannot read germline preset: {e}")))?;
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| InputError::new(&path, format!("malformed germline preset (JSON): {e}")))?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let sub = json.get("path").and_then(Value::as_str).unwrap_or("");
        let systems_json = json
            .get("systems")
            .and_then(Value::as_object)
            .ok_or_else(|| InputError::new(&path, "malformed germline preset: no 'systems' object"))?;

        let wanted: Option<Vec<String>> =
            filter.map(|f| f.split(',').map(|s| s.trim().to_string()).collect());
        if let Some(w) = &wanted {
            for name in w {
                if !systems_json.contains_key(name) {
                    let known: Vec<&String> = systems_json.keys().collect();
                    return Err(InputError::new(
                        &path,
                        format!("unknown system '{name}' (known: {})", join(&known)),
                    ));
                }
            }
        }

        let mut files: Vec<GeneFile> = Vec::new();
        let mut file_index: HashMap<String, usize> = HashMap::new();
        let mut systems = Vec::new();
        for (name, sys) in systems_json {
            if let Some(w) = &wanted {
                if !w.contains(name) {
                    continue;
                }
            }
            let bad = |what: &str| InputError::new(&path, format!("malformed system '{name}': {what}"));
            let seed_name = sys
                .pointer("/parameters/seed")
                .and_then(Value::as_str)
                .unwrap_or("10s");
            let seed = Seed::parse(seed_name).map_err(|e| bad(&e))?;
            let recs_json = sys
                .get("recombinations")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("no 'recombinations' list"))?;
            let mut recombinations = Vec::new();
            for rec in recs_json {
                let mut sides: [Vec<usize>; 3] = Default::default();
                for (k, key) in ["5", "4", "3"].iter().enumerate() {
                    let Some(list) = rec.get(*key) else { continue };
                    let list = list.as_array().ok_or_else(|| bad("a file list is not a list"))?;
                    for f in list {
                        let rel = f.as_str().ok_or_else(|| bad("a file name is not a string"))?;
                        let rel_path = if sub.is_empty() {
                            rel.to_string()
                        } else {
                            format!("{sub}/{rel}")
                        };
                        let idx = match file_index.get(&rel_path) {
                            Some(&i) => i,
                            None => {
                                let full = base.join(&rel_path);
                                let alleles = read_gene_fasta(&full)?;
                                files.push(GeneFile {
                                    rel_path: rel_path.clone(),
                                    path: full,
                                    alleles,
                                });
                                file_index.insert(rel_path, files.len() - 1);
                                files.len() - 1
                            }
                        };
                        sides[k].push(idx);
                    }
                }
                let [five, four, three] = sides;
                if five.is_empty() || three.is_empty() {
                    return Err(bad("a recombination needs '5' and '3' files"));
                }
                recombinations.push(Recombination { five, four, three });
            }
            if recombinations.is_empty() {
                return Err(bad("empty 'recombinations'"));
            }
            let str_field = |k: &str| sys.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let mut system = System {
                name: name.clone(),
                shortcut: str_field("shortcut"),
                color: str_field("color"),
                description: str_field("description"),
                follows: sys.get("follows").and_then(Value::as_str).map(str::to_string),
                recombinations,
                seed,
                incomplete: name.contains('+'),
                left_locus: String::new(),
                right_locus: String::new(),
            };
            system.left_locus = side_locus(&system, &files, 0);
            system.right_locus = side_locus(&system, &files, 1);
            systems.push(system);
        }
        if systems.is_empty() {
            return Err(InputError::new(&path, "no system in germline preset"));
        }
        if systems.len() > MAX_SYSTEMS {
            return Err(InputError::new(
                &path,
                format!(
                    "{} systems selected; at most {MAX_SYSTEMS} at once",
                    systems.len()
                ),
            ));
        }
        let mut germline = Germline {
            path,
            species: json
                .get("species")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            species_taxon_id: json.get("species_taxon_id").and_then(Value::as_i64).unwrap_or(0),
            systems,
            files,
        };
        germline.compute_anchors();
        germline.find_regions();
        Ok(germline)
    }

    /// Alleles of `X+down.fa` / `X+up.fa` carry a flank after / before the gene; when
    /// `X.fa` sits beside them, the gene region is the part equal to its allele of the
    /// same name. Designation chooses alleles on the region only: a flank is known
    /// for some alleles and not others, and must not decide between them.
    fn find_regions(&mut self) {
        for file in &mut self.files {
            let name = file.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let (plain, down) = if name.contains("+down") {
                (name.replace("+down", ""), true)
            } else if name.contains("+up") {
                (name.replace("+up", ""), false)
            } else {
                continue;
            };
            let Ok(regions) = read_gene_fasta(&file.path.with_file_name(plain)) else {
                continue;
            };
            let by_name: HashMap<&str, &[u8]> =
                regions.iter().map(|a| (a.name.as_str(), &a.seq[..])).collect();
            for allele in &mut file.alleles {
                let Some(region) = by_name.get(allele.name.as_str()) else {
                    continue;
                };
                let len = region.len();
                if down && allele.seq.starts_with(region) {
                    allele.region = Some((0, len));
                } else if !down && allele.seq.ends_with(region) {
                    allele.region = Some((allele.seq.len() - len, allele.seq.len()));
                }
            }
        }
    }

    fn compute_anchors(&mut self) {
        for file in &mut self.files {
            for allele in &mut file.alleles {
                if allele.anchor_source != AnchorSource::NotApplicable || allele.anchor.is_some() {
                    continue;
                }
                let (anchor, source) = match segment_type(&allele.name) {
                    Some('V') => match v_anchor_motif(&allele.seq) {
                        Some(a) => (Some(a), AnchorSource::Motif),
                        None => (None, AnchorSource::NotFound),
                    },
                    Some('J') => match j_anchor_motif(&allele.seq) {
                        Some(a) => (Some(a), AnchorSource::Motif),
                        None => (None, AnchorSource::NotFound),
                    },
                    _ => (None, AnchorSource::NotApplicable),
                };
                allele.anchor = anchor;
                allele.anchor_source = source;
            }
        }
    }

    /// Alleles of V or J genes whose junction anchor was not found.
    pub fn missing_anchors(&self) -> Vec<String> {
        let mut out = Vec::new();
        for f in &self.files {
            for a in &f.alleles {
                if a.anchor_source == AnchorSource::NotFound && !out.contains(&a.name) {
                    out.push(a.name.clone());
                }
            }
        }
        out
    }
}

fn join(items: &[&String]) -> String {
    items.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

/// `file.g:IGH,TRG` -> (`file.g`, Some(`IGH,TRG`)).
pub fn split_filter(spec: &str) -> (&str, Option<&str>) {
    match spec.rfind(':') {
        Some(i) if !spec[i + 1..].contains('/') && !spec[i + 1..].is_empty() && i > 1 => {
            (&spec[..i], Some(&spec[i + 1..]))
        }
        _ => (spec, None),
    }
}

/// The 4th letter of an IMGT gene name gives the segment: `IGHV..` -> V, `TRAJ..` -> J.
pub fn segment_type(name: &str) -> Option<char> {
    let b = name.as_bytes();
    if b.len() > 3 && (name.starts_with("IG") || name.starts_with("TR")) {
        Some(b[3] as char)
    } else {
        None
    }
}

/// The locus most genes of one side belong to (`TRAV14/DV4`, in both TRA and
/// TRD, does not vote).
fn side_locus(system: &System, files: &[GeneFile], side: usize) -> String {
    let mut votes: HashMap<&str, usize> = HashMap::new();
    for f in system.side_files(side) {
        for a in &files[f].alleles {
            if segment_type(&a.name).is_some() && !a.name.contains('/') {
                *votes.entry(&a.name[..3]).or_default() += 1;
            }
        }
    }
    votes
        .into_iter()
        .max_by_key(|&(locus, n)| (n, std::cmp::Reverse(locus)))
        .map(|(locus, _)| locus.to_string())
        .unwrap_or_else(|| system.name.chars().take(3).collect())
}

/// Read a germline FASTA file: `>NAME*ALLELE ...` or IMGT `>ACC|NAME*ALLELE|...`.
pub fn read_gene_fasta(path: &Path) -> Result<Vec<Allele>, InputError> {
    let text =
        fs::read(path).map_err(|e| InputError::new(path, format!("cannot read germline file: {e}")))?;
    let text = String::from_utf8_lossy(&text);
    let mut alleles: Vec<Allele> = Vec::new();
    let mut gapped: Vec<u8> = Vec::new();
    let mut current: Option<String> = None;
    let finish =
        |name: Option<String>, gapped: &mut Vec<u8>, alleles: &mut Vec<Allele>| -> Result<(), InputError> {
            if let Some(name) = name {
                if gapped.is_empty() {
                    return Err(InputError::new(
                        path,
                        format!("germline sequence '{name}' is empty"),
                    ));
                }
                alleles.push(allele_from_gapped(name, gapped));
                gapped.clear();
            }
            Ok(())
        };
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(header) = line.strip_prefix('>') {
            finish(current.take(), &mut gapped, &mut alleles)?;
            current = Some(header_name(header));
        } else {
            if current.is_none() {
                return Err(InputError::new(
                    path,
                    format!("malformed FASTA: line {} before any '>' header", lineno + 1),
                ));
            }
            let bytes = line.as_bytes();
            let ungapped: Vec<u8> = bytes
                .iter()
                .copied()
                .filter(|&b| b != b'.' && b != b'-')
                .collect();
            if let Some(i) = first_invalid(&ungapped) {
                return Err(InputError::new(
                    path,
                    format!(
                        "malformed FASTA: line {}: '{}' is not a nucleotide",
                        lineno + 1,
                        ungapped[i] as char
                    ),
                ));
            }
            gapped.extend_from_slice(bytes);
        }
    }
    finish(current.take(), &mut gapped, &mut alleles)?;
    if alleles.is_empty() {
        return Err(InputError::new(path, "germline file has no sequence"));
    }
    Ok(alleles)
}

fn header_name(header: &str) -> String {
    let header = header.trim();
    if header.contains('|') {
        header.split('|').nth(1).unwrap_or("").trim().to_string()
    } else {
        header.split_whitespace().next().unwrap_or("").to_string()
    }
}

/// IMGT gapped position 310 (1-based) is the first nt of the conserved Cys codon.
const IMGT_CYS_GAPPED: usize = 309;
/// In a gapped J, positions 36..38 (1-based) are the J-Trp/Phe 118 codon.
const IMGT_J118_GAPPED: usize = 35;

fn allele_from_gapped(name: String, gapped: &[u8]) -> Allele {
    let seq: Vec<u8> = normalize(
        &gapped
            .iter()
            .copied()
            .filter(|&b| b != b'.' && b != b'-')
            .collect::<Vec<_>>(),
    );
    let mut anchor = None;
    let mut source = AnchorSource::NotApplicable;
    if segment_type(&name) == Some('V') && gapped.contains(&b'.') && gapped.len() > IMGT_CYS_GAPPED + 2 {
        let before = gapped[..IMGT_CYS_GAPPED]
            .iter()
            .filter(|&&b| b != b'.' && b != b'-')
            .count();
        // Some sets are gapped off the IMGT numbering: trust the gaps only on a Cys codon.
        let is_cys = before + 3 <= seq.len()
            && &seq[before..before + 2] == b"TG"
            && matches!(seq[before + 2], b'T' | b'C');
        if is_cys {
            anchor = Some(before);
            source = AnchorSource::Gaps;
        }
    }
    if segment_type(&name) == Some('J')
        && gapped.first() == Some(&b'.')
        && gapped.len() > IMGT_J118_GAPPED + 2
    {
        let before = gapped[..IMGT_J118_GAPPED]
            .iter()
            .filter(|&&b| b != b'.' && b != b'-')
            .count();
        // Not every J has the motif W/F-G-X-G (TRGJP1: F-A-E-G); the numbering finds them.
        if before + 3 <= seq.len() && matches!(&seq[before..before + 3], b"TGG" | b"TTT" | b"TTC") {
            anchor = Some(before + 2);
            source = AnchorSource::Gaps;
        }
    }
    Allele {
        name,
        seq,
        anchor,
        anchor_source: source,
        region: None,
    }
}

/// Last in-frame Cys codon (TGT/TGC) in the 3' end of an ungapped V (a V-REGION
/// starts with its first codon).
pub fn v_anchor_motif(seq: &[u8]) -> Option<usize> {
    let start = seq.len().saturating_sub(45);
    (start..seq.len().saturating_sub(2))
        .rev()
        .filter(|i| i % 3 == 0)
        .find(|&i| &seq[i..i + 2] == b"TG" && (seq[i + 2] == b'T' || seq[i + 2] == b'C'))
}

/// Last nt of the Trp/Phe codon of the first W/F-G-X-G motif (TGG|TTT|TTC GGN NNN GGN).
pub fn j_anchor_motif(seq: &[u8]) -> Option<usize> {
    if seq.len() < 12 {
        return None;
    }
    (0..=seq.len() - 12)
        .find(|&i| {
            let c = &seq[i..i + 3];
            (c == b"TGG" || c == b"TTT" || c == b"TTC")
                && &seq[i + 3..i + 5] == b"GG"
                && &seq[i + 9..i + 11] == b"GG"
        })
        .map(|i| i + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_styles() {
        assert_eq!(
            header_name("M99641|IGHV1-18*01|Homo sapiens|F|V-REGION|"),
            "IGHV1-18*01"
        );
        assert_eq!(header_name("IGHV1-18*01 some comment"), "IGHV1-18*01");
    }

    #[test]
    fn filter_syntax() {
        assert_eq!(
            split_filter("a/b/homo-sapiens.g:IGH,TRG"),
            ("a/b/homo-sapiens.g", Some("IGH,TRG"))
        );
        assert_eq!(split_filter("a/b/homo-sapiens.g"), ("a/b/homo-sapiens.g", None));
    }

    #[test]
    fn anchors_by_motif() {
        // IGHJ4*02: ACTACTTTGACTACTGGGGCCAGGGAACCCTGGTCACCGTCTCCTCAG, W = TGG at 14..17
        let j = b"ACTACTTTGACTACTGGGGCCAGGGAACCCTGGTCACCGTCTCCTCAG";
        assert_eq!(j_anchor_motif(j), Some(16));
        let v = b"GACACGGCCGTGTATTACTGTGCGAGAGA";
        assert_eq!(v_anchor_motif(v), Some(18));
    }

    #[test]
    fn j_anchor_from_imgt_gaps_without_the_motif() {
        // TRGJP1*01: F-A-E-G, no W/F-G-X-G motif; IMGT numbering puts Phe118 at 36..38.
        let gapped = b"............ATACCACTGGTTGGTTCAAGATATTTGCTGAAGGGACTAAGCTCATAGTAACTTCACC";
        let a = allele_from_gapped("TRGJP1*01".into(), gapped);
        assert_eq!(j_anchor_motif(&a.seq), None);
        assert_eq!(a.anchor, Some(25));
        assert_eq!(&a.seq[23..26], b"TTT");
    }

    #[test]
    fn anchor_from_imgt_gaps() {
        let mut gapped = vec![b'.'; 9];
        gapped.extend(std::iter::repeat_n(b'A', 300));
        gapped.extend_from_slice(b"TGTGCGAGA");
        let a = allele_from_gapped("IGHV9-99*01".into(), &gapped);
        assert_eq!(a.anchor, Some(300));
        assert_eq!(a.anchor_source, AnchorSource::Gaps);
        assert_eq!(&a.seq[300..303], b"TGT");
    }
}
