// appsrc/appsink for tests and for decoding training videos (flags from pkg-config gstreamer-app-1.0).
#include <gst/app/app.h>
