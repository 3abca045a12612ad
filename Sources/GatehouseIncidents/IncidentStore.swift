import Foundation
import GatehouseConfig
import GatehouseCore
import GatehouseErrors
import Logging
import NIOCore
import NIOPosix
import SQLiteNIO

/// Gateway errors and incidents kept in SQLite (WAL mode) so they outlive a restart: the operator
/// investigating a 3 a.m. outage at 9 a.m. finds them in `/admin/errors` and `/admin/incidents`.
///
/// Writes never touch the data path: ``errorRecorded(_:)`` and ``incidentChanged(_:change:)`` put
/// the item in a bounded queue (dropped and counted when full) that one task drains into the
/// database. Retention (`retention`, `max_errors`) is enforced at open and then once a minute.
public final class IncidentStore: IncidentSink {
    /// Items waiting to be written; beyond it they are dropped and counted.
    public static let queueLimit = 10_000

    private enum Item: Sendable {
        case error(GatewayErrorEntry)
        case incident(Incident)
    }

    private let connection: SQLiteConnection
    private let storage: Storage
    private let continuation: AsyncStream<Item>.Continuation
    private let writer: Task<Void, Never>
    private let logger: Logger
    private let count: @Sendable (GatewayStats.IncidentEvent) -> Void

    private init(
        connection: SQLiteConnection, storage: Storage, logger: Logger,
        count: @escaping @Sendable (GatewayStats.IncidentEvent) -> Void
    ) {
        self.connection = connection
        self.storage = storage
        self.logger = logger
        self.count = count
        let (stream, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingOldest(Self.queueLimit))
        self.continuation = continuation
        self.writer = Task {
            var lastRetention = ContinuousClock.now
            for await item in stream {
                do {
                    switch item {
                    case .error(let entry): try await Self.insert(entry, into: connection)
                    case .incident(let incident): try await Self.upsert(incident, into: connection)
                    }
                } catch {
                    count(.storageFailed)
                    logger.warning("storage: write failed: \(error)", metadata: ["event": "storage_failed"])
                }
                if ContinuousClock.now - lastRetention > .seconds(60) {
                    lastRetention = ContinuousClock.now
                    try? await Self.enforceRetention(storage, on: connection)
                }
            }
        }
    }

