//! Streaming FASTA/FASTQ reader (plain or gzip, several files, `-` for stdin),
//! cutting the input into batches of reads for the worker threads. Paired-end
//! files are read in lockstep: a batch of pairs carries the second mates in `mates`.

use crate::error::InputError;
use crate::nuc::first_invalid;
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

const BUFFER: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Fasta,
    Fastq,
}

/// Reads of one batch, concatenated.
#[derive(Default, Debug, Clone)]
pub struct Batch {
    /// Position of the batch in the input (0, 1, 2, ...).
    pub number: u64,
    /// Ordinal of the first read of the batch over all inputs.
    pub first_ordinal: u64,
    pub seqs: Vec<u8>,
    pub seq_ends: Vec<u32>,
    pub names: Vec<u8>,
    pub name_ends: Vec<u32>,
    /// FASTQ qualities (kept for paired-end reads only; empty for FASTA records).
    pub quals: Vec<u8>,
    pub qual_ends: Vec<u32>,
    /// Second mates of paired-end reads, one per read of this batch.
    pub mates: Option<Box<Batch>>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.seq_ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seq_ends.is_empty()
    }

    pub fn seq(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.seq_ends[i - 1] as usize };
        &self.seqs[start..self.seq_ends[i] as usize]
    }

    pub fn name(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.name_ends[i - 1] as usize };
        &self.names[start..self.name_ends[i] as usize]
    }

    /// Quality string of read `i` (empty when qualities are not kept).
    pub fn qual(&self, i: usize) -> &[u8] {
        if self.qual_ends.is_empty() {
            return &[];
        }
        let start = if i == 0 { 0 } else { self.qual_ends[i - 1] as usize };
        &self.quals[start..self.qual_ends[i] as usize]
    }

    pub fn bases(&self) -> usize {
        self.seqs.len()
    }

    /// Append a read.
    pub fn push(&mut self, name: &[u8], seq: &[u8], qual: &[u8]) {
        self.names.extend_from_slice(name);
        self.name_ends.push(self.names.len() as u32);
        self.seqs.extend_from_slice(seq);
        self.seq_ends.push(self.seqs.len() as u32);
        self.quals.extend_from_slice(qual);
        self.qual_ends.push(self.quals.len() as u32);
    }
}

/// One input file, record by record.
pub struct SeqReader {
    input: Box<dyn BufRead + Send>,
    display: String,
    gzip: bool,
    format: Format,
    line: Vec<u8>,
    /// FASTA header already read (the next record's).
    pending_header: Option<Vec<u8>>,
    line_number: u64,
    pub records: u64,
    /// Bases read so far (a file of headers only has records and no base).
    pub bases: u64,
    /// Keep FASTQ qualities in the batch (paired-end merging needs them).
    pub keep_quals: bool,
}

