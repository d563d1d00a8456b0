// C shim of the mcvd plugin: the GObject instance/class structs, property ids and defaults, and the one
// callback table through which every vfunc is forwarded to Swift (Sources/Element). No logic lives here.
#pragma once
#include <gst/gst.h>

// Property defaults: the single source for the C param specs and the Swift settings.
#define GST_MCVD_DEFAULT_MODE 0     /* interpolate */
#define GST_MCVD_DEFAULT_METHOD 1   /* blend */
#define GST_MCVD_DEFAULT_FACTOR 2
#define GST_MCVD_MIN_FACTOR 1
#define GST_MCVD_MAX_FACTOR 16
#define GST_MCVD_DEFAULT_SNAP_WINDOW (-1) /* auto: 1/3 of an output frame */
#define GST_MCVD_MAX_SNAP_WINDOW GST_SECOND
/* method=diffusion (Sources/Element/Diffusion*.swift) */
#define GST_MCVD_METHOD_DIFFUSION 3
#define GST_MCVD_DEFAULT_STEPS 0     /* the model's default: 1 for v models, 50 for eps */
#define GST_MCVD_MAX_STEPS 10000
#define GST_MCVD_DEFAULT_SAMPLER 1   /* ddim */
#define GST_MCVD_DEFAULT_ETA 0.0
#define GST_MCVD_MAX_ETA 1.0
#define GST_MCVD_DEFAULT_SEED 0
#define GST_MCVD_DEFAULT_THREADS 0   /* auto */
#define GST_MCVD_MAX_THREADS 64
#define GST_MCVD_DEFAULT_FALLBACK 1  /* blend */
/* mode=predict (Sources/Element/PredictMode.swift) */
#define GST_MCVD_MODE_PREDICT 1
#define GST_MCVD_DEFAULT_EXTEND_FRAMES 0
#define GST_MCVD_DEFAULT_PREPEND_FRAMES 0
#define GST_MCVD_MAX_EXTRA_FRAMES 100000
#define GST_MCVD_DEFAULT_PROCESSING_SIZE 64  /* rows the model runs at; 0 = native (README "method=diffusion") */
#define GST_MCVD_MAX_PROCESSING_SIZE 4320
#define GST_MCVD_DEFAULT_ENSEMBLE 0  /* test-time ensemble: 0 the model's default, 1 off, 2 mirror, 4 mirror and time reversal */
/* scene cuts, static content, fill-gaps (Sources/Element/PairDecisions.swift; README "Scene cuts") */
#define GST_MCVD_DEFAULT_SCENE_THRESHOLD 0.5   /* Motion's SceneCut.defaultThreshold */
#define GST_MCVD_MAX_SCENE_THRESHOLD 1000.0
#define GST_MCVD_DEFAULT_STATIC_THRESHOLD 1.5  /* Motion's StaticContent.defaultThreshold, levels */
#define GST_MCVD_MAX_STATIC_THRESHOLD 255.0
#define GST_MCVD_DEFAULT_FILL_GAPS 0  /* FALSE */

// Video formats the element accepts; output format = input format.
#define GST_MCVD_FORMATS \
  "{ GRAY8, RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, ARGB, ABGR, AYUV, I420, YV12, NV12, NV21, Y42B, " \
  "NV16, Y41B, Y444, NV24, YUY2, UYVY, YVYU, GRAY16_LE, I420_10LE, I422_10LE, Y444_10LE }"

typedef enum {
  GST_MCVD_PROP_0,
  GST_MCVD_PROP_MODE,
  GST_MCVD_PROP_METHOD,
  GST_MCVD_PROP_FACTOR,
  GST_MCVD_PROP_FRAMES_IN,
  GST_MCVD_PROP_FRAMES_OUT,
  GST_MCVD_PROP_FRAMES_INSERTED,
  GST_MCVD_PROP_FRAMES_DROPPED,
  GST_MCVD_PROP_FRAMES_RETIMED,
  GST_MCVD_PROP_SNAP_WINDOW,
  GST_MCVD_PROP_MODEL,
  GST_MCVD_PROP_STEPS,
  GST_MCVD_PROP_SAMPLER,
  GST_MCVD_PROP_ETA,
  GST_MCVD_PROP_SEED,
  GST_MCVD_PROP_THREADS,
  GST_MCVD_PROP_FALLBACK,
  GST_MCVD_PROP_FRAMES_FALLBACK,
  GST_MCVD_PROP_EXTEND_FRAMES,
  GST_MCVD_PROP_PREPEND_FRAMES,
  GST_MCVD_PROP_PROCESSING_SIZE,
  /* QoS and stats (Sources/Element/DiffusionQoS.swift) */
  GST_MCVD_PROP_STATS,
  /* scene cuts, static content, fill-gaps */
  GST_MCVD_PROP_SCENE_THRESHOLD,
  GST_MCVD_PROP_STATIC_THRESHOLD,
  GST_MCVD_PROP_FILL_GAPS,
  GST_MCVD_PROP_FRAMES_SCENE_CUT,
  GST_MCVD_PROP_FRAMES_STATIC,
  GST_MCVD_PROP_FRAMES_DUPLICATE,
  GST_MCVD_PROP_ENSEMBLE,
  GST_MCVD_PROP_STATS_INTERVAL,
  GST_MCVD_N_PROPS
} GstMcvdProp;

typedef struct _GstMcvd {
  GstElement parent;
  GstPad *sinkpad;
  GstPad *srcpad;
  gpointer impl;  // the Swift McvdFilter, retained; released in finalize
} GstMcvd;

typedef struct _GstMcvdClass {
  GstElementClass parent_class;
} GstMcvdClass;

// Filled by Swift (gst_mcvd_swift_install) before the element type is registered.
typedef struct {
  gpointer (*create)(GstMcvd *element);
  void (*destroy)(gpointer impl);
  void (*set_property)(gpointer impl, guint prop_id, const GValue *value);
  void (*get_property)(gpointer impl, guint prop_id, GValue *value);
  // Called before the parent's change_state (start) and after it (stop); FALSE fails the transition.
  gboolean (*state_before)(gpointer impl, GstStateChange transition);
  void (*state_after)(gpointer impl, GstStateChange transition);
  GstFlowReturn (*chain)(GstPad *pad, GstObject *parent, GstBuffer *buffer);
  gboolean (*sink_event)(GstPad *pad, GstObject *parent, GstEvent *event);
  gboolean (*src_event)(GstPad *pad, GstObject *parent, GstEvent *event);
  gboolean (*sink_query)(GstPad *pad, GstObject *parent, GstQuery *query);
  gboolean (*src_query)(GstPad *pad, GstObject *parent, GstQuery *query);
} GstMcvdCallbacks;

// Implemented in Swift (@_cdecl): fills the table.
void gst_mcvd_swift_install(GstMcvdCallbacks *table);

GType gst_mcvd_get_type(void);
GType gst_mcvd_mode_get_type(void);
GType gst_mcvd_method_get_type(void);
GType gst_mcvd_sampler_get_type(void);
GType gst_mcvd_fallback_get_type(void);

// GST_PLUGIN_DEFINE's init; also used to register the plugin statically (tests, apps).
gboolean gst_mcvd_plugin_init(GstPlugin *plugin);
gboolean gst_mcvd_register_static(void);

// Macro wrappers Swift cannot import.
gpointer gst_mcvd_impl(GstObject *element);
GstDebugCategory *gst_mcvd_debug_category(void);

// The mcvdsrc element of the same plugin.
#include "CGstMcvdSrc.h"
