// Synthetic clips from still images: exact camera motion (a pan equals a shifted crop of the still, a
// half-pixel step the mean of its neighbours), occlusion by layers, the drawn scenes' speeds and views,
// determinism by seed, the JPEG-like round trip against libjpeg (GStreamer's jpegenc), still loading
// through GStreamer (a PNG read back exactly, bad files reported), and the dataset's mix of real and
// synthetic clips.
import Foundation
import Testing
import VideoData

/// A textured still: a smooth pattern plus a hash, distinct everywhere, values in 0...255.
func texturedStill(width: Int, height: Int, channels: Int, salt: Int = 0) -> Still {
    var pixels = [Float](repeating: 0, count: width * height * channels)
    for y in 0..<height {
        for x in 0..<width {
            for c in 0..<channels {
                var h = UInt32(truncatingIfNeeded: (x &* 73_856_093) ^ (y &* 19_349_663) ^ ((c + 7 * salt) &* 83_492_791))
                h = (h ^ (h >> 13)) &* 0x5BD1_E995
                let smooth = 100 + 60 * sin(Double(x) / 7 + Double(c)) * cos(Double(y) / 5 + Double(salt))
                pixels[(y * width + x) * channels + c] = Float(min(255, max(0, smooth + Double(h % 64) - 32)).rounded())
            }
        }
    }
    return Still(path: "textured\(salt)", width: width, height: height, channels: channels, pixels: pixels)
}

func constantStill(_ value: Float, channels: Int = 1, side: Int = 64) -> Still {
    Still(width: side, height: side, channels: channels, pixels: [Float](repeating: value, count: side * side * channels))
}

@Suite struct SyntheticRenderTests {
    @Test func purePanIsAShiftedCropOfTheStill() {
        let still = texturedStill(width: 120, height: 90, channels: 3)
        let s = still.pixels
        // Scale 1, one sample per pixel, integer centre: pixel (x, y) of frame t shows still pixel
        // (x0 + 1.5 t + x, y0 - 0.5 t + y) with x0 = 60 - 16 = 44, y0 = 45 - 12 = 33.
        let scene = SyntheticScene(camera: .init(still: 0, center: [60, 45], velocity: [1.5, -0.5]))
        let (w, h) = (32, 24)
        let frames = scene.render(stills: [still], times: [0, 1, 2, 4], width: w, height: h)
        func at(_ x: Int, _ y: Int, _ c: Int) -> Float { s[(y * 120 + x) * 3 + c] }
        var worst: Float = 0, worstHalf: Float = 0
        for (f, t) in [(0, 0), (2, 2), (3, 4)] {
            for y in 0..<h { for x in 0..<w { for c in 0..<3 {
                worst = max(worst, abs(frames[f][(y * w + x) * 3 + c] - at(44 + 3 * t / 2 + x, 33 - t / 2 + y, c)))
            } } }
        }
        // t = 1: half-pixel positions in both directions: the mean of four still pixels.
        for y in 0..<h { for x in 0..<w { for c in 0..<3 {
            let mean = (at(45 + x, 32 + y, c) + at(46 + x, 32 + y, c) + at(45 + x, 33 + y, c) + at(46 + x, 33 + y, c)) / 4
            worstHalf = max(worstHalf, abs(frames[1][(y * w + x) * 3 + c] - mean))
        } } }
        #expect(worst < 1e-3 && worstHalf < 1e-3, "\(worst) \(worstHalf)")
    }

    @Test func supersampledPanMovesContentByTheSpeed() {
        // 2 still pixels per output pixel, 2x2 samples: 2 still pixels per frame = 1 output pixel per frame
        // (and the rendered footprint is the same at every step, so the shifted frames agree exactly).
        let still = texturedStill(width: 200, height: 160, channels: 1)
        let scene = SyntheticScene(camera: .init(still: 0, center: [100.3, 80.7], velocity: [2, 0], scale: 2), supersampling: 2)
        let (w, h) = (40, 30)
        let f = scene.render(stills: [still], times: [0, 1, 3], width: w, height: h)
        var worst: Float = 0
        for y in 0..<h { for x in 0..<(w - 3) {
            worst = max(worst, abs(f[1][y * w + x] - f[0][y * w + x + 1]), abs(f[2][y * w + x] - f[0][y * w + x + 3]))
        } }
        #expect(worst < 1e-3)
        // and it did move: the frames are not equal in place.
        #expect(zip(f[0], f[1]).contains { abs($0 - $1) > 5 })
    }

