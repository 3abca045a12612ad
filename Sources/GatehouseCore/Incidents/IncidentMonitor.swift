import GatehouseConfig
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs an ``IncidentDetector`` per cluster on a timer of its own (every `alerts.incident.interval`),
/// fed with the cumulative per-cluster counters of ``GatewayStats``; keeps the open and recently
/// closed incidents for `/admin/incidents` and hands every change to the sinks (store, webhooks).
/// The same readings feed each cluster's ``Timeline`` (the dashboard's charts, `/admin/timeline`).
///
/// Control plane only: the data path never waits on it; the one thing it sets for the data path is
/// the ``ClientWatch`` flag while a spike is suspected.
public final class IncidentMonitor: Sendable {
    /// Closed incidents kept in memory (the store keeps more).
    public static let closedLimit = 100

    private struct State {
        var detectors: [String: IncidentDetector] = [:]
        var timelines: [String: Timeline] = [:]
        var closed: [Incident] = []
        var sinks: [any IncidentSink] = []
        var timer: Scheduled<Void>?
        var running = false
    }

    private let state = Mutex(State())
    private let stats: GatewayStats
    private let configuration: @Sendable () -> GatehouseConfiguration

    /// - Parameter configuration: the running configuration (read at each tick, so a reload's
    ///   settings apply at the next one).
    public init(stats: GatewayStats, configuration: @escaping @Sendable () -> GatehouseConfiguration) {
        self.stats = stats
        self.configuration = configuration
    }

    /// Adds a sink for errors and incident changes (before ``start(on:)``; the CLI attaches the
    /// store and the webhooks).
    public func attach(_ sink: any IncidentSink) {
        self.state.withLock { $0.sinks.append(sink) }
        self.stats.errors.attach(sink)
    }

    /// Incidents from before a restart. One still open then is closed at its last update and
    /// marked interrupted: nobody knows how it ended.
    public func restore(_ incidents: [Incident]) -> [Incident] {
        let restored = incidents.map { incident -> Incident in
            guard incident.isOpen else { return incident }
            var closed = incident
            closed.endMillis = incident.updatedMillis
            closed.interrupted = true
            return closed
        }
        self.state.withLock { state in
            state.closed = Array((state.closed + restored).sorted { $0.startMillis > $1.startMillis }.prefix(Self.closedLimit))
        }
        return restored.filter(\.interrupted)
    }

    /// Ticks on `loop` until ``stop()``.
    public func start(on loop: any EventLoop) {
        self.state.withLock { $0.running = true }
        self.schedule(on: loop)
    }

    public func stop() {
        self.state.withLock { state in
            state.running = false
            state.timer?.cancel()
            state.timer = nil
        }
        self.stats.clients.watch(false)
    }

    private func schedule(on loop: any EventLoop) {
        let interval = TimeAmount(self.configuration().alerts.incident.interval)
        self.state.withLock { state in
            guard state.running else { return }
            state.timer = loop.scheduleTask(in: interval) { [self] in
                self.tick()
                self.schedule(on: loop)
            }
        }
    }

    /// Reads the counters and feeds every cluster's detector once (the timer calls it; tests may too).
    public func tick(now: Int64 = Int64(NIODeadline.now().uptimeNanoseconds), wallMillis: Int64 = IncidentMonitor.wallMillis()) {
        let configuration = self.configuration()
        let settings = configuration.alerts.incident
        let counters = self.stats.clusterCounters()
        let clients = self.stats.clients.isWatching ? self.stats.clients.top(5) : []
        let (changes, sinks, suspected) = self.state.withLock { state -> ([(Incident, IncidentChange)], [any IncidentSink], Bool) in
            var changes: [(Incident, IncidentChange)] = []
            for cluster in configuration.clusters {
                var detector = state.detectors[cluster.name] ?? IncidentDetector(cluster: cluster.name, settings: settings)
                detector.settings = settings
                let reading = IncidentDetector.Reading(
                    now: now, wallMillis: wallMillis, counters: counters[cluster.name] ?? ClusterCounters(), topClients: clients)
                switch detector.observe(reading) {
                case .opened?:
                    if let incident = detector.open { changes.append((incident, .opened)) }
                case .updated?:
                    if let incident = detector.open { changes.append((incident, .updated)) }
                case .resolved?:
                    if let incident = detector.resolved {
                        changes.append((incident, .resolved))
                        state.closed.insert(incident, at: 0)
                        if state.closed.count > Self.closedLimit { state.closed.removeLast() }
                    }
                case nil:
                    break
                }
                state.detectors[cluster.name] = detector
                state.timelines[cluster.name, default: Timeline()].observe(
                    counters[cluster.name] ?? ClusterCounters(), wallMillis: wallMillis)
            }
            // A cluster removed by a reload: its open incident is resolved now, not left open forever.
            let names = Set(configuration.clusters.map(\.name))
            for (name, detector) in state.detectors where !names.contains(name) {
                if var incident = detector.open {
                    incident.endMillis = wallMillis
                    incident.updatedMillis = wallMillis
                    changes.append((incident, .resolved))
                    state.closed.insert(incident, at: 0)
                }
                state.detectors[name] = nil
            }
            for name in state.timelines.keys where !names.contains(name) { state.timelines[name] = nil }
            return (changes, state.sinks, state.detectors.values.contains { $0.spikeSuspected })
        }
        self.stats.clients.watch(suspected && settings.spikeFactor > 0)
        for (incident, change) in changes {
            for sink in sinks { sink.incidentChanged(incident, change: change) }
        }
    }

    /// Open incidents first (newest first), then the recently closed ones.
    public func incidents() -> [Incident] {
        self.state.withLock { state in
            state.detectors.values.compactMap(\.open).sorted { $0.startMillis > $1.startMillis } + state.closed
        }
    }

    /// Every configured cluster's timeline, in configuration order (a cluster not ticked yet is empty).
    public func timelines() -> [(name: String, timeline: Timeline)] {
        let names = self.configuration().clusters.map(\.name)
        let timelines = self.state.withLock { $0.timelines }
        return names.map { ($0, timelines[$0] ?? Timeline()) }
    }

    public static func wallMillis() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
