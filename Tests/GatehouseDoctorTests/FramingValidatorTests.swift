import GatehouseDoctor
import GatehouseErrors
import Testing

/// The response framing validator over raw bytes: what it names, in nginx's words.
@Suite("response framing validator")
struct FramingValidatorTests {
    private func validate(_ text: String, closed: Bool = true, limit: Int = 32 * 1024, received: Int? = nil) -> ResponseFramingReport {
        let bytes = Array(text.utf8)
        return ResponseFramingValidator.validate(bytes, received: received ?? bytes.count, closed: closed, headerLimit: limit)
    }

    @Test("a valid response: status, header section size, framing, no problem")
    func valid() {
        let report = self.validate("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello", closed: false)
        #expect(report.statusCode == 200)
        #expect(report.statusLine == "HTTP/1.1 200 OK")
        #expect(report.headerSectionSize == 46)
        #expect(report.framing == "Content-Length: 5")
        #expect(report.bodyBytes == 5)
        #expect(report.problems.isEmpty)
    }

    @Test("1xx heads are skipped to the final response")
    func interim() {
        let report = self.validate("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
        #expect(report.statusCode == 204)
        #expect(report.framing == "none")
        #expect(report.problems.isEmpty)
    }

    @Test("an invalid status line: 'upstream sent no valid HTTP/1.0 header'")
    func statusLine() {
        let report = self.validate("HTTP/1.1 abc OK\r\n\r\n")
        #expect(report.problems.first?.error == .httpProtocolError)
        #expect(report.problems.first?.message.hasPrefix("upstream sent no valid HTTP/1.0 header: \"HTTP/1.1 abc OK\"") == true)
        #expect(self.validate("-ERR unknown command\r\n").problems.first?.error == .httpProtocolError)
    }

    @Test("invalid header lines: no colon, bare CR, obs-fold, bad name")
    func headers() {
        let noColon = self.validate("HTTP/1.1 200 OK\r\nThis line has no colon\r\nContent-Length: 0\r\n\r\n")
        #expect(noColon.problems.map(\.message) == ["upstream sent invalid header: \"This line has no colon\" (no colon)"])
        let bareCR = self.validate("HTTP/1.1 200 OK\r\nX-Note: first\rsecond\r\nContent-Length: 0\r\n\r\n")
        #expect(bareCR.problems.first?.message == "upstream sent invalid header: \"X-Note: first\\x0dsecond\" (a bare CR in the value)")
        let folded = self.validate("HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 0\r\n\r\n")
        #expect(folded.problems.first?.message.contains("obsolete line folding") == true)
        let badName = self.validate("HTTP/1.1 200 OK\r\nX A: b\r\nContent-Length: 0\r\n\r\n")
        #expect(badName.problems.first?.message.contains("invalid character in the name") == true)
    }

    @Test("header section over the limit, measured")
    func tooBig() {
        let head = "HTTP/1.1 200 OK\r\nSet-Cookie: " + String(repeating: "a", count: 5000) + "\r\nContent-Length: 0\r\n\r\n"
        let report = self.validate(head, limit: 4096)
        #expect(report.problems.first?.error == .httpResponseHeaderSectionSize)
        #expect(report.problems.first?.message.contains("(\(head.utf8.count) bytes), over the 4 KiB limit") == true)
        let unfinished = self.validate("HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 5000), closed: false, limit: 4096)
        #expect(unfinished.problems.first?.error == .httpResponseHeaderSectionSize)
    }

    @Test("closed before the head ended: connection_terminated")
    func closedEarly() {
        let nothing = self.validate("")
        #expect(nothing.problems.first?.error == .connectionTerminated)
        #expect(nothing.problems.first?.message.contains("without sending a byte") == true)
        #expect(self.validate("HTTP/1.1 200 OK\r\nX-A").problems.first?.message.contains("after 20 bytes") == true)
    }

    @Test("Content-Length against the body received")
    func contentLength() {
        let short = self.validate("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + String(repeating: "x", count: 100))
        #expect(short.problems.first?.error == .httpResponseIncomplete)
        #expect(short.problems.first?.message.contains("Content-Length 1000, 100 bytes of body received") == true)
        let long = self.validate("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabcdef", closed: false)
        #expect(long.problems.first?.message.hasPrefix("upstream sent more data than specified in \"Content-Length\" header") == true)
        let invalid = self.validate("HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n")
        #expect(invalid.problems.first?.message == "upstream sent invalid \"Content-Length\" header: \"12a\"")
        let both = self.validate("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        #expect(both.problems.first?.message == "upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time")
        let counted = self.validate("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nxx", closed: false, received: 1040)
        #expect(counted.problems.isEmpty, "bytes counted beyond those kept are body too")
    }

    @Test("chunked coding: valid, invalid size line, no last chunk, unknown coding")
    func chunked() {
        #expect(self.validate("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n").problems.isEmpty)
        let bad = self.validate("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
        #expect(bad.problems.first?.error == .httpResponseTransferCoding)
        #expect(bad.problems.first?.message == "upstream sent invalid chunked response: chunk size line \"zz\"")
        let unterminated = self.validate("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        #expect(unterminated.problems.first?.error == .httpResponseIncomplete)
        let gzip = self.validate("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")
        #expect(gzip.problems.first?.error == .httpResponseTransferCoding)
    }
}
