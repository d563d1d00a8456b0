// What the train, sample and train-bench subcommands share: the seed/threads option group, argument
// conformances of the library enums, comma lists, the progress line (a TTY gets one line redrawn in
// place, a pipe or file gets plain lines), the JSON-lines metrics writer and the SIGINT flag.
import ArgumentParser
import Diffusion
import Foundation
import Synchronization
import VideoData

struct CommonOptions: ParsableArguments {
    @Option(help: "Seed of every random draw (training batches, masks, noise; sampling noise).")
    var seed: UInt64?

    @Option(help: "Compute threads (>= 1; more than the CPU's cores only adds switching).")
    var threads: Int = 1

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be >= 1 (got \(threads))") }
    }
}

extension Parameterization: ExpressibleByArgument {}
extension SamplerKind: ExpressibleByArgument {}
extension StartPoint: ExpressibleByArgument {}
extension Diffusion.Task: ExpressibleByArgument {}

enum ChannelsArgument: String, ExpressibleByArgument, CaseIterable {
    case gray, rgb
    var count: Int { self == .gray ? 1 : 3 }
}

/// "1,2,2" -> [1, 2, 2]; "" or "none" -> [].
func intList(_ text: String, option: String) throws -> [Int] {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    if trimmed.isEmpty || trimmed == "none" { return [] }
    return try trimmed.split(separator: ",").map {
        guard let v = Int($0.trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError("\(option): \"\(text)\" is not a comma-separated list of integers")
        }
        return v
    }
}

func stderrLine(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// The progress display: redrawn in place on a terminal, one plain line per call otherwise.
final class ProgressLine {
    let tty = isatty(STDOUT_FILENO) != 0
    private var drawn = false

    func show(_ text: String, final: Bool = false) {
        if tty {
            FileHandle.standardOutput.write(Data(("\r" + text + "\u{1B}[K" + (final ? "\n" : "")).utf8))
            drawn = !final
        } else {
            print(text)
            fflush(nil)
        }
    }

    /// A message on its own line (ends a pending in-place line first).
    func note(_ text: String) {
        if drawn { FileHandle.standardOutput.write(Data("\n".utf8)); drawn = false }
        print(text)
        fflush(nil)
    }
}

/// "1:02:03" / "4:05".
func clock(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}

/// Appends one JSON object per line to a file (created or truncated unless appending).
final class MetricsWriter {
    let handle: FileHandle

    init(path: String, append: Bool) throws {
        if !append || !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw ValidationError("cannot create metrics file \(path)")
            }
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw ValidationError("cannot open metrics file \(path)") }
        h.seekToEndOfFile()
        handle = h
    }

    /// Fields in the given order; Double values in Swift's shortest round-trip form.
    func write(_ fields: [(String, Any)]) {
        let body = fields.map { key, value -> String in
            let v: String
            switch value {
            case let d as Double: v = d.isFinite ? "\(d)" : "null"
            case let s as String: v = "\"\(s)\""
            default: v = "\(value)"
            }
            return "\"\(key)\":\(v)"
        }
        handle.write(Data(("{" + body.joined(separator: ",") + "}\n").utf8))
    }

    deinit { try? handle.close() }
}

/// Set by SIGINT/SIGTERM; the training loop checks it between steps.
let interruptRequested = Atomic<Bool>(false)

/// Installs the handler: the first signal asks the loop to stop (it saves and exits); the handler then
/// restores the default action, so a second Ctrl-C ends the process at once. The signals are unblocked
/// first: a parent (a test runner, some supervisors) may have started us with them blocked.
func installInterruptHandler() {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
    for sig in [SIGINT, SIGTERM] {
        signal(sig) { s in
            interruptRequested.store(true, ordering: .relaxed)
            signal(s, SIG_DFL)
        }
    }
}

/// How `mcvd sample` and `mcvd eval` run a model's sampler.
struct SamplingOptions: ParsableArguments {
    @Option(help: "Sampler steps (default: 1 for v models, the one-step conditional mean; 50 for eps models).")
    var steps: Int?

