import GatehouseConfig
import Testing

/// One hostile (or borderline) request and exactly what the gateway must do with it.
struct HostileRequest: Sendable, CustomTestStringConvertible {
    var name: String
    var raw: String
    /// The final statuses the client must receive, in order.
    var statuses: [Int]
    /// The `Proxy-Status` error token of the last response (nil: a response from the origin).
    var token: String?
    /// Complete requests the origin must receive.
    var forwarded: Int
    /// The origin must also see the start of a request that never completes (a body refused while
    /// it streamed): never a complete one.
    var originPartial: Bool
    var closes: Bool

    var testDescription: String { self.name }

    /// Refused before anything reaches the origin.
    static func refused(_ name: String, _ raw: String, _ status: Int = 400, token: String = "http_request_error") -> Self {
        Self(name: name, raw: raw, statuses: [status], token: token, forwarded: 0, originPartial: false, closes: true)
    }

    /// Refused while the body streamed: the origin saw the head and part of the body, never the end.
    static func cut(_ name: String, _ raw: String, _ status: Int = 400) -> Self {
        Self(name: name, raw: raw, statuses: [status], token: "http_request_error", forwarded: 0, originPartial: true, closes: true)
    }

    /// Forwarded whole (normalised where the gateway re-serialises) and answered by the origin.
    static func forwarded(_ name: String, _ raw: String, count: Int = 1, closes: Bool = false) -> Self {
        Self(
            name: name, raw: raw, statuses: Array(repeating: 200, count: count), token: nil, forwarded: count,
            originPartial: false, closes: closes)
    }
}

/// The limits the request table runs under (small, so the limit rows stay small).
let hostileRequestLimits = RequestLimits(
    maxHeaderBytes: 4096, maxBodyBytes: 1000, maxRequestLineBytes: 512, maxHeaderCount: 20, maxPipelinedRequests: 2)

private let post = "POST /p HTTP/1.1\r\nHost: a\r\n"
private let chunked = post + "Transfer-Encoding: chunked\r\n\r\n"
private let get = "GET / HTTP/1.1\r\nHost: a\r\n"

