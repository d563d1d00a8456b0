// The built-in default model: where it is looked for when no model file is given (the element's empty
// `model`, `mcvd sample default`, `mcvd eval --model default`, examples/ with MODEL "default"). Places,
// in order (README "The default model"), each holding a file named default.safetensors (for prediction
// forward or backward in time and for generation, default-predict.safetensors first: the model trained
// for tasks with frames missing on a side; a place without it answers with its default.safetensors):
//   1. the file $MCVD_MODEL names (when set, only it: a missing file is an error, never a silent switch);
//   2. next to the program this library runs in (the plugin .so, or the `mcvd` executable), found at run
//      time from /proc/self/maps: <dir>/gst-mcvd/, then <prefix>/share/gst-mcvd/models/ where <prefix> is
//      the folder above the last lib* folder of a library's path (<prefix>/lib/<triplet>/gstreamer-1.0/
//      libgstmcvd.so) or above an executable's folder (<prefix>/bin/mcvd);
//   3. the source tree's models/ (the checkout whose .build* folder holds that program, and the checkout
//      this file was compiled from);
//   4. /usr/local/share/gst-mcvd/models/, then /usr/share/gst-mcvd/models/.
// $MCVD_MODEL_SKIP (a comma list of plugin, executable, source, system) leaves kinds of places out: the
// tests use it so that a model file in the checkout or installed on the machine cannot answer for them.
import Diffusion
import Foundation
import Glibc

public enum DefaultModel {
    public static let fileName = "default.safetensors"
    /// The default model for prediction, forward and backward in time, and generation (the element's
    /// mode=predict with its prepend-frames, mcvdsrc, `--task predict|predict-past|generate`).
    public static let predictionFileName = "default-predict.safetensors"

    /// The files a place is looked at for, in order: a task's own default model, then the general one.
    /// Interpolation uses default.safetensors, trained last on interpolation draws only; the tasks with
    /// the frames of a side masked (or both) have their own, trained with masked sides: the interpolation
    /// model's last phase cost prediction 0.4 dB, and a model trained without masking cannot start a video
    /// from nothing (docs/default-model.md).
    public static func fileNames(for task: Task) -> [String] { task == .interpolate ? [fileName] : [predictionFileName, fileName] }
    public static let environmentVariable = "MCVD_MODEL"
    public static let skipVariable = "MCVD_MODEL_SKIP"

    /// Kinds of places, as $MCVD_MODEL_SKIP names them.
    public enum Kind: String, CaseIterable, Sendable {
        case environment = "env", plugin, executable, source, system
    }

    /// One place looked at: the file, its kind, and why it is looked at (for messages).
    public struct Place: Equatable, Sendable, CustomStringConvertible {
        public let path: String
        public let kind: Kind
        public let reason: String
        public var description: String { "\(path) (\(reason))" }
    }

    /// The facts of this run the search depends on.
    public struct Context: Sendable {
        public var environment: [String: String]
        /// The file this library's code was loaded from (a shared library such as libgstmcvd.so, or an
        /// executable that links it statically).
        public var image: String?
        /// The running executable (/proc/self/exe).
        public var executable: String?
        /// The checkout this library was compiled from.
        public var sourceRoot: String?

        public init(environment: [String: String], image: String?, executable: String?, sourceRoot: String?) {
            self.environment = environment
            self.image = image
            self.executable = executable
            self.sourceRoot = sourceRoot
        }

        public static var current: Context {
            Context(environment: ProcessInfo.processInfo.environment, image: loadedImage(),
                    executable: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")),
                    sourceRoot: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                        .deletingLastPathComponent().path)
        }
    }

