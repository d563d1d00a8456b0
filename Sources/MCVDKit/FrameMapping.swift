// Frames <-> the model's planar input: (C, H, W) floats at the frame's own size, C = 1 (gray) or 3
// (RGB), in [-1, 1] (data.rescaled, what `mcvd train` writes) or [0, 1]. The rules follow what the
// trainer saw, i.e. what `videoconvert` makes of each format when VideoData decodes to GRAY8 or RGB:
//
// | frame  | 1-channel model                         | 3-channel model                              |
// | ------ | --------------------------------------- | -------------------------------------------- |
// | gray   | Y / max                                 | R = G = B = Y / max                          |
// | RGB    | BT.601 luma 0.299 R + 0.587 G + 0.114 B | R, G, B / max                                |
// | YUV    | the Y code / max, as is (videoconvert   | YUV -> RGB with the frame's ColourSpace;     |
// |        | passes Y through to GRAY8)              | chroma repeated over its block (nearest),    |
// |        |                                         | RGB clipped to [0, 1] like an 8-bit decode   |
//
// Written back (values clamped to the range, rounded to the nearest code): the inverse of each rule;
// a 3-channel model's chroma is averaged over each chroma block, so a frame read and written back
// keeps its codes (colours inside the RGB gamut; others come back clipped to it). A 1-channel model has no colour: with `keepColour` the frame's
// current colour stays (YUV: chroma untouched; RGB: every channel shifted by the change of luma) and
// alpha too; without it the chroma is neutral (gray) and alpha opaque.

/// The value range of a model's frames (data.rescaled: [-1, 1]; otherwise [0, 1]).
public enum SampleRange: Sendable, Equatable {
    case symmetric
    case unit
}

extension FrameView {
    /// The frame as a model input (C, H, W), C = 1 or 3, values in `range`.
    public func planar(channels c: Int, range: SampleRange = .symmetric) throws -> [Float] {
        guard c == 1 || c == 3 else { throw MCVDKitError("models with \(c) channels are not supported (1 or 3)") }
        let w = width, h = height, size = w * h, comps = format.components
        let m = Float(format.maxValue), half = m / 2
        let symmetric = range == .symmetric
        @inline(__always) func fromCode(_ code: Float) -> Float { symmetric ? code / half - 1 : code / m }
        @inline(__always) func fromUnit(_ u: Float) -> Float { symmetric ? 2 * u - 1 : u }
        let a0 = access(0), a1 = access(1), a2 = access(2)
        let s1 = (comps.count > 1 ? comps[1] : comps[0]), s2 = (comps.count > 2 ? comps[2] : comps[0])
        var out = [Float](repeating: 0, count: c * size)
        out.withUnsafeMutableBufferPointer { o in
            switch (format.family, c) {
            case (.gray, _), (.yuv, 1):
                for y in 0..<h {
                    for x in 0..<w {
                        let v = fromCode(Float(a0.load(x, y)))
                        for ch in 0..<c { o[ch * size + y * w + x] = v }
                    }
                }
            case (.rgb, 3):
                for (ch, a) in [a0, a1, a2].enumerated() {
                    for y in 0..<h { for x in 0..<w { o[ch * size + y * w + x] = fromCode(Float(a.load(x, y))) } }
                }
            case (.rgb, _):
                for y in 0..<h {
                    for x in 0..<w {
                        let r = Float(a0.load(x, y)), g = Float(a1.load(x, y)), b = Float(a2.load(x, y))
                        o[y * w + x] = fromCode(0.299 * r + 0.587 * g + 0.114 * b)
                    }
                }
            case (.yuv, _):
                let yuv = YUVCodes(format: format, colour: colour)
                for y in 0..<h {
                    for x in 0..<w {
                        let rgb = yuv.rgb(Float(a0.load(x, y)), Float(a1.load(x >> s1.wShift, y >> s1.hShift)),
                                          Float(a2.load(x >> s2.wShift, y >> s2.hShift)))
                        o[y * w + x] = fromUnit(rgb.0)
                        o[size + y * w + x] = fromUnit(rgb.1)
                        o[2 * size + y * w + x] = fromUnit(rgb.2)
                    }
                }
            }
        }
        return out
    }

