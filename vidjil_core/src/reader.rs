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
                    c => {
                        // As in `SeqReader::err`: garbage at the start of a gzip file is
                        // more often corrupt compressed data than another kind of file.
                        if gzip {
                            if let Err(e) = io::copy(input, &mut io::sink()) {
                                return Err(InputError::new(display, format!("corrupt gzip data ({e})")));
                            }
                        }
                        Err(InputError::new(
                            display,
                            format!("not a FASTA or FASTQ file (starts with '{}')", printable(c)),
                        ))
                    }
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

    #[test]
    fn gzip_damaged_at_its_start_is_said_to_be_corrupt() {
        // Stored (level 0) blocks: the reads are in the file as they are; the first
        // byte damaged decompresses to garbage, then the CRC check fails. It used to
        // be reported as "not a FASTA or FASTQ file (starts with 'x')".
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(0));
        e.write_all(&b"@q\nACGT\n+\nIIII\n".repeat(50)).unwrap();
        let mut gz = e.finish().unwrap();
        let start = gz.windows(4).position(|w| w == b"@q\nA").unwrap();
        gz[start] = b'x';
        let damaged = write_tmp("damaged_start.fq.gz", &gz);
        let e = read_all(vec![damaged]).unwrap_err();
        assert!(e.message.starts_with("corrupt gzip data"), "{e}");
        // Not gzip: still named for what it starts with.
        let text = write_tmp("text.fq", b"x\n");
        assert!(read_all(vec![text])
            .unwrap_err()
            .message
            .contains("starts with 'x'"));
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

/// Property tests: records of any layout (FASTA or FASTQ, plain or gzip in members,
/// CRLF, empty lines, comments, lower case) read back as written; headers only,
/// truncated or corrupt gzip and garbage are errors, never a panic.
#[cfg(test)]
mod properties {
    use super::*;
    use crate::testutil::proptest_config;
    use flate2::{write::GzEncoder, Compression};
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::{select, Index};
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A file in a temporary folder, removed when dropped.
    struct TmpFile(String);

    impl TmpFile {
        fn new(content: &[u8]) -> TmpFile {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!("vidjil_core_reader_props_{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(NEXT.fetch_add(1, Ordering::Relaxed).to_string());
            std::fs::write(&path, content).unwrap();
            TmpFile(path.display().to_string())
        }
    }

    impl Drop for TmpFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[derive(Clone, Debug)]
    struct Record {
        /// The read name: the header up to its first tab.
        name: Vec<u8>,
        header: Vec<u8>,
        seq: Vec<u8>,
        qual: Vec<u8>,
    }

    fn record(max_len: usize) -> impl Strategy<Value = Record> {
        (
            vec(select(b"Aaz09 _:/.-|=>@+#".to_vec()), 0..12),
            prop::option::of(vec(select(b"xy 1\t".to_vec()), 0..8)),
            vec(select(b"ACGTACGTACGTNacgtnRYKMSWBDHVUu".to_vec()), 0..=max_len),
        )
            .prop_flat_map(|(name, description, seq)| {
                let mut header = name.clone();
                if let Some(d) = description {
                    header.push(b'\t');
                    header.extend(d);
                }
                let n = seq.len();
                (Just(name), Just(header), Just(seq), vec(b'!'..=b'~', n))
            })
            .prop_map(|(name, header, seq, qual)| Record {
                name,
                header,
                seq,
                qual,
            })
    }

    #[derive(Clone, Debug)]
    struct Layout {
        fastq: bool,
        /// FASTA sequence line width.
        width: usize,
        /// Line ends: 0 LF, 1 CRLF, 2 either, line by line.
        eol: u8,
        /// Drives the empty lines, comments, trailing blanks and mixed line ends.
        noise: Vec<u8>,
        final_eol: bool,
        /// Compression level and where the content is cut into gzip members.
        gzip: Option<(u32, Vec<Index>)>,
    }

    fn layout(fastq: impl Strategy<Value = bool>) -> impl Strategy<Value = Layout> {
        (
            fastq,
            1usize..=90,
            0u8..3,
            vec(any::<u8>(), 0..16),
            any::<bool>(),
            prop::option::of((0u32..=9, vec(any::<Index>(), 0..4))),
        )
            .prop_map(|(fastq, width, eol, noise, final_eol, gzip)| Layout {
                fastq,
                width,
                eol,
                noise,
                final_eol,
                gzip,
            })
    }

    struct Render<'a> {
        out: Vec<u8>,
        layout: &'a Layout,
        k: usize,
    }

    impl Render<'_> {
        fn draw(&mut self) -> u8 {
            let noise = &self.layout.noise;
            if noise.is_empty() {
                return 255;
            }
            self.k += 1;
            noise[self.k % noise.len()]
        }

