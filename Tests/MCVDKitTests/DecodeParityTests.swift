// The model must see what the trainer saw: VideoData decodes training videos through videoconvert to
// GRAY8 or RGB. Frames of a real I420 file mapped by MCVDKit must match that decode: exactly for a gray
// model (videoconvert passes Y through); for an RGB one within videoconvert's own error: its 8-bit
// fixed-point path differs from exact BT.601 by up to 5 codes (white Y = 235 comes out 253, not 255;
// measured here: median 1.8, max 5). BT.709, or no clipping to the gamut, would be off by 6 on average.
import Foundation
import MCVDKit
import Testing
import VideoData

@Suite struct DecodeParityTests {
    @Test func i420FramesMapAsTheTrainersDecode() throws {
        let path = "\(Scratch.dir)/smpte.y4m"
        let (status, log) = try Built.run("/usr/bin/env", ["gst-launch-1.0", "-q", "videotestsrc", "pattern=smpte", "num-buffers=2", "!",
                                                           "video/x-raw,format=I420,width=64,height=64,framerate=10/1", "!", "y4menc", "!",
                                                           "filesink", "location=\(path)"])
        #expect(status == 0, "\(log)")
        let video = try Y4MVideo(path: path)
        let gray = try decodeVideo(path: path, height: 64, channels: 1), rgb = try decodeVideo(path: path, height: 64, channels: 3)
        #expect(video.frames.count == 2 && gray.frames.count == 2 && rgb.frames.count == 2)
        for (i, frame) in video.frames.enumerated() {
            let mine = try frame.view.planar(channels: 1)
            let trainer = try FrameBuffer(format: .gray8, width: 64, height: 64, bytes: gray.frames[i]).view.planar(channels: 1)
            #expect(mine == trainer, "frame \(i): gray")

            let mineRGB = try frame.view.planar(channels: 3)
            let trainerRGB = try FrameBuffer(format: .rgb, width: 64, height: 64, bytes: rgb.frames[i]).view.planar(channels: 3)
            let diffs = zip(mineRGB, trainerRGB).map { abs($0 - $1) * 127.5 }     // in 8-bit codes
            let mean = diffs.reduce(0, +) / Float(diffs.count)
            #expect(mean < 2 && diffs.max()! <= 5.5, "frame \(i): RGB mean \(mean) codes, max \(diffs.max()!)")
        }
    }
}
