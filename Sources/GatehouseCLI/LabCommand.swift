import ArgumentParser
import Dispatch
import GatehouseLab

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `gatehouse lab`: the troubleshooting maze, played with real tools against a real broken gateway.
struct Lab: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The troubleshooting maze: diagnose and fix a real broken gateway with real tools.",
        discussion: """
            Each scenario starts a real Gatehouse (its YAML file, error log and access log in a temporary \
            directory) in front of real upstreams on 127.0.0.1, with one fault planted. You see the symptom \
            (a real request), then pick moves: read the error log, run doctor, check the config, look at the \
            dashboard, restart the upstream, edit a setting (the gateway reloads the file), contact the \
            hosting provider, wait, retry the request. Wrong moves cost time. You win when the cause is \
            fixed and a real request succeeds.
            Keys: a number picks a move; arrow keys and Enter work too; q or Ctrl-C quits.
            Scripted: --moves 1,6.2,9 plays moves 1, edit 2 and 9 (exit 0 on a win, 1 otherwise).
            """)

    @Argument(help: "The scenario (see --list).")
    var scenario: String?

    @Flag(help: "List the scenarios.")
    var list = false

    @Option(help: ArgumentHelp("Play these moves and print the transcript (e.g. 1,6.2,9; 6.N is edit N).", valueName: "moves"))
    var moves: String?

    @Option(help: ArgumentHelp("Also write the plain transcript to this file when the game ends.", valueName: "path"))
    var transcript: String?

    func run() async throws {
        if self.list || self.scenario == nil {
            var text = "Scenarios (gatehouse lab NAME):\n"
            let width = LabCatalogue.all.map(\.id.count).max() ?? 0
            for scenario in LabCatalogue.all {
                text += "  " + scenario.id + String(repeating: " ", count: width - scenario.id.count + 2) + scenario.title + "\n"
            }
            writeOutput(text)
            if !self.list { throw ExitCode(2) }
            return
        }
        guard let id = self.scenario, let scenario = LabCatalogue.scenario(id) else {
            printError("gatehouse lab: no scenario '\(self.scenario ?? "")'; see gatehouse lab --list")
            throw ExitCode(2)
        }
        var scripted: [LabMove]?
        if let moves = self.moves {
            var parsed: [LabMove] = []
            for item in moves.split(separator: ",") {
                guard let move = LabMove.parse(item, edits: scenario.edits.count) else {
                    printError(
                        "gatehouse lab: '\(item)' is not a move: use 1-9 or 0, and 6.N (N = 1…\(scenario.edits.count)) for an edit")
                    throw ExitCode(2)
                }
                parsed.append(move)
            }
            scripted = parsed
        }
        let style = LabStyle(color: isatty(STDOUT_FILENO) == 1 && getenv("NO_COLOR") == nil)
        writeOutput("Starting the scenario (a gateway and its upstreams on 127.0.0.1)…\n")
        let session: LabSession
        do {
            session = try await LabSession.start(scenario)
        } catch {
            printError("gatehouse lab: cannot start the scenario: \(error)")
            throw ExitCode(1)
        }
        let opening = await session.opening
        let title = opening.prefix { $0 != "\n" }
        writeOutput(style.bold(String(title)) + opening.dropFirst(title.count) + "\n")
        let won: Bool
        if let scripted {
            won = await Self.playScripted(session, scripted, style: style)
        } else {
            won = await LabTerminal(session: session, style: style).play()
        }
        if let path = self.transcript { Self.save(await session.transcript(), to: path) }
        await session.stop()
        if !won { throw ExitCode(1) }
    }

    static func playScripted(_ session: LabSession, _ moves: [LabMove], style: LabStyle) async -> Bool {
        for move in moves {
            guard await session.game.status == .playing else {
                writeOutput("(the game is over: the remaining moves are not played)\n")
                break
            }
            let step = await session.play(move)
            writeOutput("\n" + style.step(step) + "\n")
        }
        let game = await session.game
        writeOutput("\n" + style.end(await session.endScreen(), won: game.status == .won) + "\n")
        return game.status == .won
    }

    static func save(_ text: String, to path: String) {
        guard let file = fopen(path, "w") else {
            printError("gatehouse lab: cannot write \(path): \(String(cString: strerror(errno)))")
            return
        }
        fputs(text, file)
        fclose(file)
    }
}

