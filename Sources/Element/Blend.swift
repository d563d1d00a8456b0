// Frame synthesis without a model: the planes view of a mapped video frame and the blend kernel.
// The rounding rule (documented in README): out = (a * (256 - w) + b * w + 128) >> 8 per sample, with
// w the later frame's weight in 1/256 units (8-bit and 16-bit samples alike).
import Dispatch

/// Raw planes of one frame: base pointer, stride, bytes of real samples per row and rows, per plane.
struct VideoPlanes {
    var data: [UnsafeMutableRawPointer]
    var strides: [Int]
    var rowBytes: [Int]
    var rows: [Int]
    var bytesPerSample: Int  // 1 or 2 (GRAY16_LE)
}

/// What the element asks of a frame synthesiser: a frame at a time position between two input frames.
/// The diffusion model will be one more conformer (with more past/future frames).
protocol FrameSynthesizer {
    /// Writes into `output` the frame at `weight`/256 of the way from `past` to `future`.
    func synthesize(past: VideoPlanes, future: VideoPlanes, weight: Int, output: VideoPlanes)
}

struct BlendSynthesizer: FrameSynthesizer {
    /// Rows of all planes split across this many threads when a frame is large (>= 256 KiB).
    var threads: Int = 2

    func synthesize(past: VideoPlanes, future: VideoPlanes, weight: Int, output: VideoPlanes) {
        let total = output.rowBytes.indices.reduce(0) { $0 + output.rowBytes[$1] * output.rows[$1] }
        let parts = total >= 256 * 1024 ? max(1, threads) : 1
        // Work items: each plane's rows split into `parts` bands.
        var items: [(plane: Int, rows: Range<Int>)] = []
        for p in output.rows.indices {
            let n = output.rows[p]
            for k in 0..<parts where n * k / parts < n * (k + 1) / parts {
                items.append((p, n * k / parts ..< n * (k + 1) / parts))
            }
        }
        let run = { (i: Int) in
            let (p, rows) = items[i]
            for y in rows {
                let a = past.data[p] + y * past.strides[p]
                let b = future.data[p] + y * future.strides[p]
                let o = output.data[p] + y * output.strides[p]
                if output.bytesPerSample == 2 {
                    blendRow16(a, b, o, count: output.rowBytes[p] / 2, weight: weight)
                } else {
                    blendRow8(a, b, o, count: output.rowBytes[p], weight: weight)
                }
            }
        }
        if parts == 1 {
            for i in items.indices { run(i) }
        } else {
            DispatchQueue.concurrentPerform(iterations: items.count, execute: run)
        }
    }
}

/// out[i] = (a[i] * (256 - w) + b[i] * w + 128) >> 8 over 8-bit samples.
@inline(__always)
func blendRow8(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ o: UnsafeMutableRawPointer, count: Int, weight w: Int) {
    let wa = SIMD32<UInt16>(repeating: UInt16(256 - w)), wb = SIMD32<UInt16>(repeating: UInt16(w))
    let half = SIMD32<UInt16>(repeating: 128)
    var i = 0
    // 256 * 255 + 128 fits in UInt16 only without the carry of a*(256-w)+b*w: that sum is <= 255*256,
    // so adding 128 stays <= 65408 — no overflow.
    while i + 32 <= count {
        let va = SIMD32<UInt16>(truncatingIfNeeded: a.loadUnaligned(fromByteOffset: i, as: SIMD32<UInt8>.self))
        let vb = SIMD32<UInt16>(truncatingIfNeeded: b.loadUnaligned(fromByteOffset: i, as: SIMD32<UInt8>.self))
        let r = (va &* wa &+ vb &* wb &+ half) &>> 8
        o.storeBytes(of: SIMD32<UInt8>(truncatingIfNeeded: r), toByteOffset: i, as: SIMD32<UInt8>.self)
        i += 32
    }
    let pa = a.assumingMemoryBound(to: UInt8.self), pb = b.assumingMemoryBound(to: UInt8.self)
    let po = o.assumingMemoryBound(to: UInt8.self)
    while i < count {
        po[i] = UInt8((Int(pa[i]) * (256 - w) + Int(pb[i]) * w + 128) >> 8)
        i += 1
    }
}

/// The same rule over 16-bit little-endian samples, in 32-bit arithmetic. The vector loop loads samples
/// in host order: this project targets x86_64 and arm64 Linux, both little-endian.
@inline(__always)
func blendRow16(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ o: UnsafeMutableRawPointer, count: Int, weight w: Int) {
    let wa = SIMD16<UInt32>(repeating: UInt32(256 - w)), wb = SIMD16<UInt32>(repeating: UInt32(w))
    let half = SIMD16<UInt32>(repeating: 128)
    var i = 0
    while i + 16 <= count {
        let va = SIMD16<UInt32>(truncatingIfNeeded: a.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<UInt16>.self))
        let vb = SIMD16<UInt32>(truncatingIfNeeded: b.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<UInt16>.self))
        let r = SIMD16<UInt16>(truncatingIfNeeded: (va &* wa &+ vb &* wb &+ half) &>> 8)
        o.storeBytes(of: r, toByteOffset: 2 * i, as: SIMD16<UInt16>.self)
        i += 16
    }
    while i < count {
        let va = Int(UInt16(littleEndian: a.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        let vb = Int(UInt16(littleEndian: b.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        o.storeBytes(of: UInt16((va * (256 - w) + vb * w + 128) >> 8).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
        i += 1
    }
}

#if _endian(big)
#error("blendRow16 assumes a little-endian host")
#endif