    @Test func rotationAndZoomMapPointsAsDeclared() {
        // A quarter turn at scale 1 about the still's centre: output (u, v) from the centre shows still
        // point centre + (-v, u); zoom rate ln 2 per frame doubles the scale at t = 1.
        let still = texturedStill(width: 80, height: 80, channels: 1)
        let s = still.pixels
        let turn = SyntheticScene(camera: .init(still: 0, center: [40, 40], angle: Double.pi / 2))
        let f = turn.render(stills: [still], times: [0], width: 20, height: 20)[0]
        var worst: Float = 0
        for y in 0..<20 { for x in 0..<20 {
            // u = x + 0.5 - 10, v = y + 0.5 - 10; still point (40 - v, 40 + u) is pixel (39.5 - y + 10 ...).
            let sx = 40 - (y - 10) - 1, sy = 40 + (x - 10)
            worst = max(worst, abs(f[y * 20 + x] - s[sy * 80 + sx]))
        } }
        #expect(worst < 1e-3)
        let zoom = SyntheticScene(camera: .init(still: 0, center: [40, 40], zoomRate: log(2)))
        let z = zoom.render(stills: [still], times: [1], width: 20, height: 20)[0]
        // Scale 2: output pixel (x, y) centre maps to still 40 + 2 (x + 0.5 - 10) = 2x + 21: between
        // pixels 2x + 20 and 2x + 21 (centres 20.5, 21.5), so the mean of 2x2 still pixels.
        worst = 0
        for y in 0..<20 { for x in 0..<20 {
            let mean = (s[(2 * y + 20) * 80 + 2 * x + 20] + s[(2 * y + 20) * 80 + 2 * x + 21]
                        + s[(2 * y + 21) * 80 + 2 * x + 20] + s[(2 * y + 21) * 80 + 2 * x + 21]) / 4
            worst = max(worst, abs(z[y * 20 + x] - mean))
        } }
        #expect(worst < 1e-3)
    }

    @Test func layersOccludeWhatTheyCover() {
        let bg = texturedStill(width: 100, height: 100, channels: 1)
        let stills = [bg, constantStill(200), constantStill(30)]
        let (w, h) = (24, 20)
        let camera = SyntheticScene.Camera(still: 0, center: [50, 50])
        // Hard rectangle 10x6 centred 4 px left of and 2 px below the frame centre, moving 2 px/frame right.
        let rect = SyntheticScene.Layer(still: 1, textureCenter: [32, 32], position: [-4, 2], velocity: [2, 0],
                                        halfSize: [5, 3], shape: .rectangle)
        let plain = SyntheticScene(camera: camera).render(stills: stills, times: [0, 3], width: w, height: h)
        let one = SyntheticScene(camera: camera, layers: [rect]).render(stills: stills, times: [0, 3], width: w, height: h)
        for (f, t) in [(0, 0.0), (1, 3.0)] {
            var covered = 0
            for y in 0..<h { for x in 0..<w {
                let u = Double(x) + 0.5 - 12 - (-4 + 2 * t), v = Double(y) + 0.5 - 10 - 2
                let inside = abs(u) <= 5 && abs(v) <= 3
                if inside { covered += 1 }
                #expect(one[f][y * w + x] == (inside ? 200 : plain[f][y * w + x]))
            } }
            #expect(covered == 60)
        }
        // A second layer on top wins where both cover; an ellipse with a soft edge blends across it.
        let disc = SyntheticScene.Layer(still: 2, textureCenter: [32, 32], position: [0, 2], halfSize: [4, 4], softness: 2)
        let two = SyntheticScene(camera: camera, layers: [rect, disc]).render(stills: stills, times: [0], width: w, height: h)[0]
        #expect(two[12 * w + 12] == 30)                    // the disc's centre, over the rectangle
        #expect(two[12 * w + 8] > 40 && two[12 * w + 8] < 190)   // 3.5 px left of its centre: on the soft edge over the rectangle
        #expect(two[12 * w + 3] == one[0][12 * w + 3] && two[12 * w + 3] == 200)   // rectangle only
        #expect(two[2 * w + 2] == plain[0][2 * w + 2])     // neither
    }

