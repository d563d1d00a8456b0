// `mcvd train VIDEO... [--data-md] [--config FILE] [flags]`: trains the masked model on the user's videos (decoded
// through GStreamer; unreadable files reported and skipped), with a progress line, validation loss on
// fixed clips of the time-split validation range, JSON-lines metrics, atomic checkpoints that resume
// exactly, and a clean stop on Ctrl-C. The step itself is Training's Trainer; settings: TrainSettings.
import ArgumentParser
import Diffusion
import Foundation
import MotionBase
import Tensor
import Training
import UNet
import VideoData

extension Mcvd {
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train an MCVD model on videos.",
            discussion: """
                Settings come from the defaults, then --config FILE.json (docs/training.md), then the flags. \
                The checkpoint (--out) is a model file for `mcvd sample` and the element, and holds what \
                --resume needs to continue exactly where it stopped. Ctrl-C saves a checkpoint and exits.
                """)

        @OptionGroup var footage: FootageOptions

        @Option(name: .customLong("config"), help: "JSON config: model/data/diffusion/training/optim sections (docs/training.md).")
        var configFile: String?

        @Option(help: "Checkpoint/model file to write (default: the --resume file, else mcvd-model.safetensors).")
        var out: String?

        @Option(help: "Continue from this checkpoint (its settings, weights, EMA, optimiser state and step).")
        var resume: String?

        @Option(help: "Append one JSON object per step (and validation) to this file.")
        var metrics: String?

        @Option(help: "Write a checkpoint every N steps (and always at the end).")
        var checkpointEvery = 500

        @Option(help: "Validation loss every N steps, on fixed clips of the validation time range.")
        var validateEvery = 100

        @Option(help: "Validation clips (drawn once, fixed for the whole run).")
        var validationClips = 16

        @Option(help: "Without a terminal: print a progress line every N steps.")
        var logEvery = 10

        @Option(help: "Decode at most N frames of each video.")
        var maxFrames: Int?

        @OptionGroup var common: CommonOptions

        // Architecture.
        @Option(help: "Base channel count (model.ngf; default 32).") var ngf: Int?
        @Option(help: "Channel multiplier per level, e.g. 1,2,2 (model.ch_mult).") var chMult: String?
        @Option(help: "Res blocks per level (model.num_res_blocks; default 1).") var resBlocks: Int?
        @Option(help: "Feature-map sizes with attention, e.g. 16 or none (model.attn_resolutions; default 16).") var attn: String?
        @Flag(inversion: .prefixedNo, help: "SPATIN conditioning (conditioning frames modulate the norms) instead of concatenation.")
        var spatin: Bool?
        @Option(help: "Hidden channels of the SPATIN norms (>= 16; default 32).") var spadeDim: Int?
        @Option(help: "Res-block dropout probability (default 0).") var dropout: Double?
        // Data.
        @Option(help: "Frame colour: gray or rgb (default gray).") var channels: ChannelsArgument?
        @Option(help: "Frame height the videos are decoded at; the model's image size (default 64).") var size: Int?
        @Option(help: "Square training crop, <= size (default: size; may change on --resume).") var crop: Int?
        @Option(help: "Past conditioning frames k (default 2).") var past: Int?
        @Option(help: "Frames to denoise n (default 1).") var current: Int?
        @Option(help: "Future conditioning frames f (default 1).") var future: Int?
        @Option(help: "Use every N-th frame of the videos (default 1).") var frameSkip: Int?
        @Option(help: "Conditioning frames this many steps apart, the nearest one step from the current frames (default 1: consecutive; 2: learn to rebuild every other frame, for 2x frame-rate conversion).")
        var conditionStride: Int?
        @Option(help: "Fraction of each video's frames (at its end) kept for validation (default 0.2).") var validationFraction: Double?
        @Option(help: "Add N synthetic clips (still photos moved with exact ground truth: docs/synthetic.md) to the real training clips (default 0).")
        var synthetic: Int?
        @Option(help: "A still image or folder of images for --synthetic (repeatable; default: the photos tools/install-data.sh installs).")
        var stills: [String] = []
        // Training.
        @Option(help: "Clips per step (default 8; may change on --resume).") var batch: Int?
        @Option(help: "Total training steps (default 10000; with --resume: the new total).") var steps: Int?
        @Option(help: "Adam learning rate (default 2e-4; with --resume: the peak rate from the checkpoint's step on, e.g. lower for a last phase).") var lr: Double?
        @Option(help: "Linear learning-rate warm-up steps (default 1000).") var warmup: Int?
        @Option(help: "EMA rate of the saved weights; 0 = no EMA (default 0.999).") var ema: Double?
        @Option(help: "Probability of masking all past frames of a sample (default 0.5).") var pMaskPast: Double?
        @Option(help: "Probability of masking all future frames of a sample (default 0.5).") var pMaskFuture: Double?
        @Flag(inversion: .prefixedNo, help: "Mask past and future with the same coin.") var synchronised: Bool?
        @Option(help: "Network output: eps or v (default v).") var parameterization: Parameterization?
        @Flag(inversion: .prefixedNo, help: "Residual mode: diffuse x0 minus the task's cheap estimate (default on).")
        var residual: Bool?
        @Option(help: "The estimate a residual model refines: blend (default; copy-last for prediction), motion (motion-compensated interpolation; prediction: the last frame pushed along its motion), last, first or zeros (docs/training.md).")
        var base: ResidualBase?
        @Option(help: "Fraction of samples trained exactly as the noise-free one-step sampler runs the network: input 0 at the top level, target the clean frame (v models; default 0; docs/training.md).")
        var oneStepFraction: Double?
        @Flag(inversion: .prefixedNo, help: "The network sees its residual base as n more conditioning frames (data.num_frames_base; residual models). With --resume of a model that does not, widens it: the new input weights start at zero, so training continues from the same function (docs/training.md).")
        var seeBase: Bool?
        @Flag(help: "Motion base: the network sees the base's two sides, the last past and the first future frame each brought to the frame's time along the motion (2n more conditioning frames, data.num_frames_base = 2n), where they disagree the base is unsure. With --resume of a model over the motion base that sees no base, widens it as --see-base does (docs/training.md).")
        var seeSides = false
        @Flag(inversion: .prefixedNo, help: "Motion base: compute a real clip's base on its whole decoded frames and crop it, as inference computes it, instead of on the training crop (data.base_from_frame; may change on --resume).")
        var baseFromFrame: Bool?
        @Flag(inversion: .prefixedNo, help: "Read half of the real training clips backwards in time (k = f: the past becomes the future; data.time_reverse; may change on --resume).")
        var timeReverse: Bool?

        /// Settings a resumed run may change: what the training draws are, not the model or its optimisation
        /// (the network is fully convolutional: the crop and batch change the draws, not the weights' shapes;
        /// the mask probabilities change which tasks the draws train).
        static let resumable = ["--synthetic", "--stills", "--base-from-frame", "--time-reverse", "--crop", "--batch",
                                "--p-mask-past", "--p-mask-future"]

        /// The options that define the model and its training, which a resumed run takes from the checkpoint.
        var settingFlags: [(String, Bool)] {
            [("--config", configFile != nil), ("--ngf", ngf != nil), ("--ch-mult", chMult != nil),
             ("--res-blocks", resBlocks != nil), ("--attn", attn != nil), ("--spatin", spatin != nil),
             ("--spade-dim", spadeDim != nil), ("--dropout", dropout != nil), ("--channels", channels != nil),
             ("--size", size != nil), ("--crop", crop != nil), ("--past", past != nil), ("--current", current != nil),
             ("--future", future != nil), ("--frame-skip", frameSkip != nil), ("--condition-stride", conditionStride != nil),
             ("--validation-fraction", validationFraction != nil), ("--synthetic", synthetic != nil), ("--stills", !stills.isEmpty), ("--batch", batch != nil),
             ("--warmup", warmup != nil), ("--ema", ema != nil), ("--p-mask-past", pMaskPast != nil),
             ("--p-mask-future", pMaskFuture != nil), ("--synchronised", synchronised != nil),
             ("--parameterization", parameterization != nil), ("--residual", residual != nil), ("--base", base != nil),
             ("--one-step-fraction", oneStepFraction != nil), ("--seed", common.seed != nil),
             ("--no-see-base", seeBase == false), ("--base-from-frame", baseFromFrame != nil),
             ("--time-reverse", timeReverse != nil)]
        }

        func validate() throws {
            guard checkpointEvery >= 1, validateEvery >= 1, validationClips >= 1, logEvery >= 1 else {
                throw ValidationError("--checkpoint-every, --validate-every, --validation-clips and --log-every must be >= 1")
            }
            if let maxFrames, maxFrames < 2 { throw ValidationError("--max-frames must be >= 2") }
            if let resume {
                guard FileManager.default.fileExists(atPath: resume) else { throw ValidationError("--resume: no file \(resume)") }
                // Data that only adds training draws may change on resume; the model and its training may not.
                let given = settingFlags.filter { $0.1 && !Self.resumable.contains($0.0) }.map(\.0)
                guard given.isEmpty else {
                    throw ValidationError("--resume takes the model and training settings from the checkpoint; "
                                          + "drop \(given.joined(separator: ", ")) (only --steps, --lr, --see-base, --see-sides, \(Self.resumable.joined(separator: ", ")) may change)")
                }
            } else {
                _ = try resolvedSettings()
            }
            if let lr, !(lr > 0) { throw ValidationError("--lr must be > 0") }
        }

        /// Defaults, then the config file, then the flags; checked.
        func resolvedSettings() throws -> TrainSettings {
            var s = TrainSettings()
            do {
                if let configFile { try s.apply(configFile: configFile) }
                if let ngf { s.ngf = ngf }
                if let chMult { s.chMult = try intList(chMult, option: "--ch-mult") }
                if let resBlocks { s.numResBlocks = resBlocks }
                if let attn { s.attnResolutions = try intList(attn, option: "--attn") }
                if let spatin { s.spade = spatin }
                if let spadeDim { s.spadeDim = spadeDim }
                if let dropout { s.dropout = dropout }
                if let channels { s.channels = channels.count }
                if let size { s.size = size }
                if let crop { s.crop = crop }
                if let past { s.past = past }
                if let current { s.current = current }
                if let future { s.future = future }
                if let frameSkip { s.frameSkip = frameSkip }
                if let conditionStride { s.conditionStride = conditionStride }
                if let validationFraction { s.validationFraction = validationFraction }
                if let synthetic { s.synthetic = synthetic }
                if !stills.isEmpty { s.stills = stills }
                if let batch { s.batch = batch }
                if let steps { s.steps = steps }
                if let lr { s.lr = lr }
                if let warmup { s.warmup = warmup }
                if let ema { s.emaRate = ema > 0 ? ema : nil }
                if let pMaskPast { s.pMaskPast = pMaskPast }
                if let pMaskFuture { s.pMaskFuture = pMaskFuture }
                if let synchronised { s.synchronised = synchronised }
                if let parameterization { s.parameterization = parameterization }
                if let residual { s.residual = residual }
                if let base { s.base = base }
                if let oneStepFraction { s.oneStepFraction = oneStepFraction }
                if let seed = common.seed { s.seed = seed }
                if let seeBase { s.baseFrames = seeBase ? s.current : 0 }
                if seeSides {
                    guard seeBase != true else { throw ValidationError("--see-base and --see-sides: give one") }
                    s.baseFrames = 2 * s.current
                }
                if let baseFromFrame { s.baseFromFrame = baseFromFrame }
                if let timeReverse { s.timeReverse = timeReverse }
                try s.check()
            } catch let e as SettingsError {
                throw ValidationError(e.description)
            } catch let e as UNetError {
                throw ValidationError(e.description)
            }
            return s
        }

        func run() throws {
            Engine.setThreads(common.threads)
            let trainer: Trainer, settings: TrainSettings
            if let resume {
                let file = try SafeTensors(path: resume)
                guard let json = file.metadata[TrainSettings.metadataKey] else {
                    throw CLIError("\(resume) has no \(TrainSettings.metadataKey) metadata: not written by `mcvd train`")
                }
                var s = try TrainSettings(json: json)
                if let steps { s.steps = steps }
                guard !(seeSides && seeBase == true) else { throw CLIError("--see-base and --see-sides: give one") }
                let views = seeSides ? 2 : seeBase == true ? 1 : 0
                let widen = views > 0 && (s.baseFrames ?? 0) == 0
                if widen {
                    s.baseFrames = views * s.current
                    do { try s.check() } catch let e as SettingsError {
                        throw CLIError("\(seeSides ? "--see-sides" : "--see-base"): \(e.description)")
                    }
                }
                if let lr { s.lr = lr }
                if let synthetic { s.synthetic = synthetic }
                if !stills.isEmpty { s.stills = stills }
                if let baseFromFrame { s.baseFromFrame = baseFromFrame }
                if let timeReverse { s.timeReverse = timeReverse }
                if let crop { s.crop = crop }
                if let batch { s.batch = batch }
                if let pMaskPast { s.pMaskPast = pMaskPast }
                if let pMaskFuture { s.pMaskFuture = pMaskFuture }
                do { try s.check() } catch let e as SettingsError { throw CLIError(e.description) }
                let masking = pMaskPast != nil || pMaskFuture != nil ? s.trainingOptions.masking : nil
                trainer = try Trainer(checkpoint: resume, seeBase: widen ? views : 0, learningRate: lr, masking: masking)
                guard trainer.options == s.trainingOptions, trainer.model.config == s.unetConfig else {
                    throw CLIError("\(resume): the stored settings do not match its training state")
                }
                settings = s
                let light = file.metadata["train.adam_updates"] == nil
                print("resuming \(resume) at step \(trainer.step) of \(s.steps)" + (lr.map { " with learning rate \($0)" } ?? "")
                      + (widen ? " (widened to see its \(views == 2 ? "base's two sides" : "base"): new input weights zero, optimiser moments start afresh)"
                               : light ? " (from exported weights: optimiser moments start afresh)" : ""))
            } else {
                settings = try resolvedSettings()
                let model = try UNet(config: settings.unetConfig)
                model.randomize(seed: settings.seed)
                // The reference initialises the output conv near zero: a residual model starts at its baseline.
                for name in ["weight", "bias"] {
                    if let last = model.parameterLayout.last(where: { $0.name.hasSuffix("." + name) }) {
                        model.parameterStorage.advanced(by: last.offset).update(repeating: 0, count: last.shape.reduce(1, *))
                    }
                }
                model.prepare()
                trainer = Trainer(model: model, options: settings.trainingOptions)
            }
            let outPath = out ?? resume ?? "mcvd-model.safetensors"
            print("settings: \(settings.summary)")
            print("parameters: \(trainer.model.parameterCount)")

            // Data.
            let paths = try footage.paths()
            let dataset = VideoDataset(paths: paths, height: settings.size, channels: settings.channels,
                                       validationFraction: settings.validationFraction, maxFrames: maxFrames) { line in
                if line.hasPrefix("skipped") { stderrLine("warning: \(line)") } else { print(line) }
            }
            guard !dataset.videos.isEmpty else { throw CLIError("no readable video among \(paths.count) file(s)") }
            if let narrow = dataset.videos.first(where: { $0.width < settings.cropSize }) {
                throw CLIError("\(narrow.path) is \(narrow.width)x\(narrow.height) at size \(settings.size): narrower than crop \(settings.cropSize)")
            }
            let layout = settings.layout
            let trainClips = dataset.clipCount(split: .train, layout: layout)
            guard trainClips > 0 else {
                throw CLIError("no video has \(layout.span) frames in its training range (past + current + future with frame skip)")
            }
            let synthetic = try syntheticSet(settings)
            let validationCount = dataset.clipCount(split: .validation, layout: layout)
            print("data: \(dataset.videos.count) video(s), \(dataset.skipped.count) skipped, \(trainClips) training clips, "
                  + "\(validationCount) validation clips of \(layout.frames) frames")
            // Fixed validation draws: the same clips, crops, masks, levels and noise at every evaluation.
            let validation: [Float]?
            let fromFrame = settings.baseFromFrame == true
            var validationContexts: [BaseContext?]?
            if validationCount > 0 {
                let b = try dataset.batch(split: .validation, layout: layout, count: validationClips, crop: settings.cropSize,
                                          seed: settings.seed ^ 0x7661_6C69, step: 0, augment: false)
                validation = interleave(b)
                if fromFrame { validationContexts = dataset.baseContexts(b) }
            } else {
                validation = nil
                stderrLine("warning: no validation clip fits in the validation range: no validation loss")
            }
            func validationLoss() -> Double? {
                validation.map { trainer.evaluate(clips: $0, samples: validationClips, height: settings.cropSize, width: settings.cropSize,
                                                  drawStep: 0, contexts: validationContexts) }
            }

            let writer = try metrics.map { try MetricsWriter(path: $0, append: resume != nil) }
            func save() throws {
                var extra = [TrainSettings.metadataKey: settings.json()]
                // The stills the synthetic clips came from (the default list may change between versions).
                if let synthetic { extra["mcvd.train.stills"] = synthetic.stills.map(\.path).joined(separator: "\n") }
                try trainer.save(path: outPath, extraMetadata: extra)
            }

            // The loop.
            installInterruptHandler()
            let progress = ProgressLine()
            let start = Date()
            var stepSeconds: Double?          // exponential average of the step time
            var lastVal: Double?
            var drawn = (real: 0, synthetic: 0)     // clips this run trained on, by kind
            let total = settings.steps
            while trainer.step < total && !interruptRequested.load(ordering: .relaxed) {
                let t0 = Date()     // the step's time includes making its batch
                let batch = try dataset.batch(split: .train, layout: layout, count: settings.batch, crop: settings.cropSize,
                                              seed: settings.seed, step: trainer.step, reverse: settings.timeReverse == true,
                                              synthetic: synthetic)
                let drawnSynthetic = batch.origins.filter(\.synthetic).count
                drawn.synthetic += drawnSynthetic
                drawn.real += batch.count - drawnSynthetic
                let stats = trainer.trainStep(clips: interleave(batch), samples: settings.batch, height: settings.cropSize,
                                              width: settings.cropSize, contexts: fromFrame ? dataset.baseContexts(batch) : nil)
                let dt = Date().timeIntervalSince(t0)
                stepSeconds = stepSeconds.map { 0.9 * $0 + 0.1 * dt } ?? dt
                let done = trainer.step
                var fields: [(String, Any)] = [("step", done), ("loss", stats.loss), ("grad_norm", stats.gradNorm),
                                               ("lr", stats.learningRate), ("step_s", dt)]
                if synthetic != nil { fields.append(("synthetic", drawnSynthetic)) }
                let validating = done % validateEvery == 0 || done == total
                if validating, let v = validationLoss() {
                    lastVal = v
                    fields.append(("val_loss", v))
                }
                fields.append(("time_s", Date().timeIntervalSince(start)))
                writer?.write(fields)
                let rate = 1 / (stepSeconds ?? 1)
                let line = "step \(done)/\(total) loss \(fmt(stats.loss)) val \(lastVal.map(fmt) ?? "-") | "
                    + "\(f2(rate)) steps/s \(f1(rate * Double(settings.batch))) samples/s | ETA \(clock(Double(total - done) / rate))"
                if progress.tty || done % logEvery == 0 || done == total || validating { progress.show(line, final: done == total) }
                if done % checkpointEvery == 0 && done < total { try save() }
            }
            try save()
            let elapsed = Date().timeIntervalSince(start)
            if synthetic != nil { progress.note("clips drawn: \(drawn.real) real, \(drawn.synthetic) synthetic") }
            if interruptRequested.load(ordering: .relaxed) {
                progress.note("interrupted: checkpoint at step \(trainer.step) saved to \(outPath); "
                              + "continue with: mcvd train --resume \(outPath) \(footage.dataMd ? "--data-md" : "<videos>")")
            } else {
                progress.note("done: \(trainer.step) steps in \(clock(elapsed)); model saved to \(outPath)")
            }
        }

        /// The synthetic clips of the settings (nil without --synthetic); Synthetic.swift loads them.
        func syntheticSet(_ settings: TrainSettings) throws -> SyntheticClips? {
            guard settings.syntheticCount > 0 else { return nil }
            return try syntheticClips(count: settings.syntheticCount, stills: settings.stills, channels: settings.channels,
                                      size: settings.size, crop: settings.cropSize, seed: settings.seed)
        }

        func fmt(_ v: Double) -> String { String(format: v < 0.01 ? "%.3e" : "%.4f", v) }
    }
}

