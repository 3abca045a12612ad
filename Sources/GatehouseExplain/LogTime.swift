import GatehouseErrors

/// Timestamp parsing for every format `explain` reads, straight from bytes into milliseconds since
/// the Unix epoch (UTC).
///
/// Foundation's date formatters cost microseconds per call; a log of millions of lines only needs
/// the handful of layouts below. Times without a zone (nginx error.log, HAProxy's accept date,
/// php-fpm) are read as UTC, which is what the servers in the fixtures and most containers use.
enum LogTime {
    /// Milliseconds since the epoch, or nil when a field is out of range (a line that only looked like a date).
    static func millis(
        year: Int,
        month: Int,
        day: Int,
        hour: Int,
        minute: Int,
        second: Int,
        millis: Int = 0
    ) -> Int64? {
        guard (1970...9999).contains(year), (1...12).contains(month), (1...31).contains(day),
            hour < 24, minute < 60, second < 61
        else { return nil }
        let days = CivilDate.days(year: year, month: month, day: day)
        let seconds = ((days * 24 + hour) * 60 + minute) * 60 + second
        return Int64(seconds) * 1000 + Int64(millis)
    }

    /// The month number of a three-letter English abbreviation (`Nov` → 11).
    static func month(_ line: LogLine, at index: Int) -> Int? {
        let a = line[index] | 0x20
        let b = line[index + 1] | 0x20
        let c = line[index + 2] | 0x20
        switch (a, b, c) {
        case (0x6a, 0x61, 0x6e): return 1  // jan
        case (0x66, 0x65, 0x62): return 2  // feb
        case (0x6d, 0x61, 0x72): return 3  // mar
        case (0x61, 0x70, 0x72): return 4  // apr
        case (0x6d, 0x61, 0x79): return 5  // may
        case (0x6a, 0x75, 0x6e): return 6  // jun
        case (0x6a, 0x75, 0x6c): return 7  // jul
        case (0x61, 0x75, 0x67): return 8  // aug
        case (0x73, 0x65, 0x70): return 9  // sep
        case (0x6f, 0x63, 0x74): return 10  // oct
        case (0x6e, 0x6f, 0x76): return 11  // nov
        case (0x64, 0x65, 0x63): return 12  // dec
        default: return nil
        }
    }

    /// `HH:MM:SS` at `index`, optionally followed by `.fff`; returns the fields and the index after them.
    static func clock(_ line: LogLine, at index: Int) -> (hour: Int, minute: Int, second: Int, millis: Int, end: Int)? {
        guard line[index + 2] == UInt8(ascii: ":"), line[index + 5] == UInt8(ascii: ":"),
            let hour = line.int(index..<index + 2), let minute = line.int(index + 3..<index + 5),
            let second = line.int(index + 6..<index + 8)
        else { return nil }
        var end = index + 8
        var millis = 0
        if line[end] == UInt8(ascii: ".") || line[end] == UInt8(ascii: ",") {
            var scale = 100
            end += 1
            while line[end] >= 48, line[end] <= 57 {
                millis += Int(line[end] - 48) * scale
                scale /= 10
                end += 1
            }
        }
        return (hour, minute, second, millis, end)
    }

    /// A `+hhmm` / `-hhmm` / `Z` zone at `index` as an offset in milliseconds to subtract.
    static func zoneOffset(_ line: LogLine, at index: Int) -> Int64 {
        let sign = line[index]
        guard sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") else { return 0 }
        let colon = line[index + 3] == UInt8(ascii: ":") ? 1 : 0
        guard let hours = line.int(index + 1..<index + 3),
            let minutes = line.int(index + 3 + colon..<index + 5 + colon)
        else { return 0 }
        let offset = Int64((hours * 60 + minutes) * 60_000)
        return sign == UInt8(ascii: "+") ? offset : -offset
    }

