// Block-wise autoregression (MCVD sec. 3.3; the reference's video-generation loop): make arbitrarily
// many frames with an n-frame model by feeding generated frames back as the next block's conditioning.
// The block itself is sampled by a caller's closure (usually wrapping `sampleBlock`).

/// One block request: the task for this block (generation turns into prediction once enough frames
/// exist), its conditioning, and the block index (use it to pick independent noise streams).
public typealias BlockSamplerClosure = (_ task: Task, _ cond: Conditioning, _ block: Int) throws -> [Float]

/// Produces `count` new frames for each of N samples, block by block.
///
/// - predict: frames after the given ones. Block 0's past = the last k given frames; each later
///   block's past = the last k frames of given + generated so far.
/// - predictPast: frames before the given ones. Block 0's future = the first f given frames; each later
///   block's future = the first f frames of generated + given; blocks are prepended.
/// - generate: block 0 is unconditional; later blocks predict from the last k frames once at least k
///   exist (k = 0, or fewer than k frames so far: unconditional again).
/// - interpolate: not block-wise (one gap is one block); rejected.
///
/// - given: (N, g, C, H, W), g = `givenFrames` (ignored by generate).
/// - Returns (N, count, C, H, W) in time order (earliest first). For predictPast these are the `count`
///   frames nearest to the given ones; for the others the first `count` after them.
public func autoregress(task: Task, shape: BlockShape, samples n: Int, given: [Float], givenFrames g: Int,
                        count: Int, sampleBlock: BlockSamplerClosure) throws -> [Float] {
    let fs = shape.frameSize
    guard count >= 0 else { throw TaskError.badShape("negative frame count") }
    // Time-ordered frames, each a batch of N frames: (N, C, H, W).
    var video: [[Float]] = []
    if task != .generate {
        guard given.count == n * g * fs else {
            throw TaskError.badShape("given has \(given.count) values, expected \(n * g * fs)")
        }
        for t in 0..<g {
            var frame = [Float](repeating: 0, count: n * fs)
            for i in 0..<n {
                frame.replaceSubrange(i * fs ..< (i + 1) * fs, with: given[(i * g + t) * fs ..< (i * g + t + 1) * fs])
            }
            video.append(frame)
        }
    }
    switch task {
    case .interpolate:
        throw TaskError.unsupported("interpolation fills one gap per block: call sampleBlock per gap")
    case .predict:
        guard shape.past > 0, g >= shape.past else {
            throw TaskError.missingBlock("prediction needs at least k = \(shape.past) given frames (k > 0), got \(g)")
        }
    case .predictPast:
        guard shape.future > 0, g >= shape.future else {
            throw TaskError.missingBlock("past prediction needs at least f = \(shape.future) given frames (f > 0), got \(g)")
        }
    case .generate:
        break
    }

    var produced = 0, block = 0
    while produced < count {
        let blockTask: Task
        let cond: Conditioning
        switch task {
        case .predictPast:
            blockTask = .predictPast
            cond = try blockTask.conditioning(shape: shape, samples: n,
                                              future: gather(video, 0 ..< shape.future, n: n, fs: fs))
        case .predict, .generate:
            if shape.past > 0 && video.count >= shape.past {
                blockTask = .predict
                cond = try blockTask.conditioning(shape: shape, samples: n,
                                                  past: gather(video, video.count - shape.past ..< video.count, n: n, fs: fs))
            } else {
                blockTask = .generate
                cond = try blockTask.conditioning(shape: shape, samples: n)
            }
        case .interpolate:
            fatalError("rejected above")
        }
        let out = try sampleBlock(blockTask, cond, block)
        guard out.count == n * shape.sampleSize else {
            throw TaskError.badShape("block \(block) returned \(out.count) values, expected \(n * shape.sampleSize)")
        }
        let frames = scatter(out, frames: shape.frames, n: n, fs: fs)
        if task == .predictPast { video.insert(contentsOf: frames, at: 0) } else { video.append(contentsOf: frames) }
        produced += shape.frames
        block += 1
    }

    // The requested frames, time-ordered, as (N, count, F).
    let range = task == .predictPast ? (produced - count ..< produced)
                                     : (video.count - produced ..< video.count - produced + count)
    return gather(video, range, n: n, fs: fs)
}

/// Frames `range` of a time-ordered list of batches -> (N, range.count, F).
func gather(_ video: [[Float]], _ range: Range<Int>, n: Int, fs: Int) -> [Float] {
    var out = [Float](repeating: 0, count: n * range.count * fs)
    for (j, t) in range.enumerated() {
        for i in 0..<n {
            let dst = (i * range.count + j) * fs
            out.replaceSubrange(dst ..< dst + fs, with: video[t][i * fs ..< (i + 1) * fs])
        }
    }
    return out
}

/// (N, m, F) -> m time-ordered batches of N frames.
func scatter(_ x: [Float], frames m: Int, n: Int, fs: Int) -> [[Float]] {
    (0..<m).map { j in
        var frame = [Float](repeating: 0, count: n * fs)
        for i in 0..<n { frame.replaceSubrange(i * fs ..< (i + 1) * fs, with: x[(i * m + j) * fs ..< (i * m + j + 1) * fs]) }
        return frame
    }
}