impl SeqReader {
    pub fn open(path: &str) -> Result<SeqReader, InputError> {
        let display = if path == "-" {
            "<stdin>".to_string()
        } else {
            path.to_string()
        };
        let raw: Box<dyn Read + Send> = if path == "-" {
            Box::new(io::stdin())
        } else {
            let f = File::open(path).map_err(|e| InputError::new(path, format!("cannot open: {e}")))?;
            Box::new(f)
        };
        let mut buffered = BufReader::with_capacity(BUFFER, raw);
        let head = buffered
            .fill_buf()
            .map_err(|e| InputError::new(&display, format!("cannot read: {e}")))?;
        let gzip = head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
        let mut input: Box<dyn BufRead + Send> = if gzip {
            Box::new(BufReader::with_capacity(BUFFER, MultiGzDecoder::new(buffered)))
        } else {
            Box::new(buffered)
        };
        let format = detect_format(&mut input, &display, gzip)?;
        Ok(SeqReader {
            input,
            display,
            gzip,
            format,
            line: Vec::with_capacity(1024),
            pending_header: None,
            line_number: 0,
            records: 0,
            bases: 0,
            keep_quals: false,
        })
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    /// A malformed record. In a gzip file, garbage is more often corrupt compressed
    /// data than a bad record: the rest of the stream is decompressed (this error
    /// path only) so that a failing gzip check is reported as what it is.
    fn err(&mut self, message: impl Into<String>) -> InputError {
        if self.gzip {
            if let Err(e) = std::io::copy(&mut self.input, &mut std::io::sink()) {
                return InputError::new(&self.display, format!("corrupt gzip data ({e})"));
            }
        }
        InputError::new(&self.display, message)
    }

    fn io_err(&self, e: io::Error) -> InputError {
        if self.gzip {
            InputError::new(&self.display, format!("truncated or corrupt gzip data ({e})"))
        } else {
            InputError::new(&self.display, format!("cannot read: {e}"))
        }
    }

    /// Next line without its line end into `self.line`; false at end of input.
    fn next_line(&mut self) -> Result<bool, InputError> {
        self.line.clear();
        let n = self
            .input
            .read_until(b'\n', &mut self.line)
            .map_err(|e| self.io_err(e))?;
        if n == 0 {
            return Ok(false);
        }
        self.line_number += 1;
        while matches!(self.line.last(), Some(b'\n' | b'\r')) {
            self.line.pop();
        }
        Ok(true)
    }

    /// Append the next record to `batch`; false at end of input.
    pub fn read_into(&mut self, batch: &mut Batch) -> Result<bool, InputError> {
        let start = batch.seqs.len();
        let ok = match self.format {
            Format::Fastq => self.read_fastq(batch)?,
            Format::Fasta => self.read_fasta(batch)?,
        };
        if !ok {
            return Ok(false);
        }
        self.records += 1;
        self.bases += (batch.seqs.len() - start) as u64;
        if let Some(i) = first_invalid(&batch.seqs[start..]) {
            let c = batch.seqs[start + i];
            let name_start = batch.name_ends.last().copied().unwrap_or(0) as usize;
            let name = String::from_utf8_lossy(&batch.names[name_start..]).to_string();
            return Err(self.err(format!(
                "record {} ('{}'): '{}' is not a nucleotide letter",
                self.records,
                name,
                printable(c)
            )));
        }
        batch.seq_ends.push(batch.seqs.len() as u32);
        batch.name_ends.push(batch.names.len() as u32);
        if self.keep_quals {
            batch.qual_ends.push(batch.quals.len() as u32);
        }
        Ok(true)
    }

    fn read_fastq(&mut self, batch: &mut Batch) -> Result<bool, InputError> {
        loop {
            if !self.next_line()? {
                return Ok(false);
            }
            if !self.line.is_empty() {
                break;
            }
        }
        if self.line[0] != b'@' {
            return Err(self.err(format!(
                "line {}: FASTQ record does not start with '@'",
                self.line_number
            )));
        }
        batch.names.extend_from_slice(header_id(&self.line[1..]));
        if !self.next_line()? {
            return Err(self.err(format!("record {} is truncated (no sequence)", self.records + 1)));
        }
        let seq_len = self.line.len();
        batch.seqs.extend_from_slice(&self.line);
        if !self.next_line()? || self.line.first() != Some(&b'+') {
            return Err(self.err(format!(
                "line {}: FASTQ record without '+' line",
                self.line_number
            )));
        }
        if !self.next_line()? || self.line.len() != seq_len {
            return Err(self.err(format!(
                "record {} is truncated or malformed (quality length differs from sequence length)",
                self.records + 1
            )));
        }
        if self.keep_quals {
            batch.quals.extend_from_slice(&self.line);
        }
        Ok(true)
    }

    fn read_fasta(&mut self, batch: &mut Batch) -> Result<bool, InputError> {
        let header = match self.pending_header.take() {
            Some(h) => h,
            None => loop {
                if !self.next_line()? {
                    return Ok(false);
                }
                if self.line.is_empty() || self.line[0] == b'#' {
                    continue;
                }
                if self.line[0] != b'>' {
                    return Err(self.err(format!(
                        "line {}: FASTA sequence before any '>' header",
                        self.line_number
                    )));
                }
                break self.line[1..].to_vec();
            },
        };
        batch.names.extend_from_slice(header_id(&header));
        while self.next_line()? {
            match self.line.first() {
                None | Some(b'#') => continue,
                Some(b'>') => {
                    self.pending_header = Some(self.line[1..].to_vec());
                    break;
                }
                Some(_) => batch
                    .seqs
                    .extend(self.line.iter().filter(|b| !b.is_ascii_whitespace())),
            }
        }
        Ok(true)
    }
}

fn printable(c: u8) -> String {
    if c.is_ascii_graphic() {
        (c as char).to_string()
    } else {
        format!("\\x{c:02x}")
    }
}

/// The read name: the header up to the first tab (spaces kept, as in Vidjil's labels).
fn header_id(header: &[u8]) -> &[u8] {
    let end = header.iter().position(|&b| b == b'\t').unwrap_or(header.len());
    &header[..end]
}

fn detect_format(
    input: &mut Box<dyn BufRead + Send>,
    display: &str,
    gzip: bool,
) -> Result<Format, InputError> {
    loop {
        let buf = input.fill_buf().map_err(|e| {
            if gzip {
                InputError::new(display, format!("truncated or corrupt gzip data ({e})"))
            } else {
                InputError::new(display, format!("cannot read: {e}"))
            }
        })?;
        if buf.is_empty() {
            return Err(InputError::new(display, "empty file: no reads"));
        }
        let first = buf.iter().position(|b| !b.is_ascii_whitespace());
        match first {
            None => {
                let n = buf.len();
                input.consume(n);
            }
            Some(i) => {
                return match buf[i] {
                    b'@' => Ok(Format::Fastq),
                    b'>' | b'#' => Ok(Format::Fasta),
                    c => Err(InputError::new(
                        display,
                        format!("not a FASTA or FASTQ file (starts with '{}')", printable(c)),
                    )),
                };
            }
        }
    }
}

/// One input of a sample: a file of reads, or the two files of paired-end reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Single(String),
    Pair(String, String),
}

