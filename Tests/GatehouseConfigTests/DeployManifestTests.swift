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

    /// The scrape job keeps exactly the Deployment's pods (by each of their labels, as Prometheus
    /// names them: `__meta_kubernetes_pod_label_` + the label with every other character as `_`) on
    /// the container port that serves the admin listener, where `/metrics` is.
    @Test func kubernetesScrapeJobFindsTheDeploymentsAdminPort() throws {
        let scrape = try Self.manifest("deploy/kubernetes/prometheus-scrape.yaml")
        let job = try #require((scrape["scrape_configs"] as? [[String: Any]])?.first)
        #expect(job["metrics_path"] as? String == "/metrics")
        #expect((job["authorization"] as? [String: Any])?["credentials_file"] != nil)
        let keeps = (job["relabel_configs"] as? [[String: Any]] ?? []).filter { $0["action"] as? String == "keep" }
        func kept(_ label: String) -> String? {
            keeps.first { ($0["source_labels"] as? [String])?.first == label }?["regex"] as? String
        }
        let deployment = try Self.manifest("deploy/kubernetes/deployment.yaml")
        let template = try #require((deployment["spec"] as? [String: Any])?["template"] as? [String: Any])
        let labels = (template["metadata"] as? [String: Any])?["labels"] as? [String: String]
        let podLabels = try #require(labels)
        let selecting = keeps.compactMap { ($0["source_labels"] as? [String])?.first }
            .filter { $0.hasPrefix("__meta_kubernetes_pod_label_") }
        #expect(!selecting.isEmpty)
        for meta in selecting {
            let match = podLabels.first { name, _ in
                "__meta_kubernetes_pod_label_" + String(name.map { $0.isLetter || $0.isNumber ? $0 : "_" }) == meta
            }
            #expect(match != nil && kept(meta) == match?.value, "\(meta) selects no label of the Deployment's pods")
        }
        let container = try #require(((template["spec"] as? [String: Any])?["containers"] as? [[String: Any]])?.first)
        let ports = container["ports"] as? [[String: Any]] ?? []
        let portName = try #require(kept("__meta_kubernetes_pod_container_port_name"))
        let port = try #require(ports.first { $0["name"] as? String == portName }?["containerPort"] as? Int)
        let map = try Self.manifest("deploy/kubernetes/configmap.yaml")
        let yaml = try #require((map["data"] as? [String: Any])?["gatehouse.yaml"] as? String)
        let configuration = try ConfigurationLoader.parse(yaml: yaml, file: "configmap.yaml")
        #expect(configuration.admin?.address.port == port)
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
