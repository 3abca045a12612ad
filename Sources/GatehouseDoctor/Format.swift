import GatehouseErrors

/// How a step came out, before it is named and placed: what every step builder returns.
public struct StepResult: Sendable, Hashable {
    public var outcome: StepOutcome
    public var detail: String
    public var finding: Finding?

    public init(_ outcome: StepOutcome, _ detail: String, finding: Finding? = nil) {
        self.outcome = outcome
        self.detail = detail
        self.finding = finding
    }
}

extension DoctorStep {
    /// A step from a builder's result.
    init(name: String, server: String?, milliseconds: Double? = nil, _ result: StepResult) {
        self.init(
            name: name, server: server, outcome: result.outcome, milliseconds: milliseconds, detail: result.detail,
            finding: result.finding)
    }
}

/// Number formatting for the report (Foundation-free, as the rest of the project).
enum Format {
    /// Seconds of a `Duration`, as a `Double`.
    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// Milliseconds of a `Duration`.
    static func milliseconds(_ duration: Duration) -> Double { self.seconds(duration) * 1000 }

    /// An observed time: `0.4 ms`, `12 ms`, `1.5 s`, `31.2 s`.
    static func observed(milliseconds: Double) -> String {
        if milliseconds < 10 { return self.decimal(milliseconds, places: 1) + " ms" }
        if milliseconds < 1000 { return String(Int(milliseconds.rounded())) + " ms" }
        return self.decimal(milliseconds / 1000, places: 1) + " s"
    }

    static func observed(_ duration: Duration) -> String { self.observed(milliseconds: self.milliseconds(duration)) }

    /// A configured limit, as written in a file: `30 s`, `1.5 s`, `250 ms`.
    static func limit(_ duration: Duration) -> String {
        let milliseconds = self.milliseconds(duration)
        if milliseconds < 1000 { return self.trimmedDecimal(milliseconds, places: 1) + " ms" }
        return self.trimmedDecimal(milliseconds / 1000, places: 3) + " s"
    }

    /// A duration as the config syntax accepts it (`4s`, `800ms`), for fixes to copy.
    static func configDuration(_ duration: Duration) -> String {
        let milliseconds = Int64(self.milliseconds(duration).rounded(.down))
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }

    /// `512 B`, `4 KiB`, `8.2 KiB`, `1.5 MiB`.
    static func bytes(_ count: Int) -> String {
        if count < 1024 { return "\(count) B" }
        if count < 1024 * 1024 { return self.trimmedDecimal(Double(count) / 1024, places: 1) + " KiB" }
        if count < 1024 * 1024 * 1024 { return self.trimmedDecimal(Double(count) / 1_048_576, places: 1) + " MiB" }
        return self.trimmedDecimal(Double(count) / 1_073_741_824, places: 1) + " GiB"
    }

    /// `value` with exactly `places` decimals.
    static func decimal(_ value: Double, places: Int) -> String {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = Int64((value * scale).rounded())
        let whole = scaled / Int64(scale)
        let fraction = scaled % Int64(scale)
        guard places > 0 else { return String(whole) }
        let digits = String(fraction)
        return "\(whole)." + String(repeating: "0", count: places - digits.count) + digits
    }

    /// `value` with at most `places` decimals, trailing zeros removed (`30`, `1.5`).
    static func trimmedDecimal(_ value: Double, places: Int) -> String {
        var text = self.decimal(value, places: places)
        guard text.contains(".") else { return text }
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// A percentage with no decimals: `83%`.
    static func percent(_ part: Double, of whole: Double) -> String {
        guard whole > 0 else { return "-" }
        return String(Int((part / whole * 100).rounded())) + "%"
    }

    /// A JSON string literal (details quote upstream bytes, which may hold control characters).
    static func jsonString(_ value: String) -> String {
        JSONText.quoted(value)
    }

    /// Bytes from an upstream as nginx quotes them in its error log: printable ASCII as is, the rest `\xHH`.
    static func quoteBytes<Bytes: Sequence<UInt8>>(_ bytes: Bytes, limit: Int = 120) -> String {
        var out = ""
        var count = 0
        for byte in bytes {
            if count == limit {
                out += "..."
                break
            }
            count += 1
            if byte >= 0x20, byte < 0x7f, byte != UInt8(ascii: "\\") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16)
                out += "\\x" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out
    }
}
