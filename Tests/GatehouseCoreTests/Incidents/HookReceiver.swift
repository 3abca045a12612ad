import Foundation
import GatehouseOrigins

/// The incidents' view of the loopback webhook receiver: its URL as config text, bodies as JSON.
extension WebhookReceiver {
    var url: String { "http://127.0.0.1:\(self.port)/hook" }

    /// Bodies of the accepted (204) requests, as JSON objects, in arrival order.
    var messages: [[String: Any]] {
        self.bodies.compactMap { body in
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        }
    }

    /// The accepted messages' `kind`s.
    var kinds: [String] { self.messages.compactMap { $0["kind"] as? String } }
}
