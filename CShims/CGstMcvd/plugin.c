// Plugin entry and GType registration of the mcvd element: class_init (metadata, pad templates, param
// specs) and instance_init (pads). Every vfunc forwards to Swift through the callback table.
#include "CGstMcvd.h"
#include "CGstMcvdSrc.h"

GST_DEBUG_CATEGORY_STATIC(gst_mcvd_debug);

static GstMcvdCallbacks callbacks;

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS("video/x-raw, format=(string)" GST_MCVD_FORMATS ", width=(int)[1, max], "
                    "height=(int)[1, max], framerate=(fraction)[0/1, max]"));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS("video/x-raw, format=(string)" GST_MCVD_FORMATS ", width=(int)[1, max], "
                    "height=(int)[1, max], framerate=(fraction)[0/1, max]"));

G_DEFINE_TYPE(GstMcvd, gst_mcvd, GST_TYPE_ELEMENT)

GType gst_mcvd_mode_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {0, "Interpolate: insert frames between input frames (frame-rate up-conversion)", "interpolate"},
      {GST_MCVD_MODE_PREDICT, "Predict: pass input frames at once (no added latency) and put a frame predicted from "
       "the past in place of each missing one; extend-frames / prepend-frames add frames after / before the clip",
       "predict"},
      {0, NULL, NULL}};
  if (g_once_init_enter(&type)) g_once_init_leave(&type, g_enum_register_static("GstMcvdMode", values));
  return type;
}

GType gst_mcvd_method_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {0, "Repeat the most recent input frame", "repeat"},
      {1, "Time-weighted blend of the two neighbouring input frames", "blend"},
      {2, "Motion-compensated interpolation of the two neighbouring input frames (scene cut: nearer frame)", "motion"},
      {GST_MCVD_METHOD_DIFFUSION, "Diffusion model (property model) conditioned on past and future input frames",
       "diffusion"},
      {0, NULL, NULL}};
  if (g_once_init_enter(&type)) g_once_init_leave(&type, g_enum_register_static("GstMcvdMethod", values));
  return type;
}

GType gst_mcvd_sampler_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {0, "DDPM (ancestral sampling; eta unused)", "ddpm"},
      {1, "DDIM (eta 0: deterministic given the seed)", "ddim"},
      {0, NULL, NULL}};
  if (g_once_init_enter(&type)) g_once_init_leave(&type, g_enum_register_static("GstMcvdSampler", values));
  return type;
}

GType gst_mcvd_fallback_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {0, "Repeat the most recent input frame", "repeat"},
      {1, "Time-weighted blend of the two neighbouring input frames", "blend"},
      {0, NULL, NULL}};
  if (g_once_init_enter(&type)) g_once_init_leave(&type, g_enum_register_static("GstMcvdFallback", values));
  return type;
}

static void gst_mcvd_set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec) {
  callbacks.set_property(((GstMcvd *)object)->impl, prop_id, value);
}

static void gst_mcvd_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec) {
  callbacks.get_property(((GstMcvd *)object)->impl, prop_id, value);
}

static GstStateChangeReturn gst_mcvd_change_state(GstElement *element, GstStateChange transition) {
  GstMcvd *self = (GstMcvd *)element;
  if (!callbacks.state_before(self->impl, transition)) return GST_STATE_CHANGE_FAILURE;
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_mcvd_parent_class)->change_state(element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) return ret;
  callbacks.state_after(self->impl, transition);
  return ret;
}

static void gst_mcvd_finalize(GObject *object) {
  GstMcvd *self = (GstMcvd *)object;
  if (self->impl) callbacks.destroy(self->impl);
  self->impl = NULL;
  G_OBJECT_CLASS(gst_mcvd_parent_class)->finalize(object);
}