    @Test func finishAppliesBrightnessNoiseAndCompressionDeterministically() {
        let still = texturedStill(width: 64, height: 64, channels: 1)
        var scene = SyntheticScene(camera: .init(still: 0, center: [32, 32]), gain: 0.5, gainRate: 0.5)
        let clean = scene.render(stills: [still], times: [0, 2], width: 16, height: 16)
        let plain = scene.finish(clean, times: [0, 2], width: 16, height: 16, channels: 1)
        // Gain 0.5 at t = 0 and 0.5 * (1 + 1) = 1 at t = 2.
        #expect(plain[0] == clean[0].map { UInt8(($0 * 0.5).rounded()) })
        #expect(plain[1] == clean[1].map { UInt8($0.rounded()) })
        scene.noiseSigma = 3
        scene.noiseSeed = 9
        let noisy = scene.finish(clean, times: [0, 2], width: 16, height: 16, channels: 1)
        #expect(noisy == scene.finish(clean, times: [0, 2], width: 16, height: 16, channels: 1))
        let diffs = zip(noisy[1], plain[1]).map { Double(Int($0) - Int($1)) }
        let rms = (diffs.map { $0 * $0 }.reduce(0, +) / Double(diffs.count)).squareRoot()
        #expect(rms > 2 && rms < 4, "noise rms \(rms)")
        scene.noiseSeed = 10
        #expect(noisy != scene.finish(clean, times: [0, 2], width: 16, height: 16, channels: 1))
    }
}

@Suite struct SyntheticClipTests {
    let stills = [texturedStill(width: 300, height: 240, channels: 1), texturedStill(width: 200, height: 260, channels: 1, salt: 1),
                  texturedStill(width: 100, height: 100, channels: 1, salt: 2)]

