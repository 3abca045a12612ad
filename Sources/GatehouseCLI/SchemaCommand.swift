import ArgumentParser
import GatehouseConfig

/// `gatehouse schema`: the JSON Schema of the configuration file, made from the parser's key tables.
struct Schema: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the JSON Schema of the configuration file, for editors.",
        discussion: """
            The schema is generated from the same key tables the parser uses. The repository ships it as \
            schema/gatehouse.schema.json and schema/monitor.schema.json; with the YAML language server \
            (VS Code's YAML extension), a first line '# yaml-language-server: $schema=PATH' gives \
            completion, hover text and validation.
            """)

    @Flag(help: "The schema of a monitor file (gatehouse monitor -c) instead.")
    var monitor = false

    func run() {
        writeOutput(self.monitor ? ConfigSchema.monitor : ConfigSchema.gatehouse)
    }
}
