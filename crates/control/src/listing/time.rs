//! Timestamp helpers shared by the listing parsers and the `MDTM` reply.

use ::time::{Date, Month, PrimitiveDateTime, Time};

use super::{Modified, Precision};

/// Parses the RFC 3659 §2.3 `time-val` form `YYYYMMDDHHMMSS[.f…]`, as used by
/// the MLSx `modify`/`create` facts and the `213` reply to `MDTM`. The
/// result is UTC.
///
/// The fraction may have 1 to 9 digits. Every field is range-checked
/// (including the day against the month and leap years); anything else in
/// the input, even whitespace, makes it invalid. A seconds field of `60`
/// (which the RFC allows for leap seconds) is clamped to `59.999999999`.
///
/// ```
/// use ftpkit_control::listing::{parse_mdtm_time, Precision};
/// let m = parse_mdtm_time(b"20240229235959.25").unwrap();
/// assert!(m.utc);
/// assert_eq!(m.precision, Precision::Subsecond);
/// assert_eq!(m.at.nanosecond(), 250_000_000);
/// assert!(parse_mdtm_time(b"20230229000000").is_none()); // not a leap year
/// ```
pub fn parse_mdtm_time(s: &[u8]) -> Option<Modified> {
    let (main, frac) = match s.iter().position(|&b| b == b'.') {
        Some(dot) => (s.get(..dot)?, Some(s.get(dot + 1..)?)),
        None => (s, None),
    };
    if main.len() != 14 {
        return None;
    }
    let year = digits(main.get(0..4)?)?;
    let month = digits(main.get(4..6)?)?;
    let day = digits(main.get(6..8)?)?;
    let hour = digits(main.get(8..10)?)?;
    let minute = digits(main.get(10..12)?)?;
    let mut second = digits(main.get(12..14)?)?;
    let mut nanos = 0u32;
    if let Some(frac) = frac {
        if frac.is_empty() || frac.len() > 9 {
            return None;
        }
        nanos = digits(frac)?;
        for _ in frac.len()..9 {
            nanos *= 10;
        }
    }
    if second == 60 {
        second = 59;
        nanos = 999_999_999;
    }
    let date = calendar_date(i32::try_from(year).ok()?, month, day)?;
    let time = Time::from_hms_nano(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
        nanos,
    )
    .ok()?;
    Some(Modified {
        at: PrimitiveDateTime::new(date, time),
        utc: true,
        precision: if frac.is_some() {
            Precision::Subsecond
        } else {
            Precision::Second
        },
        year_inferred: false,
    })
}

/// Parses 1..=9 ASCII digits.
pub(crate) fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        s.iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0')),
    )
}

/// A validated calendar date.
pub(crate) fn calendar_date(year: i32, month: u32, day: u32) -> Option<Date> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()
}

/// A validated wall-clock time.
pub(crate) fn clock_time(hour: u32, minute: u32, second: u32) -> Option<Time> {
    Time::from_hms(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
    )
    .ok()
}

/// A `LIST` row's time: the server's local time, to the second if the row
/// showed seconds and to the minute otherwise.
pub(crate) fn local_time(
    date: Date,
    time: Time,
    has_seconds: bool,
    year_inferred: bool,
) -> Modified {
    Modified {
        at: PrimitiveDateTime::new(date, time),
        utc: false,
        precision: if has_seconds {
            Precision::Second
        } else {
            Precision::Minute
        },
        year_inferred,
    }
}

/// Parses `H:MM`, `HH:MM` or `HH:MM:SS` (24-hour), returning the time and
/// whether seconds were present.
pub(crate) fn parse_hhmm(s: &[u8]) -> Option<(Time, bool)> {
    let mut parts = s.split(|&b| b == b':');
    let hour = parts.next().filter(|p| (1..=2).contains(&p.len()))?;
    let minute = parts.next().filter(|p| p.len() == 2)?;
    let second = match parts.next() {
        Some(p) if p.len() == 2 => Some(p),
        Some(_) => return None,
        None => None,
    };
    if parts.next().is_some() {
        return None;
    }
    let time = clock_time(
        digits(hour)?,
        digits(minute)?,
        match second {
            Some(p) => digits(p)?,
            None => 0,
        },
    )?;
    Some((time, second.is_some()))
}

/// English three-letter month abbreviation, any case.
pub(crate) fn month_abbrev(s: &[u8]) -> Option<u32> {
    const NAMES: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    if s.len() != 3 {
        return None;
    }
    let index = NAMES.iter().position(|name| name.eq_ignore_ascii_case(s))?;
    u32::try_from(index + 1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions() {
        let m = parse_mdtm_time(b"20200102030405.123456789").unwrap();
        assert_eq!(m.at.nanosecond(), 123_456_789);
        let m = parse_mdtm_time(b"20200102030405.1").unwrap();
        assert_eq!(m.at.nanosecond(), 100_000_000);
        assert!(parse_mdtm_time(b"20200102030405.1234567890").is_none());
        assert!(parse_mdtm_time(b"20200102030405.").is_none());
        assert!(parse_mdtm_time(b"20200102030405.1x").is_none());
    }

    #[test]
    fn leap_second_clamped() {
        let m = parse_mdtm_time(b"20161231235960").unwrap();
        assert_eq!(m.at.second(), 59);
        assert_eq!(m.at.nanosecond(), 999_999_999);
    }

    #[test]
    fn hhmm() {
        assert!(parse_hhmm(b"0:30").is_some());
        assert!(parse_hhmm(b"23:59:59").unwrap().1);
        assert!(parse_hhmm(b"24:00").is_none());
        assert!(parse_hhmm(b"12:0").is_none());
        assert!(parse_hhmm(b"12:00:").is_none());
        assert!(parse_hhmm(b"123:00").is_none());
    }
}