    @Option(help: "ddpm or ddim.")
    var sampler: SamplerKind = .ddim

    @Option(help: "DDIM eta: 0 deterministic, 1 DDPM-like noise.")
    var eta: Double = 0

    @Option(help: "Warm start strength in (0, 1]: start from the task's cheap estimate noised to this level.")
    var warmStart: Double?

    @Option(name: .customLong("initial"), help: "Where the sampler starts: noise, or zero (no noise at all; one step of a v model gives its conditional mean). Default: zero for one step of a v model, else noise.")
    var start: StartPoint?

    @Option(help: "Test-time ensemble: 1 off; 2 averages the estimate with the model's estimate of the mirrored frames; 4 also of the time-reversed ones (interpolation with k = f). For the noise-free one-step sampler; costs that many network runs. Default: 2 for interpolation by the noise-free one-step sampler of a v model, else 1.")
    var ensemble: Int?

    func validate() throws {
        if let steps, steps < 1 { throw ValidationError("--steps must be >= 1") }
        if let ensemble, ![1, 2, 4].contains(ensemble) { throw ValidationError("--ensemble must be 1, 2 or 4") }
        guard eta >= 0 else { throw ValidationError("--eta must be >= 0") }
        if let warmStart, !(warmStart > 0 && warmStart <= 1) { throw ValidationError("--warm-start must lie in (0, 1]") }
    }
}

/// The videos `mcvd train`, `eval` and `scene-cuts` read: files and folders (their files, sorted, hidden ones
/// left out) and, with --data-md, every present file of the footage list (VideoData's FootageList).
struct FootageOptions: ParsableArguments {
    @Argument(help: "Video files or folders of videos (any format GStreamer's decodebin reads).")
    var videos: [String] = []

    @Flag(help: "Add every existing video file the footage list names (docs/data.md; see --data-md-path).")
    var dataMd = false

    @Option(help: "The footage list to read with --data-md (default: ./docs/data.md, then ./DATA.md).")
    var dataMdPath: String?

    func validate() throws {
        guard !videos.isEmpty || dataMd else { throw ValidationError("give at least one video file or folder, or --data-md") }
        if dataMdPath != nil && !dataMd { throw ValidationError("--data-md-path applies to --data-md") }
    }

    /// The named videos (folders expanded), then the footage list's present files not named already; the
    /// list's summary line is printed after `prefix`.
    func paths(summaryPrefix prefix: String = "") throws -> [String] {
        var paths = try expandVideoPaths(videos)
        if dataMd {
            let list = try FootageList(path: dataMdPath)
            print(prefix + list.summary)
            paths += list.present.filter { !paths.contains($0) }
        }
        return paths
    }
}

/// Options shared by `mcvd bench` and `mcvd train-bench`: which fixture configs, which thread counts,
/// and the reference checkout that enables the PyTorch side.
struct FixtureOptions: ParsableArguments {
    @Option(help: "Comma-separated fixture case names (folders under --fixtures).")
    var cases: String = "tiny-concat,smmnist-small5,spatin"

    @Option(help: "Comma-separated thread counts (each >= 1; default 1,2; with --modes: the element's auto count, min(4, cores)).")
    var threads: String?

    @Option(help: "Path to a voletiv/mcvd-pytorch checkout; enables the PyTorch side (or env MCVD_REFERENCE).")
    var reference: String?

    @Option(help: "Folder holding <case>/model.safetensors.")
    var fixtures: String = "Tests/UNetTests/Fixtures"

    var caseList: [String] { cases.split(separator: ",").map(String.init) }
    var threadList: [Int] { (threads ?? "1,2").split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
    /// --reference, else $MCVD_REFERENCE.
    var referencePath: String? { reference ?? ProcessInfo.processInfo.environment["MCVD_REFERENCE"] }

    func validate() throws {
        guard !threadList.isEmpty, threadList.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--threads: counts >= 1") }
    }
}

/// A failure while running (not a bad argument): printed as "Error: ..." without the usage text.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
