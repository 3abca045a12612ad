import GatehouseConfig
import GatehouseErrors
import Logging

extension ProxyServer {
    /// What `POST /admin/reload` and SIGHUP do (and `gatehouse lab`'s edits): re-read the file and
    /// apply it. An invalid file, or one the running gateway cannot take, changes nothing and the
    /// answer says why.
    public func reload(fromFile path: String, logger: Logger) async -> AdminAnswer {
        let configuration: GatehouseConfiguration
        do {
            configuration = try ConfigurationLoader.load(path: path)
        } catch {
            let lines = error.diagnostics.map(\.description)
            for line in lines { logger.error("reload refused: \(line)", metadata: ["event": "reload_failed"]) }
            self.metrics.countReload(success: false)
            return AdminAnswer(
                status: 400,
                json: "{\"reloaded\":false,\"errors\":[" + lines.map(JSONText.quoted).joined(separator: ",")
                    + "],\"note\":\"the running configuration stays\"}\n")
        }
        do {
            let report = try await self.reload(configuration)
            self.metrics.countReload(success: true)
            logger.notice("configuration reloaded from \(path)", metadata: ["event": "reload"])
            return AdminAnswer(
                status: 200,
                json: "{\"reloaded\":true,\"changes\":[" + report.changes.map(JSONText.quoted).joined(separator: ",") + "]}\n")
        } catch {
            logger.error("reload refused: \(error)", metadata: ["event": "reload_failed"])
            self.metrics.countReload(success: false)
            return AdminAnswer(status: 409, json: "{\"reloaded\":false,\"errors\":[\(JSONText.quoted("\(error)"))]}\n")
        }
    }
}