    /// nginx error.log: `2026/11/21 04:43:18` (also `2026-11-21 04:43:18`) at `index`.
    static func slashDate(_ line: LogLine, at index: Int) -> Int64? {
        guard let year = line.int(index..<index + 4), let month = line.int(index + 5..<index + 7),
            let day = line.int(index + 8..<index + 10),
            line[index + 10] == UInt8(ascii: " ") || line[index + 10] == UInt8(ascii: "T"),
            let time = clock(line, at: index + 11)
        else { return nil }
        let base = millis(
            year: year,
            month: month,
            day: day,
            hour: time.hour,
            minute: time.minute,
            second: time.second,
            millis: time.millis
        )
        guard let base else { return nil }
        var zoneIndex = time.end
        if line[zoneIndex] == UInt8(ascii: " ") { zoneIndex += 1 }
        return base - zoneOffset(line, at: zoneIndex)
    }

    /// Common Log Format `21/Nov/2026:04:43:18 +0000` (nginx) or `21/Nov/2026:04:43:19.208` (HAProxy) at `index`.
    static func clfDate(_ line: LogLine, at index: Int) -> Int64? {
        guard let day = line.int(index..<index + 2), line[index + 2] == UInt8(ascii: "/"),
            let month = month(line, at: index + 3), line[index + 6] == UInt8(ascii: "/"),
            let year = line.int(index + 7..<index + 11), line[index + 11] == UInt8(ascii: ":"),
            let time = clock(line, at: index + 12)
        else { return nil }
        let base = millis(
            year: year,
            month: month,
            day: day,
            hour: time.hour,
            minute: time.minute,
            second: time.second,
            millis: time.millis
        )
        guard let base else { return nil }
        return line[time.end] == UInt8(ascii: " ") ? base - zoneOffset(line, at: time.end + 1) : base
    }

    /// php-fpm: `21-Nov-2026 04:44:30` at `index`.
    static func dashedDayDate(_ line: LogLine, at index: Int) -> Int64? {
        guard let day = line.int(index..<index + 2), let month = month(line, at: index + 3),
            let year = line.int(index + 7..<index + 11), let time = clock(line, at: index + 12)
        else { return nil }
        return millis(
            year: year,
            month: month,
            day: day,
            hour: time.hour,
            minute: time.minute,
            second: time.second,
            millis: time.millis
        )
    }

    /// Traditional syslog `Nov 21 04:44:04` (no year: the caller supplies the latest year seen).
    static func syslogDate(_ line: LogLine, at index: Int, year: Int) -> Int64? {
        guard let month = month(line, at: index), line[index + 3] == UInt8(ascii: " ") else { return nil }
        let dayStart = line[index + 4] == UInt8(ascii: " ") ? index + 5 : index + 4
        guard let day = line.int(dayStart..<index + 6), let time = clock(line, at: index + 7) else { return nil }
        return millis(year: year, month: month, day: day, hour: time.hour, minute: time.minute, second: time.second)
    }

    /// The year of a time, for syslog lines that omit it.
    static func year(of millis: Int64) -> Int {
        var days = Int(millis / 86_400_000)
        if millis < 0, millis % 86_400_000 != 0 { days -= 1 }
        return civil(fromDays: days).year
    }

    /// The civil date of a day count.
    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        CivilDate.fromDays(days)
    }

    /// ISO 8601 in UTC, with milliseconds only when the source had them: `2026-11-21T04:43:19.208Z`.
    static func iso8601(_ millis: Int64) -> String {
        let totalSeconds = millis >= 0 ? millis / 1000 : (millis - 999) / 1000
        let fraction = Int(millis - totalSeconds * 1000)
        let days = Int(totalSeconds >= 0 ? totalSeconds / 86_400 : (totalSeconds - 86_399) / 86_400)
        let secondOfDay = Int(totalSeconds - Int64(days) * 86_400)
        let date = civil(fromDays: days)
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        var result = "\(pad(date.year, 4))-\(pad(date.month, 2))-\(pad(date.day, 2))T"
        result += "\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))"
        if fraction != 0 { result += ".\(pad(fraction, 3))" }
        return result + "Z"
    }
}
