// C shim of the mcvdsrc element (a GstPushSrc): the instance/class structs, property ids and the callback
// table through which its vfuncs go to Swift (Sources/Element/McvdSrc*.swift). No logic lives here.
#pragma once
#include <gst/gst.h>
#include <gst/base/gstpushsrc.h>

typedef enum {
  GST_MCVD_SRC_PROP_0,
  GST_MCVD_SRC_PROP_MODEL,
  GST_MCVD_SRC_PROP_SEED,
  GST_MCVD_SRC_PROP_STEPS,
  GST_MCVD_SRC_PROP_SAMPLER,
  GST_MCVD_SRC_PROP_ETA,
  GST_MCVD_SRC_PROP_THREADS,
  GST_MCVD_SRC_PROP_FRAMES_GENERATED,
  GST_MCVD_SRC_N_PROPS
} GstMcvdSrcProp;

typedef struct _GstMcvdSrc {
  GstPushSrc parent;
  gpointer impl;  // the Swift McvdSrc, retained; released in finalize
} GstMcvdSrc;

typedef struct _GstMcvdSrcClass {
  GstPushSrcClass parent_class;
} GstMcvdSrcClass;

// Filled by Swift (gst_mcvd_src_swift_install) before the element type is registered.
typedef struct {
  gpointer (*create)(GstMcvdSrc *element);
  void (*destroy)(gpointer impl);
  void (*set_property)(gpointer impl, guint prop_id, const GValue *value);
  void (*get_property)(gpointer impl, guint prop_id, GValue *value);
  gboolean (*start)(gpointer impl);
  gboolean (*stop)(gpointer impl);
  GstCaps *(*get_caps)(gpointer impl, GstCaps *filter);
  GstCaps *(*fixate)(gpointer impl, GstCaps *caps);
  gboolean (*set_caps)(gpointer impl, GstCaps *caps);
  gboolean (*do_seek)(gpointer impl, GstSegment *segment);
  gboolean (*unlock)(gpointer impl);
  gboolean (*unlock_stop)(gpointer impl);
  GstFlowReturn (*fill)(gpointer impl, GstBuffer **buffer);
} GstMcvdSrcCallbacks;

// Implemented in Swift (@_cdecl): fills the table.
void gst_mcvd_src_swift_install(GstMcvdSrcCallbacks *table);

GType gst_mcvd_src_get_type(void);
// Registers mcvdsrc with the plugin (called from gst_mcvd_plugin_init).
gboolean gst_mcvd_src_register(GstPlugin *plugin);
