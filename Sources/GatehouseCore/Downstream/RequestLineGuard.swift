import NIOCore
import NIOHTTP1

/// Looks at the first request line of a connection, then leaves the pipeline.
///
/// An HTTP/0.9 request (`GET /path` with no version) is refused at once: NIOHTTP1's decoder takes
/// such a line for the start of a head and waits for header lines that a 0.9 client never sends,
/// so the client would hang until the keep-alive timeout. The line is refused as an invalid
/// version (400, connection closed) by ``DownstreamHandler``. Only the first request is looked at
/// — a client that spoke HTTP/1.x once does not fall back to 0.9 — so the cost is one scan of
/// one line per connection.
final class RequestLineGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Spaces seen on the first line so far.
    private var spaces = 0
    /// Bytes of the first line so far (leading empty lines skipped, as the decoder does).
    private var lineBytes = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        let verdict = buffer.withUnsafeReadableBytes { bytes -> Bool? in
            for byte in bytes {
                switch byte {
                case HTTPSyntax.lf:
                    // CR LF before the request line is skipped by the decoder, so is it here.
                    if self.lineBytes == 0 { continue }
                    return self.spaces < 2
                case HTTPSyntax.cr:
                    continue
                case HTTPSyntax.space:
                    self.spaces += 1
                    self.lineBytes += 1
                default:
                    self.lineBytes += 1
                }
            }
            return nil
        }
        context.fireChannelRead(data)
        guard let isHTTP09 = verdict else { return }
        if isHTTP09 { context.fireErrorCaught(HTTPParserError.invalidVersion) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

@available(*, unavailable)
extension RequestLineGuard: Sendable {}
