// What the samplers call: a network closure bound to its schedule, parameterization and conditioning.
// The network itself (U-Net) lives in module UNet; this module only fixes the calling convention.
//
// Letters used below: N samples in a batch; each sample is n frames to denoise, k past and f future
// conditioning frames; every frame is C x H x W; F = C*H*W values per frame. Buffers are flat and
// row-major: x is (N, n, C, H, W) = the reference's (N, n*C, H, W) with frames stacked on channels.

/// Shape of one block: frames to denoise and conditioning frames, all C x H x W.
public struct BlockShape: Sendable, Equatable, Codable {
    public var channels: Int
    public var height: Int
    public var width: Int
    /// n: frames the network denoises per sample (the reference's `num_frames`).
    public var frames: Int
    /// k: past conditioning frames (`num_frames_cond`).
    public var past: Int
    /// f: future conditioning frames (`num_frames_future`).
    public var future: Int

    public init(channels: Int, height: Int, width: Int, frames: Int, past: Int, future: Int) {
        precondition(channels > 0 && height > 0 && width > 0 && frames > 0 && past >= 0 && future >= 0)
        self.channels = channels
        self.height = height
        self.width = width
        self.frames = frames
        self.past = past
        self.future = future
    }

    /// F = C*H*W.
    public var frameSize: Int { channels * height * width }
    /// Values per sample of x (n*F).
    public var sampleSize: Int { frames * frameSize }
}

/// The conditioning c = (past block, future block) of a batch, with a given/masked flag per block and
/// sample. Masked blocks hold zeros (the reference's `conditioning_fn` multiplies them by its mask).
public struct Conditioning: Sendable, Equatable {
    /// (N, k, C, H, W); zeros where `pastGiven[i]` is false.
    public var past: [Float]
    /// (N, f, C, H, W); zeros where `futureGiven[i]` is false.
    public var future: [Float]
    /// Per sample: the past block is real frames (the reference's `cond_mask`, 1 = kept).
    public var pastGiven: [Bool]
    /// Per sample: the future block is real frames.
    public var futureGiven: [Bool]
    /// (N, v * n, C, H, W) or empty: what a model that sees its base is given of each sample's residual
    /// base, appended to the stacked conditioning (data.num_frames_base = v * n: b itself for v = 1, the
    /// motion base's two sides for v = 2; sampleBlock and the trainer fill it in).
    public var base: [Float] = []

    public init(past: [Float], future: [Float], pastGiven: [Bool], futureGiven: [Bool]) {
        precondition(pastGiven.count == futureGiven.count, "one flag per sample for each block")
        self.past = past
        self.future = future
        self.pastGiven = pastGiven
        self.futureGiven = futureGiven
    }

    /// Batch size N.
    public var samples: Int { pastGiven.count }

    /// The channel-stacked conditioning the concat U-Net appends to x: (N, (k+f)*C, H, W), past first,
    /// as the reference's `torch.cat([cond_frames, future_frames], dim=1)`; then the base's v * n frames
    /// when `base` is set ((N, (k+f+v*n)*C, H, W)).
    public func stacked(shape: BlockShape) -> [Float] {
        let n = samples, p = shape.past * shape.frameSize, f = shape.future * shape.frameSize
        let b = n == 0 ? 0 : base.count / n
        precondition(past.count == n * p && future.count == n * f && base.count == n * b && b % shape.sampleSize == 0,
                     "conditioning does not match the shape")
        var out = [Float]()
        out.reserveCapacity(n * (p + f + b))
        for i in 0..<n {
            out += past[i * p ..< (i + 1) * p]
            out += future[i * f ..< (i + 1) * f]
            out += base[i * b ..< (i + 1) * b]
        }
        return out
    }
}

/// A conditional network: x_t (N, n, C, H, W), the time input per sample (`NoiseSchedule.timeCond`),
/// the conditioning, and the output buffer (same shape as x) to fill with eps or v.
public typealias ConditionalNetwork = (
    _ x: UnsafeBufferPointer<Float>, _ timeCond: [Float], _ cond: Conditioning,
    _ out: UnsafeMutableBufferPointer<Float>
) throws -> Void

/// A network ready for a sampler: conditioning already bound, plus how to read its output.
public struct Denoiser {
    public var schedule: NoiseSchedule
    public var parameterization: Parameterization
    /// Values per sample of x.
    public var sampleSize: Int
    /// (x_t, timeCond per sample, out) -> fills out with the prediction (eps or v).
    public var network: (_ x: UnsafeBufferPointer<Float>, _ timeCond: [Float],
                         _ out: UnsafeMutableBufferPointer<Float>) throws -> Void

    public init(schedule: NoiseSchedule, parameterization: Parameterization, sampleSize: Int,
                network: @escaping (_ x: UnsafeBufferPointer<Float>, _ timeCond: [Float],
                                    _ out: UnsafeMutableBufferPointer<Float>) throws -> Void) {
        self.schedule = schedule
        self.parameterization = parameterization
        self.sampleSize = sampleSize
        self.network = network
    }

    /// Binds a conditional network to one batch's conditioning.
    public init(schedule: NoiseSchedule, parameterization: Parameterization, shape: BlockShape,
                network: @escaping ConditionalNetwork, cond: Conditioning) {
        self.init(schedule: schedule, parameterization: parameterization, sampleSize: shape.sampleSize) { x, t, out in
            try network(x, t, cond, out)
        }
    }

    /// Runs the network on x at level t (same for every sample) into `out`.
    func predict(_ x: [Float], t: Int, into out: inout [Float]) throws {
        let n = x.count / sampleSize
        let labels = [Float](repeating: schedule.timeCond(t), count: n)
        try x.withUnsafeBufferPointer { xp in
            try out.withUnsafeMutableBufferPointer { try network(xp, labels, $0) }
        }
    }
}
