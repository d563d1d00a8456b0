// Frame mapping speed of MCVDKit: frame -> planar tensor and back for every element format, 1- and
// 3-channel models, at the given sizes. Build in release:
//   swift build -c release --product mcvdkit-bench && .build/release/mcvdkit-bench [WxH ...]
// Prints one line per (size, format, channels): ms per frame to read, ms to write (median of 9).
import Foundation
import MCVDKit

let sizes: [(Int, Int)] = CommandLine.arguments.dropFirst().compactMap { arg in
    let p = arg.split(separator: "x").compactMap { Int($0) }
    return p.count == 2 ? (p[0], p[1]) : nil
}
func median(_ f: () throws -> Void) rethrows -> Double {
    var times: [Double] = []
    for _ in 0..<9 {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try f()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
    }
    return times.sorted()[4]
}
do {
    for (w, h) in sizes.isEmpty ? [(320, 240), (1280, 720)] : sizes {
        for format in PixelFormat.allCases {
            let frame = try FrameBuffer(format: format, width: w, height: h)
            for channels in [1, 3] {
                var planar: [Float] = []
                let read = try median { planar = try frame.view.planar(channels: channels) }
                let write = try median { try frame.view.write(planar, channels: channels) }
                print(String(format: "size=%dx%d format=%@ channels=%d read_ms=%.2f write_ms=%.2f", w, h, format.name, channels, read, write))
            }
        }
    }
} catch {
    print("mcvdkit-bench: \(error)")
    exit(1)
}
