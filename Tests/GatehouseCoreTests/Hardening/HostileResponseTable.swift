import Testing

/// One hostile (or borderline) upstream response and exactly what the client and the pool see.
struct HostileResponse: Sendable, CustomTestStringConvertible {
    enum Outcome: Sendable, Equatable {
        /// Passed on whole (normalised where the gateway re-serialises).
        case passed(status: Int, body: String?)
        /// Never passed on: the gateway answers 502 with this `Proxy-Status` error.
        case refused(token: String)
        /// The head was passed on, then the body was cut: the client sees a truncated message and
        /// a closed connection; the log says `token`.
        case truncated(status: Int, token: String)
    }

    var name: String
    var method = "GET"
    /// What the upstream sends, in one write.
    var response: String
    /// The upstream closes (FIN) after sending it.
    var closeAfter = false
    /// Sent by the upstream after the exchange ended, while the connection would sit in the pool.
    var later: String? = nil
    var outcome: Outcome
    /// 1xx statuses the client must see before the final response.
    var informational: [Int] = []
    /// Whether the next request may reuse the upstream connection.
    var reused: Bool

    var testDescription: String { self.name }

    static func pass(
        _ name: String, _ response: String, status: Int = 200, body: String? = nil, reused: Bool = true, method: String = "GET",
        informational: [Int] = [], closeAfter: Bool = false, later: String? = nil
    ) -> Self {
        Self(
            name: name, method: method, response: response, closeAfter: closeAfter, later: later,
            outcome: .passed(status: status, body: body), informational: informational, reused: reused)
    }

    static func refuse(
        _ name: String, _ response: String, token: String = "http_protocol_error", method: String = "GET",
        informational: [Int] = [], closeAfter: Bool = false
    ) -> Self {
        Self(
            name: name, method: method, response: response, closeAfter: closeAfter, outcome: .refused(token: token),
            informational: informational, reused: false)
    }

    static func truncate(_ name: String, _ response: String, token: String, status: Int = 200, closeAfter: Bool = true) -> Self {
        Self(name: name, response: response, closeAfter: closeAfter, outcome: .truncated(status: status, token: token), reused: false)
    }
}

private let ok = "HTTP/1.1 200 OK\r\n"
private let okHello = ok + "Content-Length: 5\r\n\r\nhello"
private let chunkedHead = ok + "Transfer-Encoding: chunked\r\n\r\n"

