import GatehouseErrors
import NIOCore
import NIOHTTP1

// MARK: - WebSocket and other Upgrade requests (HTTP/1.1 downstream)

extension DownstreamHandler {
    /// The `Upgrade` value to forward: only for an HTTP/1.1 request that names `upgrade` in
    /// `Connection` (RFC 9110 §7.8; otherwise `Upgrade` is a stray hop-by-hop field and is dropped
    /// as before) and only on HTTP/1.1 connections (HTTP/2's extended CONNECT is not supported).
    func requestedUpgrade(_ head: HTTPRequestHead) -> String? {
        guard !self.isHTTP2Stream, head.version.major == 1, head.version.minor == 1,
            Self.listsToken(head.headers[canonicalForm: "connection"], "upgrade")
        else { return nil }
        let values = head.headers[canonicalForm: "upgrade"]
        guard !values.isEmpty else { return nil }
        let value = values.joined(separator: ", ")
        guard RequestFraming.isFieldValue(value), !value.isEmpty else { return nil }
        return value
    }

    /// Whether a comma-separated header value lists `token` (case-insensitively).
    static func listsToken(_ values: [Substring], _ token: String) -> Bool {
        for value in values {
            for item in value.split(separator: ",") where RequestFraming.equalsLower(item.trimmingSpaces(), token) {
                return true
            }
        }
        return false
    }

    /// The protocol names of an `Upgrade` value, lower-cased, versions dropped (`websocket`,
    /// `h2c`, `foo/2` → `foo`).
    static func upgradeProtocols(_ value: String) -> [String] {
        value.split(separator: ",").map { item in
            let name = item.trimmingSpaces()
            return String(name.prefix { $0 != "/" }).lowercased()
        }.filter { !$0.isEmpty }
    }

    /// A 101 from the upstream. It is the answer only to a request that asked to upgrade, and only
    /// when it names (in `Upgrade`) one of the protocols asked for and the whole request went out;
    /// anything else is `http_upgrade_failed` (502), the connection closed. A 101 to a request
    /// that did not ask stays `http_protocol_error`.
    func switchingProtocolsReceived(_ head: HTTPResponseHead, exchange: Exchange, context: ChannelHandlerContext) {
        guard let requested = exchange.upgrade else {
            self.fail(
                exchange,
                ProxyFailure(
                    type: .httpProtocolError, phase: exchange.phase, nextHop: exchange.record.upstream,
                    details: "the upstream switched protocols (101) for a request that did not ask to upgrade"))
            return
        }
        let answered = head.headers[canonicalForm: "upgrade"].joined(separator: ", ")
        let protocols = Self.upgradeProtocols(answered)
        let asked = Self.upgradeProtocols(requested)
        let refusal: String?
        if protocols.isEmpty {
            refusal = "the upstream answered 101 without an Upgrade field (asked for \(requested))"
        } else if protocols.count != 1 || !asked.contains(protocols[0]) {
            refusal = "the upstream switched to \(RequestFraming.printable(answered)), not to what was asked for (\(requested))"
        } else if !exchange.requestComplete {
            refusal = "the upstream switched protocols before the request body was complete"
        } else {
            refusal = nil
        }
        if let refusal {
            self.fail(
                exchange,
                ProxyFailure(type: .httpUpgradeFailed, phase: exchange.phase, nextHop: exchange.record.upstream, details: refusal))
            return
        }
        guard let upstream = exchange.upstream else { return }
        exchange.upstreamResponded = true
        exchange.record.upstreamStatus = 101
        exchange.record.status = 101
        exchange.record.upgrade = protocols[0]
        exchange.record.headerMilliseconds = exchange.elapsedMilliseconds(exchange.lastActivity)
        exchange.phase = .streamResponse
        exchange.headerDeadline = nil
        exchange.requestDeadline = .distantFuture
        exchange.isTunnel = true
        var downstreamHead = HeaderRewriter.informationalResponseHead(
            head, gatewayName: exchange.generation.snapshot.gatewayName, clientVersion: exchange.requestHead.version)
        downstreamHead.headers.add(name: "Connection", value: "upgrade")
        downstreamHead.headers.add(name: "Upgrade", value: answered)
        exchange.responseHeadSent = true
        // The 101 goes through the HTTP encoder before it leaves the pipeline.
        context.writeAndFlush(self.wrapOutboundOut(.head(downstreamHead)), promise: nil)
        exchange.upstream = nil
        upstream.exchange = nil
        do {
            try TunnelRelay.splice(downstream: context, upstream: upstream, exchange: exchange)
        } catch {
            // The 101 is sent but the switch failed: the client sees the connection close.
            exchange.record.failure = ProxyFailure(
                type: .httpUpgradeFailed, phase: exchange.phase, nextHop: exchange.record.upstream,
                details: "the switch to a byte relay failed: \(error)")
            exchange.responseEndedByFailure = true
            exchange.responseEnded = true
            upstream.close()
            self.finish(exchange)
        }
    }
}
