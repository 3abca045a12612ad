/// UTC calendar arithmetic without Foundation, shared by the access log, `doctor` and `explain`.
public enum CivilDate {
    /// The civil date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    public static func fromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Days from 1970-01-01 to a civil date (Howard Hinnant's `days_from_civil`).
    public static func days(year: Int, month: Int, day: Int) -> Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Whole days since the epoch, rounded down (so negative instants fall on the right day).
    public static func days(fromEpochSeconds seconds: Int) -> Int {
        seconds >= 0 ? seconds / 86_400 : -((-seconds + 86_399) / 86_400)
    }

    /// `2026-11-21` for seconds since the epoch.
    public static func isoDate(epochSeconds: Int) -> String {
        let (year, month, day) = Self.fromDays(Self.days(fromEpochSeconds: epochSeconds))
        return "\(year)-\(Self.two(month))-\(Self.two(day))"
    }

    /// `2026-11-21T06:15:37.123Z` for seconds and nanoseconds since the epoch.
    public static func iso8601(seconds: Int, nanoseconds: Int) -> String {
        let days = Self.days(fromEpochSeconds: seconds)
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = Self.fromDays(days)
        let millis = nanoseconds / 1_000_000
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(year)-\(Self.two(month))-\(Self.two(day))T\(Self.two(secondOfDay / 3600)):"
            + "\(Self.two(secondOfDay % 3600 / 60)):\(Self.two(secondOfDay % 60)).\(ms)Z"
    }

    private static func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
