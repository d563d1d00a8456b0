// GstHarness for the element tests (flags from pkg-config gstreamer-check-1.0).
#include <gst/check/gstharness.h>
