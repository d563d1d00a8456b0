// Interpolates a .y4m clip in memory with MCVDKit: every input frame is kept bit for bit and the model's
// n frames go into each gap that has the model's k frames before it and f after it (2x the frame rate
// for an n = 1 model, apart from the first k - 1 and last f - 1 gaps). A 1-channel model keeps the colour
// of the frame before the gap.
//   swift run example-interpolate MODEL IN.y4m OUT.y4m [STEPS] [SEED]
// Frame sizes must be multiples of the model's size multiple; Sources/MCVDKit/Y4M.swift shows how to make
// a .y4m of the right size from any video with gst-launch-1.0.
import Foundation
import MCVDKit

let args = CommandLine.arguments
guard args.count >= 4 else {
    print("usage: example-interpolate MODEL IN.y4m OUT.y4m [STEPS] [SEED]   (MODEL: a model file, or default)")
    exit(2)
}
do {
    let model = try Model(pathOrDefault: args[1])    // "default": the built-in default model
    let input = try Y4MVideo(path: args[2])
    let settings = SamplingSettings(steps: args.count > 4 ? Int(args[4]) : nil, seed: args.count > 5 ? UInt64(args[5]) ?? 0 : 0)
    let generator = try Generator(model: model, height: input.height, width: input.width, settings: settings)
    let frames = try input.frames.map { try $0.view.planar(channels: model.channels, range: model.range) }
    // One gap per model call (batch 1): memory stays that of one sample on long clips, and gap m uses
    // noise block m of the seed, as the element and `mcvd sample` do (the same frames for the same seed).
    let sequence = try generator.interpolate(frames, batch: 1)

    var output = Y4MVideo(width: input.width, height: input.height, rateN: input.rateN * (model.frames + 1), rateD: input.rateD,
                          format: input.format)
    var originals = input.frames.makeIterator()
    for frame in sequence {
        if frame.generated {
            // Start from the previous original (colour and alpha for a gray model), then write the model's frame.
            let previous = output.frames.last!
            let made = try FrameBuffer(format: input.format, width: input.width, height: input.height, bytes: previous.bytes)
            try made.view.write(frame.pixels, channels: model.channels, range: model.range, keepColour: true)
            output.frames.append(made)
        } else {
            output.frames.append(originals.next()!)
        }
    }
    try output.write(path: args[3])
    print("\(input.frames.count) frames in, \(output.frames.count) out (\(output.frames.count - input.frames.count) generated, "
          + "\(generator.steps) \(settings.sampler.rawValue) step(s)): \(args[3])")
} catch {
    FileHandle.standardError.write(Data("example-interpolate: \(error)\n".utf8))
    exit(1)
}