    @Test func clipsAreAFunctionOfSeedAndIndex() throws {
        let a = try SyntheticClips(stills: stills, count: 50, rows: 64, seed: 5)
        let b = try SyntheticClips(stills: stills, count: 50, rows: 64, seed: 5)
        let c = try SyntheticClips(stills: stills, count: 50, rows: 64, seed: 6)
        let layout = ClipLayout(past: 2, current: 1, future: 2, conditionStride: 2)
        for i in [0, 7, 49] {
            #expect(a.frames(index: i, layout: layout, width: 32, height: 32) == b.frames(index: i, layout: layout, width: 32, height: 32))
            #expect(a.frames(index: i, layout: layout, width: 32, height: 32) != c.frames(index: i, layout: layout, width: 32, height: 32))
        }
        #expect(a.frames(index: 1, layout: layout, width: 32, height: 32) != a.frames(index: 2, layout: layout, width: 32, height: 32))
        // The cache returns the same frames, also for another size after a first one, and with no room.
        for i in [0, 7, 0] { #expect(a.cachedFrames(index: i, layout: layout, width: 32, height: 32) == b.frames(index: i, layout: layout, width: 32, height: 32)) }
        #expect(a.cachedFrames(index: 7, layout: layout, width: 16, height: 24) == b.frames(index: 7, layout: layout, width: 16, height: 24))
        c.cacheBytes = 0
        #expect(c.cachedFrames(index: 3, layout: layout, width: 32, height: 32) == c.cachedFrames(index: 3, layout: layout, width: 32, height: 32))
    }

    @Test func framesFollowTheLayoutInGrayAndRGB() throws {
        for channels in [1, 3] {
            let s = (0..<2).map { texturedStill(width: 150, height: 120, channels: channels, salt: $0) }
            let clips = try SyntheticClips(stills: s, count: 10, rows: 64, seed: 1)
            for layout in [ClipLayout(past: 2, current: 1, future: 2, conditionStride: 2), ClipLayout(past: 2, current: 1, future: 1)] {
                let f = clips.frames(index: 3, layout: layout, width: 48, height: 40)
                #expect(f.count == layout.frames && f.allSatisfy { $0.count == 48 * 40 * channels })
                // The frames at the layout's times: clip 3's scene rendered at those times.
                let times = layout.offsets.map(Double.init)
                let scene = clips.scene(index: 3, span: layout.span, width: 48, height: 40)
                let expected = scene.finish(scene.render(stills: s, times: times, width: 48, height: 40), times: times,
                                            width: 48, height: 40, channels: channels)
                #expect(f == expected)
            }
        }
    }

    @Test func drawnScenesMoveRealisticallyAndStayInsideTheStill() throws {
        let clips = try SyntheticClips(stills: stills, count: 400, rows: 64, seed: 2)
        let layout = ClipLayout(past: 2, current: 1, future: 2, conditionStride: 2)   // span 7
        var slow = 0, fast = 0, layered = 0, rotating = 0, zooming = 0, noisy = 0, compressed = 0, brightening = 0, tripod = 0
        for i in 0..<clips.count {
            let s = clips.scene(index: i, span: layout.span, width: 64, height: 64)
            let c = s.camera
            // Displacement of the view centre between frames two apart, in output pixels: <= 8 (+ acceleration).
            let stepTwo = ((c.velocity * 2).x * (c.velocity * 2).x + (c.velocity * 2).y * (c.velocity * 2).y).squareRoot() / c.scale
            #expect(stepTwo <= 8 + 1e-9)
            if stepTwo < 1 { slow += 1 }
            if stepTwo > 5 { fast += 1 }
            for l in s.layers {
                #expect((l.velocity.x * l.velocity.x + l.velocity.y * l.velocity.y).squareRoot() <= 4 + 1e-9)
            }
            if !s.layers.isEmpty { layered += 1 }
            if c.velocity == .zero && c.acceleration == .zero && c.zoomRate == 0 && c.angularVelocity == 0 { tripod += 1 }
            if c.angularVelocity != 0 { rotating += 1 }
            if c.zoomRate != 0 { zooming += 1 }
            if s.noiseSigma > 0 { noisy += 1 }
            if s.jpegQuality != nil { compressed += 1 }
            if s.gainRate != 0 { brightening += 1 }
            // Every corner of the view at every frame time lies inside the background still.
            let still = stills[c.still]
            for t in 0..<layout.span {
                let td = Double(t)
                let centre = c.center + c.velocity * td + c.acceleration * (td * td / 2)
                let scale = c.scale * exp(c.zoomRate * td), a = c.angle + c.angularVelocity * td
                for (u, v) in [(-32.0, -32.0), (32, -32), (-32, 32), (32, 32)] {
                    let x = centre.x + scale * (cos(a) * u - sin(a) * v), y = centre.y + scale * (sin(a) * u + cos(a) * v)
                    #expect(x >= 0 && y >= 0 && x <= Double(still.width) && y <= Double(still.height))
                }
            }
        }
        // Each effect shows up in a fair share of clips (drawn with probabilities 0.2-0.8).
        for n in [slow, fast, layered, rotating, zooming, noisy, compressed, brightening, tripod] { #expect(n > 30 && n < 370, "\(n)") }
        #expect(tripod > 90 && tripod < 160, "\(tripod) still cameras of 400 (30% drawn, + those the fit stopped)")
    }

    @Test func speedsScaleWithTheTrainingHeight() throws {
        let big = [texturedStill(width: 400, height: 400, channels: 1)]
        let a = try SyntheticClips(stills: big, count: 100, rows: 64, seed: 4)
        let b = try SyntheticClips(stills: big, count: 100, rows: 128, seed: 4)
        var ratios: [Double] = []
        for i in 0..<100 {
            let va = a.scene(index: i, span: 3, width: 64, height: 64).camera
            let vb = b.scene(index: i, span: 3, width: 128, height: 128).camera
            let sa = (va.velocity.x * va.velocity.x + va.velocity.y * va.velocity.y).squareRoot() / va.scale
            let sb = (vb.velocity.x * vb.velocity.x + vb.velocity.y * vb.velocity.y).squareRoot() / vb.scale
            if sa > 0.1 { ratios.append(sb / sa) }
        }
        #expect(ratios.count > 50)
        #expect(ratios.allSatisfy { abs($0 - 2) < 1e-9 })
    }

    @Test func noStillIsAClearError() {
        #expect(throws: SyntheticError.self) { _ = try SyntheticClips(stills: [], count: 10, rows: 64, seed: 0) }
        do {
            _ = try SyntheticClips(stills: [], count: 10, rows: 64, seed: 0)
        } catch {
            #expect("\(error)".contains("no still image"))
        }
        let mixed = [texturedStill(width: 50, height: 50, channels: 1), texturedStill(width: 50, height: 50, channels: 3)]
        #expect(throws: SyntheticError.self) { _ = try SyntheticClips(stills: mixed, count: 10, rows: 64, seed: 0) }
    }
}

@Suite struct StillLoadingTests {
    func scratch(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("mcvd-still-\(getpid())-\(name)").path
    }

    @Test func loadsPNGsExactlyAndReportsBadFiles() throws {
        let dir = scratch("dir")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let still = texturedStill(width: 90, height: 70, channels: 3)
        let bytes = still.pixels.map { UInt8($0) }
        try PNG.write(path: "\(dir)/a.png", width: 90, height: 70, channels: 3, pixels: bytes)
        try PNG.write(path: "\(dir)/tiny.png", width: 20, height: 20, channels: 1, pixels: [UInt8](repeating: 9, count: 400))
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: "\(dir)/broken.jpg"))
        try Data("notes".utf8).write(to: URL(fileURLWithPath: "\(dir)/readme.txt"))   // not an image name: not tried
        var lines: [String] = []
        let (stills, skipped) = StillImages.load(paths: [dir, "/nonexistent/photo.png"], channels: 3, maxHeight: 100,
                                                 minSide: 32) { lines.append($0) }
        #expect(stills.count == 1 && stills[0].width == 90 && stills[0].height == 70)
        #expect(stills[0].pixels == still.pixels)   // PNG is lossless: the decode path returns the pixels written
        #expect(skipped.count == 3 && lines.count == 3)
        #expect(skipped.contains { $0.path.hasSuffix("broken.jpg") })
        #expect(skipped.contains { $0.path.hasSuffix("tiny.png") && $0.message.contains("smaller than 32") })
        #expect(skipped.contains { $0.path == "/nonexistent/photo.png" && $0.message.contains("no such readable file") })
        // Larger than maxHeight: scaled down, aspect kept.
        let (small, _) = StillImages.load(paths: ["\(dir)/a.png"], channels: 1, maxHeight: 35, minSide: 8)
        #expect(small.count == 1 && small[0].height == 35 && small[0].channels == 1 && abs(small[0].width - 45) <= 1)
    }

