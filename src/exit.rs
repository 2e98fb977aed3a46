//! Exit codes (sysexits.h) and the error type that carries one.
//!
//! What the MTA does with each code is the point: 0 deletes its copy, 75
//! keeps the mail and retries, 64/65 bounce it.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Processed, skipped or duplicate.
    Ok = 0,
    /// Bad command line (EX_USAGE).
    Usage = 64,
    /// Permanently unacceptable input: empty or over the size limit (EX_DATAERR).
    DataErr = 65,
    /// A FILE named on the command line cannot be read (EX_NOINPUT).
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

    /// For `map_err`: any error as a temporary failure.
    pub fn temp(error: anyhow::Error) -> Failure {
        Failure::new(Exit::TempFail, error)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line: the error chain joined with ": ", without causes that
        // only repeat the one before with a code (rusqlite's
        // `Error code 14: unable to open database file`).
        let mut parts: Vec<String> = Vec::new();
        for cause in self.error.chain() {
            let text = cause.to_string();
            let text = text.lines().map(str::trim).collect::<Vec<_>>().join(" ");
            if parts.last().is_some_and(|prev| repeats(prev, &text)) {
                continue;
            }
            parts.push(text);
        }
        write!(f, "{}", parts.join(": "))
    }
}

/// True when `cause` says nothing `prev` did not, bar an `Error code N: `
/// prefix.
fn repeats(prev: &str, cause: &str) -> bool {
    let rest = cause
        .strip_prefix("Error code ")
        .and_then(|r| r.split_once(": "))
        .filter(|(code, _)| code.chars().all(|c| c.is_ascii_digit()))
        .map_or(cause, |(_, rest)| rest);
    !rest.is_empty() && prev.contains(rest)
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

    #[test]
    fn a_cause_that_only_adds_a_code_is_left_out() {
        #[derive(Debug)]
        struct Coded;
        impl fmt::Display for Coded {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "Error code 778: disk I/O error")
            }
        }
        impl std::error::Error for Coded {}
        let e = anyhow::Error::new(Coded)
            .context("disk I/O error")
            .context("commit failed");
        assert_eq!(
            Failure::temp(e).to_string(),
            "commit failed: disk I/O error"
        );
    }
}