impl Input {
    pub fn paths(&self) -> Vec<&str> {
        match self {
            Input::Single(p) => vec![p],
            Input::Pair(a, b) => vec![a, b],
        }
    }
}

enum Open {
    Single(SeqReader),
    Pair(Box<(SeqReader, SeqReader)>),
}

/// What pairs two mates: the name up to the first blank, without a `/1` or `/2` end
/// (Illumina names differ after the blank: `1:N:0:...` and `2:N:0:...`).
pub fn pair_id(name: &[u8]) -> &[u8] {
    let end = name
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(name.len());
    let id = &name[..end];
    match id {
        [rest @ .., b'/', b'1' | b'2'] => rest,
        _ => id,
    }
}

/// Several inputs read one after the other, cut into batches. A batch holds reads
/// of one kind only: single reads, or pairs (with `mates`).
pub struct BatchReader {
    inputs: Vec<Input>,
    next_input: usize,
    current: Option<Open>,
    next_number: u64,
    next_ordinal: u64,
    /// Reads per input file, in order (both files of a pair count their reads).
    pub reads_per_file: Vec<u64>,
    pub max_reads: usize,
    pub max_bases: usize,
}

impl BatchReader {
    pub fn new(paths: Vec<String>) -> BatchReader {
        BatchReader::with_inputs(paths.into_iter().map(Input::Single).collect())
    }

    pub fn with_inputs(inputs: Vec<Input>) -> BatchReader {
        BatchReader {
            inputs,
            next_input: 0,
            current: None,
            next_number: 0,
            next_ordinal: 0,
            reads_per_file: Vec::new(),
            max_reads: 4096,
            max_bases: 1 << 20,
        }
    }

