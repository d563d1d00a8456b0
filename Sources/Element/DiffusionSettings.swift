// method=diffusion's properties (model, steps, sampler, eta, seed, threads, fallback, processing-size, ensemble; blurbs in
// CShims/CGstMcvd/plugin.c) and their checks. McvdFilter's property switch forwards the ids it does not
// know to these two functions.
import CGStreamer
import Glibc
import CGstMcvd
import Diffusion
import MCVDKit

struct DiffusionSettings: Equatable {
    /// Path of the model file; empty (or "default") = the built-in default model (MCVDKit's DefaultModel).
    var model = ""
    /// 0 = the model's default.
    var steps = Int(GST_MCVD_DEFAULT_STEPS)
    var sampler = [SamplerKind.ddpm, .ddim][Int(GST_MCVD_DEFAULT_SAMPLER)]   // the C enum: 0 ddpm, 1 ddim
    var eta = GST_MCVD_DEFAULT_ETA
    var seed = UInt64(GST_MCVD_DEFAULT_SEED)
    /// 0 = auto.
    var threads = Int(GST_MCVD_DEFAULT_THREADS)
    var fallback = Method(rawValue: Int32(GST_MCVD_DEFAULT_FALLBACK))!
    /// Rows the model runs at (MCVDKit's FrameGenerator); 0 = the frame's own size.
    var processingSize = Int(GST_MCVD_DEFAULT_PROCESSING_SIZE)
    /// Test-time ensemble (SamplingSettings.ensemble): 1, 2 or 4; 0 the model's default.
    var ensemble = Int(GST_MCVD_DEFAULT_ENSEMBLE)

    var sampling: SamplingSettings {
        SamplingSettings(sampler: sampler, steps: steps == 0 ? nil : steps, eta: eta, seed: seed, ensemble: ensemble == 0 ? nil : ensemble)
    }

    /// Threads inside one forward (the engine takes any count; the models the element runs are small, so
    /// auto stops at 4).
    var engineThreads: Int {
        threads > 0 ? min(threads, Int(GST_MCVD_MAX_THREADS)) : min(4, max(1, System.cores))
    }
}

enum System {
    static let cores: Int = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
}

extension McvdFilter {
    /// Sets a diffusion property; false when `id` is not one of them.
    func setDiffusionProperty(_ id: UInt32, _ value: UnsafePointer<GValue>, _ s: inout Settings) -> Bool {
        switch GstMcvdProp(id) {
        case GST_MCVD_PROP_MODEL:
            s.diffusion.model = g_value_get_string(value).map { String(cString: $0) } ?? ""
        case GST_MCVD_PROP_STEPS:
            s.diffusion.steps = Int(g_value_get_int(value))
        case GST_MCVD_PROP_SAMPLER:
            s.diffusion.sampler = g_value_get_enum(value) == 0 ? .ddpm : .ddim
        case GST_MCVD_PROP_ETA:
            s.diffusion.eta = g_value_get_double(value)
        case GST_MCVD_PROP_SEED:
            s.diffusion.seed = UInt64(g_value_get_uint64(value))
        case GST_MCVD_PROP_THREADS:
            s.diffusion.threads = Int(g_value_get_int(value))
        case GST_MCVD_PROP_FALLBACK:
            s.diffusion.fallback = Method(rawValue: g_value_get_enum(value)) ?? s.diffusion.fallback
        case GST_MCVD_PROP_PROCESSING_SIZE:
            s.diffusion.processingSize = Int(g_value_get_int(value))
        case GST_MCVD_PROP_ENSEMBLE:
            s.diffusion.ensemble = Int(g_value_get_int(value))
        default:
            return false
        }
        gstLog(.info, element, "diffusion settings: \(s.diffusion)")
        return true
    }

    /// Reads a diffusion property or counter; false when `id` is not one of them.
    func getDiffusionProperty(_ id: UInt32, _ value: UnsafeMutablePointer<GValue>, _ s: Settings, _ st: Stats) -> Bool {
        switch GstMcvdProp(id) {
        case GST_MCVD_PROP_MODEL: g_value_set_string(value, s.diffusion.model)
        case GST_MCVD_PROP_STEPS: g_value_set_int(value, Int32(s.diffusion.steps))
        case GST_MCVD_PROP_SAMPLER: g_value_set_enum(value, s.diffusion.sampler == .ddpm ? 0 : 1)
        case GST_MCVD_PROP_ETA: g_value_set_double(value, s.diffusion.eta)
        case GST_MCVD_PROP_SEED: g_value_set_uint64(value, UInt(s.diffusion.seed))
        case GST_MCVD_PROP_THREADS: g_value_set_int(value, Int32(s.diffusion.threads))
        case GST_MCVD_PROP_FALLBACK: g_value_set_enum(value, s.diffusion.fallback.rawValue)
        case GST_MCVD_PROP_PROCESSING_SIZE: g_value_set_int(value, Int32(s.diffusion.processingSize))
        case GST_MCVD_PROP_ENSEMBLE: g_value_set_int(value, Int32(s.diffusion.ensemble))
        case GST_MCVD_PROP_FRAMES_FALLBACK: g_value_set_uint64(value, st.framesFallback)
        default: return false
        }
        return true
    }
}
