// Generates N frames from nothing with MCVDKit (the first block unconditional, later ones predicted from
// the frames made so far) and writes them as a .y4m at the model's image size: Cmono for a 1-channel
// model, 4:2:0 for a 3-channel one.
//   swift run example-generate MODEL OUT.y4m FRAMES [STEPS] [SEED]
import Foundation
import MCVDKit

let args = CommandLine.arguments
guard args.count >= 4, let count = Int(args[3]) else {
    print("usage: example-generate MODEL OUT.y4m FRAMES [STEPS] [SEED]   (MODEL: a model file, or default)")
    exit(2)
}
do {
    let model = try Model(pathOrDefault: args[1], task: .generate)    // "default": the built-in default model for generation
    let size = model.imageSize
    let settings = SamplingSettings(steps: args.count > 4 ? Int(args[4]) : nil, seed: args.count > 5 ? UInt64(args[5]) ?? 0 : 0)
    let generator = try Generator(model: model, height: size, width: size, settings: settings)
    var video = Y4MVideo(width: size, height: size, format: model.channels == 1 ? .gray8 : .i420)
    for pixels in try generator.generate(count: count) {
        let frame = try FrameBuffer(format: video.format, width: size, height: size)
        try frame.view.write(pixels, channels: model.channels, range: model.range)
        video.frames.append(frame)
    }
    try video.write(path: args[2])
    print("generated \(count) frames of \(size)x\(size) (\(generator.steps) step(s), seed \(settings.seed)): \(args[2])")
} catch {
    FileHandle.standardError.write(Data("example-generate: \(error)\n".utf8))
    exit(1)
}