    /// Every place looked at for `task`'s default model, in order, without looking (an empty MCVD_MODEL
    /// counts as unset: when set, its file is the default model of every task).
    public static func places(_ context: Context = .current, task: Task = .interpolate) -> [Place] {
        let skip = Set((context.environment[skipVariable] ?? "").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) })
        if let file = context.environment[environmentVariable], !file.isEmpty {
            return [Place(path: file, kind: .environment, reason: "\(environmentVariable)")]
        }
        var out: [Place] = []
        func add(_ dir: String, _ kind: Kind, _ reason: String) {
            for name in fileNames(for: task) {
                let p = ("\(dir)/\(name)" as NSString).standardizingPath
                guard !skip.contains(kind.rawValue), !out.contains(where: { $0.path == p }) else { continue }
                out.append(Place(path: p, kind: kind, reason: reason))
            }
        }
        let isExecutable = context.image == nil || context.image == context.executable
        let program = context.image ?? context.executable
        if let program {
            let kind: Kind = isExecutable ? .executable : .plugin
            let dir = (program as NSString).deletingLastPathComponent
            let name = "\(isExecutable ? "the executable" : "the library") \(program)"
            add("\(dir)/gst-mcvd", kind, "next to \(name)")
            if let prefix = isExecutable ? (dir as NSString).deletingLastPathComponent : libraryPrefix(dir) {
                add("\(prefix)/share/gst-mcvd/models", kind, "the install prefix of \(name)")
            }
            if let root = buildTreeRoot(dir) { add("\(root)/models", .source, "the source tree that built \(name)") }
        }
        if let root = context.sourceRoot { add("\(root)/models", .source, "the source tree MCVDKit was compiled from") }
        add("/usr/local/share/gst-mcvd/models", .system, "system-wide, /usr/local")
        add("/usr/share/gst-mcvd/models", .system, "system-wide, /usr")
        return out
    }

    /// The first place that holds a file; else an error listing every place looked at and what to do.
    public static func locate(_ context: Context = .current, task: Task = .interpolate) throws -> Place {
        let kinds = Kind.allCases.filter { $0 != .environment }.map(\.rawValue)
        for name in (context.environment[skipVariable] ?? "").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) })
        where !name.isEmpty && !kinds.contains(name) {
            throw MCVDKitError("\(skipVariable): unknown kind of place \"\(name)\" (the kinds: \(kinds.joined(separator: ", ")))")
        }
        let list = places(context, task: task)
        for p in list where isRegularFile(p.path) { return p }
        if let only = list.first, only.kind == .environment {
            throw MCVDKitError("\(environmentVariable)=\(only.path) names no file: give it an existing model file, or unset it "
                               + "to use the built-in default model")
        }
        let skipped = context.environment[skipVariable].map { " (\(skipVariable)=\($0) left some places out)" } ?? ""
        throw MCVDKitError("no default model found; looked for \(fileNames(for: task).joined(separator: " or ")) at: "
                           + list.enumerated().map { "(\($0.offset + 1)) \($0.element)" }.joined(separator: ", ") + skipped
                           + ". Give a model file instead (the element's model=FILE; mcvd train and mcvd export write them), set "
                           + "\(environmentVariable)=/path/to/model.safetensors, or install the default model (tools/install-plugin.sh)")
    }

    /// `spec` names the default model: empty or "default" (a file called default is ./default).
    public static func isDefault(_ spec: String) -> Bool { spec.isEmpty || spec == "default" }

    // MARK: the pieces

    /// <prefix> of a library folder <prefix>/lib*/...: the folder above its last lib* component.
    static func libraryPrefix(_ dir: String) -> String? {
        let parts = (dir as NSString).pathComponents
        guard let i = parts.lastIndex(where: { $0 == "lib" || $0.hasPrefix("lib64") || $0.hasPrefix("lib32") || $0 == "libx32" }),
              i > 0 else { return nil }
        return NSString.path(withComponents: Array(parts[..<i]))
    }

    /// The checkout above a SwiftPM build folder (.build, .build-static, ...), if `dir` is inside one.
    static func buildTreeRoot(_ dir: String) -> String? {
        let parts = (dir as NSString).pathComponents
        guard let i = parts.lastIndex(where: { $0.hasPrefix(".build") }), i > 0 else { return nil }
        return NSString.path(withComponents: Array(parts[..<i]))
    }

    static func isRegularFile(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && !isDir.boolValue
    }

    /// The file whose mapping holds this library's code: the mapping of /proc/self/maps that contains a
    /// function of this module (read line by line: /proc files report no size).
    static func loadedImage() -> String? {
        let address = unsafeBitCast(imageMarker, to: UInt.self)
        guard let f = fopen("/proc/self/maps", "r") else { return nil }
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, f) > 0 {
            // start-end perms offset dev inode   path
            let fields = String(cString: line!).split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6 else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let lo = UInt(range[0], radix: 16), let hi = UInt(range[1], radix: 16),
                  lo <= address, address < hi else { continue }
            let path = fields[5].trimmingCharacters(in: .whitespacesAndNewlines)
            return path.hasPrefix("/") ? path : nil
        }
        return nil
    }
}

/// A function compiled into this module: its address lies in the image that holds MCVDKit.
private let imageMarker: @convention(c) () -> Void = {}

extension Model {
    /// A model file, or the built-in default model for `task` when `spec` is empty or "default"
    /// (DefaultModel); a default model that is found but cannot be loaded is an error naming it and where
    /// it was found.
    public convenience init(pathOrDefault spec: String, task: Task = .interpolate, context: DefaultModel.Context = .current) throws {
        guard DefaultModel.isDefault(spec) else { try self.init(path: spec); return }
        let place = try DefaultModel.locate(context, task: task)
        do { try self.init(path: place.path) } catch {
            throw MCVDKitError("the default model \(place) cannot be loaded: \(error)")
        }
    }
}
