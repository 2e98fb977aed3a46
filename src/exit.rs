//! Exit codes (sysexits.h) and the error type that carries one.
//!
//! What the MTA does with each code is the point: 0 deletes its copy, 75
//! keeps the mail and retries, 64/65 bounce it. Below every other layer:
//! imports nothing of mailroom's.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Processed, skipped or duplicate.
    Ok = 0,
    /// Bad command line (EX_USAGE).
    Usage = 64,
    /// Permanently unacceptable input: empty or over the size limit; a
    /// change refused for what is stored (a duplicate record, a record
    /// still linked) (EX_DATAERR).
    DataErr = 65,
    /// What the command line names does not exist: a FILE, a mail, a
    /// record, an attachment (EX_NOINPUT).
    NoInput = 66,
    /// May succeed later: database busy, read-only, disk full, I/O, config
    /// missing or invalid (EX_TEMPFAIL).
    TempFail = 75,
    /// `check` found config errors (EX_CONFIG).
    Config = 78,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The code for a run over several inputs: a temporary failure wins
    /// (the MTA must retry), then the others by severity.
    pub fn worst(self, other: Exit) -> Exit {
        let rank = |e: Exit| match e {
            Exit::Ok => 0,
            Exit::NoInput => 1,
            Exit::DataErr => 2,
            Exit::Usage => 3,
            Exit::Config => 4,
            Exit::TempFail => 5,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// An error with the exit code it should produce.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn new(exit: Exit, error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            exit,
            error: error.into(),
        }
    }

    pub fn usage(msg: impl fmt::Display) -> Failure {
        Failure::new(Exit::Usage, anyhow::anyhow!("{msg}"))
    }

    /// What the command line names does not exist (66).
    pub fn not_found(msg: impl fmt::Display) -> Failure {
        Failure::new(Exit::NoInput, anyhow::anyhow!("{msg}"))
    }

    /// Refused for what is stored, or permanently unacceptable data (65).
    pub fn data(msg: impl fmt::Display) -> Failure {
        Failure::new(Exit::DataErr, anyhow::anyhow!("{msg}"))
    }

    /// For `map_err`: any error as a temporary failure.
    pub fn temp(error: anyhow::Error) -> Failure {
        Failure::new(Exit::TempFail, error)
    }
}

impl fmt::Display for Failure {
    /// One line: the error chain joined with ": ".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .error
            .chain()
            .map(|cause| {
                let text = cause.to_string();
                text.lines().map(str::trim).collect::<Vec<_>>().join(" ")
            })
            .collect();
        write!(f, "{}", parts.join(": "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_sysexits() {
        assert_eq!(Exit::Ok.code(), 0);
        assert_eq!(Exit::Usage.code(), 64);
        assert_eq!(Exit::DataErr.code(), 65);
        assert_eq!(Exit::NoInput.code(), 66);
        assert_eq!(Exit::TempFail.code(), 75);
        assert_eq!(Exit::Config.code(), 78);
    }

    #[test]
    fn temporary_failure_wins() {
        assert_eq!(Exit::Ok.worst(Exit::DataErr), Exit::DataErr);
        assert_eq!(Exit::TempFail.worst(Exit::DataErr), Exit::TempFail);
        assert_eq!(Exit::DataErr.worst(Exit::Ok), Exit::DataErr);
    }

    #[test]
    fn failures_print_on_one_line() {
        let e = anyhow::anyhow!("inner\ncause").context("outer");
        assert_eq!(Failure::temp(e).to_string(), "outer: inner cause");
    }
}