    /// Writes a model output (C, H, W) into the frame (see the file header for `keepColour`).
    public func write(_ planar: [Float], channels c: Int, range: SampleRange = .symmetric, keepColour: Bool = false) throws {
        guard c == 1 || c == 3 else { throw MCVDKitError("models with \(c) channels are not supported (1 or 3)") }
        let w = width, h = height, size = w * h, comps = format.components
        guard planar.count == c * size else {
            throw MCVDKitError("planar frame has \(planar.count) values, \(format.name) \(w)x\(h) with \(c) channel(s) needs \(c * size)")
        }
        let maxCode = format.maxValue, m = Float(maxCode), half = m / 2
        let symmetric = range == .symmetric
        @inline(__always) func code(_ v: Float) -> Int {
            let e = symmetric ? (min(max(v, -1), 1) + 1) * half : min(max(v, 0), 1) * m
            return Int(e.rounded())
        }
        @inline(__always) func unit(_ v: Float) -> Float { symmetric ? (min(max(v, -1), 1) + 1) / 2 : min(max(v, 0), 1) }
        @inline(__always) func codeOfUnit(_ u: Float) -> Int { Int((min(max(u, 0), 1) * m).rounded()) }
        let a0 = access(0), a1 = access(1), a2 = access(2), a3 = access(3)
        planar.withUnsafeBufferPointer { p in
            switch (format.family, c) {
            case (.gray, 1), (.yuv, 1):
                for y in 0..<h { for x in 0..<w { a0.store(x, y, code(p[y * w + x])) } }
                if format.family == .yuv && !keepColour {
                    let neutral = 1 << (format.depth - 1)
                    for (a, comp) in [(a1, comps[1]), (a2, comps[2])] {
                        for y in 0..<comp.height(h) { for x in 0..<comp.width(w) { a.store(x, y, neutral) } }
                    }
                }
            case (.gray, _):
                for y in 0..<h {
                    for x in 0..<w {
                        let i = y * w + x
                        a0.store(x, y, codeOfUnit(0.299 * unit(p[i]) + 0.587 * unit(p[size + i]) + 0.114 * unit(p[2 * size + i])))
                    }
                }
            case (.rgb, 3):
                for (ch, a) in [a0, a1, a2].enumerated() { for y in 0..<h { for x in 0..<w { a.store(x, y, code(p[ch * size + y * w + x])) } } }
            case (.rgb, _):
                for y in 0..<h {
                    for x in 0..<w {
                        let v = p[y * w + x]
                        if keepColour {
                            let r = Float(a0.load(x, y)), g = Float(a1.load(x, y)), b = Float(a2.load(x, y))
                            let delta = unit(v) * m - (0.299 * r + 0.587 * g + 0.114 * b)
                            a0.store(x, y, min(max(Int((r + delta).rounded()), 0), maxCode))
                            a1.store(x, y, min(max(Int((g + delta).rounded()), 0), maxCode))
                            a2.store(x, y, min(max(Int((b + delta).rounded()), 0), maxCode))
                        } else {
                            let k = code(v)
                            a0.store(x, y, k); a1.store(x, y, k); a2.store(x, y, k)
                        }
                    }
                }
            case (.yuv, _):
                let yuv = YUVCodes(format: format, colour: colour)
                let cu = comps[1], cw = cu.width(w), chh = cu.height(h)
                var sums = [Float](repeating: 0, count: 2 * cw * chh), counts = [Float](repeating: 0, count: cw * chh)
                for y in 0..<h {
                    for x in 0..<w {
                        let i = y * w + x
                        let (yc, cb, cr) = yuv.luma(unit(p[i]), unit(p[size + i]), unit(p[2 * size + i]))
                        a0.store(x, y, yc)
                        let j = (y >> cu.hShift) * cw + (x >> cu.wShift)
                        sums[2 * j] += cb; sums[2 * j + 1] += cr; counts[j] += 1
                    }
                }
                for y in 0..<chh {
                    for x in 0..<cw {
                        let j = y * cw + x
                        a1.store(x, y, yuv.chromaCode(sums[2 * j] / counts[j]))
                        a2.store(x, y, yuv.chromaCode(sums[2 * j + 1] / counts[j]))
                    }
                }
            }
        }
        if format.hasAlpha && !keepColour {
            for y in 0..<h { for x in 0..<w { a3.store(x, y, maxCode) } }
        }
    }
}

