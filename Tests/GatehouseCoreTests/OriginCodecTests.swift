import GatehouseOrigins
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Each misbehaving origin, read by NIOHTTP1's client codec (the one the proxy uses), fails in the way
/// its row of DESIGN.md's error table expects.
@Suite("Misbehaving origins through NIOHTTP1's client codec", .timeLimit(.minutes(1)))
struct OriginCodecTests {
    /// One misbehaviour and what the codec must report: the response parts, then how it ended.
    struct Case: Sendable, CustomTestStringConvertible {
        var behavior: LoopbackOrigin.Behavior
        var parts: [String]
        var ending: OriginCodecExchange.Ending
        var testDescription: String { "\(self.behavior)" }
    }

    static let cases: [Case] = [
        Case(behavior: .closeBeforeHead, parts: [], ending: .closed),
        Case(behavior: .resetBeforeHead, parts: [], ending: .errno(ECONNRESET)),
        Case(behavior: .closeMidBody, parts: ["head 200", "body 100"], ending: .parser(.invalidEOFState)),
        Case(behavior: .resetMidBody, parts: ["head 200", "body 100"], ending: .errno(ECONNRESET)),
        Case(behavior: .malformedStatusLine, parts: [], ending: .parser(.invalidStatus)),
        Case(behavior: .malformedHeader, parts: [], ending: .parser(.invalidHeaderToken)),
        Case(behavior: .oversizedHeader(bytes: 100_000), parts: [], ending: .parser(.headerOverflow)),
        Case(behavior: .badChunking, parts: ["head 200", "body 5"], ending: .parser(.invalidChunkSize)),
        Case(behavior: .healthy(name: "control"), parts: ["head 200", "body 19", "end"], ending: .closed),
    ]

    @Test("the codec classifies the misbehaviour", arguments: Self.cases)
    func classify(_ testCase: Case) async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let origin = try await LoopbackOrigin.start(testCase.behavior, group: group)
        do {
            let exchange = try await OriginCodecExchange.get(port: origin.port, group: group)
            #expect(exchange.parts == testCase.parts)
            #expect(exchange.ending == testCase.ending)
            #expect(origin.requestsServed == 1)
        } catch {
            try? await origin.stop()
            throw error
        }
        try await origin.stop()
    }
}

/// A `GET /` with `Connection: close` through `addHTTPClientHandlers()`, recording what came back.
struct OriginCodecExchange {
    /// How the response stream ended.
    enum Ending: Equatable, Sendable {
        case closed
        case parser(HTTPParserError)
        case errno(CInt)
        case other(String)
    }

    var parts: [String] = []
    var ending = Ending.closed

    static func get(port: Int, group: any EventLoopGroup) async throws -> OriginCodecExchange {
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
        let channel = try await ClientBootstrap(group: group).connect(to: address) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                    wrappingChannelSynchronously: channel
                )
            }
        }
        // Every case here ends by itself; the deadline only keeps a broken origin from hanging the test.
        let deadline = channel.channel.eventLoop.scheduleTask(in: .seconds(5)) { [underlying = channel.channel] in
            underlying.close(promise: nil)
        }
        defer { deadline.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            var exchange = OriginCodecExchange()
            let head = HTTPRequestHead(
                version: .http1_1,
                method: .GET,
                uri: "/",
                headers: ["host": "test", "connection": "close"]
            )
            do {
                // One write: a misbehaving origin may close as soon as it has read the head, and a
                // second write would then race its close. What the reads below see tells the story.
                try await outbound.write(contentsOf: [.head(head), .end(nil)])
            } catch {
                // Closed under us: the inbound side below still reports how the stream ended.
            }
            do {
                for try await part in inbound {
                    switch part {
                    case .head(let head): exchange.parts.append("head \(head.status.code)")
                    case .body(let body): exchange.parts.append("body \(body.readableBytes)")
                    case .end: exchange.parts.append("end")
                    }
                }
            } catch let error as HTTPParserError {
                exchange.ending = .parser(error)
            } catch let error as IOError {
                exchange.ending = .errno(error.errnoCode)
            } catch {
                exchange.ending = .other("\(error)")
            }
            return exchange
        }
    }
}
