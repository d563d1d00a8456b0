// GType registration of the mcvdsrc element (GstPushSrc): class_init (metadata, pad template, param
// specs) and instance_init (TIME format, not live). Every vfunc forwards to Swift through the callback
// table (Sources/Element/McvdSrc.swift).
#include "CGstMcvd.h"
#include "CGstMcvdSrc.h"

static GstMcvdSrcCallbacks callbacks;

// The model's size and colour narrow these in get_caps; sizes are multiples of its size multiple.
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS("video/x-raw, format=(string)" GST_MCVD_FORMATS ", width=(int)[1, max], "
                    "height=(int)[1, max], framerate=(fraction)[1/2147483647, max], pixel-aspect-ratio=(fraction)1/1"));

G_DEFINE_TYPE(GstMcvdSrc, gst_mcvd_src, GST_TYPE_PUSH_SRC)

#define IMPL(src) (((GstMcvdSrc *)(src))->impl)

static void gst_mcvd_src_set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec) {
  callbacks.set_property(IMPL(object), prop_id, value);
}

static void gst_mcvd_src_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec) {
  callbacks.get_property(IMPL(object), prop_id, value);
}

static void gst_mcvd_src_finalize(GObject *object) {
  if (IMPL(object)) callbacks.destroy(IMPL(object));
  IMPL(object) = NULL;
  G_OBJECT_CLASS(gst_mcvd_src_parent_class)->finalize(object);
}

static gboolean gst_mcvd_src_start(GstBaseSrc *src) { return callbacks.start(IMPL(src)); }
static gboolean gst_mcvd_src_stop(GstBaseSrc *src) { return callbacks.stop(IMPL(src)); }
static GstCaps *gst_mcvd_src_get_caps(GstBaseSrc *src, GstCaps *filter) { return callbacks.get_caps(IMPL(src), filter); }
static GstCaps *gst_mcvd_src_fixate(GstBaseSrc *src, GstCaps *caps) { return callbacks.fixate(IMPL(src), caps); }
static gboolean gst_mcvd_src_set_caps(GstBaseSrc *src, GstCaps *caps) { return callbacks.set_caps(IMPL(src), caps); }
static gboolean gst_mcvd_src_is_seekable(GstBaseSrc *src) { return TRUE; }
static gboolean gst_mcvd_src_do_seek(GstBaseSrc *src, GstSegment *segment) { return callbacks.do_seek(IMPL(src), segment); }
static gboolean gst_mcvd_src_unlock(GstBaseSrc *src) { return callbacks.unlock(IMPL(src)); }
static gboolean gst_mcvd_src_unlock_stop(GstBaseSrc *src) { return callbacks.unlock_stop(IMPL(src)); }
static GstFlowReturn gst_mcvd_src_create(GstPushSrc *src, GstBuffer **buffer) { return callbacks.fill(IMPL(src), buffer); }

static void gst_mcvd_src_class_init(GstMcvdSrcClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS(klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS(klass);
  gobject_class->set_property = gst_mcvd_src_set_property;
  gobject_class->get_property = gst_mcvd_src_get_property;
  gobject_class->finalize = gst_mcvd_src_finalize;
  basesrc_class->start = gst_mcvd_src_start;
  basesrc_class->stop = gst_mcvd_src_stop;
  basesrc_class->get_caps = gst_mcvd_src_get_caps;
  basesrc_class->fixate = gst_mcvd_src_fixate;
  basesrc_class->set_caps = gst_mcvd_src_set_caps;
  basesrc_class->is_seekable = gst_mcvd_src_is_seekable;
  basesrc_class->do_seek = gst_mcvd_src_do_seek;
  basesrc_class->unlock = gst_mcvd_src_unlock;
  basesrc_class->unlock_stop = gst_mcvd_src_unlock_stop;
  pushsrc_class->create = gst_mcvd_src_create;

  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY;
  g_object_class_install_property(gobject_class, GST_MCVD_SRC_PROP_MODEL,
      g_param_spec_string("model", "Model",
                          "Path of the model file (safetensors with an mcvd.config, as `mcvd train` writes; trained "
                          "with masked conditioning frames, the default); empty = the built-in default model for "
                          "generation, default-predict.safetensors (else default.safetensors) found as for the mcvd "
                          "element's model (none: an error listing the places)", "", rw));
  g_object_class_install_property(gobject_class, GST_MCVD_SRC_PROP_SEED,
      g_param_spec_uint64("seed", "Seed",
                          "Noise seed: the same seed, model, size and settings give the same frames on every run "
                          "(frame i is always the same, also after a seek)", 0, G_MAXUINT64, GST_MCVD_DEFAULT_SEED, rw));
  g_object_class_install_property(gobject_class, GST_MCVD_SRC_PROP_STEPS,
      g_param_spec_int("steps", "Steps",
                       "Sampler steps per block of frames; 0 = the model's default (1 for v models, 50 for eps); at "
                       "most the model's num_steps", 0, GST_MCVD_MAX_STEPS, GST_MCVD_DEFAULT_STEPS, rw));
  g_object_class_install_property(gobject_class, GST_MCVD_SRC_PROP_SAMPLER,
      g_param_spec_enum("sampler", "Sampler", "The sampler", gst_mcvd_sampler_get_type(), GST_MCVD_DEFAULT_SAMPLER, rw));
  g_object_class_install_property(gobject_class, GST_MCVD_SRC_PROP_ETA,
      g_param_spec_double("eta", "Eta", "sampler=ddim: noise per step (0 deterministic, 1 DDPM-like)", 0.0,
                          GST_MCVD_MAX_ETA, GST_MCVD_DEFAULT_ETA, rw));
  g_object_class_install_property(gobject_class, GST_MCVD_SRC_PROP_THREADS,
      g_param_spec_int("threads", "Threads",
                       "Threads inside one model forward (keep it fixed for bit-identical runs); 0 = auto (the "
                       "machine's cores, at most 4)", 0, GST_MCVD_MAX_THREADS, GST_MCVD_DEFAULT_THREADS, rw));
  g_object_class_install_property(gobject_class, GST_MCVD_SRC_PROP_FRAMES_GENERATED,
      g_param_spec_uint64("frames-generated", "Frames generated",
                          "Frames the model made since start (more than pushed after a seek forward, which generates "
                          "the frames before the new position)", 0, G_MAXUINT64, 0,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(element_class, "MCVD video generator", "Source/Video",
      "Generates video with a Masked Conditional Video Diffusion model: the first block of frames from nothing, "
      "each next block predicted from the frames before it. Size and colour from the model (GRAY8 for a gray "
      "model, RGB for a colour one; other formats on request), frame rate from downstream caps (default 30/1). "
      "Example: gst-launch-1.0 mcvdsrc model=model.safetensors num-buffers=60 seed=1 ! videoconvert ! x264enc "
      "! mp4mux ! filesink location=generated.mp4",
      "gst-mcvd developers");
}

static void gst_mcvd_src_init(GstMcvdSrc *self) {
  gst_base_src_set_format(GST_BASE_SRC(self), GST_FORMAT_TIME);
  gst_base_src_set_live(GST_BASE_SRC(self), FALSE);
  self->impl = callbacks.create(self);
}

gboolean gst_mcvd_src_register(GstPlugin *plugin) {
  if (callbacks.create == NULL) gst_mcvd_src_swift_install(&callbacks);
  return gst_element_register(plugin, "mcvdsrc", GST_RANK_NONE, gst_mcvd_src_get_type());
}
