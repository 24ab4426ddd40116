//! RFC 2822 dates, the format of the Message resource's `date_*` fields
//! (`Thu, 30 Jul 2015 20:12:31 +0000`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchboard_core::model::time::civil_from_days;

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Formats `t` as RFC 2822 in UTC: `Thu, 24 Aug 2023 05:01:45 +0000`.
pub(crate) fn format_rfc2822(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The GMT date of `t` as `YYYY-MM-DD`: the form the `DateSent` filters of the Messages list
/// take.
pub(crate) fn format_date(t: SystemTime) -> String {
    let days = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) / 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses `YYYY-MM-DD` as midnight GMT of that date; `None` for anything else. Only the
/// emulator reads dates (the adapter only writes them).
#[cfg(any(test, feature = "emulator"))]
pub(crate) fn parse_date(s: &str) -> Option<SystemTime> {
    let mut it = s.split('-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let y: i64 = y.parse().ok()?;
    if !(1..=9999).contains(&y) {
        return None;
    }
    let m: u32 = m.parse().ok()?;
    let d: u32 = d.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let secs = u64::try_from(days_from_civil(y, m, d) * 86_400).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Parses `[Day, ]DD Mon YYYY HH:MM:SS ±hhmm`; `None` for anything else.
pub(crate) fn parse_rfc2822(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let s = match s.split_once(',') {
        Some((_, rest)) => rest.trim(),
        None => s,
    };
    let mut it = s.split_whitespace();
    let day: u32 = it.next()?.parse().ok()?;
    let month = it.next()?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? as u32 + 1;
    let year: i64 = it.next()?.parse().ok()?;
    // Four-digit years only: the arithmetic below cannot overflow (an API answer is input too).
    if !(1..=9999).contains(&year) {
        return None;
    }
    let mut hms = it.next()?.split(':');
    let h: i64 = hms.next()?.parse().ok()?;
    let mi: i64 = hms.next()?.parse().ok()?;
    let sec: i64 = hms.next().map_or(Some(0), |s| s.parse().ok())?;
    let zone = it.next().unwrap_or("+0000");
    let offset = match zone {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        z if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            let v: i64 = z[1..].parse().ok()?;
            let mins = v / 100 * 60 + v % 100;
            if z.starts_with('-') { -mins } else { mins }
        }
        _ => return None,
    };
    if !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let total = days * 86_400 + h * 3600 + mi * 60 + sec - offset * 60;
    let total = u64::try_from(total).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(total))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_spec_example() {
        let t = parse_rfc2822("Thu, 24 Aug 2023 05:01:45 +0000").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_692_853_305
        );
        assert_eq!(format_rfc2822(t), "Thu, 24 Aug 2023 05:01:45 +0000");
        assert_eq!(
            format_rfc2822(UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 +0000"
        );
        let leap = parse_rfc2822("Thu, 29 Feb 2024 12:00:00 +0100").unwrap();
        assert_eq!(format_rfc2822(leap), "Thu, 29 Feb 2024 11:00:00 +0000");
        assert_eq!(parse_rfc2822("yesterday"), None);
    }

    #[test]
    fn dates_of_the_date_sent_filter() {
        let t = parse_rfc2822("Thu, 24 Aug 2023 05:01:45 +0000").unwrap();
        assert_eq!(format_date(t), "2023-08-24");
        let midnight = parse_date("2023-08-24").unwrap();
        assert_eq!(format_rfc2822(midnight), "Thu, 24 Aug 2023 00:00:00 +0000");
        assert_eq!(format_date(UNIX_EPOCH), "1970-01-01");
        for bad in [
            "2023-8-24",
            "2023-13-01",
            "24/08/2023",
            "2023-08-24T00:00:00Z",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    /// An API answer is input too: a year the arithmetic cannot hold is no date, not a panic
    /// (overflow checks are on in debug and fuzz builds).
    #[test]
    fn years_out_of_range_are_no_date() {
        assert_eq!(
            parse_rfc2822("Thu, 24 Aug 9223372036854775807 05:01:45 +0000"),
            None
        );
        assert_eq!(parse_rfc2822("Thu, 24 Aug 0 05:01:45 +0000"), None);
        assert_eq!(parse_date("99999999999999-08-24"), None);
    }
}