/// Escape codes only when writing to a terminal and NO_COLOR is unset.
struct LabStyle {
    let color: Bool

    func bold(_ text: String) -> String { self.color ? "\u{1B}[1m\(text)\u{1B}[0m" : text }
    func dim(_ text: String) -> String { self.color ? "\u{1B}[2m\(text)\u{1B}[0m" : text }
    func reverse(_ text: String) -> String { self.color ? "\u{1B}[7m\(text)\u{1B}[0m" : text }
    func green(_ text: String) -> String { self.color ? "\u{1B}[32m\(text)\u{1B}[0m" : text }
    func red(_ text: String) -> String { self.color ? "\u{1B}[31m\(text)\u{1B}[0m" : text }

    func step(_ step: LabSession.Step) -> String {
        let text = LabSession.render(step)
        guard self.color else { return text }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if !lines.isEmpty { lines[0] = self.bold(lines[0]) }
        if let last = lines.indices.last, lines[last].hasPrefix("» ") {
            lines[last] = step.status == .won ? self.green(lines[last]) : self.bold(lines[last])
        }
        return lines.joined(separator: "\n")
    }

    func end(_ text: String, won: Bool) -> String {
        guard self.color else { return text }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if !lines.isEmpty { lines[0] = won ? self.green(self.bold(lines[0])) : self.red(self.bold(lines[0])) }
        return lines.joined(separator: "\n")
    }
}

/// The terminal's settings before raw mode, restored on every way out (normal end, q, Ctrl-C,
/// SIGINT/SIGTERM from outside). A signal handler cannot reach an actor, hence a global.
nonisolated(unsafe) private var savedTerminal: termios?

private func restoreTerminal() {
    if var saved = savedTerminal { tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved) }
}

/// The interactive game: a menu picked with numbers, or arrow keys and Enter.
struct LabTerminal {
    let session: LabSession
    let style: LabStyle

    enum Key: Equatable {
        case digit(Int)
        case up, down, enter, quit, other
    }

    func play() async -> Bool {
        let interactive = isatty(STDIN_FILENO) == 1
        if interactive { self.enterRawMode() }
        defer { if interactive { restoreTerminal() } }
        while await self.session.game.status == .playing {
            guard let move = await self.choose(interactive: interactive) else {
                _ = await self.session.play(.giveUp)
                break
            }
            writeOutput(self.style.dim("… running: \(move.title(in: await self.session.game.scenario))") + "\n")
            let step = await self.session.play(move)
            writeOutput("\n" + self.style.step(step) + "\n")
        }
        let game = await self.session.game
        writeOutput("\n" + self.style.end(await self.session.endScreen(), won: game.status == .won) + "\n")
        return game.status == .won
    }

