//! Time: the only clock the program reads, and the instants a command
//! line names. Times are stored as RFC 3339 UTC text to the second
//! (`2026-11-27T10:00:00Z`), so that comparing the text compares the
//! instants.
//!
//! `MAILROOM_NOW` (RFC 3339, any offset) overrides the clock, so tests and
//! replays are deterministic.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// Now, as stored.
pub fn now() -> String {
    let fixed = std::env::var("MAILROOM_NOW")
        .ok()
        .and_then(|v| v.trim().parse::<Timestamp>().ok());
    stored(fixed.unwrap_or_else(Timestamp::now))
}

/// An instant as stored: UTC, whole seconds.
fn stored(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The stored instant `secs` seconds before the stored instant `at`;
/// `None` when `at` is not one.
pub fn before(at: &str, secs: u64) -> Option<String> {
    let t = at.parse::<Timestamp>().ok()?;
    let secs = i64::try_from(secs).ok()?;
    let earlier = t.checked_sub(jiff::SignedDuration::from_secs(secs)).ok()?;
    Some(stored(earlier))
}

/// A `--since` / `--until` value as stored: RFC 3339 with any offset
/// (`2026-12-02T05:49:00+01:00`), or a day (`2026-12-02`, its first
/// second in UTC). The error says what is accepted.
pub fn instant(value: &str) -> Result<String, String> {
    let v = value.trim();
    if let Ok(t) = v.parse::<Timestamp>() {
        return Ok(stored(t));
    }
    if let Ok(day) = v.parse::<Date>()
        && let Ok(start) = day.to_zoned(TimeZone::UTC)
    {
        return Ok(stored(start.timestamp()));
    }
    Err(format!(
        "`{value}` is not a date: use RFC 3339 (2026-12-02T05:49:00+01:00) or YYYY-MM-DD"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_compared_in_utc() {
        assert_eq!(
            instant("2026-12-02T05:49:00+01:00").as_deref(),
            Ok("2026-12-02T04:49:00Z")
        );
        assert_eq!(
            instant("2026-12-02T04:49:00Z").as_deref(),
            Ok("2026-12-02T04:49:00Z")
        );
        assert_eq!(instant("2026-12-02").as_deref(), Ok("2026-12-02T00:00:00Z"));
        assert_eq!(
            instant("2000-02-29T23:59:59.9Z").as_deref(),
            Ok("2000-02-29T23:59:59Z")
        );
        for bad in ["yesterday", "2026-13-01", "", "12/02/2026"] {
            assert!(instant(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn windows_end_at_the_instant_given() {
        assert_eq!(
            before("2026-11-27T10:00:00Z", 3600).as_deref(),
            Some("2026-11-27T09:00:00Z")
        );
        assert_eq!(
            before("2026-03-01T00:30:00Z", 86_400).as_deref(),
            Some("2026-02-28T00:30:00Z")
        );
        assert_eq!(before("not a time", 60), None);
    }

    #[test]
    fn now_is_stored_in_utc_to_the_second() {
        let t = now();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z'), "{t}");
        assert_eq!(instant(&t).as_deref(), Ok(t.as_str()));
    }
}
