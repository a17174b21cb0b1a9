//! Eastern time (America/Toronto), in which Canada Post reads the `from` and `to` of the
//! non-contract shipments search, and the search window around one create attempt.
//!
//! Without a time-zone database the offset comes from the rule Canada and the United
//! States have kept since 2007: daylight time (UTC−4) from the second Sunday of March at
//! 2:00 standard time (07:00 UTC) to the first Sunday of November at 2:00 daylight time
//! (06:00 UTC), standard time (UTC−5) otherwise.

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc, Weekday,
};

/// The `n`th `weekday` of `month` in `year` (1-based).
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u32) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n as u8)
}

/// When daylight time begins and ends in `year`, in UTC.
fn daylight_period(year: i32) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let start = nth_weekday(year, 3, Weekday::Sun, 2)?.and_hms_opt(7, 0, 0)?;
    let end = nth_weekday(year, 11, Weekday::Sun, 1)?.and_hms_opt(6, 0, 0)?;
    Some((Utc.from_utc_datetime(&start), Utc.from_utc_datetime(&end)))
}

/// Eastern time's offset from UTC at `at`, in hours: −4 or −5.
pub fn offset_hours(at: DateTime<Utc>) -> i64 {
    match daylight_period(at.year()) {
        Some((start, end)) if start <= at && at < end => -4,
        _ => -5,
    }
}

/// The wall-clock time in Toronto at `at`.
pub fn local(at: DateTime<Utc>) -> NaiveDateTime {
    at.naive_utc() + Duration::hours(offset_hours(at))
}

/// Whether a Toronto wall-clock time lies in the hour that happens twice.
fn is_repeated_hour(time: NaiveDateTime) -> bool {
    time.hour() == 1 && nth_weekday(time.year(), 11, Weekday::Sun, 1) == Some(time.date())
}

/// `YYYYMMDDHHmm` in Eastern time, as the search's `from`/`to` want it.
#[cfg(test)]
pub fn search_stamp(at: DateTime<Utc>) -> String {
    local(at).format("%Y%m%d%H%M").to_string()
}

/// The stretch of time a create attempt's shipment must have been made in, widened by a
/// margin on each side for the difference between this machine's clock and Canada
/// Post's, and for the time the POST itself took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchWindow {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl SearchWindow {
    /// `[at − margin, at + request_time + margin]`, whole minutes outward (the search's
    /// resolution), so a shipment made at any second of an edge minute is inside.
    pub fn around(at: DateTime<Utc>, margin: Duration, request_time: Duration) -> SearchWindow {
        let floor = |time: DateTime<Utc>| {
            time.with_second(0)
                .and_then(|time| time.with_nanosecond(0))
                .unwrap_or(time)
        };
        let from = floor(at - margin);
        let end = at + request_time + margin;
        let to = if floor(end) == end {
            end
        } else {
            floor(end) + Duration::minutes(1)
        };
        SearchWindow { from, to }
    }

    /// The `from` and `to` query values, in Eastern time. On the night daylight time
    /// ends, 1:00 to 2:00 happens twice and Canada Post may read a time in it as either:
    /// `from` then moves an hour earlier and `to` an hour later, so the window holds
    /// both readings (never an inverted one).
    pub fn query(&self) -> (String, String) {
        let (mut from, mut to) = (local(self.from), local(self.to));
        if is_repeated_hour(from) {
            from -= Duration::hours(1);
        }
        if is_repeated_hour(to) {
            to += Duration::hours(1);
        }
        let stamp = |time: NaiveDateTime| time.format("%Y%m%d%H%M").to_string();
        (stamp(from), stamp(to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn daylight_time_begins_on_the_second_sunday_of_march_at_two() {
        // 2026-03-08 is the second Sunday of March.
        assert_eq!(offset_hours(utc("2026-03-08T06:59:59Z")), -5);
        assert_eq!(offset_hours(utc("2026-03-08T07:00:00Z")), -4);
        assert_eq!(search_stamp(utc("2026-03-08T06:59:00Z")), "202603080159");
        assert_eq!(search_stamp(utc("2026-03-08T07:00:00Z")), "202603080300");
        // 2027: the second Sunday is the 14th.
        assert_eq!(offset_hours(utc("2027-03-08T12:00:00Z")), -5);
        assert_eq!(offset_hours(utc("2027-03-14T07:00:00Z")), -4);
    }

    #[test]
    fn daylight_time_ends_on_the_first_sunday_of_november_at_two() {
        // 2026-11-01 is the first Sunday of November.
        assert_eq!(offset_hours(utc("2026-11-01T05:59:59Z")), -4);
        assert_eq!(offset_hours(utc("2026-11-01T06:00:00Z")), -5);
        // 1:30 comes twice that night; both read as 01:30 in Toronto.
        assert_eq!(search_stamp(utc("2026-11-01T05:30:00Z")), "202611010130");
        assert_eq!(search_stamp(utc("2026-11-01T06:30:00Z")), "202611010130");
        assert_eq!(offset_hours(utc("2026-12-31T23:59:59Z")), -5);
        assert_eq!(offset_hours(utc("2026-07-01T12:00:00Z")), -4);
    }

    #[test]
    fn a_utc_time_after_midnight_is_the_previous_day_in_toronto() {
        assert_eq!(search_stamp(utc("2026-01-01T03:10:00Z")), "202512312210");
        assert_eq!(search_stamp(utc("2026-06-15T03:10:00Z")), "202606142310");
    }

    #[test]
    fn the_window_takes_whole_minutes_outward_with_the_margin() {
        let window = SearchWindow::around(
            utc("2026-01-15T15:42:33Z"),
            Duration::minutes(10),
            Duration::seconds(60),
        );
        assert_eq!(window.from, utc("2026-01-15T15:32:00Z"));
        assert_eq!(window.to, utc("2026-01-15T15:54:00Z"));
        assert_eq!(
            window.query(),
            ("202601151032".to_owned(), "202601151054".to_owned())
        );
        // On a whole minute the edge stays where it is.
        let exact = SearchWindow::around(
            utc("2026-01-15T15:40:00Z"),
            Duration::minutes(10),
            Duration::zero(),
        );
        assert_eq!(exact.to, utc("2026-01-15T15:50:00Z"));
    }

    #[test]
    fn a_window_near_midnight_and_across_a_dst_change_is_read_in_eastern_time() {
        // 23:58 in Toronto on 14 January: the window runs into the next local day.
        let window = SearchWindow::around(
            utc("2026-01-15T04:58:00Z"),
            Duration::minutes(10),
            Duration::zero(),
        );
        assert_eq!(
            window.query(),
            ("202601142348".to_owned(), "202601150008".to_owned())
        );
        // An attempt at 01:55 standard time on the night daylight time begins.
        let window = SearchWindow::around(
            utc("2026-03-08T06:55:00Z"),
            Duration::minutes(10),
            Duration::zero(),
        );
        assert_eq!(
            window.query(),
            ("202603080145".to_owned(), "202603080305".to_owned())
        );
        // On the night it ends, 01:45 daylight to 01:05 standard would be inverted: the
        // window holds both readings of the repeated hour instead.
        let window = SearchWindow::around(
            utc("2026-11-01T05:55:00Z"),
            Duration::minutes(10),
            Duration::zero(),
        );
        assert_eq!(
            window.query(),
            ("202611010045".to_owned(), "202611010205".to_owned())
        );
    }
}
