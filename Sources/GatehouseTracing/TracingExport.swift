/// Export of the gateway's spans over OTLP/HTTP (issue #7). The data path makes its spans with the
/// swift-distributed-tracing API only; this module turns them into OTLP for a collector.
enum TracingExport {}
