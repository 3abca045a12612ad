import Testing

@testable import GatehouseCore

extension HealthTests {
    @Suite("PanicMode")
    struct PanicModeTests {
        @Test(arguments: [
            (1, 3, 50, true),
            (2, 3, 50, false),
            (1, 2, 50, false),
            (0, 1, 50, true),
            (0, 3, 1, true),
            (3, 3, 100, false),
            (2, 3, 100, true),
            (0, 3, 0, false),
            (0, 0, 50, false),
            (0, 0, 100, false),
        ])
        func engaged(healthy: Int, total: Int, thresholdPercent: Int, expected: Bool) {
            #expect(PanicMode.engaged(healthy: healthy, total: total, thresholdPercent: thresholdPercent) == expected)
        }
    }
}