        fn line(&mut self, parts: &[&[u8]]) {
            parts.iter().for_each(|p| self.out.extend_from_slice(p));
            let crlf = match self.layout.eol {
                0 => false,
                1 => true,
                _ => self.draw() & 1 == 1,
            };
            self.out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        }

        /// Some empty lines (and comments in FASTA), or none.
        fn blanks(&mut self) {
            for _ in 0..3 {
                let x = self.draw();
                if x % 7 == 0 {
                    self.line(&[]);
                } else if !self.layout.fastq && x % 11 == 1 {
                    self.line(&[b"# a comment >x"]);
                } else {
                    break;
                }
            }
        }
    }

    fn render(records: &[Record], layout: &Layout) -> Vec<u8> {
        let mut r = Render {
            out: Vec::new(),
            layout,
            k: 0,
        };
        r.blanks();
        for rec in records {
            if layout.fastq {
                r.line(&[b"@", &rec.header]);
                r.line(&[&rec.seq]);
                let repeat: &[u8] = if r.draw() & 2 == 2 { &rec.header } else { b"" };
                r.line(&[b"+", repeat]);
                r.line(&[&rec.qual]);
            } else {
                r.line(&[b">", &rec.header]);
                r.blanks();
                for chunk in rec.seq.chunks(layout.width) {
                    let blank: &[u8] = if r.draw() % 13 == 2 { b" \t" } else { b"" };
                    r.line(&[chunk, blank]);
                }
            }
            r.blanks();
        }
        // No line end after the last line (but a FASTQ quality line of nothing needs one).
        let empty_last = layout.fastq && records.last().is_some_and(|r| r.seq.is_empty());
        if !layout.final_eol && !empty_last {
            for end in [b'\n', b'\r'] {
                if r.out.last() == Some(&end) {
                    r.out.pop();
                }
            }
        }
        r.out
    }

    fn gzip(content: &[u8], level: u32) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::new(level));
        e.write_all(content).unwrap();
        e.finish().unwrap()
    }

    /// The content cut into gzip members (concatenated, as bgzip or `cat a.gz b.gz`
    /// make them, empty members included).
    fn gzip_members(content: &[u8], level: u32, cuts: &[Index]) -> Vec<u8> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(content.len() + 1)).collect();
        points.sort_unstable();
        points.push(content.len());
        let mut start = 0;
        let mut out = Vec::new();
        for p in points {
            out.extend(gzip(&content[start..p], level));
            start = p;
        }
        out
    }

    fn file_bytes(records: &[Record], layout: &Layout) -> Vec<u8> {
        let content = render(records, layout);
        match &layout.gzip {
            Some((level, cuts)) => gzip_members(&content, *level, cuts),
            None => content,
        }
    }

    /// Names and sequences.
    type Reads = Vec<(Vec<u8>, Vec<u8>)>;
    /// Names, sequences and qualities.
    type Records = Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>;

    /// Names and sequences of every batch of a file, checking the batches on the way.
    fn read_batches(path: &str, max_reads: usize, max_bases: usize) -> Result<Reads, InputError> {
        let mut reader = BatchReader::new(vec![path.to_string()]);
        reader.max_reads = max_reads;
        reader.max_bases = max_bases;
        let mut out = Vec::new();
        let mut full = Vec::new();
        while let Some(b) = reader.next_batch()? {
            assert_eq!((b.number, b.first_ordinal), (full.len() as u64, out.len() as u64));
            assert!(!b.is_empty() && b.len() <= max_reads && b.mates.is_none());
            // Reads are added while the batch is under both limits.
            assert!(b.bases() - b.seq(b.len() - 1).len() < max_bases);
            full.push(b.len() == max_reads || b.bases() >= max_bases);
            out.extend((0..b.len()).map(|i| (b.name(i).to_vec(), b.seq(i).to_vec())));
        }
        // Only the last batch ends before a limit.
        assert!(full.iter().rev().skip(1).all(|&f| f));
        assert_eq!(reader.reads_per_file, vec![out.len() as u64]);
        Ok(out)
    }

    /// Names, sequences and qualities of a file read record by record.
    fn read_records(path: &str) -> Result<Records, InputError> {
        let mut reader = SeqReader::open(path)?;
        reader.keep_quals = true;
        let mut b = Batch::default();
        while reader.read_into(&mut b)? {}
        Ok((0..b.len())
            .map(|i| (b.name(i).to_vec(), b.seq(i).to_vec(), b.qual(i).to_vec()))
            .collect())
    }

    fn expected(records: &[Record]) -> Reads {
        records.iter().map(|r| (r.name.clone(), r.seq.clone())).collect()
    }

    /// Records with at least one base.
    fn reads(max: usize) -> impl Strategy<Value = Vec<Record>> {
        (vec(record(120), 1..max), vec(select(b"ACGTn".to_vec()), 1..4)).prop_map(|(mut records, seq)| {
            records[0].qual = vec![b'I'; seq.len()];
            records[0].seq = seq;
            records
        })
    }

    proptest! {
        #![proptest_config(proptest_config(256))]

        /// Any layout of records reads back as the records, whatever the batch limits;
        /// records without any base are refused, and so is a file without records.
        #[test]
        fn records_read_back_whatever_the_layout(
            records in vec(record(120), 0..12),
            layout in layout(any::<bool>()),
            max_reads in 1usize..6,
            max_bases in 1usize..400,
        ) {
            let file = TmpFile::new(&file_bytes(&records, &layout));
            let got = read_batches(&file.0, max_reads, max_bases);
            let bases: usize = records.iter().map(|r| r.seq.len()).sum();
            if records.is_empty() {
                prop_assert!(got.is_err());
            } else if bases == 0 {
                let e = got.unwrap_err();
                let want = format!("{} records and no sequence: not reads", records.len());
                prop_assert_eq!(e.message, want);
            } else {
                prop_assert_eq!(got.unwrap(), expected(&records));
                let with_quals: Records = records
                    .iter()
                    .map(|r| {
                        let qual = if layout.fastq { r.qual.clone() } else { vec![] };
                        (r.name.clone(), r.seq.clone(), qual)
                    })
                    .collect();
                prop_assert_eq!(read_records(&file.0).unwrap(), with_quals);
            }
        }

        /// A FASTA file of headers only is not a file of reads.
        #[test]
        fn headers_only_fasta_is_refused(
            records in vec(record(0), 1..10),
            layout in layout(Just(false)),
        ) {
            let file = TmpFile::new(&file_bytes(&records, &layout));
            let e = read_batches(&file.0, 4096, 1 << 20).unwrap_err();
            prop_assert_eq!(&e.file, &file.0);
            prop_assert_eq!(e.message, format!("{} records and no sequence: not reads", records.len()));
        }

        /// A gzip file cut short anywhere is an error that says so.
        #[test]
        fn truncated_gzip_is_an_error(
            records in reads(8),
            layout in layout(any::<bool>()),
            level in 0u32..=9,
            cut in any::<Index>(),
        ) {
            let gz = gzip(&render(&records, &layout), level);
            let cut = cut.index(gz.len());
            let file = TmpFile::new(&gz[..cut]);
            let e = read_batches(&file.0, 4096, 1 << 20).unwrap_err();
            prop_assert_eq!(&e.file, &file.0);
            // Nothing left is an empty file, one byte is not yet gzip.
            let what = match cut { 0 => "empty file", 1 => "not a FASTA", _ => "gzip" };
            prop_assert!(e.message.contains(what), "{}", e);
            prop_assert!(read_records(&file.0).is_err());
        }

        /// Damaged gzip data is an error, or (damage that the format ignores: header
        /// time, padding bits) the same reads: never other reads.
        #[test]
        fn corrupt_gzip_is_an_error_or_the_same_reads(
            records in reads(8),
            layout in layout(any::<bool>()).prop_filter("gzip", |l| l.gzip.is_some()),
            damage in vec((any::<bool>(), any::<Index>(), 1u8..=255), 1..4),
        ) {
            let mut gz = file_bytes(&records, &layout);
            for (near_start, at, x) in damage {
                // Anywhere, or in the header and first compressed bytes.
                let i = at.index(if near_start { gz.len().min(24) } else { gz.len() });
                gz[i] ^= x;
            }
            let file = TmpFile::new(&gz);
            match read_batches(&file.0, 3, 1 << 20) {
                Ok(got) => prop_assert_eq!(got, expected(&records)),
                Err(e) => {
                    prop_assert_eq!(&e.file, &file.0);
                    // Said to be gzip damage (unless the damage hit the gzip magic).
                    let magic = gz[..2] == [0x1f, 0x8b];
                    prop_assert!(e.message.contains("gzip") || !magic, "{}", e);
                }
            }
        }

        /// Any bytes, or valid files with bytes inserted, removed or changed: an
        /// error or reads of nucleotide letters, never a panic.
        #[test]
        fn garbage_is_an_error_or_reads_never_a_panic(
            records in vec(record(40), 0..6),
            layout in layout(any::<bool>()),
            raw in prop::option::of(vec(any::<u8>(), 0..400)),
            edits in vec((any::<Index>(), 0u8..3, any::<u8>()), 0..6),
            compress in any::<bool>(),
        ) {
            let mut content = raw.unwrap_or_else(|| render(&records, &layout));
            for (at, kind, byte) in edits {
                let i = at.index(content.len() + 1);
                match kind {
                    0 => content.insert(i, byte),
                    _ if i == content.len() => {}
                    1 => {
                        content.remove(i);
                    }
                    _ => content[i] = byte,
                }
            }
            let bytes = if compress { gzip(&content, 1) } else { content };
            let file = TmpFile::new(&bytes);
            if let Ok(reads) = read_batches(&file.0, 2, 100) {
                for (name, seq) in reads {
                    prop_assert!(first_invalid(&seq).is_none() && !name.contains(&b'\n'));
                }
            }
            if let Ok(reads) = read_records(&file.0) {
                for (_, seq, qual) in reads {
                    prop_assert!(qual.is_empty() || qual.len() == seq.len());
                }
            }
        }

        /// Paired files are read in lockstep with their qualities; a second file that
        /// ends early is an error naming it.
        #[test]
        fn paired_files_are_read_in_lockstep(
            records in reads(10),
            layouts in (layout(Just(true)), layout(Just(true))),
            marks in select(vec![("/1", "/2"), (" 1:N:0:7", " 2:N:0:7"), ("", "")]),
            missing in prop_oneof![3 => Just(0usize), 1 => 1usize..3],
            max_reads in 1usize..5,
        ) {
            let mate = |r: &Record, mark: &str, second: bool| {
                let mut m = r.clone();
                m.name.extend_from_slice(mark.as_bytes());
                m.header = m.name.clone();
                if second {
                    m.seq.reverse();
                    m.qual.reverse();
                }
                m
            };
            let r1: Vec<Record> = records.iter().map(|r| mate(r, marks.0, false)).collect();
            let kept = records.len().saturating_sub(missing);
            let r2: Vec<Record> = records[..kept].iter().map(|r| mate(r, marks.1, true)).collect();
            let f1 = TmpFile::new(&file_bytes(&r1, &layouts.0));
            let f2 = TmpFile::new(&file_bytes(&r2, &layouts.1));
            let mut reader = BatchReader::with_inputs(vec![Input::Pair(f1.0.clone(), f2.0.clone())]);
            reader.max_reads = max_reads;
            let mut got = Vec::new();
            let result = (|| {
                while let Some(b) = reader.next_batch()? {
                    let m = b.mates.as_deref().expect("a batch of pairs has mates");
                    assert!(m.len() == b.len() && b.len() <= max_reads);
                    for i in 0..b.len() {
                        got.push((b.name(i).to_vec(), b.seq(i).to_vec(), b.qual(i).to_vec(),
                                  m.name(i).to_vec(), m.seq(i).to_vec(), m.qual(i).to_vec()));
                    }
                }
                Ok::<(), InputError>(())
            })();
            if kept < records.len() {
                let e = result.unwrap_err();
                prop_assert_eq!(&e.file, &f2.0);
                let empty = kept == 0 && e.message.contains("no reads");
                prop_assert!(e.message.contains("has no mate") || empty, "{}", e);
            } else {
                prop_assert!(result.is_ok(), "{:?}", result);
                let want: Vec<_> = r1.iter().zip(&r2)
                    .map(|(a, b)| (a.name.clone(), a.seq.clone(), a.qual.clone(),
                                   b.name.clone(), b.seq.clone(), b.qual.clone()))
                    .collect();
                prop_assert_eq!(got, want);
                prop_assert_eq!(reader.reads_per_file.clone(), vec![records.len() as u64; 2]);
            }
        }
    }

    proptest! {
        // Files of over 1 MiB: a few cases (PROPTEST_CASES or not).
        #![proptest_config(ProptestConfig { cases: 4, ..proptest_config(4) })]

        /// Records across the end of the reader's 1 MiB buffer read back whole.
        #[test]
        fn records_across_the_buffer_end_read_back(
            records in reads(6),
            layout in layout(any::<bool>()),
            before_end in 0usize..300,
        ) {
            let filler: &[u8] = if layout.fastq {
                b"@f\nACGTACGTAC\n+\nIIIIIIIIII\n"
            } else {
                b">f\nACGTACGTAC\n"
            };
            let start = BUFFER - before_end;
            let mut content = filler.repeat(start / filler.len());
            content.resize(start, b'\n');
            let fillers = start / filler.len();
            content.extend(render(&records, &layout));
            let bytes = match layout.gzip {
                Some((level, _)) => gzip(&content, level.min(1)),
                None => content,
            };
            let file = TmpFile::new(&bytes);
            let got = read_batches(&file.0, 4096, 1 << 20).unwrap();
            prop_assert_eq!(got.len(), fillers + records.len());
            prop_assert_eq!(&got[fillers..], &expected(&records)[..]);
        }
    }
}
