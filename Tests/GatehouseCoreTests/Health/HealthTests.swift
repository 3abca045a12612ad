import NIOCore

/// Namespace for the health state machine suites (keeps their names apart from other folders' suites).
enum HealthTests {
    /// An arbitrary, non-zero origin for test clocks.
    static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
}
