//! Parameters of a run: their defaults (`RunParams::default()` is the only place
//! they are written; Python reads them with `default_params()`), the keywords that
//! override them, and their bounds (`ParamError`).

use crate::clones::MAX_WINDOW;
use crate::designate::DesignParams;
use crate::detect::DetectParams;
use crate::mates::MateParams;
use crate::umi::{UmiParams, UmiSource};
use serde::Serialize;
use std::fmt;

/// Most worker threads accepted (`threads`).
pub const MAX_THREADS: usize = 1024;

#[derive(Clone, Debug)]
pub struct RunParams {
    pub detect: DetectParams,
    /// Worker threads; 0 = one per available core (see `worker_threads`).
    pub threads: usize,
    /// Clones with fewer reads are counted but not reported (`-r`).
    pub min_reads: u32,
    /// At most this many clones reported; 0 = all.
    pub max_clones: usize,
    /// The top N clones get a representative sequence and a designation (`-z`).
    pub designate: usize,
    pub design: DesignParams,
    /// 0 = no merge, 1 or 2 substitutions.
    pub merge_distance: usize,
    pub merge_ratio: f64,
    pub samples_per_window: usize,
    pub sample_budget_bytes: usize,
    /// Distinct windows kept while reading (memory bound, see `clones::compact`).
    pub max_windows: usize,
    /// Overlap of paired-end mates.
    pub mates: MateParams,
    /// UMIs: where they are, and how molecules are counted.
    pub umi: UmiParams,
    pub quiet: bool,
}

impl Default for RunParams {
    fn default() -> Self {
        RunParams {
            detect: DetectParams::default(),
            threads: 0,
            min_reads: 5,
            max_clones: 0,
            designate: 100,
            design: DesignParams::default(),
            merge_distance: 1,
            merge_ratio: 20.0,
            samples_per_window: 200,
            sample_budget_bytes: 32 << 20,
            max_windows: 1 << 20,
            mates: MateParams::default(),
            umi: UmiParams::default(),
            quiet: true,
        }
    }
}

/// A parameter out of its bounds: the keyword (`window`, `min_overlap`, ...) and
/// what its value must be (`between 30 and 63`, `at least 5`, `positive`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    pub field: &'static str,
    pub bound: String,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} must be {}", self.field, self.bound)
    }
}

impl std::error::Error for ParamError {}

fn check(ok: bool, field: &'static str, bound: &str) -> Result<(), ParamError> {
    if ok {
        Ok(())
    } else {
        Err(ParamError {
            field,
            bound: bound.to_string(),
        })
    }
}

/// The tunable parameters under their keyword names (those of Python's `detect()`):
/// what `default_params()` returns.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Keywords {
    pub window: usize,
    pub e_value: f64,
    pub unexpected: bool,
    pub rescue: bool,
    pub threads: usize,
    pub min_reads: u32,
    pub max_clones: usize,
    pub designate: usize,
    pub e_value_d: f64,
    pub several_d: bool,
    pub alternatives: usize,
    pub merge_distance: usize,
    pub merge_ratio: f64,
    pub max_windows: usize,
    pub min_overlap: usize,
    pub max_mismatch_rate: f64,
    /// None: no UMI.
    pub umi: Option<String>,
    pub umi_spacer: String,
    pub min_reads_per_umi: u32,
    pub max_umis: usize,
}

/// Values given for some keywords, the others keeping their default. Integers are
/// signed so that a negative (or, saturated by the caller, a huge) value is a
/// `ParamError` naming its keyword rather than an overflow.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub window: Option<i64>,
    pub e_value: Option<f64>,
    pub unexpected: Option<bool>,
    pub rescue: Option<bool>,
    pub threads: Option<i64>,
    pub min_reads: Option<i64>,
    pub max_clones: Option<i64>,
    pub designate: Option<i64>,
    pub e_value_d: Option<f64>,
    pub several_d: Option<bool>,
    pub alternatives: Option<i64>,
    pub merge_distance: Option<i64>,
    pub merge_ratio: Option<f64>,
    pub max_windows: Option<i64>,
    pub min_overlap: Option<i64>,
    pub max_mismatch_rate: Option<f64>,
    pub umi: Option<String>,
    pub umi_spacer: Option<String>,
    pub min_reads_per_umi: Option<i64>,
    pub max_umis: Option<i64>,
}

/// What `umi` must be.
const UMI_SOURCES: &str = "name, illumina, r1:N or r2:N (N from 1 to 31)";

