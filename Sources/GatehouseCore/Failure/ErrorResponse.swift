import GatehouseErrors

/// Renders the `Proxy-Status` header (RFC 9209 §2) for gateway-made errors and passed-through 5xx.
public enum ProxyStatusHeader {
    /// `gatehouse; error=connection_refused; next-hop="10.0.0.3:8080"; details="…"`.
    ///
    /// - Parameters:
    ///   - failure: the classified failure.
    ///   - gatewayName: the proxy's name, the list member's token.
    ///   - exposeDetails: whether the next hop and details may be shown (they can name internal addresses).
    public static func value(for failure: ProxyFailure, gatewayName: String, exposeDetails: Bool) -> String {
        var value = "\(gatewayName); error=\(failure.type.token)"
        if exposeDetails {
            if let nextHop = failure.nextHop { value += "; next-hop=\(Self.quoted(nextHop))" }
            if let details = failure.details { value += "; details=\(Self.quoted(details))" }
        }
        return value
    }

    /// `gatehouse; received-status=502` for an upstream's own 5xx passed through unchanged.
    public static func value(receivedStatus: Int, nextHop: String?, gatewayName: String, exposeDetails: Bool) -> String {
        var value = "\(gatewayName); received-status=\(receivedStatus)"
        if exposeDetails, let nextHop { value += "; next-hop=\(Self.quoted(nextHop))" }
        return value
    }

    /// An RFC 8941 sf-string: printable ASCII only, `"` and `\` escaped; anything else is dropped.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars.prefix(256) {
            switch scalar {
            case "\"", "\\":
                result.append("\\")
                result.unicodeScalars.append(scalar)
            case " "..."~":
                result.unicodeScalars.append(scalar)
            default:
                continue
            }
        }
        result.append("\"")
        return result
    }
}

/// The body of a response the gateway generates for a failure: negotiated between an HTML hop-chain
/// page (browsers), `application/problem+json` (RFC 9457, API clients) and plain text (everything else).
public struct ErrorResponse: Sendable {
    /// The media types the gateway can answer with.
    public enum Format: Sendable, Equatable {
        case html
        case problemJSON
        case text

        /// The `Content-Type` header value.
        public var contentType: String {
            switch self {
            case .html: return "text/html; charset=utf-8"
            case .problemJSON: return "application/problem+json"
            case .text: return "text/plain; charset=utf-8"
            }
        }
    }

    public var status: Int
    public var format: Format
    public var body: String

    /// Chooses the format from the request's `Accept` header: the first of HTML, JSON in the client's
    /// stated order, text when it states neither (curl's `*/*`).
    public static func negotiate(accept: String?) -> Format {
        guard let accept = accept?.lowercased() else { return .text }
        var best: (format: Format, quality: Double)? = nil
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";")
            guard let media = parts.first?.trimmingSpaces() else { continue }
            var quality = 1.0
            for parameter in parts.dropFirst() {
                let pair = parameter.trimmingSpaces()
                if pair.hasPrefix("q="), let value = Double(pair.dropFirst(2)) { quality = value }
            }
            let format: Format?
            switch media {
            case "text/html", "application/xhtml+xml": format = .html
            case "application/problem+json", "application/json", "application/*+json": format = .problemJSON
            case "text/plain": format = .text
            default: format = nil
            }
            if let format, quality > 0, quality > (best?.quality ?? 0) { best = (format, quality) }
        }
        return best?.format ?? .text
    }

    /// Builds the error response for a failure.
    ///
    /// - Parameters:
    ///   - failure: the classified failure; decides status, title and hop.
    ///   - requestID: always shown, so the operator can find the log line.
    ///   - format: from ``negotiate(accept:)``.
    ///   - exposeDetails: whether the next hop and the technical details may be shown.
    public init(failure: ProxyFailure, requestID: String, format: Format, exposeDetails: Bool) {
        self.status = failure.statusCode
        self.format = format
        let title = Self.reasonPhrase(failure.statusCode)
        let nextHop = exposeDetails ? failure.nextHop : nil
        let details = exposeDetails ? failure.details : nil
        switch format {
        case .problemJSON:
            var json = "{\"type\":\"urn:gatehouse:proxy-status:\(failure.type.token)\""
            json += ",\"title\":\(JSONText.quoted(title)),\"status\":\(failure.statusCode)"
            json += ",\"detail\":\(JSONText.quoted(failure.type.summary))"
            json += ",\"proxy_status\":\"\(failure.type.token)\",\"failing_hop\":\"\(failure.type.failingHop.rawValue)\""
            json += ",\"request_id\":\(JSONText.quoted(requestID))"
            if let nextHop { json += ",\"next_hop\":\(JSONText.quoted(nextHop))" }
            if let details { json += ",\"details\":\(JSONText.quoted(details))" }
            json += "}\n"
            self.body = json
        case .text:
            var text = "\(failure.statusCode) \(title)\n\(failure.type.summary)\n"
            text += "proxy-status: \(failure.type.token)\nrequest-id: \(requestID)\n"
            if let nextHop { text += "next-hop: \(nextHop)\n" }
            if let details { text += "details: \(details)\n" }
            self.body = text
        case .html:
            self.body = Self.html(
                failure: failure, title: title, requestID: requestID, nextHop: nextHop, details: details)
        }
    }

    private static func html(
        failure: ProxyFailure, title: String, requestID: String, nextHop: String?, details: String?
    ) -> String {
        let failing = failure.type.failingHop
        func hop(_ name: String, _ isFailing: Bool) -> String {
            isFailing ? "<li class=\"bad\">✗ \(name)</li>" : "<li class=\"ok\">✓ \(name)</li>"
        }
        let upstreamName = nextHop.map { "Upstream \(HTMLText.escaped($0))" } ?? "Upstream"
        var page = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
            <title>\(failure.statusCode) \(title)</title><style>
            body{font:16px/1.5 system-ui,sans-serif;max-width:42em;margin:3em auto;padding:0 1em;color:#222}
            ol{display:flex;gap:1em;list-style:none;padding:0;flex-wrap:wrap}li{padding:.4em .8em;border-radius:.4em}
            .ok{background:#e6f4ea}.bad{background:#fde7e9;font-weight:bold}code{background:#f3f3f3;padding:0 .3em}
            </style></head><body><h1>\(failure.statusCode) \(title)</h1><ol>
            """
        page += hop("You", false)
        page += hop("Gateway", failing == .gateway)
        if failing == .resolver { page += hop("DNS", true) }
        page += hop(upstreamName, failing == .upstream)
        page += "</ol><p>\(HTMLText.escaped(failure.type.summary))</p>"
        page += "<p>Proxy-Status: <code>\(failure.type.token)</code></p>"
        if let details { page += "<p>Details: <code>\(HTMLText.escaped(details))</code></p>" }
        page += "<p>Request id: <code>\(HTMLText.escaped(requestID))</code> (quote it to the site's operator)</p>"
        page += "</body></html>\n"
        return page
    }

    /// The standard reason phrase of the statuses the gateway generates.
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return "Error"
        }
    }
}

/// HTML text escaping for the error page.
enum HTMLText {
    static func escaped(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var slice = self
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return slice
    }
}
