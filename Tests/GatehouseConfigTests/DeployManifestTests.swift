import Foundation
import GatehouseConfig
import Testing
import Yams

/// The shipped deployment files parse, say what the README promises, and carry a configuration
/// that `gatehouse check` accepts.
@Suite struct DeployManifestTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func manifest(_ path: String) throws -> [String: Any] {
        let text = try String(contentsOf: Self.root.appendingPathComponent(path), encoding: .utf8)
        return try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    @Test func kubernetesDeploymentProbesReadinessAndDrains() throws {
        let deployment = try Self.manifest("deploy/kubernetes/deployment.yaml")
        #expect(deployment["kind"] as? String == "Deployment")
        let spec = try #require((deployment["spec"] as? [String: Any])?["template"] as? [String: Any])
        let pod = try #require(spec["spec"] as? [String: Any])
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        let readiness = try #require((container["readinessProbe"] as? [String: Any])?["httpGet"] as? [String: Any])
        #expect(readiness["path"] as? String == "/readyz")
        let liveness = try #require((container["livenessProbe"] as? [String: Any])?["httpGet"] as? [String: Any])
        #expect(liveness["path"] as? String == "/healthz")
        #expect((container["lifecycle"] as? [String: Any])?["preStop"] != nil)
        // The pod is given longer than the gateway's own drain, so it is never killed mid-drain.
        let args = try #require(container["args"] as? [String])
        let drainIndex = try #require(args.firstIndex(of: "--drain-timeout"))
        let drain = try #require(Int(args[drainIndex + 1]))
        let grace = try #require(pod["terminationGracePeriodSeconds"] as? Int)
        #expect(grace > drain)
        #expect(args.prefix(3) == ["run", "-c", "/etc/gatehouse/gatehouse.yaml"])
    }

    @Test func kubernetesServiceSelectsTheDeploymentsPods() throws {
        let service = try Self.manifest("deploy/kubernetes/service.yaml")
        let deployment = try Self.manifest("deploy/kubernetes/deployment.yaml")
        #expect(service["kind"] as? String == "Service")
        let selector = (service["spec"] as? [String: Any])?["selector"] as? [String: String]
        let labels =
            (((deployment["spec"] as? [String: Any])?["template"] as? [String: Any])?["metadata"] as? [String: Any])?[
                "labels"] as? [String: String]
        #expect(selector != nil && selector == labels)
    }

    @Test func kubernetesConfigMapHoldsAValidConfiguration() throws {
        let map = try Self.manifest("deploy/kubernetes/configmap.yaml")
        #expect(map["kind"] as? String == "ConfigMap")
        let yaml = try #require((map["data"] as? [String: Any])?["gatehouse.yaml"] as? String)
        let configuration = try ConfigurationLoader.parse(yaml: yaml, file: "configmap.yaml")
        // Off loopback, the admin API must be guarded by a token (the loader refuses it otherwise).
        #expect(configuration.admin?.tokenFile != nil)
        #expect(configuration.listeners.first?.address.host == "0.0.0.0")
    }

    @Test func systemdUnitReloadsWithSIGHUPAndOutlastsTheDrain() throws {
        let text = try String(
            contentsOf: Self.root.appendingPathComponent("deploy/systemd/gatehouse.service"), encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains("ExecReload=/bin/kill -HUP $MAINPID"))
        #expect(lines.contains { $0.hasPrefix("ExecStartPre=") && $0.contains(" check -c ") })
        let drain = try #require(
            lines.first { $0.hasPrefix("ExecStart=") }.flatMap { $0.split(separator: " ").last }.flatMap { Int($0) })
        let stop = try #require(
            lines.first { $0.hasPrefix("TimeoutStopSec=") }.flatMap { Int($0.dropFirst("TimeoutStopSec=".count)) })
        #expect(stop > drain)
    }
}
