import GatehouseErrors
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The phase of a proxied exchange in which something failed. Together with the error type it
/// decides the classification (an EOF before the response head is not the same failure as after it).
public enum ProxyPhase: String, Sendable, Hashable {
    /// Choosing a route for the request.
    case route
    /// Choosing a server of the cluster.
    case selectUpstream
    /// Resolving the server's name and opening the TCP connection.
    case connect
    /// Writing the request head and body upstream.
    case sendRequest
    /// Waiting for the response head.
    case awaitResponseHead
    /// Streaming the response body downstream.
    case streamResponse
}

/// A time limit of the exchange that ran out. Raised by the exchange's deadline timer.
public enum ExchangeTimeout: Error, Sendable, Hashable {
    /// `timeouts.response_header`: no response head in time after the request was sent.
    case responseHeader
    /// `timeouts.idle`: no byte in either direction for that long.
    case idle
    /// `timeouts.request`: the whole exchange took too long.
    case request
}

/// The upstream closed the connection cleanly (FIN), as opposed to resetting it.
public struct UpstreamClosedConnection: Error, Sendable, Hashable {
    public init() {}
}

/// Every failure on the way to an upstream, classified once into its RFC 9209 type.
///
/// Only this value decides the status code, the `Proxy-Status` header, the error body and the
/// log fields (see DESIGN.md, "The error model").
public struct ProxyFailure: Error, Sendable {
    /// The RFC 9209 type.
    public var type: ProxyStatusError
    /// Where in the exchange it happened.
    public var phase: ProxyPhase
    /// The server that failed (`host:port`), when one was chosen. Shown to clients only with `expose_details`.
    public var nextHop: String?
    /// Technical detail for the logs (and for clients with `expose_details`): the underlying error.
    public var details: String?

    public init(type: ProxyStatusError, phase: ProxyPhase, nextHop: String? = nil, details: String? = nil) {
        self.type = type
        self.phase = phase
        self.nextHop = nextHop
        self.details = details
    }

    /// The status code the gateway answers with.
    public var statusCode: Int { self.type.statusCode }
}

extension ProxyFailure {
    /// Classifies any error met on the data path, once, into a ``ProxyFailure``.
    ///
    /// - Parameters:
    ///   - error: what NIO, the codec or a timer reported.
    ///   - phase: the exchange's phase when it happened.
    ///   - nextHop: the server involved, if any.
    /// - Returns: the failure; `proxy_internal_error` for an error the table does not know (a bug to report).
    public static func classify(_ error: any Error, phase: ProxyPhase, nextHop: String?) -> ProxyFailure {
        let type = Self.type(of: error, phase: phase)
        return ProxyFailure(type: type, phase: phase, nextHop: nextHop, details: Self.describe(error))
    }

