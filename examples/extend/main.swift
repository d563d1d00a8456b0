// Extends a .y4m clip by N frames with MCVDKit: block-wise autoregression, each block predicted from the
// model's k frames before it (at its condition stride), generated frames feeding the next blocks. The
// input frames are written first, unchanged; a 1-channel model keeps the colour of the last input frame.
//   swift run example-extend MODEL IN.y4m OUT.y4m FRAMES [STEPS] [SEED]
import Foundation
import MCVDKit

let args = CommandLine.arguments
guard args.count >= 5, let count = Int(args[4]) else {
    print("usage: example-extend MODEL IN.y4m OUT.y4m FRAMES [STEPS] [SEED]   (MODEL: a model file, or default)")
    exit(2)
}
do {
    let model = try Model(pathOrDefault: args[1], task: .predict)    // "default": the built-in default model for prediction
    var video = try Y4MVideo(path: args[2])
    let settings = SamplingSettings(steps: args.count > 5 ? Int(args[5]) : nil, seed: args.count > 6 ? UInt64(args[6]) ?? 0 : 0)
    let generator = try Generator(model: model, height: video.height, width: video.width, settings: settings)
    generator.progress = { block, done, total in if done == total { print("block \(block + 1) done") } }
    let frames = try video.frames.map { try $0.view.planar(channels: model.channels, range: model.range) }
    let last = video.frames.last!
    for pixels in try generator.extend(frames, count: count) {
        let frame = try FrameBuffer(format: video.format, width: video.width, height: video.height, bytes: last.bytes)
        try frame.view.write(pixels, channels: model.channels, range: model.range, keepColour: true)
        video.frames.append(frame)
    }
    try video.write(path: args[3])
    print("\(frames.count) frames + \(count) generated = \(video.frames.count): \(args[3])")
} catch {
    FileHandle.standardError.write(Data("example-extend: \(error)\n".utf8))
    exit(1)
}
