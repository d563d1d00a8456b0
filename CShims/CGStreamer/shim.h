// GStreamer core, base and video headers for Swift (flags come from pkg-config gstreamer-video-1.0).
#include <gst/gst.h>
#include <gst/base/base.h>
#include <gst/video/video.h>
