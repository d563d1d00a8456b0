// The footage list (docs/data.md, the project's copy of the brief's DATA.md): the one reader of its
// tables, used by `mcvd eval --data-md` and `mcvd train --data-md`. Video files are named in table rows
// (lines starting with "|") as absolute paths, or as bare file names after a folder (a path ending in
// "/") or after another absolute file in the same row; listed files that do not exist on this machine
// are reported, not used.
import Foundation

public struct FootageListError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

public struct FootageList {
    /// Where `--data-md` looks without a path, relative to the working directory.
    public static let defaultPaths = ["docs/data.md", "DATA.md"]
    /// File extensions taken for videos.
    public static let videoExtensions: Set<String> = ["ogv", "avi", "mp4", "mpg", "mpeg", "mkv", "webm", "mov", "ogg"]

    /// The file read.
    public let file: String
    /// Every video it lists, in order, each once.
    public let listed: [String]
    /// The listed videos that exist (readable files).
    public let present: [String]
    public var missing: [String] { listed.filter { !present.contains($0) } }

    /// Reads `path`, or the first readable one of `defaultPaths`.
    public init(path: String? = nil) throws {
        let candidates = path.map { [$0] } ?? Self.defaultPaths
        guard let file = candidates.first(where: { FileManager.default.isReadableFile(atPath: $0) }) else {
            throw FootageListError("--data-md: none of \(candidates.joined(separator: ", ")) is readable (give --data-md-path)")
        }
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw FootageListError("--data-md: cannot read \(file) as UTF-8 text: \(error)")
        }
        self.file = file
        listed = Self.parse(text)
        present = listed.filter { FileManager.default.isReadableFile(atPath: $0) }
    }

    /// "<file>: N videos listed, M present (missing: ...)".
    public var summary: String {
        "\(file): \(listed.count) videos listed, \(present.count) present"
            + (missing.isEmpty ? "" : " (missing: \(missing.joined(separator: ", ")))")
    }

    /// The video paths named in the table rows of a footage list's text.
    public static func parse(_ text: String) -> [String] {
        var out: [String] = []
        for line in text.split(separator: "\n") where line.hasPrefix("|") {
            var folder: String?
            let tokens = line.split(whereSeparator: { " ,;:()|`".contains($0) }).map(String.init)
            for token in tokens {
                if token.hasPrefix("/") && token.hasSuffix("/") { folder = token; continue }
                let ext = (token as NSString).pathExtension.lowercased()
                guard videoExtensions.contains(ext) else { continue }
                if token.hasPrefix("/") {
                    folder = (token as NSString).deletingLastPathComponent + "/"
                    out.append(token)
                } else if let folder, !token.contains("/") {
                    out.append(folder + token)
                }
            }
        }
        var seen = Set<String>()
        return out.filter { seen.insert($0).inserted }
    }
}
