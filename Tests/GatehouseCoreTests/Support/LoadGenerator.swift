import NIOCore
import Synchronization

/// Steady, bounded GET load through a gateway: a few keep-alive clients, each sending `GET /` in a
/// loop (one request at a time, paced) until ``stop()`` or `maxRequestsPerClient`, recording every
/// outcome with its start and end time and the origin that answered (`X-Origin`).
///
/// A client whose connection is closed, or that gets a transport error, reconnects; the error is
/// recorded as an outcome with status -1, because that is what a real client would see.
final class LoadGenerator: Sendable {
    /// One request as its client saw it.
    struct Outcome: Sendable {
        var started: ContinuousClock.Instant
        var finished: ContinuousClock.Instant
        /// The response status; -1 for a transport failure (no response).
        var status: Int
        /// `X-Origin` of the response: which loopback origin answered.
        var origin: String?
        /// `Proxy-Status` of the response, or the transport error.
        var detail: String?
    }

    private final class State: Sendable {
        let outcomes = Mutex<[Outcome]>([])
        let stopped = Atomic<Bool>(false)
    }

    private let state = State()
    private let task: Task<Void, Never>

    /// Starts `clients` clients at once.
    init(
        gateway: TestGateway, clients: Int = 3, path: String = "/", pace: Duration = .milliseconds(3),
        maxRequestsPerClient: Int = 5_000
    ) {
        let state = self.state
        self.task = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<clients {
                    group.addTask {
                        await Self.client(
                            gateway: gateway, path: path, pace: pace, limit: maxRequestsPerClient, state: state)
                    }
                }
            }
        }
    }

    private static func client(gateway: TestGateway, path: String, pace: Duration, limit: Int, state: State) async {
        let clock = ContinuousClock()
        var connection: RawHTTPClient?
        for _ in 0..<limit {
            if state.stopped.load(ordering: .relaxed) { break }
            let started = clock.now
            do {
                let client: RawHTTPClient
                if let open = connection, open.isActive {
                    client = open
                } else {
                    await connection?.close()
                    client = try await gateway.client()
                    connection = client
                }
                try await client.send(RawHTTPClient.get(path))
                let response = try await client.response(timeout: .seconds(5))
                let outcome = Outcome(
                    started: started, finished: clock.now, status: response.status,
                    origin: response.header("x-origin"), detail: response.header("proxy-status"))
                state.outcomes.withLock { $0.append(outcome) }
                if response.isTruncated || response.header("connection")?.lowercased() == "close" {
                    await client.close()
                    connection = nil
                }
            } catch {
                let outcome = Outcome(started: started, finished: clock.now, status: -1, origin: nil, detail: "\(error)")
                state.outcomes.withLock { $0.append(outcome) }
                await connection?.close()
                connection = nil
            }
            // Pacing, not waiting for a state: keeps the load steady and the two cores usable.
            try? await Task.sleep(for: pace)
        }
        await connection?.close()
    }

    /// Whether a request started at or after `instant` was answered by `origin`.
    func served(by origin: String, startedAfter instant: ContinuousClock.Instant) -> Bool {
        self.state.outcomes.withLock { outcomes in
            outcomes.reversed().contains { $0.started >= instant && $0.origin == origin }
        }
    }

    /// The outcomes so far.
    var outcomes: [Outcome] {
        self.state.outcomes.withLock { $0 }
    }

    /// Stops every client (each finishes its current request) and returns all outcomes.
    func stop() async -> [Outcome] {
        self.state.stopped.store(true, ordering: .relaxed)
        await self.task.value
        return self.outcomes
    }
}

/// Runs `body` with load on the gateway and always stops the load (``LoadGenerator/stop()`` may be
/// called inside `body` too, to read the final outcomes).
func withLoad<T>(
    on gateway: TestGateway, clients: Int = 3, _ body: (LoadGenerator) async throws -> T
) async throws -> T {
    let load = LoadGenerator(gateway: gateway, clients: clients)
    do {
        let result = try await body(load)
        _ = await load.stop()
        return result
    } catch {
        _ = await load.stop()
        throw error
    }
}