    /// Opens (creating if needed) the database at `storage.path`, in WAL mode, and enforces retention.
    public static func open(
        _ storage: Storage, logger: Logger = Logger(label: "gatehouse.storage"),
        count: @escaping @Sendable (GatewayStats.IncidentEvent) -> Void = { _ in }
    ) async throws -> IncidentStore {
        let connection = try await SQLiteConnection.open(storage: .file(path: storage.path), logger: logger)
        do {
            // WAL: readers do not block the writer; NORMAL: no fsync per commit (a crash may lose the
            // last few entries, never corrupt the file).
            _ = try await connection.query("PRAGMA journal_mode=WAL")
            _ = try await connection.query("PRAGMA synchronous=NORMAL")
            _ = try await connection.query("PRAGMA busy_timeout=5000")
            _ = try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS errors (id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL,
                request_id TEXT NOT NULL, method TEXT NOT NULL, route TEXT, cluster TEXT, server TEXT,
                type TEXT NOT NULL, details TEXT, status INTEGER NOT NULL, connect_ms REAL, header_ms REAL,
                total_ms REAL NOT NULL, attempts INTEGER NOT NULL)
                """)
            _ = try await connection.query("CREATE INDEX IF NOT EXISTS errors_time ON errors(time_ms)")
            _ = try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS incidents (id TEXT PRIMARY KEY, cluster TEXT NOT NULL,
                start_ms INTEGER NOT NULL, end_ms INTEGER, updated_ms INTEGER NOT NULL, document TEXT NOT NULL)
                """)
            try await Self.enforceRetention(storage, on: connection)
        } catch {
            try? await connection.close()
            throw error
        }
        return IncidentStore(connection: connection, storage: storage, logger: logger, count: count)
    }

    public func errorRecorded(_ entry: GatewayErrorEntry) {
        self.enqueue(.error(entry))
    }

    public func incidentChanged(_ incident: Incident, change: IncidentChange) {
        self.enqueue(.incident(incident))
    }

    private func enqueue(_ item: Item) {
        if case .dropped = self.continuation.yield(item) { self.count(.storageDropped) }
    }

    /// Writes what is queued, then closes the database.
    public func close() async {
        self.continuation.finish()
        await self.writer.value
        try? await self.connection.close()
    }

    /// The newest `errors` errors (oldest first, as the ring takes them) and the newest `incidents`
    /// incidents (newest first), within retention.
    public func load(errors: Int, incidents: Int) async throws -> (errors: [GatewayErrorEntry], incidents: [Incident]) {
        let errorRows = try await self.connection.query(
            "SELECT * FROM errors ORDER BY id DESC LIMIT ?", [.integer(errors)])
        let incidentRows = try await self.connection.query(
            "SELECT document FROM incidents ORDER BY start_ms DESC LIMIT ?", [.integer(incidents)])
        return (
            Array(errorRows.compactMap(Self.entry).reversed()),
            incidentRows.compactMap { $0.column("document")?.string.flatMap(Self.incident) }
        )
    }

    /// Writes an incident at once (not through the queue): the interrupted ones at start.
    public func save(_ incident: Incident) async throws {
        try await Self.upsert(incident, into: self.connection)
    }

    // MARK: - SQL

    private static func insert(_ entry: GatewayErrorEntry, into connection: SQLiteConnection) async throws {
        func text(_ value: String?) -> SQLiteData { value.map { .text($0) } ?? .null }
        func real(_ value: Double?) -> SQLiteData { value.map { .float($0) } ?? .null }
        _ = try await connection.query(
            """
            INSERT INTO errors (time_ms, request_id, method, route, cluster, server, type, details, status,
            connect_ms, header_ms, total_ms, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .integer(Int(entry.timeMillis)), .text(entry.requestID), .text(entry.method), text(entry.route),
                text(entry.cluster), text(entry.server), .text(entry.type.token), text(entry.details),
                .integer(entry.status), real(entry.connectMilliseconds), real(entry.headerMilliseconds),
                .float(entry.totalMilliseconds), .integer(entry.attempts),
            ])
    }

    private static func upsert(_ incident: Incident, into connection: SQLiteConnection) async throws {
        _ = try await connection.query(
            """
            INSERT INTO incidents (id, cluster, start_ms, end_ms, updated_ms, document) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(id) DO UPDATE SET end_ms = excluded.end_ms, updated_ms = excluded.updated_ms,
            document = excluded.document
            """,
            [
                .text(incident.id), .text(incident.cluster), .integer(Int(incident.startMillis)),
                incident.endMillis.map { .integer(Int($0)) } ?? .null, .integer(Int(incident.updatedMillis)),
                .text(IncidentJSON.incident(incident)),
            ])
    }

    static func enforceRetention(_ storage: Storage, on connection: SQLiteConnection) async throws {
        let cutoff = IncidentMonitor.wallMillis() - Int64(storage.retention.components.seconds) * 1000
        _ = try await connection.query("DELETE FROM errors WHERE time_ms < ?", [.integer(Int(cutoff))])
        _ = try await connection.query(
            "DELETE FROM errors WHERE id <= (SELECT MAX(id) FROM errors) - ?", [.integer(storage.maxErrors)])
        _ = try await connection.query(
            "DELETE FROM incidents WHERE end_ms IS NOT NULL AND end_ms < ?", [.integer(Int(cutoff))])
    }

    // MARK: - Rows

    static func entry(_ row: SQLiteRow) -> GatewayErrorEntry? {
        guard let time = row.column("time_ms")?.integer, let requestID = row.column("request_id")?.string,
            let method = row.column("method")?.string, let token = row.column("type")?.string,
            let type = ProxyStatusError(rawValue: token), let status = row.column("status")?.integer
        else { return nil }
        func text(_ name: String) -> String? { row.column(name)?.string }
        func real(_ name: String) -> Double? { row.column(name).flatMap { $0.isNull ? nil : $0.double } }
        return GatewayErrorEntry(
            timeMillis: Int64(time), requestID: requestID, method: method, route: text("route"), cluster: text("cluster"),
            server: text("server"), type: type, details: text("details"), status: status,
            connectMilliseconds: real("connect_ms"), headerMilliseconds: real("header_ms"),
            totalMilliseconds: real("total_ms") ?? 0, attempts: row.column("attempts")?.integer ?? 1)
    }

    /// An incident from its stored document (the `/admin/incidents` JSON of it).
    static func incident(_ document: String) -> Incident? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(document.utf8)) as? [String: Any],
            let id = object["id"] as? String, let cluster = object["cluster"] as? String,
            let start = Self.number(object["start_ms"]).map(Int64.init)
        else { return nil }
        func int(_ key: String) -> Int { Self.number(object[key]).map { Int($0) } ?? 0 }
        func double(_ value: Any?) -> Double { Self.number(value) ?? 0 }
        var byType: [ProxyStatusError: Int] = [:]
        for (token, count) in object["errors_by_type"] as? [String: Any] ?? [:] {
            if let type = ProxyStatusError(rawValue: token) { byType[type] = Self.number(count).map { Int($0) } ?? 0 }
        }
        var byServer: [String: Int] = [:]
        for item in object["servers"] as? [[String: Any]] ?? [] {
            if let server = item["server"] as? String { byServer[server] = Self.number(item["errors"]).map { Int($0) } ?? 0 }
        }
        var spike: Incident.Spike?
        if let fields = object["spike"] as? [String: Any] {
            spike = Incident.Spike(
                factor: double(fields["factor"]), baselinePerSecond: double(fields["baseline_per_second"]),
                peakPerSecond: double(fields["peak_per_second"]),
                topClients: (fields["top_clients"] as? [[String: Any]] ?? []).compactMap { client in
                    (client["address"] as? String).map {
                        ClientCount(address: $0, requests: Self.number(client["requests"]).map { Int($0) } ?? 0)
                    }
                })
        }
        return Incident(
            id: id, cluster: cluster, startMillis: start, endMillis: Self.number(object["end_ms"]).map(Int64.init),
            updatedMillis: Self.number(object["updated_ms"]).map(Int64.init) ?? start, requests: int("requests"),
            errors: int("errors"), errorsByType: byType, errorsByServer: byServer,
            sampleRequestIDs: object["sample_request_ids"] as? [String] ?? [], peakRatio: double(object["peak_ratio"]),
            spike: spike, interrupted: object["interrupted"] as? Bool ?? false)
    }

    /// A JSON number as Foundation hands it (Int, Double or NSNumber, by platform).
    private static func number(_ value: Any?) -> Double? {
        switch value {
        case let int as Int: return Double(int)
        case let double as Double: return double
        case let number as NSNumber: return number.doubleValue
        default: return nil
        }
    }
}