    private static func type(of error: any Error, phase: ProxyPhase) -> ProxyStatusError {
        switch error {
        case let failure as ProxyFailure:
            return failure.type
        case let timeout as ExchangeTimeout:
            switch timeout {
            case .request: return .httpResponseTimeout
            case .responseHeader: return .connectionReadTimeout
            case .idle: return phase == .sendRequest ? .connectionWriteTimeout : .connectionReadTimeout
            }
        case let connectionError as NIOConnectionError:
            if connectionError.connectionErrors.isEmpty {
                // getaddrinfo's EAI_AGAIN is "the resolver did not answer": a timeout, not an answer.
                let dnsError = connectionError.dnsAError ?? connectionError.dnsAAAAError
                if let unknown = dnsError as? SocketAddressError.UnknownHost, unknown.errorCode == Int(EAI_AGAIN) {
                    return .dnsTimeout
                }
                return .dnsError
            }
            // Happy eyeballs tried several addresses; the first failure speaks for all of them.
            if let first = connectionError.connectionErrors.first {
                return Self.type(of: first.error, phase: phase)
            }
            return .connectionRefused
        case let unknown as SocketAddressError.UnknownHost:
            return unknown.errorCode == Int(EAI_AGAIN) ? .dnsTimeout : .dnsError
        case let channelError as ChannelError:
            switch channelError {
            case .connectTimeout: return .connectionTimeout
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed:
                return phase == .streamResponse ? .httpResponseIncomplete : .connectionTerminated
            default: return .proxyInternalError
            }
        case let ioError as IOError:
            return Self.type(ofErrno: ioError.errnoCode, phase: phase)
        case is UpstreamClosedConnection:
            return phase == .streamResponse ? .httpResponseIncomplete : .connectionTerminated
        case let parserError as HTTPParserError:
            switch parserError {
            case .headerOverflow: return .httpResponseHeaderSectionSize
            case .invalidChunkSize: return .httpResponseTransferCoding
            case .invalidEOFState, .closedConnection: return phase == .streamResponse ? .httpResponseIncomplete : .connectionTerminated
            default: return .httpProtocolError
            }
        case let decoding as ResponseDecodingError:
            switch decoding.kind {
            case .headerSectionTooLarge: return .httpResponseHeaderSectionSize
            case .invalidChunking: return .httpResponseTransferCoding
            case .incomplete: return .httpResponseIncomplete
            case .malformedHead, .ambiguousFraming, .unsolicited: return .httpProtocolError
            }
        case is NIOHTTPDecoderError:
            return .httpProtocolError
        case let ssl as NIOSSLError:
            // A close without close_notify is a close: the decoder judges whether the body was complete.
            if case .uncleanShutdown = ssl { return phase == .streamResponse ? .httpResponseIncomplete : .connectionTerminated }
            return TLSClassification.kind(of: ssl).proxyStatus
        case is BoringSSLError, is NIOSSLExtraError:
            // After the handshake (a TLS 1.3 server refusing the client certificate on the first read).
            return TLSClassification.kind(of: error).proxyStatus
        default:
            return .proxyInternalError
        }
    }

    private static func type(ofErrno errno: CInt, phase: ProxyPhase) -> ProxyStatusError {
        switch errno {
        case ECONNREFUSED: return .connectionRefused
        case ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL: return .destinationIPUnroutable
        case ETIMEDOUT: return phase == .connect ? .connectionTimeout : .connectionReadTimeout
        case ECONNRESET, EPIPE, ECONNABORTED:
            // A reset is a terminated connection in every phase (RFC 9209 §2.3.8): unlike a clean
            // FIN mid-body, it says the upstream gave up, not that the framing lied.
            return .connectionTerminated
        default: return phase == .connect ? .connectionRefused : .connectionTerminated
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case let failure as ProxyFailure: return failure.details ?? failure.type.token
        case let timeout as ExchangeTimeout:
            switch timeout {
            case .request: return "request timeout reached"
            case .responseHeader: return "response_header timeout reached"
            case .idle: return "idle timeout reached"
            }
        case let connectionError as NIOConnectionError:
            if let first = connectionError.connectionErrors.first {
                return "connect to \(first.target): \(Self.describe(first.error))"
            }
            if let unknown = (connectionError.dnsAError ?? connectionError.dnsAAAAError) as? SocketAddressError.UnknownHost {
                return "resolving \(connectionError.host): \(unknown.errorDescription)"
            }
            if let dns = connectionError.dnsAError ?? connectionError.dnsAAAAError {
                return "resolving \(connectionError.host): \(dns)"
            }
            return "resolving \(connectionError.host): no addresses"
        case let ioError as IOError:
            return String(cString: strerror(ioError.errnoCode))
        case is UpstreamClosedConnection:
            return "upstream closed the connection"
        case is NIOSSLError, is BoringSSLError, is NIOSSLExtraError:
            if let ssl = error as? NIOSSLError, case .uncleanShutdown = ssl {
                return "upstream closed the connection (without TLS close_notify)"
            }
            return TLSClassification.details(TLSClassification.kind(of: error), leaf: nil, serverName: "the server", now: Int(time(nil)))
        default:
            return String(describing: error)
        }
    }
}
