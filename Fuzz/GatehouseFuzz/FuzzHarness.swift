import GatehouseConfig
import Logging
import NIOCore
import NIOEmbedded

@testable import GatehouseCore

/// The gateway's pipelines wired together in memory (like the test target's `EmbeddedProxy`,
/// which an executable cannot import), with the invariants cheap enough to check per input.
enum FuzzHarness {
    final class Connector: UpstreamConnector {
        let loop: EmbeddedEventLoop
        var opened: [EmbeddedChannel] = []

        init(loop: EmbeddedEventLoop) {
            self.loop = loop
        }

        func connect(
            to endpoint: Endpoint, cluster: Cluster, id: Int, on eventLoop: any EventLoop
        ) -> EventLoopFuture<any Channel> {
            let channel = EmbeddedChannel(loop: self.loop)
            do {
                try UpstreamPipeline.configure(channel, limits: cluster.limits, id: id)
                try channel.connect(to: SocketAddress(ipAddress: "10.0.0.1", port: 8080)).wait()
            } catch {
                return self.loop.makeFailedFuture(error)
            }
            self.opened.append(channel)
            return self.loop.makeSucceededFuture(channel)
        }
    }

    struct Gateway {
        let loop: EmbeddedEventLoop
        let state: LoopState
        let connector: Connector
        let client: EmbeddedChannel
    }

    static func makeGateway() -> Gateway {
        let loop = EmbeddedEventLoop()
        let configuration = GatehouseConfiguration(
            listeners: [Listener(name: "fuzz", address: HostPort(host: "127.0.0.1", port: 0))], accessLog: .off,
            clusters: [
                Cluster(name: "app", servers: [Cluster.Server(address: HostPort(host: "10.0.0.1", port: 8080))])
            ],
            routes: [Route(name: "all", match: .init(), cluster: "app")],
            requestLimits: RequestLimits(
                maxHeaderBytes: 4096, maxBodyBytes: 4096, maxRequestLineBytes: 1024, maxHeaderCount: 32,
                maxPipelinedRequests: 4))
        let snapshot = ProxySnapshot(configuration: configuration)
        var logger = Logger(label: "fuzz")
        logger.logLevel = .critical
        guard let sink = try? AccessLogSink(target: .off) else { fatalError("access log sink") }
        let state = LoopState(
            eventLoop: loop, snapshot: snapshot, stats: GatewayStats(), metrics: GatewayMetrics(), logger: logger,
            accessLog: sink)
        let connector = Connector(loop: loop)
        state.connector = connector
        let client = EmbeddedChannel(loop: loop)
        do {
            client.remoteAddress = try SocketAddress(ipAddress: "192.0.2.1", port: 1)
            try ProxyServer.configureDownstream(client, limits: configuration.requestLimits, loop: state)
            try client.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 1)).wait()
        } catch {
            fatalError("pipeline: \(error)")
        }
        return Gateway(loop: loop, state: state, connector: connector, client: client)
    }

    static func drain(_ channel: EmbeddedChannel) -> [UInt8] {
        var bytes: [UInt8] = []
        while let data = try? channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let buffer) = data { bytes += buffer.readableBytesView }
        }
        return bytes
    }

    static func write(_ bytes: [UInt8], to channel: EmbeddedChannel, loop: EmbeddedEventLoop) {
        guard channel.isActive else { return }
        _ = try? channel.writeInbound(ByteBuffer(bytes: bytes))
        loop.run()
    }

    /// A client's byte stream: every upstream request is answered; whatever is forwarded must
    /// start with a request line the gateway wrote, and nothing may trap.
    static func request(_ bytes: [UInt8]) {
        let gateway = self.makeGateway()
        defer { self.tearDown(gateway) }
        self.write(bytes, to: gateway.client, loop: gateway.loop)
        var answered = 0
        for _ in 0..<8 {
            guard answered < gateway.connector.opened.count || gateway.connector.opened.contains(where: { $0.isActive })
            else { break }
            for upstream in gateway.connector.opened where upstream.isActive {
                let received = self.drain(upstream)
                guard !received.isEmpty else { continue }
                let line = received.prefix { $0 != 13 }
                guard line.count > 9, line.suffix(9).elementsEqual(" HTTP/1.1".utf8),
                    received.dropFirst(line.count).starts(with: [13, 10])
                else {
                    fatalError(
                        "the upstream received a request line the gateway did not write: \(String(decoding: received.prefix(200), as: UTF8.self).debugDescription)"
                    )
                }
                answered += 1
                self.write(
                    Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8), to: upstream, loop: gateway.loop)
            }
        }
        _ = self.drain(gateway.client)
    }

    /// An upstream's byte stream as the answer to one GET (or HEAD); then the next exchange must
    /// receive exactly its own clean response.
    static func response(_ bytes: [UInt8], isHead: Bool) {
        let gateway = self.makeGateway()
        defer { self.tearDown(gateway) }
        self.write(
            Array("\(isHead ? "HEAD" : "GET") /1 HTTP/1.1\r\nHost: a\r\n\r\n".utf8), to: gateway.client,
            loop: gateway.loop)
        guard let first = gateway.connector.opened.first else { fatalError("no upstream connection") }
        _ = self.drain(first)
        self.write(bytes, to: first, loop: gateway.loop)
        if first.isActive {
            first.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            _ = try? first.close().wait()
            gateway.loop.run()
        }
        _ = self.drain(gateway.client)
        guard gateway.client.isActive else { return }
        self.write(Array("GET /2 HTTP/1.1\r\nHost: a\r\n\r\n".utf8), to: gateway.client, loop: gateway.loop)
        guard let second = gateway.connector.opened.last, second !== first else {
            fatalError("the next request went to the closed upstream connection")
        }
        _ = self.drain(second)
        self.write(Array("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nmarker".utf8), to: second, loop: gateway.loop)
        let received = String(decoding: self.drain(gateway.client), as: UTF8.self)
        guard received.hasPrefix("HTTP/1.1 200 OK\r\n"), received.hasSuffix("\r\n\r\nmarker") else {
            fatalError("the next exchange received \(received.debugDescription)")
        }
    }

    static func tearDown(_ gateway: Gateway) {
        _ = try? gateway.client.finish(acceptAlreadyClosed: true)
        for channel in gateway.connector.opened { _ = try? channel.finish(acceptAlreadyClosed: true) }
        gateway.loop.run()
        try? gateway.loop.syncShutdownGracefully()
    }
}