    /// Open every input once to report a bad file before any work starts.
    pub fn check_inputs(&self) -> Result<(), InputError> {
        for input in &self.inputs {
            for p in input.paths() {
                if p != "-" {
                    SeqReader::open(p)?;
                }
            }
        }
        Ok(())
    }

    fn open_next(&mut self) -> Result<bool, InputError> {
        let Some(input) = self.inputs.get(self.next_input) else {
            return Ok(false);
        };
        self.next_input += 1;
        self.current = Some(match input {
            Input::Single(p) => {
                self.reads_per_file.push(0);
                Open::Single(SeqReader::open(p)?)
            }
            Input::Pair(a, b) => {
                let (mut r1, mut r2) = (SeqReader::open(a)?, SeqReader::open(b)?);
                r1.keep_quals = true;
                r2.keep_quals = true;
                self.reads_per_file.extend([0, 0]);
                Open::Pair(Box::new((r1, r2)))
            }
        });
        Ok(true)
    }

    pub fn next_batch(&mut self) -> Result<Option<Batch>, InputError> {
        let mut batch = Batch {
            number: self.next_number,
            first_ordinal: self.next_ordinal,
            ..Default::default()
        };
        while batch.len() < self.max_reads && batch.bases() < self.max_bases {
            if self.current.is_none() && !self.open_next()? {
                break;
            }
            let more = match self.current.as_mut().expect("input just opened") {
                Open::Single(reader) => {
                    if batch.mates.is_some() {
                        break;
                    }
                    read_single(reader, &mut batch)?
                }
                Open::Pair(pair) => {
                    if !batch.is_empty() && batch.mates.is_none() {
                        break;
                    }
                    let (r1, r2) = &mut **pair;
                    read_pair(r1, r2, &mut batch)?
                }
            };
            if more {
                let n = self.reads_per_file.len();
                let files = if batch.mates.is_some() { n - 2..n } else { n - 1..n };
                self.reads_per_file[files].iter_mut().for_each(|c| *c += 1);
            } else {
                self.current = None;
            }
        }
        if batch.is_empty() {
            return Ok(None);
        }
        self.next_number += 1;
        self.next_ordinal += batch.len() as u64;
        Ok(Some(batch))
    }
}

/// Next read of a single file into `batch`; false at its end.
fn read_single(reader: &mut SeqReader, batch: &mut Batch) -> Result<bool, InputError> {
    if reader.read_into(batch)? {
        return Ok(true);
    }
    if reader.records == 0 {
        return Err(InputError::new(reader.display(), "no reads (empty file)"));
    }
    if reader.bases == 0 {
        let records = reader.records;
        return Err(InputError::new(
            reader.display(),
            format!("{records} records and no sequence: not reads"),
        ));
    }
    Ok(false)
}