/// (N, k, ...), (N, n, ...), (N, f, ...) -> (N, k + n + f, C, S, S), the trainer's clip layout.
func interleave(_ b: ClipBatch) -> [Float] {
    let plane = b.channels * b.size * b.size, k = b.layout.past, n = b.layout.current, f = b.layout.future
    var out = [Float]()
    out.reserveCapacity(b.count * b.layout.frames * plane)
    for i in 0..<b.count {
        out += b.past[i * k * plane ..< (i + 1) * k * plane]
        out += b.current[i * n * plane ..< (i + 1) * n * plane]
        out += b.future[i * f * plane ..< (i + 1) * f * plane]
    }
    return out
}

/// Files as given; folders replaced by the regular files below them (sorted, hidden ones left out).
func expandVideoPaths(_ inputs: [String]) throws -> [String] {
    var out: [String] = []
    for input in inputs {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: input, isDirectory: &isDir), isDir.boolValue {
            guard let e = FileManager.default.enumerator(atPath: input) else { continue }
            var files: [String] = []
            while let rel = e.nextObject() as? String {
                let path = (input as NSString).appendingPathComponent(rel)
                var sub: ObjCBool = false
                if rel.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
                if FileManager.default.fileExists(atPath: path, isDirectory: &sub), !sub.boolValue { files.append(path) }
            }
            out += files.sorted()
        } else {
            out.append(input)   // a missing file is reported and skipped by the dataset
        }
    }
    return out
}

extension ResidualBase: ExpressibleByArgument {}
