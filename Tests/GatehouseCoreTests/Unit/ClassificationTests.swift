import GatehouseErrors
import NIOHTTP1
import Testing

@testable import GatehouseCore
// `SocketAddressError.UnknownHost`'s initialiser is `package`: only a testable import can make one
// with a chosen getaddrinfo code, without asking a real resolver.
@testable import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension Unit {
    /// `ProxyFailure.classify`: every error the data path meets, by phase, into its one RFC 9209 type.
    @Suite struct ClassificationTests {
        struct Case: Sendable, CustomTestStringConvertible {
            var name: String
            var error: any Error
            var phase: ProxyPhase
            var type: ProxyStatusError
            var testDescription: String { "\(self.name) in \(self.phase.rawValue) → \(self.type.token)" }
        }

        static func io(_ errno: CInt, _ name: String, _ phase: ProxyPhase, _ type: ProxyStatusError) -> Case {
            Case(name: name, error: IOError(errnoCode: errno, reason: "test"), phase: phase, type: type)
        }

        static func channel(_ error: ChannelError, _ phase: ProxyPhase, _ type: ProxyStatusError) -> Case {
            Case(name: "\(error)", error: error, phase: phase, type: type)
        }

        static func parser(_ error: HTTPParserError, _ phase: ProxyPhase, _ type: ProxyStatusError) -> Case {
            Case(name: "\(error)", error: error, phase: phase, type: type)
        }

        static func timeout(_ error: ExchangeTimeout, _ phase: ProxyPhase, _ type: ProxyStatusError) -> Case {
            Case(name: "\(error) timeout", error: error, phase: phase, type: type)
        }

        static func other(_ name: String, _ error: any Error, _ phase: ProxyPhase, _ type: ProxyStatusError) -> Case {
            Case(name: name, error: error, phase: phase, type: type)
        }

        static let ioErrors: [Case] = [
            io(ECONNREFUSED, "ECONNREFUSED", .connect, .connectionRefused),
            io(ECONNREFUSED, "ECONNREFUSED", .sendRequest, .connectionRefused),
            io(ECONNRESET, "ECONNRESET", .connect, .connectionTerminated),
            io(ECONNRESET, "ECONNRESET", .sendRequest, .connectionTerminated),
            io(ECONNRESET, "ECONNRESET", .awaitResponseHead, .connectionTerminated),
            io(ECONNRESET, "ECONNRESET", .streamResponse, .connectionTerminated),
            io(EPIPE, "EPIPE", .sendRequest, .connectionTerminated),
            io(EPIPE, "EPIPE", .streamResponse, .connectionTerminated),
            io(ECONNABORTED, "ECONNABORTED", .awaitResponseHead, .connectionTerminated),
            io(ETIMEDOUT, "ETIMEDOUT", .connect, .connectionTimeout),
            io(ETIMEDOUT, "ETIMEDOUT", .sendRequest, .connectionReadTimeout),
            io(ETIMEDOUT, "ETIMEDOUT", .awaitResponseHead, .connectionReadTimeout),
            io(ETIMEDOUT, "ETIMEDOUT", .streamResponse, .connectionReadTimeout),
            io(ENETUNREACH, "ENETUNREACH", .connect, .destinationIPUnroutable),
            io(EHOSTUNREACH, "EHOSTUNREACH", .connect, .destinationIPUnroutable),
            io(EADDRNOTAVAIL, "EADDRNOTAVAIL", .connect, .destinationIPUnroutable),
            io(EACCES, "EACCES (unlisted errno)", .connect, .connectionRefused),
            io(EACCES, "EACCES (unlisted errno)", .awaitResponseHead, .connectionTerminated),
        ]

        static let channelErrors: [Case] = [
            channel(.connectTimeout(.seconds(2)), .connect, .connectionTimeout),
            channel(.eof, .sendRequest, .connectionTerminated),
            channel(.eof, .awaitResponseHead, .connectionTerminated),
            channel(.eof, .streamResponse, .httpResponseIncomplete),
            channel(.ioOnClosedChannel, .sendRequest, .connectionTerminated),
            channel(.ioOnClosedChannel, .streamResponse, .httpResponseIncomplete),
            channel(.alreadyClosed, .awaitResponseHead, .connectionTerminated),
            channel(.outputClosed, .sendRequest, .connectionTerminated),
            channel(.inputClosed, .streamResponse, .httpResponseIncomplete),
            channel(.inappropriateOperationForState, .connect, .proxyInternalError),
        ]

        static let parserErrors: [Case] = [
            parser(.headerOverflow, .awaitResponseHead, .httpResponseHeaderSectionSize),
            parser(.invalidChunkSize, .streamResponse, .httpResponseTransferCoding),
            parser(.invalidEOFState, .awaitResponseHead, .connectionTerminated),
            parser(.invalidEOFState, .streamResponse, .httpResponseIncomplete),
            parser(.closedConnection, .awaitResponseHead, .connectionTerminated),
            parser(.closedConnection, .streamResponse, .httpResponseIncomplete),
            parser(.invalidStatus, .awaitResponseHead, .httpProtocolError),
            parser(.invalidHeaderToken, .awaitResponseHead, .httpProtocolError),
            parser(.invalidVersion, .awaitResponseHead, .httpProtocolError),
            parser(.invalidContentLength, .awaitResponseHead, .httpProtocolError),
            parser(.lfExpected, .streamResponse, .httpProtocolError),
            other("unsolicitedResponse", NIOHTTPDecoderError.unsolicitedResponse, .sendRequest, .httpProtocolError),
        ]

        static let timeouts: [Case] = [
            timeout(.request, .connect, .httpResponseTimeout),
            timeout(.request, .awaitResponseHead, .httpResponseTimeout),
            timeout(.request, .streamResponse, .httpResponseTimeout),
            timeout(.responseHeader, .awaitResponseHead, .connectionReadTimeout),
            timeout(.idle, .sendRequest, .connectionWriteTimeout),
            timeout(.idle, .awaitResponseHead, .connectionReadTimeout),
            timeout(.idle, .streamResponse, .connectionReadTimeout),
        ]

        static func unknownHost(_ code: CInt) -> SocketAddressError.UnknownHost {
            SocketAddressError.UnknownHost(
                host: "app.internal", port: 3000, errorCode: Int(code),
                errorDescription: String(cString: gai_strerror(code)))
        }

        static let others: [Case] = [
            other("upstream FIN", UpstreamClosedConnection(), .sendRequest, .connectionTerminated),
            other("upstream FIN", UpstreamClosedConnection(), .awaitResponseHead, .connectionTerminated),
            other("upstream FIN", UpstreamClosedConnection(), .streamResponse, .httpResponseIncomplete),
            other("EAI_NONAME", unknownHost(EAI_NONAME), .connect, .dnsError),
            other("EAI_AGAIN", unknownHost(EAI_AGAIN), .connect, .dnsTimeout),
            other("EAI_FAIL", unknownHost(EAI_FAIL), .connect, .dnsError),
            other("unknown error", UnknownTestError(), .streamResponse, .proxyInternalError),
            Case(
                name: "already classified", error: ProxyFailure(type: .destinationUnavailable, phase: .selectUpstream),
                phase: .selectUpstream, type: .destinationUnavailable),
        ]

        struct UnknownTestError: Error, CustomStringConvertible {
            var description: String { "something nobody expected" }
        }

        @Test(arguments: Self.ioErrors + Self.channelErrors + Self.parserErrors + Self.timeouts + Self.others)
        func errorIsClassified(_ testCase: Case) {
            let failure = ProxyFailure.classify(testCase.error, phase: testCase.phase, nextHop: "10.0.0.3:8080")
            #expect(failure.type == testCase.type)
            #expect(failure.phase == testCase.phase)
            #expect(failure.nextHop == "10.0.0.3:8080")
            #expect(failure.statusCode == testCase.type.statusCode)
        }

        struct DetailsCase: Sendable, CustomTestStringConvertible {
            var error: any Error
            var details: String
            var testDescription: String { self.details }
        }

        @Test(arguments: [
            DetailsCase(
                error: IOError(errnoCode: ECONNREFUSED, reason: "connect"),
                details: String(cString: strerror(ECONNREFUSED))),
            DetailsCase(error: ExchangeTimeout.request, details: "request timeout reached"),
            DetailsCase(error: ExchangeTimeout.responseHeader, details: "response_header timeout reached"),
            DetailsCase(error: ExchangeTimeout.idle, details: "idle timeout reached"),
            DetailsCase(error: UpstreamClosedConnection(), details: "upstream closed the connection"),
            DetailsCase(error: UnknownTestError(), details: "something nobody expected"),
            DetailsCase(error: ProxyFailure(type: .proxyLoopDetected, phase: .route), details: "proxy_loop_detected"),
            DetailsCase(
                error: ProxyFailure(type: .dnsError, phase: .connect, details: "NXDOMAIN"), details: "NXDOMAIN"),
        ])
        func detailsDescribeTheUnderlyingError(_ testCase: DetailsCase) {
            #expect(ProxyFailure.classify(testCase.error, phase: .connect, nextHop: nil).details == testCase.details)
        }

        @Test func refusedDetailsAreTheErrnoText() {
            // Pinned independently of strerror: the log line users grep for.
            let failure = ProxyFailure.classify(
                IOError(errnoCode: ECONNREFUSED, reason: "connect"), phase: .connect, nextHop: nil)
            #expect(failure.details == "Connection refused")
            #expect(failure.nextHop == nil)
        }
    }
}