extension FrameView {
    /// Adds a 1-channel model's correction (H, W: its frame minus its base, in the model's range) to the
    /// frame's luma, keeping its colour: the Y code (gray, YUV) and every RGB channel move by the same
    /// number of codes (the change times the code range: what the model's luma input, the Y code or
    /// BT.601 luma over the maximum, moves by), each rounded and clamped to the codes; chroma and alpha
    /// untouched. A correction of zero leaves every code as it is.
    public func addLuma(_ correction: [Float], range: SampleRange = .symmetric) throws {
        let w = width, h = height
        guard correction.count == w * h else {
            throw MCVDKitError("luma correction has \(correction.count) values, \(format.name) \(w)x\(h) needs \(w * h)")
        }
        let maxCode = format.maxValue
        let scale = Float(maxCode) * (range == .symmetric ? 0.5 : 1)
        let planes = format.family == .rgb ? [access(0), access(1), access(2)] : [access(0)]
        correction.withUnsafeBufferPointer { d in
            for a in planes {
                for y in 0..<h {
                    for x in 0..<w {
                        let code = Float(a.load(x, y)) + d[y * w + x] * scale
                        a.store(x, y, min(max(Int(code.rounded()), 0), maxCode))
                    }
                }
            }
        }
    }
}

/// YUV codes <-> RGB in [0, 1] for one format's depth and a colour space.
struct YUVCodes {
    let kr: Float, kb: Float, kg: Float
    /// Code = offset + scale * value (luma value in [0, 1], chroma in [-0.5, 0.5]).
    let yOffset: Float, yScale: Float, cOffset: Float, cScale: Float
    let maxCode: Int

    init(format: PixelFormat, colour: ColourSpace) {
        kr = colour.kr; kb = colour.kb; kg = 1 - colour.kr - colour.kb
        let s = Float(1 << (format.depth - 8)), m = Float(format.maxValue)
        maxCode = format.maxValue
        cOffset = 128 * s
        if colour.limitedRange {
            (yOffset, yScale, cScale) = (16 * s, 219 * s, 224 * s)
        } else {
            (yOffset, yScale, cScale) = (0, m, m)
        }
    }

    /// RGB in [0, 1], clipped as the trainer's 8-bit RGB decode clips colours outside the gamut.
    @inline(__always)
    func rgb(_ y: Float, _ u: Float, _ v: Float) -> (Float, Float, Float) {
        let l = (y - yOffset) / yScale, cb = (u - cOffset) / cScale, cr = (v - cOffset) / cScale
        let r = l + 2 * (1 - kr) * cr, b = l + 2 * (1 - kb) * cb
        let g = (l - kr * r - kb * b) / kg
        return (min(max(r, 0), 1), min(max(g, 0), 1), min(max(b, 0), 1))
    }

    /// The Y code and the (unquantised) chroma values of an RGB pixel in [0, 1].
    @inline(__always)
    func luma(_ r: Float, _ g: Float, _ b: Float) -> (Int, Float, Float) {
        let l = kr * r + kg * g + kb * b
        let code = Int((yOffset + yScale * l).rounded())
        return (min(max(code, 0), maxCode), (b - l) / (2 * (1 - kb)), (r - l) / (2 * (1 - kr)))
    }

    @inline(__always)
    func chromaCode(_ c: Float) -> Int { min(max(Int((cOffset + cScale * c).rounded()), 0), maxCode) }
}