static void gst_mcvd_class_init(GstMcvdClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  gobject_class->set_property = gst_mcvd_set_property;
  gobject_class->get_property = gst_mcvd_get_property;
  gobject_class->finalize = gst_mcvd_finalize;
  element_class->change_state = gst_mcvd_change_state;

  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_MODE,
      g_param_spec_enum("mode", "Mode",
                        "What to synthesise: interpolate inserts frames between input frames (output rate from "
                        "factor or downstream caps); predict keeps the input rate, passes input frames without "
                        "delay and fills frames missing on the input grid (timestamp jump, GAP event) with frames "
                        "predicted from the frames before them (method=diffusion: the model; other methods: repeat)",
                        gst_mcvd_mode_get_type(), GST_MCVD_DEFAULT_MODE, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_METHOD,
      g_param_spec_enum("method", "Method",
                        "How inserted frames are made: repeat the previous input frame, blend the two "
                        "neighbours weighted by time, motion-compensate them, or diffusion: a model (property model) "
                        "conditioned on past and future input frames (may change while PLAYING; to or from diffusion "
                        "acts like a discontinuity)",
                        gst_mcvd_method_get_type(), GST_MCVD_DEFAULT_METHOD, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_FACTOR,
      g_param_spec_int("factor", "Factor",
                       "Output frame rate = input frame rate x factor, unless downstream caps fix the output "
                       "frame rate (that wins)",
                       GST_MCVD_MIN_FACTOR, GST_MCVD_MAX_FACTOR, GST_MCVD_DEFAULT_FACTOR,
                       rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_FRAMES_IN,
      g_param_spec_uint64("frames-in", "Frames in", "Input frames received", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_FRAMES_OUT,
      g_param_spec_uint64("frames-out", "Frames out", "Frames pushed downstream", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_FRAMES_INSERTED,
      g_param_spec_uint64("frames-inserted", "Frames inserted",
                          "Synthesised frames pushed (they carry a GstReferenceTimestampMeta "
                          "timestamp/x-mcvd-inserted)", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_FRAMES_DROPPED,
      g_param_spec_uint64("frames-dropped", "Frames dropped",
                          "Input frames dropped (PTS more than two frames before where the nominal grid "
                          "puts the frame after the previous one, without DISCONT; mode=predict: frames arriving "
                          "after their slot was filled); the first one posts a warning", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_FRAMES_RETIMED,
      g_param_spec_uint64("frames-retimed", "Frames retimed",
                          "Input frames re-placed one nominal frame after the previous because their PTS "
                          "was missing, duplicated or less than half a frame after the previous one",
                          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_SNAP_WINDOW,
      g_param_spec_int64("snap-window", "Snap window",
                         "How far (ns) a frame's timestamp may be moved to keep it an original: onto the input "
                         "rate's nominal grid, and onto an output slot (absorbs timestamp rounding and capture "
                         "jitter); -1 = auto: 1/3 of an input frame and 1/3 of an output frame (5.6 ms at 60 "
                         "fps); capped below half a frame",
                         -1, GST_MCVD_MAX_SNAP_WINDOW, GST_MCVD_DEFAULT_SNAP_WINDOW,
                         rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_MODEL,
      g_param_spec_string("model", "Model",
                          "method=diffusion: path of the model file (safetensors with an mcvd.config, as `mcvd "
                          "train` writes); empty = the built-in default model, default.safetensors (mode=predict: "
                          "default-predict.safetensors first in each place, the model trained for prediction) found in this "
                          "order: the file $MCVD_MODEL names (for every mode); <plugin dir>/gst-mcvd/; <prefix>/share/gst-mcvd/models/ "
                          "for a plugin in <prefix>/lib/...; the source tree's models/; /usr/local/share/gst-mcvd/models/; "
                          "/usr/share/gst-mcvd/models/ (none: an error listing the places)",
                          "", rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_STEPS,
      g_param_spec_int("steps", "Steps",
                       "method=diffusion: sampler steps per inserted frame; 0 = the model's default (1 for v "
                       "models, 50 for eps); at most the model's num_steps",
                       0, GST_MCVD_MAX_STEPS, GST_MCVD_DEFAULT_STEPS, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_SAMPLER,
      g_param_spec_enum("sampler", "Sampler", "method=diffusion: the sampler", gst_mcvd_sampler_get_type(),
                        GST_MCVD_DEFAULT_SAMPLER, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_ETA,
      g_param_spec_double("eta", "Eta", "method=diffusion, sampler=ddim: noise per step (0 deterministic, 1 "
                          "DDPM-like)", 0.0, GST_MCVD_MAX_ETA, GST_MCVD_DEFAULT_ETA, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_SEED,
      g_param_spec_uint64("seed", "Seed",
                          "method=diffusion: noise seed; the same seed, input and settings give the same output "
                          "bytes on every run", 0, G_MAXUINT64, GST_MCVD_DEFAULT_SEED, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_THREADS,
      g_param_spec_int("threads", "Threads",
                       "method=diffusion: threads inside one model forward (this element's own; keep it fixed "
                       "for bit-identical runs); 0 = auto (the machine's cores, at most 4)",
                       0, GST_MCVD_MAX_THREADS, GST_MCVD_DEFAULT_THREADS, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_FALLBACK,
      g_param_spec_enum("fallback", "Fallback",
                        "method=diffusion: how frames are made where the model cannot condition (too few frames "
                        "before or after, at the stream's start and end and around a discontinuity)",
                        gst_mcvd_fallback_get_type(), GST_MCVD_DEFAULT_FALLBACK, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_FRAMES_FALLBACK,
      g_param_spec_uint64("frames-fallback", "Frames fallback",
                          "method=diffusion: inserted frames made by the fallback method because the model "
                          "could not condition (also counted in frames-inserted)", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_EXTEND_FRAMES,
      g_param_spec_int("extend-frames", "Extend frames",
                       "mode=predict: at EOS, add this many frames after the last one (method=diffusion: block-wise "
                       "autoregressive prediction; other methods: repeats), on the input frame grid",
                       0, GST_MCVD_MAX_EXTRA_FRAMES, GST_MCVD_DEFAULT_EXTEND_FRAMES, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_PREPEND_FRAMES,
      g_param_spec_int("prepend-frames", "Prepend frames",
                       "mode=predict: add this many frames before the first one (method=diffusion: predicted "
                       "backwards from the first frames, which are held until the model has them; other methods: "
                       "repeats). They take the grid positions before the first frame; when those would start "
                       "before the segment start, every output timestamp is delayed by that many frames instead",
                       0, GST_MCVD_MAX_EXTRA_FRAMES, GST_MCVD_DEFAULT_PREPEND_FRAMES, rw | GST_PARAM_MUTABLE_READY));

  g_object_class_install_property(gobject_class, GST_MCVD_PROP_PROCESSING_SIZE,
      g_param_spec_int("processing-size", "Processing size",
                       "method=diffusion: rows the model runs at; taller frames are area-averaged to about this "
                       "height (aspect kept), and the model's correction over its base is upsampled (bilinear) "
                       "over the base computed at full resolution; frames no taller run at their own size; 0 = "
                       "always the frame's own size (at most 640x480 pixels)",
                       0, GST_MCVD_MAX_PROCESSING_SIZE, GST_MCVD_DEFAULT_PROCESSING_SIZE,
                       rw | GST_PARAM_MUTABLE_READY));

  g_object_class_install_property(gobject_class, GST_MCVD_PROP_ENSEMBLE,
      g_param_spec_int("ensemble", "Ensemble",
                       "method=diffusion: test-time ensemble, 0, 1, 2 or 4: 1 off; 2 averages the model's frame with its "
                       "frame for the left-right mirrored input, mirrored back; 4 also for the time-reversed input "
                       "(interpolation by a model with as many past as future frames; prediction takes the mirror "
                       "only). Made for the noise-free one-step sampler; costs that many network runs. 0 = the "
                       "model's default: 2 for interpolation by the noise-free one-step sampler of a v model "
                       "(the default model's default), else 1",
                       0, 4, GST_MCVD_DEFAULT_ENSEMBLE, rw | GST_PARAM_MUTABLE_READY));

  /* QoS and stats (Sources/Element/DiffusionQoS.swift) */
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_STATS,
      g_param_spec_boxed("stats", "Stats",
                         "A GstStructure mcvd-stats (also posted as an element message at EOS and every stats-interval): frames-in, frames-out, "
                         "frames-inserted, frames-generated (inserted frames the model made), frames-fallback (made by "
                         "the fallback: the model could not condition, or QoS), frames-fallback-qos (the model's frame "
                         "would have been late: live pipeline or a sink that syncs and sends QoS; never for a file "
                         "pipeline), model-calls, model-time, mean-model-time (ns per call), "
                         "mean-model-time-per-frame (ns per generated frame), live, synced, qos-proportion",
                         GST_TYPE_STRUCTURE, ro));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_STATS_INTERVAL,
      g_param_spec_uint64("stats-interval", "Stats interval",
                          "method=diffusion: also post the mcvd-stats message whenever the output's timestamps have "
                          "advanced by this many ns since the last one (a live pipeline never reaches EOS); the "
                          "message's eos field tells the final one from these; 0 = at EOS only",
                          0, G_MAXUINT64, 0, rw | GST_PARAM_MUTABLE_PLAYING));
  /* Scene cuts, static content, fill-gaps (Sources/Element/PairDecisions.swift). */
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_SCENE_THRESHOLD,
      g_param_spec_double("scene-threshold", "Scene threshold",
                          "method=motion and method=diffusion: a pair of input frames is a scene cut when its score "
                          "exceeds this; the inserted frames between them then repeat the nearer input frame (the "
                          "earlier one at exactly halfway) and the model never conditions across the cut. Score = "
                          "mean absolute match error (levels) of the best motion field at the pair's midpoint / the "
                          "frames' luma contrast (mean absolute deviation), 0 when that error is at most 8 levels; "
                          "0 = no cut detection",
                          0.0, GST_MCVD_MAX_SCENE_THRESHOLD, GST_MCVD_DEFAULT_SCENE_THRESHOLD, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_STATIC_THRESHOLD,
      g_param_spec_double("static-threshold", "Static threshold",
                          "method=diffusion: when two neighbouring input frames differ by at most this many levels "
                          "(0-255) in every 16x16 block (the largest block mean of |luma difference|), the model is "
                          "skipped and the inserted frames between them are their blend; 0 = always run the model",
                          0.0, GST_MCVD_MAX_STATIC_THRESHOLD, GST_MCVD_DEFAULT_STATIC_THRESHOLD, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_FILL_GAPS,
      g_param_spec_boolean("fill-gaps", "Fill gaps",
                           "mode=interpolate: keep the input rate (factor is ignored) and put synthesised frames "
                           "(method) in place of the frames missing from the stream: holes in the timestamps, and "
                           "input frames that are exact byte copies of the previous one (a capture's mark of a "
                           "dropped frame; counted in frames-duplicate); frames-inserted counts the frames filled",
                           GST_MCVD_DEFAULT_FILL_GAPS, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_FRAMES_SCENE_CUT,
      g_param_spec_uint64("frames-scene-cut", "Frames scene cut",
                          "method=motion and method=diffusion: inserted frames that repeat an input frame because of a scene cut (also "
                          "counted in frames-inserted)", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_FRAMES_STATIC,
      g_param_spec_uint64("frames-static", "Frames static",
                          "method=diffusion: inserted frames blended without the model because the neighbours were "
                          "static (static-threshold; also counted in frames-inserted)", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(gobject_class, GST_MCVD_PROP_FRAMES_DUPLICATE,
      g_param_spec_uint64("frames-duplicate", "Frames duplicate",
                          "fill-gaps=true: input frames dropped as exact copies of the previous one (their slots are "
                          "filled like holes)", 0, G_MAXUINT64, 0, ro));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(element_class, "MCVD frame synthesiser", "Filter/Effect/Converter/Video",
      "Changes the frame rate by inserting synthesised frames (repeat, blend, motion, diffusion), or predicts "
      "missing frames of a live stream and extends clips (mode=predict). Example: "
      "gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! mcvd ! video/x-raw,framerate=60/1 "
      "! videoconvert ! x264enc ! mp4mux ! filesink location=out.mp4",
      "gst-mcvd developers");
}

static void gst_mcvd_init(GstMcvd *self) {
  self->sinkpad = gst_pad_new_from_static_template(&sink_template, "sink");
  gst_pad_set_chain_function(self->sinkpad, callbacks.chain);
  gst_pad_set_event_function(self->sinkpad, callbacks.sink_event);
  gst_pad_set_query_function(self->sinkpad, callbacks.sink_query);
  gst_element_add_pad(GST_ELEMENT(self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template(&src_template, "src");
  gst_pad_set_event_function(self->srcpad, callbacks.src_event);
  gst_pad_set_query_function(self->srcpad, callbacks.src_query);
  gst_element_add_pad(GST_ELEMENT(self), self->srcpad);

  self->impl = callbacks.create(self);
}

gpointer gst_mcvd_impl(GstObject *element) { return ((GstMcvd *)element)->impl; }

// The origin URL (gst-inspect-1.0's "Origin URL"): Package.swift defines it (the checkout as a file:// URL,
// or MCVD_ORIGIN_URL at build time).
#ifndef GST_MCVD_ORIGIN
#error "GST_MCVD_ORIGIN is defined by Package.swift"
#endif

GstDebugCategory *gst_mcvd_debug_category(void) { return gst_mcvd_debug; }

gboolean gst_mcvd_plugin_init(GstPlugin *plugin) {
  GST_DEBUG_CATEGORY_INIT(gst_mcvd_debug, "mcvd", 0, "MCVD frame synthesiser");
  if (callbacks.create == NULL) gst_mcvd_swift_install(&callbacks);
  return gst_element_register(plugin, "mcvd", GST_RANK_NONE, gst_mcvd_get_type()) && gst_mcvd_src_register(plugin);
}

gboolean gst_mcvd_register_static(void) {
  return gst_plugin_register_static(GST_VERSION_MAJOR, GST_VERSION_MINOR, "mcvd",
                                    "Masked Conditional Video Diffusion frame synthesis", gst_mcvd_plugin_init,
                                    "0.1.0", "MIT/X11", "gst-mcvd", "gst-mcvd", GST_MCVD_ORIGIN);
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, mcvd, "Masked Conditional Video Diffusion frame synthesis",
                  gst_mcvd_plugin_init, "0.1.0", "MIT/X11", "gst-mcvd", GST_MCVD_ORIGIN)