/// The table: one row per case.
let hostileRequests: [HostileRequest] = [
    // Framing: Content-Length and Transfer-Encoding.
    .refused("CL and TE", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    .refused("TE and CL", post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
    .refused("CL.TE smuggle", post + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG"),
    .refused("two equal CL", post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
    .refused("two different CL", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    .refused("CL list", post + "Content-Length: 5, 5\r\n\r\nhello"),
    .refused("CL with sign", post + "Content-Length: +5\r\n\r\nhello"),
    .refused("negative CL", post + "Content-Length: -1\r\n\r\n"),
    .refused("hex CL", post + "Content-Length: 0x5\r\n\r\nhello"),
    .refused("empty CL", post + "Content-Length: \r\n\r\n"),
    .refused("CL with inner space", post + "Content-Length: 1 2\r\n\r\nhello"),
    .refused("CL of 20 digits", post + "Content-Length: 99999999999999999999\r\n\r\n"),
    .refused("TE chunked not last", post + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
    .refused("TE gzip, chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    .refused("TE gzip", post + "Transfer-Encoding: gzip\r\n\r\n", 501),
    .refused("TE chunkedx", post + "Transfer-Encoding: chunkedx\r\n\r\n0\r\n\r\n", 501),
    .refused("two TE headers", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    .refused("TE chunked and x", post + "Transfer-Encoding: chunked\r\nTransfer-encoding: x\r\n\r\n0\r\n\r\n"),
    .refused("empty TE", post + "Transfer-Encoding: \r\n\r\n"),
    .refused("TE with vertical tab", post + "Transfer-Encoding: \u{0B}chunked\r\n\r\n0\r\n\r\n"),
    .refused("TE in HTTP/1.0", "POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    .refused("TE with space before colon", post + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
    // Header-section syntax.
    .refused("space before colon", get + "X-A : b\r\n\r\n"),
    .refused("tab before colon", get + "X-A\t: b\r\n\r\n"),
    .refused("obs-fold with space", get + "X-A: b\r\n c\r\n\r\n"),
    .refused("obs-fold with tab", get + "X-A: b\r\n\tc\r\n\r\n"),
    .refused("first header folded", "GET / HTTP/1.1\r\n Host: a\r\n\r\n"),
    .refused("bare LF line ends", "GET / HTTP/1.1\nHost: a\n\n"),
    .refused("bare LF in the header section", get + "X: y\nZ: w\r\n\r\n"),
    .refused("bare CR in the header section", get + "X: y\rZ: w\r\n\r\n"),
    .refused("bare CR in a value", get + "X: y\rz\r\n\r\n"),
    .refused("NUL in a value", get + "X: y\u{0}z\r\n\r\n"),
    .refused("SOH in a value", get + "X: y\u{1}z\r\n\r\n"),
    .refused("DEL in a value", get + "X: y\u{7F}z\r\n\r\n"),
    .refused("NUL in a name", get + "X\u{0}Y: z\r\n\r\n"),
    .refused("empty name", get + ": z\r\n\r\n"),
    .refused("line without colon", get + "XY\r\n\r\n"),
    .refused("@ in a name", get + "X@Y: z\r\n\r\n"),
    // Request line and target.
    .refused("NUL in the target", "GET /a\u{0}b HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("tab in the target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("DEL in the target", "GET /a\u{7F}b HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("non-ASCII target", "GET /caf\u{E9} HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("backslash", "GET /a\\..\\b HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("braces and pipe", "GET /a?{x}|y HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("double quote", "GET /a\"b HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("angle bracket", "GET /<script> HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("malformed percent-escape", "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("truncated percent-escape", "GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("relative target", "GET x HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("authority form with GET", "GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("no version", "GET /\r\nHost: a\r\n\r\n"),
    .refused("HTTP/0.9 request", "GET /\r\n"),
    .refused("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n"),
    .refused("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
    .refused("HTTP/0.9 as a version", "GET / HTTP/0.9\r\nHost: a\r\n\r\n"),
    .refused("HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n"),
    .refused("lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n"),
    .refused("version then space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n"),
    .refused("lower-case method", "get / HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("unknown method", "FOO / HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("tab after the method", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("space before the method", " GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    .refused("CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501),
    // Host.
    .refused("no Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n"),
    .refused("two Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    .refused("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n"),
    .refused("Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
    .refused("Host with a slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
    .refused("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"),
    .refused("Host with a bad port", "GET / HTTP/1.1\r\nHost: a:x\r\n\r\n"),
    .refused("Host with a 6-digit port", "GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n"),
    .refused("absolute form against Host", "GET http://b/x HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("absolute form with userinfo", "GET http://u@a/x HTTP/1.1\r\nHost: a\r\n\r\n"),
    .refused("absolute form, other scheme", "GET ftp://a/x HTTP/1.1\r\nHost: a\r\n\r\n"),
    .forwarded("absolute form matching Host", "GET http://a/x?y=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
    .forwarded("absolute form, default port", "GET https://a:443/x HTTP/1.1\r\nHost: a\r\n\r\n"),
    .forwarded("absolute form, HTTP/1.0 without Host", "GET http://a/x HTTP/1.0\r\n\r\n", closes: true),
    // Chunked bodies: the head has already gone upstream, the body is refused as it streams.
    .cut("invalid chunk size", chunked + "zz\r\nhello\r\n0\r\n\r\n"),
    .cut("chunk size with 0x", chunked + "0x5\r\nhello\r\n0\r\n\r\n"),
    .cut("chunk size overflow", chunked + "FFFFFFFFFFFFFFFFF5\r\nhello\r\n0\r\n\r\n"),
    .cut("negative chunk size", chunked + "-5\r\nhello\r\n0\r\n\r\n"),
    .cut("chunk longer than its size", chunked + "5\r\nhelloX\r\n0\r\n\r\n"),
    .cut("bare LF after chunk data", chunked + "5\r\nhello\n0\r\n\r\n"),
    .cut("bare LF in a chunk extension", chunked + "5;a\nhello\r\n0\r\n\r\n"),
    .cut("control character in a chunk extension", chunked + "5;a\u{1}\r\nhello\r\n0\r\n\r\n"),
    .cut("chunk extension without a name", chunked + "5;\r\nhello\r\n0\r\n\r\n"),
    .cut("space before a chunk extension", chunked + "5 ;a=b\r\nhello\r\n0\r\n\r\n"),
    .cut("last chunk without its CRLF", chunked + "5\r\nhello\r\n0\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    .cut("Content-Length trailer", chunked + "5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"),
    .cut("Transfer-Encoding trailer", chunked + "5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"),
    .cut("Host trailer", chunked + "5\r\nhello\r\n0\r\nHost: b\r\n\r\n"),
    .cut("Connection trailer", chunked + "5\r\nhello\r\n0\r\nConnection: close\r\n\r\n"),
    .cut("X-Forwarded-For trailer", chunked + "5\r\nhello\r\n0\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n"),
    .cut("folded trailer", chunked + "5\r\nhello\r\n0\r\nX-T: 1\r\n 2\r\n\r\n"),
    .forwarded("valid chunk extensions (dropped)", chunked + "5;a=b;c=\"d e\"\r\nhello\r\n0\r\n\r\n"),
    .forwarded("valid trailer (kept)", chunked + "5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n"),
    // Connection semantics.
    .forwarded("Connection names Content-Length", post + "Connection: Content-Length\r\nContent-Length: 5\r\n\r\nhello"),
    .forwarded("Connection names Transfer-Encoding", post + "Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    .forwarded("Connection names Host", get + "Connection: Host\r\n\r\n"),
    .forwarded(
        "Upgrade request, smuggled bytes after it",
        get + "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", closes: true),
    .forwarded("h2c upgrade", get + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n", closes: true),
    .forwarded("Upgrade without Connection: upgrade", get + "Upgrade: websocket\r\n\r\n", closes: true),
    .forwarded("Expect: 100-continue", post + "Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"),
    .refused("unknown expectation", post + "Expect: 200-ok\r\nContent-Length: 5\r\n\r\nhello", 417),
    // Limits (the table's: 512-byte target, 20 fields, 4 KiB head, 1000-byte body, 2 pipelined).
    .refused("target longer than max_request_line_bytes", "GET /" + String(repeating: "a", count: 600) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414),
    .refused("more than max_header_count fields", get + String(repeating: "X-A: b\r\n", count: 25) + "\r\n", 431),
    .refused("head larger than max_header_bytes", get + "X-Big: " + String(repeating: "b", count: 5000) + "\r\n\r\n", 431),
    HostileRequest(
        name: "declared body larger than max_body_bytes", raw: post + "Content-Length: 2000\r\n\r\n" + String(repeating: "b", count: 2000),
        statuses: [413], token: "http_request_error", forwarded: 0, originPartial: false, closes: false),
    .cut("chunked body larger than max_body_bytes", chunked + "400\r\n" + String(repeating: "b", count: 1024) + "\r\n0\r\n\r\n", 413),
    HostileRequest(
        name: "pipelined deeper than max_pipelined_requests",
        raw: "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\nGET /4 HTTP/1.1\r\nHost: a\r\n\r\n",
        statuses: [200, 200, 200, 503], token: "connection_limit_reached", forwarded: 3, originPartial: false, closes: true),
    // Pipelining and normalisations.
    HostileRequest(
        name: "valid request, then garbage", raw: get + "\r\nGARBAGE\r\n\r\n", statuses: [200, 400], token: "http_request_error",
        forwarded: 1, originPartial: false, closes: true),
    HostileRequest(
        name: "CL body, then a smuggled request", raw: post + "Content-Length: 5\r\n\r\nhelloGET /admin HTTP/1.1\r\nHost: a\r\n\r\n",
        statuses: [200, 200], token: nil, forwarded: 2, originPartial: false, closes: false),
    .forwarded("empty line before the request line", "\r\n" + get + "\r\n"),
    .forwarded("several spaces in the request line", "GET  /  HTTP/1.1\r\nHost: a\r\n\r\n"),
    .forwarded("Content-Length with leading zeros", post + "Content-Length: 005\r\n\r\nhello"),
    .forwarded("obs-text in a value", get + "X-Name: caf\u{E9}\r\n\r\n"),
    .forwarded("HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", closes: true),
    .forwarded("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
]
