import GatehouseConfig
import NIOCore
import NIOHTTP1
import Testing

@testable import GatehouseCore

/// The store as a value: variants by Vary, the byte budget, least-recently-used eviction.
@Suite struct CacheStoreTests {
    static func response(bytes: Int, vary: [(String, String)] = [], request: [(String, String)] = []) -> CachedResponse {
        var fields = [("Cache-Control", "max-age=60")]
        if !vary.isEmpty { fields += vary }
        return CachePolicy.entry(
            request: HTTPHeaders(request), status: .ok, response: HTTPHeaders(fields),
            body: ByteBuffer(repeating: 0x61, count: bytes), requestTime: 0, responseTime: 0,
            route: RouteCache())
    }

    @Test func aLookupFindsTheVariantTheRequestSelects() {
        var store = CacheStore(maxBytes: 1 << 20, maxObjectBytes: 1 << 16)
        let vary = [("Vary", "Accept-Language")]
        store.insert("k", Self.response(bytes: 10, vary: vary, request: [("Accept-Language", "fr")]))
        store.insert("k", Self.response(bytes: 20, vary: vary, request: [("Accept-Language", "de")]))
        #expect(store.count == 2)
        #expect(store.lookup("k", request: HTTPHeaders([("Accept-Language", "de")]))?.response.body.readableBytes == 20)
        #expect(store.lookup("k", request: HTTPHeaders([("Accept-Language", "fr")]))?.response.body.readableBytes == 10)
        #expect(store.lookup("k", request: HTTPHeaders([("Accept-Language", "en")])) == nil)
        #expect(store.lookup("other", request: HTTPHeaders()) == nil)
        // The same selecting values replace their variant.
        store.insert("k", Self.response(bytes: 30, vary: vary, request: [("Accept-Language", "fr")]))
        #expect(store.count == 2)
        #expect(store.lookup("k", request: HTTPHeaders([("Accept-Language", "fr")]))?.response.body.readableBytes == 30)
        // A response with another Vary replaces them all.
        store.insert("k", Self.response(bytes: 5))
        #expect(store.count == 1)
    }

    @Test func theBudgetEvictsTheLeastRecentlyUsedFirst() {
        let one = Self.response(bytes: 1000)
        let size = one.size + 1
        var store = CacheStore(maxBytes: size * 3, maxObjectBytes: 4096)
        store.insert("a", one)
        store.insert("b", one)
        store.insert("c", one)
        #expect(store.count == 3)
        // `a` is used, so `b` is now the least recently used.
        #expect(store.lookup("a", request: HTTPHeaders()) != nil)
        store.insert("d", one)
        #expect(store.count == 3)
        #expect(store.bytes <= store.maxBytes)
        #expect(store.evictions == 1)
        #expect(store.lookup("b", request: HTTPHeaders()) == nil)
        #expect(store.lookup("a", request: HTTPHeaders()) != nil)
        #expect(store.lookup("c", request: HTTPHeaders()) != nil)
        #expect(store.lookup("d", request: HTTPHeaders()) != nil)
        // A smaller budget (a reload) evicts at once, oldest first.
        store.setLimits(maxBytes: size, maxObjectBytes: 4096)
        #expect(store.count == 1)
        #expect(store.lookup("d", request: HTTPHeaders()) != nil)
    }

    @Test func aResponseLargerThanTheBudgetIsNotStored() {
        var store = CacheStore(maxBytes: 2000, maxObjectBytes: 4096)
        let stored = store.insert("big", Self.response(bytes: 3000))
        #expect(!stored)
        #expect(store.count == 0)
        #expect(store.bytes == 0)
    }

    @Test func replacingKeepsTheAccountsRight() {
        var store = CacheStore(maxBytes: 1 << 20, maxObjectBytes: 1 << 16)
        store.insert("k", Self.response(bytes: 100))
        let found = store.lookup("k", request: HTTPHeaders())
        let before = store.bytes
        store.replace(slot: found?.slot ?? -1, key: "k", with: Self.response(bytes: 300))
        #expect(store.count == 1)
        #expect(store.bytes == before + 200)
        store.removeAll("k")
        #expect(store.count == 0)
        #expect(store.bytes == 0)
        // Slots are reused after removal.
        store.insert("x", Self.response(bytes: 1))
        #expect(store.lookup("x", request: HTTPHeaders()) != nil)
    }

    @Test func manyInsertsAndLookupsKeepTheListConsistent() {
        let one = Self.response(bytes: 100)
        var store = CacheStore(maxBytes: (one.size + 3) * 50, maxObjectBytes: 4096)
        var generator = SystemRandomNumberGenerator()
        for round in 0..<2000 {
            let key = "k\(Int.random(in: 0..<120, using: &generator))"
            if round % 3 == 0 {
                _ = store.lookup(key, request: HTTPHeaders())
            } else {
                store.insert(key, one)
            }
            #expect(store.bytes <= store.maxBytes)
        }
        #expect(store.count <= 50)
        #expect(store.count > 0)
    }
}
