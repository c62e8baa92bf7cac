//! Errors about the user's input: one line naming the file and the problem.

use std::fmt;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub file: String,
    pub message: String,
}

impl InputError {
    pub fn new(file: impl AsRef<Path>, message: impl Into<String>) -> InputError {
        InputError {
            file: file.as_ref().display().to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

impl std::error::Error for InputError {}

/// Why a run ended without a result: bad input, or its caller asked it to stop
/// (a signal: Ctrl-C, or SIGTERM from a job scheduler's cancel or time limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    Input(InputError),
    Interrupted,
}

impl From<InputError> for RunError {
    fn from(e: InputError) -> RunError {
        RunError::Input(e)
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Input(e) => e.fmt(f),
            RunError::Interrupted => write!(f, "interrupted"),
        }
    }
}

impl std::error::Error for RunError {}
