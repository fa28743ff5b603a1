//! Alert times: the system clock in production, a fixed instant in tests (`--now`).

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;

/// What "now" is for alert creation and `<helper:last_hour>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    System,
    Fixed(Micros),
}

impl Clock {
    pub fn now(self) -> Micros {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| {
                    i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX)
                }),
            Clock::Fixed(micros) => micros,
        }
    }
}

/// `%Y-%m-%dT%H:%M:%S.%fZ`, StreamAlert's alert time format.
pub fn format_timestamp(micros: Micros) -> String {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let of_day = seconds.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{fraction:06}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Parses `format_timestamp`'s output, and also RFC 3339 seconds (`2020-01-01T00:00:00Z`).
pub fn parse_timestamp(text: &str) -> Option<Micros> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date_parts = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (
        date_parts.next()?.ok()?,
        date_parts.next()?.ok()?,
        date_parts.next()?.ok()?,
    );
    let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut time_parts = hms.splitn(3, ':').map(str::parse::<i64>);
    let (hour, minute, second) = (
        time_parts.next()?.ok()?,
        time_parts.next()?.ok()?,
        time_parts.next()?.ok()?,
    );
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    if fraction.is_empty() || fraction.len() > 6 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let micros_fraction: i64 = format!("{fraction:0<6}").parse().ok()?;
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400 + hour * 3600 + minute * 60 + second) * 1_000_000) + micros_fraction)
}

// Howard Hinnant's civil calendar algorithms (public domain), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python_strftime_with_microseconds() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_timestamp(1_577_836_800_000_000),
            "2020-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            format_timestamp(951_782_400_123_456),
            "2000-02-29T00:00:00.123456Z"
        );
    }

    #[test]
    fn parse_inverts_format() {
        for micros in [0, 1_577_836_800_000_001, 4_102_444_799_999_999] {
            assert_eq!(parse_timestamp(&format_timestamp(micros)), Some(micros));
        }
        assert_eq!(
            parse_timestamp("2020-01-01T00:00:00Z"),
            Some(1_577_836_800_000_000)
        );
        assert_eq!(parse_timestamp("2020-13-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn fixed_clock_does_not_move() {
        assert_eq!(Clock::Fixed(42).now(), 42);
        assert!(Clock::System.now() > 1_700_000_000_000_000);
    }
}
