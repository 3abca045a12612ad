// `package` (not internal) so Benchmarks/GatehouseBenchmarks can measure picks in a release build.
/// One server a loop may pick, as the health controller published it.
package struct BalancerMember: Sendable, Equatable {
    /// The endpoint's id, stable across tables.
    var id: Int
    /// The stable identity `consistent_hash` places on the Maglev table, e.g. `10.0.0.1:8080`: the same
    /// key keeps its slots across tables, which is what limits key movement when members change.
    var key: String
    /// The effective weight, ≥ 1: the configured weight × 100, scaled down during slow start. Values
    /// outside `1...BalancerTable.maximumWeight` are clamped by the table.
    var weight: Int

    package init(id: Int, key: String, weight: Int) {
        self.id = id
        self.key = key
        self.weight = weight
    }
}
