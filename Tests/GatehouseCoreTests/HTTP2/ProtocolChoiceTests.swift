import NIOCore
import Testing

@testable import GatehouseCore

/// The value-level parts of HTTP/2 sniffing and upgrades, without sockets.
@Suite struct ProtocolChoiceTests {
    @Test(arguments: [
        ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", true as Bool?),
        ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\u{12}\u{4}", true),
        ("PRI * HTTP/2.0\r\n", nil),
        ("P", nil),
        ("GET / HTTP/1.1\r\n", false),
        ("POST / HTTP/1.1\r\n", false),
        ("PUT", false),
        ("PRI / HTTP/1.1\r\n\r\n", false),
        ("\r\nGET / HTTP/1.1", false),
    ])
    func theFirstBytesDecideTheProtocol(bytes: String, isHTTP2: Bool?) {
        #expect(ProtocolSniffer.verdict(ByteBuffer(string: bytes)) == isHTTP2)
    }

    @Test func upgradeTokensAreComparedByNameWithoutVersion() {
        #expect(DownstreamHandler.upgradeProtocols("websocket") == ["websocket"])
        #expect(DownstreamHandler.upgradeProtocols("WebSocket, foo/2 ,h2c") == ["websocket", "foo", "h2c"])
        #expect(DownstreamHandler.upgradeProtocols(" , ") == [])
        #expect(DownstreamHandler.listsToken(["keep-alive, Upgrade"], "upgrade"))
        #expect(DownstreamHandler.listsToken(["close", " upgrade "], "upgrade"))
        #expect(!DownstreamHandler.listsToken(["upgrade-insecure"], "upgrade"))
        #expect(!DownstreamHandler.listsToken([], "upgrade"))
    }

    @Test func theAccessLogNamesTheProtocolAndATunnelsBytes() throws {
        var record = RequestRecord()
        record.protocolName = "HTTP/2"
        #expect(record.jsonLine().contains(#""protocol":"HTTP/2""#))
        #expect(!record.jsonLine().contains("upgrade"))
        record.upgrade = "websocket"
        record.bytes = 10
        record.bytesReceived = 7
        #expect(record.jsonLine().contains(#""bytes":10,"#))
        #expect(record.jsonLine().contains(#""upgrade":"websocket","bytes_received":7"#))
    }
}
