// Frame counts, PTS, durations and offsets out of the element for integer factors and rational rates.
import CGStreamer
import Element
import Testing

@Suite struct TimingTests {
    /// Input frames k at rate n/d: PTS = k * d / n s, exactly as a demuxer or videorate would stamp them.
    func inputPTS(_ k: UInt, _ n: UInt, _ d: UInt) -> UInt { scale(k, d * second, n) }

    @Test(arguments: [1, 2, 3, 4, 16])
    func integerFactors(factor: Int) {
        let h = Harness(["factor": "\(factor)"], caps: "video/x-raw,format=GRAY8,width=4,height=2,framerate=30/1")
        let n: UInt = 12
        for k in 0..<n { #expect(h.push(seed: UInt64(k), pts: inputPTS(k, 30, 1), duration: inputPTS(1, 30, 1)) == GST_FLOW_OK) }
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(h.outRate == (Int32(30 * factor), 1))
        #expect(outs.count == Int(n) * factor)
        let rate = UInt(30 * factor)
        for (i, o) in outs.enumerated() {
            #expect(o.pts == scale(UInt(i), second, rate), "slot \(i)")
            #expect(o.duration == scale(UInt(i + 1), second, rate) - scale(UInt(i), second, rate))
            #expect(o.offset == UInt(i))
            // Every factor-th output is an original frame, bit-exact; the others are inserted.
            #expect(o.inserted == (i % factor != 0))
            if i % factor == 0 { #expect(o.samples == h.samples(seed: UInt64(i / factor))) }
        }
    }

    /// Downstream caps fix the output rate; it wins over `factor`. Any rational rate pair works.
    @Test(arguments: [(24000, 1001, 60, 1), (30, 1, 24, 1), (25, 1, 30000, 1001), (60, 1, 25, 1), (30000, 1001, 50, 1)])
    func rationalRates(inN: Int, inD: Int, outN: Int, outD: Int) {
        let h = Harness(caps: "video/x-raw,format=GRAY8,width=3,height=3,framerate=\(inN)/\(inD)",
                        sinkCaps: "video/x-raw,format=GRAY8,width=3,height=3,framerate=\(outN)/\(outD)")
        let n: UInt = 40
        let pts = (0...n).map { inputPTS($0, UInt(inN), UInt(inD)) }
        for k in 0..<Int(n) { h.push(seed: UInt64(k), pts: pts[k], duration: pts[k + 1] - pts[k]) }
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(h.outRate == (Int32(outN), Int32(outD)))
        // Slots whose start lies before the end of the last input frame (minus the tolerance).
        let slot = { (i: UInt) in scale(i, UInt(outD) * second, UInt(outN)) }
        let tol = slot(1) / 3  // the default snap window
        var expected = 0
        while slot(UInt(expected)) < pts[Int(n)] && pts[Int(n)] - slot(UInt(expected)) > tol { expected += 1 }
        #expect(outs.count == expected)
        for (i, o) in outs.enumerated() {
            let t = slot(UInt(i))
            #expect(o.pts == t)
            #expect(o.duration == slot(UInt(i + 1)) - t)
            // Find the input frames around t and check the pixel values against the blend rule.
            let k = (0..<Int(n)).last { pts[$0] <= t + tol }!
            if t <= pts[k] || t - pts[k] <= tol {
                #expect(!o.inserted)
                #expect(o.samples == h.samples(seed: UInt64(k)))
            } else if k + 1 < Int(n) {
                #expect(o.inserted)
                let w = Int(gst_util_uint64_scale_round(t - pts[k], 256, pts[k + 1] - pts[k]))
                #expect(o.samples == expectedBlend(h.samples(seed: UInt64(k)), h.samples(seed: UInt64(k + 1)), weight: w))
            } else {
                #expect(o.inserted)  // EOS tail: repeat of the last frame
                #expect(o.samples == h.samples(seed: UInt64(k)))
            }
        }
    }

    /// No drift: slot times are computed from the index, so after 10^6 output frames at 60000/1001 they
    /// equal floor(i * 1001e9 / 60000) exactly (checked with 128-bit arithmetic).
    @Test func noDriftOverAMillionFrames() {
        let h = Harness(caps: "video/x-raw,format=GRAY8,width=1,height=1,framerate=30000/1001")
        // Push frames spanning output slot 10^6 only (PTS far from zero), then check slot times.
        let n = UInt(30000), d = UInt(1001)
        let k0: UInt = 500_000
        for k in k0..<(k0 + 4) { h.push(seed: UInt64(k), pts: inputPTS(k, n, d)) }
        let outs = h.pullAll()
        #expect(outs.count == 6)
        let anchor = inputPTS(k0, n, d)
        for (i, o) in outs.enumerated() {
            let (hi, lo) = UInt(i).multipliedFullWidth(by: d * second)
            let exact = (2 * n).dividingFullWidth((hi, lo)).quotient
            #expect(o.pts == anchor + exact)
        }
        // And the grid itself at i = 10^6 matches the exact rational value.
        let i: UInt = 1_000_000
        let (hi, lo) = i.multipliedFullWidth(by: d * second)
        #expect(scale(i, d * second, 2 * n) == (2 * n).dividingFullWidth((hi, lo)).quotient)
    }

    @Test func repeatMethodDuplicatesThePreviousFrame() {
        let h = Harness(["method": "repeat", "factor": "3"], caps: "video/x-raw,format=RGB,width=5,height=3,framerate=10/1")
        for k in 0..<4 { h.push(seed: UInt64(k), pts: inputPTS(UInt(k), 10, 1)) }
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.count == 12)
        for (i, o) in outs.enumerated() {
            #expect(o.samples == h.samples(seed: UInt64(i / 3)))
            #expect(o.inserted == (i % 3 != 0))
        }
    }

    /// Buffers without PTS follow the previous one by one input frame (documented rule).
    @Test func buffersWithoutPTS() {
        let h = Harness(caps: "video/x-raw,format=GRAY8,width=2,height=2,framerate=25/1")
        h.push(seed: 1, pts: none)
        h.push(seed: 2, pts: none)
        h.push(seed: 3, pts: none)
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.map(\.pts) == (0..<6).map { scale(UInt($0), second, 50) })
    }
}
