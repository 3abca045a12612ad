/// The dashboard's Lab tab talks to `gatehouse lab` through this: the admin server hands it every
/// request under `/admin/lab` (after the token check). GatehouseCore cannot depend on the lab (the
/// lab runs gateways), so the command that starts the admin server injects an implementation.
public protocol AdminLabProvider: Sendable {
    /// Answers `METHOD /admin/lab/REST…`; `rest` is the path after `/admin/lab`, decoded.
    func handle(method: String, rest: [String]) async -> AdminAnswer
}