    @Test func blockDCTMatchesLibjpeg() throws {
        // A gray image through GStreamer's jpegenc (libjpeg, quality 75) and through BlockDCT at 75: close
        // to each other, far from lossless; quality 100 is nearly lossless.
        let (w, h) = (64, 48)
        // Smooth with mild texture (heavy noise puts many coefficients near a rounding boundary, where
        // libjpeg's integer DCT and this float one round differently).
        let image = (0..<(w * h)).map { i -> UInt8 in
            let x = Double(i % w), y = Double(i / w)
            return UInt8((100 + 60 * sin(x / 7) * cos(y / 5) + Double((i &* 2_654_435_761) >> 7 & 7) - 4).rounded())
        }
        let png = scratch("q.png"), jpg = scratch("q.jpg")
        defer { try? FileManager.default.removeItem(atPath: png); try? FileManager.default.removeItem(atPath: jpg) }
        try PNG.write(path: png, width: w, height: h, channels: 1, pixels: image)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["gst-launch-1.0", "-q", "filesrc", "location=\(png)", "!", "pngdec", "!", "videoconvert", "!",
                       "video/x-raw,format=GRAY8", "!", "jpegenc", "quality=75", "idct-method=float", "!", "filesink", "location=\(jpg)"]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let libjpeg = try decodeVideo(path: jpg, height: nil, channels: 1).frames[0]
        var ours = image
        BlockDCT.roundTrip(&ours, width: w, height: h, channels: 1, quality: 75)
        let lossy = Metrics.psnr(ours, image), reference = Metrics.psnr(libjpeg, image)
        #expect(lossy < 45 && abs(lossy - reference) < 0.3, "ours \(lossy) dB, libjpeg \(reference) dB")
        #expect(Metrics.psnr(ours, libjpeg) > 50, "ours vs libjpeg \(Metrics.psnr(ours, libjpeg)) dB")
        var best = image
        BlockDCT.roundTrip(&best, width: w, height: h, channels: 1, quality: 100)
        #expect(zip(best, image).allSatisfy { abs(Int($0) - Int($1)) <= 1 })
        // RGB: colours survive the YCbCr round trip at quality 100.
        let rgb = texturedStill(width: 24, height: 16, channels: 3).pixels.map { UInt8($0) }
        var rgbOut = rgb
        BlockDCT.roundTrip(&rgbOut, width: 24, height: 16, channels: 3, quality: 100)
        #expect(Metrics.psnr(rgbOut, rgb) > 45)
    }
}