/// The table: one row per case.
let hostileResponses: [HostileResponse] = [
    // Valid responses: passed on, connection reused.
    .pass("Content-Length body", okHello, body: "hello"),
    .pass("chunked body", chunkedHead + "5\r\nhello\r\n0\r\n\r\n", body: "hello"),
    .pass("chunked, several chunks", chunkedHead + "2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n", body: "hello"),
    .pass("chunked with a trailer", chunkedHead + "5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n", body: "hello"),
    .pass("empty chunked body", chunkedHead + "0\r\n\r\n", body: ""),
    .pass("Content-Length: 0", ok + "Content-Length: 0\r\n\r\n", body: ""),
    .pass("204", "HTTP/1.1 204 No Content\r\n\r\n", status: 204),
    .pass("304 with a Content-Length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", status: 304),
    .pass("HEAD with a Content-Length", ok + "Content-Length: 5\r\n\r\n", method: "HEAD"),
    .pass("HEAD with chunked", chunkedHead, method: "HEAD"),
    .pass("HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello", body: "hello"),
    .pass("status without a reason", "HTTP/1.1 200\r\nContent-Length: 5\r\n\r\nhello", body: "hello"),
    .pass("status with an empty reason", "HTTP/1.1 200 \r\nContent-Length: 5\r\n\r\nhello", body: "hello"),
    .pass("unusual status 299", "HTTP/1.1 299 Whatever\r\nContent-Length: 5\r\n\r\nhello", status: 299, body: "hello"),
    .pass("Content-Length with leading zeros", ok + "Content-Length: 005\r\n\r\nhello", body: "hello"),
    .pass("chunk extensions (dropped)", chunkedHead + "5;a=b;c=\"d\"\r\nhello\r\n0;e\r\n\r\n", body: "hello"),
    .pass("upper-case chunk size", chunkedHead + "A\r\nhellohello\r\n0\r\n\r\n", body: "hellohello"),
    .pass("Content-Length trailer (dropped)", chunkedHead + "5\r\nhello\r\n0\r\nContent-Length: 9\r\n\r\n", body: "hello"),
    .pass("Connection names Content-Length", ok + "Connection: Content-Length\r\nContent-Length: 5\r\n\r\nhello", body: "hello"),
    .pass("103 Early Hints", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" + okHello, body: "hello", informational: [103]),
    .pass("102 Processing", "HTTP/1.1 102 Processing\r\n\r\n" + okHello, body: "hello", informational: [102]),
    .pass("100 Continue (dropped)", "HTTP/1.1 100 Continue\r\n\r\n" + okHello, body: "hello"),
    .pass("two 103s", "HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n" + okHello, body: "hello", informational: [103, 103]),
    // Valid, but the connection ends with it.
    .pass("Connection: close", ok + "Connection: close\r\nContent-Length: 5\r\n\r\nhello", body: "hello", reused: false, closeAfter: true),
    .pass("body until close", ok + "\r\nhello", body: "hello", reused: false, closeAfter: true),
    .pass("HTTP/1.0 body until close", "HTTP/1.0 200 OK\r\n\r\nhello", body: "hello", reused: false, closeAfter: true),
    .pass("HTTP/1.0 without keep-alive", "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello", body: "hello", reused: false),
    // Bytes after a complete response never reach another exchange: the connection is closed.
    .pass("garbage after the body", okHello + "XYZ", body: "hello", reused: false),
    .pass("a whole second response after the body", okHello + "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON", body: "hello", reused: false),
    .pass("a response prefix after the body", okHello + "HTTP/1.1 200 OK\r\nX-Poison: ", body: "hello", reused: false),
    .pass("CRLF after the body", okHello + "\r\n", body: "hello", reused: false),
    .pass("bytes after a chunked body", chunkedHead + "5\r\nhello\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n", body: "hello", reused: false),
    .pass("body on a 204", "HTTP/1.1 204 No Content\r\n\r\nhello", status: 204, reused: false),
    .pass("declared body on a 204", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", status: 204, reused: false),
    .pass("chunked body on a 304", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 304, reused: false),
    .pass("body on a HEAD response", okHello, reused: false, method: "HEAD"),
    .pass("bytes after a 103 and its response", "HTTP/1.1 103 Early Hints\r\n\r\n" + okHello + "X", body: "hello", reused: false, informational: [103]),
    .pass("bytes while pooled", okHello, body: "hello", reused: false, later: "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON"),
    .pass("response prefix while pooled", okHello, body: "hello", reused: false, later: "HTTP/1.1 200 OK\r\nX-Poison: "),
    // Ambiguous or invalid framing: 502, never passed on.
    .refuse("CL and TE", ok + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    .refuse("TE and CL", ok + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
    .refuse("two equal CL", ok + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
    .refuse("two different CL", ok + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    .refuse("CL list", ok + "Content-Length: 5, 5\r\n\r\nhello"),
    .refuse("CL with sign", ok + "Content-Length: +5\r\n\r\nhello"),
    .refuse("negative CL", ok + "Content-Length: -5\r\n\r\nhello"),
    .refuse("hex CL", ok + "Content-Length: 0x5\r\n\r\nhello"),
    .refuse("empty CL", ok + "Content-Length: \r\n\r\nhello"),
    .refuse("CL of 20 digits", ok + "Content-Length: 99999999999999999999\r\n\r\nhello"),
    .refuse("TE gzip", ok + "Transfer-Encoding: gzip\r\n\r\nhello"),
    .refuse("TE gzip, chunked", ok + "Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    .refuse("TE chunked, gzip", ok + "Transfer-Encoding: chunked, gzip\r\n\r\nhello"),
    .refuse("two TE headers", ok + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    .refuse("TE in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    .refuse("ambiguous framing on a 204", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"),
    .refuse("two CL on a HEAD response", ok + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", method: "HEAD"),
    // Invalid status line or header section: 502.
    .refuse("status not a number", "HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n"),
    .refuse("two-digit status", "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n"),
    .refuse("four-digit status", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"),
    .refuse("status 600", "HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n"),
    .refuse("status 099", "HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n"),
    .refuse("HTTP/1.2", "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n"),
    .refuse("HTTP/2.0", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
    .refuse("no status line (HTTP/0.9 body)", "hello\r\n\r\n"),
    .refuse("lower-case version", "http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    .refuse("no space after the version", "HTTP/1.1200 OK\r\nContent-Length: 0\r\n\r\n"),
    .refuse("tab after the version", "HTTP/1.1\t200 OK\r\nContent-Length: 0\r\n\r\n"),
    .refuse("control character in the reason", "HTTP/1.1 200 O\u{1}K\r\nContent-Length: 0\r\n\r\n"),
    .refuse("obs-fold", ok + "X-A: b\r\n c\r\nContent-Length: 0\r\n\r\n"),
    .refuse("space before colon", ok + "Content-Length : 0\r\n\r\n"),
    .refuse("header without colon", ok + "XY\r\nContent-Length: 0\r\n\r\n"),
    .refuse("empty header name", ok + ": y\r\nContent-Length: 0\r\n\r\n"),
    .refuse("NUL in a value", ok + "X: a\u{0}b\r\nContent-Length: 0\r\n\r\n"),
    .refuse("bare CR in a value", ok + "X: a\rb\r\nContent-Length: 0\r\n\r\n"),
    .refuse("bare LF line end", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"),
    .refuse("bare LF head end", ok + "Content-Length: 0\n\n"),
    .refuse("empty line before the status line", "\r\n" + okHello),
    .refuse("@ in a header name", ok + "X@Y: z\r\nContent-Length: 0\r\n\r\n"),
    .refuse("head larger than max_response_header_bytes", ok + "X-Big: " + String(repeating: "b", count: 40_000) + "\r\n\r\n",
        token: "http_response_header_section_size"),
    .refuse("unsolicited 101", "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nraw bytes"),
    .refuse("more than 16 informational responses", String(repeating: "HTTP/1.1 102 Processing\r\n\r\n", count: 17) + okHello,
        informational: Array(repeating: 102, count: 16)),
    .refuse("a head cut by the close", ok + "Content-Le", token: "http_response_incomplete", closeAfter: true),
    .refuse("a 103, then the close", "HTTP/1.1 103 Early Hints\r\n\r\n", token: "http_response_incomplete", informational: [103], closeAfter: true),
    .refuse("nothing, then the close", "", token: "connection_terminated", closeAfter: true),
    // Cut after the head: the client sees a truncated message, the log names the cause.
    .truncate("Content-Length body cut by the close", ok + "Content-Length: 10\r\n\r\nhello", token: "http_response_incomplete"),
    .truncate("chunked body cut between chunks", chunkedHead + "5\r\nhello\r\n", token: "http_response_incomplete"),
    .truncate("chunked body cut inside a chunk", chunkedHead + "a\r\nhello", token: "http_response_incomplete"),
    .truncate("chunked body cut in the trailers", chunkedHead + "5\r\nhello\r\n0\r\nX-T: 1\r\n", token: "http_response_incomplete"),
    .truncate("body until close cut by a bad chunk", chunkedHead + "5\r\nhello\r\nzz\r\n", token: "http_response_transfer_coding", closeAfter: false),
    .truncate("chunk longer than its size", chunkedHead + "5\r\nhelloX\r\n0\r\n\r\n", token: "http_response_transfer_coding", closeAfter: false),
    .truncate("bare LF in a chunk-size line", chunkedHead + "5\nhello\r\n0\r\n\r\n", token: "http_response_transfer_coding", closeAfter: false),
    .truncate("chunk size overflow", chunkedHead + "FFFFFFFFFFFFFFFFF\r\nhello\r\n", token: "http_response_transfer_coding", closeAfter: false),
    .truncate("negative chunk size", chunkedHead + "-5\r\nhello\r\n", token: "http_response_transfer_coding", closeAfter: false),
    .truncate("space before a chunk extension", chunkedHead + "5 ;a=b\r\nhello\r\n0\r\n\r\n", token: "http_response_transfer_coding", closeAfter: false),
    .truncate("unterminated quoted chunk extension", chunkedHead + "5;a=\"b\r\nhello\r\n0\r\n\r\n", token: "http_response_transfer_coding", closeAfter: false),
    .truncate("chunk-size line longer than 4 KiB", chunkedHead + "5;" + String(repeating: "a", count: 5000), token: "http_response_transfer_coding", closeAfter: false),
    .truncate("folded trailer", chunkedHead + "5\r\nhello\r\n0\r\nX-T: 1\r\n 2\r\n\r\n", token: "http_protocol_error", closeAfter: false),
    .truncate("control character in a trailer", chunkedHead + "5\r\nhello\r\n0\r\nX-T: 1\u{1}\r\n\r\n", token: "http_protocol_error", closeAfter: false),
]
