/// JSON string escaping without Foundation (RFC 8259 §7), shared by the access log, error bodies,
/// `doctor` and `explain`: it runs on the data path, and log lines carry control bytes.
public enum JSONText {
    public static func quoted(_ text: String) -> String {
        var result = "\""
        Self.appendEscaped(text, to: &result)
        result.append("\"")
        return result
    }

    public static func appendEscaped(_ text: String, to result: inout String) {
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\u{0}"..."\u{1F}", "\u{7F}":
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
    }
}
