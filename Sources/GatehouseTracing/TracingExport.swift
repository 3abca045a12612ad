import GatehouseConfig
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// The export of the gateway's spans over OTLP/HTTP (swift-otel): a tracer instance for
/// `ProxyServer(tracer:)` and the background work behind it (batching, export), which this object
/// runs and stops. The data path only knows the swift-distributed-tracing API; this is the one
/// place that knows OpenTelemetry.
///
/// Nothing process-global is touched (no `InstrumentationSystem.bootstrap`), so several gateways
/// in one process each export to their own collector. swift-otel reads the standard `OTEL_*`
/// environment variables on top of the configuration (an operator's override, as in every SDK).
public final class TracingExporter: Sendable {
    /// Makes spans; hand it to the proxy.
    public let tracer: any Tracer
    /// Where spans go, for the startup line.
    public let endpoint: String
    public let configuration: TracingConfiguration
    private let group: ServiceGroup
    private let task: Task<Void, Never>

    /// Builds the exporter, the batch processor and the tracer, and starts their background work.
    ///
    /// - Parameter logger: swift-otel's diagnostics (failed exports, dropped spans) go here, at
    ///   warning level and above.
    /// - Throws: swift-otel's refusal of the configuration (e.g. a TLS file that does not exist).
    public init(configuration: TracingConfiguration, logger: Logger) throws {
        let (tracer, service) = try Self.makeBackend(configuration, logger: logger)
        self.tracer = tracer
        self.endpoint = configuration.endpoint
        self.configuration = configuration
        // A group of our own, without signal handling: it exists to be shut down gracefully (which
        // makes the batch processor flush), by ``shutdown()``.
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [service], logger: logger))
        self.group = group
        self.task = Task {
            do {
                try await group.run()
            } catch {
                logger.error("tracing export stopped: \(error)", metadata: ["event": "tracing_stopped"])
            }
        }
    }

    /// Exports the spans still batched (within the export timeout), then stops. Spans ended after
    /// this are dropped, so stop the proxy first.
    public func shutdown() async {
        await self.group.triggerGracefulShutdown()
        await self.task.value
    }

    /// One line for the log: where spans go and how many.
    public var summary: String {
        let ratio = self.configuration.sampleRatio
        let share = ratio == 1 ? "every request" : ratio == 0 ? "only requests whose caller sampled them" : "\(ratio * 100)% of new traces"
        return "tracing: spans of \(share) to \(self.endpoint) (OTLP \(self.configuration.exportProtocol.rawValue))"
    }

    /// swift-otel's tracer and the service that exports what it records (not started).
    static func makeBackend(
        _ configuration: TracingConfiguration, logger: Logger
    ) throws -> (tracer: any Tracer, service: any Service) {
        let (tracer, service) = try OTel.makeTracingBackend(configuration: Self.otelConfiguration(configuration, logger: logger))
        return (tracer, service)
    }

    /// The swift-otel configuration for our section: traces only, W3C Trace Context, parent-based
    /// ratio sampling.
    static func otelConfiguration(_ tracing: TracingConfiguration, logger: Logger) -> OTel.Configuration {
        var configuration = OTel.Configuration.default
        configuration.serviceName = tracing.serviceName
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        configuration.propagators = [.traceContext]
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        configuration.traces.enabled = true
        // Parent-based: a caller's sampled flag decides; the ratio applies to new traces only. The
        // ratio is checked by the config reader, so the fallback is never taken.
        configuration.traces.sampler = .parentBasedTraceIDRatio(ratio: tracing.sampleRatio) ?? .parentBasedAlwaysOn
        configuration.traces.batchSpanProcessor.scheduleDelay = tracing.scheduleDelay
        configuration.traces.batchSpanProcessor.exportTimeout = tracing.timeout
        configuration.traces.batchSpanProcessor.maxQueueSize = tracing.maxQueueSize
        configuration.traces.batchSpanProcessor.maxExportBatchSize = min(512, tracing.maxQueueSize)
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.endpoint = tracing.endpoint
        switch tracing.exportProtocol {
        case .httpProtobuf: configuration.traces.otlpExporter.protocol = .httpProtobuf
        }
        configuration.traces.otlpExporter.timeout = tracing.timeout
        configuration.traces.otlpExporter.headers = tracing.headers.map { ($0.name, $0.value) }
        return configuration
    }
}