/// Next pair into `batch` and its mates; false at the end of both files. Files of
/// different lengths or names that do not pair are an error naming the record.
fn read_pair(r1: &mut SeqReader, r2: &mut SeqReader, batch: &mut Batch) -> Result<bool, InputError> {
    let mut mates = batch.mates.take().unwrap_or_default();
    let (got1, got2) = (r1.read_into(batch)?, r2.read_into(&mut mates)?);
    let last = |b: &Batch| String::from_utf8_lossy(b.name(b.len() - 1)).into_owned();
    let result = match (got1, got2) {
        (true, true) => {
            let (name1, name2) = (batch.name(batch.len() - 1), mates.name(mates.len() - 1));
            if pair_id(name1) != pair_id(name2) {
                return Err(InputError::new(
                    r2.display(),
                    format!(
                        "record {} ('{}') does not pair with record {} of {} ('{}')",
                        r2.records,
                        last(&mates),
                        r1.records,
                        r1.display(),
                        last(batch)
                    ),
                ));
            }
            Ok(true)
        }
        (false, false) if r1.records == 0 => Err(InputError::new(r1.display(), "no reads (empty file)")),
        (false, false) => Ok(false),
        (true, false) => Err(InputError::new(
            r2.display(),
            format!(
                "ends after {} reads: record {} of {} ('{}') has no mate",
                r2.records,
                r1.records,
                r1.display(),
                last(batch)
            ),
        )),
        (false, true) => Err(InputError::new(
            r1.display(),
            format!(
                "ends after {} reads: record {} of {} ('{}') has no mate",
                r1.records,
                r2.records,
                r2.display(),
                last(&mates)
            ),
        )),
    };
    if !mates.is_empty() {
        batch.mates = Some(mates);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_tmp(name: &str, content: &[u8]) -> String {
        let dir = std::env::temp_dir().join(format!("vidjil_core_reader_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }

    fn gzip(content: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(content).unwrap();
        e.finish().unwrap()
    }

    fn read_all(paths: Vec<String>) -> Result<Vec<(String, String)>, InputError> {
        let mut r = BatchReader::new(paths);
        r.max_reads = 2;
        let mut out = Vec::new();
        while let Some(b) = r.next_batch()? {
            for i in 0..b.len() {
                out.push((
                    String::from_utf8_lossy(b.name(i)).into(),
                    String::from_utf8_lossy(b.seq(i)).into(),
                ));
            }
        }
        Ok(out)
    }

    #[test]
    fn fasta_multiline_comments_and_fastq_gz() {
        let fa = write_tmp("a.fa", b"# comment\n>r1 x\nACGT\nacgN\n\n>r2\nTTTT\n>r3\n");
        let fq = write_tmp("b.fq.gz", &gzip(b"@q1\nACGTAC\n+\nIIIIII\n@q2 y\nGG\n+q2\nII\n"));
        let reads = read_all(vec![fa, fq]).unwrap();
        let names: Vec<&str> = reads.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(names, vec!["r1 x", "r2", "r3", "q1", "q2 y"]);
        assert_eq!(reads[0].1, "ACGTacgN");
        assert_eq!(reads[2].1, "");
        assert_eq!(reads[3].1, "ACGTAC");
    }

    #[test]
    fn bad_inputs_are_named() {
        let empty = write_tmp("empty.fa", b"");
        assert!(read_all(vec![empty.clone()])
            .unwrap_err()
            .to_string()
            .starts_with(&empty));
        let text = write_tmp("text.txt", b"hello world\n");
        assert!(read_all(vec![text])
            .unwrap_err()
            .message
            .contains("not a FASTA or FASTQ"));
        let bad = write_tmp("bad.fa", b">r1\nACGT\n>r2\nAC*T\n");
        let e = read_all(vec![bad]).unwrap_err();
        assert!(e.message.contains("record 2") && e.message.contains("'*'"), "{e}");
        let gz = gzip(&b"@q\nACGT\n+\nIIII\n".repeat(2000));
        let truncated = write_tmp("trunc.fq.gz", &gz[..gz.len() / 2]);
        assert!(read_all(vec![truncated]).unwrap_err().message.contains("gzip"));
        let fq = write_tmp("short.fq", b"@q\nACGT\n+\nII\n");
        assert!(read_all(vec![fq]).unwrap_err().message.contains("quality"));
        let headers = write_tmp("headers.fa", b">r1\n>r2\n>r3\n");
        let e = read_all(vec![headers]).unwrap_err();
        assert_eq!(e.message, "3 records and no sequence: not reads");
        let mut gz = gzip(&b"@q\nACGTACGTAC\n+\nIIIIIIIIII\n".repeat(5000));
        let middle = gz.len() / 2;
        gz[middle..middle + 16].iter_mut().for_each(|b| *b ^= 0x5a);
        let corrupt = write_tmp("corrupt.fq.gz", &gz);
        let e = read_all(vec![corrupt]).unwrap_err();
        assert!(e.message.contains("gzip data"), "{e}");
        let one_empty = write_tmp("one_empty.fa", b">r1\n>r2\nACGT\n");
        assert_eq!(read_all(vec![one_empty]).unwrap().len(), 2);
    }

    fn pairs(r1: &str, r2: &str) -> Result<Vec<(String, String, String)>, InputError> {
        let mut r = BatchReader::with_inputs(vec![Input::Pair(r1.into(), r2.into())]);
        r.max_reads = 2;
        let mut out = Vec::new();
        while let Some(b) = r.next_batch()? {
            let m = b.mates.as_deref().expect("a batch of pairs has mates");
            assert_eq!(m.len(), b.len());
            for i in 0..b.len() {
                out.push((
                    String::from_utf8_lossy(b.seq(i)).into(),
                    String::from_utf8_lossy(m.seq(i)).into(),
                    String::from_utf8_lossy(b.qual(i)).into(),
                ));
            }
        }
        Ok(out)
    }

    #[test]
    fn pairs_are_read_in_lockstep_with_their_qualities() {
        let r1 = write_tmp(
            "p_R1.fq",
            b"@a/1\nACGT\n+\nIII#\n@b 1:N:0:7\nGG\n+\nII\n@c\nTTT\n+\n$$$\n",
        );
        let r2 = write_tmp(
            "p_R2.fq.gz",
            &gzip(b"@a/2\nCC\n+\nII\n@b 2:N:0:7\nAAAA\n+\nIIII\n@c\nG\n+\nI\n"),
        );
        let got = pairs(&r1, &r2).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], ("ACGT".into(), "CC".into(), "III#".into()));
        assert_eq!(got[2], ("TTT".into(), "G".into(), "$$$".into()));
        // Paired files then a single file: batches never mix the two.
        let single = write_tmp("p_single.fa", b">s\nACGTACGT\n");
        let mut r =
            BatchReader::with_inputs(vec![Input::Pair(r1.clone(), r2.clone()), Input::Single(single)]);
        let kinds: Vec<(usize, bool)> = std::iter::from_fn(|| r.next_batch().unwrap())
            .map(|b| (b.len(), b.mates.is_some()))
            .collect();
        assert_eq!(kinds, vec![(3, true), (1, false)]);
        assert_eq!(r.reads_per_file, vec![3, 3, 1]);
    }

    #[test]
    fn mates_that_do_not_pair_are_named() {
        let r1 = write_tmp("m_R1.fq", b"@a\nAC\n+\nII\n@b\nAC\n+\nII\n@c\nAC\n+\nII\n");
        let short = write_tmp("m_R2_short.fq", b"@a\nAC\n+\nII\n@b\nAC\n+\nII\n");
        let e = pairs(&r1, &short).unwrap_err();
        assert_eq!(e.file, short);
        assert!(
            e.message.contains("ends after 2 reads")
                && e.message.contains("record 3")
                && e.message.contains("'c'"),
            "{e}"
        );
        let e = pairs(&short, &r1).unwrap_err();
        assert_eq!(e.file, short);
        assert!(
            e.message.contains("record 3 of") && e.message.contains(&r1),
            "{e}"
        );
        let swapped = write_tmp("m_R2_names.fq", b"@a\nAC\n+\nII\n@c\nAC\n+\nII\n@b\nAC\n+\nII\n");
        let e = pairs(&r1, &swapped).unwrap_err();
        assert!(
            e.message.contains("record 2 ('c') does not pair with record 2") && e.message.contains("('b')"),
            "{e}"
        );
        let empty = write_tmp("m_empty.fq", b"");
        assert!(pairs(&r1, &empty).is_err());
    }

    #[test]
    fn pair_ids_drop_the_mate_marks() {
        assert_eq!(pair_id(b"M01:1:1101:155:13 1:N:0:1"), b"M01:1:1101:155:13");
        assert_eq!(pair_id(b"read7/2"), b"read7");
        assert_eq!(pair_id(b"read7/3"), b"read7/3");
        assert_eq!(pair_id(b"x"), b"x");
    }
}
