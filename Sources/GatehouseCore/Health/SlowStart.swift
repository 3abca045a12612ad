import NIOCore

/// Ramps a server's share of traffic up after it (re)joins, as Envoy's slow start does.
///
/// A server that has just started (or just come back from an ejection or a failed health check)
/// has cold caches, an unwarmed JIT, an empty connection pool; sending it its full share at once
/// can knock it straight back over. Its effective weight instead grows linearly from 10 % (Envoy's
/// `min_weight_percent` default) to 100 % over the cluster's `slow_start` window.
enum SlowStart {
    /// The share a ramping server starts with, in percent.
    static let minimumPercent = 10

    /// The server's effective weight, in the balancer's scale where full weight is `configured × 100`.
    /// - Parameters:
    ///   - configured: The server's configured weight.
    ///   - since: When the server (re)became healthy.
    ///   - now: The current time.
    ///   - window: The cluster's slow-start window; nil means none.
    /// - Returns: `configured × 100` scaled by 10 %…100 % along the window; never less than 1, so a
    ///   ramping server is never starved entirely (a weight of 0 would never let it warm up).
    static func weight(configured: Int, since: NIODeadline, now: NIODeadline, window: Duration?) -> Int {
        let (full, overflow) = configured.multipliedReportingOverflow(by: 100)
        let fullWeight = overflow ? Int.max : max(full, 1)
        guard let progress = self.progress(since: since, now: now, window: window) else { return fullWeight }
        let minimum = Double(Self.minimumPercent) / 100
        let share = minimum + (1 - minimum) * progress
        // Double keeps the arithmetic safe for any window length; rounding to nearest keeps the
        // binary error of 0.1 and 0.9 from turning 55 % into 54. A share that rounds up to the full
        // weight is returned as the Int itself: `Int(Double(Int.max))` would trap.
        let scaled = (Double(fullWeight) * share).rounded()
        guard scaled < Double(fullWeight) else { return fullWeight }
        return max(1, Int(scaled))
    }

    /// How far along the ramp the server is, for the admin API.
    /// - Parameters:
    ///   - since: When the server (re)became healthy.
    ///   - now: The current time.
    ///   - window: The cluster's slow-start window; nil means none.
    /// - Returns: 0…1, or nil when the server is not ramping (no window, or the window is over).
    static func progress(since: NIODeadline, now: NIODeadline, window: Duration?) -> Double? {
        guard let window else { return nil }
        let windowNanoseconds = TimeAmount(window).nanoseconds
        guard windowNanoseconds > 0 else { return nil }
        // A `since` in the future (a clock handed in out of order) counts as "just started".
        let elapsed = since < now ? (now - since).nanoseconds : 0
        guard elapsed < windowNanoseconds else { return nil }
        return Double(elapsed) / Double(windowNanoseconds)
    }
}
