// The frames a training sample's residual base is computed on when the sample is a crop of larger
// frames: the base a network learns to correct should be the one it is given at inference, where the
// motion estimate sees the whole frame, not a 32x32 window whose border blocks find no match.

public struct BaseContext: Sendable, Equatable {
    /// The k past and f future frames of the clip (C x height x width each, in the data range, flipped as
    /// the crop was), oldest past first, nearest future first.
    public var past: [Float]
    public var future: [Float]
    public var width: Int, height: Int
    /// The crop's top-left corner in these frames.
    public var x: Int, y: Int

    public init(past: [Float], future: [Float], width: Int, height: Int, x: Int, y: Int) {
        self.past = past; self.future = future; self.width = width; self.height = height; self.x = x; self.y = y
    }

    /// The crop (`size` x `size`, every channel of every frame) of frames laid out C x height x width.
    public func crop(_ frames: [Float], channels: Int, size: Int) -> [Float] {
        let plane = width * height
        precondition(frames.count % (channels * plane) == 0 && x + size <= width && y + size <= height)
        var out = [Float]()
        out.reserveCapacity(frames.count / plane * size * size)
        for p in 0 ..< frames.count / plane {
            for row in 0..<size {
                let start = p * plane + (y + row) * width + x
                out += frames[start ..< start + size]
            }
        }
        return out
    }
}
