// FootageList, the one reader of the footage list (docs/data.md) that `mcvd eval --data-md` and
// `mcvd train --data-md` use: folders and bare names, absolute paths, a row's folder not leaking into the
// next row, duplicates, non-video names, missing files reported, the default paths, and the repo's own
// docs/data.md naming its 14 files. The commands' use of it: CLITests (EvalCommandTests, CLITests).
import Foundation
import Testing
import VideoData

/// The text of the error `body` throws ("" when it throws none).
private func thrownText(_ body: () throws -> Any) -> String {
    do { _ = try body(); return "" } catch { return "\(error)" }
}

@Suite struct FootageListTests {
    static let dir: String = {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("mcvd-footage-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    @Test func parseFoldersNamesAndAbsolutePaths() {
        let text = """
            # Footage
            /usr/share/x/not-a-row.mp4 is outside a table
            | package | files |
            | --- | --- |
            | a | /data/video/ (3 clips: one.ogv, Two.AVI, notes.txt) |
            | b | /srv/clips/first.mp4, second.mkv; `third.webm` |
            | c | fourth.mp4 (no folder in this row) |
            | d | /data/video/one.ogv again, sub/dir.avi |
            """
        #expect(FootageList.parse(text) == ["/data/video/one.ogv", "/data/video/Two.AVI", "/srv/clips/first.mp4",
                                            "/srv/clips/second.mkv", "/srv/clips/third.webm"])
    }

    @Test func presentAndMissing() throws {
        let video = "\(Self.dir)/clip.ogv"
        try Data("x".utf8).write(to: URL(fileURLWithPath: video))
        let md = "\(Self.dir)/list.md"
        try "| p | \(Self.dir)/ (clip.ogv, absent.mp4) |\n| q | /nonexistent/a.avi |\n".write(toFile: md, atomically: true, encoding: .utf8)
        let list = try FootageList(path: md)
        #expect(list.file == md)
        #expect(list.listed == [video, "\(Self.dir)/absent.mp4", "/nonexistent/a.avi"])
        #expect(list.present == [video])
        #expect(list.missing == ["\(Self.dir)/absent.mp4", "/nonexistent/a.avi"])
        #expect(list.summary == "\(md): 3 videos listed, 1 present (missing: \(Self.dir)/absent.mp4, /nonexistent/a.avi)")
    }

    @Test func unreadableListSaysWhatToDo() {
        #expect(thrownText { try FootageList(path: "/nonexistent/data.md") }
                == "--data-md: none of /nonexistent/data.md is readable (give --data-md-path)")
        #expect(FootageList.defaultPaths == ["docs/data.md", "DATA.md"])
    }

    /// The repo's footage list names the 14 files of the brief's DATA.md table, in its first table only
    /// (the per-file table below it names no folders).
    @Test func repoFootageListNamesTheFourteenFiles() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let list = try FootageList(path: "\(root)/docs/data.md")
        #expect(list.listed.count == 14)
        #expect(list.listed.first == "/usr/share/pymecavideo/data/video/Effet_force_magnetique.ogv")
        #expect(list.listed.contains("/usr/share/doc/python-nbsphinx/html/www/wikimediacommons/Shepard_Calais_1906_FrenchGP.ogv"))
        #expect(list.listed.contains("/usr/lib/python3/dist-packages/imageio/resources/images/realshort.mp4"))
    }
}