    private func enterRawMode() {
        var settings = termios()
        guard tcgetattr(STDIN_FILENO, &settings) == 0 else { return }
        savedTerminal = settings
        for number in [SIGINT, SIGTERM, SIGHUP] {
            signal(number) { received in
                restoreTerminal()
                _exit(128 + received)
            }
        }
        var raw = settings
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO | ISIG)
        raw.c_iflag &= ~tcflag_t(IXON | ICRNL)
        withUnsafeMutablePointer(to: &raw.c_cc) { pointer in
            pointer.withMemoryRebound(to: cc_t.self, capacity: Int(NCCS)) { cc in
                cc[Int(VMIN)] = 1
                cc[Int(VTIME)] = 0
            }
        }
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw)
    }

    /// Shows the menu (and the edit submenu) and returns the move picked; nil = quit.
    private func choose(interactive: Bool) async -> LabMove? {
        let entries = LabMove.menu.map { "\($0.number). \($0.title)" }
        guard let picked = await self.pick(title: "What do you do?", entries: entries, numbers: LabMove.menu.map(\.number), interactive: interactive)
        else { return nil }
        if picked == 6 {
            let labels = await self.session.editLabels()
            let entries = labels.enumerated().map { "\($0.offset + 1). \($0.element)" } + ["0. Back"]
            guard let edit = await self.pick(
                title: "Which setting do you change?", entries: entries, numbers: Array(1...labels.count) + [0], interactive: interactive),
                edit != 0
            else { return await self.choose(interactive: interactive) }
            return .edit(edit - 1)
        }
        return LabMove.parse(String(picked), edits: 0)
    }

    /// A menu: digits pick at once; ↑/↓ move the selection and Enter picks it. Without a terminal,
    /// one number per line is read.
    private func pick(title: String, entries: [String], numbers: [Int], interactive: Bool) async -> Int? {
        var selected = 0
        let minutes = await self.session.game.minutes
        writeOutput("\n" + self.style.bold("\(title)  [\(minutes) min so far]") + "\n")
        func draw() {
            var text = ""
            for (index, entry) in entries.enumerated() {
                text += (index == selected ? self.style.reverse("> " + entry) : "  " + entry) + "\n"
            }
            writeOutput(text)
        }
        draw()
        writeOutput(interactive ? "(number, or ↑/↓ and Enter; q quits) " : "Move number: ")
        while true {
            guard let key = await Self.readKey(interactive: interactive) else { return nil }
            switch key {
            case .digit(let number) where numbers.contains(number):
                writeOutput("\(number)\n")
                return number
            case .up, .down:
                selected = (selected + (key == .up ? entries.count - 1 : 1)) % entries.count
                if self.style.color {
                    // Back to the menu's first line, then draw it again in place.
                    writeOutput("\r\u{1B}[\(entries.count)A")
                    draw()
                    writeOutput("(number, or ↑/↓ and Enter; q quits) ")
                } else {
                    writeOutput("\n")
                    draw()
                }
            case .enter:
                writeOutput("\(numbers[selected])\n")
                return numbers[selected]
            case .quit:
                writeOutput("\n")
                return nil
            default:
                continue
            }
        }
    }

    /// One key (raw mode) or one line (not a terminal); nil at the end of input.
    static func readKey(interactive: Bool) async -> Key? {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: interactive ? Self.readRawKey() : Self.readLineKey())
            }
        }
    }

    private static func readByte() -> UInt8? {
        var byte: UInt8 = 0
        while true {
            let count = read(STDIN_FILENO, &byte, 1)
            if count == 1 { return byte }
            if count < 0 && errno == EINTR { continue }
            return nil
        }
    }

    private static func readRawKey() -> Key? {
        guard let byte = readByte() else { return nil }
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return .digit(Int(byte - UInt8(ascii: "0")))
        case 13, 10: return .enter
        case 3, 4, UInt8(ascii: "q"): return .quit
        case UInt8(ascii: "k"): return .up
        case UInt8(ascii: "j"): return .down
        case 27:
            // ESC [ A / ESC [ B (or ESC O A in application mode).
            guard let next = readByte(), next == UInt8(ascii: "[") || next == UInt8(ascii: "O"), let final = readByte() else {
                return .other
            }
            if final == UInt8(ascii: "A") { return .up }
            if final == UInt8(ascii: "B") { return .down }
            return .other
        default: return .other
        }
    }

    private static func readLineKey() -> Key? {
        guard let line = readLine() else { return nil }
        let text = String(line.filter { !$0.isWhitespace })
        if text == "q" { return .quit }
        if let number = Int(text) { return .digit(number) }
        return text.isEmpty ? .enter : .other
    }
}