@Suite struct SyntheticMixTests {
    func video(frames: Int) -> DecodedVideo {
        DecodedVideo(path: "real", width: 40, height: 36, channels: 1, rateN: 25, rateD: 1,
                     frames: (0..<frames).map { k in (0..<(40 * 36)).map { UInt8(($0 + 5 * k) % 256) } })
    }

    @Test func batchesDrawBothKindsDeterministically() throws {
        let ds = VideoDataset(videos: [video(frames: 60)], channels: 1)
        let layout = ClipLayout(past: 2, current: 1, future: 2, conditionStride: 2)
        let real = ds.clipCount(split: .train, layout: layout)   // 48 - 6 = 42
        #expect(real == 42)
        let clips = try SyntheticClips(stills: [texturedStill(width: 120, height: 100, channels: 1)], count: 126, rows: 32, seed: 3)
        var synthetic = 0, total = 0
        for step in 0..<40 {
            let a = try ds.batch(split: .train, layout: layout, count: 4, crop: 16, seed: 8, step: step, synthetic: clips)
            let b = try ds.batch(split: .train, layout: layout, count: 4, crop: 16, seed: 8, step: step, synthetic: clips)
            #expect(a.past == b.past && a.current == b.current && a.future == b.future)
            for (s, o) in a.origins.enumerated() where o.synthetic {
                synthetic += 1
                #expect(o.video == -1 && o.frame < 126)
                let f = clips.frames(index: o.frame, layout: layout, width: 16, height: 16)
                #expect(Array(a.current[s * 256 ..< (s + 1) * 256]) == f[2].map { Float($0) / 127.5 - 1 })
                #expect(Array(a.future[(s * 2 + 1) * 256 ..< (s * 2 + 2) * 256]) == f[4].map { Float($0) / 127.5 - 1 })
            }
            total += 4
        }
        // 126 of 168 clips are synthetic: 3/4 of 160 draws expected (binomial sd 5.5).
        #expect(synthetic > 95 && synthetic < 145, "\(synthetic) synthetic of \(total)")
        // Without synthetic clips the draws are the real clips alone, as before.
        let plain = try ds.batch(split: .train, layout: layout, count: 16, crop: 16, seed: 8, step: 0)
        #expect(plain.origins.allSatisfy { !$0.synthetic && $0.video == 0 })
        // Channel mismatch is an error, not a crash.
        let rgb = try SyntheticClips(stills: [texturedStill(width: 60, height: 60, channels: 3)], count: 5, rows: 32, seed: 0)
        #expect(throws: DatasetError.self) {
            _ = try ds.batch(split: .train, layout: layout, count: 1, crop: 16, seed: 0, step: 0, synthetic: rgb)
        }
    }
}
