import NIOCore
import NIOHTTP1

/// A request of the healthy app, resolved from its method and path.
enum HealthyAppRoute {
    /// `GET /`: the greeting.
    case hello
    /// `/status/N`: answer with this status.
    case status(HTTPResponseStatus)
    /// `/echo`: stream the request body back.
    case echo
    /// `/headers`: the request as JSON (built when the head arrives).
    case headers(json: String)
    /// `/bytes/N` (`chunked: false`) and `/chunked/N` (`chunked: true`).
    case bytes(count: Int, chunked: Bool)
    /// `/sink`: count the body.
    case sink
    /// `/slow/MS`: answer after `delay`.
    case slow(delay: TimeAmount, milliseconds: Int)
    /// `/close`: answer with `Connection: close`, then close.
    case close
    /// `GET /cacheable/DIRECTIVES`: a response for caches to keep. `Cache-Control: DIRECTIVES`
    /// (`none`: no such field; a `set-cookie` directive becomes a `Set-Cookie` field instead), a
    /// fixed `ETag` and `Last-Modified`, `Vary: Accept-Language` (the body names the language),
    /// and 304 to a matching `If-None-Match`. The query is ignored: tests vary it for fresh keys.
    /// A `delay=MS` directive delays the answer (never sent); an `X-Origin-Status: 5xx` request
    /// field makes it answer that status instead, without cache fields (a failing origin).
    case cacheable(cacheControl: String?, setCookie: Bool, notModified: Bool, language: String, delay: Int, failure: Int?)
    /// A request the app does not serve, answered with this status and text.
    case refused(HTTPResponseStatus, text: String, allow: String?)

    /// The entity tag of every `/cacheable` response.
    static let cacheableETag = "\"cacheable-v1\""

    /// The longest `/slow/MS` accepted (one hour).
    static let maximumSlowMilliseconds = 3_600_000

    /// Resolves a request head; the query string is ignored for routing.
    static func resolve(_ head: HTTPRequestHead) -> HealthyAppRoute {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        let method = head.method
        let readOnly = method == .GET || method == .HEAD
        switch (segments.first.map(String.init) ?? "", segments.count) {
        case ("", _):
            return readOnly ? .hello : .notAllowed("GET, HEAD")
        case ("status", 2):
            guard let code = Int(segments[1]), (200...599).contains(code) else {
                return .badRequest("the status must be a number from 200 to 599\n")
            }
            return .status(HTTPResponseStatus(statusCode: code))
        case ("echo", 1):
            return .echo
        case ("headers", 1):
            return .headers(json: Self.json(of: head))
        case ("bytes", 2), ("chunked", 2):
            guard readOnly else { return .notAllowed("GET, HEAD") }
            guard let count = Int(segments[1]), count >= 0 else {
                return .badRequest("the size must be a non-negative number of bytes\n")
            }
            return .bytes(count: count, chunked: segments[0] == "chunked")
        case ("sink", 1):
            return method == .POST || method == .PUT ? .sink : .notAllowed("POST, PUT")
        case ("slow", 2):
            guard let milliseconds = Int(segments[1]), (0...Self.maximumSlowMilliseconds).contains(milliseconds)
            else {
                return .badRequest("the delay must be a number of milliseconds up to one hour\n")
            }
            return .slow(delay: .milliseconds(Int64(milliseconds)), milliseconds: milliseconds)
        case ("close", 1):
            return .close
        case ("cacheable", 2):
            guard readOnly else { return .notAllowed("GET, HEAD") }
            var directives = segments[1].split(separator: ",").map(String.init)
            let setCookie = directives.contains("set-cookie")
            let delay = directives.first { $0.hasPrefix("delay=") }.flatMap { Int($0.dropFirst(6)) } ?? 0
            directives.removeAll { $0 == "set-cookie" || $0 == "none" || $0.hasPrefix("delay=") }
            let notModified = head.headers["if-none-match"].contains { $0.contains(Self.cacheableETag) }
            let failure = head.headers.first(name: "x-origin-status").flatMap(Int.init).flatMap { (500...599).contains($0) ? $0 : nil }
            return .cacheable(
                cacheControl: directives.isEmpty ? nil : directives.joined(separator: ", "), setCookie: setCookie,
                notModified: notModified, language: head.headers.first(name: "accept-language") ?? "-",
                delay: min(max(delay, 0), Self.maximumSlowMilliseconds), failure: failure)
        default:
            return .refused(.notFound, text: "no route for \(path)\n", allow: nil)
        }
    }

    private static func notAllowed(_ allow: String) -> HealthyAppRoute {
        .refused(.methodNotAllowed, text: "method not allowed here; allowed: \(allow)\n", allow: allow)
    }

    private static func badRequest(_ text: String) -> HealthyAppRoute {
        .refused(.badRequest, text: text, allow: nil)
    }

    /// `{"method":"GET","path":"/headers?x","version":"HTTP/1.1","headers":[["name","value"],…]}`,
    /// headers in received order with duplicates kept.
    static func json(of head: HTTPRequestHead) -> String {
        var json = "{\"method\":"
        appendJSONString(head.method.rawValue, to: &json)
        json += ",\"path\":"
        appendJSONString(head.uri, to: &json)
        json += ",\"version\":"
        appendJSONString("HTTP/\(head.version.major).\(head.version.minor)", to: &json)
        json += ",\"headers\":["
        var first = true
        for (name, value) in head.headers {
            json += first ? "[" : ",["
            first = false
            appendJSONString(name, to: &json)
            json += ","
            appendJSONString(value, to: &json)
            json += "]"
        }
        json += "]}\n"
        return json
    }

    /// Appends `string` as a JSON string literal (RFC 8259 §7 escaping).
    static func appendJSONString(_ string: String, to json: inout String) {
        json += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": json += "\\\""
            case "\\": json += "\\\\"
            case "\n": json += "\\n"
            case "\r": json += "\\r"
            case "\t": json += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                json += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                json.unicodeScalars.append(scalar)
            }
        }
        json += "\""
    }
}

extension HTTPResponseStatus {
    /// Whether a response with this status may carry a body (RFC 9110 §6.4.1).
    var allowsBody: Bool {
        switch self.code {
        case 100..<200, 204, 304: return false
        default: return true
        }
    }
}