impl RunParams {
    /// The defaults with `overrides` applied, checked.
    pub fn with(overrides: &Overrides) -> Result<RunParams, ParamError> {
        let o = overrides;
        let mut p = RunParams::default();
        let count = |field: &'static str, value: i64, p: &RunParams| {
            let (min, max) = p.int_bounds(field);
            usize::try_from(value)
                .ok()
                .filter(|v| (min..=max).contains(v))
                .ok_or_else(|| p.int_error(field))
        };
        if let Some(v) = o.window {
            p.detect.window = count("window", v, &p)?;
        }
        if let Some(v) = o.e_value {
            p.detect.max_evalue = v;
            // V and J are designated under the detection's threshold.
            p.design.max_evalue = v;
        }
        if let Some(v) = o.unexpected {
            p.detect.unexpected = v;
        }
        if let Some(v) = o.rescue {
            p.detect.rescue = v;
        }
        if let Some(v) = o.threads {
            p.threads = count("threads", v, &p)?;
        }
        if let Some(v) = o.min_reads {
            p.min_reads = count("min_reads", v, &p)? as u32;
        }
        if let Some(v) = o.max_clones {
            p.max_clones = count("max_clones", v, &p)?;
        }
        if let Some(v) = o.designate {
            p.designate = count("designate", v, &p)?;
        }
        if let Some(v) = o.e_value_d {
            p.design.max_evalue_d = v;
        }
        if let Some(v) = o.several_d {
            p.design.several_d = v;
        }
        if let Some(v) = o.alternatives {
            p.design.alternatives = count("alternatives", v, &p)?;
        }
        if let Some(v) = o.merge_distance {
            p.merge_distance = count("merge_distance", v, &p)?;
        }
        if let Some(v) = o.merge_ratio {
            p.merge_ratio = v;
        }
        if let Some(v) = o.max_windows {
            p.max_windows = count("max_windows", v, &p)?;
        }
        if let Some(v) = o.min_overlap {
            p.mates.min_overlap = count("min_overlap", v, &p)?;
        }
        if let Some(v) = o.max_mismatch_rate {
            p.mates.max_mismatch_rate = v;
        }
        if let Some(v) = &o.umi {
            p.umi.source = Some(UmiSource::parse(v).ok_or_else(|| ParamError {
                field: "umi",
                bound: UMI_SOURCES.to_string(),
            })?);
        }
        if let Some(v) = &o.umi_spacer {
            p.umi.spacer = v.as_bytes().to_ascii_uppercase();
        }
        if let Some(v) = o.min_reads_per_umi {
            p.umi.min_reads_per_umi = count("min_reads_per_umi", v, &p)? as u32;
        }
        if let Some(v) = o.max_umis {
            p.umi.max_umis = count("max_umis", v, &p)?;
        }
        p.validate()?;
        Ok(p)
    }

    /// Smallest and largest value of an integer keyword.
    fn int_bounds(&self, field: &str) -> (usize, usize) {
        match field {
            "window" => (self.detect.min_window.max(10), MAX_WINDOW),
            "threads" => (0, MAX_THREADS),
            "min_reads" => (0, u32::MAX as usize),
            "merge_distance" => (0, 2),
            "max_windows" => (100, usize::MAX),
            "min_overlap" => (5, usize::MAX),
            "min_reads_per_umi" => (1, u32::MAX as usize),
            "max_umis" => (1000, usize::MAX),
            _ => (0, usize::MAX),
        }
    }

    fn int_error(&self, field: &'static str) -> ParamError {
        let bound = match self.int_bounds(field) {
            (0, 2) => "0, 1 or 2".to_string(),
            (min, usize::MAX) => format!("at least {min}"),
            (1, max) if max == u32::MAX as usize => "at least 1".to_string(),
            (min, max) => format!("between {min} and {max}"),
        };
        ParamError { field, bound }
    }

    fn check_int(&self, field: &'static str, value: usize) -> Result<(), ParamError> {
        let (min, max) = self.int_bounds(field);
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(self.int_error(field))
        }
    }

    pub fn validate(&self) -> Result<(), ParamError> {
        let d = &self.detect;
        if d.min_window < 10 || d.min_window > MAX_WINDOW {
            return Err(self.int_error("window"));
        }
        self.check_int("window", d.window)?;
        check(d.max_evalue > 0.0, "e_value", "positive")?;
        self.check_int("merge_distance", self.merge_distance)?;
        check(self.merge_ratio >= 1.0, "merge_ratio", "at least 1")?;
        self.check_int("max_windows", self.max_windows)?;
        check(self.design.max_evalue_d > 0.0, "e_value_d", "positive")?;
        self.check_int("threads", self.threads)?;
        self.check_int("min_overlap", self.mates.min_overlap)?;
        self.check_int("min_reads_per_umi", self.umi.min_reads_per_umi as usize)?;
        self.check_int("max_umis", self.umi.max_umis)?;
        check(
            self.umi.spacer.iter().all(|b| b"ACGT".contains(b)),
            "umi_spacer",
            "A, C, G, T only",
        )?;
        check(
            self.umi.spacer.is_empty()
                || matches!(self.umi.source, Some(UmiSource::R1(_) | UmiSource::R2(_))),
            "umi_spacer",
            "given with umi r1:N or r2:N only",
        )?;
        let rate = self.mates.max_mismatch_rate;
        check(
            (0.0..0.5).contains(&rate),
            "max_mismatch_rate",
            "at least 0 and below 0.5",
        )
    }

    /// The worker threads to start: `threads`, or one per available core.
    pub fn worker_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// The keyword values of these parameters.
    pub fn keywords(&self) -> Keywords {
        Keywords {
            window: self.detect.window,
            e_value: self.detect.max_evalue,
            unexpected: self.detect.unexpected,
            rescue: self.detect.rescue,
            threads: self.threads,
            min_reads: self.min_reads,
            max_clones: self.max_clones,
            designate: self.designate,
            e_value_d: self.design.max_evalue_d,
            several_d: self.design.several_d,
            alternatives: self.design.alternatives,
            merge_distance: self.merge_distance,
            merge_ratio: self.merge_ratio,
            max_windows: self.max_windows,
            min_overlap: self.mates.min_overlap,
            max_mismatch_rate: self.mates.max_mismatch_rate,
            umi: self.umi.source.as_ref().map(|s| s.key()),
            umi_spacer: String::from_utf8_lossy(&self.umi.spacer).into_owned(),
            min_reads_per_umi: self.umi.min_reads_per_umi,
            max_umis: self.umi.max_umis,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(o: Overrides) -> (String, String) {
        let e = RunParams::with(&o).unwrap_err();
        (e.field.to_string(), e.bound)
    }

    #[test]
    fn defaults_are_valid_and_overrides_apply() {
        assert_eq!(
            RunParams::with(&Overrides::default()).unwrap().keywords(),
            RunParams::default().keywords()
        );
        let p = RunParams::with(&Overrides {
            window: Some(40),
            e_value: Some(0.5),
            threads: Some(3),
            min_overlap: Some(20),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((p.detect.window, p.threads, p.mates.min_overlap), (40, 3, 20));
        assert_eq!((p.detect.max_evalue, p.design.max_evalue), (0.5, 0.5));
        assert_eq!(p.worker_threads(), 3);
        assert!(RunParams::default().worker_threads() >= 1);
    }

    #[test]
    fn values_out_of_bounds_name_their_keyword() {
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        let w = |v| Overrides {
            window: Some(v),
            ..Default::default()
        };
        assert_eq!(error(w(29)), s("window", "between 30 and 63"));
        assert_eq!(error(w(64)), s("window", "between 30 and 63"));
        assert_eq!(error(w(-1)), s("window", "between 30 and 63"));
        let e = error(Overrides {
            max_windows: Some(-1),
            ..Default::default()
        });
        assert_eq!(e, s("max_windows", "at least 100"));
        let e = error(Overrides {
            min_overlap: Some(-1),
            ..Default::default()
        });
        assert_eq!(e, s("min_overlap", "at least 5"));
        let e = error(Overrides {
            threads: Some(i64::MAX),
            ..Default::default()
        });
        assert_eq!(e, s("threads", "between 0 and 1024"));
        let e = error(Overrides {
            alternatives: Some(-2),
            ..Default::default()
        });
        assert_eq!(e, s("alternatives", "at least 0"));
        let e = error(Overrides {
            merge_distance: Some(3),
            ..Default::default()
        });
        assert_eq!(e, s("merge_distance", "0, 1 or 2"));
        let e = error(Overrides {
            e_value: Some(f64::NAN),
            ..Default::default()
        });
        assert_eq!(e, s("e_value", "positive"));
        let e = error(Overrides {
            max_mismatch_rate: Some(0.5),
            ..Default::default()
        });
        assert_eq!(e, s("max_mismatch_rate", "at least 0 and below 0.5"));
        let e = error(Overrides {
            umi: Some("r1:40".into()),
            ..Default::default()
        });
        assert_eq!(e, s("umi", UMI_SOURCES));
        let e = error(Overrides {
            umi: Some("name".into()),
            umi_spacer: Some("GG".into()),
            ..Default::default()
        });
        assert_eq!(e, s("umi_spacer", "given with umi r1:N or r2:N only"));
        let e = error(Overrides {
            umi: Some("r1:8".into()),
            umi_spacer: Some("GNG".into()),
            ..Default::default()
        });
        assert_eq!(e, s("umi_spacer", "A, C, G, T only"));
        let e = error(Overrides {
            min_reads_per_umi: Some(0),
            ..Default::default()
        });
        assert_eq!(e, s("min_reads_per_umi", "at least 1"));
        let ok = RunParams::with(&Overrides {
            umi: Some("r2:12".into()),
            umi_spacer: Some("tgg".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (ok.umi.source, ok.umi.spacer),
            (Some(UmiSource::R2(12)), b"TGG".to_vec())
        );
        let e = RunParams::with(&w(10)).unwrap_err();
        assert_eq!(e.to_string(), "window must be between 30 and 63");
    }
}
