import GatehouseConfig
import Testing

/// The top-level `cache` store and the per-route `cache` (#8): defaults, every key read, mistakes
/// named at their `file:line:column`, and reload diffs.
@Suite struct CacheConfigTests {
    @Test func absentMeansNoRouteCachesAndTheStoreHasItsDefaults() throws {
        let parsed = try #require(parseValid(minimalConfig))
        #expect(parsed.routes[0].cache == nil)
        #expect(parsed.cache == CacheStorage(maxBytes: 64 * 1024 * 1024, maxObjectBytes: 1024 * 1024))
    }

    @Test func trueTakesTheDefaultsAndFalseTurnsItOff() throws {
        let on = try #require(parseValid(minimalConfig + "\n    cache: true"))
        #expect(on.routes[0].cache == RouteCache())
        #expect(on.routes[0].cache?.staleIfError == .seconds(300))
        let off = try #require(parseValid(minimalConfig + "\n    cache: false"))
        #expect(off.routes[0].cache == nil)
    }

    @Test func everyKeyIsRead() throws {
        let yaml =
            minimalConfig + """

                    cache: { stale_if_error: 10m, stale_while_revalidate: 30s, coalesce_timeout: 2s }
                cache:
                  max_bytes: 16MiB
                  max_object_bytes: 256KiB
                """
        let parsed = try #require(parseValid(yaml))
        #expect(
            parsed.routes[0].cache
                == RouteCache(staleIfError: .seconds(600), staleWhileRevalidate: .seconds(30), coalesceTimeout: .seconds(2)))
        #expect(parsed.cache == CacheStorage(maxBytes: 16 * 1024 * 1024, maxObjectBytes: 256 * 1024))
    }

    @Test func mistakesAreNamedWhereTheyAre() {
        let typo = diagnostics(minimalConfig + "\n    cache: { stale_if_eror: 1m }")
        #expect(typo.count == 1)
        #expect(typo.first?.hasPrefix("g.yaml:10:") == true)
        #expect(typo.first?.contains("stale_if_error") == true)
        let word = diagnostics(minimalConfig + "\n    cache: sometimes")
        #expect(word.first?.hasPrefix("g.yaml:10:12:") == true)
        let duration = diagnostics(minimalConfig + "\n    cache: { stale_if_error: forever }")
        #expect(duration.first?.hasPrefix("g.yaml:10:") == true)
        #expect(duration.first?.contains("invalid duration 'forever'") == true)
        let budget = diagnostics(minimalConfig + "\ncache: { max_bytes: 100 }")
        #expect(budget.first?.hasPrefix("g.yaml:10:21:") == true)
    }

    @Test func theReloadDiffSaysWhatChanged() throws {
        let before = try #require(parseValid(minimalConfig))
        let after = try #require(parseValid(minimalConfig + "\n    cache: true\ncache: { max_bytes: 1MiB }"))
        let changes = ConfigurationDiff.changes(before, after)
        #expect(changes.contains("route routes[0] changed"))
        #expect(changes.contains("cache: store limits changed"))
    }
}
